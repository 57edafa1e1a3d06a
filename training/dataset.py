"""Indexing a GTZAN-layout folder into tracks, and splitting tracks into train/valid.

Layouts understood (genre folders hold ``<name>.<wav|flac|ogg|au|mp3>``)::

    <root>/<genre>/<name>.<ext>                 flat GTZAN: every file is a full clip
    <root>/audio/<genre>/<name>.<ext>           full clips
    <root>/excerpts/<genre>/<name>.<ext>        short excerpts (a slice of the same track)

A *track* is one recording, named by genre and stem (the file name without its
extension): its full clip and/or its excerpt. Split lists name tracks as
``<genre>/<name>.<any ext>`` and are matched by genre and stem, so ``blues.00012.wav``
in a list finds ``blues.00012.flac``. A split is always by track, so no piece of a
track can be on both sides.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genred.dsp.audio import audio_info
from genred.dsp.bundle import GTZAN_LABELS
from genred.dsp.dataset import AUDIO_EXTENSIONS, EXCERPT_DIR, FULL_DIR
from genred.dsp.dataset import read_split_list as _read_entries
from genred.dsp.errors import AudioError, GenredError

_LOG = logging.getLogger(__name__)


class DatasetError(GenredError):
    """A data folder or split list that cannot be used (one line, names the thing)."""


@dataclass(frozen=True)
class Track:
    """One recording: its genre, its stem, and the files that hold it."""

    genre: str
    stem: str
    full: Path | None = None  # the full clip (GTZAN: 30 s)
    excerpt: Path | None = None  # a short excerpt (a slice of the same recording)

    @property
    def key(self) -> str:
        return f"{self.genre}/{self.stem}"

    @property
    def main_path(self) -> Path:
        """The longest audio of the track: its full clip if it has one."""
        path = self.full if self.full is not None else self.excerpt
        assert path is not None
        return path

    @property
    def main_kind(self) -> str:
        return "full" if self.full is not None else "excerpt"


@dataclass
class DatasetIndex:
    root: Path
    labels: tuple[str, ...]
    tracks: list[Track]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (file, why)
    layout: str = ""

    def by_key(self) -> dict[str, Track]:
        return {t.key: t for t in self.tracks}


@dataclass
class Split:
    train: list[Track]
    valid: list[Track]
    source: str  # "lists" or "stratified random (seed N, valid fraction F)"
    missing: dict[str, list[str]] = field(default_factory=dict)  # side -> listed keys without audio
    unlisted: list[str] = field(default_factory=list)  # indexed tracks on neither list


def _genre_dirs(parent: Path) -> list[Path]:
    return sorted(p for p in parent.iterdir() if p.is_dir() and not p.name.startswith("."))


def _audio_files(folder: Path) -> dict[str, Path]:
    """stem -> file, for the audio files directly in ``folder`` (one per stem)."""
    found: dict[str, list[Path]] = {}
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."):
            found.setdefault(p.stem, []).append(p)
    out: dict[str, Path] = {}
    for stem, paths in found.items():
        paths.sort(key=lambda q: AUDIO_EXTENSIONS.index(q.suffix.lower()))
        if len(paths) > 1:
            _LOG.info("%s: %d files for %s; using %s", folder, len(paths), stem, paths[0].name)
        out[stem] = paths[0]
    return out


def _layout(root: Path) -> tuple[str, list[tuple[str, Path]]]:
    """The folder's layout, and its (kind, parent of genre folders) sources."""
    if not ((root / FULL_DIR).is_dir() or (root / EXCERPT_DIR).is_dir()):
        return "flat <genre>/ folders", [("full", root)]
    sources = [(kind, root / sub) for kind, sub in (("full", FULL_DIR), ("excerpt", EXCERPT_DIR)) if (root / sub).is_dir()]
    return "audio/ + excerpts/", sources


def _collect_files(sources: list[tuple[str, Path]]) -> tuple[dict[tuple[str, str], dict[str, Path]], set[str]]:
    """(genre, stem) -> kind -> file, and the genre folders that hold audio."""
    files: dict[tuple[str, str], dict[str, Path]] = {}
    genres_seen: set[str] = set()
    for kind, parent in sources:
        for gdir in _genre_dirs(parent):
            stems = _audio_files(gdir)
            if not stems:
                continue
            genres_seen.add(gdir.name)
            for stem, path in stems.items():
                files.setdefault((gdir.name, stem), {})[kind] = path
    return files, genres_seen


def _readable(kinds: dict[str, Path], skipped: list[tuple[Path, str]]) -> dict[str, Path]:
    """The files of one track whose header reads; the others logged and added to ``skipped``."""
    good: dict[str, Path] = {}
    for kind, path in kinds.items():
        try:
            audio_info(path)
        except AudioError as exc:
            _LOG.warning("skipping unreadable file: %s", exc)
            skipped.append((path, str(exc)))
            continue
        good[kind] = path
    return good


