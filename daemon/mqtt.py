"""MQTT: the daemon's publisher (`MqttPublisher`) and `genred listen` (`listen`).

Topics, under ``<topic_prefix>/<device_id>/``:

=============  ========  =====================================================
availability   retained  ``online`` / ``offline`` (``offline`` is the last will)
state          retained  JSON: genre, confidence, status, since, probabilities, music_probability, model
event          QoS 1     JSON on each genre change; queued while the broker is away
probabilities  QoS 0     JSON every window (optional); dropped while disconnected
status         retained  JSON diagnostics
stats          retained  JSON listening mix
=============  ========  =====================================================

plus Home Assistant MQTT discovery under ``<discovery_prefix>/sensor/<node_id>/``.

How the publisher stays up (the broker may be down, restarting or refusing us, and
classification must never notice):

* One background thread owns the connection. It connects, runs paho's network loop
  until the connection ends, waits a back-off (doubling from ``reconnect_min_s`` to
  ``reconnect_max_s``, with jitter so that a fleet does not reconnect in lock-step
  after a broker restart; ``reconnect_max_s`` straight away after an auth refusal),
  and connects again. Every connection gets a *fresh* paho client: paho resends a
  previous connection's unacknowledged messages only after our on-connect
  republish, which would put stale retained state on top of fresh and events out
  of order. With a fresh client our queue is the only copy, and order is ours.
* Events stay in our bounded queue until the broker acknowledges them (PUBACK);
  after a reconnect every unacknowledged one is sent again, in order. Delivery is
  therefore at least once and in order; an event whose PUBACK was lost with the
  connection arrives twice. Nothing de-duplicates: each event carries its ``at``.
  (With ``mqtt.qos: 0`` an event leaves the queue once written to the socket.)
* ``publish_*`` never raise and never block on the network.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import ssl
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, Callable

import paho.mqtt.client as mqtt

from genred.dsp.errors import GenredError, one_line

from .backoff import Backoff
from .settings import MqttSettings, TlsSettings

_LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0  # TCP (+TLS) connect; bounds how long one attempt can hang
CONNACK_TIMEOUT_S = 10.0  # a listener that accepts and never answers CONNECT is not a broker
LISTEN_CONNACK_TIMEOUT_S = 10.0
_AUTH_HINT = "check mqtt.username / password_file"
_AUTH_REFUSALS = ("Not authorized", "Bad user name or password")
_X509_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH
_CLOSED_BY_BROKER = "closed by the broker: it shut down or restarted, or dropped us"


class MqttError(GenredError):
    """The broker cannot be used (for `listen`; the publisher only logs and retries)."""


def dumps(d: Any) -> str:
    """Compact JSON; numpy scalars (``.item()``) and anything else odd become plain values."""
    return json.dumps(d, separators=(",", ":"), default=_plain)


def _plain(obj: Any) -> Any:
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(obj)


def node_id_of(device_id: str) -> str:
    """Home Assistant's node_id / object_id alphabet is [a-zA-Z0-9_-]."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", f"genred_{device_id}")


def _check_topic_part(what: str, value: str, *, levels: bool) -> None:
    bad = "+#\0" if levels else "+#/\0"
    if not value or any(c in value for c in bad):
        shown = ", ".join(repr(c) for c in bad if c != "\0")
        raise MqttError(f"{what} {value!r} cannot be used in an MQTT topic (empty, or has one of {shown})")


@dataclass(eq=False)
class _Conn:
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
    unanswered: bool = False  # no CONNACK within CONNACK_TIMEOUT_S
    reason: str = ""  # why it ended, as paho says


@dataclass(eq=False)
class _Event:
    payload: str
    conn: _Conn | None = None  # the connection it was handed to, until acknowledged
    mid: int = 0


