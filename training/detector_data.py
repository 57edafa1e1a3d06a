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

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genred.dsp.dataset import ARTIST_LIST
from genred.dsp.params import LogMelParams

from .augment import ROOM_SIM_VERSION, RoomParams, simulate_room
from .features import FEATURE_VERSION, audio_frames, file_digest, load_audio, save_npy_atomic

MUSIC, NOT_MUSIC = 1, 0
DETECTOR_CACHE = Path(".cache") / "genred-detector"
# A spoken intro over a beat is music: speech over music down to this far below the
# speech still counts as music. Fainter beds (TV news jingles) are left out of
# training altogether rather than forced to one side.
MIX_MUSIC_RE_SPEECH_DB = (-8.0, 6.0)
MIX_MUSIC_RE_NOISE_DB = (0.0, 20.0)
# Not-music mixes (the "room" recipe): talk over household noise, and two noises at once,
# so a kitchen the detector never heard is nearer to something it did.
MIX_SPEECH_RE_NOISE_DB = (0.0, 15.0)
MIX_NOISE_RE_NOISE_DB = (-10.0, 10.0)


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
    from .cv import NO_ARTIST, read_artists
    from .dataset import index_dataset

    artists = read_artists(data / ARTIST_LIST)
    clips = []
    for t in index_dataset(data).tracks:
        artist = artists.get(t.key)
        if artist is None:
            continue  # not in the dev lists (would be a test track)
        scored = artist != NO_ARTIST
        group = f"gtzan:{t.genre}:{artist}" if scored else f"gtzan:dup:{t.key}"
        clips.append(Clip(f"gtzan/{t.key}", MUSIC, "music", group, path=t.main_path, scored=scored))
    return clips


def nonmusic_clips(folder: Path, weight: float = 1.0, scored: bool = True) -> list[Clip]:
    """A folder with a SOURCES.tsv of speech and noise (../shared/data/nonmusic, make speech,
    make sounds); ``scored`` False: training folds only."""
    from .nonmusic import index_nonmusic

    return [Clip(f"{folder.name}/{f.path.name}", NOT_MUSIC, f.category, f"{f.category}:{f.group}", path=f.path,
                 weight=weight, scored=scored) for f in index_nonmusic(folder)]


def pool_clips(folder: Path, front_end: LogMelParams, seconds_per_clip: float = 30.0) -> list[Clip]:
    """A folder of music (make pool, or a user's library), grouped by its top folder. Each
    file gives one clip of ``seconds_per_clip`` at an offset drawn from its name, so an
    hour-long loop weighs no more than a song (and the features stay small)."""
    from .pool import index_pool

    clips = []
    for f in index_pool(folder):
        spare = max(0.0, f.duration_s - seconds_per_clip)
        offset_s = spare * (int.from_bytes(hashlib.sha1(str(f.path.name).encode()).digest()[:4], "big") / 2**32)
        recipe = f"pool|{file_digest(f.path)}|{offset_s:.3f}|{seconds_per_clip}"
        clips.append(Clip(f"pool/{f.path.relative_to(folder)}", MUSIC, "music", f"pool:{f.source}", weight=f.weight,
                          make=_cropper(f.path, offset_s, seconds_per_clip, front_end), recipe=recipe))
    return clips


def _cropper(path: Path, offset_s: float, seconds: float, fe: LogMelParams):
    def make() -> np.ndarray:
        # Decode only the crop (a pool file can be an hour long), then the device's resampler.
        import soundfile as sf

        from genred.dsp.resample import StreamingResampler, to_mono

        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            f.seek(min(int(offset_s * rate), max(0, f.frames - 1)))
            block = f.read(int(seconds * rate), dtype="float32", always_2d=True)
        resampler = StreamingResampler(rate, fe.sample_rate_hz)
        return np.concatenate((resampler.process(to_mono(block)), resampler.flush()))

    return make


def synth_noise_clips(per_kind: int, seconds: float, sample_rate_hz: int) -> list[Clip]:
    """Seeded household noises (training/nonmusic.py), grouped by kind: a fold scores kinds it never trained on."""
    from .nonmusic import NOISE_KINDS, synth_noise

    def maker(kind: str, seed: int):
        return lambda: synth_noise(kind, seconds, sample_rate_hz, np.random.default_rng(seed))

    return [Clip(f"synth/{kind}/{i}", NOT_MUSIC, "noise", f"synth:{kind}", make=maker(kind, 1000 * k + i),
                 recipe=f"synth|{kind}|{1000 * k + i}|{seconds}")
            for k, kind in enumerate(NOISE_KINDS) for i in range(per_kind)]


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
        save_npy_atomic(cached, frames)
    return frames.astype(np.float32)


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


def make_noise_mixes(others: Sequence[Clip], n: int, seed: int, front_end: LogMelParams,
                     seconds: float = 8.0) -> list[Clip]:
    """Talk in household noise and noise over noise, labelled not music, from the speech and
    noise clips of one fold only (like `make_mixes`)."""
    rng = np.random.default_rng(seed)
    speech = [c for c in others if c.label == NOT_MUSIC and c.category == "speech"]
    noise = [c for c in others if c.label == NOT_MUSIC and c.category == "noise"]
    if not speech or not noise:
        return []
    out = []
    for i in range(n):
        top = speech if rng.uniform() < 0.5 else noise
        a = top[int(rng.integers(len(top)))]
        b = noise[int(rng.integers(len(noise)))]
        lo, hi = MIX_SPEECH_RE_NOISE_DB if a.category == "speech" else MIX_NOISE_RE_NOISE_DB
        ratio_db, offset_s = float(rng.uniform(lo, hi)), float(rng.uniform(0, 5))
        recipe = f"noise-mix|{a.key}|{b.key}|{ratio_db:.3f}|{offset_s:.3f}|{seconds}"
        out.append(Clip(f"noise-mix/{seed}/{i}", NOT_MUSIC, "noise_mix", a.group,
                        make=_mixer(a, b, ratio_db, offset_s, seconds, front_end), recipe=recipe, scored=False))
    return out


def _mixer(top: Clip, bed: Clip, ratio_db: float, offset_s: float, seconds: float, fe: LogMelParams):
    """``top`` (from ``offset_s``) ``ratio_db`` above ``bed`` in rms, peak-normalised."""

    def make() -> np.ndarray:
        n = int(seconds * fe.sample_rate_hz)
        a = _fit(_samples(top, fe), n, int(offset_s * fe.sample_rate_hz))
        b = _fit(_samples(bed, fe), n, 0)
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
