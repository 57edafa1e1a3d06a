"""STFT -> mel -> log, in one batch and one streaming form that give the same frames.

Both forms share `_frames_to_log_mel`; they differ only in how samples are cut into
frames, which is what the streaming == batch tests pin down.
"""

from __future__ import annotations

import functools

import numpy as np

from .params import LogMelParams


# The Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's default).
_SLANEY_F_SP = 200.0 / 3  # Hz per mel in the linear part
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP
_SLANEY_LOGSTEP = float(np.log(6.4) / 27.0)


def _hz_to_mel(hz: float | np.ndarray, scale: str) -> np.ndarray:
    hz = np.asanyarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    return np.where(
        hz >= _SLANEY_MIN_LOG_HZ,
        _SLANEY_MIN_LOG_MEL + np.log(np.maximum(hz, _SLANEY_MIN_LOG_HZ) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP,
        hz / _SLANEY_F_SP,
    )


def _mel_to_hz(mel: np.ndarray, scale: str) -> np.ndarray:
    mel = np.asanyarray(mel, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return np.where(
        mel >= _SLANEY_MIN_LOG_MEL,
        _SLANEY_MIN_LOG_HZ * np.exp(_SLANEY_LOGSTEP * (mel - _SLANEY_MIN_LOG_MEL)),
        _SLANEY_F_SP * mel,
    )


@functools.lru_cache(maxsize=8)
def mel_filterbank(params: LogMelParams) -> np.ndarray:
    """Triangular mel filters, shape (n_mels, n_fft // 2 + 1), float32.

    Same construction as librosa.filters.mel (tested against it), without needing
    librosa on the device.
    """
    n_bins = params.n_fft // 2 + 1
    fft_hz = np.linspace(0.0, params.sample_rate_hz / 2, n_bins)
    mel_pts = np.linspace(
        _hz_to_mel(params.fmin_hz, params.mel_scale),
        _hz_to_mel(params.fmax_hz, params.mel_scale),
        params.n_mels + 2,
    )
    mel_hz = _mel_to_hz(mel_pts, params.mel_scale)
    fdiff = np.diff(mel_hz)
    ramps = mel_hz[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if params.mel_norm == "slaney":
        weights *= (2.0 / (mel_hz[2:] - mel_hz[:-2]))[:, None]
    weights = weights.astype(np.float32)
    weights.setflags(write=False)
    return weights


@functools.lru_cache(maxsize=8)
def _analysis_window(n_fft: int) -> np.ndarray:
    # Periodic Hann (scipy.signal.get_window("hann", n, fftbins=True)), as librosa uses.
    n = np.arange(n_fft)
    w = (0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)).astype(np.float32)
    w.setflags(write=False)
    return w


def _frames_to_log_mel(frames: np.ndarray, params: LogMelParams) -> np.ndarray:
    """(n, n_fft) sample frames -> (n, n_mels) float32 log-mel in dB."""
    if frames.shape[0] == 0:
        return np.empty((0, params.n_mels), dtype=np.float32)
    spec = np.fft.rfft(frames * _analysis_window(params.n_fft), axis=1)
    mag = np.abs(spec).astype(np.float32)
    if params.power == 2.0:
        mag *= mag
    mel: np.ndarray = mag @ mel_filterbank(params).T
    log_mel: np.ndarray = (10.0 * np.log10(np.maximum(mel, np.float32(params.amin)))).astype(np.float32)
    return log_mel


def n_frames_for(n_samples: int, params: LogMelParams) -> int:
    """How many complete frames ``n_samples`` samples make."""
    if n_samples < params.n_fft:
        return 0
    return 1 + (n_samples - params.n_fft) // params.hop_length


def log_mel(samples: np.ndarray, params: LogMelParams) -> np.ndarray:
    """Batch log-mel of a mono signal at ``params.sample_rate_hz``: (n_frames, n_mels)."""
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"log_mel expects mono samples of shape (n,), got {x.shape}")
    n = n_frames_for(x.size, params)
    if n == 0:
        return np.empty((0, params.n_mels), dtype=np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, params.n_fft)[:: params.hop_length][:n]
    return _frames_to_log_mel(frames, params)


class StreamingLogMel:
    """Log-mel frames computed incrementally: each call computes only the frames
    that the new samples complete, never the whole window again.

    ``process(chunk)`` over any chunking yields the same frames as `log_mel` on the
    concatenated signal.
    """

    def __init__(self, params: LogMelParams) -> None:
        self.params = params
        # Samples not yet consumed by a frame start; at most n_fft - hop + chunk long.
        self._pending = np.empty(0, dtype=np.float32)

    def reset(self) -> None:
        self._pending = np.empty(0, dtype=np.float32)

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed mono samples; return the newly completed frames, (n_new, n_mels)."""
        x = np.asarray(chunk, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"StreamingLogMel expects mono samples of shape (n,), got {x.shape}")
        buf = np.concatenate((self._pending, x)) if self._pending.size else x
        n = n_frames_for(buf.size, self.params)
        if n == 0:
            self._pending = buf.copy() if buf is x else buf
            return np.empty((0, self.params.n_mels), dtype=np.float32)
        hop = self.params.hop_length
        frames = np.lib.stride_tricks.sliding_window_view(buf, self.params.n_fft)[::hop][:n]
        out = _frames_to_log_mel(frames, self.params)
        # Keep from the next frame's first sample on; copy so the caller's chunk can be reused.
        self._pending = buf[n * hop :].copy()
        return out


@functools.lru_cache(maxsize=8)
def reference_power_db(params: LogMelParams) -> float:
    """Mean mel power (dB) of a full-scale 1 kHz sine: the 0 dB point of window levels.

    Levels are then "dB re a full-scale 1 kHz sine", close to dBFS for tonal music,
    which is what the silence gate's threshold is written in.
    """
    sr = params.sample_rate_hz
    t = np.arange(sr, dtype=np.float64) / sr
    freq = min(1000.0, 0.25 * (params.fmin_hz + params.fmax_hz))
    sine = np.sin(2 * np.pi * freq * t).astype(np.float32)
    mel_db = log_mel(sine, params)
    return float(10.0 * np.log10(np.mean(10.0 ** (mel_db.astype(np.float64) / 10.0))))
