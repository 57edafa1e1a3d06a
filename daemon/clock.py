"""The daemon's time, passed in: tests give the service a clock of their own instead of
patching module globals."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    # Seconds since the epoch: the times in the payloads ("at", "since") and the day of
    # the listening mix.
    wall: Callable[[], float] = time.time
    # Seconds on a clock that never goes back: intervals, audio outages, uptime.
    monotonic: Callable[[], float] = time.monotonic

    def today(self) -> dt.date:
        """The local date of ``wall()`` (what ``date.today()`` is for the real clock)."""
        return dt.date.fromtimestamp(self.wall())
