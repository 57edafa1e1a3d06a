"""`genred evaluate`: track-level and window-level scores of a split list, each track
through the live code path (`classify_file`)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.classifier import TfliteClassifier
from genred.dsp.dataset import find_track_file, read_split_list
from genred.dsp.errors import AudioError, GenredError
from genred.dsp.metrics import scores

from .classify import classify_file

_LOG = logging.getLogger(__name__)


def evaluate(
    data_dir: str | Path,
    split_list: str | Path,
    classifier: TfliteClassifier,
    hop_s: float | None = None,
) -> dict[str, Any]:
    """Track-level and window-level scores of a split, through the replay path."""
    labels = classifier.labels
    index = {label: i for i, label in enumerate(labels)}
    entries = read_split_list(split_list)
    if not entries:
        raise GenredError(f"split list {split_list}: names no track")
    missing: list[str] = []
    unreadable: list[dict[str, str]] = []
    track_true: list[int] = []
    track_pred: list[int] = []
    win_true: list[int] = []
    win_pred: list[int] = []
    for entry in entries:
        if entry.genre not in index:
            raise GenredError(
                f"split list {split_list}: genre {entry.genre!r} ({entry.line}) is not a label of the model "
                f"({', '.join(labels)})"
            )
        path = find_track_file(data_dir, entry.genre, entry.stem)
        if path is None:
            missing.append(entry.line)
            continue
        try:
            result = classify_file(path, classifier, hop_s=hop_s)
        except AudioError as exc:
            _LOG.warning("%s (skipped)", exc)
            unreadable.append({"track": entry.line, "error": str(exc)})
            continue
        truth = index[entry.genre]
        track_true.append(truth)
        track_pred.append(int(np.argmax(result.probabilities)))
        win_true.extend([truth] * result.windows)
        win_pred.extend(result.window_predictions)
    if not track_true:
        raise GenredError(f"evaluate: none of the {len(entries)} tracks of {split_list} was found under {data_dir}")
    tracks = scores(track_true, track_pred, labels)
    windows = scores(win_true, win_pred, labels)
    return {
        "model": str(classifier.bundle.tflite_path),
        "data": str(data_dir),
        "split": str(split_list),
        "tracks": tracks["n"],
        "windows": windows["n"],
        "track_accuracy": tracks["accuracy"],
        "window_accuracy": windows["accuracy"],
        "macro_recall": tracks["macro_recall"],
        "window_macro_recall": windows["macro_recall"],
        "per_genre": tracks["per_label"],
        "labels": list(labels),
        "confusion": tracks["confusion"],
        "missing": missing,
        "unreadable": unreadable,
    }


def format_evaluation(result: dict[str, Any]) -> str:
    lines = [
        f"model   {result['model']}",
        f"split   {result['split']}: {result['tracks']} tracks, {result['windows']} windows"
        + (f", {len(result['missing'])} missing" if result["missing"] else "")
        + (f", {len(result['unreadable'])} unreadable" if result["unreadable"] else ""),
        "",
        f"{'genre':<10} {'tracks':>6} {'recall':>7} {'precision':>9}",
    ]
    for genre, g in result["per_genre"].items():
        rec = "-" if g["recall"] is None else f"{g['recall']:.2f}"
        prec = "-" if g["precision"] is None else f"{g['precision']:.2f}"
        lines.append(f"{genre:<10} {g['n']:>6} {rec:>7} {prec:>9}")
    lines += [
        "",
        f"track accuracy   {result['track_accuracy']:.3f}",
        f"window accuracy  {result['window_accuracy']:.3f}",
        f"macro recall     {result['macro_recall']:.3f}  (tracks; over genres present)",
    ]
    return "\n".join(lines)
