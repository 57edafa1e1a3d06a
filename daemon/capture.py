"""Audio sources for the daemon: a sound card (`DeviceSource`) or a file paced in
real time (`FileSource`), both behind one small API (`start`, `stop`, `read`,
`sample_rate_hz`, `channels`, `eof`, `status`).

Only this module knows PortAudio's callback thread. The callback copies each block
into a preallocated `RingBuffer` and returns; the worker thread reads from the other
end. A supervisor thread per device source (re)opens the device with capped
exponential back-off, so an unplugged USB microphone or one that is not there yet at
boot is a state the daemon reports and recovers from, not a crash.

sounddevice is imported lazily: this module imports, and file sources work, on a
machine without PortAudio.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.audio import audio_info, iter_blocks
from genred.dsp.errors import AudioError, one_line

from .quiet import c_library_stderr_to_debug
from .settings import AudioSettings

_LOG = logging.getLogger(__name__)

FILE_PREFIX = "file:"
STATES = ("starting", "running", "lost", "retrying", "stopped", "ended")
_WATCH_POLL_MAX_S = 0.25  # how quickly the supervisor notices a dead stream
_ATTEMPT_HANG_S = 30.0  # an open attempt this long is stuck in PortAudio, not waiting
_NO_DEVICE_HINT = (
    "; `genred devices` lists the inputs (a microphone plugged in later is picked up);"
    " to classify a file instead: genred run --source file:PATH (make run FILE=PATH)"
)


# -- the ring buffer ---------------------------------------------------------------------


class RingBuffer:
    """A fixed float32 (frames, channels) FIFO for one producer and one consumer.

    `write` never blocks and never overwrites unread audio: what does not fit is
    dropped and counted (an overrun), because the audio callback must return at once
    and the newest audio is the cheapest to lose (the old one is already queued).
    `write_wait` is the blocking variant for producers that may wait (a file read as
    fast as it is consumed). `finish` marks the end of the stream: readers stop
    waiting for audio that will never come.
    """

    def __init__(self, capacity_frames: int, channels: int) -> None:
        if capacity_frames < 1 or channels < 1:
            raise ValueError(f"ring buffer needs capacity >= 1 and channels >= 1, got {capacity_frames}, {channels}")
        self._buf = np.zeros((int(capacity_frames), int(channels)), dtype=np.float32)
        self._cond = threading.Condition(threading.Lock())
        # Running totals rather than wrapped indices: their difference is the fill
        # level, with no full/empty ambiguity. Python ints do not overflow.
        self._w = 0
        self._r = 0
        self._dropped = 0
        self._overruns = 0
        self._finished = False

    @property
    def capacity_frames(self) -> int:
        return self._buf.shape[0]

    @property
    def channels(self) -> int:
        return self._buf.shape[1]

    @property
    def available(self) -> int:
        with self._cond:
            return self._w - self._r

    @property
    def written_frames(self) -> int:
        return self._w

    @property
    def read_frames(self) -> int:
        return self._r

    @property
    def dropped_frames(self) -> int:
        return self._dropped

    @property
    def overruns(self) -> int:
        """Writes that did not fit whole (each dropped at least one frame)."""
        return self._overruns

    @property
    def finished(self) -> bool:
        return self._finished

    def _as_frames(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block)
        if block.ndim == 1 and self.channels == 1:
            block = block.reshape(-1, 1)  # a view, not a copy
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"ring buffer holds (frames, {self.channels}) blocks, got shape {block.shape}")
        return block

    def _put(self, block: np.ndarray, n: int) -> None:
        # Caller holds the lock and has checked that n frames fit.
        cap = self._buf.shape[0]
        start = self._w % cap
        first = min(n, cap - start)
        self._buf[start:start + first] = block[:first]
        if n > first:
            self._buf[:n - first] = block[first:n]
        self._w += n

    def write(self, block: np.ndarray) -> int:
        """Append what fits of ``block``; returns the frames written, the rest is dropped."""
        block = self._as_frames(block)
        n = block.shape[0]
        with self._cond:
            free = self._buf.shape[0] - (self._w - self._r)
            taken = min(n, free)
            if taken:
                self._put(block, taken)
                self._cond.notify_all()
            if taken < n:
                self._dropped += n - taken
                self._overruns += 1
        return taken

    def write_wait(self, block: np.ndarray, stop: threading.Event | None = None, timeout_s: float | None = None) -> int:
        """Append all of ``block``, waiting for space as needed; returns the frames written.

        Returns early (fewer frames) when ``stop`` is set, the buffer is finished, or
        ``timeout_s`` passes; nothing is dropped or counted as an overrun.
        """
        block = self._as_frames(block)
        n = block.shape[0]
        done = 0
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while done < n:
                if self._finished or (stop is not None and stop.is_set()):
                    break
                free = self._buf.shape[0] - (self._w - self._r)
                if free > 0:
                    taken = min(n - done, free)
                    self._put(block[done:], taken)
                    done += taken
                    self._cond.notify_all()
                    continue
                # A stop event cannot notify our condition: look up now and then.
                wait = 0.05 if stop is not None else None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
        return done

    def _take(self, n: int) -> np.ndarray:
        cap = self._buf.shape[0]
        start = self._r % cap
        first = min(n, cap - start)
        out = np.empty((n, self._buf.shape[1]), dtype=np.float32)
        out[:first] = self._buf[start:start + first]
        if n > first:
            out[first:] = self._buf[:n - first]
        self._r += n
        self._cond.notify_all()  # a waiting writer has space now
        return out

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        """Exactly ``n`` frames (a copy), or None if they are not there within ``timeout_s``.

        Also None at once when the buffer is finished with fewer than ``n`` frames
        left; `read_available` takes that tail.
        """
        if not 1 <= n <= self._buf.shape[0]:
            raise ValueError(f"read size must be in 1..{self._buf.shape[0]} frames, got {n}")
        with self._cond:
            ok = self._cond.wait_for(lambda: self._w - self._r >= n or self._finished, timeout_s)
            if not ok or self._w - self._r < n:
                return None
            return self._take(n)

    def read_available(self, max_n: int | None = None) -> np.ndarray:
        """Up to ``max_n`` frames that are there now, without waiting (possibly none)."""
        with self._cond:
            n = self._w - self._r
            if max_n is not None:
                n = min(n, max(0, max_n))
            return self._take(n)

    def clear(self) -> None:
        """Discard unread audio (after a device reopen it no longer joins on)."""
        with self._cond:
            self._r = self._w
            self._cond.notify_all()

    def finish(self) -> None:
        """No more audio will come: wake readers (and waiting writers) now."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()


