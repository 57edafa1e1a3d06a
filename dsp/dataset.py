"""GTZAN-layout folders and split lists, shared by `genred evaluate` and training.

A data folder holds ``<genre>/<name>.<ext>`` (flat GTZAN: full clips), or
``audio/<genre>/`` (full clips) and ``excerpts/<genre>/`` (short excerpts of the same
tracks). A split list line names a track as ``genre/stem.ext``; the file is found by
genre and stem whatever its audio extension, in ``DIR/<genre>/``, then
``DIR/audio/<genre>/``, then ``DIR/excerpts/<genre>/`` (the first found wins).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import GenredError, one_line

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".au", ".mp3")  # also the preference order when a stem has two files
FULL_DIR = "audio"
EXCERPT_DIR = "excerpts"
SEARCH_SUBDIRS = ("", FULL_DIR, EXCERPT_DIR)
# The lists of a GTZAN folder (the artist-filtered split, and the artist of each track).
TRAIN_LIST = "train_filtered.txt"
VALID_LIST = "valid_filtered.txt"
ARTIST_LIST = "artists.tsv"


def track_stem(name: str) -> str:
    """``name`` less its audio extension, if it has one: GTZAN's stems have dots of their
    own (``blues.00012``), so only a known extension is taken off."""
    base, dot, ext = name.rpartition(".")
    return base if dot and f".{ext.lower()}" in AUDIO_EXTENSIONS else name


@dataclass(frozen=True)
class SplitEntry:
    genre: str
    stem: str
    line: str  # as written in the list, for messages and `missing`


def read_split_list(path: str | Path) -> list[SplitEntry]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GenredError(f"split list {p}: cannot read ({one_line(exc)})") from None
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split("/")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise GenredError(f"split list {p}, line {number}: expected 'genre/name.ext', got {line!r}")
        genre, name = parts
        entries.append(SplitEntry(genre, track_stem(name), line))
    return entries


def find_track_file(data_dir: str | Path, genre: str, stem: str) -> Path | None:
    root = Path(data_dir)
    for sub in SEARCH_SUBDIRS:
        folder = root / sub / genre if sub else root / genre
        for ext in AUDIO_EXTENSIONS:
            candidate = folder / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
    return None
