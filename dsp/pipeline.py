"""The runtime path, one synchronous object: audio blocks in, classified windows out.

mono mix -> resample -> streaming log-mel -> windows -> level normalisation ->
model (and the music detector, where the bundle has one) -> smoothing. The daemon feeds it from a microphone, `genred replay` and
`genred evaluate` from files: the same object, so a file is judged exactly as live
audio would be.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .classifier import Classifier
from .melspec import StreamingLogMel
from .params import hop_frames_for
from .resample import StreamingResampler, to_mono
from .smoothed_state import SmoothedState
from .smoother_params import SmootherParams
from .smoothing import Smoother
from .windows import StreamingWindower, Window, normalise_window, window_level_db


@dataclass(frozen=True)
class WindowResult:
    """One classified window. Times are seconds of stream (input) time."""

    start_s: float
    end_s: float
    probabilities: np.ndarray  # float32, label order
    level_db: float  # dB re a full-scale 1 kHz sine
    padded: bool
    state: SmoothedState
    inference_ms: float  # the genre model's
    music_probability: float | None = None  # the detector's raw P(music); None without one

    def top(self, labels: tuple[str, ...]) -> tuple[str, float]:
        i = int(np.argmax(self.probabilities))
        return labels[i], float(self.probabilities[i])


@dataclass
class StageTimes:
    """Seconds spent in each stage since the last reset (for `genred bench`)."""

    resample_s: float = 0.0
    front_end_s: float = 0.0
    model_s: float = 0.0
    music_s: float = 0.0  # the music detector (0 without one)
    smoothing_s: float = 0.0


class Pipeline:
    """``process(block)`` takes (n,) or (n, channels) float32 samples at
    ``input_rate_hz`` and returns the windows that the block completed."""

    def __init__(
        self,
        classifier: Classifier,
        input_rate_hz: int,
        hop_s: float | None = None,
        smoother_params: SmootherParams | None = None,
    ) -> None:
        meta = classifier.metadata
        self.classifier = classifier
        # Any object with the classifier's predict() and metadata will do (a test's
        # recorder); one without a detector attribute has none.
        self.music_detector = getattr(classifier, "music_detector", None)
        self.labels = meta.labels
        self.front_end = meta.front_end
        self.window = meta.window
        self.input_rate_hz = int(input_rate_hz)
        self.hop_frames = hop_frames_for(meta.default_hop_s if hop_s is None else hop_s, self.front_end)
        if smoother_params is None:
            smoother_params = SmootherParams.from_dict(meta.smoothing) if meta.smoothing else SmootherParams()
        self._resampler = StreamingResampler(self.input_rate_hz, self.front_end.sample_rate_hz)
        self._mel = StreamingLogMel(self.front_end)
        self._windower = StreamingWindower(self.window, self.front_end.n_mels, self.hop_frames)
        self.smoother = Smoother(self.labels, smoother_params)
        self.times = StageTimes()
        self._samples_in = 0  # at the input rate, for the padded window's end time
        self._held: list[np.ndarray] = []  # resampled samples not yet turned into frames
        self._n_held = 0
        self._n_framed = 0  # resampled samples given to the log-mel since reset

    @property
    def hop_s(self) -> float:
        return self.hop_frames * self.front_end.hop_length / self.front_end.sample_rate_hz

    @property
    def window_s(self) -> float:
        fe = self.front_end
        return ((self.window.window_frames - 1) * fe.hop_length + fe.n_fft) / fe.sample_rate_hz

    def reset(self) -> None:
        self._resampler.reset()
        self._mel.reset()
        self._windower.reset()
        self.smoother.reset()
        self.times = StageTimes()
        self._samples_in = 0
        self._held, self._n_held, self._n_framed = [], 0, 0

    def process(self, block: np.ndarray) -> list[WindowResult]:
        t0 = time.perf_counter()
        mono = to_mono(block)
        self._samples_in += mono.shape[0]
        resampled = self._resampler.process(mono)
        t1 = time.perf_counter()
        windows = self._frames_to_windows(resampled)
        self.times.resample_s += t1 - t0
        self.times.front_end_s += time.perf_counter() - t1
        return [self._classify(w) for w in windows]

    def flush(self) -> list[WindowResult]:
        """End of stream: the rest of the resampler's output, and the padded window
        of a stream shorter than one window. The pipeline is then reset."""
        windows = self._frames_to_windows(self._resampler.flush(), end=True)
        windows += self._windower.flush()
        results = [self._classify(w) for w in windows]
        self.reset()
        return results

    def _frames_to_windows(self, samples: np.ndarray, end: bool = False) -> list[Window]:
        """Log-mel frames of the held samples, once they complete the next window.

        Holding the samples until then emits every window in the same call as before,
        but computes its ~60 new frames in one batch instead of ~6 per 0.1 s block,
        which costs a third as much."""
        self._held.append(samples)
        self._n_held += samples.size
        fe = self.front_end
        needed = (self._windower.frames_for_next_window - 1) * fe.hop_length + fe.n_fft
        if not end and self._n_framed + self._n_held < needed:
            return []
        x = self._held[0] if len(self._held) == 1 else np.concatenate(self._held)
        self._held, self._n_held = [], 0
        self._n_framed += x.size
        return self._windower.process(self._mel.process(x))

    def _classify(self, w: Window) -> WindowResult:
        t0 = time.perf_counter()
        level = window_level_db(w.frames, self.front_end)
        features = normalise_window(w.frames, level, self.front_end, self.window)
        t1 = time.perf_counter()
        probs = self.classifier.predict(features)
        t2 = time.perf_counter()
        music = None
        t3 = t2
        if self.music_detector is not None:
            music = self.music_detector.predict(features)
            t3 = time.perf_counter()
        fe = self.front_end
        start_s = w.start_frame * fe.hop_length / fe.sample_rate_hz
        end_s = self._samples_in / self.input_rate_hz if w.padded else start_s + self.window_s
        state = self.smoother.process(probs, level, end_s, music_probability=music)
        t4 = time.perf_counter()
        self.times.front_end_s += t1 - t0
        self.times.model_s += t2 - t1
        self.times.music_s += t3 - t2  # 0 without a detector
        self.times.smoothing_s += t4 - t3
        return WindowResult(start_s, end_s, probs, level, w.padded, state, (t2 - t1) * 1e3, music)
