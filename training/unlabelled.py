"""Unlabelled music as train items: a pool's crops, clean and through the room.

The student imitates the teacher on them: their label is `sampler.UNLABELLED`, their target
the teacher's soft labels alone (`teacher.teacher_step` labels them with the genre head it
fits on the labelled tracks). They are the music detector's pool crops
(`detector_data.pool_clips`: one crop per file, at an offset drawn from its name, so an
hour-long loop weighs no more than a song) through the detector's seeded rooms, so the two
trainings share one cache of frames.
"""

from __future__ import annotations

import logging
from pathlib import Path

import soundfile as sf

from genred.dsp.errors import GenredError
from genred.dsp.params import LogMelParams, WindowParams

from .augment import RoomParams
from .dataset import DatasetError, Track
from .sampler import UNLABELLED, TrainItem

_LOG = logging.getLogger(__name__)

POOL_GENRE = "pool"  # the Track genre of a pool item (never one of the labels)


def detector_cache_dir(cache_dir: str | Path | None) -> Path | None:
    """The detector's frame cache beside the feature cache ``cache_dir`` (None: no cache)."""
    from .detector_data import DETECTOR_CACHE

    return None if cache_dir is None else Path(cache_dir).parent / DETECTOR_CACHE.name


def pool_items(folder: str | Path, front_end: LogMelParams, window: WindowParams, room: RoomParams, room_copies: int,
               cache_dir: Path | None, seconds_per_clip: float = 30.0) -> list[TrainItem]:
    """One unlabelled item per audio file under ``folder`` (clean + ``room_copies`` rooms);
    an unreadable file is skipped with a warning, a folder without audio refused."""
    from .detector_data import clip_frames, pool_clips, room_seed

    folder = Path(folder)
    if not folder.is_dir():
        raise DatasetError(f"pool {folder}: not a folder (make pool fills .cache/pool, or give any folder of music)")
    items: list[TrainItem] = []
    for clip in pool_clips(folder, front_end, seconds_per_clip):
        seeds = [None] + [room_seed(clip, i) for i in range(room_copies)]
        try:
            variants = [clip_frames(clip, front_end, room, s, cache_dir) for s in seeds]
        except (GenredError, RuntimeError, ValueError, sf.LibsndfileError) as exc:
            _LOG.warning("pool: skipping %s: %s", clip.key, exc)
            continue
        if variants[0].shape[0] < window.window_frames:
            _LOG.warning("pool: skipping %s: shorter than one window", clip.key)
            continue
        items.append(TrainItem(Track(POOL_GENRE, clip.key), UNLABELLED, "full", variants, clip.weight))
    if not items:
        raise DatasetError(f"pool {folder}: no readable audio file of one window or more")
    _LOG.info("pool %s: %d crops of %.0f s", folder, len(items), seconds_per_clip)
    return items
