"""Every message genred puts on the broker, as a frozen dataclass: `to_json()` writes
what goes on the wire (compact JSON, keys in field order), `from_json()` reads it back
(`PayloadError`, a ValueError, for what is not one of ours). The service builds them,
the publisher sends them (``publish(message)``), `genred listen` reads them.

Each class names its topic (``TOPIC``, under ``<topic_prefix>/<device_id>/``) and how
it is delivered (``DELIVERY``), so a new topic is one class here, listed in
`MESSAGES`, and its test in tests/test_payloads.py; the publisher needs no change.

The producer decides the values (rounding included); these classes only carry them,
so ``X.from_json(x.to_json()) == x``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from .wire import (
    PayloadError,
    dumps,
    opt_int,
    opt_number,
    opt_object,
    opt_str,
    read_bool,
    read_int,
    read_number,
    read_object,
    read_probabilities,
    read_str,
    required_object,
)

__all__ = [
    "AVAILABILITY", "MESSAGES", "OFFLINE", "ONLINE", "Delivery", "EventPayload", "InferenceMs", "MixShare",
    "MqttCounters", "Payload", "PayloadError", "ProbabilitiesPayload", "StatePayload", "StatsPayload",
    "StatusPayload", "dumps",
]

AVAILABILITY = "availability"  # its topic; plain text, no JSON:
ONLINE = "online"
OFFLINE = "offline"  # ... also the last will


class Delivery(enum.Enum):
    """How the publisher delivers a message (QoS ``mqtt.qos`` unless said)."""

    RETAINED = "retained"  # the latest is kept here and sent again on every connect; retained
    RETAINED_IF_CONFIGURED = "retained if mqtt.retain"  # the same, but retained by the broker only with mqtt.retain
    QUEUED = "queued"  # every one, at least once and in order (queued while the broker is away)
    LIVE = "live"  # QoS 0, dropped while the broker is away


class Payload(Protocol):
    """What the publisher takes."""

    TOPIC: ClassVar[str]
    DELIVERY: ClassVar[Delivery]

    def to_json(self) -> str: ...


@dataclass(frozen=True)
class StatePayload:
    """``state``: what is playing now (also Home Assistant's sensors' state)."""

    TOPIC: ClassVar[str] = "state"
    DELIVERY: ClassVar[Delivery] = Delivery.RETAINED_IF_CONFIGURED

    genre: str | None  # None unless status is "music"
    confidence: float
    status: str  # music, uncertain, silence, no_music, no_audio
    since: str | None = None  # ISO time this (status, genre) began
    probabilities: Mapping[str, float] = field(default_factory=dict)  # smoothed, by label
    music_probability: float | None = None  # smoothed P(music); None without a detector (and before there was one)
    model: str = ""

    def to_json(self) -> str:
        return dumps({
            "genre": self.genre, "confidence": self.confidence, "status": self.status, "since": self.since,
            "probabilities": dict(self.probabilities), "music_probability": self.music_probability,
            "model": self.model,
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> StatePayload:
        d = read_object(cls, text)
        return cls(
            genre=opt_str(d, "genre"), confidence=read_number(d, "confidence"), status=read_str(d, "status"),
            since=opt_str(d, "since", default=None), probabilities=read_probabilities(d, "probabilities", default={}),
            music_probability=opt_number(d, "music_probability", default=None), model=read_str(d, "model", default=""),
        )


@dataclass(frozen=True)
class EventPayload:
    """``event``: a change of genre."""

    TOPIC: ClassVar[str] = "event"
    DELIVERY: ClassVar[Delivery] = Delivery.QUEUED

    from_genre: str | None  # "from" on the wire
    to_genre: str | None  # "to"
    confidence: float
    at: str  # ISO time of the change

    def to_json(self) -> str:
        return dumps({"from": self.from_genre, "to": self.to_genre, "confidence": self.confidence, "at": self.at})

    @classmethod
    def from_json(cls, text: str | bytes) -> EventPayload:
        d = read_object(cls, text)
        return cls(opt_str(d, "from"), opt_str(d, "to"), read_number(d, "confidence"), read_str(d, "at"))


@dataclass(frozen=True)
class ProbabilitiesPayload:
    """``probabilities`` (with ``mqtt.publish_probabilities``): one window's raw probabilities."""

    TOPIC: ClassVar[str] = "probabilities"
    DELIVERY: ClassVar[Delivery] = Delivery.LIVE

    probabilities: Mapping[str, float]
    level_db: float
    at: str

    def to_json(self) -> str:
        return dumps({"probabilities": dict(self.probabilities), "level_db": self.level_db, "at": self.at})

    @classmethod
    def from_json(cls, text: str | bytes) -> ProbabilitiesPayload:
        d = read_object(cls, text)
        return cls(read_probabilities(d, "probabilities"), read_number(d, "level_db"), read_str(d, "at"))


