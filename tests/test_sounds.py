"""`make sounds`: which files of a package are taken, how short sounds become clips, and a
package (a tiny .deb built here with dpkg-deb; nothing is downloaded) becoming a folder
that the non-music index reads."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genred.training import sounds
from genred.training.nonmusic import index_nonmusic
from genred.training.sounds import CLIP_S, GAP_S, PEAK, SAMPLE_RATE_HZ, clips_from_deb, join_group, match, write_table


@pytest.mark.parametrize("package,rel,expected", [
    ("tuxpaint-stamps-default", "tuxpaint/stamps/animals/cat_desc_fr.ogg", ("speech", "tuxpaint-fr")),
    ("tuxpaint-stamps-default", "tuxpaint/stamps/animals/cat_desc.ogg", ("speech", "tuxpaint-xx")),
    ("tuxpaint-stamps-default", "tuxpaint/stamps/household/kettle.ogg", ("noise", "tuxpaint-effects")),
    ("tuxpaint-stamps-default", "tuxpaint/stamps/hobbies/music/percussion/drum.ogg", None),
    ("tuxpaint-stamps-default", "tuxpaint/stamps/household/kettle.png", None),
    ("hedgewars-data", "games/hedgewars/Data/Sounds/voices/Pirate/Ooff1.ogg", ("speech", "hedgewars-pirate")),
    ("hedgewars-data", "games/hedgewars/Data/Sounds/voices/Singer/Ooff1.ogg", None),
    ("hedgewars-data", "games/hedgewars/Data/Sounds/3E.ogg", None),
    ("hedgewars-data", "games/hedgewars/Data/Sounds/explosion.ogg", ("noise", "hedgewars")),
    ("hedgewars-data", "games/hedgewars/Data/Music/main.ogg", None),
    ("wesnoth-1.16-data", "games/wesnoth/1.16/data/core/sounds/horn-signals/horn-1.ogg", None),
    ("wesnoth-1.16-data", "games/wesnoth/1.16/data/core/sounds/ambient/campfire.ogg", ("noise", "wesnoth")),
    ("minetest-data", "games/minetest/games/minetest_game/mods/doors/sounds/doors_door_open.ogg", ("noise", "minetest")),
    ("genred-no-such-package", "games/x/sounds/door.ogg", None),
])
def test_rules_take_effects_and_voices_and_leave_music(package, rel, expected):
    assert match(package, rel) == expected


def _sound_files(folder: Path, n: int, seconds: float = 1.0, level: float = 0.05) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        x = level * (i + 1) / n * rng.standard_normal(int(seconds * 22050)).astype(np.float32)
        paths.append(folder / f"s{i:02d}.wav")
        sf.write(str(paths[-1]), x, 22050)
    return paths


def test_short_sounds_are_joined_into_clips_each_sound_at_the_same_peak(tmp_path):
    paths = _sound_files(tmp_path / "raw", 40)
    clips = join_group(paths, seed=3)
    lengths = [c.size / SAMPLE_RATE_HZ for c, _ in clips]
    assert sum(n for _, n in clips) == 40  # every sound, once
    assert all(CLIP_S[0] <= s <= CLIP_S[1] + 1.0 + GAP_S for s in lengths[:-1]) and lengths[-1] >= 5.0
    gap = int(GAP_S * SAMPLE_RATE_HZ)
    first = clips[0][0]
    # Quiet and loud sounds alike reach PEAK; the gaps between them are silent.
    assert float(np.max(np.abs(first))) == pytest.approx(PEAK, abs=1e-3)
    pieces = [p for p in np.split(first, np.flatnonzero(np.diff((np.abs(first) > 0).astype(int)) != 0) + 1) if p.size > gap // 2]
    peaks = [float(np.max(np.abs(p))) for p in pieces if np.any(p)]
    assert len(peaks) >= 2 and min(peaks) == pytest.approx(PEAK, abs=1e-3)
    again, other = join_group(paths, seed=3), join_group(paths, seed=4)
    assert np.array_equal(again[0][0], first) and not np.array_equal(other[0][0][: first.size], first[: other[0][0].size])


def test_a_group_stops_at_its_cap_and_skips_unreadable_and_silent_files(tmp_path, monkeypatch, caplog):
    paths = _sound_files(tmp_path / "raw", 60)
    broken = tmp_path / "raw" / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    silent = tmp_path / "raw" / "silent.wav"
    sf.write(str(silent), np.zeros(22050, np.float32), 22050)
    song = tmp_path / "raw" / "song.wav"  # as long as a song: a soundtrack beside the effects
    sf.write(str(song), 0.1 * np.ones(int((sounds.SONG_S + 1) * 8000), np.float32), 8000)
    monkeypatch.setattr(sounds, "MAX_GROUP_S", 20.0)
    with caplog.at_level(logging.WARNING, logger="genred.training.sounds"):
        clips = join_group([broken, silent, song, *paths], seed=1)
    total_s = sum(c.size for c, _ in clips) / SAMPLE_RATE_HZ
    assert 20.0 <= total_s <= 20.0 + CLIP_S[1] + 1.0 + GAP_S + 5.0
    assert sum(n for _, n in clips) < 60
    assert "broken.wav" in caplog.text and "silent.wav" not in caplog.text
    assert join_group([song], seed=1) == []


@pytest.fixture
def effects_deb(tmp_path) -> Path:
    """minetest-data shaped like Debian's: foley in a mod's sounds/, a fanfare, a texture."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    tree = tmp_path / "pkg"
    mods = tree / "usr" / "share" / "games" / "minetest" / "games" / "minetest_game" / "mods"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: minetest-data\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n")
    for name in ("doors", "fire"):
        (mods / name / "sounds").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(12):
        sf.write(str(mods / "doors" / "sounds" / f"door_{i}.ogg"), 0.1 * rng.standard_normal(22050).astype(np.float32),
                 22050, format="OGG", subtype="VORBIS")
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(22050) / 22050)).astype(np.float32)
    sf.write(str(mods / "fire" / "sounds" / "fanfare_win.ogg"), tone, 22050, format="OGG", subtype="VORBIS")
    (mods / "doors" / "textures").mkdir()
    (mods / "doors" / "textures" / "door.png").write_bytes(b"\x89PNG")
    deb = tmp_path / "minetest-data_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def test_a_package_becomes_clips_that_the_nonmusic_index_reads(effects_deb, tmp_path):
    out = tmp_path / "sounds"
    out.mkdir()
    rows = clips_from_deb(effects_deb, "minetest-data", out, seed=0)
    write_table(out, rows)
    assert sorted(p.name for p in out.iterdir()) == ["SOURCES.tsv", "minetest_000.flac"]  # no fanfare, no leftovers
    assert rows[0]["sounds"] == "12" and rows[0]["category"] == "noise"
    [f] = index_nonmusic(out)
    assert (f.category, f.group, f.sample_rate_hz) == ("noise", "minetest", SAMPLE_RATE_HZ)
    assert f.duration_s == pytest.approx(12 * 1.0 + 11 * GAP_S, abs=0.5)
