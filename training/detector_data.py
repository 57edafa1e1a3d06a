"""The music / not-music corpus: what the detector learns from and is scored on.

Every clip is a piece of audio at the front end's rate with a label (music 1, not
music 0), a category (music, speech, noise, mix) and a group: the recording session
it came from (a GTZAN artist, a speech corpus, a TTS voice, a game soundtrack, a kind
of synthetic noise). Cross-validation folds are drawn over groups, so no session is on
both sides; mixes are made inside one fold only (both of their parts come from it).

Frames are the device's own log-mel (`features.audio_frames`), clean and through the
seeded room simulator, cached under ``.cache/genred-detector/`` by what decides them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genred.dsp.errors import AudioError
from genred.dsp.params import LogMelParams

from .augment import ROOM_SIM_VERSION, RoomParams, simulate_room
from .features import FEATURE_VERSION, audio_frames, file_digest, load_audio

_LOG = logging.getLogger(__name__)

MUSIC, NOT_MUSIC = 1, 0
DETECTOR_CACHE = Path(".cache") / "genred-detector"
# A spoken intro over a beat is music: speech over music down to this far below the
# speech still counts as music. Fainter beds (TV news jingles) are left out of
# training altogether rather than forced to one side.
MIX_MUSIC_RE_SPEECH_DB = (-8.0, 6.0)
MIX_MUSIC_RE_NOISE_DB = (0.0, 20.0)


@dataclass(frozen=True)
class Clip:
    key: str  # unique, stable (used in cache keys and fold lists)
    label: int  # MUSIC or NOT_MUSIC
    category: str  # "music" | "speech" | "noise" | "mix"
    group: str  # the recording session: never on both sides of a fold
    path: Path | None = None  # a file, or None for a synthetic clip
    make: Callable[[], np.ndarray] | None = None  # samples at the front end's rate, if synthetic
    recipe: str = ""  # what `make` does, for the cache key
    scored: bool = True  # False: training folds only (GTZAN's duplicates/distortions)
    weight: float = 1.0


def gtzan_clips(data: Path) -> list[Clip]:
    """Every train + valid GTZAN track (its longest audio), grouped by artist."""
    from .dataset import index_dataset

    artists = read_artists(data / "artists.tsv")
    clips = []
    for t in index_dataset(data).tracks:
        artist = artists.get(t.key)
        if artist is None:
            continue  # not in the dev lists (would be a test track)
        scored = artist != "-"
        group = f"gtzan:{t.genre}:{artist}" if scored else f"gtzan:dup:{t.key}"
        clips.append(Clip(f"gtzan/{t.key}", MUSIC, "music", group, path=t.main_path, scored=scored))
    return clips


def read_artists(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, artist = line.split("\t")[:2]
            out[key.strip()] = artist.strip()
    return out


def tsv_clips(folder: Path, tsv: str, group_column: str, category_of: Callable[[dict[str, str]], str]) -> list[Clip]:
    """Files listed in a folder's TSV (first column the file name), grouped by a column."""
    clips = []
    with open(folder / tsv, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            name = row[next(iter(row))]
            path = folder / name
            if not path.is_file():
                continue
            category = category_of(row)
            label = MUSIC if category == "music" else NOT_MUSIC
            clips.append(Clip(f"{folder.name}/{name}", label, category, f"{category}:{row[group_column]}", path=path))
    return clips


def nonmusic_clips(folder: Path) -> list[Clip]:
    """../shared/data/nonmusic: real speech and household sound, grouped by source."""
    return tsv_clips(folder, "SOURCES.tsv", "source_repo", lambda row: row["category"])


def frames_cache_key(front_end: LogMelParams, room: RoomParams, clip: Clip, room_seed: int | None) -> str:
    ident = clip.recipe if clip.path is None else file_digest(clip.path)
    blob = json.dumps([FEATURE_VERSION, ROOM_SIM_VERSION, front_end.to_dict(), room.to_dict(), ident, room_seed])
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def clip_frames(clip: Clip, front_end: LogMelParams, room: RoomParams, room_seed: int | None,
                cache_dir: Path | None = DETECTOR_CACHE) -> np.ndarray:
    """(frames, mels) float32 log-mel of a clip, clean or through a seeded room (cached, float16)."""
    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"{frames_cache_key(front_end, room, clip, room_seed)}.npy"
        if cached.is_file():
            return np.load(cached).astype(np.float32)
    samples = load_audio(clip.path, front_end) if clip.path is not None else clip.make()
    if room_seed is not None:
        samples, _ = simulate_room(samples, front_end.sample_rate_hz, np.random.default_rng(room_seed), room)
    frames = audio_frames(np.asarray(samples, dtype=np.float32), front_end).astype(np.float16)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, frames)
        os.replace(tmp, cached)
    return frames.astype(np.float32)


