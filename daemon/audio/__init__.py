"""Audio sources for the daemon: a sound card (`DeviceSource`) or a file
(`FileSource`), both an `AudioSource`: `start`, `read`, `status`, `stop`,
`sample_rate_hz`, `channels`, `eof`, `waiting_for_device`.

source.py         the `AudioSource` Protocol and `CaptureStatus`
ring.py           the ring buffer between a producer thread and the worker
devices.py        the input devices (`Device`), choosing one, re-initialising PortAudio
device_source.py  the supervised sound card (outage.py: what it logs of an outage)
file_source.py    a file, paced in real time (pacing.py) or as fast as it is read

A new kind of source is one module here that satisfies `AudioSource`, and a branch
in `open_source`. sounddevice is imported lazily: this package imports, and file
sources work, on a machine without PortAudio.
"""

from __future__ import annotations

from ..settings import AudioSettings
from .device_source import DeviceSource
from .devices import Device, format_devices, list_devices, select_device
from .file_source import FILE_PREFIX, FileSource
from .ring import RingBuffer
from .source import STATES, AudioSource, CaptureStatus

__all__ = [
    "FILE_PREFIX", "STATES", "AudioSource", "CaptureStatus", "Device", "DeviceSource", "FileSource", "RingBuffer",
    "format_devices", "list_devices", "open_source", "select_device",
]


def open_source(audio: AudioSettings) -> AudioSource:
    """The source audio.source names: "file:PATH", or a device (not started yet)."""
    source = str(audio.source)
    if source.startswith(FILE_PREFIX):
        return FileSource(
            source[len(FILE_PREFIX):], loop=audio.loop, realtime=True, block_s=audio.block_s, buffer_s=audio.buffer_s
        )
    return DeviceSource(audio)
