"""Features for training, computed with the device's own front-end code.

    read_audio -> to_mono -> StreamingResampler(rate, 16 kHz) process + flush
    (== resample_poly) -> [room simulation, for augmented copies] -> log_mel (batch,
    tested equal to the streaming form) -> cut_windows (a clip shorter than a window
    gives one wrap-padded window, as on the device) -> window_level_db +
    normalise_window

What is cached (per file and variant) is the log-mel frames, float16, under
``<cache dir>/<front-end hash>/``; windows are cut from them when needed, so the
training loop can draw windows at any start frame. The hash covers the front-end
parameters and the feature/room-simulator versions, and each file name a digest of
the audio file's bytes and the variant (clean, or room copy + seed): a copy of the
data set elsewhere, or with new mtimes, still hits the cache.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from genred.dsp.audio import read_audio
from genred.dsp.melspec import log_mel
from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.resample import StreamingResampler, to_mono
from genred.dsp.windows import cut_windows, normalise_window, window_level_db, window_levels_db

from .augment import ROOM_SIM_VERSION, RoomParams, simulate_room

_LOG = logging.getLogger(__name__)

FEATURE_VERSION = 1
DEFAULT_CACHE_DIR = Path(".cache") / "genred-features"


def teacher_cache_dir(cache_dir: str | Path | None) -> Path | None:
    """The teacher's embeddings live beside the feature cache ``cache_dir`` (None: no cache)."""
    return None if cache_dir is None else Path(cache_dir).parent / "genred-teacher"


def save_npy_atomic(path: Path, array: np.ndarray) -> None:
    """A cache entry written whole or not at all: parallel workers may write the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def params_hash(front_end: LogMelParams, room: RoomParams | None = None) -> str:
    """Short hash of everything that decides the cached frames (besides the file)."""
    blob = {
        "feature_version": FEATURE_VERSION,
        "front_end": front_end.to_dict(),
        "room_sim_version": ROOM_SIM_VERSION,
        "room": (room or RoomParams()).to_dict(),
    }
    return hashlib.sha1(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]


def file_digest(path: Path) -> str:
    """SHA-1 of a file's bytes (~1 ms for a 30 s FLAC: far cheaper than its features),
    read once per process while the file's size and mtime stay the same (each file is
    looked up for its clean and every room variant)."""
    st = os.stat(path)
    return _digest(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=8192)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_audio(path: str | Path, front_end: LogMelParams) -> np.ndarray:
    """A file as mono float32 at the front end's rate, resampled as the device does."""
    return load_resampled(path, front_end.sample_rate_hz)


def load_resampled(path: str | Path, rate_hz: int) -> np.ndarray:
    """A file as mono float32 at ``rate_hz``, through the device's own resampler."""
    block, rate = read_audio(path)
    resampler = StreamingResampler(rate, rate_hz)
    out = resampler.process(to_mono(block))
    tail = resampler.flush()
    return np.concatenate((out, tail)) if tail.size else out


def audio_frames(samples: np.ndarray, front_end: LogMelParams) -> np.ndarray:
    return log_mel(samples, front_end)


@dataclass(frozen=True)
class WindowSet:
    """Normalised model inputs of one clip, in stream order."""

    x: np.ndarray  # (n, window_frames, n_mels) float32
    level_db: np.ndarray  # (n,) window levels, dB re a full-scale 1 kHz sine
    start_frame: np.ndarray  # (n,) int
    padded: np.ndarray  # (n,) bool


def windows_from_frames(
    frames: np.ndarray, front_end: LogMelParams, window: WindowParams, hop_frames: int | None = None
) -> WindowSet:
    """`cut_windows` + `window_level_db` + `normalise_window`: the device's rules."""
    frames = np.asarray(frames, dtype=np.float32)
    ws = cut_windows(frames, window, hop_frames)
    n = len(ws)
    x = np.empty((n, window.window_frames, front_end.n_mels), dtype=np.float32)
    levels = np.empty(n, dtype=np.float64)
    for i, w in enumerate(ws):
        levels[i] = window_level_db(w.frames, front_end)
        x[i] = normalise_window(w.frames, levels[i], front_end, window)
    return WindowSet(
        x, levels, np.array([w.start_frame for w in ws], dtype=np.int64), np.array([w.padded for w in ws], dtype=bool)
    )