@dataclass(frozen=True)
class InferenceMs:
    mean: float
    p95: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "p95": self.p95}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InferenceMs:
        return cls(read_number(d, "mean"), read_number(d, "p95"))


@dataclass(frozen=True)
class MqttCounters:
    """The publisher's counters (part of ``status``)."""

    connected: bool
    reconnects: int
    events_queued: int
    events_dropped: int
    published: int
    last_error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"connected": self.connected, "reconnects": self.reconnects, "events_queued": self.events_queued,
                "events_dropped": self.events_dropped, "published": self.published, "last_error": self.last_error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MqttCounters:
        return cls(read_bool(d, "connected"), read_int(d, "reconnects"), read_int(d, "events_queued"),
                   read_int(d, "events_dropped"), read_int(d, "published"), opt_str(d, "last_error"))


@dataclass(frozen=True)
class StatusPayload:
    """``status``: diagnostics."""

    TOPIC: ClassVar[str] = "status"
    DELIVERY: ClassVar[Delivery] = Delivery.RETAINED

    version: str
    uptime_s: float
    model: str
    capture: Mapping[str, Any] | None  # the capture's status record, as it names its fields
    input_rate_hz: int | None
    model_rate_hz: int
    hop_s: float | None
    windows: int
    audio_s: float
    inference_ms: InferenceMs | None
    realtime_factor: float | None  # audio seconds per second of processing
    mqtt: MqttCounters | None  # None without MQTT

    def to_json(self) -> str:
        return dumps({
            "version": self.version, "uptime_s": self.uptime_s, "model": self.model,
            "capture": None if self.capture is None else dict(self.capture),
            "input_rate_hz": self.input_rate_hz, "model_rate_hz": self.model_rate_hz, "hop_s": self.hop_s,
            "windows": self.windows, "audio_s": self.audio_s,
            "inference_ms": None if self.inference_ms is None else self.inference_ms.to_dict(),
            "realtime_factor": self.realtime_factor, "mqtt": None if self.mqtt is None else self.mqtt.to_dict(),
        })

    @classmethod
    def from_json(cls, text: str | bytes) -> StatusPayload:
        d = read_object(cls, text)
        capture, inference, mqtt = (opt_object(d, k) for k in ("capture", "inference_ms", "mqtt"))
        return cls(
            read_str(d, "version"), read_number(d, "uptime_s"), read_str(d, "model"), capture, opt_int(d, "input_rate_hz"),
            read_int(d, "model_rate_hz"), opt_number(d, "hop_s"), read_int(d, "windows"), read_number(d, "audio_s"),
            None if inference is None else InferenceMs.from_dict(inference), opt_number(d, "realtime_factor"),
            None if mqtt is None else MqttCounters.from_dict(mqtt),
        )


@dataclass(frozen=True)
class MixShare:
    music_s: float  # seconds of music counted
    share: Mapping[str, float]  # of music_s, by label

    def to_dict(self) -> dict[str, Any]:
        return {"music_s": self.music_s, "share": dict(self.share)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MixShare:
        return cls(read_number(d, "music_s"), read_probabilities(d, "share"))


@dataclass(frozen=True)
class StatsPayload:
    """``stats``: the listening mix, today and over the last ``days`` days."""

    TOPIC: ClassVar[str] = "stats"
    DELIVERY: ClassVar[Delivery] = Delivery.RETAINED

    today: MixShare
    recent: MixShare  # "last_<days>_days" on the wire
    days: int
    date: str  # ISO date of today

    def to_json(self) -> str:
        return dumps({"today": self.today.to_dict(), f"last_{self.days}_days": self.recent.to_dict(), "date": self.date})

    @classmethod
    def from_json(cls, text: str | bytes) -> StatsPayload:
        d = read_object(cls, text)
        keys = [k for k in d if re.fullmatch(r"last_\d+_days", k)]
        if len(keys) != 1:
            raise PayloadError(f"{cls.__name__}: expected one last_<N>_days key, got {sorted(d)}")
        recent = opt_object(d, keys[0])
        if recent is None:
            raise PayloadError(f"{cls.__name__}: {keys[0]}: expected an object, got null")
        return cls(MixShare.from_dict(required_object(d, "today")), MixShare.from_dict(recent),
                   int(keys[0].split("_")[1]), read_str(d, "date"))


# Every message, in the order the publisher sends the retained ones again after a connect.
MESSAGES: tuple[type[Payload], ...] = (StatePayload, StatusPayload, StatsPayload, EventPayload, ProbabilitiesPayload)
