"""The GTZAN folder layout and the list formats (dsp/dataset.py), one copy read by
`genred evaluate`, training's index and cross-validation's artist list."""

from __future__ import annotations

from pathlib import Path

import pytest

from genred.dsp.dataset import (
    ARTIST_LIST,
    EXCERPT_DIR,
    FULL_DIR,
    TRAIN_LIST,
    VALID_LIST,
    find_track_file,
    read_split_list,
    track_stem,
)
from genred.dsp.errors import GenredError


@pytest.mark.parametrize("name,stem", [
    ("blues.00012.wav", "blues.00012"),
    ("blues.00012.FLAC", "blues.00012"),
    ("blues.00012", "blues.00012"),  # GTZAN's stems carry a dot of their own
    ("blues.00012.txt", "blues.00012.txt"),  # not an audio extension: part of the name
    ("track", "track"),
])
def test_track_stem_takes_off_only_an_audio_extension(name, stem):
    assert track_stem(name) == stem


def test_split_list_lines_with_and_without_extension(tmp_path):
    path = tmp_path / "list.txt"
    path.write_text("# a comment\n\nblues/blues.00012.wav\njazz/jazz.00003\n  rock/rock.00001.au  \n")
    entries = read_split_list(path)
    assert [(e.genre, e.stem, e.line) for e in entries] == [
        ("blues", "blues.00012", "blues/blues.00012.wav"),
        ("jazz", "jazz.00003", "jazz/jazz.00003"),
        ("rock", "rock.00001", "rock/rock.00001.au"),
    ]
    path.write_text("blues/blues.00012.wav\nblues.00013.wav\n")
    with pytest.raises(GenredError, match=r"list.txt, line 2: expected 'genre/name.ext', got 'blues.00013.wav'"):
        read_split_list(path)


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_a_track_is_found_flat_then_in_audio_then_in_excerpts(tmp_path):
    excerpt = _touch(tmp_path / EXCERPT_DIR / "jazz" / "jazz.00003.wav")
    assert find_track_file(tmp_path, "jazz", "jazz.00003") == excerpt
    full = _touch(tmp_path / FULL_DIR / "jazz" / "jazz.00003.flac")
    assert find_track_file(tmp_path, "jazz", "jazz.00003") == full
    flat = _touch(tmp_path / "jazz" / "jazz.00003.au")
    assert find_track_file(tmp_path, "jazz", "jazz.00003") == flat
    assert find_track_file(tmp_path, "jazz", "jazz.00004") is None


def test_training_defaults_to_the_folder_s_own_lists(tmp_path):
    from genred.training.cv import default_lists

    assert default_lists(tmp_path) == (tmp_path / TRAIN_LIST, tmp_path / VALID_LIST)
    assert default_lists(tmp_path, "a.txt", None) == (Path("a.txt"), tmp_path / VALID_LIST)


def test_the_shared_gtzan_folder_has_the_layout_and_lists_named_here(gtzan_dir):
    for name in (TRAIN_LIST, VALID_LIST, ARTIST_LIST):
        assert (gtzan_dir / name).is_file(), name
    assert (gtzan_dir / FULL_DIR).is_dir() and (gtzan_dir / EXCERPT_DIR).is_dir()
    entries = read_split_list(gtzan_dir / VALID_LIST)
    assert find_track_file(gtzan_dir, entries[0].genre, entries[0].stem) is not None


def test_artist_list_keys_are_split_list_keys(tmp_path):
    """The artist list names tracks as split lists do: with or without the extension."""
    from genred.training.cv import read_artists

    path = tmp_path / ARTIST_LIST
    path.write_text("blues/blues.00000\t3\nblues/blues.00001.wav\t4\njazz/jazz.00002.txt\t5\n")
    assert read_artists(path) == {"blues/blues.00000": "3", "blues/blues.00001": "4", "jazz/jazz.00002.txt": "5"}
