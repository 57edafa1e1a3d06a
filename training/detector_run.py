"""The detector's runs: the corpus, its folds, `cv`, `summary` and `build` (see detector_cli)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import msgspec

from genred.dsp.bundle import ModelMetadata, load_metadata, write_metadata
from genred.dsp.smoother_params import SmootherParams

from .augment import RoomParams
from .cv import grouped_folds
from .detector import LABELS, RECIPES, DetectorConfig, export_int8, representative, save, train_detector
from .detector_cli import build_command
from .detector_data import Clip, gtzan_clips, nonmusic_clips, pool_clips, synth_noise_clips
from .detector_eval import (
    concat_stream_scores,
    items_for,
    load_scores,
    run_fold,
    save_scores,
    stream_scores,
    training_mixes,
    window_scores,
)
from .smoothing_fit import parse_settings

_LOG = logging.getLogger(__name__)


REAL_WEIGHT = 3.0
# The shipped bundle, found by the repository layout (training never imports the daemon package).
SHIPPED_MODEL = Path(__file__).resolve().parents[1] / "daemon" / "models" / "default" / "model.tflite"


def corpus(args) -> list[Clip]:
    # Real recordings weigh three synthetic ones: the synthetic voices and noises are many
    # but robotic, and it is real talk that the sensor must not call music.
    clips = gtzan_clips(args.data) + nonmusic_clips(args.nonmusic, weight=REAL_WEIGHT)
    if args.speech is not None:
        clips += nonmusic_clips(args.speech)
    if args.pool is not None:
        clips += pool_clips(args.pool, _front_end(args))
    if args.sounds is not None:
        # Training folds only, so a CV with them scores the same clips as one without.
        clips += nonmusic_clips(args.sounds, scored=False)
    if args.synth_noise:
        clips += synth_noise_clips(args.synth_noise, 10.0, _front_end(args).sample_rate_hz)
    _LOG.info("corpus: %d clips (%s)", len(clips), ", ".join(
        f"{c} {sum(1 for x in clips if x.category == c)}" for c in ("music", "speech", "noise")))
    return clips


def _front_end(args):
    return _genre_bundle(args).metadata.front_end


def _genre_bundle(args):
    return load_metadata(args.genre_model or SHIPPED_MODEL)


def folds(clips: list[Clip], k: int, seed: int):
    return grouped_folds([c.key for c in clips], [c.group for c in clips], [c.category for c in clips], k, seed,
                         [c.scored for c in clips])


def config(args) -> DetectorConfig:
    d = dataclasses.replace(DetectorConfig(seed=args.seed), **RECIPES[args.recipe])
    return dataclasses.replace(d, epochs=args.epochs or d.epochs, steps_per_epoch=args.steps or d.steps_per_epoch,
                               arch=args.arch or d.arch)


def run(args) -> None:
    {"cv": run_cv, "summary": run_summary, "build": run_build, "attach": run_attach}[args.command](args)


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
                                   meta.front_end, meta.window, RoomParams(), args.cache, genre, meta.window.hop_frames,
                                   args.out / f"fold{f}.tflite", args.mixes)
        save_scores(args.out / f"fold{f}.npz", scores)
        (args.out / f"fold{f}.json").write_text(json.dumps({"config": cfg.to_dict(), "history": history,
                                                            "window": window_scores(scores)}, indent=1) + "\n")
        _LOG.info("fold %d: %s", f, window_scores(scores))


# The music gate's settings tried by `summary`, and the rule that picks one, fixed before
# any fold was scored: the smallest worst ratio to the targets (not-music windows that
# publish a genre <= 5 %, music windows that publish no_music <= 2 %) over the clean and
# room per-clip streams; ties to the shorter median latency back to music in the
# back-to-back stream. no_music_hold_s stays >= 6 s: a DJ's talk-over must not end music.
TARGETS = {"not_music_publishing_genre": 0.05, "music_publishing_no_music": 0.02}
GATE_GRID = {"music_tau_s": (1.5, 3.0, 5.0), "music_on": (0.5, 0.6, 0.7), "music_off": (0.2, 0.35, 0.5),
             "music_hold_s": (1.0, 2.0), "no_music_hold_s": (6.0, 8.0)}


def gate_settings(grid: dict[str, tuple[float, ...]] = GATE_GRID) -> list[dict[str, float]]:
    out: list[dict[str, float]] = [{}]
    for k, values in grid.items():
        out = [{**o, k: v} for o in out for v in values]
    return [o for o in out if o["music_off"] <= o["music_on"]]


def score_setting(by_variant, params, labels) -> dict[str, Any]:
    per = {v: stream_scores(sc, params, labels) for v, sc in by_variant.items()}
    worst = max(per[v][k] / t for v in per for k, t in TARGETS.items())
    concat = {v: concat_stream_scores(sc, params, labels) for v, sc in by_variant.items()}
    return {"worst_ratio": worst, "streams": per, "back_to_back": concat}


def run_summary(args) -> dict[str, Any]:
    meta = _genre_bundle(args).metadata
    base = SmootherParams.from_dict(meta.smoothing) if meta.smoothing else SmootherParams()
    folds_scores = {p.stem: load_scores(p) for p in sorted(args.out.glob("fold*.npz")) if not args.fold_names or p.stem in args.fold_names}
    if not folds_scores:
        raise ValueError(f"{args.out}: no fold*.npz (run cv first)")
    allv = {v: [s for sc in folds_scores.values() for s in sc if s.variant == v] for v in ("clean", "room")}
    tried = []
    # With --gate, score those settings only (e.g. the shipped ones on a fold they were not chosen on).
    for setting in [parse_gate(args.gate)] if args.gate else gate_settings():
        r = score_setting(allv, msgspec.structs.replace(base, **setting), meta.labels)
        latency = r["back_to_back"]["clean"]["median_latency_s"]["to_music"] or 0.0
        tried.append((round(r["worst_ratio"], 6), latency, setting, r))
    tried.sort(key=lambda row: (row[0], row[1]))
    chosen = tried[0][2]
    params = msgspec.structs.replace(base, **chosen)
    rows = []
    for name, sc in folds_scores.items():
        row = {"fold": name}
        for v in ("clean", "room"):
            part = [s for s in sc if s.variant == v]
            row[v] = {**window_scores(part, silence_db=params.silence_db), **stream_scores(part, params, meta.labels)}
        rows.append(row)
    summary = {"chosen": chosen, "smoothing": params.to_dict(), "pooled": tried[0][3], "folds": rows,
               "grid": [{"setting": t[2], "worst_ratio": t[0]} for t in tried[:10]]}
    name = "summary.json" if not args.gate else "summary_fixed_gate.json"
    (args.out / name).write_text(json.dumps(summary, indent=1) + "\n")
    print(f"chosen gate {chosen} (worst ratio to target {tried[0][0]:.2f})")
    for r in rows:
        for v in ("clean", "room"):
            s = r[v]
            print(f"{r['fold']} {v:5s}: not-music publishing a genre {s['not_music_publishing_genre']:.3f}, "
                  f"music publishing no_music {s['music_publishing_no_music']:.3f} | raw window error "
                  f"music {s['music_window_error']:.3f} not-music {s['not_music_window_error']:.3f}")
    return summary


def run_build(args) -> None:
    """Train on every clip (mixes from all of them) and declare the detector in the bundle."""
    given = parse_gate(args.gate)  # refused before an hour of training, not after
    if args.cv_summary is not None and not args.cv_summary.is_file():
        raise ValueError(f"--cv-summary {args.cv_summary}: no such file (run cv and summary first)")
    bundle = _genre_bundle(argparse_with(args, genre_model=args.out))
    meta = bundle.metadata
    clips = corpus(args)
    cfg = config(args)
    clips += training_mixes(clips, cfg, args.seed * 2 + 1, meta.front_end, 4 * args.mixes)
    items = items_for(clips, cfg, meta.front_end, RoomParams(), args.cache)
    model, history = train_detector(items, cfg, meta.front_end, meta.window)
    tflite, spec_in, spec_out = export_int8(model, representative(items, cfg, meta.front_end, meta.window))
    save(args.out / "music.tflite", tflite)
    detector = {
        "file": "music.tflite", "labels": list(LABELS), "input": spec_in.to_dict(), "output": spec_out.to_dict(),
        "output_activation": "logits", "temperature": 1.0,
        "metrics": {"training": {"config": cfg.to_dict(), "clips": len(items), "final_loss": history[-1]["loss"]}},
    }
    # The summary is read now, after training, so a CV still running beside a build can
    # still decide the gate settings the bundle ships with.
    gate: dict[str, float] = {}
    if args.cv_summary is not None:
        cv = json.loads(args.cv_summary.read_text(encoding="utf-8"))
        gate = dict(cv["chosen"])
        detector["metrics"]["cv"] = {"summary": str(args.cv_summary), "folds": [r["fold"] for r in cv["folds"]],
                                     "pooled": cv["pooled"]}
    gate.update(given)
    data = meta.to_dict()
    data["music_detector"] = detector
    data["smoothing"] = {**data["smoothing"], **gate}
    write_metadata(ModelMetadata.from_dict(data), bundle.metadata_path)
    from .detector_report import section, write_section

    write_section(args.out / "report.md", section(cfg.to_dict(), len(items), len(tflite), gate,
                                                  cv if args.cv_summary is not None else None, build_command(args)))
    _LOG.info("wrote %s (%d bytes) and declared it in %s", args.out / "music.tflite", len(tflite), bundle.metadata_path)


def run_attach(args) -> None:
    """Give the bundle ``--out`` the detector of ``--genre-model`` (default: the shipped
    default), with its gate settings and its report section. The detector hears the
    level-normalised window, so any bundle of the same front end and window can run it;
    its CV (which scored the gate, not the genre model) carries over."""
    source, target = _genre_bundle(args), load_metadata(args.out)
    src, dst = source.metadata, target.metadata
    if src.music_detector is None or source.music_detector_path is None:
        raise ValueError(f"--genre-model {source.metadata_path}: declares no music_detector to attach (build one first)")
    if (src.front_end, src.window) != (dst.front_end, dst.window):
        raise ValueError(f"--out {target.metadata_path}: its front end or window differs from {source.metadata_path}'s, "
                         "so the detector would hear another window; train one for it with `build`")
    tflite = source.music_detector_path.read_bytes()
    save(target.tflite_path.parent / src.music_detector.file, tflite)
    data = dst.to_dict()
    data["music_detector"] = src.music_detector.to_dict()
    gate = {k: v for k, v in src.smoothing.items() if k in GATE_GRID}
    data["smoothing"] = {**data["smoothing"], **gate}
    write_metadata(ModelMetadata.from_dict(data), target.metadata_path)
    report = source.tflite_path.parent / "report.md"
    from .detector_report import extract_section, write_section

    text = extract_section(report) if report.is_file() else None
    if text is None:
        raise ValueError(f"{report}: no music detector section to copy (rebuild the detector with `build`)")
    name = source.tflite_path.parent.name
    note = (f"The same `{src.music_detector.file}` and gate settings as the `{name}` bundle, copied by "
            f"`python -m genred.training.detector_cli attach --out {args.out}`. Its CV below ran beside the `{name}` "
            "genre model. Music windows publishing `no_music` are the gate's decision alone, the same beside any "
            "genre model; not-music windows publishing a genre are at most those the gate calls music (fewer where "
            "the genre model is unsure: the uncertain state publishes no genre).")
    write_section(target.tflite_path.parent / "report.md", text, note)
    _LOG.info("attached %s (%d bytes) to %s", src.music_detector.file, len(tflite), target.metadata_path)


def parse_gate(items: list[str]) -> dict[str, float]:
    return parse_settings(items, "--gate", tuple(GATE_GRID))


def argparse_with(args, **changes):
    ns = dict(vars(args))
    ns.update(changes)
    return type(args)(**ns)

