"""Temperature scaling and the expected calibration error (Guo et al. 2017).

The model outputs logits; the device computes ``softmax(logits / T)``. ``T`` is chosen
on valid windows, so that ``confidence`` means probability and the smoother's
thresholds rest on it. Training fits it on the valid windows and their room copy
together, minimising the expected calibration error: the NLL-optimal ``T`` followed
the few genres the student never learnt (blues, country: wrong at any temperature),
softened everything else and raised the ECE on valid and through the room. Given probabilities
``p = softmax(z)``, ``softmax(log p / T) == softmax(z / T)``: the fit needs only the
probabilities the device computes at ``T = 1``.
"""

from __future__ import annotations

import numpy as np

_FLOOR = 1e-30


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    z = np.log(np.maximum(np.asarray(probs, dtype=np.float64), _FLOOR)) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def nll(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(labels)), labels], _FLOOR))))


def fit_temperature_ece(probs: np.ndarray, labels: np.ndarray, bins: int = 10, lo: float = 0.25,
                        hi: float = 4.0, steps: int = 241) -> float:
    """The T minimising the ECE of ``labels`` on a log-spaced grid (the ECE is piecewise
    constant in T, so no gradient search); among equal minima the one nearest T = 1."""
    grid = np.exp(np.linspace(np.log(lo), np.log(hi), steps))
    ece = np.array([reliability(apply_temperature(probs, float(t)), labels, bins)["ece"] for t in grid])
    best = np.flatnonzero(ece <= ece.min() + 1e-12)
    return float(grid[best[np.argmin(np.abs(np.log(grid[best])))]])


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict[str, np.ndarray | float]:
    """Per confidence bin: mean confidence, accuracy and count; and the ECE
    (count-weighted mean |accuracy - confidence|)."""
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    mean_conf = np.bincount(which, weights=conf, minlength=bins) / np.maximum(count, 1)
    acc = np.bincount(which, weights=correct.astype(float), minlength=bins) / np.maximum(count, 1)
    ece = float(np.sum(count * np.abs(acc - mean_conf)) / max(1, len(labels)))
    return {"edges": edges, "confidence": mean_conf, "accuracy": acc, "count": count, "ece": ece}
