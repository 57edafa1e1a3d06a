"""Files through the live code path: `genred replay` and `genred evaluate`.

A file is read by the daemon's file source, in the daemon's blocks, and fed to the
same `Pipeline` the microphone feeds, so what a user sees for a file is what the
daemon would say hearing it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from genred.dsp.classifier import TfliteClassifier
from genred.dsp.dataset import find_track_file, read_split_list
from genred.dsp.errors import AudioError, GenredError
from genred.dsp.labels import PROBABILITY_DIGITS, label_probabilities
from genred.dsp.metrics import scores
from genred.dsp.pipeline import Pipeline, WindowResult
from genred.dsp.smoothed_state import STATUS_NO_MUSIC, STATUS_SILENCE

from .audio import FileSource
from .settings import AudioSettings

_LOG = logging.getLogger(__name__)

BLOCK_S = AudioSettings().block_s  # the daemon's block: the file source's and each read's
READ_TIMEOUT_S = 1.0  # a read waits for the file reader thread at most this long before asking again

# States that say there is no music to name: their windows show no genre and do not
# vote in replay's verdict ("uncertain" is music of an unclear genre: it votes).
NO_GENRE_STATUSES = (STATUS_SILENCE, STATUS_NO_MUSIC)


@dataclass(frozen=True)
class FileResult:
    """A file's windows: the model's track decision (the mean of every window's
    probabilities, what `evaluate` scores) and what the published state let through."""

    path: Path
    probabilities: np.ndarray
    window_predictions: tuple[int, ...]  # argmax of each window, in order
    statuses: tuple[str, ...] = ()  # the published status of each window, in order
    heard_probabilities: np.ndarray | None = None  # mean over the windows not in NO_GENRE_STATUSES; None: none

    @property
    def windows(self) -> int:
        return len(self.window_predictions)

    @property
    def heard_windows(self) -> int:
        return sum(s not in NO_GENRE_STATUSES for s in self.statuses)

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for s in self.statuses:
            counts[s] = counts.get(s, 0) + 1
        return counts

    def no_genre_reason(self) -> str | None:
        """Why the verdict names no genre ("silence", "no music", "silence and no music"), or None."""
        if self.heard_probabilities is not None:
            return None
        seen = [_readable(s) for s in NO_GENRE_STATUSES if s in self.statuses]
        return " and ".join(seen)


def classify_file(
    path: str | Path,
    classifier: TfliteClassifier,
    hop_s: float | None = None,
    realtime: bool = False,
    on_window: Callable[[WindowResult], None] | None = None,
) -> FileResult:
    """Run one file through a fresh `Pipeline`; raises AudioError for a bad file."""
    source = FileSource(path, realtime=realtime, block_s=BLOCK_S)
    info = source.info
    pipeline = Pipeline(classifier, info.sample_rate_hz, hop_s=hop_s)
    probs_sum = np.zeros(len(classifier.labels), dtype=np.float64)
    heard_sum = np.zeros_like(probs_sum)
    predictions: list[int] = []
    statuses: list[str] = []

    def take(results: Iterable[WindowResult]) -> None:
        for r in results:
            probs_sum[:] += r.probabilities
            predictions.append(int(np.argmax(r.probabilities)))
            statuses.append(r.state.status)
            if r.state.status not in NO_GENRE_STATUSES:
                heard_sum[:] += r.probabilities
            if on_window is not None:
                on_window(r)

    source.start()
    try:
        for block in _blocks(source):
            take(pipeline.process(block))
    finally:
        source.stop()
    error = source.status().last_error
    if error is not None:
        raise AudioError(error)
    take(pipeline.flush())
    if not predictions:
        fe = classifier.metadata.front_end
        raise AudioError(
            f"audio {info.path}: too short ({info.duration_s * 1000:.0f} ms); "
            f"need at least {fe.n_fft / fe.sample_rate_hz * 1000:.0f} ms"
        )
    heard = len(statuses) - sum(st in NO_GENRE_STATUSES for st in statuses)
    return FileResult(
        info.path, (probs_sum / len(predictions)).astype(np.float32), tuple(predictions), tuple(statuses),
        (heard_sum / heard).astype(np.float32) if heard else None,
    )


def _blocks(source: FileSource) -> Iterator[np.ndarray]:
    """The source's blocks, as the daemon's worker reads them, until its end."""
    while True:
        block = source.read(source.block_frames, timeout_s=READ_TIMEOUT_S)
        if block is not None:
            yield block
        elif source.eof:
            return


def _rounded(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def _readable(status: str) -> str:
    return status.replace("_", " ")


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
        shown = s.genre if s.status == "music" else _readable(s.status)
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
            skipped = " and ".join(f"{counts[st]} of {_readable(st)}" for st in NO_GENRE_STATUSES if st in counts)
            line = (
                f"  => {self.labels[i]} ({heard[i]:.2f}) over {result.heard_windows} windows"
                + (f" ({skipped} not counted)" if skipped else "")
                + f"; then {runners}"
            )
        self.out.write(line + "\n")
        self.out.flush()
        self._header_for = None


def _clock(seconds: float) -> str:
    m, s = divmod(seconds, 60.0)
    return f"{int(m)}:{s:04.1f}"


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
    writer = (JsonlWriter if fmt == "jsonl" else TextWriter)(out, classifier.labels)
    failed = 0
    for name in paths:
        path = Path(name)
        try:
            result = classify_file(
                path, classifier, hop_s=hop_s, realtime=realtime, on_window=lambda r, p=path: writer.window(p, r)
            )
        except AudioError as exc:
            _LOG.error("%s", exc)
            failed += 1
            continue
        writer.file(result)
    return failed


def evaluate(
    data_dir: str | Path,
    split_list: str | Path,
    classifier: TfliteClassifier,
    hop_s: float | None = None,
) -> dict[str, Any]:
    """Track-level and window-level scores of a split, through the replay path."""
    labels = classifier.labels
    index = {label: i for i, label in enumerate(labels)}
    entries = read_split_list(split_list)
    if not entries:
        raise GenredError(f"split list {split_list}: names no track")
    missing: list[str] = []
    unreadable: list[dict[str, str]] = []
    track_true: list[int] = []
    track_pred: list[int] = []
    win_true: list[int] = []
    win_pred: list[int] = []
    for entry in entries:
        if entry.genre not in index:
            raise GenredError(
                f"split list {split_list}: genre {entry.genre!r} ({entry.line}) is not a label of the model "
                f"({', '.join(labels)})"
            )
        path = find_track_file(data_dir, entry.genre, entry.stem)
        if path is None:
            missing.append(entry.line)
            continue
        try:
            result = classify_file(path, classifier, hop_s=hop_s)
        except AudioError as exc:
            _LOG.warning("%s (skipped)", exc)
            unreadable.append({"track": entry.line, "error": str(exc)})
            continue
        truth = index[entry.genre]
        track_true.append(truth)
        track_pred.append(int(np.argmax(result.probabilities)))
        win_true.extend([truth] * result.windows)
        win_pred.extend(result.window_predictions)
    if not track_true:
        raise GenredError(f"evaluate: none of the {len(entries)} tracks of {split_list} was found under {data_dir}")
    tracks = scores(track_true, track_pred, labels)
    windows = scores(win_true, win_pred, labels)
    return {
        "model": str(classifier.bundle.tflite_path),
        "data": str(data_dir),
        "split": str(split_list),
        "tracks": tracks["n"],
        "windows": windows["n"],
        "track_accuracy": tracks["accuracy"],
        "window_accuracy": windows["accuracy"],
        "macro_recall": tracks["macro_recall"],
        "window_macro_recall": windows["macro_recall"],
        "per_genre": tracks["per_label"],
        "labels": list(labels),
        "confusion": tracks["confusion"],
        "missing": missing,
        "unreadable": unreadable,
    }


def format_evaluation(result: dict[str, Any]) -> str:
    lines = [
        f"model   {result['model']}",
        f"split   {result['split']}: {result['tracks']} tracks, {result['windows']} windows"
        + (f", {len(result['missing'])} missing" if result["missing"] else "")
        + (f", {len(result['unreadable'])} unreadable" if result["unreadable"] else ""),
        "",
        f"{'genre':<10} {'tracks':>6} {'recall':>7} {'precision':>9}",
    ]
    for genre, g in result["per_genre"].items():
        rec = "-" if g["recall"] is None else f"{g['recall']:.2f}"
        prec = "-" if g["precision"] is None else f"{g['precision']:.2f}"
        lines.append(f"{genre:<10} {g['n']:>6} {rec:>7} {prec:>9}")
    lines += [
        "",
        f"track accuracy   {result['track_accuracy']:.3f}",
        f"window accuracy  {result['window_accuracy']:.3f}",
        f"macro recall     {result['macro_recall']:.3f}  (tracks; over genres present)",
    ]
    return "\n".join(lines)