def frames_or_none(clip: Clip, front_end: LogMelParams, room: RoomParams, room_seed: int | None,
                   cache_dir: Path | None) -> np.ndarray | None:
    try:
        return clip_frames(clip, front_end, room, room_seed, cache_dir)
    except AudioError as exc:
        _LOG.warning("skipping %s: %s", clip.key, exc)
        return None


def room_seed(clip: Clip, i: int) -> int:
    return int.from_bytes(hashlib.sha1(f"detector-room|{clip.key}|{i}".encode()).digest()[:8], "big") >> 1


def make_mixes(music: Sequence[Clip], others: Sequence[Clip], n: int, seed: int, front_end: LogMelParams,
               seconds: float = 8.0) -> list[Clip]:
    """Music under talk and music in household noise, labelled music: built from clips of
    one fold only (the caller passes that fold's clips), so a mix never leaks a session."""
    rng = np.random.default_rng(seed)
    music = [c for c in music if c.label == MUSIC]
    if not music or not others:
        return []
    out = []
    for i in range(n):
        m = music[int(rng.integers(len(music)))]
        o = others[int(rng.integers(len(others)))]
        lo, hi = MIX_MUSIC_RE_SPEECH_DB if o.category == "speech" else MIX_MUSIC_RE_NOISE_DB
        ratio_db = float(rng.uniform(lo, hi))
        offset_s = float(rng.uniform(0, 20))
        recipe = f"mix|{m.key}|{o.key}|{ratio_db:.3f}|{offset_s:.3f}|{seconds}"
        out.append(Clip(f"mix/{seed}/{i}", MUSIC, "mix", m.group, make=_mixer(m, o, ratio_db, offset_s, seconds, front_end),
                        recipe=recipe, scored=m.scored))
    return out


def _mixer(music: Clip, other: Clip, ratio_db: float, offset_s: float, seconds: float, fe: LogMelParams):
    def make() -> np.ndarray:
        n = int(seconds * fe.sample_rate_hz)
        a = _fit(_samples(music, fe), n, int(offset_s * fe.sample_rate_hz))
        b = _fit(_samples(other, fe), n, 0)
        ra, rb = _rms(a), _rms(b)
        if ra > 0 and rb > 0:
            a = a * (rb / ra) * 10 ** (ratio_db / 20)
        y = a + b
        peak = float(np.max(np.abs(y))) or 1.0
        return (0.5 * y / peak).astype(np.float32)

    return make


def _samples(clip: Clip, fe: LogMelParams) -> np.ndarray:
    return load_audio(clip.path, fe) if clip.path is not None else clip.make()


def _fit(x: np.ndarray, n: int, offset: int) -> np.ndarray:
    """``n`` samples of ``x`` from ``offset`` (wrapping round a short clip)."""
    if x.size == 0:
        return np.zeros(n, dtype=np.float32)
    idx = (offset + np.arange(n)) % x.size
    return x[idx].astype(np.float32)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
