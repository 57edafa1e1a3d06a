"""The detector's runs: the corpus, its folds, `cv`, `summary` and `build` (see detector_cli)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.bundle import ModelMetadata, load_metadata, write_metadata
from genred.dsp.smoothing import SmootherParams

from .augment import RoomParams
from .cv import grouped_folds
from .detector import LABELS, DetectorConfig, export_int8, representative, save, train_detector
from .detector_data import Clip, gtzan_clips, nonmusic_clips
from .detector_eval import fold_mixes, items_for, load_scores, run_fold, save_scores, stream_scores, window_scores

_LOG = logging.getLogger(__name__)


def corpus(args) -> list[Clip]:
    clips = gtzan_clips(args.data) + nonmusic_clips(args.nonmusic)
    if args.speech is not None:
        from .detector_data import tsv_clips

        clips += tsv_clips(args.speech, "SOURCES.tsv", "group", lambda row: "speech")
    if args.pool is not None:
        from .pool import index_pool

        clips += [Clip(f"pool/{f.path.relative_to(args.pool)}", 1, "music", f"pool:{f.source}", path=f.path, weight=f.weight)
                  for f in index_pool(args.pool)]
    if args.synth_noise:
        from .nonmusic import NOISE_KINDS, synth_noise

        fe = _front_end(args)
        for kind in NOISE_KINDS:
            for i in range(args.synth_noise):
                seed = 1000 * NOISE_KINDS.index(kind) + i
                clips.append(Clip(f"synth/{kind}/{i}", 0, "noise", f"synth:{kind}", recipe=f"synth|{kind}|{seed}|10",
                                  make=_noise_maker(synth_noise, kind, seed, fe.sample_rate_hz)))
    _LOG.info("corpus: %d clips (%s)", len(clips), ", ".join(
        f"{c} {sum(1 for x in clips if x.category == c)}" for c in ("music", "speech", "noise")))
    return clips


def _noise_maker(fn, kind: str, seed: int, sr: int):
    return lambda: fn(kind, 10.0, sr, np.random.default_rng(seed))


def _front_end(args):
    return _genre_bundle(args).metadata.front_end


def _genre_bundle(args):
    from genred.daemon import DEFAULT_MODEL

    return load_metadata(args.genre_model or DEFAULT_MODEL)


def folds(clips: list[Clip], k: int, seed: int):
    return grouped_folds([c.key for c in clips], [c.group for c in clips], [c.category for c in clips], k, seed,
                         [c.scored for c in clips])


def config(args) -> DetectorConfig:
    d = DetectorConfig(seed=args.seed)
    return dataclasses.replace(d, epochs=args.epochs or d.epochs, steps_per_epoch=args.steps or d.steps_per_epoch)


def run(args) -> None:
    {"cv": run_cv, "summary": run_summary, "build": run_build}[args.command](args)


def run_cv(args) -> None:
    from genred.dsp.classifier import TfliteClassifier

    bundle = _genre_bundle(args)
    meta = bundle.metadata
    genre = TfliteClassifier(bundle)
    clips = corpus(args)
    by_key = {c.key: c for c in clips}
    plan = folds(clips, args.folds, args.seed)
    cfg = config(args)
    todo = range(args.folds) if args.fold is None else [args.fold]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "folds.json").write_text(json.dumps([{"train": f.train, "test": f.test} for f in plan]) + "\n")
    for f in todo:
        fold = plan[f]
        _LOG.info("fold %d: %d train clips, %d test clips", f, len(fold.train), len(fold.test))
        scores, history = run_fold([by_key[k] for k in fold.train], [by_key[k] for k in fold.test], args.seed * 100 + f, cfg,
                                   meta.front_end, meta.window, RoomParams(), args.cache, genre, meta.window.hop_frames)
        save_scores(args.out / f"fold{f}.npz", scores)
        (args.out / f"fold{f}.json").write_text(json.dumps({"config": cfg.to_dict(), "history": history,
                                                            "window": window_scores(scores)}, indent=1) + "\n")
        _LOG.info("fold %d: %s", f, window_scores(scores))


def run_summary(args) -> dict[str, Any]:
    meta = _genre_bundle(args).metadata
    params = SmootherParams.from_dict(meta.smoothing) if meta.smoothing else SmootherParams()
    rows = []
    for path in sorted(args.out.glob("fold*.npz")):
        scores = load_scores(path)
        row = {"fold": path.stem}
        for variant in ("clean", "room"):
            part = [s for s in scores if s.variant == variant]
            row[variant] = {**window_scores(part), **stream_scores(part, params, meta.labels)}
        rows.append(row)
    summary = {"smoothing": params.to_dict(), "folds": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    for r in rows:
        for v in ("clean", "room"):
            s = r[v]
            print(f"{r['fold']} {v:5s}: not-music publishing a genre {s['not_music_publishing_genre']:.3f}, "
                  f"music publishing no_music {s['music_publishing_no_music']:.3f} | raw window error "
                  f"music {s['music_window_error']:.3f} not-music {s['not_music_window_error']:.3f}")
    return summary


def run_build(args) -> None:
    """Train on every clip (mixes from all of them) and declare the detector in the bundle."""
    bundle = _genre_bundle(argparse_with(args, genre_model=args.out))
    meta = bundle.metadata
    clips = corpus(args)
    clips += fold_mixes(clips, args.seed * 2 + 1, meta.front_end, 4 * 150)
    cfg = config(args)
    items = items_for(clips, cfg, meta.front_end, RoomParams(), args.cache)
    model, history = train_detector(items, cfg, meta.front_end, meta.window)
    tflite, spec_in, spec_out = export_int8(model, representative(items, cfg, meta.front_end, meta.window))
    save(args.out / "music.tflite", tflite)
    detector = {
        "file": "music.tflite", "labels": list(LABELS), "input": spec_in.to_dict(), "output": spec_out.to_dict(),
        "output_activation": "logits", "temperature": 1.0,
        "metrics": {"training": {"config": cfg.to_dict(), "clips": len(items), "final_loss": history[-1]["loss"]}},
    }
    data = meta.to_dict()
    data["music_detector"] = detector
    write_metadata(ModelMetadata.from_dict(data), bundle.metadata_path)
    _LOG.info("wrote %s (%d bytes) and declared it in %s", args.out / "music.tflite", len(tflite), bundle.metadata_path)


def argparse_with(args, **changes):
    ns = dict(vars(args))
    ns.update(changes)
    return type(args)(**ns)

