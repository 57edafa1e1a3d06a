"""Audio that is not music: seeded synthetic household noises, and an index of folders of
real or synthetic speech and noise (``../shared/data/nonmusic``, `make speech`'s output).

A music / not-music detector must learn that a room's steady sounds are not music, and
above all that a pure tone is not music either: ``synth_noise`` makes white, pink and
brown noise, mains hum, a fan, clatter, rain, a kettle's whistle and appliance beeps, each
from the ``numpy.random.Generator`` passed in (one seed, one sound), at an rms level of
-35..-15 dBFS drawn from the same generator (peaks below full scale).

``index_nonmusic(folder)`` reads ``folder/SOURCES.tsv``: a ``file`` column, a
``category`` (speech / noise), and a cross-validation group: ``group`` where the table
has one (`make speech`: engine and voice), else ``source_repo`` (the shared data: one
source is one recording session). Keep a group on one side of a split.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import butter, sosfilt

from genred.dsp.audio import audio_info
from genred.dsp.errors import GenredError, one_line

from .augment import power_law_noise

_LOG = logging.getLogger(__name__)

LEVEL_DBFS = (-35.0, -15.0)  # rms of a generated noise
PEAK_MAX = 0.99


def _bandpass(x: np.ndarray, sr: int, lo_hz: float, hi_hz: float, order: int = 2) -> np.ndarray:
    nyq = sr / 2
    lo, hi = max(lo_hz, 10.0) / nyq, min(hi_hz, 0.45 * sr) / nyq
    return sosfilt(butter(order, [lo, max(hi, lo * 1.1)], btype="bandpass", output="sos"), x)


def _white(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return rng.standard_normal(n)


def _pink(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return power_law_noise(rng, n, sr, 1.0)


def _brown(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    return power_law_noise(rng, n, sr, 2.0)


def _hum(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Mains hum: 50 or 60 Hz and its harmonics (transformers hum most at twice the mains
    frequency), wavering a little in level, over a faint noise floor."""
    t = np.arange(n) / sr
    f0 = float(rng.choice([50.0, 60.0])) * (1 + rng.uniform(-0.002, 0.002))
    x = np.zeros(n)
    for k in range(1, 13):
        if k * f0 >= 0.45 * sr:
            break
        level = rng.uniform(0.3, 1.0) / k ** rng.uniform(0.5, 1.5) * (2.0 if k == 2 else 1.0)
        x += level * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi))
    x *= 1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi))
    return x / np.std(x) + 10 ** (rng.uniform(-40, -25) / 20) * power_law_noise(rng, n, sr, 1.0)


