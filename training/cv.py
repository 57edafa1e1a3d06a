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
    is_scored = _check_items(keys, groups, strata, k, scored)
    # group -> stratum -> scored items
    load: dict[str, Counter[str]] = defaultdict(Counter)
    for g, s, sc in zip(groups, strata, is_scored, strict=True):
        if sc:
            load[g][s] += 1
    if len(load) < k:
        raise ValueError(f"{len(load)} groups with scored items cannot fill {k} folds")
    placement = _Placement(load, k, seed)
    placement.place_greedily()
    placement.repair()
    gaps = placement.gaps()
    if gaps:
        _LOG.warning("folds: %d stratum/fold pairs left without a test item (groups span strata): %s",
                     len(gaps), ", ".join(f"{s} in fold {f}" for s, f in gaps[:5]))

    fold_of = placement.fold_of
    folds = []
    for f in range(k):
        test = tuple(key for key, g, sc in zip(keys, groups, is_scored, strict=True) if sc and fold_of[g] == f)
        train = tuple(key for key, g in zip(keys, groups, strict=True) if fold_of.get(g, -1) != f)
        folds.append(Fold(f, train, test))
    return folds


def _check_items(keys: Sequence[str], groups: Sequence[str], strata: Sequence[str], k: int,
                 scored: Sequence[bool] | None) -> list[bool]:
    """`grouped_folds`'s arguments checked; which items are scored."""
    n = len(keys)
    if not (len(groups) == len(strata) == n and (scored is None or len(scored) == n)):
        raise ValueError("keys, groups, strata (and scored) must be the same length")
    if len(set(keys)) != n:
        raise ValueError("item keys must be unique")
    if k < 2:
        raise ValueError(f"k must be >= 2, not {k}")
    return [True] * n if scored is None else [bool(s) for s in scored]


class _Placement:
    """Groups placed into k folds by their scored items per stratum (``load``)."""

    def __init__(self, load: dict[str, Counter[str]], k: int, seed: int) -> None:
        self.load, self.k, self.seed = load, k, seed
        self.groups_of: dict[str, list[str]] = defaultdict(list)  # stratum -> groups with it
        for g in sorted(load):
            for s in load[g]:
                self.groups_of[s].append(g)
        self.total: Counter[str] = Counter()
        for g in sorted(load):
            self.total.update(load[g])
        self.coverable = {s for s, gs in self.groups_of.items() if len(gs) >= k}
        self.fold_of: dict[str, int] = {}
        self.count: list[Counter[str]] = [Counter() for _ in range(k)]  # fold -> stratum -> scored items
        self.present: list[Counter[str]] = [Counter() for _ in range(k)]  # fold -> stratum -> groups
        tie = _rng("fold-order", seed)
        self.fold_rank = {f: r for r, f in enumerate(tie.sample(range(k), k))}

    def cost(self, f: int, g: str) -> float:
        # Growth of the sum of squared per-stratum shares, plus the fold's size.
        count, load, total = self.count[f], self.load[g], self.total
        c = sum(((count[s] + m) ** 2 - count[s] ** 2) / total[s] ** 2 for s, m in load.items())
        size = sum(count.values())
        return c + 1e-3 * ((size + sum(load.values())) ** 2 - size**2) / max(1, sum(total.values())) ** 2

    def put(self, g: str, f: int, sign: int = 1) -> None:
        for s, m in self.load[g].items():
            self.count[f][s] += sign * m
            self.present[f][s] += sign
        if sign > 0:
            self.fold_of[g] = f

    def place_greedily(self) -> None:
        """Strata with the fewest groups first; within one, big groups first (seeded
        tie-breaks), each into the fold that lacks most of its strata, then the cheapest."""
        for s in sorted(self.groups_of, key=lambda s: (len(self.groups_of[s]), s)):
            order = sorted(self.groups_of[s])
            _rng("groups", self.seed, s).shuffle(order)
            order.sort(key=lambda g: -sum(self.load[g].values()))  # stable: the shuffle breaks ties
            for g in order:
                if g not in self.fold_of:
                    self.put(g, self._best_fold(g))

    def _best_fold(self, g: str) -> int:
        need = [t for t in self.load[g] if t in self.coverable]
        return min(range(self.k), key=lambda f: (-sum(self.present[f][t] == 0 for t in need), self.cost(f, g),
                                                  self.fold_rank[f]))

    def repair(self) -> None:
        """Move a group into a fold that lacks one of its strata, from a fold that keeps
        every stratum it covers without it; until no such move is left."""
        for _ in range(len(self.fold_of) * self.k):
            moved = False
            for s in sorted(self.coverable):
                for f in range(self.k):
                    if not self.present[f][s]:
                        moved = self._move_in(s, f) or moved
            if not moved:
                return

    def _move_in(self, s: str, f: int) -> bool:
        """Move the cheapest group of stratum ``s`` that its fold can spare into fold ``f``."""
        options = []
        for g in sorted(self.groups_of[s]):
            src = self.fold_of[g]
            if all(self.present[src][t] > 1 for t in self.load[g] if t in self.coverable):
                options.append((self.cost(f, g), g))
        if not options:
            return False
        _, g = min(options)
        self.put(g, self.fold_of[g], -1)
        self.put(g, f)
        return True

    def gaps(self) -> list[tuple[str, int]]:
        """(stratum, fold) pairs of coverable strata left without a test item."""
        return [(s, f) for s in sorted(self.coverable) for f in range(self.k) if self.present[f][s] == 0]


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
                  tuple(key for key, sc in zip(keys, scored, strict=True) if not sc), seed)
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
