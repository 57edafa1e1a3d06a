"""A seeded room / microphone simulator (audio, 16 kHz) and cheap feature-window
augmentation. numpy/scipy only.

The device hears music from a loudspeaker across a room through a cheap microphone:
at any level, reverberant, coloured by speaker and microphone, with room noise. The
simulator chain, applied to clean audio at the front end's rate:

    speaker colouration -> room impulse response (direct + exponentially decaying
    noise tail, RT60 0.2-0.9 s) -> + room noise (pink..brown + a little white, SNR
    5-30 dB) -> microphone colouration (band-pass ~80 Hz-7 kHz, random tilt, a few
    resonances) -> gain -40..0 dB (re peak at full scale) -> mic self-noise and 16-bit
    quantisation (and, rarely, soft clipping when loud)

Every random choice comes from the ``numpy.random.Generator`` passed in, so a
seeded generator gives the same room every time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.signal import fftconvolve

ROOM_SIM_VERSION = 1  # bump when the simulator changes: cached room copies depend on it


@dataclass(frozen=True)
class RoomParams:
    rt60_s: tuple[float, float] = (0.2, 0.9)
    drr_db: tuple[float, float] = (-6.0, 10.0)  # direct-to-reverberant energy ratio
    snr_db: tuple[float, float] = (5.0, 30.0)  # music (after the room) to room noise
    gain_db: tuple[float, float] = (-40.0, 0.0)  # peak level of the result re full scale
    low_cut_hz: tuple[float, float] = (60.0, 150.0)
    high_cut_hz: tuple[float, float] = (5000.0, 7500.0)
    tilt_db_per_octave: tuple[float, float] = (-3.0, 3.0)
    noise_exponent: tuple[float, float] = (1.0, 2.0)  # 1 = pink, 2 = brown
    white_share_db: tuple[float, float] = (-25.0, -10.0)  # white noise re the coloured noise
    self_noise_dbfs: tuple[float, float] = (-95.0, -80.0)  # microphone/ADC noise floor (rms)
    clip_probability: float = 0.1  # soft clipping, only when the gain is above -6 dB

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def _u(rng: np.random.Generator, lo_hi: tuple[float, float]) -> float:
    return float(rng.uniform(lo_hi[0], lo_hi[1]))


def synth_rir(rng: np.random.Generator, sr: int, rt60_s: float, drr_db: float) -> np.ndarray:
    """A synthetic room impulse response: a unit direct path, then an exponentially
    decaying noise tail (60 dB down after ``rt60_s``) starting 2-10 ms later, scaled to
    the direct-to-reverberant ratio ``drr_db``. High frequencies decay faster (air and
    wall absorption): the tail is low-passed progressively."""
    length = max(1, int(round(min(1.2 * rt60_s, 1.5) * sr)))
    t = np.arange(length) / sr
    tail = rng.standard_normal(length) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078
    # Progressive low-pass: mix the tail with a smoothed copy, more smoothing later on.
    k = max(1, int(sr * 0.0005))
    smooth = np.convolve(tail, np.ones(2 * k + 1) / (2 * k + 1), mode="same")
    mix = np.clip(t / rt60_s, 0.0, 1.0)
    tail = (1 - mix) * tail + mix * smooth
    pre_delay = int(sr * rng.uniform(0.002, 0.010))
    tail[:pre_delay] = 0.0
    energy = float(np.sum(tail**2))
    if energy > 0:
        tail *= math.sqrt(10 ** (-drr_db / 10) / energy)
    tail[0] = 1.0  # the direct path (unit energy)
    return tail


def _freq_gain(rng: np.random.Generator, freqs: np.ndarray, p: RoomParams, band: bool) -> np.ndarray:
    """A random magnitude response: tilt, a few resonances, and (mic) a band-pass."""
    f = np.maximum(freqs, 1.0)
    db = _u(rng, p.tilt_db_per_octave) * np.log2(np.maximum(f, 50.0) / 1000.0)
    for _ in range(int(rng.integers(0, 4))):  # speaker/room resonances and dips
        fc = math.exp(rng.uniform(math.log(150.0), math.log(6000.0)))
        width = rng.uniform(0.15, 0.6)  # octaves
        db += rng.uniform(-6.0, 6.0) * np.exp(-0.5 * (np.log2(f / fc) / width) ** 2)
    gain = 10 ** (db / 20)
    if band:
        lo, hi = _u(rng, p.low_cut_hz), _u(rng, p.high_cut_hz)
        gain = gain / np.sqrt(1 + (lo / f) ** 4) / np.sqrt(1 + (f / hi) ** 8)  # 2nd/4th-order Butterworth magnitudes
    gain[0] = 0.0  # no DC
    return gain


def _colour(rng: np.random.Generator, x: np.ndarray, sr: int, p: RoomParams, band: bool) -> np.ndarray:
    n = x.size
    n_fft = 1 << max(1, (n - 1).bit_length())
    spec = np.fft.rfft(x, n_fft)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    return np.fft.irfft(spec * _freq_gain(rng, freqs, p, band), n_fft)[:n]


def power_law_noise(rng: np.random.Generator, n: int, sr: int, exponent: float) -> np.ndarray:
    """``n`` samples of noise whose power falls as 1/f^exponent (0 white, 1 pink, 2 brown),
    flat below 20 Hz, without DC; unit rms."""
    n_fft = 1 << max(1, (n - 1).bit_length())
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    shape = np.maximum(freqs, 20.0) ** (-exponent / 2)  # flatten below 20 Hz
    shape[0] = 0.0
    white = rng.standard_normal(n_fft)
    coloured = np.fft.irfft(np.fft.rfft(white) * shape, n_fft)[:n]
    return coloured / max(float(np.std(coloured)), 1e-12)


def _room_noise(rng: np.random.Generator, n: int, sr: int, p: RoomParams) -> np.ndarray:
    """Pink..brown noise (1/f^beta power) plus a little white; unit rms."""
    coloured = power_law_noise(rng, n, sr, _u(rng, p.noise_exponent))
    noise = coloured + 10 ** (_u(rng, p.white_share_db) / 20) * rng.standard_normal(n)
    return noise / max(float(np.std(noise)), 1e-12)


def simulate_room(x: np.ndarray, sr: int, rng: np.random.Generator, params: RoomParams = RoomParams()) -> tuple[np.ndarray, dict[str, float]]:
    """Clean mono audio -> what a microphone across a room would record.

    Returns float32 audio of the same length and the random choices made (for logs)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"simulate_room expects mono audio, got shape {x.shape}")
    n = x.size
    info: dict[str, float] = {}
    if n == 0:
        return x.astype(np.float32), info
    y = _colour(rng, x, sr, params, band=False)  # the loudspeaker
    info["rt60_s"] = _u(rng, params.rt60_s)
    info["drr_db"] = _u(rng, params.drr_db)
    rir = synth_rir(rng, sr, info["rt60_s"], info["drr_db"])
    y = fftconvolve(y, rir)[:n]
    music_rms = float(np.sqrt(np.mean(y**2)))
    info["snr_db"] = _u(rng, params.snr_db)
    if music_rms > 0:
        y = y + _room_noise(rng, n, sr, params) * music_rms * 10 ** (-info["snr_db"] / 20)
    y = _colour(rng, y, sr, params, band=True)  # the microphone hears music and noise
    info["gain_db"] = _u(rng, params.gain_db)
    peak = float(np.max(np.abs(y)))
    if peak > 0:
        y *= 10 ** (info["gain_db"] / 20) / peak
    if info["gain_db"] > -6.0 and rng.uniform() < params.clip_probability:
        drive = rng.uniform(1.5, 4.0)
        y = np.tanh(drive * y) / math.tanh(drive)
        info["clip_drive"] = float(drive)
    info["self_noise_dbfs"] = _u(rng, params.self_noise_dbfs)
    y = y + rng.standard_normal(n) * 10 ** (info["self_noise_dbfs"] / 20)
    y = np.clip(np.round(y * 32767.0), -32768, 32767) / 32768.0  # a 16-bit ADC
    return y.astype(np.float32), info


