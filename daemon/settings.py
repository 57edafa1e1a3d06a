"""The daemon's settings, declared once: each field's type, default, range and
description. `genred.daemon.config` loads YAML into these (msgspec refuses unknown keys,
wrong types and values out of range) and adds the few rules between fields.

The minimum a user writes: ``device_id``, ``audio: {source}``, ``mqtt: {host, port}``.
A new key is a field here, its line in deploy/config.example.yaml (a test holds the two
equal) and its cases in tests/test_config.py.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from genred.dsp.schema import FLOAT_MAX, Schema
from genred.dsp.smoother_params import HoldTime, Margin, Probability, SilenceLevel, TimeConstant

# What a text field must look like. Control characters (C0, DEL, C1), the Unicode line
# separators and lone surrogates (no UTF-8 for them) are refused by the pattern; the
# rest of what str.isprintable() refuses (format characters, odd spaces, unassigned code
# points), which no pattern can list, by the config's check of fields marked printable.
# MQTT forbids U+0000 in topics; the others break a log line or a dashboard.
_CTL = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_NONBLANK = r"\S"
NonBlank = Annotated[str, Meta(pattern=_NONBLANK, extra={"must_be": "a non-empty string"})]
FilePath = Annotated[str, Meta(pattern=_NONBLANK, extra={"must_be": "a non-empty path"})]
# Brokers reserve topics starting with $ ($SYS): publishes there are dropped.
TopicLevel = Annotated[str, Meta(
    pattern=rf"(?s)\A(?!\$)(?=.*\S)[^+#/{_CTL}]+\Z",
    extra={"must_be": "a non-empty topic level without the MQTT characters + # /, control characters or a leading $",
           "printable": True},
)]
# Levels apart: an empty one (a leading, trailing or double /) is refused.
TopicPrefix = Annotated[str, Meta(
    pattern=rf"(?s)\A(?!\$)(?=.*\S)[^+#/{_CTL}]+(?:/[^+#/{_CTL}]+)*\Z",
    extra={"must_be": "a non-empty topic without the MQTT wildcards + #, empty levels (a leading, trailing or double /), "
                      "control characters or a leading $", "printable": True},
)]
DeviceId = Annotated[str, Meta(
    pattern=rf"\A[^\s+#/{_CTL}]+\Z",
    extra={"must_be": "a non-empty name without spaces, control characters or the MQTT characters + # /", "printable": True},
)]
# "default", "2", "USB" (a name part) and "file:PATH" are all non-blank strings; the only
# malformed ones are blank or a file: without a path.
AudioSource = Annotated[str, Meta(
    pattern=r"(?s)\A(?=.*\S)(?!file:\s*\Z)",
    extra={"must_be": "'default', a device index, part of a device name, or file:PATH"},
)]
# Waits and timeouts: an hour is already absurd, and beyond threading.TIMEOUT_MAX a
# wait raises OverflowError in the thread that retries (which then stays dead).
Wait = Annotated[float, Meta(gt=0, le=3600)]
Interval = Annotated[float, Meta(gt=0, le=FLOAT_MAX)]


class AudioSettings(Schema, frozen=True, forbid_unknown_fields=True):
    # USB microphones renumber across reboots: a name part survives that.
    source: Annotated[AudioSource, Meta(
        description='"default", a device index ("2" or 2), part of a device name ("USB"), or "file:PATH" (paced in real time)'
    )] = "default"
    sample_rate_hz: Annotated[int, Meta(ge=8000, le=192000, description="None: the device's default rate")] | None = None
    channels: Annotated[int, Meta(ge=1, le=32, description="None: min(2, the device's input channels)")] | None = None
    block_s: Annotated[float, Meta(gt=0, le=1, description="callback block length")] = 0.1
    # The ring buffer is allocated whole at start: 300 s of 48 kHz stereo is 110 MiB.
    buffer_s: Annotated[float, Meta(gt=0, le=300, description="ring buffer length; a full buffer is an overrun, counted")] = 30.0
    loop: Annotated[bool, Meta(description="file sources: start again at the end")] = False
    no_audio_timeout_s: Annotated[Wait, Meta(description="no audio this long is a fault: reopen the device")] = 10.0
    retry_min_s: Annotated[Wait, Meta(description="back-off between attempts to (re)open the device, from ...")] = 1.0
    retry_max_s: Annotated[Wait, Meta(description="... to this")] = 30.0


class TlsSettings(Schema, frozen=True, forbid_unknown_fields=True):
    enabled: bool = False
    ca_file: Annotated[FilePath, Meta(description="None: the system's CA store")] | None = None
    cert_file: Annotated[FilePath, Meta(description="client certificate, with key_file")] | None = None
    key_file: FilePath | None = None
    insecure: Annotated[bool, Meta(description="skip host name verification (self-signed test brokers only)")] = False


class MqttSettings(Schema, frozen=True, forbid_unknown_fields=True):
    enabled: bool = True
    host: Annotated[str, Meta(pattern=_NONBLANK, extra={"must_be": "a non-empty host name"})] = "localhost"
    port: Annotated[int, Meta(ge=1, le=65535)] = 1883
    topic_prefix: TopicLevel = "genred"
    client_id: Annotated[NonBlank, Meta(description='None: "genred-<device_id>"')] | None = None
    username: str | None = None
    # A secret: masked in messages, in check-config's output and in repr.
    password: Annotated[str, Meta(description="prefer password_file", extra={"secret": True})] | None = None
    # Read at start; a relative name is looked up in $CREDENTIALS_DIRECTORY first
    # (systemd LoadCredential=), so the secret never sits in the config file.
    password_file: FilePath | None = None
    tls: TlsSettings = TlsSettings()
    # MQTT's keepalive is a 16-bit field; under 5 s a busy Pi would time out spuriously.
    keepalive_s: Annotated[int, Meta(ge=5, le=65535)] = 60
    qos: Annotated[Literal[0, 1, 2], Meta(description="for state, status and events")] = 1
    retain: bool = True
    state_interval_s: Annotated[Interval, Meta(description="state is republished at least this often")] = 60.0
    status_interval_s: Interval = 30.0
    publish_probabilities: Annotated[bool, Meta(description="every window, QoS 0")] = False
    discovery: Annotated[bool, Meta(description="Home Assistant MQTT discovery")] = True
    discovery_prefix: TopicPrefix = "homeassistant"
    event_queue_size: Annotated[int, Meta(
        ge=1, description="events kept while the broker is away; the oldest dropped, counted")] = 1000
    reconnect_min_s: Wait = 1.0
    reconnect_max_s: Wait = 60.0

    def __repr__(self) -> str:
        shown = {n: getattr(self, n) for n in self.__struct_fields__ if n != "password"}
        return "MqttSettings(" + ", ".join(f"{n}={v!r}" for n, v in shown.items()) + ")"


class SmoothingSettings(Schema, frozen=True, forbid_unknown_fields=True):
    """Overrides of the model's measured smoothing defaults; None keeps the model's.
    The types are SmootherParams' own, so the config refuses what the smoother would."""

    tau_s: TimeConstant | None = None
    switch_margin: Margin | None = None
    switch_hold_s: HoldTime | None = None
    confidence_floor: Probability | None = None
    silence_db: SilenceLevel | None = None
    music_tau_s: TimeConstant | None = None
    music_on: Probability | None = None
    music_off: Probability | None = None
    music_hold_s: HoldTime | None = None
    no_music_hold_s: HoldTime | None = None


class Settings(Schema, frozen=True, forbid_unknown_fields=True):
    device_id: Annotated[DeviceId, Meta(description="None: the host name")] | None = None
    model: Annotated[FilePath, Meta(description="a shipped model's name or a .tflite; None: the default model")] | None = None
    hop_s: Annotated[float, Meta(gt=0, le=60, description="None: the model's default (~1 s)")] | None = None
    log_level: Annotated[Literal["debug", "info", "warning", "error"], Meta(description="any case")] = "info"
    audio: AudioSettings = AudioSettings()
    mqtt: MqttSettings = MqttSettings()
    smoothing: SmoothingSettings = SmoothingSettings()
