"""Cross-validation of the music detector, and the scores that decide it.

A fold trains on the other folds' clips (and mixes made from them), exports int8, and
scores its own clips at the device's hop, clean and through a room copy no training
clip was made with. What a fold keeps per clip (window P(music), level, the shipped
genre model's probabilities) lets the smoothing be tuned afterwards without
retraining: `stream_scores` replays each clip as its own stream through the daemon's
`Smoother`, which is what the sensor publishes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.smoothed_state import STATUS_NO_MUSIC, STATUS_SILENCE
from genred.dsp.smoother_params import SILENCE_DB, SmootherParams
from genred.dsp.smoothing import Smoother

from .detector import DetectorConfig, Item, export_int8, load_detector, representative, save, train_detector
from .detector_data import MUSIC, Clip, clip_frames, make_mixes, make_noise_mixes, room_seed
from .features import windows_from_frames

_LOG = logging.getLogger(__name__)

TEST_ROOM = 9  # the room copy scored: never one a training clip was made with (0 .. room_copies-1)
MIXES_PER_FOLD = 150


@dataclass(frozen=True)
class ClipScore:
    """One scored clip variant: every window at the device's hop."""

    key: str
    category: str
    label: int
    variant: str  # "clean" | "room"
    p_music: np.ndarray  # (n,) raw P(music) of each window
    level_db: np.ndarray  # (n,)
    genre_probs: np.ndarray  # (n, genres) of the genre model, for the smoother
    hop_s: float


def items_for(clips: Sequence[Clip], cfg: DetectorConfig, fe: LogMelParams, room, cache_dir) -> list[Item]:
    out = []
    for c in clips:
        try:
            variants = [clip_frames(c, fe, room, None, cache_dir)]
            variants += [clip_frames(c, fe, room, room_seed(c, i), cache_dir) for i in range(cfg.room_copies)]
        except Exception as exc:  # an unreadable clip is skipped and named
            _LOG.warning("skipping %s: %s", c.key, exc)
            continue
        out.append(Item(c, tuple(variants)))
    return out


def fold_mixes(clips: Sequence[Clip], fold_seed: int, fe: LogMelParams, n: int = MIXES_PER_FOLD) -> list[Clip]:
    music = [c for c in clips if c.category == "music"]
    others = [c for c in clips if c.category in ("speech", "noise")]
    return make_mixes(music, others, n, fold_seed, fe)


def training_mixes(clips: Sequence[Clip], cfg: DetectorConfig, fold_seed: int, fe: LogMelParams, n: int) -> list[Clip]:
    """What is trained on besides the clips: music under talk/noise, and (when the recipe
    draws on them) talk in noise / noise over noise; all from ``clips``, one fold's."""
    out = fold_mixes(clips, fold_seed, fe, n)
    if cfg.noise_mix_share > 0:
        out += make_noise_mixes(clips, n, fold_seed, fe)
    return out


def score_clips(detector, clips: Sequence[Clip], genre, fe: LogMelParams, window: WindowParams, room, cache_dir,
                hop_frames: int) -> list[ClipScore]:
    """Every window of each clip, clean and through the test room, through the int8 detector
    (`load_detector`) and the genre classifier (``genre``: a TfliteClassifier, or None for zeros)."""
    hop_s = hop_frames * fe.hop_length / fe.sample_rate_hz
    out = []
    for c in clips:
        for variant, seed in (("clean", None), ("room", room_seed(c, TEST_ROOM))):
            try:
                frames = clip_frames(c, fe, room, seed, cache_dir)
            except Exception as exc:
                _LOG.warning("skipping %s: %s", c.key, exc)
                break
            ws = windows_from_frames(frames, fe, window, hop_frames)
            p = np.array([detector.run(x)[1] for x in ws.x], dtype=np.float32)
            g = np.stack([genre.predict(x) for x in ws.x]) if genre is not None else np.zeros((len(ws.x), 10), np.float32)
            out.append(ClipScore(c.key, c.category, c.label, variant, p, ws.level_db.astype(np.float32), g, hop_s))
    return out


def run_fold(train_clips: Sequence[Clip], test_clips: Sequence[Clip], fold_seed: int, cfg: DetectorConfig, fe, window, room,
             cache_dir, genre, hop_frames: int, tflite_path: Path,
             mixes: int = MIXES_PER_FOLD) -> tuple[list[ClipScore], list[dict[str, Any]]]:
    train_all = list(train_clips) + training_mixes(train_clips, cfg, fold_seed * 2 + 1, fe, 3 * mixes)
    test_all = list(test_clips) + fold_mixes(test_clips, fold_seed * 2 + 2, fe, mixes)
    items = items_for(train_all, cfg, fe, room, cache_dir)
    model, history = train_detector(items, cfg, fe, window)
    tflite, spec_in, spec_out = export_int8(model, representative(items, cfg, fe, window))
    save(tflite_path, tflite)
    detector = load_detector(tflite_path, spec_in, spec_out)
    return score_clips(detector, test_all, genre, fe, window, room, cache_dir, hop_frames), history


