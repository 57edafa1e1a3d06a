"""One training run, end to end, as the steps of `steps`: split -> features -> teacher
outputs -> fit -> export -> calibrate -> smoothing -> bundle (model.json written once,
with the report).

`run_training(TrainRequest)` is what ``genred train`` / ``python -m genred.training``
call; everything it decides is written to the bundle's metadata and report, so a
model can be traced back to its data, split, seed and code.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from genred.dsp.bundle import bundle_paths, load_metadata, write_metadata
from genred.dsp.smoother_params import SmootherParams

from .augment import RoomParams
from .dataset import DatasetError, Split, counts_per_genre, index_dataset, split_from_lists, split_stratified
from .export import op_names
from .features import DEFAULT_CACHE_DIR
from .smoothing_fit import BACK_TO_BACK, CLIPS
from .steps import Calibrated, DataSplit, Setup, Smoothing, calibrate_step, raw_outputs, smoothing_step
from .student import Student, StudentPlan, TeacherPlan, student_step
from .train import SELECTION, EvalSet, TrainConfig, full_clips, set_determinism, track_scores

_LOG = logging.getLogger(__name__)

KERAS_WEIGHTS = "keras.weights.h5"

SCORE_KEYS = ("window_accuracy", "window_macro_recall", "track_accuracy", "track_macro_recall")


@dataclass(frozen=True)
class TrainRequest:
    data: Path
    out: Path
    train_list: Path | None = None
    valid_list: Path | None = None
    valid_fraction: float = 0.3  # only without lists
    config: TrainConfig = field(default_factory=TrainConfig)
    room_copies: int = 2  # simulated-room variants of each train track, besides the clean one
    representative_n: int = 300
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    teacher: bool = False  # distil MSD_musicnn (frozen, with a genre head) into the student
    teacher_hears: str = "clean"  # "clean" or "own": what the teacher labels a room copy's window by
    pool: Path | None = None  # a folder of unlabelled music, labelled by the teacher (unlabelled.pool_items)
    # How the smoothing is fitted on the valid full clips: each its own stream ("clips"),
    # or each set's clips back to back ("back_to_back": a genre lingering after a change costs).
    smoothing_fit: str = CLIPS
    # The final build of a recipe chosen by cross-validation: trained on both lists (every
    # dev track) for exactly the configured epochs, with the CV's temperature and smoothing
    # (nothing is left to choose on: the valid list is then scored in-sample, as a check).
    all_dev: bool = False
    temperature: float | None = None  # given: not fitted
    smoothing: dict[str, float] | None = None  # given settings over SmootherParams' defaults: not fitted (only scored)
    workers: int = 2
    # TensorFlow threads. 1: a seed reproduces the model bit for bit; more: faster, but
    # CPU kernels then sum in a timing-dependent order and runs drift apart.
    threads: int = 1
    name: str = "genred-gtzan-cnn"


def check_disjoint(split: Split) -> None:
    """No track (genre/stem) on both sides: the one rule that makes the numbers honest."""
    both = {t.key for t in split.train} & {t.key for t in split.valid}
    if both:
        raise DatasetError(f"split puts {len(both)} track(s) on both sides, e.g. {sorted(both)[0]}")


def summarise(result: dict[str, Any], ev: EvalSet) -> dict[str, Any]:
    out = {k: round(float(result[k]), 4) for k in SCORE_KEYS}
    out["tracks"] = len(ev.items)
    out["windows"] = int(len(ev.x))
    return out


def per_genre(result: dict[str, Any], ev: EvalSet, labels: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    from genred.dsp.metrics import scores

    s = scores(ev.item_label.tolist(), result["item_pred"].tolist(), labels)
    return s["per_label"]


def split_step(req: TrainRequest) -> DataSplit:
    """The train and valid tracks: the two lists, or a seeded split by track."""
    index = index_dataset(req.data)
    if req.train_list is not None and req.valid_list is not None:
        split = split_from_lists(index, req.train_list, req.valid_list)
        desc = f"lists {req.train_list.name} (train) / {req.valid_list.name} (valid)"
    elif req.train_list is None and req.valid_list is None:
        split = split_stratified(index.tracks, req.valid_fraction, req.config.seed)
        desc = split.source
    else:
        raise DatasetError("give both --train-list and --valid-list, or neither (then a seeded split by track)")
    check_disjoint(split)
    train = tuple(split.train)
    if req.all_dev:
        if req.train_list is None or req.valid_list is None:
            raise DatasetError("--all-dev trains on both lists: give --train-list and --valid-list")
        train += tuple(split.valid)
        desc = (f"every dev track: lists {req.train_list.name} + {req.valid_list.name}, both trained on "
                f"(valid is scored in-sample, a check of the export, not an estimate)")
    return DataSplit(req.data, index.labels, train, tuple(split.valid), desc, split.missing,
                     tuple(str(p) for p, _ in index.skipped))


def run_training(req: TrainRequest) -> dict[str, Any]:
    """Train, export, evaluate, write the bundle and its report; returns the metrics."""
    t_start = time.perf_counter()
    cfg = req.config
    setup = Setup(cache_dir=req.cache_dir, workers=req.workers, threads=req.threads)
    # Before TensorFlow runs anything (the teacher may): its thread count is fixed at
    # the first op, and with one thread a seed gives the same model bit for bit.
    set_determinism(cfg.seed, req.threads)
    split = split_step(req)
    # The teacher's grid and head strength are TeacherPlan's defaults, the ones every CV fold used.
    teacher = TeacherPlan(hears=req.teacher_hears, pool=req.pool) if req.teacher else None
    tflite_path, _ = bundle_paths(req.out / "model.tflite")
    # All dev: no epoch is picked on tracks the model trained on (a CV fold runs the same way).
    plan = StudentPlan(cfg, req.room_copies, ("valid", "valid_room"), teacher, select=not req.all_dev, name=req.name,
                       representative_n=req.representative_n)
    student = student_step(split, setup, plan, tflite_path)
    sets = student.features.sets
    raw = {name: raw_outputs(student.classifier, ev.x) for name, ev in sets.items()}
    calibrated = calibrate_step(student.classifier, raw, sets, req.temperature)
    # Smoothing defaults, measured on the valid full clips (clean and through the room).
    smoothing = smoothing_step(sets, calibrated.probs, split.labels, setup, back_to_back=req.smoothing_fit == BACK_TO_BACK,
                               given=None if req.smoothing is None else SmootherParams.from_dict(req.smoothing))
    return bundle_step(req, split, student, calibrated, smoothing, t_start)


def bundle_step(req: TrainRequest, split: DataSplit, student: Student, calibrated: Calibrated, smoothing: Smoothing,
                t_start: float) -> dict[str, Any]:
    """model.json (once), the float weights, the training log and the report."""
    import tensorflow as tf

    feats, teacher, fitted, exported = student.features, student.teacher, student.fitted, student.exported
    labels, sets, result, cfg, items = split.labels, feats.sets, fitted.result, req.config, student.items
    tflite_path, json_path = bundle_paths(req.out / "model.tflite")
    # The selected float weights, so that a run can be re-exported (another calibration)
    # or fine-tuned without retraining; not part of the bundle a device installs.
    result.model.save_weights(str(req.out / KERAS_WEIGHTS))
    int8_scores, int8_probs = calibrated.scores, calibrated.probs
    metrics: dict[str, Any] = {
        name: {"float": summarise(fitted.float_scores[name], ev), "int8": summarise(int8_scores[name], ev)}
        for name, ev in sets.items()
    }
    metrics["full_clips_int8"] = {}
    for name, ev in sets.items():
        sub, mask = full_clips(ev)
        if sub.items:
            metrics["full_clips_int8"][name] = summarise(track_scores(int8_probs[name][mask], sub, len(labels)), sub)
    for name, ev in sets.items():
        metrics[f"per_genre_int8_{name}_track"] = per_genre(int8_scores[name], ev, labels)
    if teacher is not None:
        metrics["teacher"] = {name: summarise(teacher.scores[name], ev) for name, ev in sets.items()}
    metrics["calibration"] = calibrated.summary
    metrics["selection"] = SELECTION if not req.all_dev else "the last: every epoch run, as in the CV; nothing is held out to pick one on"
    metrics["model_bytes"] = len(exported.tflite)

    valid = sets["valid"]
    train_counts = Counter(labels[it.label] for it in items)
    training_info: dict[str, Any] = {
        "data": str(req.data),
        "split": split.description,
        "rule": ("no held-out side: the recipe, epochs, temperature and smoothing were chosen by cross-validation"
                 if req.all_dev else "split by track (genre/stem): no piece of a track is on both sides"),
        "all_dev": req.all_dev,
        "train_tracks": len(items),
        "train_full_clips": sum(it.kind == "full" for it in items),
        "train_tracks_per_genre": {g: train_counts.get(g, 0) for g in labels},
        "valid_tracks": len(valid.items),
        "valid_per_genre": counts_per_genre(valid.items, labels),
        "listed_but_missing": {k: len(v) for k, v in split.missing.items()},
        "unreadable": [f for f, _ in feats.failed] + list(split.skipped),
        "room_copies_per_train_track": req.room_copies,
        "room_simulator": RoomParams().to_dict(),
        "config": cfg.to_dict(),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "ensemble_members": result.members or None,
        "train_wall_s": round(result.wall_s, 1),
        "features_wall_s": round(feats.wall_s, 1),
        "teacher": None if teacher is None else teacher.info,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "parameters": int(result.model.count_params()),
    }
    meta = msgspec.structs.replace(
        exported.meta, temperature=calibrated.temperature, smoothing=smoothing.params.to_dict(),
        training=training_info, metrics=metrics,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), genred_version=_version(),
    )
    write_metadata(meta, json_path)
    load_metadata(tflite_path)  # the bundle we wrote must load

    from .report import write_report

    fit = smoothing.fit
    (tflite_path.parent / "training_log.json").write_text(json.dumps({
        "train_tracks": [it.track.key for it in items],
        "valid_tracks": [t.key for t in valid.items],
        "history": result.history, "smoothing_fit": {
        "best": meta.smoothing, "best_scores": fit.get("best_scores"), "default": fit.get("default"),
        "raw_argmax": fit.get("raw"), "grid": fit.get("grid"), "streams": fit.get("n_streams"),
        "fitted_on": fit.get("mode"),
    }}, indent=1) + "\n", encoding="utf-8")
    write_report(
        tflite_path.parent, meta, result.history, sets, fitted.float_scores, int8_scores, fit,
        ops=op_names(exported.tflite), command=req_command(req), wall_s=time.perf_counter() - t_start,
        reliabilities=calibrated.reliabilities,
    )
    _LOG.info("wrote %s, %s and the report in %s (%.0f s)", tflite_path, json_path.name, tflite_path.parent,
              time.perf_counter() - t_start)
    return metrics


def _version() -> str:
    # Read from the installed distribution: training never imports the daemon package.
    from importlib import metadata

    try:
        return metadata.version("genred")
    except metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def req_command(req: TrainRequest) -> str:
    parts = ["python -m genred.training", f"--data {req.data}"]
    if req.train_list is not None:
        parts.append(f"--train-list {req.train_list}")
    if req.valid_list is not None:
        parts.append(f"--valid-list {req.valid_list}")
    parts += [f"--out {req.out}", f"--seed {req.config.seed}", f"--epochs {req.config.epochs}",
              f"--steps {req.config.steps_per_epoch}", f"--arch {req.config.model.name}",
              f"--room-copies {req.room_copies}", f"--ema {req.config.ema_decay}", f"--mixup {req.config.mixup_p}",
              f"--threads {req.threads}"]
    if req.config.ensemble > 1:
        parts.append(f"--ensemble {req.config.ensemble}")
    if req.config.warp_p > 0:
        parts.append(f"--warp {req.config.warp_p}")
    if req.teacher:
        parts += ["--teacher", f"--teacher-hears {req.teacher_hears}", f"--teacher-weight {req.config.teacher_weight}",
                  f"--teacher-temperature {req.config.teacher_temperature}"]
    if req.pool is not None:
        parts += [f"--pool {req.pool}", f"--pool-share {req.config.pool_p}"]
    if req.config.tag_weight > 0:
        parts.append(f"--tag-weight {req.config.tag_weight}")
    if req.smoothing_fit != CLIPS:
        parts.append(f"--smoothing-fit {req.smoothing_fit}")
    if req.all_dev:
        parts.append("--all-dev")
    if req.temperature is not None:
        parts.append(f"--temperature {req.temperature}")
    if req.smoothing is not None:
        parts.append(" ".join(["--smoothing", *(f"{k}={v:g}" for k, v in req.smoothing.items())]))
    return " ".join(parts)

