"""The topics of one device, under ``<topic_prefix>/<device_id>/`` (each message's last
level is its class's ``TOPIC``), and Home Assistant's node id for it."""

from __future__ import annotations

import re

from .client import MqttError


def device_base(topic_prefix: str, device_id: str) -> str:
    """``<topic_prefix>/<device_id>``; `MqttError` for a device id or prefix that cannot
    be part of a topic."""
    check_topic_part("device_id", device_id, levels=False)
    check_topic_part("mqtt.topic_prefix", topic_prefix, levels=True)
    return f"{topic_prefix}/{device_id}"


def check_topic_part(what: str, value: str, *, levels: bool) -> None:
    bad = "+#\0" if levels else "+#/\0"
    if not value or any(c in value for c in bad):
        shown = ", ".join(repr(c) for c in bad if c != "\0")
        raise MqttError(f"{what} {value!r} cannot be used in an MQTT topic (empty, or has one of {shown})")


def node_id_of(device_id: str) -> str:
    """Home Assistant's node_id / object_id alphabet is [a-zA-Z0-9_-]."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", f"genred_{device_id}")
