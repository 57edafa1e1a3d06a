"""`MqttPublisher`: a device's messages (`payloads`) on the broker.

* `publish` never raises and never blocks on the network; the worker calls it.
* How a message goes is its class's ``DELIVERY``: the retained ones (state, status,
  stats) keep their latest payload here and are sent again on every connect, after
  ``online`` and the discovery configs; the queued ones (events) stay in a bounded
  queue (`EventQueue`) until the broker acknowledges them (PUBACK), and after a
  reconnect every unacknowledged one is sent again, in order. Delivery is therefore at
  least once and in order; an event whose PUBACK was lost with the connection arrives
  twice. Nothing de-duplicates: each event carries its ``at``. (With ``mqtt.qos: 0``
  an event leaves the queue once written to the socket.) Live ones (probabilities) go
  out at QoS 0 while connected, and are dropped otherwise.
* The connection itself (connect, back-off, a fresh paho client each time, failures
  said once) is `BrokerLink`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from genred.dsp.errors import one_line

from ..settings import MqttSettings
from .client import CONNACK_TIMEOUT_S, new_client
from .discovery import discovery_messages
from .event_queue import EventQueue
from .link import BrokerLink, Conn
from .payloads import AVAILABILITY, MESSAGES, ONLINE, Delivery, MqttCounters, Payload
from .topics import device_base

_LOG = logging.getLogger(__name__)
_REPUBLISH_ORDER = {cls.TOPIC: i for i, cls in enumerate(MESSAGES)}


class MqttPublisher:
    """Publishes a device's messages; see the module docstring.

    ``client_factory(client_id)`` returns a paho ``Client`` (VERSION2 callbacks,
    ``reconnect_on_failure=False``); tests may pass their own. ``password`` wins over
    ``settings.password``; it is never logged. `MqttError` for a device id or topic
    prefix that cannot be part of a topic.
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
        connack_timeout_s: float = CONNACK_TIMEOUT_S,
    ) -> None:
        self.base = device_base(settings.topic_prefix, device_id)
        self.settings = settings
        self.device_id = device_id
        self.model_name = model_name
        self.sw_version = sw_version
        self._qos = settings.qos
        self._events = EventQueue(settings.event_queue_size)
        self._link = BrokerLink(
            settings, settings.client_id or f"genred-{device_id}",
            password if password is not None else settings.password,
            events=self._events, will_topic=self.topic(AVAILABILITY), on_up=self._on_up,
            client_factory=client_factory or new_client, connack_timeout_s=connack_timeout_s,
        )
        self._lock = self._link.lock
        self._retained: dict[str, tuple[str, str, bool]] = {}  # kind -> (topic, latest payload, retain flag)
        # Each said once: per outage (reset when a connection is accepted), per kind.
        self._told_dropping = False
        self._told_unexpected: set[str] = set()

    def topic(self, kind: str) -> str:
        """``<topic_prefix>/<device_id>/<kind>``."""
        return f"{self.base}/{kind}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; a broker that is down now is retried, not fatal.

        Raises `MqttError` only for a setup that can never work (unreadable TLS files).
        """
        self._link.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Publish ``offline`` (retained), disconnect, and return within ``timeout_s``."""
        self._link.stop(timeout_s)

    # -- what the daemon publishes -----------------------------------------------------------

    def publish(self, message: Payload) -> None:
        kind = message.TOPIC
        delivery = message.DELIVERY
        if delivery is Delivery.LIVE and self._link.conn is None:
            return  # live data only: nothing to catch up on later
        try:
            topic, payload = self.topic(kind), message.to_json()
            with self._lock:
                conn = self._link.conn
                if conn is not None:
                    self._link.drain(conn)  # acknowledged events first: they free room
                if delivery is Delivery.QUEUED:
                    self._queue(topic, payload, conn)
                elif delivery is Delivery.LIVE:
                    if conn is not None:
                        conn.publish(topic, payload, qos=0, retain=False)
                else:
                    retain = self.settings.retain if delivery is Delivery.RETAINED_IF_CONFIGURED else True
                    self._retained[kind] = (topic, payload, retain)
                    if conn is not None:
                        conn.publish(topic, payload, qos=self._qos, retain=retain)
        except Exception as exc:  # never let MQTT stop classification
            self._unexpected(kind, exc)

    def counters(self) -> MqttCounters:
        with self._lock:
            link = self._link
            if link.conn is not None:
                link.drain(link.conn)
            return MqttCounters(
                connected=link.conn is not None, reconnects=link.reconnects, events_queued=len(self._events),
                events_dropped=self._events.dropped, published=link.published, last_error=link.last_error,
            )

    def discovery_messages(self) -> list[tuple[str, str]]:
        """(topic, payload) of the Home Assistant discovery configs (`discovery_messages`)."""
        return discovery_messages(self.settings, self.device_id, model_name=self.model_name, sw_version=self.sw_version)

    # -- internals: with the lock held -----------------------------------------------------

    def _queue(self, topic: str, payload: str, conn: Conn | None) -> None:
        if self._events.add(topic, payload) and not self._told_dropping:
            self._told_dropping = True
            _LOG.warning(
                "MQTT event queue full (%d, mqtt.event_queue_size); dropping the oldest events until the broker is back",
                self._events.capacity,
            )
        if conn is not None:
            self._flush_events(conn)

    def _flush_events(self, conn: Conn) -> None:
        self._events.flush(conn, lambda topic, payload: conn.publish(topic, payload, qos=self._qos, retain=False))

    def _on_up(self, conn: Conn) -> None:
        """What a subscriber (or a restarted broker without persistence) must see after a connect."""
        self._told_dropping = False
        try:
            conn.publish(self.topic(AVAILABILITY), ONLINE, qos=1, retain=True)
            if self.settings.discovery:
                for topic, payload in self.discovery_messages():
                    conn.publish(topic, payload, qos=1, retain=True)
            for kind in sorted(self._retained, key=lambda k: _REPUBLISH_ORDER.get(k, len(MESSAGES))):
                topic, payload, retain = self._retained[kind]
                conn.publish(topic, payload, qos=self._qos, retain=retain)
            self._flush_events(conn)
        except Exception as exc:  # paho would swallow it silently
            self._unexpected("after connecting", exc)

    def _unexpected(self, kind: str, exc: BaseException) -> None:
        self._link.last_error = f"publishing {kind}: {one_line(exc)}"
        if kind not in self._told_unexpected:  # once: it would repeat every window
            self._told_unexpected.add(kind)
            _LOG.warning("MQTT: publishing %s failed: %s", kind, one_line(exc), exc_info=_LOG.isEnabledFor(logging.DEBUG))
