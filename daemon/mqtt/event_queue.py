"""The publisher's events until the broker acknowledges them: bounded, in order, and
sent again after a reconnect (at least once). A plain object; the publisher's lock
guards it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paho.mqtt.client import MQTT_ERR_SUCCESS


@dataclass(eq=False)
class _Pending:
    topic: str
    payload: str
    conn: object | None = None  # the connection it was handed to, until acknowledged
    mid: int = 0


class EventQueue:
    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.dropped = 0  # oldest events dropped because the queue was full
        self._events: deque[_Pending] = deque()

    def __len__(self) -> int:
        return len(self._events)

    def add(self, topic: str, payload: str) -> bool:
        """Queue an event; True if the oldest was dropped to make room."""
        dropped = len(self._events) >= self.capacity
        if dropped:
            self._events.popleft()
            self.dropped += 1
        self._events.append(_Pending(topic, payload))
        return dropped

    def flush(self, conn: object, send: Callable[[str, str], Any]) -> None:
        """Hand every event not yet on ``conn`` to ``send(topic, payload)`` (paho's
        publish: it returns an info with ``rc`` and ``mid``), oldest first."""
        for ev in self._events:
            if ev.conn is conn:
                continue
            info = send(ev.topic, ev.payload)
            if info.rc != MQTT_ERR_SUCCESS:
                break  # the connection is going; the rest wait, in order, for the next one
            ev.conn, ev.mid = conn, info.mid

    def acknowledge(self, conn: object, mids: set[int]) -> None:
        """The broker acknowledged these messages of ``conn``: their events leave the queue."""
        if any(ev.conn is conn and ev.mid in mids for ev in self._events):
            self._events = deque(ev for ev in self._events if not (ev.conn is conn and ev.mid in mids))

    def requeue(self, conn: object) -> int:
        """``conn`` is over: its unacknowledged events wait for the next one. How many."""
        n = 0
        for ev in self._events:
            if ev.conn is conn:
                ev.conn, ev.mid = None, 0
                n += 1
        return n
