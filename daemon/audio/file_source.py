"""A file delivered like a microphone (`FileSource`): `genred run --source file:PATH`,
and `genred replay` / `evaluate`, whose files take the live path from capture on."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from genred.dsp.audio import AudioInfo, audio_info, iter_blocks

from .pacing import Pacer
from .ring import RingBuffer
from .source import CaptureStatus, block_frames, buffer_frames, describe_error

_LOG = logging.getLogger(__name__)

FILE_PREFIX = "file:"


class FileSource:
    """A file paced at real time by a thread (``speed`` times faster if asked), or
    (with ``realtime=False``) as fast as it is read, for replay, tests and batch work.

    The constructor checks the file (AudioError, one line, for a bad one). With
    ``loop`` it starts again at the end; otherwise `eof` turns True once the
    last audio has been read, and `read` returns the last, possibly short, block
    before that. A file that fails to decode part way ends the source: `status()`
    then carries the error in ``last_error``, and the reader decides what it means
    (a failed run, a skipped track), so that it is said once.
    """

    def __init__(
        self,
        path: str | Path,
        loop: bool = False,
        realtime: bool = True,
        block_s: float = 0.1,
        buffer_s: float = 30.0,
        speed: float = 1.0,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"file source speed must be > 0, got {speed:g}")
        self.path = Path(path)
        self.info: AudioInfo = audio_info(self.path)
        self.loop = loop
        self.realtime = realtime
        self.speed = speed
        self.block_frames = block_frames(block_s, self.info.sample_rate_hz)
        # Realtime: room for the consumer to fall behind, as with a device. Else the
        # producer waits for space, so a few blocks are enough.
        capacity = (
            buffer_frames(buffer_s, self.info.sample_rate_hz, self.block_frames) if realtime else 8 * self.block_frames
        )
        self._ring = RingBuffer(capacity, self.info.channels)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = "starting"
        self._last_error: str | None = None
        self._last_audio: float | None = None

    @property
    def sample_rate_hz(self) -> int:
        return self.info.sample_rate_hz

    @property
    def channels(self) -> int:
        return self.info.channels

    @property
    def eof(self) -> bool:
        return self._ring.finished and self._ring.available == 0

    @property
    def waiting_for_device(self) -> bool:
        return False  # a file is there or it is an error

    def start(self) -> None:
        if self._thread is not None:
            return
        self._state = "running"
        self._thread = threading.Thread(target=self._produce, name="genred-file", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopping.set()
        self._ring.finish()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            if self._thread.is_alive():
                _LOG.warning("the file reader did not stop within %.1f s; leaving it", timeout_s)
        with self._lock:
            self._state = "stopped"

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        ring = self._ring
        block = ring.read(min(n, ring.capacity_frames), timeout_s)
        if block is None and ring.finished:
            rest = ring.read_available(n)
            return rest if rest.shape[0] else None
        return block

    def status(self) -> CaptureStatus:
        with self._lock:
            state = self._state
            last_error = self._last_error
        if state == "running" and self.eof:
            state = "ended"
        last = self._last_audio
        return CaptureStatus(
            device=f"{FILE_PREFIX}{self.path}",
            state=state,
            sample_rate_hz=self.sample_rate_hz,
            channels=self.channels,
            overruns=self._ring.overruns,
            dropped_frames=self._ring.dropped_frames,
            reopen_count=0,
            last_error=last_error,
            seconds_since_audio=None if last is None else max(0.0, time.monotonic() - last),
        )

    def _produce(self) -> None:
        pacer = Pacer(self.sample_rate_hz, self.speed)
        try:
            while not self._stopping.is_set():
                for block in iter_blocks(self.path, self.block_frames):
                    if self.realtime:
                        # Due when a microphone would have finished recording it.
                        if self._stopping.wait(pacer.wait_s(block.shape[0])):
                            return
                        self._ring.write(block)
                    elif self._ring.write_wait(block, self._stopping) < block.shape[0]:
                        return
                    self._last_audio = time.monotonic()
                if not self.loop:
                    return
        except Exception as exc:  # end the source; the reader sees eof and the error
            with self._lock:
                self._last_error = describe_error(exc)
        finally:
            self._ring.finish()
