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

``back_to_back=True`` scores what a living room hears instead: the clips of each group (a
scored set) played one after another in a seeded order through one smoother, so a
parameter set also pays for how long the last genre lingers after the music changes.
Per window as above, and ``CHANGE_PENALTY`` per change *to a genre that is not playing*
(`stream_score`'s wrong changes), per clip.
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
# How the grid is scored (`--smoothing-fit`): each clip its own stream, or back to back.
CLIPS, BACK_TO_BACK = "clips", "back_to_back"
FIT_MODES = (CLIPS, BACK_TO_BACK)
GIVEN = "given"  # fit_smoothing's mode when the settings come from elsewhere (a CV) and are only scored
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
    group: str = ""  # what it is played back to back with (`back_to_back`): its scored set


def parse_settings(items: list[str], flag: str, keys: tuple[str, ...] | None = None) -> dict[str, float]:
    """``KEY=VALUE`` words of a command line as smoother settings; a bad one is refused
    naming ``flag`` and the key (before any training, not after it)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or (keys is not None and key not in keys):
            allowed = f" with KEY one of {', '.join(keys)}" if keys is not None else ""
            raise ValueError(f"{flag} {item!r}: use KEY=VALUE{allowed}")
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError(f"{flag} {item!r}: {value!r} is not a number") from None
    SmootherParams.from_dict(out)  # an unknown key or a value out of range is refused, naming it
    return out


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


def score_back_to_back(streams: list[Stream], labels: tuple[str, ...], params: SmootherParams,
                       seed: int = 0) -> dict[str, float]:
    """Each group's streams back to back (seeded order) through one smoother, scored per
    window and per wrong change; the mean over groups, weighted by their clips."""
    from .stream_score import Segment, score_stream

    groups: dict[str, list[Stream]] = {}
    for s in streams:
        groups.setdefault(s.group, []).append(s)
    rows, weights = [], []
    for _, members in sorted(groups.items()):
        order = np.random.default_rng([seed, len(members)]).permutation(len(members))
        sm, t0, times, published, segments = Smoother(labels, params), 0.0, [], [], []
        for j in order:
            s = members[int(j)]
            end = t0 + float(s.t_end_s[-1])
            segments.append(Segment(t0, end, labels[s.label], s.name))
            for p, lvl, t in zip(s.probs, s.level_db, s.t_end_s, strict=True):
                times.append(t0 + float(t))
                published.append(sm.process(p, float(lvl), times[-1]).genre)
            t0 = end + 1e-6  # the last window ends on its clip's end: it belongs to that clip
        score = score_stream(times, published, segments)
        # Every window lies in a clip, so a published genre is either right or wrong.
        wrong = sum(p is not None for p in published) / len(published) - score.right_share
        rows.append({"correct": score.right_share, "wrong": wrong, "changes": score.wrong_changes / len(members),
                     "latency_s": score.median_latency_s})
        weights.append(len(members))
    w = np.array(weights, dtype=np.float64) / sum(weights)
    out = {k: float(sum(wi * r[k] for wi, r in zip(w, rows, strict=True))) for k in ("correct", "wrong", "changes")}
    out["median_latency_s"] = float(np.median([r["latency_s"] for r in rows]))
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
    streams: list[Stream], labels: tuple[str, ...], base: SmootherParams = _DEFAULT_BASE, grid: dict[str, tuple] = GRID,
    back_to_back: bool = False, given: bool = False,
) -> dict[str, Any]:
    """Score every grid point (each clip its own stream, or ``back_to_back``); return the
    best params and the table. ``given``: no grid, ``base`` is scored as it is (settings
    chosen elsewhere, by a cross-validation)."""
    if given:
        grid = {}
    if not streams:
        return {"best": base, "table": [], "default": None, "raw": None}
    score = score_back_to_back if back_to_back else score_params
    table = []
    keys = list(grid)
    for values in itertools.product(*(grid[k] for k in keys)):
        params = msgspec.structs.replace(base, **dict(zip(keys, values, strict=True)))
        table.append((params, score(streams, labels, params)))
    best = max(table, key=lambda r: r[1]["score"])  # first of equals
    return {
        "mode": GIVEN if given else BACK_TO_BACK if back_to_back else CLIPS,
        "scored": BACK_TO_BACK if back_to_back else CLIPS,
        "best": best[0],
        "best_scores": best[1],
        "table": table,
        "default": score(streams, labels, base),
        "raw": raw_argmax_stats(streams),
        "grid": {k: list(v) for k, v in grid.items()},
        "n_streams": len(streams),
    }
