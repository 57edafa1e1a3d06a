"""What the smoother says about a window: its four statuses and `SmoothedState`.

What each status and field means is `genred.dsp.smoothing`'s docstring; the pipeline,
the daemon, replay and training read these values, and only the smoother makes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .labels import label_probabilities

STATUS_MUSIC = "music"
STATUS_SILENCE = "silence"
STATUS_UNCERTAIN = "uncertain"
STATUS_NO_MUSIC = "no_music"


@dataclass(frozen=True)
class SmoothedState:
    """What `genred.dsp.smoothing.Smoother.process` returns for one window."""

    status: str  # "music" | "silence" | "uncertain" | "no_music"
    genre: str | None  # None unless status == "music"
    # smoothed prob. of `genre` (music), of the leader (uncertain), 0 (silence),
    # 1 - smoothed music probability (no_music)
    confidence: float
    probabilities: tuple[float, ...]  # smoothed probabilities in label order (zeros in silence, no_music)
    since_s: float  # stream time at which this (status, genre) began
    changed: bool  # (status, genre) differs from the previous window's; True for a stream's first window
    genre_changed: bool  # genre differs from the previous window's (None before a stream's first window)
    music_probability: float | None = None  # smoothed; None without a detector, and in silence

    def as_dict(self, labels: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready dict; ``probabilities`` keyed by label."""
        d: dict[str, Any] = {
            "status": self.status,
            "genre": self.genre,
            "confidence": float(self.confidence),
            "probabilities": label_probabilities(labels, self.probabilities),
            "since_s": float(self.since_s),
        }
        if self.music_probability is not None:
            d["music_probability"] = float(self.music_probability)
        return d
