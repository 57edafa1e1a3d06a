"""Stand-ins the tests give the daemon in place of hardware and of the world around it,
and `wait_until` for tests that watch other threads. One copy of each, imported by every
test that needs one (pytest puts tests/ on sys.path).

* `FakePortAudio`: sounddevice's stream factory, with faults switched on by the test
  (no device, input overflows, a stalled or failed stream); `fake_query` its device list.
* `SilentSource`, `SyntheticSource`: AudioSources that give no audio, or an hour made on the fly.
* `NotifySocket`: systemd's notification socket, recording what arrives and when.
* `RecordingPublisher`: a publisher (real or null) that remembers every message.
* `RecordingClassifier`: a classifier that remembers what the pipeline feeds it.
* `NotABroker`: a TCP listener that is not an MQTT broker.

The broker itself is real (tests/broker.py); these fake only what a test cannot have.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from signals import music_like


def wait_until(predicate: Callable[[], object], timeout_s: float = 5.0, what: str = "condition",
               poll_s: float = 0.01) -> None:
    """Returns once ``predicate()`` is true; an AssertionError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)


# -- PortAudio -------------------------------------------------------------------------------


def ramp(n: int, channels: int, start: int = 0) -> np.ndarray:
    """Frame i holds i (and i + 0.5 in the second channel): every frame is unique and exact in float32."""
    idx = np.arange(start, start + n, dtype=np.float32)[:, None]
    return idx + 0.5 * np.arange(channels, dtype=np.float32)[None, :]


def looped_music(seconds: float = 2.0, rate_hz: int = 16000, seed: int = 9) -> Callable[[int, int, int], np.ndarray]:
    """An audio function for `FakePortAudio`: ``seconds`` of `music_like` played in a loop."""
    music = music_like(seconds, rate_hz, seed=seed)

    def audio(n: int, channels: int, start: int) -> np.ndarray:
        block = music[(start + np.arange(n)) % music.size]
        return np.repeat(block[:, None], channels, axis=1)

    return audio


FAKE_MIC = {"name": "Fake USB Mic", "index": 0, "max_input_channels": 1, "max_output_channels": 0,
            "default_samplerate": 16000.0}


def fake_query(devices: Sequence[dict[str, Any]] = (FAKE_MIC,), default: int | None = 0) -> Callable[..., Any]:
    """sounddevice.query_devices over ``devices``; ``default`` is the default input's
    position in it (None: no default input, as PortAudio says without one)."""

    def query(device: int | None = None, kind: str | None = None) -> Any:
        if kind == "input":
            if default is None:
                raise RuntimeError("Error querying device -1")
            return devices[default]
        if device is not None:
            return devices[device]
        return list(devices)

    return query


class Flags:
    """sounddevice.CallbackFlags: true when a flag is set."""

    def __init__(self, input_overflow: bool = False) -> None:
        self.input_overflow = input_overflow

    def __bool__(self) -> bool:
        return self.input_overflow


class FakePortAudio:
    """sounddevice.InputStream's stand-in: `factory` hands out streams that call back in
    real time from their own thread with ``audio(n, channels, start_frame)`` (a continuous
    `ramp` across streams by default). Faults, switched on by the test: ``available``
    False (opening fails as PortAudio does without the device), ``stalled`` (no stream
    calls back: the device hangs), ``overflow_blocks`` (the next N blocks carry
    input_overflow), and per stream ``silent`` and `FakeStream.fail`."""

    def __init__(self, audio: Callable[[int, int, int], np.ndarray] = ramp) -> None:
        self.available = True
        self.stalled = False
        self.overflow_blocks = 0
        self.frames = 0  # frames delivered across all streams
        self.streams: list[FakeStream] = []
        self.opened_at: list[float] = []  # monotonic time of each started stream
        self.failed_at: list[float] = []  # monotonic time of each failed open
        self.audio = audio

    @property
    def failed_opens(self) -> int:
        return len(self.failed_at)

    def factory(self, **kw: Any) -> FakeStream:
        if not self.available:
            self.failed_at.append(time.monotonic())
            raise RuntimeError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")
        stream = FakeStream(self, **kw)
        self.streams.append(stream)
        return stream


class FakeStream:
    def __init__(self, pa: FakePortAudio, *, device: Any, channels: int, samplerate: float, blocksize: int,
                 dtype: str, callback: Callable[..., None], finished_callback: Callable[[], None] | None = None) -> None:
        assert dtype == "float32"
        self.pa, self.device, self.channels, self.samplerate = pa, device, channels, samplerate
        self.blocksize, self.callback, self.finished_callback = blocksize, callback, finished_callback
        self.silent = False
        self.active = False
        self.closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-portaudio", daemon=True)

    def start(self) -> None:
        self.active = True
        self.pa.opened_at.append(time.monotonic())
        self._thread.start()

    def _run(self) -> None:
        period = self.blocksize / self.samplerate
        due = time.monotonic()
        while not self._stop.is_set():
            due += period
            self._stop.wait(max(0.0, due - time.monotonic()))
            if self._stop.is_set() or self.silent or self.pa.stalled:
                continue
            overflow = self.pa.overflow_blocks > 0
            self.pa.overflow_blocks -= overflow
            block = self.pa.audio(self.blocksize, self.channels, self.pa.frames).astype(np.float32)
            self.callback(block, self.blocksize, None, Flags(overflow))
            self.pa.frames += self.blocksize

    def fail(self) -> None:
        """As PortAudio does when the device goes away: the stream ends by itself."""
        self._stop.set()
        self.active = False
        if self.finished_callback:
            self.finished_callback()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.active = False
        self.closed = True


