"""A sound card through PortAudio (`DeviceSource`), supervised: a thread (re)opens the
device with the daemon's back-off, so an unplugged USB microphone, or one that is not
there yet at boot, is a state the daemon reports and recovers from, not a crash.

Only this module knows PortAudio's callback thread. The callback copies each block
into a preallocated `RingBuffer` and returns; the worker thread reads from the other
end.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from genred.dsp.errors import one_line

from ..backoff import Backoff
from ..quiet import c_library_stderr_to_debug
from ..settings import AudioSettings
from .devices import QueryDevices, default_query_devices, plan_stream, refresh_portaudio, select_device, sounddevice_module
from .outage import OutageLog
from .ring import RingBuffer
from .source import CaptureStatus, describe_error

_LOG = logging.getLogger(__name__)

_WATCH_POLL_MAX_S = 0.25  # how quickly the supervisor notices a dead stream
_ATTEMPT_HANG_S = 30.0  # an open attempt this long is stuck in PortAudio, not waiting


class DeviceSource:
    """A sound card through PortAudio, reopened with back-off when it fails.

    ``stream_factory`` takes `sounddevice.InputStream`'s keyword arguments and returns
    an object with ``start()``, ``close()`` and optionally ``active``;
    ``query_devices`` has `sounddevice.query_devices`'s signature. Both exist so tests
    can run without hardware.
    """

    def __init__(
        self,
        audio: AudioSettings,
        stream_factory: Callable[..., Any] | None = None,
        query_devices: QueryDevices | None = None,
    ) -> None:
        self._audio = audio
        self._backoff = Backoff(audio.retry_min_s, audio.retry_max_s)
        self._real_portaudio = stream_factory is None and query_devices is None
        self._factory = stream_factory or (lambda **kw: sounddevice_module().InputStream(**kw))
        self._query_devices = query_devices or default_query_devices
        self._lock = threading.Lock()  # guards the fields status() reads together
        self._stopping = threading.Event()
        self._opened = threading.Event()  # set once a ring buffer exists
        self._supervisor: threading.Thread | None = None
        self._stream: Any = None
        self._ring: RingBuffer | None = None
        self._gen = 0  # callbacks of a closed stream see a stale number and do nothing
        self._fault: str | None = None
        self._state = "starting"
        self._device_name = str(audio.source)
        self._rate: int | None = None
        self._channels: int | None = None
        self._overflow_flags = 0
        self._ring_overruns_before = 0  # from ring buffers replaced at a reopen
        self._ring_dropped_before = 0
        self._reopen_count = 0
        self._last_error: str | None = None
        self._last_audio: float | None = None  # time.monotonic() of the last callback
        self._attempt_since: float | None = None  # monotonic start of the open attempt in progress

    # -- the AudioSource API -----------------------------------------------------------

    @property
    def sample_rate_hz(self) -> int | None:
        return self._rate

    @property
    def channels(self) -> int | None:
        return self._channels

    @property
    def eof(self) -> bool:
        return False  # a device never ends; it is lost and reopened

    @property
    def waiting_for_device(self) -> bool:
        """True while the device is missing and the supervisor waits to try again.

        Not while the device counts as open but gives nothing, nor while one open
        attempt hangs: those are what a service watchdog is for.
        """
        with self._lock:
            state, since = self._state, self._attempt_since
        return state == "retrying" and (since is None or time.monotonic() - since < _ATTEMPT_HANG_S)

    def start(self) -> None:
        """Open the device in the background; never raises for a missing device."""
        if self._supervisor is not None:
            return
        self._supervisor = threading.Thread(target=self._supervise, name="genred-capture", daemon=True)
        self._supervisor.start()

    def stop(self, timeout_s: float = 1.0) -> None:
        self._stopping.set()
        ring = self._ring
        if ring is not None:
            ring.finish()  # wake a waiting reader
        if self._supervisor is not None:
            self._supervisor.join(timeout=timeout_s)
            if self._supervisor.is_alive():
                _LOG.warning("the audio device did not close within %.1f s; leaving it", timeout_s)
        with self._lock:
            self._state = "stopped"

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        """``n`` frames as (n, channels) float32, or None if none came within ``timeout_s``."""
        ring = self._ring
        if ring is None:
            self._opened.wait(timeout_s)
            return None  # the caller asks again, with the rate it now knows
        return ring.read(min(n, ring.capacity_frames), timeout_s)

    def status(self) -> CaptureStatus:
        with self._lock:
            ring = self._ring
            last = self._last_audio
            return CaptureStatus(
                device=self._device_name,
                state=self._state,
                sample_rate_hz=self._rate,
                channels=self._channels,
                overruns=self._overflow_flags + self._ring_overruns_before + (ring.overruns if ring else 0),
                dropped_frames=self._ring_dropped_before + (ring.dropped_frames if ring else 0),
                reopen_count=self._reopen_count,
                last_error=self._last_error,
                seconds_since_audio=None if last is None else max(0.0, time.monotonic() - last),
            )

    # -- the supervisor thread -------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = self._backoff
        outage = OutageLog(str(self._audio.source), backoff)
        delay = backoff.min_s
        attempts = 0
        try:
            while not self._stopping.is_set():
                attempts += 1
                if self._try_open(reopening=attempts > 1, outage=outage):
                    opened_at = time.monotonic()
                    outage.opened(self._device_name, opened_at)
                    reason = self._watch(opened_at)
                    with c_library_stderr_to_debug(f"audio input {self._device_name}", _LOG):
                        self._close_stream()
                    if reason is None:  # stopping
                        break
                    lost_at = time.monotonic()
                    with self._lock:
                        self._state = "lost"
                        self._last_error = reason
                    outage.lost(self._device_name, reason, lost_at)
                    if lost_at - opened_at >= backoff.max_s:
                        delay = backoff.min_s  # it had been healthy: this is a new outage
                if self._stopping.wait(delay):
                    break
                delay = backoff.after(delay)
        finally:
            self._close_stream()
            with self._lock:
                self._state = "stopped"

    def _try_open(self, reopening: bool, outage: OutageLog) -> bool:
        with self._lock:
            self._attempt_since = time.monotonic()
        try:
            with c_library_stderr_to_debug(f"audio input {self._audio.source}", _LOG):
                if reopening and self._real_portaudio:
                    refresh_portaudio()
                self._open()
        except Exception as exc:  # a missing device is a state, not a crash
            message = describe_error(exc)
            with self._lock:
                self._attempt_since = None
                self._state = "retrying"
                self._last_error = message
            outage.open_failed(exc, message)
            return False
        with self._lock:
            self._attempt_since = None
            if reopening:
                self._reopen_count += 1
        return True

    def _open(self) -> None:
        plan = plan_stream(self._audio, select_device(self._audio.source, self._query_devices))
        ring = self._ring
        if ring is None or ring.capacity_frames != plan.capacity_frames or ring.channels != plan.channels:
            ring = RingBuffer(plan.capacity_frames, plan.channels)
        else:
            ring.clear()  # audio from before the outage does not join on to the new audio

        with self._lock:
            self._gen += 1
            gen = self._gen
            self._fault = None
        stream = self._factory(
            device=plan.device.index, channels=plan.channels, samplerate=plan.sample_rate_hz,
            blocksize=plan.block_frames, dtype="float32",
            callback=self._make_callback(gen, ring), finished_callback=self._make_finished(gen),
        )
        try:
            stream.start()
        except BaseException:
            _close(stream)
            raise
        with self._lock:
            old = self._ring
            if old is not None and old is not ring:
                # Another rate or channel count: keep the old buffer's counts in the totals.
                self._ring_overruns_before += old.overruns
                self._ring_dropped_before += old.dropped_frames
            self._stream = stream
            self._ring = ring
            self._rate = plan.sample_rate_hz
            self._channels = plan.channels
            self._device_name = plan.device.label
            self._state = "running"
            self._last_error = None  # what went wrong before is in the log, not a current fault
        self._opened.set()

    def _make_callback(self, gen: int, ring: RingBuffer) -> Callable[..., None]:
        # Runs on PortAudio's thread: copy, count, return. No logging, no locks
        # beyond the ring's, no allocation beyond the copy.
        def callback(indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
            if gen != self._gen:
                return
            if status and getattr(status, "input_overflow", False):
                self._overflow_flags += 1
            ring.write(indata)
            self._last_audio = time.monotonic()

        return callback

    def _make_finished(self, gen: int) -> Callable[[], None]:
        # PortAudio ends a stream on its own only on an error (a device unplugged).
        def finished() -> None:
            if gen == self._gen and not self._stopping.is_set():
                self._fault = "the audio stream ended (PortAudio error or device removed)"

        return finished

    def _watch(self, opened_at: float) -> str | None:
        """Wait while the stream is healthy; the reason it is not, or None when stopping."""
        timeout = self._audio.no_audio_timeout_s
        poll = max(0.01, min(_WATCH_POLL_MAX_S, timeout / 4))
        while not self._stopping.wait(poll):
            if self._fault is not None:
                return self._fault
            try:
                active = bool(getattr(self._stream, "active", True))
            except Exception:  # a dead stream may fail even to answer
                active = False
            if not active:
                return "the audio stream stopped (PortAudio error or device removed)"
            last = self._last_audio
            since = time.monotonic() - (opened_at if last is None or last < opened_at else last)
            if since > timeout:
                return f"no audio for {since:.1f} s (audio.no_audio_timeout_s is {timeout:g})"
        return None

    def _close_stream(self) -> None:
        with self._lock:
            stream, self._stream = self._stream, None
            self._gen += 1  # late callbacks of this stream now do nothing
        if stream is not None:
            _close(stream)


def _close(stream: Any) -> None:
    try:
        stream.close()
    except Exception as exc:  # a lost device often fails to close too
        _LOG.debug("closing the audio stream failed: %s", one_line(exc))
