"""`genred run`: capture -> Pipeline -> MQTT, as a long-running service.

Threads: the audio callback (fills the ring buffer), one worker (takes audio,
runs the pipeline, publishes), paho's network thread, and the main thread, which
only waits for the stop event that SIGTERM/SIGINT set. Every join has a timeout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any

import msgspec
import numpy as np

from genred.dsp.classifier import Classifier, TfliteClassifier
from genred.dsp.labels import PROBABILITY_DIGITS, label_probabilities
from genred.dsp.pipeline import Pipeline, WindowResult
from genred.dsp.smoother_params import SmootherParams

from . import __version__, resolve_model
from .clock import Clock
from .mqtt.api import NullPublisher, Publisher, PublisherFactory
from .mqtt.payloads import EventPayload, InferenceMs, ProbabilitiesPayload, StatePayload, StatusPayload
from .presence import NO_AUDIO, AudioPresence
from .settings import AudioSettings, Settings
from .stats import ListeningMix
from .systemd import Notifier

if TYPE_CHECKING:
    from .audio import AudioSource  # imported when the source is opened

_LOG = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.25  # how often the worker looks up from a silent source
# Capture silent this long (blocks come every audio.block_s), or a device that is not
# open, is published as the state "no_audio": a lost microphone is seen, not guessed.
NO_AUDIO_AFTER_S = 2.5


def device_id_of(settings: Settings) -> str:
    return settings.device_id or socket.gethostname().split(".")[0] or "genred"


def smoother_params(settings: Settings, classifier: Classifier) -> SmootherParams:
    """The model's measured smoothing defaults, with the config's overrides on top."""
    base = SmootherParams.from_dict(classifier.metadata.smoothing) if classifier.metadata.smoothing else SmootherParams()
    overrides = {k: v for k, v in msgspec.structs.asdict(settings.smoothing).items() if v is not None}
    try:
        return msgspec.structs.replace(base, **overrides)
    except ValueError as exc:  # a pair split between the config and the model (music_on/off)
        from .config import ConfigError

        given = ", ".join(f"smoothing.{k}" for k in sorted(overrides))
        raise ConfigError(f"config: smoothing.{exc} (the config sets {given}; the rest are the model's)") from None


class Daemon:
    """Owns the source, the pipeline and the publisher; `run(stop)` until stopped.

    ``source_factory`` and ``publisher_factory`` exist so tests can inject faults;
    by default they are `open_source` and `MqttPublisher` (`NullPublisher` when
    ``mqtt.enabled`` is false). ``clock`` is the wall and monotonic time the daemon
    reads (the system's by default); processing time is always ``perf_counter``'s.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        source_factory: Callable[[AudioSettings], AudioSource] | None = None,
        publisher_factory: PublisherFactory | None = None,
        notifier: Notifier | None = None,
        out: IO[str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.device_id = device_id_of(settings)
        self.classifier: Classifier = TfliteClassifier.from_path(resolve_model(settings.model))
        self.labels = self.classifier.labels
        self.smoother_params = smoother_params(settings, self.classifier)
        if self.classifier.music_detector is None:
            _LOG.info("model %s has no music detector: every sound counts as music (no no_music state)",
                      self.classifier.metadata.name)
        self.notifier = notifier or Notifier()
        self.out = out if out is not None else sys.stdout
        self._source_factory = source_factory
        self._publisher_factory = publisher_factory
        self.source: AudioSource | None = None
        self.publisher: Publisher = NullPublisher()  # until run() starts the real one
        self.pipeline: Pipeline | None = None
        self.mix = ListeningMix(self.labels)
        self._started_mono = self.clock.monotonic()
        self._windows = 0
        self._audio_s = 0.0
        self._busy_s = 0.0
        self._inference_ms: deque[float] = deque(maxlen=300)
        self._shown: tuple[str, str | None] | None = None  # (status, genre) last printed, for the next line
        self._showing_no_audio = False
        self._last_genre: str | None = None  # of the last event
        self._since_wall: str | None = None
        self._last_state_pub = 0.0
        self._last_status_pub = 0.0
        self._listening = False  # audio has arrived
        self._presence = AudioPresence(NO_AUDIO_AFTER_S, self.clock.monotonic())
        self._worker_error: BaseException | None = None
        self._source_failed = False  # a file source that ended with an error

    # -- lifecycle -------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Run until ``stop`` is set (or a non-looping file source ends); 0 on a clean
        exit, 1 if the worker or the source failed."""
        self._start_publisher()
        try:
            self.source = self._open_source()
            self.source.start()
            # Ready once the model is loaded and the publisher runs (a broker that is
            # away is retried in the background), before any audio: a missing
            # microphone is a state the daemon reports, not a start that never ends.
            self.notifier.ready(f"waiting for audio from {self.settings.audio.source}")
            worker = threading.Thread(target=self._work, args=(stop,), name="genred-worker", daemon=True)
            worker.start()
            while not stop.is_set() and worker.is_alive():
                stop.wait(0.5)
            stop.set()
            self.notifier.stopping()
            worker.join(timeout=3.0)
            if worker.is_alive():
                _LOG.error("the worker did not stop within 3 s; exiting anyway")
        finally:
            self.notifier.stopping()
            if self.source is not None:
                self.source.stop(timeout_s=1.0)
            self._publish_status()
            self.publisher.stop(timeout_s=2.0)
            self.notifier.close()
        return 1 if self._worker_error is not None or self._source_failed else 0

    def _start_publisher(self) -> None:
        mqtt = self.settings.mqtt
        if not mqtt.enabled:
            _LOG.info("MQTT is off (mqtt.enabled: false): genre changes go to stdout only")
            return
        from .config import resolve_password
        from .mqtt.publisher import MqttPublisher

        factory: PublisherFactory = self._publisher_factory or MqttPublisher
        self.publisher = factory(
            mqtt, self.device_id, password=resolve_password(mqtt),
            model_name=self.classifier.metadata.name, sw_version=__version__,
        )
        self.publisher.start()

    def _open_source(self) -> AudioSource:
        if self._source_factory is not None:
            return self._source_factory(self.settings.audio)
        from .audio import open_source

        return open_source(self.settings.audio)

    # -- the worker --------------------------------------------------------------------

    def _work(self, stop: threading.Event) -> None:
        try:
            self._loop(stop)
        except BaseException as exc:  # noqa: BLE001 - reported, and the service restarts us
            self._worker_error = exc
            _LOG.exception("the worker failed: %s", exc)
            stop.set()

    def _loop(self, stop: threading.Event) -> None:
        source = self.source
        assert source is not None  # run() opened it
        while not stop.is_set():
            rate = source.sample_rate_hz
            # Before a device has opened the rate is unknown; the read still waits
            # (for the device), so the worker never spins.
            frames = max(1, int(self.settings.audio.block_s * rate)) if rate else 1
            block = source.read(frames, timeout_s=READ_TIMEOUT_S)
            if block is None:
                if source.eof:
                    if self.pipeline is not None:
                        self._handle(self.pipeline.flush())
                    error = source.status().last_error
                    if error is not None:  # a file that ended in an error: said once, here, and in the exit status
                        _LOG.error("%s", error)
                        self._source_failed = True
                    else:
                        _LOG.info("end of the audio source")
                    return
                if source.waiting_for_device:
                    # The device is missing and the supervisor retries: the daemon is
                    # not stuck, and a restart would not bring the microphone back.
                    self.notifier.watchdog()
                self._no_audio_check()
                self._periodic()
                continue
            t0 = time.perf_counter()
            resumed = self._presence.heard(self.clock.monotonic())
            if resumed and self._listening:
                self.notifier.status(f"listening on {source.status().device}")
            if resumed or self.pipeline is None or self.pipeline.input_rate_hz != source.sample_rate_hz:
                # First audio, audio after an outage (it does not join on to what came
                # before), or the device came back at another rate: start afresh. The
                # new smoother's first window is a change, and its genre one from none.
                self.pipeline = Pipeline(
                    self.classifier, source.sample_rate_hz, hop_s=self.settings.hop_s,
                    smoother_params=self.smoother_params,
                )
                self._last_genre = None
            results = self.pipeline.process(block)
            self._busy_s += time.perf_counter() - t0
            self._audio_s += block.shape[0] / source.sample_rate_hz
            if not self._listening:
                self._listening = True
                self.notifier.status(f"listening on {source.status().device}")
                _LOG.info("listening: %s at %d Hz, %d channel(s)", source.status().device, source.sample_rate_hz, source.channels)
            # Fed for audio, and above while a missing device is retried; not while a
            # stream that counts as open gives nothing: then systemd's watchdog should bite.
            self.notifier.watchdog()
            self._handle(results)
            self._periodic()

    def _handle(self, results: list[WindowResult]) -> None:
        now = self.clock.wall()
        for r in results:
            self._windows += 1
            self._inference_ms.append(r.inference_ms)
            s = r.state
            self.mix.add(s.genre, self.pipeline.hop_s if self.pipeline else 0.0, self.clock.today())
            if self.settings.mqtt.publish_probabilities:
                self.publisher.publish(ProbabilitiesPayload(
                    probabilities=label_probabilities(self.labels, r.probabilities, PROBABILITY_DIGITS), level_db=round(r.level_db, 1), at=_iso(now),
                ))
            if s.changed:  # the smoother decides; the first window of a stream is one
                self._show(now, (s.status, s.genre), s.confidence)
                self._publish_state(r)
            elif self.clock.monotonic() - self._last_state_pub >= self.settings.mqtt.state_interval_s:
                self._publish_state(r)
            if s.genre_changed:
                self._emit_event(self._last_genre, s.genre, s.confidence, now)
                self._last_genre = s.genre

    def _show(self, now: float, pair: tuple[str, str | None], confidence: float) -> None:
        """A new state: always on stdout (the journal under systemd), broker or not."""
        self.out.write(f"{_iso(now)} {self.device_id}: {_describe(self._shown)} -> {_describe(pair)} ({confidence:.2f})\n")
        self.out.flush()
        self._shown = pair
        self._showing_no_audio = pair[0] == NO_AUDIO
        self._since_wall = _iso(now)

    def _no_audio_check(self) -> None:
        """While capture gives nothing, the state says so (status no_audio, no genre):
        once at the start of the outage, then as often as any unchanged state."""
        cap = self.source.status()
        now_mono = self.clock.monotonic()
        if self._presence.silent(now_mono, cap.state):
            self.notifier.status(f"no audio from {cap.device} ({cap.state}); waiting for it")
            now = self.clock.wall()
            if not self._showing_no_audio:  # (audio too short for a window may have come between outages)
                self._show(now, (NO_AUDIO, None), 0.0)
            self._publish_no_audio()
            if self._last_genre is not None:
                self._emit_event(self._last_genre, None, 0.0, now)
                self._last_genre = None
        elif self._presence.outage and now_mono - self._last_state_pub >= self.settings.mqtt.state_interval_s:
            self._publish_no_audio()

    def _publish_no_audio(self) -> None:
        self._send_state(None, 0.0, NO_AUDIO, np.zeros(len(self.labels)), None)  # probabilities as in silence

    def _emit_event(self, old: str | None, new: str | None, confidence: float, now: float) -> None:
        self.publisher.publish(EventPayload(from_genre=old, to_genre=new, confidence=round(confidence, 4), at=_iso(now)))

    def _publish_state(self, r: WindowResult) -> None:
        s = r.state
        self._send_state(s.genre, s.confidence, s.status, np.asarray(s.probabilities), s.music_probability)

    def _send_state(self, genre: str | None, confidence: float, status: str, probabilities: np.ndarray,
                    music_probability: float | None) -> None:
        """The one shape of the retained state, whatever decided it (the smoother, or capture's silence)."""
        self._last_state_pub = self.clock.monotonic()
        self.publisher.publish(StatePayload(
            genre=genre,
            confidence=round(confidence, 4),
            status=status,
            since=self._since_wall,
            probabilities=label_probabilities(self.labels, probabilities, PROBABILITY_DIGITS),
            music_probability=None if music_probability is None else round(music_probability, 4),
            model=self.classifier.metadata.name,
        ))

    def _periodic(self) -> None:
        if self.clock.monotonic() - self._last_status_pub >= self.settings.mqtt.status_interval_s:
            self._publish_status()

    def _publish_status(self) -> None:
        self._last_status_pub = self.clock.monotonic()
        self.publisher.publish(self.status())
        self.publisher.publish(self.mix.snapshot(self.clock.today()))

    def status(self) -> StatusPayload:
        cap = self.source.status() if self.source is not None else None
        ms = np.asarray(self._inference_ms) if self._inference_ms else None
        return StatusPayload(
            version=__version__,
            uptime_s=round(self.clock.monotonic() - self._started_mono, 1),
            model=self.classifier.metadata.name,
            capture=dataclasses.asdict(cap) if cap is not None else None,
            input_rate_hz=self.pipeline.input_rate_hz if self.pipeline else None,
            model_rate_hz=self.classifier.metadata.front_end.sample_rate_hz,
            hop_s=round(self.pipeline.hop_s, 3) if self.pipeline else None,
            windows=self._windows,
            audio_s=round(self._audio_s, 1),
            inference_ms=InferenceMs(mean=round(float(ms.mean()), 2), p95=round(float(np.percentile(ms, 95)), 2))
            if ms is not None else None,
            # Audio seconds per second of processing: how far from falling behind we are.
            realtime_factor=round(self._audio_s / self._busy_s, 1) if self._busy_s > 0 else None,
            mqtt=self.publisher.counters(),
        )


def _describe(key: tuple[str, str | None] | None) -> str:
    """A state for people: the genre when there is one, else the status."""
    if key is None:
        return "-"
    status, genre = key
    return genre if genre is not None else status


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).astimezone().isoformat(timespec="seconds")
