"""The publisher's connection to the broker, kept up by one background thread.

The broker may be down, restarting or refusing us, and classification must never
notice:

* The thread connects, runs paho's network loop until the connection ends, waits a
  back-off (doubling from ``reconnect_min_s`` to ``reconnect_max_s``, with jitter so
  that a fleet does not reconnect in lock-step after a broker restart;
  ``reconnect_max_s`` straight away after an auth refusal), and connects again. Every
  connection gets a *fresh* paho client: paho resends a previous connection's
  unacknowledged messages only after our on-connect republish, which would put stale
  retained state on top of fresh and events out of order. With a fresh client the
  event queue is the only copy, and order is ours.
* When a connection ends, its unacknowledged events go back to waiting in the queue
  (`EventQueue.requeue`); the owner's ``on_up`` sends them again, in order, with what
  a subscriber must see after a connect.
* Each failure is said once per outage (a warning naming what to check), retries only
  at debug level.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genred.dsp.errors import one_line

from ..backoff import Backoff
from ..settings import MqttSettings
from . import client as mqtt_client
from .client import AUTH_HINT, AUTH_REFUSALS, CLOSED_BY_BROKER, MqttError, configure_client
from .event_queue import EventQueue
from .payloads import OFFLINE

_LOG = logging.getLogger(__name__)


@dataclass(eq=False)
class Conn:
    """One broker connection and its paho client (never reused after it ends)."""

    client: Any
    done: threading.Event = field(default_factory=threading.Event)
    # PUBACKs (and QoS 0 sends), appended by paho's thread without our lock: paho
    # calls on_publish holding its own message mutex, and we hold our lock while
    # calling client.publish, so taking our lock there could deadlock.
    acks: deque[int] = field(default_factory=deque)
    accepted: bool = False
    refused: bool = False
    cleaned: bool = False
    unanswered: bool = False  # no CONNACK within the timeout
    reason: str = ""  # why it ended, as paho says

    def publish(self, topic: str, payload: str, *, qos: int, retain: bool) -> Any:
        return self.client.publish(topic, payload, qos=qos, retain=retain)


class BrokerLink:
    """Keeps a connection to the broker of ``settings``; see the module docstring.

    ``lock`` guards ``conn`` (set only while the broker has accepted us), ``events``
    and the owner's own state; ``on_up(conn)`` runs with it held, in paho's thread,
    once the broker accepts a connection, and must not raise (paho would swallow it).
    """

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        password: str | None,
        *,
        events: EventQueue,
        will_topic: str,
        on_up: Callable[[Conn], None],
        client_factory: Callable[[str], Any],
        connack_timeout_s: float,
    ) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.conn: Conn | None = None
        self.reconnects = 0
        self.published = 0  # messages the broker acknowledged (QoS 0: written to the socket)
        self.last_error: str | None = None
        self._client_id = client_id
        self._password = password
        self._events = events
        self._will_topic = will_topic
        self._on_up = on_up
        self._client_factory = client_factory
        self._connack_timeout_s = connack_timeout_s
        self._where = f"{settings.host}:{settings.port}"
        self._ever_connected = False
        self._lost_at: float | None = None
        self._told_unreachable = False  # each said once per outage (reset when accepted)
        self._told_refused = False
        self._stopping = threading.Event()
        self._released = threading.Event()  # stop() is done with the connection
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def start(self) -> None:
        """Connect in the background. `MqttError` only for a setup that can never work
        (unreadable TLS files): the first client is made here, so that fails the start."""
        if self._thread is not None:
            return
        first = self._new_conn()
        self._thread = threading.Thread(target=self._run, args=(first,), name="genred-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """Publish ``offline`` (retained) on the will's topic, disconnect, and return
        within ``timeout_s``."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._stopping.set()
        if self._thread is None:
            return
        with self.lock:
            conn = self.conn
            if conn is not None:
                self.drain(conn)
        if conn is not None:
            try:
                info = conn.publish(self._will_topic, OFFLINE, qos=1, retain=True)
                # Most of the budget for the will-like goodbye; the rest for the join.
                info.wait_for_publish(timeout=max(0.0, (deadline - time.monotonic()) * 0.7))
            except (RuntimeError, ValueError) as exc:  # not connected any more
                _LOG.debug("offline not published: %s", exc)
            try:
                conn.client.disconnect()
            except Exception as exc:  # stopping anyway
                _LOG.debug("disconnect: %s", exc)
        self._released.set()
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            # A connect() to a silent host can take CONNECT_TIMEOUT_S; the thread is a
            # daemon and publishes nothing once stopping, so leaving it is harmless.
            _LOG.debug("the MQTT thread is still finishing; not waiting for it")

    def drain(self, conn: Conn) -> None:
        """Apply the acknowledgements paho has reported (with ``lock`` held)."""
        if not conn.acks:
            return
        acked: set[int] = set()
        while conn.acks:
            acked.add(conn.acks.popleft())
            self.published += 1
        self._events.acknowledge(conn, acked)

    # -- the connection thread -----------------------------------------------------------

    def _new_conn(self) -> Conn:
        try:
            client = self._client_factory(self._client_id)
            conn = Conn(client)
            client.user_data_set(conn)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            if _LOG.isEnabledFor(logging.DEBUG):
                # paho's own lines only when debugging: at shutdown it logs harmless
                # "not connected" errors, and the lines that matter are ours.
                client.enable_logger(logging.getLogger("genred.daemon.mqtt.paho"))
            client.will_set(self._will_topic, OFFLINE, qos=1, retain=True)
        except (OSError, ValueError) as exc:
            raise MqttError(f"cannot set up the MQTT client: {one_line(exc)}") from None
        configure_client(client, self.settings, self._password)
        return conn

    def _run(self, conn: Conn) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        delay = s.reconnect_min_s
        while not self._stopping.is_set():
            try:
                conn.client.connect(s.host, s.port, keepalive=s.keepalive_s)
            except Exception as exc:  # OSError, ssl errors, DNS: all "not reachable"
                self._tell_once(*mqtt_client.unreachable(s, exc))
            else:
                self._serve(conn)
            if self._stopping.is_set():
                break
            if conn.accepted:
                delay = s.reconnect_min_s
            elif conn.refused:
                delay = s.reconnect_max_s  # refused: asking again quickly will not help
            wait = backoff.jittered(delay)
            delay = backoff.after(delay)
            if self._stopping.wait(max(0.05, wait)):
                break
            try:
                conn = self._new_conn()
            except MqttError as exc:  # worked at start; a file vanished since
                self.last_error = str(exc)
                _LOG.error("%s", exc)
                self._stopping.wait(s.reconnect_max_s)
                continue

    def _serve(self, conn: Conn) -> None:
        """One connection, from CONNECT until it ends (or stop() is done with it)."""
        conn.client.loop_start()
        sent = time.monotonic()
        while not conn.done.wait(0.25):
            if self._released.is_set():
                break
            if not (conn.accepted or conn.refused) and time.monotonic() - sent > self._connack_timeout_s:
                conn.unanswered = True
                break
        if self._stopping.is_set() or conn.unanswered:
            with contextlib.suppress(Exception):  # going anyway
                conn.client.disconnect()
        conn.client.loop_stop()
        self._cleanup(conn)
        if not (conn.accepted or conn.refused or self._stopping.is_set()):
            self._tell_once(*mqtt_client.not_answered(
                self.settings, unanswered=conn.unanswered, reason=conn.reason,
                connack_timeout_s=self._connack_timeout_s))

    def _tell_once(self, message: str, last_error: str) -> None:
        """Warn once per outage (the first failure says it; retries only at debug)."""
        with self.lock:
            self.last_error = last_error
            tell = not self._told_unreachable
            self._told_unreachable = True
        if tell and self._lost_at is None:
            _LOG.warning("%s", message)
        else:
            _LOG.debug("%s", message)

    # -- paho's callbacks (its network thread) --------------------------------------------

    def _on_connect(self, client: Any, conn: Conn, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            reason = str(reason_code)
            conn.refused = True
            with self.lock:
                self.last_error = f"refused: {reason}"
                tell = not self._told_refused
                self._told_refused = True
            if tell:
                hint = f"; {AUTH_HINT}" if reason in AUTH_REFUSALS else ""
                _LOG.error("MQTT broker %s refused us: %s%s", self._where, reason, hint)
            conn.done.set()
            return
        with self.lock:
            if self._stopping.is_set():
                return  # stop() ran while we connected: say nothing, the thread disconnects
            conn.accepted = True
            self.conn = conn
            if self._ever_connected:
                self.reconnects += 1
                away = f" after {time.monotonic() - self._lost_at:.0f} s" if self._lost_at is not None else ""
                _LOG.info("MQTT reconnected to %s%s; %d queued event(s) to send", self._where, away, len(self._events))
            else:
                _LOG.info("MQTT connected to %s as %s", self._where, self._client_id)
            self._ever_connected = True
            self._lost_at = None
            self.last_error = None  # connected: an old failure is history (the log has it)
            self._told_unreachable = self._told_refused = False
            self._on_up(conn)

    def _on_disconnect(self, client: Any, conn: Conn, flags: Any, reason_code: Any, properties: Any) -> None:
        # paho names a socket closed without a DISCONNECT packet (how mosquitto ends an
        # MQTT 3.1.1 session when it shuts down or restarts) "Unspecified error".
        conn.reason = CLOSED_BY_BROKER if str(reason_code) == "Unspecified error" else str(reason_code)
        self._cleanup(conn, reason=conn.reason)
        conn.done.set()

    def _on_publish(self, client: Any, conn: Conn, mid: int, reason_code: Any, properties: Any) -> None:
        conn.acks.append(mid)

    def _cleanup(self, conn: Conn, reason: str = "connection closed") -> None:
        """The connection is over: unacknowledged events go back to waiting (idempotent)."""
        with self.lock:
            if conn.cleaned:
                return
            conn.cleaned = True
            self.drain(conn)
            requeued = self._events.requeue(conn)
            if requeued:
                _LOG.debug("%d unacknowledged event(s) will be sent again", requeued)
            if self.conn is not conn:
                return
            self.conn = None
            if self._stopping.is_set():
                return
            self._lost_at = time.monotonic()
            self.last_error = f"connection lost: {reason}"
        _LOG.warning("MQTT connection to %s lost (%s); reconnecting; events are queued", self._where, reason)
