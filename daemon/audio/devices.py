"""The sound cards PortAudio sees: listing them (`genred devices`), choosing the one
audio.source names, how the audio.* settings open it, and re-initialising PortAudio
so that a device plugged in later is seen.

sounddevice is imported lazily: this module imports on a machine without PortAudio.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from genred.dsp.errors import AudioError, one_line

from ..settings import AudioSettings
from .source import block_frames, buffer_frames

_LOG = logging.getLogger(__name__)

# `sounddevice.query_devices`'s signature: (device=None, kind=None) -> a device's dict,
# or all of them. Tests pass a fake.
QueryDevices = Callable[..., Any]


@dataclass(frozen=True)
class Device:
    """An input device, as PortAudio describes it."""

    index: int
    name: str
    max_input_channels: int
    default_sample_rate_hz: float
    is_default: bool  # what audio.source "default" opens

    @property
    def label(self) -> str:
        """How the daemon names it in its status and log lines."""
        return f"{self.name} (#{self.index})"


@dataclass(frozen=True)
class StreamPlan:
    """How a device is opened: audio.* settings applied to what the device offers."""

    device: Device
    sample_rate_hz: int
    channels: int
    block_frames: int
    capacity_frames: int  # of the ring buffer


def plan_stream(audio: AudioSettings, device: Device) -> StreamPlan:
    rate = int(audio.sample_rate_hz or round(device.default_sample_rate_hz))
    channels = int(audio.channels or min(2, device.max_input_channels))
    if channels > device.max_input_channels:
        raise AudioError(
            f"audio device {device.index} {device.name!r} has {device.max_input_channels} input channel(s); "
            f"audio.channels asks for {channels}"
        )
    block = block_frames(audio.block_s, rate)
    return StreamPlan(device, rate, channels, block, buffer_frames(audio.buffer_s, rate, block))


def sounddevice_module() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise AudioError(f"no audio system: {one_line(exc)}; install libportaudio2 (apt-get install libportaudio2)") from None
    return sounddevice


def default_query_devices(device: Any = None, kind: str | None = None) -> Any:
    return sounddevice_module().query_devices(device, kind)


def _query(query_devices: QueryDevices) -> tuple[list[dict[str, Any]], int | None]:
    """All devices (each with its "index") and the default input's index, if any."""
    try:
        raw = list(query_devices())
    except AudioError:
        raise
    except Exception as exc:  # sounddevice.PortAudioError, or OSError without the library
        raise AudioError(f"no audio system: {one_line(exc)}; install libportaudio2 (apt-get install libportaudio2)") from None
    devices = []
    for i, d in enumerate(raw):
        d = dict(d)
        d.setdefault("index", i)
        devices.append(d)
    try:
        # PortAudio raises when there is no default input; that is an answer, not a failure.
        default = query_devices(kind="input")
        default_index = int(default["index"]) if default is not None and "index" in default else None
    except Exception:
        default_index = None
    return devices, default_index


def list_devices(query_devices: QueryDevices | None = None) -> list[Device]:
    """The input devices, in PortAudio's order.

    A missing or broken PortAudio raises AudioError (one line naming the fix).
    """
    devices, default_index = _query(query_devices or default_query_devices)
    return [
        Device(
            index=int(d["index"]),
            name=str(d["name"]),
            max_input_channels=int(d["max_input_channels"]),
            default_sample_rate_hz=float(d["default_samplerate"]),
            is_default=int(d["index"]) == default_index,
        )
        for d in devices
        if int(d.get("max_input_channels", 0)) > 0
    ]


def format_devices(devices: list[Device]) -> str:
    """A table for `genred devices`; the `*` row is what audio.source "default" opens."""
    if not devices:
        return "no input devices found"
    rows = [("index", "default", "channels", "rate (Hz)", "name")]
    for d in devices:
        rows.append((
            str(d.index), "*" if d.is_default else "", str(d.max_input_channels),
            f"{d.default_sample_rate_hz:.0f}", d.name,
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join([r[0].rjust(widths[0]), r[1].center(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]).rstrip()
        for r in rows
    ]
    lines.append('audio.source: "default", an index, or part of a name (names survive USB renumbering)')
    return "\n".join(lines)


def _names(inputs: list[Device]) -> str:
    if not inputs:
        return "no input devices found"
    return "inputs: " + ", ".join(f"{d.index} {d.name!r}" for d in inputs)


def select_device(source: str | int, query_devices: QueryDevices | None = None) -> Device:
    """The input device that audio.source names.

    "default": the system's default input; digits: that index; anything else: the
    first input whose name contains it, ignoring case. AudioError otherwise, naming
    what was asked and the inputs there are.
    """
    inputs = list_devices(query_devices)
    wanted = str(source).strip()
    if wanted.lower() == "default":
        for d in inputs:
            if d.is_default:
                return d
        raise AudioError(f"audio device 'default': there is no default input device; {_names(inputs)}")
    if wanted.isdigit():
        for d in inputs:
            if d.index == int(wanted):
                return d
        raise AudioError(f"audio device {wanted}: no input device has that index; {_names(inputs)}")
    for d in inputs:
        if wanted.lower() in d.name.lower():
            return d
    raise AudioError(f"audio device {wanted!r}: no input device name contains it; {_names(inputs)}")


def refresh_portaudio() -> None:
    """Re-initialise PortAudio; only ever with no stream open."""
    # PortAudio enumerates devices once, at initialisation: a microphone plugged in
    # later is invisible until it is re-initialised. sounddevice has no public call
    # for that; its private pair is the known way.
    try:
        sd = sounddevice_module()
        sd._terminate()
        sd._initialize()
    except Exception as exc:  # the open attempt that follows reports it
        _LOG.debug("re-initialising PortAudio failed: %s", one_line(exc))