# -- audio sources -----------------------------------------------------------------------------


def _status(device: str, rate_hz: int, seconds_since_audio: float | None) -> Any:
    from genred.daemon.audio import CaptureStatus

    return CaptureStatus(device, "running", rate_hz, 1, 0, 0, 0, None, seconds_since_audio)


class SilentSource:
    """A device that opened but never delivers audio."""

    sample_rate_hz = 16000
    channels = 1
    eof = False
    waiting_for_device = False

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float = 1.0) -> None:
        pass

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        time.sleep(timeout_s or 0)
        return None

    def status(self) -> Any:
        return _status("silent", self.sample_rate_hz, None)


class SyntheticSource:
    """``seconds`` of mono audio at ``rate_hz`` made on the fly from a few seconds of
    clips: music of two kinds and silence, in runs of random length, so that states,
    events and the mix change. ``checkpoints`` maps audio seconds to callables, each run
    (by the reading thread) once that much audio has been delivered."""

    channels = 1
    waiting_for_device = False

    def __init__(self, seconds: float, rate_hz: int, checkpoints: dict[float, Callable[[], None]] | None = None) -> None:
        self.sample_rate_hz = rate_hz
        clips = [music_like(6.0, rate_hz, seed=s) * g for s, g in ((1, 1.0), (5, 0.3))] + [np.zeros(6 * rate_hz, np.float32)]
        self._clips = [c.astype(np.float32).reshape(-1, 1) for c in clips]
        self._rng = np.random.default_rng(11)
        self._total = int(seconds * rate_hz)
        self.delivered = 0
        self._clip = 0
        self._left_in_run = 0
        self._pos = 0
        self._checkpoints = dict(sorted((checkpoints or {}).items()))

    @property
    def eof(self) -> bool:
        return self.delivered >= self._total

    def start(self) -> None:
        pass

    def stop(self, timeout_s: float = 1.0) -> None:
        pass

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        if self.delivered >= self._total:
            return None
        n = min(n, self._total - self.delivered)
        if self._left_in_run <= 0:
            self._clip = int(self._rng.integers(0, len(self._clips)))
            self._left_in_run = int(self._rng.uniform(5, 40) * self.sample_rate_hz)
        clip = self._clips[self._clip]
        idx = (self._pos + np.arange(n)) % clip.shape[0]
        self._pos += n
        self._left_in_run -= n
        self.delivered += n
        for at in [t for t in self._checkpoints if t * self.sample_rate_hz <= self.delivered]:
            self._checkpoints.pop(at)()
        return clip[idx]

    def status(self) -> Any:
        return _status("synthetic", self.sample_rate_hz, 0.0)


# -- systemd -----------------------------------------------------------------------------------


class NotifySocket:
    """systemd's notification socket at ``path``: a thread records (monotonic time of
    arrival, message) of each datagram the daemon sends. `close` it after the test."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.received: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-notify", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            except OSError:  # closed
                return
            self.received.append((time.monotonic(), message))

    @property
    def messages(self) -> list[str]:
        return [m for _, m in self.received]

    def watchdogs(self) -> list[float]:
        """When each WATCHDOG=1 arrived."""
        return [t for t, m in self.received if m == "WATCHDOG=1"]

    def drain(self, quiet_s: float = 0.2, max_s: float = 5.0) -> list[str]:
        """The messages, once none has arrived for ``quiet_s`` (after a sender stopped:
        all it sent), or after ``max_s`` at most."""
        deadline = time.monotonic() + max_s
        seen = -1
        while seen != len(self.received) and time.monotonic() < deadline:
            seen = len(self.received)
            time.sleep(quiet_s)
        return self.messages

    def close(self) -> None:
        """Stops recording, reading in what is still queued; a second close does nothing."""
        if self.sock.fileno() == -1:
            return
        self._stop.set()
        self._thread.join(timeout=1)
        self.sock.setblocking(False)
        while True:  # what was sent just before the daemon returned
            try:
                self.received.append((time.monotonic(), self.sock.recv(4096).decode()))
            except BlockingIOError:
                break
        self.sock.close()


# -- MQTT and the model --------------------------------------------------------------------------


class RecordingPublisher:
    """A publisher that hands every message on to ``inner`` (the real MqttPublisher, or a
    NullPublisher) and remembers it: all in ``messages``, and by kind in ``events`` and
    ``states`` (EventPayload, StatePayload)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.messages: list[Any] = []
        self.events: list[Any] = []
        self.states: list[Any] = []

    def publish(self, message: Any) -> None:
        self.messages.append(message)
        if message.TOPIC == "event":
            self.events.append(message)
        elif message.TOPIC == "state":
            self.states.append(message)
        self._inner.publish(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class RecordingClassifier:
    """Stands in for the classifier: records each window the pipeline feeds the model,
    and answers with equal probabilities."""

    def __init__(self, metadata: Any) -> None:
        self.metadata = metadata
        self.labels = metadata.labels
        self.music_detector = None
        self.seen: list[np.ndarray] = []

    def predict(self, features: np.ndarray) -> np.ndarray:
        self.seen.append(features.copy())
        return np.full(len(self.labels), 1.0 / len(self.labels))


class NotABroker:
    """A TCP listener on 127.0.0.1 that is not an MQTT broker: it accepts each client and
    then closes at once ("close"), answers garbage ("garbage") or says nothing ("silent")."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="not-a-broker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            if self.mode == "close":
                conn.close()
            elif self.mode == "garbage":
                conn.settimeout(1.0)
                try:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                except OSError:
                    pass
                conn.close()
            else:
                self._held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for c in self._held:
            c.close()
        self.sock.close()
