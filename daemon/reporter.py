"""What the daemon says about its state, whatever decided it (the smoother for each
window, or capture that delivers nothing): a line on stdout at each change (the
journal under systemd, broker or not), the retained state at each change and every
``mqtt.state_interval_s``, an event at each change of genre, and each window's
probabilities when ``mqtt.publish_probabilities`` asks for them.

The worker calls it; it publishes through the callable it is given, so that it
always reaches the daemon's publisher of the moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import IO

import numpy as np

from genred.dsp.labels import PROBABILITY_DIGITS, label_probabilities
from genred.dsp.pipeline import WindowResult

from .clock import Clock
from .mqtt.payloads import EventPayload, Payload, ProbabilitiesPayload, StatePayload
from .presence import NO_AUDIO
from .settings import MqttSettings


class StateReporter:
    """The printed line, the state, the events; not thread-safe (the worker's)."""

    def __init__(
        self,
        device_id: str,
        labels: tuple[str, ...],
        model_name: str,
        mqtt: MqttSettings,
        out: IO[str],
        clock: Clock,
        publish: Callable[[Payload], None],
    ) -> None:
        self.device_id = device_id
        self.labels = labels
        self.model_name = model_name
        self.mqtt = mqtt
        self.out = out
        self.clock = clock
        self.publish = publish
        self._shown: tuple[str, str | None] | None = None  # (status, genre) last printed, for the next line
        self._showing_no_audio = False
        self._last_genre: str | None = None  # of the last event
        self._since_wall: str | None = None
        self._last_state_pub = 0.0

    def new_stream(self) -> None:
        """A fresh pipeline: its first window is a change, and its genre one from none."""
        self._last_genre = None

    def window(self, r: WindowResult, now: float) -> None:
        """One window's state (``now``: the wall time of the worker's batch)."""
        s = r.state
        if self.mqtt.publish_probabilities:
            self.publish(ProbabilitiesPayload(
                probabilities=label_probabilities(self.labels, r.probabilities, PROBABILITY_DIGITS), level_db=round(r.level_db, 1), at=_iso(now),
            ))
        if s.changed:  # the smoother decides; the first window of a stream is one
            self._show(now, (s.status, s.genre), s.confidence)
        if s.changed or self.clock.monotonic() - self._last_state_pub >= self.mqtt.state_interval_s:
            self._publish_state(s.genre, s.confidence, s.status, np.asarray(s.probabilities), s.music_probability)
        if s.genre_changed:
            self._emit_event(self._last_genre, s.genre, s.confidence, now)
            self._last_genre = s.genre

    def no_audio(self, now: float) -> None:
        """Capture gives nothing, from now on: the state says so (status no_audio, no genre)."""
        if not self._showing_no_audio:  # (audio too short for a window may have come between outages)
            self._show(now, (NO_AUDIO, None), 0.0)
        self._publish_no_audio()
        if self._last_genre is not None:
            self._emit_event(self._last_genre, None, 0.0, now)
            self._last_genre = None

    def still_no_audio(self, now_mono: float) -> None:
        """Within an outage: the no_audio state again, as often as any unchanged state."""
        if now_mono - self._last_state_pub >= self.mqtt.state_interval_s:
            self._publish_no_audio()

    def _show(self, now: float, pair: tuple[str, str | None], confidence: float) -> None:
        self.out.write(f"{_iso(now)} {self.device_id}: {_describe(self._shown)} -> {_describe(pair)} ({confidence:.2f})\n")
        self.out.flush()
        self._shown = pair
        self._showing_no_audio = pair[0] == NO_AUDIO
        self._since_wall = _iso(now)

    def _publish_no_audio(self) -> None:
        self._publish_state(None, 0.0, NO_AUDIO, np.zeros(len(self.labels)), None)  # probabilities as in silence

    def _emit_event(self, old: str | None, new: str | None, confidence: float, now: float) -> None:
        self.publish(EventPayload(from_genre=old, to_genre=new, confidence=round(confidence, 4), at=_iso(now)))

    def _publish_state(self, genre: str | None, confidence: float, status: str, probabilities: np.ndarray,
                       music_probability: float | None) -> None:
        """The one shape of the retained state, whatever decided it."""
        self._last_state_pub = self.clock.monotonic()
        self.publish(StatePayload(
            genre=genre,
            confidence=round(confidence, 4),
            status=status,
            since=self._since_wall,
            probabilities=label_probabilities(self.labels, probabilities, PROBABILITY_DIGITS),
            music_probability=None if music_probability is None else round(music_probability, 4),
            model=self.model_name,
        ))


def _describe(key: tuple[str, str | None] | None) -> str:
    """A state for people: the genre when there is one, else the status."""
    if key is None:
        return "-"
    status, genre = key
    return genre if genre is not None else status


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).astimezone().isoformat(timespec="seconds")