def save_scores(path: Path, scores: Sequence[ClipScore]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    meta = []
    for i, s in enumerate(scores):
        arrays[f"p{i}"], arrays[f"l{i}"], arrays[f"g{i}"] = s.p_music, s.level_db, s.genre_probs.astype(np.float16)
        meta.append({"key": s.key, "category": s.category, "label": s.label, "variant": s.variant, "hop_s": s.hop_s})
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez_compressed(path, **arrays)


def load_scores(path: Path) -> list[ClipScore]:
    z = np.load(path)
    meta = json.loads(str(z["meta"]))
    return [ClipScore(m["key"], m["category"], m["label"], m["variant"], z[f"p{i}"], z[f"l{i}"],
                      z[f"g{i}"].astype(np.float32), m["hop_s"]) for i, m in enumerate(meta)]


def window_scores(scores: Sequence[ClipScore], threshold: float = 0.5, silence_db: float = SILENCE_DB) -> dict[str, float]:
    """Raw (unsmoothed) window errors, silence-gated windows left out."""
    out = {}
    for label, name in ((MUSIC, "music"), (0, "not_music")):
        p = np.concatenate([s.p_music[s.level_db >= silence_db] for s in scores if s.label == label] or [np.zeros(0)])
        wrong = p < threshold if label == MUSIC else p >= threshold
        out[f"{name}_windows"] = int(p.size)
        out[f"{name}_window_error"] = float(wrong.mean()) if p.size else float("nan")
    return out


def stream_scores(scores: Sequence[ClipScore], params: SmootherParams, labels: Sequence[str]) -> dict[str, Any]:
    """Each clip as its own stream through the Smoother: the share of not-music windows
    that publish a genre, and of music windows that publish no_music (silence windows,
    which the level gate decides, are counted apart)."""
    counts = {"not_music": [0, 0], "music": [0, 0]}  # [windows not silent, wrong]
    per_category: dict[str, list[int]] = {}
    for s in scores:
        sm = Smoother(labels, params)
        name = "music" if s.label == MUSIC else "not_music"
        for i in range(len(s.p_music)):
            st = sm.process(s.genre_probs[i], float(s.level_db[i]), (i + 1) * s.hop_s, music_probability=float(s.p_music[i]))
            if st.status == STATUS_SILENCE:
                continue
            wrong = (st.status == STATUS_NO_MUSIC) if s.label == MUSIC else (st.genre is not None)
            counts[name][0] += 1
            counts[name][1] += int(wrong)
            source = source_of(s.key)
            for name_ in (f"{s.variant}/{s.category}", f"{s.variant}/from:{source}", f"{s.variant}/{s.category}/from:{source}"):
                cat = per_category.setdefault(name_, [0, 0])
                cat[0] += 1
                cat[1] += int(wrong)
    return {
        "not_music_publishing_genre": counts["not_music"][1] / max(1, counts["not_music"][0]),
        "music_publishing_no_music": counts["music"][1] / max(1, counts["music"][0]),
        "windows": {k: v[0] for k, v in counts.items()},
        "per_category": {k: {"windows": v[0], "wrong": v[1] / max(1, v[0])} for k, v in sorted(per_category.items())},
    }


def source_of(key: str) -> str:
    """What a score is broken down by: a GTZAN genre, else the corpus (pool, nonmusic, synth, mix, speech...)."""
    parts = key.split("/")
    return f"gtzan:{parts[1]}" if parts[0] == "gtzan" and len(parts) > 2 else parts[0]


def concat_stream_scores(scores: Sequence[ClipScore], params: SmootherParams, labels: Sequence[str], seed: int = 1,
                         min_s: float = 10.0) -> dict[str, Any]:
    """The clips (of at least ``min_s``) of one variant played back to back in a seeded order,
    one stream, as a day in a living room goes: TV, then a song, then talk. Every window
    counts, including those right after a change, so this shows what the holds cost; the
    latency is from a clip's start to the first window whose state is right for it."""
    long = [s for s in scores if len(s.p_music) * s.hop_s >= min_s]
    order = np.random.default_rng(seed).permutation(len(long))
    sm = Smoother(labels, params)
    t, wrong, total, latencies = 0.0, {0: 0, 1: 0}, {0: 0, 1: 0}, {0: [], 1: []}
    for j in order:
        s = long[int(j)]
        start, right_at = t, None
        for i in range(len(s.p_music)):
            t += s.hop_s
            st = sm.process(s.genre_probs[i], float(s.level_db[i]), t, music_probability=float(s.p_music[i]))
            if st.status == STATUS_SILENCE:
                continue
            bad = (st.status == STATUS_NO_MUSIC) if s.label == MUSIC else (st.genre is not None)
            total[s.label] += 1
            wrong[s.label] += int(bad)
            if not bad and right_at is None:
                right_at = t - start
        latencies[s.label].append(right_at if right_at is not None else float("inf"))
    return {
        "clips": len(long),
        "not_music_publishing_genre": wrong[0] / max(1, total[0]),
        "music_publishing_no_music": wrong[1] / max(1, total[1]),
        "median_latency_s": {"to_no_music": float(np.median(latencies[0])) if latencies[0] else None,
                             "to_music": float(np.median(latencies[1])) if latencies[1] else None},
    }
