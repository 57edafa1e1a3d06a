"""A PortAudio stand-in for the daemon's DeviceSource: streams that call back in real
time with music-like noise, and faults switched on from a test (no device, overflow
flags, a stalled callback)."""

from __future__ import annotations

import threading
import time

import numpy as np

from signals import music_like


class Flags:
    def __init__(self, input_overflow: bool) -> None:
        self.input_overflow = input_overflow

    def __bool__(self) -> bool:
        return self.input_overflow


class FakeAudio:
    """A PortAudio stand-in: streams that call back in real time with noise-like music;
    faults are switched on from the test (no device, overflow flags, a stalled callback)."""

    def __init__(self) -> None:
        self.available = True
        self.stalled = False  # the streams' callbacks stop coming (the device hangs)
        self.overflow_blocks = 0  # the next N blocks carry status.input_overflow
        self.opened_at: list[float] = []  # monotonic time of each successful open
        self.failed_opens = 0
        self.failed_at: list[float] = []  # monotonic time of each failed open
        self.streams: list[FakeStream] = []
        self._music = music_like(2.0, 16000, seed=9)

    def query(self, device=None, kind=None):
        dev = {"name": "Fake USB Mic", "index": 0, "max_input_channels": 1, "default_samplerate": 16000.0}
        return dev if kind == "input" or device is not None else [dev]

    def factory(self, **kw):
        if not self.available:
            self.failed_opens += 1
            self.failed_at.append(time.monotonic())
            raise RuntimeError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")
        stream = FakeStream(self, **kw)
        self.streams.append(stream)
        return stream


class FakeStream:
    def __init__(self, fake, *, device, channels, samplerate, blocksize, dtype, callback, finished_callback=None):
        self.fake, self.blocksize, self.samplerate, self.callback = fake, blocksize, samplerate, callback
        self.active = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-stream", daemon=True)

    def start(self):
        self.active = True
        self.fake.opened_at.append(time.monotonic())
        self._thread.start()

    def _run(self):
        period = self.blocksize / self.samplerate
        due = time.monotonic()
        pos = 0
        music = self.fake._music
        while not self._stop.is_set():
            due += period
            self._stop.wait(max(0.0, due - time.monotonic()))
            if self._stop.is_set() or self.fake.stalled:
                continue
            idx = (pos + np.arange(self.blocksize)) % music.size
            pos += self.blocksize
            overflow = self.fake.overflow_blocks > 0
            self.fake.overflow_blocks -= overflow
            self.callback(music[idx].reshape(-1, 1), self.blocksize, None, Flags(overflow))

    def close(self):
        self._stop.set()
        self._thread.join(timeout=1)
        self.active = False
