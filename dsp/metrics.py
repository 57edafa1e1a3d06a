"""Classification scores shared by `genred evaluate` and the training report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> np.ndarray:
    """Rows: true label; columns: predicted label."""
    cm = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def scores(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro recall (over labels that occur) and per-label n/recall/precision.

    A label with no true examples has recall None and is left out of the macro mean:
    GTZAN's valid split lacks whole genres, and a 0 there would be a made-up number.
    """
    cm = confusion_matrix(y_true, y_pred, len(labels))
    n_true = cm.sum(axis=1)
    n_pred = cm.sum(axis=0)
    diag = np.diag(cm)
    per_label: dict[str, dict[str, Any]] = {}
    for i, label in enumerate(labels):
        per_label[label] = {
            "n": int(n_true[i]),
            "recall": float(diag[i] / n_true[i]) if n_true[i] else None,
            "precision": float(diag[i] / n_pred[i]) if n_pred[i] else None,
        }
    recalls = [v["recall"] for v in per_label.values() if v["recall"] is not None]
    total = int(cm.sum())
    return {
        "n": total,
        "accuracy": float(diag.sum() / total) if total else None,
        "macro_recall": float(np.mean(recalls)) if recalls else None,
        "per_label": per_label,
        "confusion": cm.tolist(),
    }
