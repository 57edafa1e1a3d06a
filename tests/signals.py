"""Small synthetic signals for the tests."""

from __future__ import annotations

import numpy as np


def music_like(seconds: float, sr: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Chords, a drum-like noise burst every half second and a little noise, (n,) or (n, ch)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 1760.0))
    env = np.exp(-((t % 0.5) * 30.0))
    x = x + 0.3 * env * rng.standard_normal(t.size) + 0.01 * rng.standard_normal(t.size)
    x = (x / np.max(np.abs(x)) * 0.8).astype(np.float32)
    if channels == 1:
        return x
    # Slightly different channels, so a wrong down-mix shows.
    return np.stack([x * np.float32(1.0 - 0.1 * c) for c in range(channels)], axis=1)
