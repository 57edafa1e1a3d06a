"""Cross-validation of the accurate bundle's genre head on MSD_musicnn's cached features.

For each artist-grouped fold (`cv.gtzan_folds`): a head is fitted on the train side's
grid windows and scores the held-out tracks, clean and through the room. Cheap once the
embeddings exist (a logistic regression per fold); the probabilities of the held-out
windows of all folds together (out of fold) also fix the bundle's temperature and
smoothing, as nothing they were fitted on chose them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .accurate_data import N_TAGS, DevData, Embeddings
from .teacher import Head, fit_head
from .train import EvalSet, item_subset, track_scores

SCORES = ("track_accuracy", "track_macro_recall", "window_accuracy")
PARTS = ("all", "full clips", "excerpt-only")


@dataclass(frozen=True)
class CvResult:
    folds: tuple[dict[str, Any], ...]  # per fold: {"test_tracks", "clean": {part: scores}, "room": {...}}
    oof_clean: np.ndarray  # (len(dev.clean.x), n_labels); NaN rows for unscored tracks
    oof_room: np.ndarray
    scored_items: np.ndarray  # item indices of dev.clean held out in some fold


def fold_head(dev: DevData, emb: Embeddings, train_keys: set[str], c: float, min_std: float,
              with_room: bool = False, feature_weight: np.ndarray | None = None,
              tag_mix: tuple[float, float] | None = None) -> Head:
    """A head on the clean grid windows of ``train_keys``; ``with_room``: and on their
    room copies' windows (the device's hop), as one track with the clean ones.
    ``tag_mix`` = (alpha, C of the tag-led head): the logits of a head on the pooled
    features alone (C = ``c``) and of one on pooled + tags (``feature_weight``), mixed
    (1 - alpha) : alpha, as one Head (``emb`` then holds the N_TAGS tags last)."""
    keys = np.array(dev.keys)
    mask = np.isin(keys[emb.grid_track], list(train_keys))
    x, track = emb.grid[mask], emb.grid_track[mask]
    if with_room:
        room_track = np.array([dev.keys.index(t.key) for t in dev.room.items])[dev.room.item]
        rmask = np.isin(keys[room_track], list(train_keys))
        x, track = np.concatenate([x, emb.room[rmask]]), np.concatenate([track, room_track[rmask]])
    y = dev.labels_of[track]
    if tag_mix is None:
        return fit_head(x, y, track, len(dev.labels), c, min_std, feature_weight)
    alpha, tag_c = tag_mix
    pooled = fit_head(x[:, :-N_TAGS], y, track, len(dev.labels), c, min_std)
    tagged = fit_head(x, y, track, len(dev.labels), tag_c, min_std, feature_weight)
    return mix_heads(pooled, tagged, alpha)


def mix_heads(pooled: Head, tagged: Head, alpha: float) -> Head:
    """One Head whose logits are (1 - alpha) x ``pooled``'s (which reads the first
    features only) + alpha x ``tagged``'s, on ``tagged``'s standardisation."""
    n = pooled.coef.shape[1]
    ratio = tagged.scale[:n] / pooled.scale
    coef = alpha * tagged.coef
    coef[:, :n] += (1 - alpha) * pooled.coef * ratio[None, :]
    shift = ((tagged.mean[:n] - pooled.mean) / pooled.scale) @ pooled.coef.T
    return Head(tagged.mean, tagged.scale, coef, (1 - alpha) * (pooled.intercept + shift) + alpha * tagged.intercept)


def part_scores(probs: np.ndarray, ev: EvalSet, items: list[int], n_labels: int) -> dict[str, dict[str, Any]]:
    """Scores of ``items`` of ``ev`` (probs: all of ev's windows): all of them, full clips,
    and the tracks only an excerpt holds."""
    out: dict[str, dict[str, Any]] = {}
    for part in PARTS:
        keep = [i for i in items if part == "all" or (ev.item_kind[i] == "full") == (part == "full clips")]
        if not keep:
            continue
        sub, mask = item_subset(ev, keep, part)
        s = track_scores(probs[mask], sub, n_labels)
        row = {k: float(s[k]) for k in SCORES}
        row["tracks"] = len(keep)
        row["per_genre_track_recall"] = {g: r for g, r in enumerate(s["track_recalls"]) if r is not None}
        out[part] = row
    return out


def cross_validate(dev: DevData, emb: Embeddings, c: float, min_std: float, with_room: bool = False,
                   feature_weight: np.ndarray | None = None, tag_mix: tuple[float, float] | None = None) -> CvResult:
    n_labels = len(dev.labels)
    key_of_item = [t.key for t in dev.clean.items]
    oof = {name: np.full((len(ev.x), n_labels), np.nan, np.float32) for name, ev in (("clean", dev.clean), ("room", dev.room))}
    folds, scored = [], []
    for fold in dev.plan.folds:
        head = fold_head(dev, emb, set(fold.train), c, min_std, with_room, feature_weight, tag_mix)
        test = set(fold.test)
        items = [i for i, k in enumerate(key_of_item) if k in test]
        scored += items
        row: dict[str, Any] = {"fold": fold.index, "test_tracks": len(items)}
        for name, ev, e in (("clean", dev.clean, emb.clean), ("room", dev.room, emb.room)):
            probs = np.zeros((len(ev.x), n_labels), np.float32)
            mask = np.isin(ev.item, items)
            probs[mask] = head.probs(e[mask])
            oof[name][mask] = probs[mask]
            row[name] = part_scores(probs, ev, items, n_labels)
        folds.append(row)
    return CvResult(tuple(folds), oof["clean"], oof["room"], np.array(sorted(scored)))


def mean_sd(folds: tuple[dict[str, Any], ...], name: str, part: str, key: str) -> tuple[float, float, int]:
    """Mean and sample sd (n - 1) over the folds that score ``part``."""
    v = [f[name][part][key] for f in folds if part in f[name]]
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)


def per_genre_mean_sd(folds: tuple[dict[str, Any], ...], name: str, g: int) -> tuple[float, float, int]:
    v = [f[name]["all"]["per_genre_track_recall"][g] for f in folds if g in f[name]["all"]["per_genre_track_recall"]]
    return (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, len(v)) if v else (float("nan"), 0.0, 0)
