"""What the service calls to publish: the `Publisher` protocol, and `NullPublisher` for
``--no-mqtt`` (``mqtt.enabled: false``), so that the service never asks whether there
is a broker. Neither imports paho."""

from __future__ import annotations

from typing import Protocol

from ..settings import MqttSettings
from .payloads import MqttCounters, Payload


class Publisher(Protocol):
    def start(self) -> None: ...

    def stop(self, timeout_s: float = 2.0) -> None: ...

    def publish(self, message: Payload) -> None:
        """Never raises, never blocks on the network (the worker calls it); the message's
        class says its topic and how it is delivered."""
        ...

    def counters(self) -> MqttCounters | None:
        """For the status payload; None: there is no broker."""
        ...


class PublisherFactory(Protocol):
    """How the service makes its publisher (`MqttPublisher`; tests pass their own)."""

    def __call__(
        self, settings: MqttSettings, device_id: str, *, password: str | None, model_name: str, sw_version: str
    ) -> Publisher: ...


class NullPublisher:
    """Takes every message and sends none: MQTT is off."""

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float = 2.0) -> None:
        pass

    def publish(self, message: Payload) -> None:
        pass

    def counters(self) -> MqttCounters | None:
        return None
