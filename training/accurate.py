"""Build the accurate bundle: MSD_musicnn with its genre head as a device model.

    python -m genred.training.accurate --data ../shared/data/gtzan --out daemon/models/accurate

Every dev track (train + valid lists) is used: the head is fitted on all of them (clean
windows on the teacher's grid, as `teacher_probe` does, and the room copy's windows:
cross-validation put that 10 points ahead through the room; C = 0.01), after
artist-grouped cross-validation of the same recipe has scored it, clean and through the
room, and chosen its temperature and smoothing out of fold. The graph takes the default
model's input, so the daemon's front end, windows and smoothing serve both bundles
(`accurate_graph`). It ships with float16 weights: full-integer int8 (on the rearranged
graph of `accurate_int8`) loses 8-12 points of track accuracy against float, dynamic range
(the same graph) under one, float16 nothing, and float16 runs fastest here
(docs/models.md). The device graph is checked against the float teacher + head on every
dev window.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from genred.dsp.bundle import ModelMetadata, bundle_paths, load_metadata, write_metadata
from genred.dsp.params import LogMelParams, WindowParams

from .features import DEFAULT_CACHE_DIR
from .teacher import GRID_HOP_FRAMES, HEAD_C

_LOG = logging.getLogger(__name__)

NAME = "genred-gtzan-musicnn"
DEFAULT_MIN_STD = 1e-3  # over half of the pooled features are constant (std < 1e-4); the rest >= 1e-3
REPRESENTATIVE_N = 300
HEAD_FILE = "head.npz"


@dataclasses.dataclass(frozen=True)
class AccurateRequest:
    data: Path
    out: Path
    quantisation: str = "float16"  # int8 loses 8-12 points against float (docs/models.md)
    c: float = HEAD_C
    min_std: float = DEFAULT_MIN_STD
    room_windows: bool = True  # the head also learns from the room copies (CV: +10 points through the room)
    folds: int = 4
    seed: int = 1
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    workers: int = 2
    threads: int = 2  # TensorFlow threads for the embeddings (inference only: order does not matter)
    head_features: str = "pooled"  # or "pooled+tags": MSD_musicnn's 50 tag logits too
    tag_weight: float = 1.0  # the tags' feature weight in the head (a prior toward them)
    cv_only: bool = False  # score the recipe by CV, write <out>/cv.json, build nothing
    tag_mix: float = 0.0  # > 0: mix this share of a tag-led head's logits (C = tag_c) into the pooled head's
    tag_c: float = 3e-5

    def command(self) -> str:
        tags = f"--head-features {self.head_features} --tag-weight {self.tag_weight:g} " if self.head_features != "pooled" else ""
        if self.tag_mix:
            tags += f"--tag-mix {self.tag_mix:g} --tag-c {self.tag_c:g} "
        return (f"python -m genred.training.accurate --data {self.data} --out {self.out} --quantisation {self.quantisation} "
                f"--c {self.c} --min-std {self.min_std} {'' if self.room_windows else '--no-room-windows '}{tags}"
                f"--folds {self.folds} --seed {self.seed}{' --cv-only' if self.cv_only else ''}")


def save_head(path: Path, head, offset_db: float) -> None:
    """The float head and level beside the bundle (not installed): what tests check the
    graph against, with the teacher in numpy."""
    np.savez_compressed(path, mean=head.mean, scale=head.scale, coef=head.coef, intercept=head.intercept,
                        offset_db=np.float64(offset_db))


def load_head(path: Path):
    from .teacher import Head

    with np.load(path) as z:
        return Head(z["mean"], z["scale"], z["coef"], z["intercept"]), float(z["offset_db"])


def device_probs(classifier, x: np.ndarray) -> np.ndarray:
    return np.stack([classifier.predict(w) for w in x]) if len(x) else np.zeros((0, len(classifier.labels)), np.float32)


def build_graph(req: AccurateRequest, teacher, head, dev, n_labels: int) -> tuple[bytes, dict[str, Any]]:
    """The device graph as TFLite bytes, and what its quantisation used."""
    from .accurate_graph import convert, device_model
    from .accurate_int8 import channel_stats, int8_ready_model
    from .musicnn import checkpoint_dir, read_weights

    front_end, window = LogMelParams(), WindowParams()
    if req.quantisation in ("float32", "float16"):
        model = device_model(teacher.model, head, dev.offset_db, window.window_frames, front_end.n_mels, n_labels,
                             tags=req.head_features == "pooled+tags")
        return convert(model, req.quantisation), {}
    # Ranges (and int8 calibration): dev windows, clean and through the room (what a device hears).
    rng = np.random.default_rng(req.seed)
    half = REPRESENTATIVE_N // 2
    rep = np.concatenate([dev.clean.x[rng.choice(len(dev.clean.x), half, replace=False)],
                          dev.room.x[rng.choice(len(dev.room.x), half, replace=False)]])
    stats = channel_stats(teacher.model, rep, dev.offset_db)
    # Dynamic range quantises activations per tensor on the fly: the rearranged graph's
    # even ranges serve it too (the plain graph's disagreed with float on half the windows).
    int8 = req.quantisation == "int8"
    model = int8_ready_model(read_weights(checkpoint_dir()), stats, head, dev.offset_db, window.window_frames,
                             front_end.n_mels, n_labels, window.floor_db, ramps=int8)
    return convert(model, req.quantisation, rep[..., None] if int8 else None), {"range_windows": len(rep)}


def run(req: AccurateRequest) -> dict[str, Any]:
    if req.tag_mix and req.head_features != "pooled+tags":
        raise ValueError("--tag-mix: needs --head-features pooled+tags (the tag-led head reads the tags)")
    if req.head_features != "pooled" and req.quantisation not in ("float32", "float16"):
        raise ValueError(f"--head-features {req.head_features}: only with --quantisation float16 or float32 "
                         "(the rearranged int8 graph has no tag layers)")
    import tensorflow as tf

    from genred.dsp.classifier import TfliteClassifier

    from .accurate_cv import cross_validate, fold_head
    from .accurate_data import embed_dev, feature_weights, head_inputs, load_dev, teacher_for
    from .accurate_graph import QUANTISATION_TEXT
    from .accurate_report import agreement, calibrate, cv_metrics, smoothing, write_report
    from .core import _version
    from .export import tensor_specs, write_atomic

    t0 = time.perf_counter()
    tf.config.threading.set_intra_op_parallelism_threads(req.threads)
    front_end, window = LogMelParams(), WindowParams()
    dev, items = load_dev(req.data, req.cache_dir, req.folds, req.seed, req.workers, front_end, window)
    teacher = teacher_for(dev, req.cache_dir, front_end, window)
    emb = head_inputs(embed_dev(dev, items, teacher), req.head_features)
    del items
    labels = dev.labels
    weight = feature_weights(req.head_features, req.tag_weight)

    mix = (req.tag_mix, req.tag_c) if req.tag_mix else None
    cv = cross_validate(dev, emb, req.c, req.min_std, req.room_windows, weight, mix)
    temperature, calibration = calibrate(cv, dev)
    if req.cv_only:
        return write_cv_only(req, cv, dev, calibration)
    smooth, smooth_fit = smoothing(cv, dev, temperature, front_end, window)
    head = fold_head(dev, emb, set(dev.keys), req.c, req.min_std, req.room_windows, weight, mix)
    _LOG.info("head: %d of %d features carry weight", int((head.coef != 0).any(axis=0).sum()), head.coef.shape[1])

    tflite, quant_info = build_graph(req, teacher, head, dev, len(labels))
    tflite_path, json_path = bundle_paths(req.out / "model.tflite")
    write_atomic(tflite_path, tflite)
    save_head(req.out / HEAD_FILE, head, dev.offset_db)
    in_spec, out_spec = tensor_specs(tflite)
    meta = ModelMetadata(
        name=NAME, labels=labels, front_end=front_end, window=window,
        default_hop_s=round(window.hop_frames / front_end.frame_rate_hz, 4),
        input=in_spec, output=out_spec, output_activation="logits", temperature=round(temperature, 4),
        smoothing=smooth.to_dict(), quantisation=QUANTISATION_TEXT[req.quantisation],
    )
    write_metadata(meta, json_path)
    classifier = TfliteClassifier(load_metadata(tflite_path))
    device = {"clean": device_probs(classifier, dev.clean.x), "room": device_probs(classifier, dev.room.x)}
    floats = {"clean": head.probs(emb.clean, temperature), "room": head.probs(emb.room, temperature)}
    times = []
    for w in dev.clean.x[:: max(1, len(dev.clean.x) // 60)]:
        t = time.perf_counter()
        classifier.predict(w)
        times.append(time.perf_counter() - t)

    metrics: dict[str, Any] = {
        "cv": cv_metrics(cv, dev),
        "calibration": calibration,
        "device_vs_float": agreement(device, floats, dev),
        "model_bytes": len(tflite),
        "model_ms_p50_build": round(1000 * float(np.median(times[1:])), 2),
        "smoothing_fit": smooth_fit,
    }
    training = {
        "data": str(req.data),
        "tracks": "every dev track with audio: train_filtered.txt + valid_filtered.txt",
        "dev_tracks": len(dev.keys),
        "cv": f"{req.folds} artist-grouped, genre-stratified folds (cv.gtzan_folds, seed {req.seed}); "
              f"{len(cv.scored_items)} tracks scored ('-' tracks train only)",
        "teacher": "MSD_musicnn (musicnn 0.1.0 checkpoint, ISC licence), frozen; its 1506 pooled mid-level features",
        "head": f"standardised logistic regression, C={req.c}, genre- and track-balanced, reading {head_text(req)}, on every dev track's clean "
                f"windows every {GRID_HOP_FRAMES} frames" + (" and its room copy's windows (every device hop)" if req.room_windows else "")
                + f"; features with std < {req.min_std} get no weight",
        "head_windows": int(len(emb.grid) + (len(emb.room) if req.room_windows else 0)),
        "head_features_used": int((head.coef != 0).any(axis=0).sum()),
        "level_offset_db": round(dev.offset_db, 3),
        "temperature": "minimum ECE on the out-of-fold windows, clean and room together",
        "smoothing": "fitted on the out-of-fold full clips, clean and room",
        **quant_info,
        "command": req.command(),
        "tensorflow": tf.__version__,
        "build_wall_s": round(time.perf_counter() - t0, 1),
    }
    meta = msgspec.structs.replace(meta, training=training, metrics=metrics, genred_version=_version(),
                               created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    write_metadata(meta, json_path)
    load_metadata(tflite_path)  # the bundle we wrote must load
    write_report(req.out, meta)
    _LOG.info("wrote %s and %s (%.0f s)", tflite_path, json_path.name, time.perf_counter() - t0)
    return metrics


def head_text(req: AccurateRequest) -> str:
    if req.head_features == "pooled":
        return "the 1506 pooled features"
    text = f"the 1506 pooled features and the 50 tag logits (weighted {req.tag_weight:g})"
    if req.tag_mix:
        text += f"; its logits are {1 - req.tag_mix:g} x a pooled-only head's + {req.tag_mix:g} x a tag-led one's (C={req.tag_c:g})"
    return text


def write_cv_only(req: AccurateRequest, cv, dev, calibration: dict[str, Any]) -> dict[str, Any]:
    """`--cv-only`: the CV scores of the recipe, as the bundle's metrics hold them."""
    import json

    from .accurate_report import cv_metrics

    out = {"command": req.command(), "cv": cv_metrics(cv, dev), "calibration": calibration}
    req.out.mkdir(parents=True, exist_ok=True)
    (req.out / "cv.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    for name in ("clean", "room"):
        m, pooled = out["cv"]["mean_sd"][name], out["cv"]["pooled"][name]["per_genre_track_recall"]
        _LOG.info("cv %s: track accuracy %.3f +- %.3f, macro recall %.3f +- %.3f, full clips %.3f; blues %.3f, country %.3f",
                  name, *m["all"]["track_accuracy"], *m["all"]["track_macro_recall"],
                  m["full clips"]["track_accuracy"][0], pooled.get("blues", float("nan")), pooled.get("country", float("nan")))
    _LOG.info("wrote %s", req.out / "cv.json")
    return out


def main(argv: list[str] | None = None) -> int:
    from genred.dsp.errors import GenredError

    from .accurate_data import HEAD_FEATURES
    from .command import run_command, setup_logging
    from .accurate_graph import QUANTISATIONS

    p = argparse.ArgumentParser(prog="python -m genred.training.accurate", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="GTZAN folder with train_filtered.txt, valid_filtered.txt, artists.tsv")
    p.add_argument("--out", type=Path, required=True, help="bundle folder (model.tflite, model.json, report.md)")
    p.add_argument("--quantisation", choices=QUANTISATIONS, default="float16",
                   help="float16 (default: float16 weights, float32 arithmetic, as the float teacher), dynamic, "
                        "int8 (the rearranged graph; loses 8-12 points of track accuracy), float32")
    p.add_argument("--c", type=float, default=HEAD_C, help="inverse L2 strength of the head")
    p.add_argument("--min-std", type=float, default=DEFAULT_MIN_STD, help="features with a smaller std get no weight")
    p.add_argument("--no-room-windows", dest="room_windows", action="store_false",
                   help="fit the head on the clean windows only (as teacher_probe does)")
    p.add_argument("--head-features", choices=HEAD_FEATURES, default="pooled",
                   help="what the head reads: the 1506 pooled features, or those and MSD_musicnn's 50 tag logits")
    p.add_argument("--tag-weight", type=float, default=1.0,
                   help="the tag logits' weight after standardisation (k > 1: a prior toward the teacher's own tags)")
    p.add_argument("--tag-mix", type=float, default=0.0, metavar="ALPHA",
                   help="mix ALPHA of a tag-led head's logits (--tag-c, the tags at --tag-weight) into the pooled head's")
    p.add_argument("--tag-c", type=float, default=3e-5, help="C of the tag-led head of --tag-mix")
    p.add_argument("--cv-only", action="store_true", help="cross-validate the recipe, write OUT/cv.json, build no bundle")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--seed", type=int, default=1, help="fold assignment and calibration windows")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR, help="feature cache ('none': off)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--threads", type=int, default=2, help="TensorFlow threads for the teacher's embeddings")
    args = p.parse_args(argv)
    setup_logging()
    cache = None if str(args.cache) == "none" else args.cache
    req = AccurateRequest(args.data, args.out, args.quantisation, args.c, args.min_std, args.room_windows, args.folds,
                          args.seed, cache, args.workers, args.threads, args.head_features, args.tag_weight, args.cv_only, args.tag_mix, args.tag_c)
    return run_command("accurate", lambda: run(req), errors=(GenredError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