class MqttPublisher:
    """Publishes a device's state, events and diagnostics; see the module docstring.

    ``client_factory(client_id)`` returns a paho ``Client`` (VERSION2 callbacks,
    ``reconnect_on_failure=False``); tests may pass their own. ``password`` wins over
    ``settings.password``; it is never logged.
    """

    def __init__(
        self,
        settings: MqttSettings,
        device_id: str,
        *,
        password: str | None = None,
        model_name: str = "",
        sw_version: str = "",
        client_factory: Callable[[str], Any] | None = None,
    ) -> None:
        _check_topic_part("device_id", device_id, levels=False)
        _check_topic_part("mqtt.topic_prefix", settings.topic_prefix, levels=True)
        self.settings = settings
        self.device_id = device_id
        self.model_name = model_name
        self.sw_version = sw_version
        self._password = password if password is not None else settings.password
        self._client_factory = client_factory or new_client
        self._client_id = settings.client_id or f"genred-{device_id}"
        self._where = f"{settings.host}:{settings.port}"
        base = f"{settings.topic_prefix}/{device_id}"
        self.topics = {k: f"{base}/{k}" for k in ("availability", "state", "event", "probabilities", "status", "stats")}
        self._qos = settings.qos

        self._lock = threading.Lock()
        self._conn: _Conn | None = None  # set only while the broker has accepted us
        self._events: deque[_Event] = deque()
        self._capacity = max(1, settings.event_queue_size)
        self._retained: dict[str, str] = {}  # topic -> latest state/status/stats payload
        self._reconnects = 0
        self._events_dropped = 0
        self._published = 0
        self._last_error: str | None = None
        self._ever_connected = False
        self._lost_at: float | None = None
        # Each is logged once per outage (reset when a connection is accepted).
        self._told_unreachable = False
        self._told_refused = False
        self._told_dropping = False
        self._told_bad_payload: set[str] = set()
        self._told_unexpected: set[str] = set()

        self._stopping = threading.Event()
        self._released = threading.Event()  # stop() is done with the connection
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; a broker that is down now is retried, not fatal.

        Raises `MqttError` only for a setup that can never work (unreadable TLS files).
        """
        if self._thread is not None:
            return
        first = self._new_conn()  # here, so bad TLS files fail the start, once
        self._thread = threading.Thread(target=self._run, args=(first,), name="genred-mqtt", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Publish ``offline`` (retained), disconnect, and return within ``timeout_s``."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._stopping.set()
        if self._thread is None:
            return
        with self._lock:
            conn = self._conn
            if conn is not None:
                self._drain(conn)
        if conn is not None:
            try:
                info = conn.client.publish(self.topics["availability"], "offline", qos=1, retain=True)
                # Most of the budget for the will-like goodbye; the rest for the join.
                info.wait_for_publish(timeout=max(0.0, (deadline - time.monotonic()) * 0.7))
            except (RuntimeError, ValueError) as exc:  # not connected any more
                _LOG.debug("offline not published: %s", exc)
            try:
                conn.client.disconnect()
            except Exception as exc:  # noqa: BLE001 - stopping anyway
                _LOG.debug("disconnect: %s", exc)
        self._released.set()
        self._thread.join(timeout=max(0.0, deadline - time.monotonic()))
        if self._thread.is_alive():
            # A connect() to a silent host can take CONNECT_TIMEOUT_S; the thread is a
            # daemon and publishes nothing once stopping, so leaving it is harmless.
            _LOG.debug("the MQTT thread is still finishing; not waiting for it")

    # -- what the daemon publishes -----------------------------------------------------------

    def publish_state(self, d: dict[str, Any]) -> None:
        self._publish_retained("state", d, retain=self.settings.retain)

    def publish_status(self, d: dict[str, Any]) -> None:
        self._publish_retained("status", d, retain=True)

    def publish_stats(self, d: dict[str, Any]) -> None:
        self._publish_retained("stats", d, retain=True)

    def publish_event(self, d: dict[str, Any]) -> None:
        payload = self._dumps("event", d)
        if payload is None:
            return
        try:
            with self._lock:
                if self._conn is not None:
                    self._drain(self._conn)  # acknowledged events first: they free room
                if len(self._events) >= self._capacity:
                    self._events.popleft()
                    self._events_dropped += 1
                    if not self._told_dropping:
                        self._told_dropping = True
                        _LOG.warning(
                            "MQTT event queue full (%d, mqtt.event_queue_size); dropping the oldest events until the broker is back",
                            self._capacity,
                        )
                self._events.append(_Event(payload))
                if self._conn is not None:
                    self._flush_events(self._conn)
        except Exception as exc:  # noqa: BLE001 - never let MQTT stop classification
            self._unexpected("event", exc)

    def publish_probabilities(self, d: dict[str, Any]) -> None:
        conn = self._conn
        if conn is None:
            return  # live data only: nothing to catch up on later
        payload = self._dumps("probabilities", d)
        if payload is None:
            return
        try:
            with self._lock:
                if self._conn is not None:
                    self._send(self._conn, self.topics["probabilities"], payload, qos=0, retain=False)
        except Exception as exc:  # noqa: BLE001
            self._unexpected("probabilities", exc)

    def counters(self) -> dict[str, Any]:
        with self._lock:
            if self._conn is not None:
                self._drain(self._conn)
            return {
                "connected": self._conn is not None,
                "reconnects": self._reconnects,
                "events_queued": len(self._events),
                "events_dropped": self._events_dropped,
                "published": self._published,
                "last_error": self._last_error,
            }

    # -- internals: publishing ----------------------------------------------------------------

    def _publish_retained(self, kind: str, d: dict[str, Any], *, retain: bool) -> None:
        payload = self._dumps(kind, d)
        if payload is None:
            return
        topic = self.topics[kind]
        try:
            with self._lock:
                self._retained[topic] = payload
                if self._conn is not None:
                    self._drain(self._conn)
                    self._send(self._conn, topic, payload, qos=self._qos, retain=retain)
        except Exception as exc:  # noqa: BLE001
            self._unexpected(kind, exc)

    # The helpers below run with self._lock held.

    def _send(self, conn: _Conn, topic: str, payload: str, *, qos: int, retain: bool) -> Any:
        return conn.client.publish(topic, payload, qos=qos, retain=retain)

    def _flush_events(self, conn: _Conn) -> None:
        """Hand every event not yet on this connection to paho, oldest first."""
        for ev in self._events:
            if ev.conn is conn:
                continue
            info = self._send(conn, self.topics["event"], ev.payload, qos=self._qos, retain=False)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # the connection is going; the rest wait, in order, for the next one
            ev.conn, ev.mid = conn, info.mid

    def _drain(self, conn: _Conn) -> None:
        """Apply the acknowledgements paho has reported: acknowledged events leave the queue."""
        if not conn.acks:
            return
        acked: set[int] = set()
        while conn.acks:
            acked.add(conn.acks.popleft())
            self._published += 1
        if any(ev.conn is conn and ev.mid in acked for ev in self._events):
            self._events = deque(ev for ev in self._events if not (ev.conn is conn and ev.mid in acked))

    def _republish(self, conn: _Conn) -> None:
        """What a subscriber (or a restarted broker without persistence) must see after a connect."""
        self._send(conn, self.topics["availability"], "online", qos=1, retain=True)
        if self.settings.discovery:
            for topic, payload in self.discovery_messages():
                self._send(conn, topic, payload, qos=1, retain=True)
        for kind in ("state", "status", "stats"):
            topic = self.topics[kind]
            if topic in self._retained:
                retain = self.settings.retain if kind == "state" else True
                self._send(conn, topic, self._retained[topic], qos=self._qos, retain=retain)
        self._flush_events(conn)

    def _dumps(self, kind: str, d: Any) -> str | None:
        try:
            return dumps(d)
        except (TypeError, ValueError) as exc:
            if kind not in self._told_bad_payload:
                self._told_bad_payload.add(kind)
                _LOG.error("cannot publish %s: not JSON (%s)", kind, one_line(exc))
            return None

    def _unexpected(self, kind: str, exc: BaseException) -> None:
        self._last_error = f"publishing {kind}: {one_line(exc)}"
        if kind not in self._told_unexpected:  # once: it would repeat every window
            self._told_unexpected.add(kind)
            _LOG.warning("MQTT: publishing %s failed: %s", kind, one_line(exc), exc_info=_LOG.isEnabledFor(logging.DEBUG))

    # -- Home Assistant discovery ----------------------------------------------------------

    def discovery_messages(self) -> list[tuple[str, str]]:
        """(topic, payload) of the Home Assistant MQTT discovery configs, retained."""
        node = node_id_of(self.device_id)
        s = self.settings
        device: dict[str, Any] = {"identifiers": [node], "name": f"genred {self.device_id}", "manufacturer": "genred"}
        if self.model_name:
            device["model"] = self.model_name
        if self.sw_version:
            device["sw_version"] = self.sw_version
        common: dict[str, Any] = {
            "state_topic": self.topics["state"],
            "availability_topic": self.topics["availability"],
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": "genred", **({"sw_version": self.sw_version} if self.sw_version else {})},
        }

        def config(key: str, **extra: Any) -> tuple[str, str]:
            uid = f"{node}_{key}"
            # object_id for Home Assistant before 2025.10, default_entity_id after it.
            payload = {"unique_id": uid, "object_id": uid, "default_entity_id": f"sensor.{uid}", **common, **extra}
            return f"{s.discovery_prefix}/sensor/{node}/{key}/config", dumps(payload)

        return [
            config(
                "genre",
                name="Genre",
                icon="mdi:music",
                # No genre while silent, unsure or without music: show the status instead
                # of "unknown", readable ("no_music" -> "no music").
                value_template=(
                    "{{ value_json.genre if value_json.genre is not none"
                    " else value_json.status | replace('_', ' ') }}"
                ),
                json_attributes_topic=self.topics["state"],
            ),
            config(
                "confidence",
                name="Genre confidence",
                icon="mdi:gauge",
                unit_of_measurement="%",
                state_class="measurement",
                value_template="{{ (value_json.confidence * 100) | round(0) }}",
            ),
        ]

    # -- internals: the connection thread and paho's callbacks ---------------------------------

    def _new_conn(self) -> _Conn:
        s = self.settings
        try:
            client = self._client_factory(self._client_id)
            conn = _Conn(client)
            client.user_data_set(conn)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            if _LOG.isEnabledFor(logging.DEBUG):
                # paho's own lines only when debugging: at shutdown it logs harmless
                # "not connected" errors, and the lines that matter are ours.
                client.enable_logger(logging.getLogger(__name__ + ".paho"))
            client.will_set(self.topics["availability"], "offline", qos=1, retain=True)
        except (OSError, ValueError) as exc:
            raise MqttError(f"cannot set up the MQTT client: {one_line(exc)}") from None
        configure_client(client, s, self._password)
        return conn

    def _run(self, conn: _Conn) -> None:
        s = self.settings
        backoff = Backoff(s.reconnect_min_s, s.reconnect_max_s)
        delay = s.reconnect_min_s
        while not self._stopping.is_set():
            try:
                conn.client.connect(s.host, s.port, keepalive=s.keepalive_s)
            except Exception as exc:  # noqa: BLE001 - OSError, ssl errors, DNS: all "not reachable"
                self._unreachable(exc)
            else:
                conn.client.loop_start()
                sent = time.monotonic()
                while not conn.done.wait(0.25):
                    if self._released.is_set():
                        break
                    if not (conn.accepted or conn.refused) and time.monotonic() - sent > CONNACK_TIMEOUT_S:
                        conn.unanswered = True
                        break
                if self._stopping.is_set() or conn.unanswered:
                    try:
                        conn.client.disconnect()
                    except Exception:  # noqa: BLE001
                        pass
                conn.client.loop_stop()
                self._cleanup(conn)
                if not (conn.accepted or conn.refused or self._stopping.is_set()):
                    self._not_answered(conn)
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
                self._last_error = str(exc)
                _LOG.error("%s", exc)
                self._stopping.wait(s.reconnect_max_s)
                continue

    def _unreachable(self, exc: BaseException) -> None:
        reason = one_line(exc)
        tls = self.settings.tls
        if isinstance(exc, ssl.SSLCertVerificationError):
            what = f"has a TLS certificate we do not trust ({exc.verify_message or reason})"
            if exc.verify_code == _X509_HOSTNAME_MISMATCH:
                hint = ("check mqtt.host: it must be a name the broker's certificate is for "
                        "(mqtt.tls.insecure for test brokers only); retrying")
            else:
                hint = ("check mqtt.tls.ca_file: the CA that signed the broker's certificate "
                        "(null: the system's CA store); retrying")
        elif tls.enabled and isinstance(exc, (ssl.SSLError, ConnectionResetError)):
            what = f"failed the TLS handshake ({reason})"
            hint = f"check mqtt.port and mqtt.tls.enabled: is {self.settings.port} the broker's TLS port?; retrying"
        else:
            what, hint = f"not reachable ({reason})", "retrying; genre changes are still printed"
        self._tell_once(f"MQTT broker {self._where} {what}; {hint}", f"not reachable: {reason}")

    def _not_answered(self, conn: _Conn) -> None:
        """TCP (and TLS) worked, but no MQTT answer came: not a broker, or not this protocol."""
        if conn.unanswered:
            what = f"accepted the connection but sent no MQTT answer within {CONNACK_TIMEOUT_S:g} s"
        elif conn.reason in ("", _CLOSED_BY_BROKER):
            what = "closed the connection without an MQTT answer"
        else:
            what = f"ended the connection without an MQTT answer ({conn.reason})"
        s = self.settings
        if s.tls.enabled:
            hint = f"check mqtt.port: is {s.port} the broker's MQTT over TLS port? (mqtt.tls.enabled is true)"
        elif s.port == 8883:
            hint = "port 8883 is MQTT over TLS: set mqtt.tls.enabled: true (or check mqtt.port)"
        else:
            hint = "if it is a TLS port, set mqtt.tls.enabled: true; otherwise check mqtt.port (no MQTT broker answers there)"
        self._tell_once(f"MQTT broker {self._where} {what}; {hint}; retrying", f"no MQTT answer: {what}")

    def _tell_once(self, message: str, last_error: str) -> None:
        """Warn once per outage (the first failure says it; retries only at debug)."""
        with self._lock:
            self._last_error = last_error
            tell = not self._told_unreachable
            self._told_unreachable = True
        if tell and self._lost_at is None:
            _LOG.warning("%s", message)
        else:
            _LOG.debug("%s", message)

    def _on_connect(self, client: Any, conn: _Conn, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            reason = str(reason_code)
            conn.refused = True
            with self._lock:
                self._last_error = f"refused: {reason}"
                tell = not self._told_refused
                self._told_refused = True
            if tell:
                hint = f"; {_AUTH_HINT}" if reason in _AUTH_REFUSALS else ""
                _LOG.error("MQTT broker %s refused us: %s%s", self._where, reason, hint)
            conn.done.set()
            return
        with self._lock:
            if self._stopping.is_set():
                return  # stop() ran while we connected: say nothing, the thread disconnects
            conn.accepted = True
            self._conn = conn
            if self._ever_connected:
                self._reconnects += 1
                away = f" after {time.monotonic() - self._lost_at:.0f} s" if self._lost_at is not None else ""
                _LOG.info("MQTT reconnected to %s%s; %d queued event(s) to send", self._where, away, len(self._events))
            else:
                _LOG.info("MQTT connected to %s as %s", self._where, self._client_id)
            self._ever_connected = True
            self._lost_at = None
            self._last_error = None  # connected: an old failure is history (the log has it)
            self._told_unreachable = self._told_refused = self._told_dropping = False
            try:
                self._republish(conn)
            except Exception as exc:  # noqa: BLE001 - paho would swallow it silently
                self._unexpected("after connecting", exc)

    def _on_disconnect(self, client: Any, conn: _Conn, flags: Any, reason_code: Any, properties: Any) -> None:
        # paho names a socket closed without a DISCONNECT packet (how mosquitto ends an
        # MQTT 3.1.1 session when it shuts down or restarts) "Unspecified error".
        conn.reason = _CLOSED_BY_BROKER if str(reason_code) == "Unspecified error" else str(reason_code)
        self._cleanup(conn, reason=conn.reason)
        conn.done.set()

    def _on_publish(self, client: Any, conn: _Conn, mid: int, reason_code: Any, properties: Any) -> None:
        conn.acks.append(mid)

    def _cleanup(self, conn: _Conn, reason: str = "connection closed") -> None:
        """The connection is over: unacknowledged events go back to waiting (idempotent)."""
        with self._lock:
            if conn.cleaned:
                return
            conn.cleaned = True
            self._drain(conn)
            requeued = 0
            for ev in self._events:
                if ev.conn is conn:
                    ev.conn, ev.mid = None, 0
                    requeued += 1
            if requeued:
                _LOG.debug("%d unacknowledged event(s) will be sent again", requeued)
            if self._conn is not conn:
                return
            self._conn = None
            if self._stopping.is_set():
                return
            self._lost_at = time.monotonic()
            self._last_error = f"connection lost: {reason}"
        _LOG.warning("MQTT connection to %s lost (%s); reconnecting; events are queued", self._where, reason)


def configure_client(client: Any, settings: MqttSettings, password: str | None) -> None:
    """The credentials and TLS of ``settings`` on a paho client (the daemon's, `listen`'s
    and `check-config`'s). `MqttError` naming the key and the file for unusable TLS files."""
    if settings.username is not None:
        client.username_pw_set(settings.username, password)
    tls = settings.tls
    if tls.enabled:
        for key in ("ca_file", "cert_file", "key_file"):
            name = getattr(tls, key)
            if name is not None and not os.path.isfile(name):
                raise MqttError(f"mqtt.tls.{key}: no such file: {os.path.abspath(name)}")
        try:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise MqttError(
                f"mqtt.tls: cannot use {_tls_files(tls)}: {one_line(exc)}; check that they are PEM files readable by this user"
            ) from None
        if tls.insecure:
            client.tls_insecure_set(True)
    client.connect_timeout = CONNECT_TIMEOUT_S


def _tls_files(tls: Any) -> str:
    named = [f"mqtt.tls.{k} ({getattr(tls, k)})" for k in ("ca_file", "cert_file", "key_file") if getattr(tls, k)]
    return ", ".join(named) or "the system's CA store"


def new_client(client_id: str) -> Any:
    # Reconnecting is ours (see the module docstring), so paho's own is off.
    return mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False)


