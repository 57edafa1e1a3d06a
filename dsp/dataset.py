"""GTZAN-layout folders and split lists, shared by `genred evaluate` and training.

A split list line names a track as ``genre/stem.ext``; the file is found by genre
and stem whatever its extension, in ``DIR/<genre>/``, then ``DIR/audio/<genre>/``,
then ``DIR/excerpts/<genre>/`` (the first found wins).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from .errors import GenredError, one_line

_LOG = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".au", ".mp3")
SEARCH_SUBDIRS = ("", "audio", "excerpts")


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
        stem = name.rsplit(".", 1)[0] if "." in name else name
        entries.append(SplitEntry(genre, stem, line))
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
