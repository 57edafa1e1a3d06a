"""Classification scores: `genred evaluate`, the training report, cross-validation and
the baselines all score through these, so a number means the same wherever it is printed.

Every score is read off one confusion matrix (rows: true label; columns: predicted).
A label with no true examples has recall None and is left out of the macro mean:
GTZAN's valid split lacks whole genres, and a 0 there would be a made-up number.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_labels: int) -> np.ndarray:
    """Rows: true label; columns: predicted label."""
    cm = np.zeros((n_labels, n_labels), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return cm


def accuracy(cm: np.ndarray) -> float | None:
    """The share of right answers; None for no examples."""
    total = int(cm.sum())
    return float(np.diag(cm).sum() / total) if total else None


def recalls(cm: np.ndarray) -> list[float | None]:
    """Per label, the share of its true examples predicted as it; None for a label
    with no true examples."""
    n_true = cm.sum(axis=1)
    diag = np.diag(cm)
    return [float(diag[i] / n_true[i]) if n_true[i] else None for i in range(len(n_true))]


def precisions(cm: np.ndarray) -> list[float | None]:
    """Per label, the share of its predictions that are right; None where it is never predicted."""
    n_pred = cm.sum(axis=0)
    diag = np.diag(cm)
    return [float(diag[i] / n_pred[i]) if n_pred[i] else None for i in range(len(n_pred))]


def macro_recall(cm: np.ndarray) -> float | None:
    """The mean recall over the labels that occur (have true examples); None if none does."""
    present = [r for r in recalls(cm) if r is not None]
    return float(np.mean(present)) if present else None


def scores(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro recall (over labels that occur) and per-label n/recall/precision."""
    cm = confusion_matrix(y_true, y_pred, len(labels))
    n_true = cm.sum(axis=1)
    rec, prec = recalls(cm), precisions(cm)
    per_label = {
        label: {"n": int(n_true[i]), "recall": rec[i], "precision": prec[i]} for i, label in enumerate(labels)
    }
    return {
        "n": int(cm.sum()),
        "accuracy": accuracy(cm),
        "macro_recall": macro_recall(cm),
        "per_label": per_label,
        "confusion": cm.tolist(),
    }
