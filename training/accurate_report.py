"""The accurate bundle's numbers (temperature, smoothing, CV summary, device vs float) and
its report page, rendered from a template."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import numpy as np

from .accurate_cv import PARTS, SCORES, CvResult, mean_sd, per_genre_mean_sd
from .accurate_data import DevData
from .report import pct
from .calibration import apply_temperature, fit_temperature_ece, reliability
from .train import item_subset, track_scores

REPORT = string.Template("""\
# ${name}: MSD_musicnn with a genre head (the accurate bundle)

Built by

    ${command}

MSD_musicnn (Pons & Serra 2019, trained on the Million Song Dataset; the musicnn 0.1.0 checkpoint, ISC
licence), frozen, up to its 1506 pooled features, and a balanced logistic-regression genre head
(${head}). Input: the default model's level-normalised window; the graph adds the teacher's level
(${offset} dB) and MusiCNN's log compression itself. Quantisation: ${quantisation}. ${size_kib} KiB;
${ms} ms per window while building (one thread, `TfliteClassifier.predict` p50, a shared machine:
see docs/models.md for quiet measurements).

## Cross-validation (${folds} artist-grouped folds over train + valid, ${scored} tracks scored)

Each fold's head is fitted on the other folds' tracks and scores the held-out ones (float
teacher features; the device graph's agreement with them is below). Mean ± sd over folds:

| set | part | folds | track accuracy | track macro recall | window accuracy |
|---|---|---|---|---|---|
${cv_rows}

Per genre, track recall (clean, mean ± sd over the folds that hold the genre; all folds pooled):

| genre | folds | clean recall | room recall | pooled clean | pooled room |
|---|---|---|---|---|---|
${genre_rows}

Per fold (clean / room, all held-out tracks):

| fold | tracks | track accuracy | track macro recall | window accuracy |
|---|---|---|---|---|
${fold_rows}

## Calibration and smoothing (out of fold)

Temperature ${temperature} (minimum ECE over the out-of-fold windows, clean and room together): ECE clean
${ece_clean}, room ${ece_room}. Smoothing fitted on the out-of-fold full clips (clean and room):
`${smoothing}`.

## The device graph against the float teacher

The shipped graph on every dev window against the float teacher + the same head (fitted on all of
them, so these are in-sample for the head; they measure what quantisation changes):

| set | window arg-max agreement | mean abs prob diff | track acc float | track acc device | macro recall float | macro recall device |
|---|---|---|---|---|---|---|
${agree_rows}
""")


def _scored_oof(cv: CvResult, dev: DevData, name: str) -> tuple[np.ndarray, np.ndarray]:
    ev, oof = (dev.clean, cv.oof_clean) if name == "clean" else (dev.room, cv.oof_room)
    mask = np.isin(ev.item, cv.scored_items)
    return oof[mask], ev.window_label[mask]


def calibrate(cv: CvResult, dev: DevData) -> tuple[float, dict[str, Any]]:
    (pc, yc), (pr, yr) = _scored_oof(cv, dev, "clean"), _scored_oof(cv, dev, "room")
    t = fit_temperature_ece(np.concatenate([pc, pr]), np.concatenate([yc, yr]))
    out: dict[str, Any] = {"temperature": round(t, 4), "bins": 10, "fitted_on": "out-of-fold windows, clean and room"}
    for name, p, y in (("clean", pc, yc), ("room", pr, yr)):
        out[name] = {"ece_before": round(reliability(p, y)["ece"], 4),
                     "ece_after": round(reliability(apply_temperature(p, t), y)["ece"], 4)}
    return t, out


def smoothing(cv: CvResult, dev: DevData, temperature: float, front_end, window):
    from .steps import smoothing_streams
    from .smoothing_fit import fit_smoothing
    from genred.dsp.smoother_params import SmootherParams

    streams = []
    for ev, oof in ((dev.clean, cv.oof_clean), (dev.room, cv.oof_room)):
        sub, mask = item_subset(ev, list(cv.scored_items), "scored")
        streams += smoothing_streams(sub, apply_temperature(oof[mask], temperature), front_end, window)
    fit = fit_smoothing(streams, dev.labels, SmootherParams())
    keep = {k: fit.get(k) for k in ("best_scores", "default", "raw")}
    keep["streams"] = len(streams)
    return fit["best"], keep


def cv_metrics(cv: CvResult, dev: DevData) -> dict[str, Any]:
    out: dict[str, Any] = {"folds": [_rounded(f, dev.labels) for f in cv.folds], "mean_sd": {}, "pooled": {}}
    for name in ("clean", "room"):
        out["mean_sd"][name] = {part: {k: [round(v, 4) for v in mean_sd(cv.folds, name, part, k)[:2]] for k in SCORES}
                                for part in PARTS}
        out["mean_sd"][name]["per_genre_track_recall"] = {
            dev.labels[g]: [round(v, 4) for v in per_genre_mean_sd(cv.folds, name, g)[:2]] for g in range(len(dev.labels))}
        ev, oof = (dev.clean, cv.oof_clean) if name == "clean" else (dev.room, cv.oof_room)
        sub, mask = item_subset(ev, list(cv.scored_items), "scored")
        s = track_scores(oof[mask], sub, len(dev.labels))
        row = {k: round(float(s[k]), 4) for k in SCORES}
        row["per_genre_track_recall"] = {dev.labels[g]: round(r, 4) for g, r in enumerate(s["track_recalls"]) if r is not None}
        out["pooled"][name] = row
    return out


def agreement(device: dict[str, np.ndarray], floats: dict[str, np.ndarray], dev: DevData) -> dict[str, Any]:
    out = {}
    for name, ev in (("clean", dev.clean), ("room", dev.room)):
        d, f = device[name], floats[name]
        sd, sf = track_scores(d, ev, len(dev.labels)), track_scores(f, ev, len(dev.labels))
        out[name] = {"window_argmax_agreement": round(float(np.mean(d.argmax(1) == f.argmax(1))), 4),
                     "mean_abs_prob_diff": round(float(np.abs(d - f).mean()), 5),
                     "max_abs_prob_diff": round(float(np.abs(d - f).max()), 4),
                     "track_agreement": round(float(np.mean(sd["item_pred"] == sf["item_pred"])), 4),
                     **{f"{k}_{side}": round(float(s[k]), 4) for side, s in (("float", sf), ("device", sd))
                        for k in ("track_accuracy", "track_macro_recall")}}
    return out


def _rounded(obj: Any, labels: tuple[str, ...]) -> Any:
    """Floats to 4 decimals; per-genre keys (label indices) to genre names."""
    if isinstance(obj, dict):
        return {(labels[k] if isinstance(k, int) else k): _rounded(v, labels) for k, v in obj.items()}
    return round(obj, 4) if isinstance(obj, float) else obj


def write_report(out: Path, meta) -> Path:
    m, t = meta.metrics, meta.training
    cv = m["cv"]
    cv_rows = []
    for name in ("clean", "room"):
        for part in PARTS:
            row = cv["mean_sd"][name][part]
            n = sum(part in f[name] for f in cv["folds"])
            cv_rows.append(f"| {name} | {part} | {n} | " + " | ".join(
                f"{pct(row[k][0])} ± {100 * row[k][1]:.1f}" for k in SCORES) + " |")
    genre_rows = []
    for g in meta.labels:
        c, r = cv["mean_sd"]["clean"]["per_genre_track_recall"][g], cv["mean_sd"]["room"]["per_genre_track_recall"][g]
        n = sum(g in f["clean"]["all"]["per_genre_track_recall"] for f in cv["folds"])
        pc = cv["pooled"]["clean"]["per_genre_track_recall"].get(g)
        pr = cv["pooled"]["room"]["per_genre_track_recall"].get(g)
        genre_rows.append(f"| {g} | {n} | {pct(c[0])} ± {100 * c[1]:.1f} | {pct(r[0])} ± {100 * r[1]:.1f} | "
                          f"{'–' if pc is None else pct(pc)} | {'–' if pr is None else pct(pr)} |")
    fold_rows = [f"| {f['fold']} | {f['test_tracks']} | " + " | ".join(
        f"{pct(f['clean']['all'][k])} / {pct(f['room']['all'][k])}" for k in SCORES) + " |" for f in cv["folds"]]
    agree_rows = [f"| {name} | {pct(a['window_argmax_agreement'])} | {a['mean_abs_prob_diff']:.4f} | "
                  f"{pct(a['track_accuracy_float'])} | {pct(a['track_accuracy_device'])} | "
                  f"{pct(a['track_macro_recall_float'])} | {pct(a['track_macro_recall_device'])} |"
                  for name, a in m["device_vs_float"].items()]
    text = REPORT.substitute(
        name=meta.name, command=t["command"], head=t["head"], offset=t["level_offset_db"],
        quantisation=meta.quantisation, size_kib=round(m["model_bytes"] / 1024), ms=m["model_ms_p50_build"],
        folds=len(cv["folds"]), scored=sum(f["test_tracks"] for f in cv["folds"]),
        cv_rows="\n".join(cv_rows), genre_rows="\n".join(genre_rows), fold_rows="\n".join(fold_rows),
        temperature=meta.temperature, ece_clean=_ece(m, "clean"), ece_room=_ece(m, "room"),
        smoothing=meta.smoothing, agree_rows="\n".join(agree_rows))
    path = Path(out) / "report.md"
    path.write_text(text, encoding="utf-8")
    return path


def _ece(m: dict[str, Any], name: str) -> str:
    c = m["calibration"][name]
    return f"{c['ece_before']:.3f} -> {c['ece_after']:.3f}"