def normalise_batch(raw: np.ndarray, front_end: LogMelParams, window: WindowParams) -> tuple[np.ndarray, np.ndarray]:
    """(normalised windows, levels) of (n, frames, mels) windows of log-mel dB, by the
    device's own functions (vectorised over the batch)."""
    raw = np.asarray(raw, dtype=np.float32)
    level = window_levels_db(raw, front_end)
    return normalise_window(raw, level, front_end, window), level


# The defaults (frozen records: one shared instance each is safe).
_DEFAULT_FRONT_END = LogMelParams()
_DEFAULT_ROOM = RoomParams()


class FeatureExtractor:
    """Log-mel frames of a file, clean or through a seeded simulated room, cached."""

    def __init__(
        self,
        front_end: LogMelParams = _DEFAULT_FRONT_END,
        cache_dir: str | Path | None = DEFAULT_CACHE_DIR,
        room: RoomParams = _DEFAULT_ROOM,
        exact: bool = False,
    ) -> None:
        self.front_end = front_end
        self.room = room
        # exact: cache float32, so scores computed on these frames are what `genred
        # evaluate` computes; else float16 (half the disk, for the many train variants).
        self.exact = bool(exact)
        self.hash = params_hash(front_end, room)
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / self.hash

    def cache_path(self, path: Path, room_seed: int | None) -> Path | None:
        if self.cache_dir is None:
            return None
        p = Path(path)
        ident = f"{file_digest(p)}|{'clean' if room_seed is None else room_seed}"
        digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
        variant = ("clean" if room_seed is None else "room") + ("__f32" if self.exact else "")
        return self.cache_dir / f"{p.parent.name}__{p.stem}__{variant}__{digest}.npy"

    def compute(self, path: Path, room_seed: int | None = None) -> np.ndarray:
        samples = load_audio(path, self.front_end)
        if room_seed is not None:
            rng = np.random.default_rng(room_seed)
            samples, _ = simulate_room(samples, self.front_end.sample_rate_hz, rng, self.room)
        return audio_frames(samples, self.front_end)

    def frames(self, path: str | Path, room_seed: int | None = None) -> np.ndarray:
        """(n_frames, n_mels) float32 log-mel dB; read from / written to the cache.

        With a cache, a miss returns what it stores (float16-rounded), as a hit would:
        a cold run and a warm run train on the same numbers.
        Raises genred.dsp.errors.AudioError for an unreadable file."""
        path = Path(path)
        cached = self.cache_path(path, room_seed)
        if cached is not None and cached.is_file():
            try:
                return np.load(cached).astype(np.float32)
            except (OSError, ValueError):
                _LOG.info("cache entry %s unreadable; recomputing", cached)
        frames = self.compute(path, room_seed)
        if cached is not None:
            stored = frames.astype(np.float32 if self.exact else np.float16)
            save_npy_atomic(cached, stored)
            frames = stored.astype(np.float32)
        return frames

    def frames_many(self, jobs: list[tuple[Path, int | None]], workers: int = 1) -> list[np.ndarray | Exception]:
        """`frames` for many (path, room_seed) jobs; an AudioError is returned in place.

        Jobs missing from the cache run on ``workers`` processes (spawned, so that a
        parent that imported TensorFlow is not forked)."""
        results: list[np.ndarray | Exception | None] = [None] * len(jobs)
        todo: list[int] = []
        for i, (path, seed) in enumerate(jobs):
            cached = self.cache_path(path, seed)
            if cached is not None and cached.is_file():
                try:
                    results[i] = np.load(cached).astype(np.float32)
                    continue
                except (OSError, ValueError):
                    pass
            todo.append(i)
        if todo:
            _LOG.info("computing features of %d file variants (%d cached)", len(todo), len(jobs) - len(todo))
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
                futs = {
                    i: pool.submit(_frames_job, self.front_end, self.room,
                                   None if self.cache_dir is None else str(self.cache_dir.parent), jobs[i], self.exact)
                    for i in todo
                }
                for i, fut in futs.items():
                    results[i] = fut.result()
        else:
            for i in todo:
                results[i] = _frames_or_error(self, jobs[i])
        return results  # type: ignore[return-value]


def _frames_or_error(ex: FeatureExtractor, job: tuple[Path, int | None]) -> np.ndarray | Exception:
    from genred.dsp.errors import AudioError

    try:
        return ex.frames(job[0], job[1])
    except AudioError as exc:
        return exc


def _frames_job(front_end: LogMelParams, room: RoomParams, cache_root: str | None, job: tuple[Path, int | None],
                exact: bool = False):
    return _frames_or_error(FeatureExtractor(front_end, cache_root, room, exact), job)
