"""One training run, end to end: index -> split -> features -> train -> int8 export
-> evaluation (float and int8, valid and valid_room) -> smoothing fit -> bundle + report.

`run_training(TrainRequest)` is what ``genred train`` / ``python -m genred.training``
call; everything it decides is written to the bundle's metadata and report, so a
model can be traced back to its data, split, seed and code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.bundle import ModelMetadata, bundle_paths, load_metadata, write_metadata
from genred.dsp.classifier import TfliteClassifier
from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.smoothing import SmootherParams

from .augment import RoomParams
from .calibration import apply_temperature, fit_temperature_ece, nll, reliability
from .dataset import (
    DatasetError,
    Split,
    Track,
    _stable_int,
    counts_per_genre,
    index_dataset,
    split_from_lists,
    split_stratified,
)
from .export import convert_int8, op_names, tensor_specs, write_atomic
from .features import DEFAULT_CACHE_DIR, FeatureExtractor, windows_from_frames
from .smoothing_fit import Stream, fit_smoothing
from .train import (
    SELECTION,
    EvalSet,
    TrainConfig,
    TrainItem,
    full_clips,
    representative_windows,
    set_determinism,
    track_scores,
    track_weight,
    train,
)

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
    teacher_hop_frames: int = 31  # the grid of train windows the teacher labels (~0.5 s)
    teacher_c: float = 0.01  # inverse L2 strength of the head's logistic regression
    teacher_hears: str = "clean"  # "clean" or "own": what the teacher labels a room copy's window by
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


def _room_seed(kind: str, key: str, i: int = 0) -> int:
    # Depends on the track only (not the run seed): cached room copies are reused.
    return _stable_int(kind, key, i) % (2**63)


def build_items(tracks: list[Track], labels: tuple[str, ...], ex: FeatureExtractor, window: WindowParams,
                room_copies: int, workers: int) -> tuple[list[TrainItem], list[tuple[str, str]]]:
    """Train items (clean + room variants of each track's longest audio); unreadable ones skipped."""
    jobs: list[tuple[Path, int | None]] = []
    for t in tracks:
        jobs.append((t.main_path, None))
        jobs.extend((t.main_path, _room_seed("train_room", t.key, i)) for i in range(room_copies))
    results = ex.frames_many(jobs, workers=workers)
    items: list[TrainItem] = []
    failed: list[tuple[str, str]] = []
    per = 1 + room_copies
    for n, t in enumerate(tracks):
        got = results[n * per : (n + 1) * per]
        bad = [r for r in got if isinstance(r, Exception)]
        if bad:
            _LOG.warning("skipping %s: %s", t.main_path, bad[0])
            failed.append((str(t.main_path), str(bad[0])))
            continue
        items.append(TrainItem(t, labels.index(t.genre), t.main_kind, list(got), track_weight(got[0].shape[0], window)))
    return items, failed


def build_eval_set(name: str, tracks: list[Track], labels: tuple[str, ...], ex: FeatureExtractor,
                   front_end: LogMelParams, window: WindowParams, room: bool, workers: int) -> tuple[EvalSet, list[tuple[str, str]]]:
    """Every window (at the device's hop) of each track's longest audio, in stream order."""
    jobs = [(t.main_path, _room_seed("valid_room", t.key) if room else None) for t in tracks]
    results = ex.frames_many(jobs, workers=workers)
    xs, levels, starts, item_idx = [], [], [], []
    items: list[Track] = []
    failed: list[tuple[str, str]] = []
    for t, frames in zip(tracks, results):
        if isinstance(frames, Exception):
            failed.append((str(t.main_path), str(frames)))
            continue
        ws = windows_from_frames(frames, front_end, window)
        xs.append(ws.x)
        levels.append(ws.level_db)
        starts.append(ws.start_frame)
        item_idx.append(np.full(len(ws.x), len(items)))
        items.append(t)
    if not items:
        raise DatasetError(f"{name}: no readable tracks")
    ev = EvalSet(
        name, np.concatenate(xs), np.concatenate(levels), np.concatenate(starts), np.concatenate(item_idx),
        items, np.array([labels.index(t.genre) for t in items]), [t.main_kind for t in items],
    )
    _LOG.info("%s: %d tracks, %d windows", name, len(items), len(ev.x))
    return ev, failed


def attach_teacher(req: TrainRequest, items: list[TrainItem], valid: EvalSet, valid_room: EvalSet,
                   labels: tuple[str, ...], front_end: LogMelParams, window: WindowParams) -> tuple[dict, dict]:
    """Embed train windows (on the teacher's grid) with MSD_musicnn, fit a genre head on
    them, and give each item the head's soft labels; score the teacher itself on valid
    and valid_room.

    ``teacher_hears="clean"``: the head is fitted on the clean windows, and a room copy's
    window gets the teacher's opinion of the same window of the clean audio (the room
    copies have the clean audio's length, so the grids line up): the student learns to
    hear through the room what the teacher hears without it. ``"own"``: every variant is
    embedded, the head fitted on all of them, and each window labelled by what the
    teacher makes of it."""
    from .teacher import Teacher, fit_head, typical_offset_db

    t0 = time.perf_counter()
    offset = typical_offset_db([it.variants[0] for it in items], front_end, window)
    cache = None if req.cache_dir is None else Path(req.cache_dir).parent / "genred-teacher"
    teacher = Teacher(front_end, window, offset, cache)
    hop = req.teacher_hop_frames
    own = req.teacher_hears == "own"
    embs = [[teacher.embed_frames(f, hop, f"{it.track.genre}__{it.track.stem}__v{v}")
             for v, f in enumerate(it.variants if own else it.variants[:1])] for it in items]
    emb = np.concatenate([e for es in embs for e in es])
    y = np.concatenate([np.full(len(e), it.label) for it, es in zip(items, embs) for e in es])
    track = np.concatenate([np.full(len(e), i) for i, es in enumerate(embs) for e in es])
    head = fit_head(emb, y, track, len(labels), c=req.teacher_c)
    temperature = req.config.teacher_temperature
    for it, es in zip(items, embs):
        soft = [head.probs(e, temperature) for e in es]
        if not own:
            if any(f.shape != it.variants[0].shape for f in it.variants):
                raise DatasetError(f"{it.track.key}: a room copy is not as long as the clean audio")
            soft = soft * len(it.variants)
        it.soft = soft
        it.grid_hop = hop
    scores = {
        "valid": track_scores(head.probs(teacher.embed_cached(valid.x, "valid")), valid, len(labels)),
        "valid_room": track_scores(head.probs(teacher.embed_cached(valid_room.x, "valid_room")), valid_room, len(labels)),
    }
    _LOG.info("teacher (MSD_musicnn + head): valid track acc %.3f macro %.3f | room track acc %.3f macro %.3f (%.0f s)",
              scores["valid"]["track_accuracy"], scores["valid"]["track_macro_recall"],
              scores["valid_room"]["track_accuracy"], scores["valid_room"]["track_macro_recall"], time.perf_counter() - t0)
    info = {
        "model": "MSD_musicnn (musicnn 0.1.0 checkpoint, ISC licence), frozen; its 1506 pooled mid-level features (max and mean over time)",
        "head": f"standardised logistic regression, C={req.teacher_c}, genre- and track-balanced",
        "hears": req.teacher_hears,
        "level_offset_db": round(offset, 2),
        "grid_hop_frames": hop,
        "train_windows": int(len(emb)),
        "soft_label_weight": req.config.teacher_weight,
        "soft_label_temperature": req.config.teacher_temperature,
    }
    return scores, info


def int8_predict(classifier: TfliteClassifier, x: np.ndarray) -> np.ndarray:
    """The device's own interpreter wrapper, one window at a time as on the device."""
    return np.stack([classifier.predict(w) for w in x]).astype(np.float32) if len(x) else np.zeros((0, len(classifier.labels)))


def summarise(result: dict[str, Any], ev: EvalSet) -> dict[str, Any]:
    out = {k: round(float(result[k]), 4) for k in SCORE_KEYS}
    out["tracks"] = len(ev.items)
    out["windows"] = int(len(ev.x))
    return out


def per_genre(result: dict[str, Any], ev: EvalSet, labels: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    from genred.dsp.metrics import scores

    s = scores(ev.item_label.tolist(), result["item_pred"].tolist(), labels)
    return s["per_label"]


def smoothing_streams(ev: EvalSet, probs: np.ndarray, front_end: LogMelParams, window: WindowParams) -> list[Stream]:
    """Each full clip as a stream: its windows' probabilities, levels and end times."""
    streams = []
    frame_s = front_end.hop_length / front_end.sample_rate_hz
    for i, kind in enumerate(ev.item_kind):
        if kind != "full":
            continue
        sel = ev.item == i
        ends = (ev.start_frame[sel] + window.window_frames) * frame_s
        streams.append(Stream(probs[sel], ev.level_db[sel], ends, int(ev.item_label[i]), ev.items[i].key))
    return streams


def run_training(req: TrainRequest) -> dict[str, Any]:
    """Train, export, evaluate, write the bundle and its report; returns the metrics."""
    import tensorflow as tf

    t_start = time.perf_counter()
    front_end, window = LogMelParams(), WindowParams()
    cfg = req.config
    # Before TensorFlow runs anything (the teacher may): its thread count is fixed at
    # the first op, and with one thread a seed gives the same model bit for bit.
    set_determinism(cfg.seed, req.threads)

    index = index_dataset(req.data)
    labels = index.labels
    if req.train_list is not None and req.valid_list is not None:
        split = split_from_lists(index, req.train_list, req.valid_list)
        split_desc = f"lists {req.train_list.name} (train) / {req.valid_list.name} (valid)"
    elif req.train_list is None and req.valid_list is None:
        split = split_stratified(index.tracks, req.valid_fraction, cfg.seed)
        split_desc = split.source
    else:
        raise DatasetError("give both --train-list and --valid-list, or neither (then a seeded split by track)")
    check_disjoint(split)

    ex = FeatureExtractor(front_end, req.cache_dir, RoomParams())
    t_feat = time.perf_counter()
    items, failed_train = build_items(split.train, labels, ex, window, req.room_copies, req.workers)
    # Scored sets in float32, not float16: float16's 0.03 dB steps moved int8 inputs across
    # quantisation steps, and the report disagreed with `genred evaluate` by a track.
    ex_eval = FeatureExtractor(front_end, req.cache_dir, RoomParams(), exact=True)
    valid, failed_valid = build_eval_set("valid", split.valid, labels, ex_eval, front_end, window, False, req.workers)
    valid_room, _ = build_eval_set("valid_room", split.valid, labels, ex_eval, front_end, window, True, req.workers)
    feat_s = time.perf_counter() - t_feat
    if not items:
        raise DatasetError(f"data folder {req.data}: no readable train tracks")
    missing_train = sorted(set(labels) - {labels[it.label] for it in items})
    if missing_train:
        _LOG.warning("no train data for: %s (the model cannot learn them)", ", ".join(missing_train))

    teacher_scores: dict[str, Any] | None = None
    teacher_info: dict[str, Any] | None = None
    if req.teacher:
        teacher_scores, teacher_info = attach_teacher(req, items, valid, valid_room, labels, front_end, window)

    result = train(items, valid, valid_room, len(labels), cfg, front_end, window, threads=req.threads)
    model = result.model
    # The selected float weights, so that a run can be re-exported (another calibration)
    # or fine-tuned without retraining; not part of the bundle a device installs.
    req.out.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(req.out / KERAS_WEIGHTS))

    from .train import predict

    float_scores = {
        "valid": track_scores(predict(model, valid.x), valid, len(labels)),
        "valid_room": track_scores(predict(model, valid_room.x), valid_room, len(labels)),
    }

    # int8: calibrate on train windows (clean and room copies), convert, check on valid.
    rep = representative_windows(items, front_end, window, req.representative_n, cfg.seed, window.hop_frames)
    tflite = convert_int8(model, rep)
    in_spec, out_spec = tensor_specs(tflite)
    req.out.mkdir(parents=True, exist_ok=True)
    tflite_path, json_path = bundle_paths(req.out / "model.tflite")
    write_atomic(tflite_path, tflite)
    meta = ModelMetadata(
        name=req.name, labels=labels, front_end=front_end, window=window,
        default_hop_s=round(window.hop_frames / front_end.frame_rate_hz, 4),
        input=in_spec, output=out_spec, output_activation="logits", temperature=1.0,
        quantisation=f"full-integer int8 (inputs, weights, activations, outputs); calibrated on {len(rep)} train windows",
    )
    write_metadata(meta, json_path)
    classifier = TfliteClassifier(load_metadata(tflite_path))
    raw_probs = {"valid": int8_predict(classifier, valid.x), "valid_room": int8_predict(classifier, valid_room.x)}
    # Calibrate: the temperature that makes the int8 window probabilities honest on valid
    # and through the room together (what a device hears lies between the two).
    pooled_probs = np.concatenate([raw_probs["valid"], raw_probs["valid_room"]])
    pooled_labels = np.concatenate([valid.window_label, valid_room.window_label])
    temperature = fit_temperature_ece(pooled_probs, pooled_labels)
    calibration: dict[str, Any] = {"temperature": round(temperature, 4), "bins": 10,
                                   "fitted_on": "valid and valid_room windows together, int8 model",
                                   "objective": "minimum expected calibration error"}
    reliabilities = {}
    for name, probs, labels_w in (("valid", raw_probs["valid"], valid.window_label),
                                  ("valid_room", raw_probs["valid_room"], valid_room.window_label),
                                  ("pooled", pooled_probs, pooled_labels)):
        scaled = apply_temperature(probs, temperature)
        before, after = reliability(probs, labels_w), reliability(scaled, labels_w)
        if name != "pooled":
            reliabilities[name] = (before, after)
        calibration[name] = {"ece_before": round(before["ece"], 4), "ece_after": round(after["ece"], 4),
                             "nll_before": round(nll(probs, labels_w), 4), "nll_after": round(nll(scaled, labels_w), 4)}
    _LOG.info("temperature %.3f: ECE valid %.3f -> %.3f, valid_room %.3f -> %.3f", temperature,
              calibration["valid"]["ece_before"], calibration["valid"]["ece_after"],
              calibration["valid_room"]["ece_before"], calibration["valid_room"]["ece_after"])
    meta = dataclasses.replace(meta, temperature=round(temperature, 4))
    write_metadata(meta, json_path)
    # What the device computes with that metadata, bit for bit (int8 logits tie often;
    # recomputing keeps every reported number equal to `genred evaluate`'s).
    classifier = TfliteClassifier(load_metadata(tflite_path))
    int8_probs = {"valid": int8_predict(classifier, valid.x), "valid_room": int8_predict(classifier, valid_room.x)}
    int8_scores = {
        "valid": track_scores(int8_probs["valid"], valid, len(labels)),
        "valid_room": track_scores(int8_probs["valid_room"], valid_room, len(labels)),
    }

    # Smoothing defaults, measured on the valid full clips (clean and through the room).
    streams = smoothing_streams(valid, int8_probs["valid"], front_end, window) + smoothing_streams(
        valid_room, int8_probs["valid_room"], front_end, window)
    fit = fit_smoothing(streams, labels, SmootherParams())
    smoothing = fit["best"].to_dict()

    sets = {"valid": valid, "valid_room": valid_room}
    metrics: dict[str, Any] = {
        name: {"float": summarise(float_scores[name], ev), "int8": summarise(int8_scores[name], ev)}
        for name, ev in sets.items()
    }
    metrics["full_clips_int8"] = {}
    for name, ev in sets.items():
        sub, mask = full_clips(ev)
        if sub.items:
            metrics["full_clips_int8"][name] = summarise(track_scores(int8_probs[name][mask], sub, len(labels)), sub)
    metrics["per_genre_int8_valid_track"] = per_genre(int8_scores["valid"], valid, labels)
    metrics["per_genre_int8_valid_room_track"] = per_genre(int8_scores["valid_room"], valid_room, labels)
    if teacher_scores is not None:
        metrics["teacher"] = {name: summarise(teacher_scores[name], ev) for name, ev in sets.items()}
    metrics["calibration"] = calibration
    metrics["selection"] = SELECTION
    metrics["model_bytes"] = len(tflite)

    version = _version()

    train_counts = Counter(labels[it.label] for it in items)
    training_info: dict[str, Any] = {
        "data": str(req.data),
        "split": split_desc,
        "rule": "split by track (genre/stem): no piece of a track is on both sides",
        "train_tracks": len(items),
        "train_full_clips": sum(it.kind == "full" for it in items),
        "train_tracks_per_genre": {g: train_counts.get(g, 0) for g in labels},
        "valid_tracks": len(valid.items),
        "valid_per_genre": counts_per_genre(valid.items, labels),
        "listed_but_missing": {k: len(v) for k, v in split.missing.items()},
        "unreadable": [f for f, _ in failed_train + failed_valid] + [str(p) for p, _ in index.skipped],
        "room_copies_per_train_track": req.room_copies,
        "room_simulator": RoomParams().to_dict(),
        "config": cfg.to_dict(),
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "ensemble_members": result.members or None,
        "train_wall_s": round(result.wall_s, 1),
        "features_wall_s": round(feat_s, 1),
        "teacher": teacher_info,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "parameters": int(model.count_params()),
    }
    meta = dataclasses.replace(
        meta, smoothing=smoothing, training=training_info, metrics=metrics,
        created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), genred_version=version,
    )
    write_metadata(meta, json_path)
    load_metadata(tflite_path)  # the bundle we wrote must load

    from .report import write_report

    history_path = tflite_path.parent / "training_log.json"
    history_path.write_text(json.dumps({
        "train_tracks": [it.track.key for it in items],
        "valid_tracks": [t.key for t in valid.items],
        "history": result.history, "smoothing_fit": {
        "best": smoothing, "best_scores": fit.get("best_scores"), "default": fit.get("default"),
        "raw_argmax": fit.get("raw"), "grid": fit.get("grid"), "streams": fit.get("n_streams"),
    }}, indent=1) + "\n", encoding="utf-8")
    write_report(
        tflite_path.parent, meta, result.history, sets, float_scores, int8_scores, fit,
        ops=op_names(tflite), command=req_command(req), wall_s=time.perf_counter() - t_start,
        reliabilities=reliabilities,
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
    return " ".join(parts)

