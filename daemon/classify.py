"""One file through the live code path, for `genred replay` (`replay.py`) and
`genred evaluate` (`evaluate.py`).

A file is read by the daemon's file source, in the daemon's blocks, and fed to the
same `Pipeline` the microphone feeds, so what a user sees for a file is what the
daemon would say hearing it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genred.dsp.classifier import TfliteClassifier
from genred.dsp.errors import AudioError
from genred.dsp.pipeline import Pipeline, WindowResult
from genred.dsp.smoothed_state import STATUS_NO_MUSIC, STATUS_SILENCE

from .audio import FileSource
from .settings import AudioSettings

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
        seen = [readable(s) for s in NO_GENRE_STATUSES if s in self.statuses]
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


def readable(status: str) -> str:
    """A status for people: "no music" for "no_music"."""
    return status.replace("_", " ")
