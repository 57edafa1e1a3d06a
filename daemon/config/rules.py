"""What msgspec cannot check field by field: text that must be printable, rules between
two fields (reported on the second one), and the length of the MQTT topics the
settings make."""

from __future__ import annotations

from typing import Any

from genred.dsp.schema import extra, leaves, requirement
from genred.dsp.smoother_params import music_thresholds_problem

from ..settings import Settings
from .errors import Context, show

# Text that must be printable (str.isprintable): topics and names.
_PRINTABLE = {k: f for k, f in leaves(Settings).items() if extra(f.type).get("printable")}

_MQTT_TOPIC_MAX_BYTES = 65535
_HOST_NAME_MAX = 64  # Linux's HOST_NAME_MAX: the device id when device_id is null
# The longest topics the daemon uses, around its prefixes and device id (the discovery
# node id is "genred_" and the device id with odd characters made "_": never longer).
_LONGEST_STATE_SUFFIX = "/probabilities"
_LONGEST_DISCOVERY_PARTS = ("/sensor/genred_", "/confidence/config")


def check_printable(s: Settings, ctx: Context) -> None:
    for key, f in _PRINTABLE.items():
        value: Any = s
        for part in key.split("."):
            value = getattr(value, part)
        if value is not None and not value.isprintable():
            raise ctx.error(key, f"must be {requirement(f.type, f.name)}, not {show(value)}")


def check_relations(s: Settings, ctx: Context) -> None:
    """Rules that involve two fields; reported on the second one."""
    a, m = s.audio, s.mqtt
    if not a.buffer_s > a.block_s:
        raise ctx.error("audio.buffer_s", f"must be longer than audio.block_s ({a.block_s:g} s), not {a.buffer_s:g}",
                        "audio.block_s")
    if not a.retry_max_s >= a.retry_min_s:
        raise ctx.error("audio.retry_max_s",
                        f"must be >= audio.retry_min_s ({a.retry_min_s:g} s), not {a.retry_max_s:g}",
                        "audio.retry_min_s")
    if not m.reconnect_max_s >= m.reconnect_min_s:
        raise ctx.error("mqtt.reconnect_max_s",
                        f"must be >= mqtt.reconnect_min_s ({m.reconnect_min_s:g} s), not {m.reconnect_max_s:g}",
                        "mqtt.reconnect_min_s")
    sm = s.smoothing
    if sm.music_on is not None and sm.music_off is not None:
        # Only when both are given: the other's value comes from the model (checked at start).
        problem = music_thresholds_problem(sm.music_on, sm.music_off)
        if problem is not None:
            raise ctx.error("smoothing.music_off", f"must be {problem.replace('music_on', 'smoothing.music_on')}",
                            "smoothing.music_on")
    if m.password is not None and m.password_file is not None:
        raise ctx.error("mqtt.password_file", "give mqtt.password or mqtt.password_file, not both", "mqtt.password")
    _check_topic_lengths(s, ctx)
    if (m.tls.cert_file is None) != (m.tls.key_file is None):
        given, missing = ("cert_file", "key_file") if m.tls.key_file is None else ("key_file", "cert_file")
        raise ctx.error(f"mqtt.tls.{missing}", f"needed with mqtt.tls.{given} (a client certificate needs both)",
                        f"mqtt.tls.{given}")


def _check_topic_lengths(s: Settings, ctx: Context) -> None:
    m = s.mqtt
    parts = {"device_id": s.device_id or "", "mqtt.topic_prefix": m.topic_prefix, "mqtt.discovery_prefix": m.discovery_prefix}
    size = {k: len(v.encode("utf-8")) for k, v in parts.items()}
    if s.device_id is None:
        size["device_id"] = _HOST_NAME_MAX  # the host name, then
    longest = max(
        size["mqtt.topic_prefix"] + 1 + size["device_id"] + len(_LONGEST_STATE_SUFFIX),
        size["mqtt.discovery_prefix"] + size["device_id"] + sum(map(len, _LONGEST_DISCOVERY_PARTS)),
    )
    if longest > _MQTT_TOPIC_MAX_BYTES:
        key = max(size, key=size.__getitem__)  # the one to shorten
        raise ctx.error(key, f"makes an MQTT topic {longest} bytes long; MQTT allows at most {_MQTT_TOPIC_MAX_BYTES}",
                        *(k for k in parts if k != key))
