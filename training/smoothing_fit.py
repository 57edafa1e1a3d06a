"""Choosing the smoother's parameters by measuring them on valid streams.

Each valid full clip is one stream: its int8 per-window probabilities in stream
order, with the window levels and end times the device would give the smoother. A
clip is one genre, so every change of the published genre is a false one. A
parameter set scores, per clip,

    share of windows publishing the true genre
    - WRONG_WEIGHT * share of windows publishing a wrong genre
    - CHANGE_PENALTY * changes of the published genre after the first publication

("uncertain" and "silence" publish no genre: neither right nor wrong), averaged over
all clips. The grid's best is chosen; ties go to the first in grid order.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from genred.dsp.smoother_params import SmootherParams
from genred.dsp.smoothing import Smoother

WRONG_WEIGHT = 0.5
CHANGE_PENALTY = 0.05

GRID = {
    "tau_s": (1.0, 2.0, 4.0, 8.0),
    "switch_margin": (0.05, 0.1, 0.2),
    "switch_hold_s": (0.0, 1.5, 3.0, 6.0),
    "confidence_floor": (0.3, 0.4, 0.5, 0.6),
}


@dataclass(frozen=True)
class Stream:
    probs: np.ndarray  # (n, n_classes)
    level_db: np.ndarray  # (n,)
    t_end_s: np.ndarray  # (n,)
    label: int
    name: str = ""


def run_stream(stream: Stream, labels: tuple[str, ...], params: SmootherParams) -> dict[str, float]:
    sm = Smoother(labels, params)
    true = labels[stream.label]
    states = [sm.process(p, float(lvl), float(t)) for p, lvl, t in zip(stream.probs, stream.level_db, stream.t_end_s, strict=True)]
    n = len(states)
    correct = sum(s.genre == true for s in states) / n
    wrong = sum(s.genre is not None and s.genre != true for s in states) / n
    # The smoother counts the first genre of the stream as a change (from None): not penalised.
    changes = max(0, sum(s.genre_changed for s in states) - 1)
    return {"correct": correct, "wrong": wrong, "changes": float(changes)}


def score_params(streams: list[Stream], labels: tuple[str, ...], params: SmootherParams) -> dict[str, float]:
    rows = [run_stream(s, labels, params) for s in streams]
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("correct", "wrong", "changes")}
    out["score"] = out["correct"] - WRONG_WEIGHT * out["wrong"] - CHANGE_PENALTY * out["changes"]
    return out


def raw_argmax_stats(streams: list[Stream]) -> dict[str, float]:
    """The same measures for publishing each window's arg-max, unsmoothed."""
    rows = []
    for s in streams:
        pred = s.probs.argmax(axis=1)
        rows.append({
            "correct": float(np.mean(pred == s.label)),
            "wrong": float(np.mean(pred != s.label)),
            "changes": float(np.sum(pred[1:] != pred[:-1])),
        })
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("correct", "wrong", "changes")}
    out["score"] = out["correct"] - WRONG_WEIGHT * out["wrong"] - CHANGE_PENALTY * out["changes"]
    return out


_DEFAULT_BASE = SmootherParams()  # frozen: one shared default is safe


def fit_smoothing(
    streams: list[Stream], labels: tuple[str, ...], base: SmootherParams = _DEFAULT_BASE, grid: dict[str, tuple] = GRID
) -> dict[str, Any]:
    """Score every grid point; return the best params and the table."""
    if not streams:
        return {"best": base, "table": [], "default": None, "raw": None}
    table = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        params = msgspec.structs.replace(base, **dict(zip(keys, values, strict=True)))
        table.append((params, score_params(streams, labels, params)))
    best = max(table, key=lambda r: r[1]["score"])  # first of equals
    return {
        "best": best[0],
        "best_scores": best[1],
        "table": table,
        "default": score_params(streams, labels, base),
        "raw": raw_argmax_stats(streams),
        "grid": {k: list(v) for k, v in grid.items()},
        "n_streams": len(streams),
    }
