"""Is music playing? The music detector's probability, smoothed, with hysteresis.

A living room is quiet or full of talk most of the day; the genre model has an
opinion on talk too (it sounds like hiphop to it). A second, small model gives each
window P(music); :class:`MusicGate` turns that stream into a yes/no that changes
only when it means something. :class:`genred.dsp.smoothing.Smoother` runs it and
documents the parameters (``music_*`` in ``SmootherParams``); this module also
holds the two rules both share: the EMA weight and the clock tolerance.
"""

from __future__ import annotations

import math

# Stream times are sums of hops; allow for rounding when comparing a run's length
# with a hold (e.g. 30 hops of 0.1 s that add up to 2.9999999999999996 s).
TIME_EPS_S = 1e-9


def ema_weight(dt_s: float, tau_s: float) -> float:
    """Weight of a new value after ``dt_s`` of stream time: 1 - exp(-dt / tau). With it a
    piecewise-constant input gives the same average at the same times whatever the hop."""
    return -math.expm1(-dt_s / tau_s)


class MusicGate:
    """``process(p_music, t_s)`` -> (music?, smoothed P(music)); not thread-safe.

    The first window after construction or ``reset()`` decides at once (the average
    starts from it): music when it is >= the midpoint of ``on`` and ``off``. Then
    the smoothed probability must stay >= ``on`` for ``music_hold_s`` to turn music
    on, and < ``off`` for ``no_music_hold_s`` to turn it off, each measured from the
    first window of the run to the present one; a window outside the run restarts it.
    The caller checks ``t_s`` (increasing) and the probability (finite, in [0, 1]).
    """

    def __init__(self, tau_s: float, on: float, off: float, music_hold_s: float, no_music_hold_s: float) -> None:
        self._tau_s = tau_s
        self._on = on
        self._off = off
        self._music_hold_s = music_hold_s
        self._no_music_hold_s = no_music_hold_s
        self.reset()

    def reset(self) -> None:
        self._ema: float | None = None
        self._ema_t_s: float | None = None
        self._music: bool | None = None  # None: the next window decides at once
        self._run_since_s: float | None = None  # first window of a run towards the other state

    def process(self, p_music: float, t_s: float) -> tuple[bool, float]:
        if self._ema is None or self._ema_t_s is None:
            self._ema = p_music
        else:
            self._ema += ema_weight(t_s - self._ema_t_s, self._tau_s) * (p_music - self._ema)
        self._ema_t_s = t_s
        ema = self._ema
        if self._music is None:
            self._music = ema >= (self._on + self._off) / 2
            self._run_since_s = None
            return self._music, ema
        towards_other = ema < self._off if self._music else ema >= self._on
        if not towards_other:
            self._run_since_s = None
            return self._music, ema
        if self._run_since_s is None:
            self._run_since_s = t_s
        hold_s = self._no_music_hold_s if self._music else self._music_hold_s
        if t_s - self._run_since_s >= hold_s - TIME_EPS_S:
            self._music = not self._music
            self._run_since_s = None
        return self._music, ema