# -- status --------------------------------------------------------------------------------


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


# -- devices -------------------------------------------------------------------------------


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise AudioError(f"no audio system: {one_line(exc)}; install libportaudio2 (apt-get install libportaudio2)") from None
    return sounddevice


def _default_query_devices(device: Any = None, kind: str | None = None) -> Any:
    return _sounddevice().query_devices(device, kind)


def _query(query_devices: Callable[..., Any]) -> tuple[list[dict[str, Any]], int | None]:
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
    except Exception:  # noqa: BLE001
        default_index = None
    return devices, default_index


def list_devices(query_devices: Callable[..., Any] | None = None) -> list[dict[str, Any]]:
    """Input devices: index, name, max_input_channels, default_samplerate, is_default.

    A missing or broken PortAudio raises AudioError (one line naming the fix).
    ``query_devices`` has `sounddevice.query_devices`'s signature (tests pass a fake).
    """
    devices, default_index = _query(query_devices or _default_query_devices)
    return [
        {
            "index": int(d["index"]),
            "name": str(d["name"]),
            "max_input_channels": int(d["max_input_channels"]),
            "default_samplerate": float(d["default_samplerate"]),
            "is_default": int(d["index"]) == default_index,
        }
        for d in devices
        if int(d.get("max_input_channels", 0)) > 0
    ]


