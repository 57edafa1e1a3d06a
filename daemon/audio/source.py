"""What the daemon asks of an audio source (`AudioSource`) and what a source reports
about itself (`CaptureStatus`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from genred.dsp.errors import AudioError, one_line

STATES = ("starting", "running", "lost", "retrying", "stopped", "ended")


@dataclass(frozen=True)
class CaptureStatus:
    device: str  # a readable name: the device's, or "file:<path>"
    state: str  # one of STATES
    sample_rate_hz: int | None
    channels: int | None
    overruns: int  # PortAudio input overflows plus ring-buffer-full events
    dropped_frames: int  # frames lost to a full ring buffer
    reopen_count: int  # successful opens after a failed attempt or a lost device
    last_error: str | None
    seconds_since_audio: float | None  # None before any audio arrived


@runtime_checkable
class AudioSource(Protocol):
    """A source of float32 (frames, channels) blocks, read by one worker thread.

    `start` returns at once (a missing device is a state, not an exception); `read`
    waits at most ``timeout_s`` and gives None when nothing came; `eof` is True once a
    source that ends (a file) has given its last block; `waiting_for_device` is True
    while a missing device is being retried (the daemon then feeds the watchdog).
    """

    @property
    def sample_rate_hz(self) -> int | None: ...  # None until a device has opened

    @property
    def channels(self) -> int | None: ...

    @property
    def eof(self) -> bool: ...

    @property
    def waiting_for_device(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 1.0) -> None: ...

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None: ...

    def status(self) -> CaptureStatus: ...


def describe_error(exc: BaseException) -> str:
    """One line for a source's error: an AudioError already says what and where."""
    return str(exc) if isinstance(exc, AudioError) else f"{type(exc).__name__}: {one_line(exc)}"


def block_frames(block_s: float, sample_rate_hz: int) -> int:
    """Frames in one block of ``block_s`` (the callback's, the file reader's, the worker's read)."""
    return max(1, int(block_s * sample_rate_hz))


def buffer_frames(buffer_s: float, sample_rate_hz: int, block: int) -> int:
    """A ring buffer of ``buffer_s``, but never under four blocks."""
    return max(int(buffer_s * sample_rate_hz), 4 * block)
