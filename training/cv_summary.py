"""Gathering cross-validation folds: each fold calibrated and smoothed by the others,
its bundle written, its tracks and its stream scored; mean +- sd over folds.

Fold ``i``'s temperature is the one of least ECE on the other folds' test windows
(clean and room together, int8, at T = 1), and its smoothing parameters the best of
`smoothing_fit`'s grid on the other folds' full clips at that temperature: what a
shipped model would get from CV, and nothing of fold ``i`` chooses it. The stream is
fold ``i``'s test full clips back to back in a seeded order, played through the
device's `Pipeline` with the fold's bundle, clean and through one simulated room.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from genred.dsp.bundle import ModelMetadata, write_metadata
from genred.dsp.errors import GenredError
from genred.dsp.metrics import scores as label_scores

from .calibration import fit_temperature_ece
from .smoothing_fit import BACK_TO_BACK, CLIPS
from .stream_score import Segment, StreamScore, score_stream

_LOG = logging.getLogger(__name__)

SETS = ("test", "test_room")
KINDS = {"all": None, "full_clips": "full", "excerpts_only": "excerpt"}


@dataclasses.dataclass(frozen=True)
class FoldOutputs:
    index: int
    folder: Path
    info: dict[str, Any]
    classifier: Any  # TfliteClassifier at T = 1
    sets: dict[str, Any]  # name -> EvalSet without window data
    raw: dict[str, np.ndarray]  # name -> int8 outputs per window
    item_probs: dict[str, dict[str, np.ndarray]]  # "float"/"teacher" -> name -> per track


def load_fold(folder: Path, i: int, by_key: dict, labels: tuple[str, ...]) -> FoldOutputs:
    from .steps import device_classifier
    from .train import EvalSet

    info = json.loads((folder / "fold.json").read_text(encoding="utf-8"))
    meta = ModelMetadata.from_dict(info["metadata"])
    z = np.load(folder / "outputs.npz")
    sets, raw, item_probs = {}, {}, {"float": {}, "teacher": {}}
    for name in SETS:
        items = [by_key[str(k)] for k in z[f"{name}__keys"]]
        sets[name] = EvalSet(name, np.zeros((len(z[f"{name}__item"]), 0, 0), np.float32), z[f"{name}__level_db"],
                             z[f"{name}__start_frame"], z[f"{name}__item"], items,
                             np.array([labels.index(t.genre) for t in items]), [str(k) for k in z[f"{name}__kinds"]])
        raw[name] = z[f"{name}__raw"]
        for who in item_probs:
            if f"{name}__{who}_item_probs" in z:
                item_probs[who][name] = z[f"{name}__{who}_item_probs"]
    return FoldOutputs(i, folder, info, device_classifier(folder / "model.tflite", meta), sets, raw, item_probs)


def track_metrics(item_pred, item_label, item_kind, labels: tuple[str, ...]) -> dict[str, Any]:
    """Track accuracy, macro recall (genres present) and per-genre recall, per kind of track."""
    out = {}
    for name, kind in KINDS.items():
        keep = [i for i, k in enumerate(item_kind) if kind is None or k == kind]
        s = label_scores(np.asarray(item_label)[keep].tolist(), np.asarray(item_pred)[keep].tolist(), labels)
        out[name] = {"tracks": len(keep), "track_accuracy": s["accuracy"], "track_macro_recall": s["macro_recall"],
                     "per_genre": {g: v for g, v in s["per_label"].items() if v["n"]}}
    return out


def cross_fit(folds: list[FoldOutputs], labels: tuple[str, ...], setup, back_to_back: bool = False) -> tuple[float, Any, dict]:
    """The temperature and smoothing that ``folds``' test outputs choose (smoothing fitted on
    each full clip as its own stream, or ``back_to_back``: each fold's and set's clips as one)."""
    from genred.dsp.smoother_params import SmootherParams

    from .steps import activate, smoothing_step

    if not folds:
        return 1.0, SmootherParams(), {}
    probs = [activate(f.classifier, f.raw[n], 1.0) for f in folds for n in SETS]
    y = [f.sets[n].window_label for f in folds for n in SETS]
    t = round(fit_temperature_ece(np.concatenate(probs), np.concatenate(y)), 4)
    sets = {f"{f.index}/{n}": f.sets[n] for f in folds for n in SETS}
    at_t = {f"{f.index}/{n}": activate(f.classifier, f.raw[n], t) for f in folds for n in SETS}
    sm = smoothing_step(sets, at_t, labels, setup, back_to_back)
    return t, sm.params, sm.fit.get("best_scores") or {}


def replay_stream(classifier, tracks: list, seed: list[int], room: bool, setup) -> StreamScore | None:
    """``tracks``' full clips back to back (seeded order) through the device's Pipeline."""
    from genred.dsp.pipeline import Pipeline

    from .augment import simulate_room
    from .features import load_resampled

    clips = [t for t in tracks if t.full is not None]
    if not clips:
        return None
    rng = np.random.default_rng(seed)
    clips = [clips[i] for i in rng.permutation(len(clips))]
    rate = setup.front_end.sample_rate_hz
    audio, segments, t = [], [], 0.0
    for c in clips:
        x = load_resampled(c.full, rate)
        audio.append(x)
        segments.append(Segment(t, t + len(x) / rate, c.genre, c.key))
        t += len(x) / rate
    stream = np.concatenate(audio).astype(np.float32)
    if room:  # one room for the whole stream, as in a living room
        stream, _ = simulate_room(stream, rate, rng, setup.room)
    pipe = Pipeline(classifier, rate)
    results = []
    for i in range(0, len(stream), 8192):
        results += pipe.process(stream[i : i + 8192])
    results += pipe.flush()
    return score_stream([r.end_s for r in results], [r.state.genre for r in results], segments)


def score_fold(f: FoldOutputs, others: list[FoldOutputs], labels: tuple[str, ...], plan_seed: int,
               setup, back_to_back: bool = False) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    from .steps import calibrate_step, device_classifier

    t, smoothing, fit_scores = cross_fit(others, labels, setup, back_to_back)
    cal = calibrate_step(f.classifier, f.raw, f.sets, temperature=t)
    meta = msgspec.structs.replace(f.classifier.metadata, temperature=cal.temperature, smoothing=smoothing.to_dict(),
                               training={"cross_validation_fold": f.index, "temperature_and_smoothing_from_folds":
                                         [o.index for o in others], **{k: f.info[k] for k in ("train_tracks", "test_tracks")}})
    write_metadata(meta, f.folder / "model.json")
    out: dict[str, Any] = {"fold": f.index, "temperature": cal.temperature, "chosen_by_folds": [o.index for o in others],
                           "smoothing": smoothing.to_dict(), "smoothing_scores_on_those_folds": fit_scores,
                           "calibration": {n: cal.summary[n] for n in SETS}}
    preds: dict[str, dict[str, np.ndarray]] = {}
    for name in SETS:
        ev = f.sets[name]
        preds.setdefault("int8", {})[name] = cal.scores[name]["item_pred"]
        for who, per_set in f.item_probs.items():
            if name in per_set:
                preds.setdefault(who, {})[name] = per_set[name].argmax(axis=1)
        for who in preds:
            if name in preds[who]:
                out.setdefault(who, {})[name] = track_metrics(preds[who][name], ev.item_label, ev.item_kind, labels)
        out["int8"][name]["all"]["window_accuracy"] = cal.scores[name]["window_accuracy"]
    device = device_classifier(f.folder / "model.tflite", meta)
    tracks = f.sets["test"].items
    out["stream"] = {}
    for name, room in (("test", False), ("test_room", True)):
        s = replay_stream(device, tracks, [plan_seed, f.index], room, setup)
        out["stream"][name] = None if s is None else s.to_dict()
    (f.folder / "scores.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    _LOG.info("fold %d: T %.3f, int8 test track accuracy %.3f, macro recall %.3f", f.index, cal.temperature,
              out["int8"]["test"]["all"]["track_accuracy"], out["int8"]["test"]["all"]["track_macro_recall"])
    return out, preds


def mean_sd(values: list[float | None]) -> dict[str, Any]:
    v = [x for x in values if x is not None]
    return {"mean": float(np.mean(v)) if v else None, "sd": float(np.std(v, ddof=1)) if len(v) > 1 else None,
            "folds": len(v), "values": [None if x is None else round(x, 4) for x in values]}


def summarise(out: Path, index, tracks, plan, desc: dict[str, Any], back_to_back: bool = False) -> dict[str, Any]:
    from .steps import Setup

    labels, by_key = index.labels, {t.key: t for t in tracks}
    done = [i for i in range(len(plan.folds)) if (out / f"fold_{i}" / "fold.json").is_file()]
    if not done:
        raise GenredError(f"{out}: no fold has run yet (run --fold N first)")
    folds = [load_fold(out / f"fold_{i}", i, by_key, labels) for i in done]
    setup = Setup()
    scored = [score_fold(f, [o for o in folds if o is not f], labels, plan.seed, setup, back_to_back) for f in folds]
    per_fold = [p for p, _ in scored]
    summary: dict[str, Any] = {"plan": desc, "smoothing_fit": BACK_TO_BACK if back_to_back else CLIPS, "folds_run": done,
                               "folds_missing": sorted(set(range(len(plan.folds))) - set(done))}
    for who in ("int8", "float", "teacher"):
        for name in SETS:
            if not all(who in p and name in p[who] for p in per_fold):
                continue
            # every scored track once: the pooled numbers (per genre: all its tracks together)
            summary.setdefault("pooled", {}).setdefault(who, {})[name] = track_metrics(
                np.concatenate([pr[who][name] for _, pr in scored]),
                np.concatenate([f.sets[name].item_label for f in folds]),
                [k for f in folds for k in f.sets[name].item_kind], labels)
            for kind in KINDS:
                for metric in ("track_accuracy", "track_macro_recall"):
                    summary.setdefault(who, {}).setdefault(name, {}).setdefault(kind, {})[metric] = mean_sd(
                        [p[who][name][kind][metric] for p in per_fold])
                summary[who][name][kind]["per_genre"] = {g: mean_sd(
                    [p[who][name][kind]["per_genre"].get(g, {}).get("recall") for p in per_fold]) for g in labels}
    for name in SETS:
        summary["int8"][name]["all"]["window_accuracy"] = mean_sd([p["int8"][name]["all"]["window_accuracy"] for p in per_fold])
        summary.setdefault("ece", {})[name] = mean_sd([p["calibration"][name]["ece_after"] for p in per_fold])
        streams = [p["stream"][name] for p in per_fold if p["stream"][name]]
        summary.setdefault("stream", {})[name] = {k: mean_sd([s[k] for s in streams]) for k in (
            "right_share", "per_true_change", "wrong_changes_per_hour", "median_latency_s")}
    t, smoothing, _ = cross_fit(folds, labels, setup, back_to_back)
    summary["chosen_by_all_folds"] = {"temperature": t, "smoothing": smoothing.to_dict()}
    summary["per_fold"] = per_fold
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    from .cv_page import write_page

    write_page(out / "summary.md", summary, labels)
    _LOG.info("wrote %s and summary.json", out / "summary.md")
    return summary