def format_devices(devices: list[dict[str, Any]]) -> str:
    """A table for `genred devices`; the `*` row is what audio.source "default" opens."""
    if not devices:
        return "no input devices found"
    rows = [("index", "default", "channels", "rate (Hz)", "name")]
    for d in devices:
        rows.append((
            str(d["index"]), "*" if d.get("is_default") else "", str(d["max_input_channels"]),
            f"{d['default_samplerate']:.0f}", str(d["name"]),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join([r[0].rjust(widths[0]), r[1].center(widths[1]), r[2].rjust(widths[2]), r[3].rjust(widths[3]), r[4]]).rstrip()
        for r in rows
    ]
    lines.append('audio.source: "default", an index, or part of a name (names survive USB renumbering)')
    return "\n".join(lines)


def _names(inputs: list[dict[str, Any]]) -> str:
    if not inputs:
        return "no input devices found"
    return "inputs: " + ", ".join(f"{d['index']} {d['name']!r}" for d in inputs)


def select_device(source: str | int, query_devices: Callable[..., Any] | None = None) -> dict[str, Any]:
    """The input device that audio.source names (a `list_devices` entry).

    "default": the system's default input; digits: that index; anything else: the
    first input whose name contains it, ignoring case. AudioError otherwise, naming
    what was asked and the inputs there are.
    """
    inputs = list_devices(query_devices)
    wanted = str(source).strip()
    if wanted.lower() == "default":
        for d in inputs:
            if d["is_default"]:
                return d
        raise AudioError(f"audio device 'default': there is no default input device; {_names(inputs)}")
    if wanted.isdigit():
        for d in inputs:
            if d["index"] == int(wanted):
                return d
        raise AudioError(f"audio device {wanted}: no input device has that index; {_names(inputs)}")
    for d in inputs:
        if wanted.lower() in d["name"].lower():
            return d
    raise AudioError(f"audio device {wanted!r}: no input device name contains it; {_names(inputs)}")


def _refresh_portaudio() -> None:
    # PortAudio enumerates devices once, at initialisation: a microphone plugged in
    # later is invisible until it is re-initialised. sounddevice has no public call
    # for that; its private pair is the known way. Only ever with no stream open.
    try:
        sd = _sounddevice()
        sd._terminate()
        sd._initialize()
    except Exception as exc:  # noqa: BLE001 - the open attempt that follows reports it
        _LOG.debug("re-initialising PortAudio failed: %s", one_line(exc))


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, AudioError) else f"{type(exc).__name__}: {one_line(exc)}"


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
        query_devices: Callable[..., Any] | None = None,
    ) -> None:
        self._audio = audio
        self._real_portaudio = stream_factory is None and query_devices is None
        self._factory = stream_factory or (lambda **kw: _sounddevice().InputStream(**kw))
        self._query_devices = query_devices or _default_query_devices
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

    # -- the public API --------------------------------------------------------------------

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

    def _set(self, **fields: Any) -> None:
        with self._lock:
            for key, value in fields.items():
                setattr(self, "_" + key, value)

    def _supervise(self) -> None:
        audio = self._audio
        delay = audio.retry_min_s
        attempts = 0
        outage_since: float | None = None  # set while there is no working stream
        try:
            while not self._stopping.is_set():
                attempts += 1
                self._set(attempt_since=time.monotonic())
                try:
                    with c_library_stderr_to_debug(f"audio input {audio.source}", _LOG):
                        if attempts > 1 and self._real_portaudio:
                            _refresh_portaudio()
                        self._open()
                except Exception as exc:  # noqa: BLE001 - a missing device is a state, not a crash
                    self._set(attempt_since=None)
                    message = _describe(exc)
                    self._set(state="retrying", last_error=message)
                    if outage_since is None:
                        outage_since = time.monotonic()
                        # An AudioError already names the device; PortAudio's do not.
                        named = message if isinstance(exc, AudioError) else f"audio input {audio.source}: {message}"
                        hint = _NO_DEVICE_HINT if isinstance(exc, AudioError) else ""
                        _LOG.warning("%s; retrying every %g..%g s%s", named, audio.retry_min_s, audio.retry_max_s, hint)
                    else:
                        _LOG.debug("audio input %s: still failing: %s", audio.source, message)
                    if self._stopping.wait(delay):
                        break
                    delay = min(delay * 2, audio.retry_max_s)
                    continue

                self._set(attempt_since=None)
                opened_at = time.monotonic()
                if attempts > 1:
                    with self._lock:
                        self._reopen_count += 1
                if outage_since is not None:
                    _LOG.info("audio input %s: open again after %.1f s", self._device_name, opened_at - outage_since)
                    outage_since = None
                reason = self._watch(opened_at)
                with c_library_stderr_to_debug(f"audio input {self._device_name}", _LOG):
                    self._close_stream()
                if reason is None:  # stopping
                    break
                outage_since = time.monotonic()
                self._set(state="lost", last_error=reason)
                _LOG.warning("audio input %s lost (%s); reopening", self._device_name, reason)
                if outage_since - opened_at >= audio.retry_max_s:
                    delay = audio.retry_min_s  # it had been healthy: this is a new outage
                if self._stopping.wait(delay):
                    break
                delay = min(delay * 2, audio.retry_max_s)
        finally:
            self._close_stream()
            self._set(state="stopped")

    def _open(self) -> None:
        audio = self._audio
        dev = select_device(audio.source, self._query_devices)
        rate = int(audio.sample_rate_hz or round(dev["default_samplerate"]))
        channels = int(audio.channels or min(2, dev["max_input_channels"]))
        if channels > dev["max_input_channels"]:
            raise AudioError(
                f"audio device {dev['index']} {dev['name']!r} has {dev['max_input_channels']} input channel(s); "
                f"audio.channels asks for {channels}"
            )
        blocksize = max(1, int(audio.block_s * rate))
        capacity = max(int(audio.buffer_s * rate), 4 * blocksize)

        ring = self._ring
        if ring is None or ring.capacity_frames != capacity or ring.channels != channels:
            ring = RingBuffer(capacity, channels)
        else:
            ring.clear()  # audio from before the outage does not join on to the new audio

        with self._lock:
            self._gen += 1
            gen = self._gen
            self._fault = None
        stream = self._factory(
            device=dev["index"], channels=channels, samplerate=rate, blocksize=blocksize, dtype="float32",
            callback=self._make_callback(gen, ring), finished_callback=self._make_finished(gen),
        )
        try:
            stream.start()
        except BaseException:
            self._close(stream)
            raise
        with self._lock:
            old = self._ring
            if old is not None and old is not ring:
                # Another rate or channel count: keep the old buffer's counts in the totals.
                self._ring_overruns_before += old.overruns
                self._ring_dropped_before += old.dropped_frames
            self._stream = stream
            self._ring = ring
            self._rate = rate
            self._channels = channels
            self._device_name = f"{dev['name']} (#{dev['index']})"
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
            stream = self._stream
            try:
                active = bool(getattr(stream, "active", True))
            except Exception:  # noqa: BLE001 - a dead stream may fail even to answer
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
            self._close(stream)

    @staticmethod
    def _close(stream: Any) -> None:
        try:
            stream.close()
        except Exception as exc:  # noqa: BLE001 - a lost device often fails to close too
            _LOG.debug("closing the audio stream failed: %s", one_line(exc))