# --- feature-window augmentation (on the fly, in training) ----------------------


def spec_augment(
    x: np.ndarray,
    rng: np.random.Generator,
    time_masks: int = 2,
    max_time: int = 20,
    freq_masks: int = 2,
    max_freq: int = 10,
    p: float = 0.5,
) -> np.ndarray:
    """SpecAugment-style masks on one normalised window (frames, mels), in place.

    Each mask is applied with probability ``p`` and fills its band with the window's
    mean, which after level normalisation is a neutral value."""
    frames, mels = x.shape
    fill = float(x.mean())
    for _ in range(time_masks):
        if rng.uniform() < p:
            w = int(rng.integers(1, max_time + 1))
            s = int(rng.integers(0, max(1, frames - w)))
            x[s : s + w] = fill
    for _ in range(freq_masks):
        if rng.uniform() < p:
            w = int(rng.integers(1, max_freq + 1))
            s = int(rng.integers(0, max(1, mels - w)))
            x[:, s : s + w] = fill
    return x


def warp(x: np.ndarray, rng: np.random.Generator, max_stretch: float = 0.1, max_shift_bins: float = 2.0) -> np.ndarray:
    """Time stretch and pitch shift of one log-mel window (frames, mels), in the
    spectrogram: a new array, ``x`` is left alone.

    Time: frame ``i`` reads the input at ``c + (i - c) * r`` (``c`` the centre, ``r`` in
    ``1 +- max_stretch``: tempo up to 10 % faster or slower; the edges repeat when the
    window runs out). Pitch: every frame moves by ``k`` mel bins (``|k| <= max_shift_bins``,
    fractional; at 96 bands a bin is about a semitone above 1 kHz, more below), the edges
    repeat. Both by linear interpolation of the dB values."""
    frames, mels = x.shape
    r = 1.0 + float(rng.uniform(-max_stretch, max_stretch))
    k = float(rng.uniform(-max_shift_bins, max_shift_bins))
    c = (frames - 1) / 2.0
    t = np.clip(c + (np.arange(frames) - c) * r, 0, frames - 1)
    t0 = np.floor(t).astype(np.int64)
    t1 = np.minimum(t0 + 1, frames - 1)
    a = (t - t0)[:, None].astype(np.float32)
    y = (1 - a) * x[t0] + a * x[t1]
    f = np.clip(np.arange(mels) - k, 0, mels - 1)
    f0 = np.floor(f).astype(np.int64)
    f1 = np.minimum(f0 + 1, mels - 1)
    b = (f - f0)[None, :].astype(np.float32)
    return ((1 - b) * y[:, f0] + b * y[:, f1]).astype(x.dtype)
