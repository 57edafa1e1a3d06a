"""Artist-grouped, genre-stratified k-fold cross-validation (``python -m genred.training.cv``
runs the driver, `cv_driver`).

`grouped_folds` is generic (keys, groups, strata; the standard library only): every item
of a group lands in one fold, so no group is on both sides of a split, and groups are
placed so that each stratum with at least k groups is scored in every fold.
`gtzan_folds` puts GTZAN on it: items are tracks (a track's full clip and excerpt are
one item), groups are the artists of ``artists.tsv``, strata are genres, and the tracks
that file marks ``-`` (duplicates, distorted recordings) are trained on, never scored.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from genred.dsp.dataset import ARTIST_LIST, TRAIN_LIST, VALID_LIST, track_stem

_LOG = logging.getLogger(__name__)

NO_ARTIST = "-"
DEFAULT_FOLDS = 4  # GTZAN's blues has 4 artists with audio here: k = 4 scores every genre in every fold


@dataclass(frozen=True)
class Fold:
    index: int
    train: tuple[str, ...]  # item keys
    test: tuple[str, ...]  # item keys scored in this fold (never an unscored item)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def grouped_folds(keys: Sequence[str], groups: Sequence[str], strata: Sequence[str], k: int,
                  seed: int, scored: Sequence[bool] | None = None) -> list[Fold]:
    """k folds over the items ``keys``; ``groups[i]`` and ``strata[i]`` are item i's.

    Only groups with a scored item are placed in a fold; an unscored item is in the
    train side of every fold but its own group's (there it is in neither side), and a
    group with no scored item is in every train side. Placement is greedy: strata with
    the fewest groups first, big groups first (seeded tie-breaks), each group into the
    fold that lacks its stratum, then into the one whose per-stratum scored counts stay
    closest to even; a repair pass moves groups into folds still missing a stratum.
    A group spanning strata can make full coverage impossible; then a warning names the
    strata and folds left out. Deterministic for a seed."""
    n = len(keys)
    if not (len(groups) == len(strata) == n and (scored is None or len(scored) == n)):
        raise ValueError("keys, groups, strata (and scored) must be the same length")
    if len(set(keys)) != n:
        raise ValueError("item keys must be unique")
    if k < 2:
        raise ValueError(f"k must be >= 2, not {k}")
    is_scored = [True] * n if scored is None else [bool(s) for s in scored]

    # group -> stratum -> scored items
    load: dict[str, Counter[str]] = defaultdict(Counter)
    for g, s, sc in zip(groups, strata, is_scored):
        if sc:
            load[g][s] += 1
    placed_groups = sorted(load)
    if len(placed_groups) < k:
        raise ValueError(f"{len(placed_groups)} groups with scored items cannot fill {k} folds")
    groups_of: dict[str, list[str]] = defaultdict(list)  # stratum -> groups with it
    for g in placed_groups:
        for s in load[g]:
            groups_of[s].append(g)
    total = Counter()
    for g in placed_groups:
        total.update(load[g])
    coverable = {s for s, gs in groups_of.items() if len(gs) >= k}

    fold_of: dict[str, int] = {}
    count = [Counter() for _ in range(k)]  # fold -> stratum -> scored items
    present = [Counter() for _ in range(k)]  # fold -> stratum -> groups
    tie = _rng("fold-order", seed)
    fold_rank = {f: r for r, f in enumerate(tie.sample(range(k), k))}

    def cost(f: int, g: str) -> float:
        # Growth of the sum of squared per-stratum shares, plus the fold's size.
        c = sum(((count[f][s] + m) ** 2 - count[f][s] ** 2) / total[s] ** 2 for s, m in load[g].items())
        size = sum(count[f].values())
        return c + 1e-3 * ((size + sum(load[g].values())) ** 2 - size**2) / max(1, sum(total.values())) ** 2

    def put(g: str, f: int, sign: int = 1) -> None:
        for s, m in load[g].items():
            count[f][s] += sign * m
            present[f][s] += sign
        if sign > 0:
            fold_of[g] = f

    strata_order = sorted(groups_of, key=lambda s: (len(groups_of[s]), s))
    for s in strata_order:
        order = sorted(groups_of[s])
        _rng("groups", seed, s).shuffle(order)
        order.sort(key=lambda g: -sum(load[g].values()))  # stable: the shuffle breaks ties
        for g in order:
            if g in fold_of:
                continue
            need = [t for t in load[g] if t in coverable]
            f = min(range(k), key=lambda f: (-sum(present[f][t] == 0 for t in need), cost(f, g), fold_rank[f]))
            put(g, f)

    _repair(k, load, coverable, groups_of, fold_of, present, put, cost)
    gaps = [(s, f) for s in sorted(coverable) for f in range(k) if present[f][s] == 0]
    if gaps:
        _LOG.warning("folds: %d stratum/fold pairs left without a test item (groups span strata): %s",
                     len(gaps), ", ".join(f"{s} in fold {f}" for s, f in gaps[:5]))

    folds = []
    for f in range(k):
        test = tuple(key for key, g, sc in zip(keys, groups, is_scored) if sc and fold_of[g] == f)
        train = tuple(key for key, g in zip(keys, groups) if fold_of.get(g, -1) != f)
        folds.append(Fold(f, train, test))
    return folds


def _repair(k, load, coverable, groups_of, fold_of, present, put, cost) -> None:
    """Move a group into a fold that lacks one of its strata, from a fold that keeps
    every stratum it covers without it; until no such move is left."""
    for _ in range(len(fold_of) * k):
        moved = False
        for s in sorted(coverable):
            for f in range(k):
                if present[f][s]:
                    continue
                options = []
                for g in sorted(groups_of[s]):
                    src = fold_of[g]
                    if all(present[src][t] > 1 for t in load[g] if t in coverable):
                        options.append((cost(f, g), g))
                if options:
                    _, g = min(options)
                    put(g, fold_of[g], -1)
                    put(g, f)
                    moved = True
        if not moved:
            return


# --- GTZAN ---------------------------------------------------------------------------------


def read_artists(path: str | Path) -> dict[str, str]:
    """track key (genre/genre.000NN) -> artist id (``-``: never scored)."""
    from .dataset import DatasetError

    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"artist list {path}: no such file")
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or "/" not in parts[0] or not parts[1].strip():
            raise DatasetError(f"artist list {path}, line {n}: expected 'genre/name<TAB>artist id', got {line!r}")
        out[track_stem(parts[0].strip())] = parts[1].strip()
    if not out:
        raise DatasetError(f"artist list {path}: names no tracks")
    return out


@dataclass(frozen=True)
class CvPlan:
    """The items of a GTZAN cross-validation and their folds."""

    folds: tuple[Fold, ...]
    genre: dict[str, str]  # track key -> genre
    artist: dict[str, str]  # track key -> artist id
    unscored: tuple[str, ...]  # the `-` tracks: train sides only
    seed: int


def gtzan_folds(tracks: Sequence, artists: dict[str, str], k: int = DEFAULT_FOLDS, seed: int = 1) -> CvPlan:
    """Folds over ``tracks`` (`dataset.Track`s: train + valid), grouped by artist and
    stratified by genre; a track without an artist id is an error."""
    from .dataset import DatasetError

    if k < 2:
        raise DatasetError(f"--folds must be >= 2, not {k}")
    missing = [t.key for t in tracks if t.key not in artists]
    if missing:
        raise DatasetError(f"artist list: no artist id for {len(missing)} track(s), e.g. {missing[0]}; "
                           f"add them (or '-' to train on them only)")
    keys = [t.key for t in tracks]
    artist = {t.key: artists[t.key] for t in tracks}
    # An artist id names one artist across genres; a `-` track is a group of its own.
    groups = [f"{NO_ARTIST}{key}" if artist[key] == NO_ARTIST else artist[key] for key in keys]
    scored = [artist[key] != NO_ARTIST for key in keys]
    try:
        folds = grouped_folds(keys, groups, [t.genre for t in tracks], k, seed, scored)
    except ValueError as exc:
        raise DatasetError(f"cross-validation folds: {exc}") from None
    plan = CvPlan(tuple(folds), {t.key: t.genre for t in tracks}, artist,
                  tuple(key for key, sc in zip(keys, scored) if not sc), seed)
    for f in folds:
        per = Counter(plan.genre[key] for key in f.test)
        _LOG.info("fold %d: %d train, %d test tracks (%s)", f.index, len(f.train), len(f.test),
                  ", ".join(f"{g} {n}" for g, n in sorted(per.items())))
    return plan


def default_lists(data: Path, train_list: str | Path | None = None,
                  valid_list: str | Path | None = None) -> tuple[Path, Path]:
    """The train and valid lists: those given, else the GTZAN folder's own."""
    return Path(train_list or data / TRAIN_LIST), Path(valid_list or data / VALID_LIST)


def dev_plan(data: str | Path, k: int = DEFAULT_FOLDS, seed: int = 1, artists: str | Path | None = None,
             lists: tuple[str | Path, str | Path] | None = None):
    """(index, tracks, plan) for the train + valid tracks of a GTZAN folder that have
    audio; ``lists`` default to its `default_lists`, ``artists`` to its ``artists.tsv``."""
    from .dataset import index_dataset, split_from_lists

    data = Path(data)
    train_list, valid_list = lists or default_lists(data)
    index = index_dataset(data)
    split = split_from_lists(index, train_list, valid_list)
    tracks = split.train + split.valid
    plan = gtzan_folds(tracks, read_artists(artists if artists is not None else data / ARTIST_LIST), k, seed)
    return index, tracks, plan


if __name__ == "__main__":
    import sys

    from .cv_driver import main

    sys.exit(main())