# -- files ---------------------------------------------------------------------------------


class FileSource:
    """A file delivered like a microphone: paced at real time by a thread, or (with
    ``realtime=False``) as fast as it is read, for tests and batch work.

    The constructor checks the file (AudioError, one line, for a bad one). With
    ``loop`` it starts again at the end; otherwise `eof` turns True once the
    last audio has been read, and `read` returns the last, possibly short, block
    before that.
    """

    def __init__(
        self,
        path: str | Path,
        loop: bool = False,
        realtime: bool = True,
        block_s: float = 0.1,
        buffer_s: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self._info = audio_info(self.path)
        self.loop = loop
        self.realtime = realtime
        rate = self._info.sample_rate_hz
        self._block_frames = max(1, int(block_s * rate))
        # Realtime: room for the consumer to fall behind, as with a device. Else the
        # producer waits for space, so a few blocks are enough.
        capacity = max(int(buffer_s * rate), 4 * self._block_frames) if realtime else 8 * self._block_frames
        self._ring = RingBuffer(capacity, self._info.channels)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._state = "starting"
        self._last_error: str | None = None
        self._last_audio: float | None = None

    @property
    def sample_rate_hz(self) -> int:
        return self._info.sample_rate_hz

    @property
    def channels(self) -> int:
        return self._info.channels

    @property
    def eof(self) -> bool:
        return self._ring.finished and self._ring.available == 0

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
            last_error=self._last_error,
            seconds_since_audio=None if last is None else max(0.0, time.monotonic() - last),
        )

    def _produce(self) -> None:
        rate = self.sample_rate_hz
        started = time.monotonic()
        fed = 0
        try:
            while not self._stopping.is_set():
                for block in iter_blocks(self.path, self._block_frames):
                    if self.realtime:
                        # Due when a microphone would have finished recording it; from
                        # the start time and the frame count, so sleeps do not add up.
                        fed += block.shape[0]
                        if self._stopping.wait(max(0.0, started + fed / rate - time.monotonic())):
                            return
                        self._ring.write(block)
                    elif self._ring.write_wait(block, self._stopping) < block.shape[0]:
                        return
                    self._last_audio = time.monotonic()
                if not self.loop:
                    return
        except Exception as exc:  # noqa: BLE001 - end the source; the worker sees eof
            with self._lock:
                self._last_error = _describe(exc)
            _LOG.error("%s", self._last_error)
        finally:
            self._ring.finish()


def open_source(audio: AudioSettings) -> DeviceSource | FileSource:
    """The source audio.source names: "file:PATH", or a device (not started yet)."""
    source = str(audio.source)
    if source.startswith(FILE_PREFIX):
        return FileSource(
            source[len(FILE_PREFIX):], loop=audio.loop, realtime=True, block_s=audio.block_s, buffer_s=audio.buffer_s
        )
    return DeviceSource(audio)
