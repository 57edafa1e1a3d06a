"""`genred replay`: each file's windows and verdict, as JSON lines (one object per
window, then one per file: the schema in the README) or as a readable timeline."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from genred.dsp.classifier import TfliteClassifier
from genred.dsp.errors import AudioError
from genred.dsp.labels import PROBABILITY_DIGITS, label_probabilities
from genred.dsp.pipeline import WindowResult

from .classify import NO_GENRE_STATUSES, FileResult, classify_file, readable

_LOG = logging.getLogger(__name__)


def replay(
    paths: list[str],
    classifier: TfliteClassifier,
    out: IO[str],
    fmt: str = "jsonl",
    hop_s: float | None = None,
    realtime: bool = False,
) -> int:
    """Classify each file; a bad file is one error line, and the others go on.

    Returns the number of files that failed.
    """
    writer: Writer = JsonlWriter(out, classifier.labels) if fmt == "jsonl" else TextWriter(out, classifier.labels)
    failed = 0
    for name in paths:
        path = Path(name)
        try:
            result = classify_file(
                path, classifier, hop_s=hop_s, realtime=realtime, on_window=functools.partial(writer.window, path)
            )
        except AudioError as exc:
            _LOG.error("%s", exc)
            failed += 1
            continue
        writer.file(result)
    return failed


class Writer(Protocol):
    """What replay prints: each window as it comes, then the file's verdict."""

    def window(self, path: Path, r: WindowResult) -> None: ...

    def file(self, result: FileResult) -> None: ...


class JsonlWriter:
    """One JSON object per window, then one per file (the schema in the README)."""

    def __init__(self, out: IO[str], labels: tuple[str, ...]) -> None:
        self.out, self.labels = out, labels

    def window(self, path: Path, r: WindowResult) -> None:
        genre, conf = r.top(self.labels)
        s = r.state
        shown = s.status not in NO_GENRE_STATUSES  # no genre where the state says there is no music
        obj = {
            "file": str(path),
            "start_s": round(r.start_s, 3),
            "end_s": round(r.end_s, 3),
            "genre": genre if shown else None,
            "confidence": round(conf, 4) if shown else None,
            "probabilities": label_probabilities(self.labels, r.probabilities, PROBABILITY_DIGITS),
            "music_probability": _rounded(r.music_probability),
            "state": {"status": s.status, "genre": s.genre, "confidence": round(s.confidence, 4),
                      "music_probability": _rounded(s.music_probability)},
        }
        self.out.write(json.dumps(obj) + "\n")

    def file(self, result: FileResult) -> None:
        heard = result.heard_probabilities
        summary: dict[str, Any] = {"genre": None, "confidence": None, "probabilities": None}
        if heard is not None:
            i = int(np.argmax(heard))
            summary = {"genre": self.labels[i], "confidence": round(float(heard[i]), 4),
                       "probabilities": label_probabilities(self.labels, heard, PROBABILITY_DIGITS)}
        summary.update(
            windows_counted=result.heard_windows, statuses=result.status_counts(), no_genre=result.no_genre_reason()
        )
        obj = {"file": str(result.path), "summary": summary, "windows": result.windows}
        self.out.write(json.dumps(obj) + "\n")
        self.out.flush()


class TextWriter:
    """A readable timeline: one line per window, the state when it changes, a summary."""

    def __init__(self, out: IO[str], labels: tuple[str, ...]) -> None:
        self.out, self.labels = out, labels
        self._header_for: Path | None = None

    def window(self, path: Path, r: WindowResult) -> None:
        if self._header_for != path:
            self.out.write(f"{path}\n")
            self._header_for = path
        genre, conf = r.top(self.labels)
        s = r.state
        shown = s.genre if s.status == "music" else readable(s.status)
        marker = f"  -> {shown}" if s.changed else ""  # each file has its own pipeline: its first window is a change
        top = f"{'-':<10} {'':5}" if s.status in NO_GENRE_STATUSES else f"{genre:<10} {conf:5.2f}"
        music = "" if r.music_probability is None else f"  music {r.music_probability:4.2f}"
        self.out.write(f"  {_clock(r.start_s)}-{_clock(r.end_s)}  {top}{music}{marker}".rstrip() + "\n")

    def file(self, result: FileResult) -> None:
        if self._header_for != result.path:
            self.out.write(f"{result.path}\n")
        heard = result.heard_probabilities
        if heard is None:
            line = f"  => no genre: {result.no_genre_reason()} throughout ({result.windows} windows)"
        else:
            ranked = np.argsort(-heard, kind="stable")[:3]
            i = int(ranked[0])
            runners = ", ".join(f"{self.labels[j]} {heard[j]:.2f}" for j in ranked[1:])
            counts = result.status_counts()
            skipped = " and ".join(f"{counts[st]} of {readable(st)}" for st in NO_GENRE_STATUSES if st in counts)
            line = (
                f"  => {self.labels[i]} ({heard[i]:.2f}) over {result.heard_windows} windows"
                + (f" ({skipped} not counted)" if skipped else "")
                + f"; then {runners}"
            )
        self.out.write(line + "\n")
        self.out.flush()
        self._header_for = None


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"