# -- genred listen -----------------------------------------------------------------------------


def listen(
    host: str,
    port: int,
    *,
    device_id: str | None = None,
    topic_prefix: str = "genred",
    out: IO[str] = sys.stdout,
    stop: threading.Event | None = None,
    max_messages: int | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: TlsSettings | None = None,
) -> int:
    """Print one line per state, event and availability message until Ctrl-C (or ``stop``,
    or ``max_messages`` lines); 0 then. `MqttError` if the broker cannot be reached.
    Credentials and TLS as the daemon's (`configure_client`)."""
    stop = stop or threading.Event()
    where = f"{host}:{port}"
    base = f"{topic_prefix}/{device_id or '+'}"
    topics = [f"{base}/state", f"{base}/event", f"{base}/availability"]
    connack: dict[str, Any] = {}
    got_connack = threading.Event()
    printed = 0
    out_lock = threading.Lock()

    def on_connect(client: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        connack["reason"] = reason_code
        got_connack.set()
        if not reason_code.is_failure:
            # Again on every reconnect: the session is clean.
            client.subscribe([(t, 1) for t in topics])

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        nonlocal printed
        line = format_message(msg.topic, msg.payload)
        if line is None:
            return
        with out_lock:
            if stop.is_set():
                return
            out.write(line + "\n")
            out.flush()
            printed += 1
            if max_messages is not None and printed >= max_messages:
                stop.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        # Not after a refusal: that is the one error line, raised below.
        if got_connack.is_set() and not connack["reason"].is_failure and not stop.is_set():
            _LOG.warning("lost the MQTT broker at %s (%s); reconnecting", where, reason_code)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"genred-listen-{os.getpid()}")
    client.on_connect = on_connect
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    configure_client(client, MqttSettings(host=host, port=port, username=username, tls=tls or TlsSettings()), password)
    try:
        client.connect(host, port, keepalive=30)
    except Exception as exc:  # noqa: BLE001 - OSError, DNS, ssl: one line for the user
        raise MqttError(f"cannot reach the MQTT broker at {where}: {one_line(exc)}") from None
    client.loop_start()
    try:
        if not got_connack.wait(LISTEN_CONNACK_TIMEOUT_S):
            raise MqttError(f"cannot reach the MQTT broker at {where}: no answer in {LISTEN_CONNACK_TIMEOUT_S:.0f} s")
        if connack["reason"].is_failure:
            reason = str(connack["reason"])
            hint = "; check --username / --password-file (or the config's)" if reason in _AUTH_REFUSALS else ""
            raise MqttError(f"the MQTT broker at {where} refused us: {reason}{hint}")
        # Waiting in short steps keeps Ctrl-C responsive in the main thread.
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        client.disconnect()
        client.loop_stop()
    return 0


def format_message(topic: str, payload: bytes) -> str | None:
    """``<time> <device> state: rock 0.82 (music)`` and the like; None for other topics."""
    parts = topic.split("/")
    if len(parts) < 3:
        return None
    device, kind = parts[-2], parts[-1]
    text = payload.decode("utf-8", errors="replace")
    now = dt.datetime.now().strftime("%H:%M:%S")
    if kind == "availability":
        return f"{now} {device} availability: {text}"
    if kind not in ("state", "event"):
        return None
    try:
        d = json.loads(text)
        if kind == "state":
            body = f"{d.get('genre') or '-'} {float(d.get('confidence') or 0.0):.2f} ({d.get('status')})"
        else:
            body = f"{d.get('from') or '-'} -> {d.get('to') or '-'} ({float(d.get('confidence') or 0.0):.2f})"
    except (ValueError, TypeError, AttributeError):
        body = text  # not ours, or an older format: show it as it is
    return f"{now} {device} {kind}: {body}"
