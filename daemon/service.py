"""`genred run`: capture -> Pipeline -> MQTT, as a long-running service.

Threads: the audio callback (fills the ring buffer), one worker (takes audio,
runs the pipeline, publishes), paho's network thread, and the main thread, which
only waits for the stop event that SIGTERM/SIGINT set. Every join has a timeout.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import IO, TYPE_CHECKING

import msgspec
import numpy as np

from genred.dsp.classifier import Classifier, TfliteClassifier
from genred.dsp.pipeline import Pipeline, WindowResult
from genred.dsp.smoother_params import SmootherParams

from . import __version__, resolve_model
from .clock import Clock
from .mqtt.api import NullPublisher, Publisher, PublisherFactory
from .mqtt.payloads import InferenceMs, StatusPayload
from .presence import AudioPresence
from .reporter import StateReporter
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
        self._report = StateReporter(
            self.device_id, self.labels, self.classifier.metadata.name, settings.mqtt, self.out, self.clock,
            publish=lambda message: self.publisher.publish(message),  # the publisher of the moment
        )
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
                self._no_audio_check(source)
                self._periodic()
                continue
            t0 = time.perf_counter()
            rate = source.sample_rate_hz
            assert rate is not None  # a block came: the device is open
            resumed = self._presence.heard(self.clock.monotonic())
            if resumed and self._listening:
                self.notifier.status(f"listening on {source.status().device}")
            if resumed or self.pipeline is None or self.pipeline.input_rate_hz != rate:
                # First audio, audio after an outage (it does not join on to what came
                # before), or the device came back at another rate: start afresh. The
                # new smoother's first window is a change, and its genre one from none.
                self.pipeline = Pipeline(
                    self.classifier, rate, hop_s=self.settings.hop_s, smoother_params=self.smoother_params,
                )
                self._report.new_stream()
            results = self.pipeline.process(block)
            self._busy_s += time.perf_counter() - t0
            self._audio_s += block.shape[0] / rate
            if not self._listening:
                self._listening = True
                self.notifier.status(f"listening on {source.status().device}")
                _LOG.info("listening: %s at %d Hz, %d channel(s)", source.status().device, rate, source.channels)
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
            self.mix.add(r.state.genre, self.pipeline.hop_s if self.pipeline else 0.0, self.clock.today())
            self._report.window(r, now)

    def _no_audio_check(self, source: AudioSource) -> None:
        """While capture gives nothing, the state says so (status no_audio, no genre):
        once at the start of the outage, then as often as any unchanged state."""
        cap = source.status()
        now_mono = self.clock.monotonic()
        if self._presence.silent(now_mono, cap.state):
            self.notifier.status(f"no audio from {cap.device} ({cap.state}); waiting for it")
            self._report.no_audio(self.clock.wall())
        elif self._presence.outage:
            self._report.still_no_audio(now_mono)

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