def index_dataset(root: str | Path, labels: Sequence[str] | None = None, check_files: bool = True) -> DatasetIndex:
    """Find the tracks of a GTZAN-layout folder.

    ``labels``: the genre names to use, in output order; by default the genre folders
    found, in GTZAN's order when they are GTZAN genres, else sorted. Genre folders
    outside ``labels`` are skipped with a warning. With ``check_files`` every file's
    header is read (`audio_info`) and unreadable files are logged once as a warning
    and skipped (a track keeps whatever readable file it has).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root}: no such folder")
    layout, sources = _layout(root)
    files, genres_seen = _collect_files(sources)
    if not files:
        raise DatasetError(
            f"data folder {root}: no audio files in <genre>/ folders "
            f"(expected <genre>/<name>.wav|flac|ogg|au|mp3, or audio/<genre>/ and excerpts/<genre>/)"
        )

    if labels is None:
        # GTZAN's order when the folders are GTZAN genres (a subset keeps that order).
        labels = tuple(g for g in GTZAN_LABELS if g in genres_seen) if genres_seen <= set(GTZAN_LABELS) else tuple(sorted(genres_seen))
    labels = tuple(labels)
    for g in sorted(genres_seen - set(labels)):
        _LOG.warning("data folder %s: genre folder %r is not a label; skipping it", root, g)

    skipped: list[tuple[Path, str]] = []
    tracks: list[Track] = []
    for (genre, stem), kinds in sorted(files.items(), key=lambda kv: (labels.index(kv[0][0]) if kv[0][0] in labels else 1 << 30, kv[0][1])):
        if genre not in labels:
            continue
        good = _readable(kinds, skipped) if check_files else kinds
        if good:
            tracks.append(Track(genre, stem, good.get("full"), good.get("excerpt")))
    counts = Counter(t.genre for t in tracks)
    _LOG.info(
        "indexed %s (%s): %d tracks (%d full clips, %d excerpts), %d files skipped; per genre: %s",
        root, layout, len(tracks), sum(t.full is not None for t in tracks),
        sum(t.excerpt is not None for t in tracks), len(skipped),
        ", ".join(f"{g} {counts.get(g, 0)}" for g in labels),
    )
    return DatasetIndex(root, labels, tracks, skipped, layout)


def read_split_list(path: str | Path) -> list[tuple[str, str]]:
    """(genre, stem) of each track named by a split list, first occurrence kept.

    The list format is `genre.dsp.dataset`'s, the one `genred evaluate` reads."""
    if not Path(path).is_file():
        raise DatasetError(f"split list {path}: no such file")
    out: list[tuple[str, str]] = []
    for entry in _read_entries(path):
        key = (entry.genre, entry.stem)
        if key not in out:
            out.append(key)
    if not out:
        raise DatasetError(f"split list {path}: names no tracks")
    return out


def split_from_lists(index: DatasetIndex, train_list: str | Path, valid_list: str | Path) -> Split:
    """The tracks named by each list (matched by genre and stem). A track on both lists
    is an error; listed tracks without readable audio are counted and logged."""
    keys = {"train": read_split_list(train_list), "valid": read_split_list(valid_list)}
    both = sorted(set(keys["train"]) & set(keys["valid"]))
    if both:
        g, s = both[0]
        raise DatasetError(
            f"split lists {train_list} and {valid_list}: {len(both)} track(s) on both, e.g. {g}/{s}"
        )
    by_key = {(t.genre, t.stem): t for t in index.tracks}
    sides: dict[str, list[Track]] = {}
    missing: dict[str, list[str]] = {}
    for side, ks in keys.items():
        sides[side] = [by_key[k] for k in ks if k in by_key]
        missing[side] = [f"{g}/{s}" for g, s in ks if (g, s) not in by_key]
        if missing[side]:
            per = Counter(m.split("/")[0] for m in missing[side])
            _LOG.info(
                "%s list: %d listed tracks have no readable audio here (%s)",
                side, len(missing[side]), ", ".join(f"{g} {n}" for g, n in sorted(per.items())),
            )
    listed = set(keys["train"]) | set(keys["valid"])
    unlisted = [t.key for t in index.tracks if (t.genre, t.stem) not in listed]
    if unlisted:
        _LOG.info("%d indexed tracks are on neither list and are not used", len(unlisted))
    for side in ("train", "valid"):
        if not sides[side]:
            lst = train_list if side == "train" else valid_list
            raise DatasetError(f"split list {lst}: none of its tracks has audio in {index.root}")
    return Split(sides["train"], sides["valid"], "lists", missing, unlisted)


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def split_stratified(tracks: Iterable[Track], valid_fraction: float, seed: int) -> Split:
    """Split by track, per genre, seeded: each genre with >= 2 tracks puts
    ``round(valid_fraction * n)`` of them (at least one, never all) in valid."""
    if not 0 < valid_fraction < 1:
        raise DatasetError(f"valid fraction must be in (0, 1), not {valid_fraction}")
    per_genre: dict[str, list[Track]] = {}
    for t in tracks:
        per_genre.setdefault(t.genre, []).append(t)
    train: list[Track] = []
    valid: list[Track] = []
    for genre, ts in per_genre.items():
        ts = sorted(ts, key=lambda t: t.stem)
        rng = np.random.default_rng(_stable_int("split", seed, genre))
        order = rng.permutation(len(ts))
        n_valid = 0 if len(ts) < 2 else min(len(ts) - 1, max(1, round(valid_fraction * len(ts))))
        chosen = set(order[:n_valid].tolist())
        for i, t in enumerate(ts):
            (valid if i in chosen else train).append(t)
    return Split(train, valid, f"stratified by genre, by track (seed {seed}, valid fraction {valid_fraction})")


def counts_per_genre(tracks: Iterable[Track], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """label -> {"tracks", "full_clips", "excerpts"} for the given tracks."""
    out = {g: {"tracks": 0, "full_clips": 0, "excerpts": 0} for g in labels}
    for t in tracks:
        c = out[t.genre]
        c["tracks"] += 1
        c["full_clips"] += t.full is not None
        c["excerpts"] += t.excerpt is not None
    return out
