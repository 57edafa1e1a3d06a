"""The training report beside a model: report.md, confusion.png, training_curves.png.

Every number in it is measured in the run that wrote it; nothing is typed in by hand.
"""

from __future__ import annotations

import logging
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from genred.dsp.bundle import ModelMetadata
from genred.dsp.metrics import confusion_matrix

from .smoothing_fit import BACK_TO_BACK, CHANGE_PENALTY, CLIPS, GIVEN, WRONG_WEIGHT

_LOG = logging.getLogger(__name__)


def pct(x: float | None) -> str:
    """A share as the report pages print it: one decimal, "n/a" for no value."""
    return "n/a" if x is None else f"{100 * x:.1f} %"


def plot_confusion(path: Path, labels: tuple[str, ...], panels: list[tuple[str, np.ndarray]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(6.2 * len(panels), 5.6))
    axes = np.atleast_1d(axes)
    for ax, (title, cm) in zip(axes, panels, strict=True):
        rows = cm.sum(axis=1, keepdims=True)
        share = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(labels)):
            for j in range(len(labels)):
                if cm[i, j]:
                    ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.5 else "black")
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true (rows: share of the genre's tracks)")
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_curves(path: Path, history: list[dict[str, float]], best_epoch: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    a.plot(ep, [h["loss"] for h in history], label="train loss (augmented)")
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a2 = a.twinx()
    a2.plot(ep, [h["train_accuracy"] for h in history], color="tab:orange", label="train window accuracy")
    a2.set_ylim(0, 1)
    a.legend(loc="upper left", fontsize=8)
    a2.legend(loc="upper right", fontsize=8)
    for key, style in (("valid_track_macro_recall", "-"), ("valid_room_track_macro_recall", "-"),
                       ("valid_window_accuracy", "--"), ("valid_room_window_accuracy", "--")):
        if all(key in h for h in history):  # a run on fixed epochs scores nothing on the way
            b.plot(ep, [h[key] for h in history], style, label=key.replace("_", " "))
    b.axvline(best_epoch, color="grey", lw=0.8, ls=":", label=f"kept (epoch {best_epoch})")
    b.set_ylim(0, 1)
    b.set_xlabel("epoch")
    b.legend(fontsize=7)
    b.set_title("float model on valid and valid_room", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_reliability(path: Path, reliabilities: dict[str, tuple[dict, dict]], temperature: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(reliabilities), figsize=(5.2 * len(reliabilities), 4.6))
    for ax, (name, (before, after)) in zip(np.atleast_1d(axes), reliabilities.items(), strict=True):
        centres = (after["edges"][:-1] + after["edges"][1:]) / 2
        width = after["edges"][1] - after["edges"][0]
        used = after["count"] > 0
        ax.bar(centres[used], after["accuracy"][used], width=width * 0.9, alpha=0.6,
               label=f"T = {temperature:.2f}: ECE {after['ece']:.3f}")
        ub = before["count"] > 0
        ax.plot(before["confidence"][ub], before["accuracy"][ub], "o--", color="tab:red",
                label=f"T = 1: ECE {before['ece']:.3f}")
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("confidence (top probability)")
        ax.set_ylabel("accuracy")
        ax.set_title(f"int8, {name}, windows", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_ON_VALID = "the int8 window probabilities of the {n} valid full clips (clean and valid_room)"
_SMOOTHING_HOW = {  # by smoothing_fit's mode
    CLIPS: f"Chosen on {_ON_VALID} as streams, each clip its own: score = share of windows publishing the right "
             f"genre - {WRONG_WEIGHT:g} x share publishing a wrong one - {CHANGE_PENALTY:g} x changes of the published "
             "genre per clip.",
    BACK_TO_BACK: f"Chosen on {_ON_VALID} back to back, each set's clips as one stream in a seeded order "
                    f"(`--smoothing-fit back_to_back`): score = share of windows publishing the genre playing - "
                    f"{WRONG_WEIGHT:g} x share publishing another - {CHANGE_PENALTY:g} x changes to a genre that is "
                    "not playing, per clip.",
    GIVEN: "Given (`--smoothing`: the cross-validation's choice), not fitted. The rows below score it on "
             f"{_ON_VALID}, tracks the model trained on: a check, not an estimate.",
}


def write_report(
    folder: Path, meta: ModelMetadata, history: list[dict[str, float]], sets: dict[str, Any],
    float_scores: dict[str, dict[str, Any]], int8_scores: dict[str, dict[str, Any]], fit: dict[str, Any],
    *, ops: list[str], command: str, wall_s: float, reliabilities: dict[str, tuple[dict, dict]] | None = None,
) -> None:
    labels = meta.labels
    n = len(labels)
    tr = meta.training
    cms = {name: confusion_matrix(ev.item_label, int8_scores[name]["item_pred"], n) for name, ev in sets.items()}
    plot_confusion(folder / "confusion.png", labels, [
        (f"int8, valid, track level ({len(sets['valid'].items)} tracks)", cms["valid"]),
        (f"int8, valid_room, track level ({len(sets['valid_room'].items)} tracks)", cms["valid_room"]),
    ])
    plot_curves(folder / "training_curves.png", history, tr["best_epoch"])
    if reliabilities:
        plot_reliability(folder / "reliability.png", reliabilities, meta.temperature)

    cfg = tr["config"]
    keys = ("window_accuracy", "window_macro_recall", "track_accuracy", "track_macro_recall")
    acc_rows = [f"| {name} | {kind} | " + " | ".join(pct(sc[k]) for k in keys) + " |"
                for name in sets for kind, sc in (("float", float_scores[name]), ("int8", int8_scores[name]))]
    teacher = meta.metrics.get("teacher")
    if teacher:
        acc_rows += [f"| {name} | teacher (MSD_musicnn + head, float; not shipped) | "
                     + " | ".join(pct(teacher[name][k]) for k in keys) + " |" for name in sets]
    full = meta.metrics.get("full_clips_int8") or {}
    full_section = _section("report_full_clips.md", rows="\n".join(
        f"| {name} | {sc['tracks']} | " + " | ".join(pct(sc[k]) for k in keys) + " |" for name, sc in full.items())) if full else ""
    pg, pr = meta.metrics["per_genre_int8_valid_track"], meta.metrics["per_genre_int8_valid_room_track"]
    cal = meta.metrics.get("calibration")
    cal_section = ""
    if cal:
        cal_section = _section(
            "report_calibration.md", temperature=cal["temperature"], how=(
                "given (`--temperature`, the cross-validation's choice; the ECE below is on windows of tracks the "
                "model trained on)" if cal.get("given") else
                f"fitted on the {cal['fitted_on']} ({cal.get('objective', 'minimum negative log-likelihood')})"),
            bins=cal["bins"], rows="\n".join(
                f"| {name} | {c['ece_before']:.3f} | {c['ece_after']:.3f} | {c['nll_before']:.3f} | {c['nll_after']:.3f} |"
                for name, c in ((n, cal[n]) for n in ("valid", "valid_room", "pooled") if n in cal and "nll_before" in cal[n])))
    extra = []
    if tr.get("ensemble_members"):
        ms = tr["ensemble_members"]
        each = "; ".join(
            f"seed {m['seed']}: epoch {m['best_epoch']}, valid {100 * m.get('valid_track_accuracy', 0):.1f} % / "
            f"valid_room {100 * m.get('valid_room_track_accuracy', 0):.1f} % track accuracy (float)" for m in ms)
        extra.append(f"- ensemble: {len(ms)} students, the model averages their logits; each selected on its own "
                     f"({each}). The curves below are the first member's.")
    if tr.get("teacher"):
        t = tr["teacher"]
        heard = ("a room copy's window is labelled by the teacher's view of the same window of the clean audio"
                 if t.get("hears", "own") == "clean" else "every window is labelled by the teacher's view of it")
        extra.append(f"- teacher: {t['model']}; head: {t['head']}, fitted on {t['train_windows']} train windows "
                     f"(every {t['grid_hop_frames']} frames); {heard}; its soft labels (temperature "
                     f"{t.get('soft_label_temperature', 1.0)}) make {t['soft_label_weight']:.0%} of each target.")
    smooth_rows = [
        f"| {name} | {pct(row['correct'])} | {pct(row['wrong'])} | {row['changes']:.2f} | {row['score']:.3f} |"
        for name, row in (("raw arg-max per window" + (" (each clip alone)" if fit.get("scored") == BACK_TO_BACK else ""),
                           fit.get("raw")), ("smoother, built-in defaults", fit.get("default")),
                          ("smoother, chosen", fit.get("best_scores"))) if row]
    text = _template("report.md").substitute(
        name=meta.name, created=meta.created, version=meta.genred_version, tensorflow=tr["tensorflow"],
        minutes=f"{wall_s / 60:.1f}", command=command, data=tr["data"], split=tr["split"], rule=tr["rule"],
        train_tracks=tr["train_tracks"], train_full_clips=tr["train_full_clips"],
        room_copies=tr["room_copies_per_train_track"], valid_tracks=tr["valid_tracks"],
        listed_but_missing=", ".join(f"{k} {v}" for k, v in tr["listed_but_missing"].items()),
        unreadable=", ".join(Path(p).name for p in tr["unreadable"]) or "none",
        genre_rows="\n".join(
            f"| {g} | {tr['train_tracks_per_genre'][g]} | {v['tracks']} ({v['full_clips']} / {v['tracks'] - v['full_clips']}) |"
            for g, v in ((g, tr["valid_per_genre"][g]) for g in labels)),
        accuracy_rows="\n".join(acc_rows), full_clips_section=full_section,
        per_genre_rows="\n".join(f"| {g} | {pg[g]['n']} | {pct(pg[g]['recall'])} | {pct(pr[g]['recall'])} |"
                                 for g in labels if pg[g]["n"]),
        calibration_section=cal_section, arch=cfg["model"]["name"], parameters=tr["parameters"],
        kib=f"{meta.metrics['model_bytes'] / 1024:.0f}", ops=", ".join(ops) or "n/a", epochs_run=tr["epochs_run"],
        steps=cfg["steps_per_epoch"], batch_size=cfg["batch_size"], stopped_early=tr["stopped_early"],
        best_epoch=tr["best_epoch"], selection=meta.metrics["selection"], p_clean=cfg["p_clean"],
        specaug_p=cfg["specaug_p"], label_smoothing=cfg["label_smoothing"], mixup_p=cfg["mixup_p"],
        features_s=f"{tr['features_wall_s']:.0f}", train_s=f"{tr['train_wall_s']:.0f}",
        extra_training_lines="".join("\n" + line for line in extra),
        smoothing_rows="\n".join(smooth_rows), smoothing_how=_SMOOTHING_HOW[fit.get("mode", CLIPS)].format(n=fit.get("n_streams", 0)), chosen=", ".join(f"`{k}` {v}" for k, v in meta.smoothing.items()),
    )
    (folder / "report.md").write_text(text, encoding="utf-8")
    _LOG.info("wrote %s", folder / "report.md")


def _template(name: str) -> Template:
    """A page template of `training/templates`: the page's words live there, the numbers come from the run."""
    return Template((Path(__file__).parent / "templates" / name).read_text(encoding="utf-8"))


def _section(name: str, **values: Any) -> str:
    return _template(name).substitute(**values).rstrip("\n")
