"""Home Assistant MQTT discovery: the two sensors of a device, as a pure function of the
settings. The publisher sends them (retained) on every connect, before the state."""

from __future__ import annotations

from typing import Any

from ..settings import MqttSettings
from .payloads import AVAILABILITY, OFFLINE, ONLINE, StatePayload, dumps
from .topics import device_base, node_id_of


def discovery_messages(
    settings: MqttSettings, device_id: str, *, model_name: str = "", sw_version: str = ""
) -> list[tuple[str, str]]:
    """(topic, payload) of the Home Assistant MQTT discovery configs, retained, under
    ``<discovery_prefix>/sensor/<node_id>/``."""
    base = device_base(settings.topic_prefix, device_id)
    state_topic = f"{base}/{StatePayload.TOPIC}"
    node = node_id_of(device_id)
    device: dict[str, Any] = {"identifiers": [node], "name": f"genred {device_id}", "manufacturer": "genred"}
    if model_name:
        device["model"] = model_name
    if sw_version:
        device["sw_version"] = sw_version
    common: dict[str, Any] = {
        "state_topic": state_topic,
        "availability_topic": f"{base}/{AVAILABILITY}",
        "payload_available": ONLINE,
        "payload_not_available": OFFLINE,
        "device": device,
        "origin": {"name": "genred", **({"sw_version": sw_version} if sw_version else {})},
    }

    def config(key: str, **extra: Any) -> tuple[str, str]:
        uid = f"{node}_{key}"
        # object_id for Home Assistant before 2025.10, default_entity_id after it.
        payload = {"unique_id": uid, "object_id": uid, "default_entity_id": f"sensor.{uid}", **common, **extra}
        return f"{settings.discovery_prefix}/sensor/{node}/{key}/config", dumps(payload)

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
            json_attributes_topic=state_topic,
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
