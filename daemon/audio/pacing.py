"""Real-time pacing: when a block of audio is due, as a microphone would deliver it.
The one copy (the file source uses it; `genred run --source file:` and `genred replay
--realtime` read through the file source)."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Due times from the start and the frames delivered so far, so that late wake-ups
    do not add up; ``speed`` > 1 plays faster than real time."""

    def __init__(self, sample_rate_hz: int, speed: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        if not speed > 0:
            raise ValueError(f"pacing speed must be > 0, got {speed:g}")
        self._rate_hz = sample_rate_hz
        self._speed = speed
        self._clock = clock
        self._started = clock()
        self._fed = 0

    def wait_s(self, frames: int) -> float:
        """Seconds to wait before delivering the next ``frames`` (0 when already late)."""
        self._fed += frames
        due = self._started + self._fed / self._rate_hz / self._speed
        return max(0.0, due - self._clock())
