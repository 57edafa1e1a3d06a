"""The one back-off policy of the daemon: capped exponential, for the audio device's
reopen (audio.retry_min_s .. retry_max_s) and the MQTT reconnect (mqtt.reconnect_min_s
.. reconnect_max_s)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Waits that start at ``min_s`` and double after each failure, up to ``max_s``.

    The caller holds the current delay and decides when an outage is over (then it
    starts again from ``min_s``); this object only computes.
    """

    min_s: float
    max_s: float

    def __post_init__(self) -> None:
        if not 0 < self.min_s <= self.max_s:
            raise ValueError(f"back-off needs 0 < min_s <= max_s, got {self.min_s:g} and {self.max_s:g}")

    def after(self, delay_s: float) -> float:
        """The delay that follows a failed wait of ``delay_s``: doubled, within [min_s, max_s]."""
        return min(self.max_s, max(delay_s * 2, self.min_s))

    def jittered(self, delay_s: float, uniform: Callable[[float, float], float] = random.uniform) -> float:
        """"Equal jitter": half of ``delay_s`` fixed, half random, so that a fleet of
        devices does not retry in lock-step after a broker restart."""
        return delay_s / 2 + uniform(0, delay_s / 2)
