"""The benchmark's audio, in blocks of ``block_s`` (the parent passes the daemon's, so
that the child need not import the settings): a deterministic music-like signal made
as it goes, or the first seconds of a file, read as it goes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

SYNTH_RATE_HZ = 44100

# A, E, F#m, D (I-V-vi-IV), two seconds each; a noise burst (a drum) every half second.
_CHORDS_HZ = np.array(
    [
        [220.00, 277.18, 329.63],
        [164.81, 207.65, 246.94],
        [185.00, 220.00, 277.18],
        [146.83, 185.00, 220.00],
    ]
)
_CHORD_S = 2.0
_BEAT_S = 0.5


def synthetic_block(start: int, frames: int, rate_hz: int = SYNTH_RATE_HZ, seed: int = 0) -> np.ndarray:
    """Samples ``[start, start + frames)`` of a deterministic music-like stereo signal,
    (frames, 2) float32: chords with a bass and overtones, a decaying noise burst every
    half second, a little steady noise.

    Each sample depends only on its index (the noise of each beat is seeded by the beat
    number), so any cut into blocks gives the same signal.
    """
    idx = start + np.arange(frames, dtype=np.int64)
    t = idx / rate_hz
    chord = _CHORDS_HZ[(idx // int(_CHORD_S * rate_hz)) % len(_CHORDS_HZ)]  # (frames, 3)
    left = np.zeros(frames)
    right = np.zeros(frames)
    for k in range(3):
        f = chord[:, k]
        tone = 0.10 * np.sin(2 * np.pi * f * t) + 0.03 * np.sin(4 * np.pi * f * t) + 0.015 * np.sin(6 * np.pi * f * t)
        left += tone * (1.2 - 0.2 * k)
        right += tone * (0.8 + 0.2 * k)
    bass = 0.15 * np.sin(np.pi * chord[:, 0] * t)
    beat_len = int(_BEAT_S * rate_hz)
    noise = np.empty(frames)
    for beat in range(start // beat_len, (start + frames - 1) // beat_len + 1):
        lo, hi = max(start, beat * beat_len), min(start + frames, (beat + 1) * beat_len)
        burst = np.random.default_rng((seed, beat)).standard_normal(beat_len)
        noise[lo - start : hi - start] = burst[lo - beat * beat_len : hi - beat * beat_len]
    drum = noise * (0.35 * np.exp(-30.0 * (idx % beat_len) / rate_hz) + 0.01)
    out = np.stack((left + bass + drum, right + bass + 0.9 * drum), axis=1)
    return np.clip(0.6 * out, -1.0, 1.0).astype(np.float32)


def _synthetic_blocks(seconds: float, rate_hz: int, block_s: float, seed: int = 0) -> Iterator[np.ndarray]:
    total = round(seconds * rate_hz)
    block = max(1, int(block_s * rate_hz))
    for start in range(0, total, block):
        yield synthetic_block(start, min(block, total - start), rate_hz, seed)


def _file_blocks(path: Path, seconds: float, block_s: float) -> Iterator[np.ndarray]:
    """The first ``seconds`` of a file in blocks of ``block_s``, read as it goes."""
    from genred.dsp.audio import audio_info, iter_blocks

    info = audio_info(path)
    total = round(seconds * info.sample_rate_hz)
    done = 0
    for block in iter_blocks(path, max(1, int(block_s * info.sample_rate_hz))):
        if done >= total:
            return
        block = block[: total - done]
        done += block.shape[0]
        yield block


def audio_source(file: Path | None, seconds: float) -> tuple[int, float, str]:
    """(rate, seconds used, description) of the benchmark's audio; AudioError if bad."""
    if file is None:
        return SYNTH_RATE_HZ, seconds, f"synthetic music-like stereo, {SYNTH_RATE_HZ} Hz (chords + noise bursts)"
    from genred.dsp.audio import audio_info

    info = audio_info(file)
    used = min(seconds, info.duration_s)
    return info.sample_rate_hz, used, f"{file} ({info.channels} ch, {info.sample_rate_hz} Hz, first {used:.1f} s)"


def audio_blocks(file: Path | None, seconds: float, rate_hz: int, block_s: float) -> Iterator[np.ndarray]:
    return _synthetic_blocks(seconds, rate_hz, block_s) if file is None else _file_blocks(file, seconds, block_s)
