"""How a stream of published states reads to a listener, against what was playing.

Input: the published state of each window (its genre, or None for "uncertain" and
"silence"), at the window's stream time (its end: when the device publishes it), and
the tracks that were played back to back, as segments of stream time. Measured:

- ``right_share``: the share of windows whose published genre is the genre playing at
  their time; uncertain and silence count as wrong.
- ``published_changes``: how often the published genre changes to another genre (a
  gap of uncertain/silence between two equal genres is no change; the first genre
  published is none); ``per_true_change``: that over the true changes, the boundaries
  between two tracks of different genres.
- ``wrong_changes_per_hour``: changes to a genre that is not playing at that time, per
  hour of stream.
- ``median_latency_s``: for each start of a genre (the first track, and each track
  after a true change), the time from the track's start to the first window that
  publishes its genre while it plays; a genre never published before the next true
  change counts as never (infinitely late), so the median is infinite when half or
  more are never found.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    genre: str
    key: str = ""


@dataclass(frozen=True)
class StreamScore:
    windows: int
    hours: float
    right_share: float
    true_changes: int
    published_changes: int
    per_true_change: float | None  # None without a true change
    wrong_changes: int
    wrong_changes_per_hour: float
    latencies_s: tuple[float, ...]  # per start of a genre; inf = never published while it played
    median_latency_s: float
    never_found: int

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        # JSON has no infinity: "never" is None, and counted in never_found.
        d["latencies_s"] = [None if math.isinf(x) else round(x, 3) for x in self.latencies_s]
        d["median_latency_s"] = None if math.isinf(self.median_latency_s) else round(self.median_latency_s, 3)
        return d


def playing_at(segments: Sequence[Segment], times_s: Sequence[float]) -> list[str | None]:
    """The genre playing at each time (the last segment holds its own end; None outside)."""
    starts = np.array([s.start_s for s in segments])
    out: list[str | None] = []
    for t in times_s:
        i = int(np.searchsorted(starts, t, side="right")) - 1
        if i < 0 or t > segments[i].end_s:
            out.append(None)
        else:
            out.append(segments[i].genre)
    return out


def score_stream(times_s: Sequence[float], published: Sequence[str | None], segments: Sequence[Segment]) -> StreamScore:
    """Score the published genres (``None``: uncertain or silence) at ``times_s``
    against the ``segments`` played (in order, back to back)."""
    if len(times_s) != len(published):
        raise ValueError("times_s and published must be the same length")
    if not segments:
        raise ValueError("a stream needs at least one segment")
    if any(b < a for a, b in itertools.pairwise(times_s)):
        raise ValueError("window times must not decrease")
    truth = playing_at(segments, times_s)
    n = len(published)
    right = sum(p is not None and p == g for p, g in zip(published, truth, strict=True))
    hours = (segments[-1].end_s - segments[0].start_s) / 3600.0

    changes = wrong = 0
    last: str | None = None
    for p, g in zip(published, truth, strict=True):
        if p is None:
            continue
        if last is not None and p != last:
            changes += 1
            wrong += p != g
        last = p

    # A genre's run: from a track that starts a new genre to the next true change.
    starts = [i for i in range(len(segments)) if i == 0 or segments[i].genre != segments[i - 1].genre]
    latencies = []
    for j, i in enumerate(starts):
        run_end = segments[starts[j + 1]].start_s if j + 1 < len(starts) else segments[-1].end_s
        t0, genre, last_run = segments[i].start_s, segments[i].genre, j + 1 == len(starts)
        # (the stream's last window may lie on its very end)
        hit = next((t for t, p in zip(times_s, published, strict=True)
                    if t0 <= t and (t < run_end or (last_run and t == run_end)) and p == genre), None)
        latencies.append(math.inf if hit is None else hit - t0)
    true_changes = len(starts) - 1
    return StreamScore(
        windows=n, hours=hours, right_share=right / n if n else 0.0, true_changes=true_changes,
        published_changes=changes, per_true_change=changes / true_changes if true_changes else None,
        wrong_changes=wrong, wrong_changes_per_hour=wrong / hours if hours > 0 else 0.0,
        latencies_s=tuple(latencies), median_latency_s=float(np.median(latencies)),
        never_found=sum(math.isinf(x) for x in latencies),
    )
