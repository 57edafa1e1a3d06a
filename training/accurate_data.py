"""The accurate bundle's data: every dev track (train + valid lists), its features and
MSD_musicnn's pooled features of its windows, cached.

Two kinds of windows: the head learns from each track's clean windows on the teacher's
grid (every 31 frames, as `teacher_probe` and the students' teacher do); tracks are
scored on every window at the device's hop, clean and through the simulated room
(float32 features: what `genred evaluate` computes).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genred.dsp.params import LogMelParams, WindowParams

from .augment import RoomParams
from .steps import build_eval_set, build_items
from .cv import CvPlan, dev_plan
from .features import FeatureExtractor, teacher_cache_dir
from .teacher import EMBEDDING_DIM, GRID_HOP_FRAMES, Teacher, typical_offset_db
from .train import EvalSet

_LOG = logging.getLogger(__name__)

@dataclass(frozen=True)
class DevData:
    labels: tuple[str, ...]
    plan: CvPlan
    keys: tuple[str, ...]  # track key of each head-fitting track (readable ones, index order of `grid_track`)
    labels_of: np.ndarray  # (n_tracks,) label index per key
    offset_db: float
    clean: EvalSet  # every window at the device's hop, all readable dev tracks
    room: EvalSet  # the same tracks through the seeded room


@dataclass(frozen=True)
class Embeddings:
    grid: np.ndarray  # (n, 1506) clean windows on the teacher's grid
    grid_track: np.ndarray  # (n,) index into DevData.keys
    clean: np.ndarray  # (len(clean.x), 1506)
    room: np.ndarray


def load_dev(data: Path, cache_dir: Path | None, folds: int, seed: int, workers: int,
             front_end: LogMelParams, window: WindowParams) -> tuple[DevData, list]:
    """Features of every dev track and the CV plan over them; also returns the items
    (clean frames per track) the grid windows are cut from."""
    index, tracks, plan = dev_plan(data, folds, seed)
    labels = index.labels
    ex = FeatureExtractor(front_end, cache_dir, RoomParams())
    items, failed = build_items(tracks, labels, ex, window, 0, workers)
    for path, why in failed:
        _LOG.warning("skipped %s: %s", path, why)
    ex_eval = FeatureExtractor(front_end, cache_dir, RoomParams(), exact=True)
    clean, _ = build_eval_set("dev", tracks, labels, ex_eval, front_end, window, False, workers)
    room, _ = build_eval_set("dev_room", tracks, labels, ex_eval, front_end, window, True, workers)
    # One level for every fold: a label-free statistic of all dev audio, so that the
    # folds share one graph and one embedding cache.
    offset = typical_offset_db([it.variants[0] for it in items], front_end, window)
    dev = DevData(labels, plan, tuple(it.track.key for it in items), np.array([it.label for it in items]),
                  offset, clean, room)
    return dev, items


def teacher_for(dev: DevData, cache_dir: Path | None, front_end: LogMelParams, window: WindowParams) -> Teacher:
    return Teacher(front_end, window, dev.offset_db, teacher_cache_dir(cache_dir),
                   batch=16)  # ~1 GB of activations: the machine is shared


def embed_dev(dev: DevData, items: list, teacher: Teacher) -> Embeddings:
    """MSD_musicnn's pooled features of every window the builder needs (cached)."""
    t0 = time.perf_counter()
    grid = [teacher.embed_frames(it.variants[0], GRID_HOP_FRAMES, f"{it.track.genre}__{it.track.stem}__v0")
            for it in items]
    _LOG.info("teacher: %d grid windows of %d tracks (%.0f s)", sum(map(len, grid)), len(grid), time.perf_counter() - t0)
    clean = teacher.embed_cached(dev.clean.x, "dev_clean")
    room = teacher.embed_cached(dev.room.x, "dev_room")
    _LOG.info("teacher: %d + %d scored windows (%.0f s in all)", len(clean), len(room), time.perf_counter() - t0)
    track = np.concatenate([np.full(len(g), i) for i, g in enumerate(grid)])
    return Embeddings(np.concatenate(grid), track, clean, room)


HEAD_FEATURES = ("pooled", "pooled+tags")
N_TAGS = 50  # MSD_musicnn's tag logits, after the pooled features when the head reads them


def head_inputs(emb: Embeddings, features: str) -> Embeddings:
    """What the head reads: the pooled features, or those and MSD_musicnn's 50 tag logits
    after them (computed from the pooled features: no new teacher run)."""
    if features == "pooled":
        return emb
    if features != "pooled+tags":
        raise ValueError(f"head features must be one of {', '.join(HEAD_FEATURES)}, not {features!r}")
    from .musicnn import checkpoint_dir, read_weights, tags_from_pooled

    w = read_weights(checkpoint_dir())

    def add(e: np.ndarray) -> np.ndarray:
        return np.hstack([e, tags_from_pooled(e, w)])

    return Embeddings(add(emb.grid), emb.grid_track, add(emb.clean), add(emb.room))


def feature_weights(features: str, tag_weight: float) -> np.ndarray | None:
    """`fit_head`'s feature weights: the tags count ``tag_weight`` times (a prior toward
    the teacher's own genre tags where GTZAN's examples are few)."""
    if features == "pooled" or tag_weight == 1.0:
        return None
    return np.r_[np.ones(EMBEDDING_DIM), np.full(N_TAGS, tag_weight)]
