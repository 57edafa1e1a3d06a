"""Turn a stream of per-window genre probabilities into a state that changes only
when it means something.

The classifier emits one probability vector per window (about one a second). Raw
arg-maxes flap; the daemon publishes *state changes*, so this stage adds time
smoothing and hysteresis. :class:`Smoother` takes one window at a time and returns a
:class:`SmoothedState` with one of four statuses (silence wins over no_music, which
wins over uncertain and music):

``"silence"``
    The window's level ``level_db`` is below ``silence_db`` (strictly). The smoothed
    probabilities are cleared, the current genre is forgotten and any pending switch
    is dropped: music after silence starts fresh. Published ``genre`` is ``None``,
    ``confidence`` is 0.0 and ``probabilities`` are all zeros.

``"no_music"``
    Only with a music detector (``music_probability`` given): the music gate below
    says no music is playing (talk, household noise). Published ``genre`` is
    ``None``, ``confidence`` is ``1 -`` the smoothed music probability and
    ``probabilities`` are all zeros. As after silence, the smoothed genre
    probabilities and the current genre are cleared (music after talk starts
    fresh), and no-music windows are not folded into the genre average.

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

The music gate (only when ``music_probability`` is given; without it every window
counts as music and nothing below applies)
    The detector's P(music) has its own exponential average, with the same weight
    rule and time constant ``music_tau_s``; it starts from the first window after
    construction, ``reset()`` or silence, and that first window decides at once:
    music when its value is ``>= (music_on + music_off) / 2``, else no music. From
    no music to music the smoothed value must stay ``>= music_on`` for
    ``music_hold_s``; from music to no music it must stay ``< music_off`` for
    ``no_music_hold_s`` (long: a pause in a song or a DJ's talk-over keeps the music
    state). Both are measured like ``switch_hold_s``, from the first window of the
    run to the present one. ``0 <= music_off <= music_on <= 1``.
    In the music state, a window whose *raw* music probability is ``< music_off``
    (a talk-over) is not folded into the genre average, so the current genre is held
    instead of drifting to what speech looks like; the genre logic still runs on the
    held average and decides the status. Time still passes: the next window that is
    folded in weighs as much as its distance from the last one says. If there is no
    genre average yet (the first window after no music is such a window), the status
    is "uncertain" with zero probabilities.
    ``SmoothedState.music_probability`` is the smoothed value (``None`` without a
    detector, and in silence, which clears it).

``since_s``, ``changed``, ``genre_changed``
    The stream time (``t_s``) of the first window of the current published
    ``(status, genre)`` pair; it changes only when that pair changes (not when
    ``confidence`` or ``probabilities`` do). ``changed`` says that this window is
    such a first window (the pair differs from the previous window's, or this is the
    first window after construction or ``reset()``); ``genre_changed`` that the
    published ``genre`` differs from the previous window's (before the first window
    of a stream it counts as ``None``). This is the one place that decides a change:
    the daemon, replay, the timeline and the smoothing fit read these flags.
    ``reset()`` forgets the pair and the genre.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from .music_gate import TIME_EPS_S, MusicGate, ema_weight
from .smoothed_state import STATUS_MUSIC, STATUS_NO_MUSIC, STATUS_SILENCE, STATUS_UNCERTAIN, SmoothedState
from .smoother_params import SmootherParams

_LOG = logging.getLogger(__name__)

_DEFAULTS = SmootherParams()  # frozen: one instance serves every smoother built without params


class Smoother:
    """Stateful smoothing + hysteresis over a stream of windows; not thread-safe."""

    def __init__(self, labels: Sequence[str], params: SmootherParams = _DEFAULTS) -> None:
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
        self._gate = MusicGate(
            params.music_tau_s, params.music_on, params.music_off, params.music_hold_s, params.no_music_hold_s
        )
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
        self._published: tuple[str, str | None] | None = None  # (status, genre) of the last window
        self._published_genre: str | None = None
        self._since_s: float = 0.0  # set by the first window (its pair always counts as changed)
        self._gate.reset()

    def process(
        self, probabilities: np.ndarray, level_db: float, t_s: float, music_probability: float | None = None
    ) -> SmoothedState:
        """Fold in one window (its class probabilities, its level in dB, the stream time
        of its end and, with a music detector, its raw P(music)) and return the state."""
        p = self._check_probabilities(probabilities)
        m = self._check_music_probability(music_probability)
        t_s, level_db = self._check_time(t_s), float(level_db)
        if math.isnan(level_db):
            raise ValueError("level_db is NaN")
        self._last_t_s = t_s
        prm = self._params

        zeros = (0.0,) * len(self._labels)
        if level_db < prm.silence_db:
            self._forget_genre(t_s, "silence")
            self._gate.reset()
            return self._emit(STATUS_SILENCE, None, 0.0, zeros, t_s, None)

        music_ema: float | None = None
        fold = True
        if m is not None:
            music, music_ema = self._gate.process(m, t_s)
            if not music:
                self._forget_genre(t_s, "no music")
                return self._emit(STATUS_NO_MUSIC, None, 1.0 - music_ema, zeros, t_s, music_ema)
            # A talk-over within music: hold the genre rather than learn what talk looks like.
            fold = m >= prm.music_off

        if fold:
            self._fold(p, t_s)
        elif self._ema is None:
            return self._emit(STATUS_UNCERTAIN, None, 0.0, zeros, t_s, music_ema)
        ema = self._ema
        assert ema is not None  # folded, or held from before
        leader = self._follow_leader(ema, t_s)

        probs = tuple(float(x) for x in ema)
        ref = leader if self._current is None else self._current
        if ema[ref] < prm.confidence_floor:
            return self._emit(STATUS_UNCERTAIN, None, float(ema[leader]), probs, t_s, music_ema)
        return self._emit(STATUS_MUSIC, self._labels[ref], float(ema[ref]), probs, t_s, music_ema)

    def _fold(self, p: np.ndarray, t_s: float) -> None:
        """Fold a window's probabilities into the average (it starts from the first)."""
        if self._ema is None or self._ema_t_s is None:
            self._ema = p.copy()
        else:
            self._ema = self._ema + ema_weight(t_s - self._ema_t_s, self._params.tau_s) * (p - self._ema)
        self._ema_t_s = t_s

    def _follow_leader(self, ema: np.ndarray, t_s: float) -> int:
        """The switching rules (module docstring): update the current genre and the
        challenger from the average; returns the leader."""
        prm = self._params
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
            if t_s - self._challenger_since_s >= prm.switch_hold_s - TIME_EPS_S:
                _LOG.debug("t=%.3f s: %s takes over from %s", t_s, self._labels[leader], self._labels[self._current])
                self._current = leader
                self._clear_challenger()
        else:
            self._clear_challenger()
        return leader

    def _forget_genre(self, t_s: float, why: str) -> None:
        """Silence or no music: what plays next starts fresh."""
        if self._current is not None:
            _LOG.debug("t=%.3f s: %s, forgetting %s", t_s, why, self._labels[self._current])
        self._ema = None
        self._ema_t_s = None
        self._current = None
        self._clear_challenger()

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
        music_probability: float | None,
    ) -> SmoothedState:
        key = (status, genre)
        changed = key != self._published
        genre_changed = genre != self._published_genre
        if changed:
            self._published = key
            self._since_s = t_s
        self._published_genre = genre
        return SmoothedState(
            status, genre, confidence, probabilities, self._since_s,
            changed=changed, genre_changed=genre_changed, music_probability=music_probability,
        )

    def _check_time(self, t_s: float) -> float:
        t_s = float(t_s)
        if not math.isfinite(t_s):
            raise ValueError(f"t_s must be finite, not {t_s}")
        if self._last_t_s is not None and not t_s > self._last_t_s:
            raise ValueError(f"t_s must increase: got {t_s} after {self._last_t_s} (call reset() for a new stream)")
        return t_s

    @staticmethod
    def _check_music_probability(value: float | None) -> float | None:
        if value is None:
            return None
        try:
            m = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"music_probability must be a number, not {value!r}") from None
        if not 0.0 <= m <= 1.0:  # NaN fails this too
            raise ValueError(f"music_probability must be in [0, 1], not {m}")
        return m

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