def _fan(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Band-limited rushing air, slowly modulated, with the blades' faint tone."""
    t = np.arange(n) / sr
    centre = math.exp(rng.uniform(math.log(150.0), math.log(1500.0)))
    width = rng.uniform(1.5, 4.0)  # ratio of the band's edges to its centre
    air = _bandpass(power_law_noise(rng, n, sr, rng.uniform(0.0, 1.0)), sr, centre / width, centre * width)
    air /= np.std(air)
    air *= 1 + rng.uniform(0.05, 0.3) * np.sin(2 * np.pi * rng.uniform(0.1, 1.0) * t + rng.uniform(0, 2 * np.pi))
    blade_hz = rng.uniform(20.0, 120.0)
    blades = sum(np.sin(2 * np.pi * k * blade_hz * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3))
    return air + 10 ** (rng.uniform(-30, -12) / 20) * blades


def _resonance(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A short ring: one to three damped sines (a cup, cutlery, a drawer)."""
    decay_s = rng.uniform(0.003, 0.04)
    t = np.arange(int(5 * decay_s * sr) + 1) / sr
    ring = np.zeros_like(t)
    for _ in range(int(rng.integers(1, 4))):
        hz = min(rng.uniform(800.0, 6000.0), 0.45 * sr)
        ring += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi))
    return ring * np.exp(-t / decay_s)


def _clatter(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Clicks and clatter: knocks at random times, each ringing briefly."""
    x = 10 ** (rng.uniform(-50, -35) / 20) * rng.standard_normal(n)
    events = max(1, int(rng.poisson(rng.uniform(1.0, 8.0) * n / sr)))
    for start in np.sort(rng.integers(0, n, size=events)):
        ring = _resonance(rng, sr)[: n - start] * float(rng.lognormal(0.0, 0.7))
        x[start : start + ring.size] += ring
    return x


def _rain(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Rain on a window: a dense crackle of droplets, filtered, over a soft hiss."""
    drops = np.zeros(n)
    count = int(rng.poisson(rng.uniform(300.0, 3000.0) * n / sr))
    np.add.at(drops, rng.integers(0, n, size=count), rng.exponential(1.0, size=count) * rng.choice([-1.0, 1.0], size=count))
    centre = rng.uniform(1500.0, 5000.0)
    crackle = _bandpass(drops, sr, centre / 2.5, centre * 2.5)
    crackle /= max(np.std(crackle), 1e-12)
    return crackle + 10 ** (rng.uniform(-15, -5) / 20) * power_law_noise(rng, n, sr, 1.0)


def _whistle(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """A kettle: a whistle rising to its pitch as it starts, warbling, with breath."""
    t = np.arange(n) / sr
    f_end = rng.uniform(1500.0, 4000.0)
    f_start = f_end * rng.uniform(0.5, 0.9)
    hz = f_start + (f_end - f_start) * (1 - np.exp(-t / rng.uniform(0.3, 2.0)))
    hz = np.minimum(hz + rng.uniform(5.0, 30.0) * np.sin(2 * np.pi * rng.uniform(3.0, 8.0) * t), 0.45 * sr)
    phase = 2 * np.pi * np.cumsum(hz) / sr
    onset = 1 - np.exp(-t / rng.uniform(0.2, 2.0))
    tone = np.sin(phase) + 10 ** (rng.uniform(-30, -15) / 20) * np.sin(2 * phase)
    breath = _bandpass(rng.standard_normal(n), sr, f_end / 1.3, f_end * 1.3)
    return onset * (tone + 10 ** (rng.uniform(-25, -10) / 20) * breath / max(np.std(breath), 1e-12))


def _beeps(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """An appliance beeping: groups of equal beeps (sine or square), pauses between."""
    hz = min(rng.uniform(800.0, 4000.0), 0.45 * sr)
    beep_s, gap_s = rng.uniform(0.08, 0.6), rng.uniform(0.05, 0.4)
    group, pause_s = int(rng.integers(1, 5)), rng.uniform(0.3, 3.0)
    gate = np.zeros(n)
    at, i = int(rng.uniform(0.0, 0.5) * sr), 0
    while at < n:
        length = int(beep_s * sr)
        gate[at : at + length] = 1.0
        i += 1
        at += length + int((pause_s if i % group == 0 else gap_s) * sr)
    ramp = max(1, int(0.005 * sr))  # 5 ms edges, no clicks
    gate = np.convolve(gate, np.ones(ramp) / ramp, mode="same")
    wave = np.sin(2 * np.pi * hz * np.arange(n) / sr)
    if rng.uniform() < 0.5:
        wave = np.tanh(4 * wave)  # square-ish, like a piezo buzzer
    return gate * wave + 10 ** (rng.uniform(-60, -45) / 20) * rng.standard_normal(n)


_MAKERS: dict[str, Callable[[np.random.Generator, int, int], np.ndarray]] = {
    "white": _white, "pink": _pink, "brown": _brown, "hum": _hum, "fan": _fan,
    "clatter": _clatter, "rain": _rain, "whistle": _whistle, "beeps": _beeps,
}
NOISE_KINDS = tuple(_MAKERS)


def synth_noise(kind: str, seconds: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """``round(seconds * sr)`` float32 samples of the noise ``kind`` (one of NOISE_KINDS)."""
    if kind not in _MAKERS:
        raise ValueError(f"noise kind {kind!r}: use one of {', '.join(NOISE_KINDS)}")
    n = int(round(seconds * sr))
    if n <= 0:
        return np.zeros(0, np.float32)
    x = np.asarray(_MAKERS[kind](rng, n, sr), dtype=np.float64)
    x *= 10 ** (rng.uniform(*LEVEL_DBFS) / 20) / max(float(np.sqrt(np.mean(x**2))), 1e-12)
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_MAX:  # a loud knock: the clip is quieter rather than clipped
        x *= PEAK_MAX / peak
    return x.astype(np.float32)


@dataclass(frozen=True)
class NonMusicFile:
    path: Path
    category: str  # "speech" or "noise"
    group: str  # cross-validation group: never on both sides of a split
    duration_s: float
    sample_rate_hz: int


def index_nonmusic(folder: str | Path) -> list[NonMusicFile]:
    """The files listed in ``folder/SOURCES.tsv`` that are there and readable (a missing
    or unreadable one is skipped with one warning naming it), in the table's order."""
    root = Path(folder)
    table = root / "SOURCES.tsv"
    try:
        with table.open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
            columns = set(rows[0]) if rows else set()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GenredError(f"non-music table {table}: cannot read ({one_line(exc)})") from None
    group_column = "group" if "group" in columns else "source_repo"
    missing = {"file", "category", group_column} - columns
    if missing:
        raise GenredError(f"non-music table {table}: no column {', '.join(sorted(missing))} "
                          "(needs file, category, and group or source_repo)")
    found = []
    for row in rows:
        path = root / row["file"]
        try:
            info = audio_info(path)
        except GenredError as exc:
            _LOG.warning("non-music: skipping %s", exc)
            continue
        found.append(NonMusicFile(path, row["category"], row[group_column], info.duration_s, info.sample_rate_hz))
    return found
