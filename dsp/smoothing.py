"""Turn a stream of per-window genre probabilities into a state that changes only
when it means something.

The classifier emits one probability vector per window (about one a second). Raw
arg-maxes flap; the daemon publishes *state changes*, so this stage adds time
smoothing and hysteresis. :class:`Smoother` takes one window at a time and returns a
:class:`SmoothedState` with one of three statuses:

``"silence"``
    The window's level ``level_db`` is below ``silence_db`` (strictly). The smoothed
    probabilities are cleared, the current genre is forgotten and any pending switch
    is dropped: music after silence starts fresh. Published ``genre`` is ``None``,
    ``confidence`` is 0.0 and ``probabilities`` are all zeros.

``"music"``
    There is a current genre and its smoothed probability is ``>= confidence_floor``.
    Published ``genre`` is the current genre and ``confidence`` its smoothed
    probability.

``"uncertain"``
    The smoothed probability of the current genre (or, when there is none yet, of the
    leader) is ``< confidence_floor``. Published ``genre`` is ``None`` and
    ``confidence`` is the smoothed probability of the leader (the arg-max). The
    *internal* current genre is kept through uncertain windows, so music that
    wobbles below the floor and comes back does not count as a change of genre.

Smoothing
    ``t_s`` is the stream time (seconds) of the window's end and must increase from
    one call to the next (``reset()`` starts a new stream). The smoothed
    probabilities are an exponential moving average whose weight for a new window is
    ``alpha = 1 - exp(-dt / tau_s)``, ``dt`` being the time since the previous
    window. The first window after construction, ``reset()`` or silence has
    ``alpha = 1``: the average starts from that window's probabilities. With this
    weight a piecewise-constant input gives the same smoothed values at the same
    stream times whatever the hop, so the behaviour does not depend on the hop (nor
    on occasional dropped windows). Inputs are not renormalised.

Switching
    * No current genre (start, after silence): the leader becomes current as soon as
      its smoothed probability is ``>= confidence_floor``.
    * Current genre and a different leader (the "challenger"): the challenger must
      lead the current genre by ``>= switch_margin`` in every window for at least
      ``switch_hold_s`` of stream time, measured from the first window of the run to
      the present window, before it becomes current. A window in which it does not
      lead by the margin, or in which a different genre leads, restarts the clock.
      With ``switch_hold_s == 0`` the challenger takes over in the first window in
      which it leads by the margin. A challenger needs no particular confidence of
      its own; if it takes over while below the floor, the status is "uncertain".
    * Ties for the lead go to the lower label index (``numpy.argmax``).

``since_s``
    The stream time (``t_s``) of the first window of the current published
    ``(status, genre)`` pair; it changes only when that pair changes (not when
    ``confidence`` or ``probabilities`` do). ``reset()`` forgets it.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_LOG = logging.getLogger(__name__)

STATUS_MUSIC = "music"
STATUS_SILENCE = "silence"
STATUS_UNCERTAIN = "uncertain"

# Stream times are sums of hops; allow for rounding when comparing a run's length
# with switch_hold_s (e.g. 30 hops of 0.1 s that add up to 2.9999999999999996 s).
_TIME_EPS_S = 1e-9

# The one definition of what each smoothing parameter may be: SmootherParams checks
# it, and the daemon's config names the key with the same words. Each entry completes
# "<name> must be ...". tau_s > 0: the smoother divides by it. A window's level is at
# most about 0 dBFS, so a silence threshold at or above 0 would silence everything.
SMOOTHING_RANGES: dict[str, tuple[str, Callable[[float], bool]]] = {
    "tau_s": ("a number of seconds > 0", lambda v: v > 0),
    "switch_margin": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "switch_hold_s": ("a number of seconds >= 0", lambda v: v >= 0),
    "confidence_floor": ("a number in [0, 1]", lambda v: 0 <= v <= 1),
    "silence_db": ("a level in dB below 0", lambda v: v < 0),
}


@dataclass(frozen=True)
class SmootherParams:
    """Parameters of :class:`Smoother` (see the module docstring for semantics)."""

    tau_s: float = 4.0  # time constant of the EMA of probabilities
    switch_margin: float = 0.10  # a challenger must lead the current genre by this ...
    switch_hold_s: float = 3.0  # ... continuously for at least this long to take over
    confidence_floor: float = 0.40  # smoothed top probability below this -> "uncertain"
    silence_db: float = -55.0  # window level (dB) below this -> "silence"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{f.name} must be a number, not {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{f.name} must be finite, not {value!r}")
        for name, (what, ok) in SMOOTHING_RANGES.items():
            value = getattr(self, name)
            if not ok(value):
                raise ValueError(f"{name} must be {what}, not {value}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmootherParams:
        """Build from a mapping. Missing keys take their defaults; unknown keys are a
        ValueError that names them (a typo must not silently fall back to a default).
        """
        if not isinstance(data, dict):
            raise ValueError(f"smoothing: expected an object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(str(k) for k in set(data) - names)
        if unknown:
            raise ValueError(f"smoothing: unknown key(s) {', '.join(unknown)}")
        try:
            return cls(**data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"smoothing: {exc}") from None


@dataclass(frozen=True)
class SmoothedState:
    """What :meth:`Smoother.process` returns for one window."""

    status: str  # "music" | "silence" | "uncertain"
    genre: str | None  # None unless status == "music"
    confidence: float  # smoothed prob. of `genre` (music), of the leader (uncertain), 0 (silence)
    probabilities: tuple[float, ...]  # smoothed probabilities in label order (zeros in silence)
    since_s: float  # stream time at which this (status, genre) began

    def as_dict(self, labels: Sequence[str]) -> dict[str, Any]:
        """A JSON-ready dict; ``probabilities`` keyed by label."""
        if len(labels) != len(self.probabilities):
            raise ValueError(
                f"got {len(labels)} labels for {len(self.probabilities)} probabilities"
            )
        return {
            "status": self.status,
            "genre": self.genre,
            "confidence": float(self.confidence),
            "probabilities": {str(k): float(p) for k, p in zip(labels, self.probabilities)},
            "since_s": float(self.since_s),
        }


class Smoother:
    """Stateful smoothing + hysteresis over a stream of windows; not thread-safe."""

    def __init__(self, labels: Sequence[str], params: SmootherParams = SmootherParams()) -> None:
        labels = tuple(labels)
        if not labels:
            raise ValueError("labels must not be empty")
        if not all(isinstance(k, str) for k in labels):
            raise ValueError("labels must be strings")
        if len(set(labels)) != len(labels):
            raise ValueError(f"labels must be unique: {labels}")
        if not isinstance(params, SmootherParams):
            raise ValueError(f"params must be SmootherParams, not {type(params).__name__}")
        self._labels = labels
        self._params = params
        self.reset()

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def params(self) -> SmootherParams:
        return self._params

    def reset(self) -> None:
        """Forget everything: the next window starts a new stream (any ``t_s``)."""
        self._ema: np.ndarray | None = None  # None: next window has alpha = 1
        self._ema_t_s: float | None = None  # t_s of the last window folded into the EMA
        self._last_t_s: float | None = None  # t_s of the last window of any kind
        self._current: int | None = None  # internal current genre (label index)
        self._challenger: int | None = None
        self._challenger_since_s: float | None = None
        self._published: tuple[str, str | None] | None = None
        self._since_s: float | None = None

    def process(self, probabilities: np.ndarray, level_db: float, t_s: float) -> SmoothedState:
        """Fold in one window (its class probabilities, its level in dB, and the stream
        time of its end) and return the resulting state."""
        p = self._check_probabilities(probabilities)
        t_s = float(t_s)
        if not math.isfinite(t_s):
            raise ValueError(f"t_s must be finite, not {t_s}")
        if self._last_t_s is not None and not t_s > self._last_t_s:
            raise ValueError(
                f"t_s must increase: got {t_s} after {self._last_t_s}"
                " (call reset() for a new stream)"
            )
        level_db = float(level_db)
        if math.isnan(level_db):
            raise ValueError("level_db is NaN")
        self._last_t_s = t_s
        prm = self._params

        if level_db < prm.silence_db:
            if self._current is not None:
                _LOG.debug("t=%.3f s: silence, forgetting %s", t_s, self._labels[self._current])
            self._ema = None
            self._ema_t_s = None
            self._current = None
            self._clear_challenger()
            n = len(self._labels)
            return self._emit(STATUS_SILENCE, None, 0.0, (0.0,) * n, t_s)

        if self._ema is None or self._ema_t_s is None:
            self._ema = p.copy()
        else:
            alpha = -math.expm1(-(t_s - self._ema_t_s) / prm.tau_s)  # 1 - exp(-dt/tau)
            self._ema = self._ema + alpha * (p - self._ema)
        self._ema_t_s = t_s
        ema = self._ema

        leader = int(np.argmax(ema))
        if self._current is None:
            self._clear_challenger()
            if ema[leader] >= prm.confidence_floor:
                self._current = leader
                _LOG.debug("t=%.3f s: %s becomes current", t_s, self._labels[leader])
        elif leader == self._current:
            self._clear_challenger()
        elif ema[leader] - ema[self._current] >= prm.switch_margin:
            if self._challenger != leader:
                self._challenger = leader
                self._challenger_since_s = t_s
            assert self._challenger_since_s is not None
            if t_s - self._challenger_since_s >= prm.switch_hold_s - _TIME_EPS_S:
                _LOG.debug(
                    "t=%.3f s: %s takes over from %s",
                    t_s,
                    self._labels[leader],
                    self._labels[self._current],
                )
                self._current = leader
                self._clear_challenger()
        else:
            self._clear_challenger()

        probs = tuple(float(x) for x in ema)
        ref = leader if self._current is None else self._current
        if ema[ref] < prm.confidence_floor:
            return self._emit(STATUS_UNCERTAIN, None, float(ema[leader]), probs, t_s)
        return self._emit(STATUS_MUSIC, self._labels[ref], float(ema[ref]), probs, t_s)

    def _clear_challenger(self) -> None:
        self._challenger = None
        self._challenger_since_s = None

    def _emit(
        self,
        status: str,
        genre: str | None,
        confidence: float,
        probabilities: tuple[float, ...],
        t_s: float,
    ) -> SmoothedState:
        key = (status, genre)
        if key != self._published or self._since_s is None:
            self._published = key
            self._since_s = t_s
        return SmoothedState(status, genre, confidence, probabilities, self._since_s)

    def _check_probabilities(self, probabilities: np.ndarray) -> np.ndarray:
        try:
            p = np.asarray(probabilities, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"probabilities must be numeric: {exc}") from None
        n = len(self._labels)
        if p.shape != (n,):
            raise ValueError(f"probabilities must have shape ({n},) (one per label), not {p.shape}")
        if not np.all(np.isfinite(p)):
            raise ValueError(f"probabilities must be finite, got {p.tolist()}")
        return p
