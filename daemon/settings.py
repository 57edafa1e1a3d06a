"""Typed settings of the daemon. Every field has a default; `genred.daemon.config`
loads YAML into these and validates it.

The minimum a user writes: ``device_id``, ``audio: {source}``, ``mqtt: {host, port}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class AudioSettings:
    # "default", a device index ("2" or 2), a name substring ("USB"; USB microphones
    # renumber across reboots), or "file:PATH" to read a file paced in real time.
    source: str = "default"
    sample_rate_hz: int | None = None  # None: the device's default rate
    channels: int | None = None  # None: min(2, the device's input channels)
    block_s: float = 0.1  # callback block length
    buffer_s: float = 30.0  # ring buffer length; a full buffer is an overrun, counted
    loop: bool = False  # file sources: start again at the end
    no_audio_timeout_s: float = 10.0  # no audio this long is a fault: reopen the device
    retry_min_s: float = 1.0  # back-off between attempts to (re)open the device
    retry_max_s: float = 30.0


@dataclass(frozen=True)
class TlsSettings:
    enabled: bool = False
    ca_file: str | None = None  # None: the system's CA store
    cert_file: str | None = None  # client certificate, with key_file
    key_file: str | None = None
    insecure: bool = False  # skip host name verification (self-signed test brokers only)


@dataclass(frozen=True)
class MqttSettings:
    enabled: bool = True
    host: str = "localhost"
    port: int = 1883
    topic_prefix: str = "genred"
    client_id: str | None = None  # None: "genred-<device_id>"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # prefer password_file
    # Read at start; a relative name is looked up in $CREDENTIALS_DIRECTORY first
    # (systemd LoadCredential=), so the secret never sits in the config file.
    password_file: str | None = None
    tls: TlsSettings = TlsSettings()
    keepalive_s: int = 60
    qos: int = 1  # for state, status and events
    retain: bool = True
    state_interval_s: float = 60.0  # state is republished at least this often
    status_interval_s: float = 30.0
    publish_probabilities: bool = False  # every window, QoS 0
    discovery: bool = True  # Home Assistant MQTT discovery
    discovery_prefix: str = "homeassistant"
    event_queue_size: int = 1000  # events kept while the broker is away; the oldest dropped, counted
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0


@dataclass(frozen=True)
class SmoothingSettings:
    """Overrides of the model's measured smoothing defaults; None keeps the model's."""

    tau_s: float | None = None
    switch_margin: float | None = None
    switch_hold_s: float | None = None
    confidence_floor: float | None = None
    silence_db: float | None = None
    music_tau_s: float | None = None
    music_on: float | None = None
    music_off: float | None = None
    music_hold_s: float | None = None
    no_music_hold_s: float | None = None


@dataclass(frozen=True)
class Settings:
    device_id: str | None = None  # None: the host name
    model: str | None = None  # None: the shipped default model
    hop_s: float | None = None  # None: the model's default (~1 s)
    log_level: str = "info"
    audio: AudioSettings = AudioSettings()
    mqtt: MqttSettings = MqttSettings()
    smoothing: SmoothingSettings = SmoothingSettings()
