"""The music pool: indexing any folder of music, and unpacking a Debian soundtrack
package (a tiny .deb built here with dpkg-deb; nothing is downloaded)."""

from __future__ import annotations

import logging
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genred.training.pool import MIN_DURATION_S, index_pool, summarize
from genred.training.pool_fetch import DONE_MARKER, fetch_pool, unpack


def tone(seconds: float, sr: int, hz: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    x = (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


@pytest.fixture
def library(tmp_path) -> Path:
    root = tmp_path / "library"
    (root / "alpha").mkdir(parents=True)
    (root / "beta" / "cd1" / "extra").mkdir(parents=True)
    (root / "planetblupi-music-ogg").mkdir()
    sf.write(str(root / "alpha" / "one.wav"), tone(4.0, 22050, channels=2), 22050)
    sf.write(str(root / "beta" / "cd1" / "extra" / "two.flac"), tone(5.5, 16000), 16000)
    sf.write(str(root / "planetblupi-music-ogg" / "loop.ogg"), tone(6.0, 44100), 44100, format="OGG", subtype="VORBIS")
    (root / "alpha" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    (root / "beta" / "notes.txt").write_text("not audio\n")
    return root


def test_index_finds_exactly_the_readable_files(library, caplog):
    with caplog.at_level(logging.WARNING, logger="genred.training.pool"):
        files = index_pool(library)
    by_name = {f.path.name: f for f in files}
    assert sorted(by_name) == ["loop.ogg", "one.wav", "two.flac"]
    assert by_name["one.wav"].source == "alpha"
    assert by_name["two.flac"].source == "beta"  # the top folder, however deep the file
    assert by_name["loop.ogg"].source == "planetblupi-music-ogg"
    assert by_name["one.wav"].duration_s == pytest.approx(4.0, abs=1e-4)
    assert by_name["two.flac"].duration_s == pytest.approx(5.5, abs=1e-4)
    assert by_name["loop.ogg"].duration_s == pytest.approx(6.0, abs=1e-3)
    assert [by_name[n].sample_rate_hz for n in ("one.wav", "two.flac", "loop.ogg")] == [22050, 16000, 44100]
    assert by_name["one.wav"].weight == 1.0 and by_name["loop.ogg"].weight < 1.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "broken.wav" in warnings[0]  # the text file is passed over silently


def test_short_files_are_skipped_and_root_files_take_the_root_name(tmp_path, caplog):
    root = tmp_path / "mymusic"
    root.mkdir()
    sf.write(str(root / "long.wav"), tone(MIN_DURATION_S + 0.1, 16000), 16000)
    sf.write(str(root / "short.wav"), tone(MIN_DURATION_S - 0.1, 16000), 16000)
    with caplog.at_level(logging.WARNING, logger="genred.training.pool"):
        files = index_pool(root)
    assert [(f.path.name, f.source) for f in files] == [("long.wav", "mymusic")]
    assert any("short.wav" in r.getMessage() for r in caplog.records)


def test_summary_per_source(library):
    rows = {r.source: r for r in summarize(index_pool(library))}
    assert sorted(rows) == ["alpha", "beta", "planetblupi-music-ogg"]
    assert rows["beta"].files == 1 and rows["beta"].hours == pytest.approx(5.5 / 3600, rel=1e-4)
    assert rows["planetblupi-music-ogg"].formats == (".ogg",)
    assert rows["alpha"].disk_mib == pytest.approx((library / "alpha" / "one.wav").stat().st_size / 2**20)


def test_not_a_folder_is_one_clear_error(tmp_path):
    from genred.dsp.errors import GenredError

    with pytest.raises(GenredError, match="make pool"):
        index_pool(tmp_path / "absent")


@pytest.fixture
def soundtrack_deb(tmp_path) -> Path:
    """A soundtrack package shaped like Debian's: loose audio, a .pk3 of oggs, a Frets on
    Fire song in parts, a sound effect, and files that are not audio."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    tree = tmp_path / "pkg"
    game = tree / "usr" / "share" / "games" / "toygame"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN" / "control").write_text(
        "Package: toygame-music\nVersion: 1.0\nArchitecture: all\nMaintainer: test <t@example.org>\nDescription: test\n")
    (tree / "usr" / "share" / "doc" / "toygame-music").mkdir(parents=True)
    (tree / "usr" / "share" / "doc" / "toygame-music" / "copyright").write_text("free\n")
    (game / "music").mkdir(parents=True)
    sf.write(str(game / "music" / "theme.wav"), tone(4.0, 16000), 16000)
    (game / "music" / "theme.txt").write_text("liner notes\n")
    (game / "sounds").mkdir()
    sf.write(str(game / "sounds" / "explosion.wav"), tone(4.0, 16000, 100.0), 16000)  # an effect, not music
    pk3_ogg = tmp_path / "cd1.ogg"
    sf.write(str(pk3_ogg), tone(4.0, 22050), 22050, format="OGG", subtype="VORBIS")
    (game / "data").mkdir()
    with zipfile.ZipFile(game / "data" / "music.pk3", "w") as z:
        z.write(pk3_ogg, "sound/cdtracks/cd1.ogg")
        z.writestr("sound/cdtracks/readme.txt", "hi")
    song = game / "songs" / "tune"
    song.mkdir(parents=True)
    sf.write(str(song / "song.ogg"), tone(4.0, 22050, 440.0, channels=2), 22050, format="OGG", subtype="VORBIS")
    sf.write(str(song / "guitar.ogg"), tone(3.5, 22050, 660.0, channels=2), 22050, format="OGG", subtype="VORBIS")
    (song / "notes.mid").write_bytes(b"MThd")
    deb = tmp_path / "toygame-music_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(tree), str(deb)], check=True, capture_output=True)
    return deb


def test_unpack_keeps_only_music_and_mixes_song_parts(soundtrack_deb, tmp_path):
    dest = tmp_path / "pool" / "toygame-music"
    unpack(soundtrack_deb, dest)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    # usr/share/games/toygame, the folder all audio shares, is gone from the paths.
    assert files == [DONE_MARKER, "data/music/sound/cdtracks/cd1.ogg", "music/theme.wav", "songs/tune/mix.ogg"]
    mix, sr = sf.read(str(dest / "songs" / "tune" / "mix.ogg"), dtype="float32", always_2d=True)
    assert sr == 22050 and mix.shape[1] == 2 and len(mix) == pytest.approx(4.0 * sr, abs=2)
    spectrum = np.abs(np.fft.rfft(mix[: int(3.0 * sr), 0]))
    hz = np.fft.rfftfreq(int(3.0 * sr), 1 / sr)

    def at(f: float) -> float:
        return float(spectrum[np.argmin(np.abs(hz - f))])

    assert at(440.0) > 100 * at(550.0) and at(660.0) > 100 * at(550.0)  # the band and the guitar
    assert index_pool(tmp_path / "pool")[0].source == "toygame-music"


def test_fetch_skips_what_is_already_unpacked(tmp_path):
    pool = tmp_path / "pool"
    (pool / "genred-no-such-package").mkdir(parents=True)
    (pool / "genred-no-such-package" / DONE_MARKER).write_text("x\n")
    assert fetch_pool(pool, ("genred-no-such-package",)) == {"genred-no-such-package": "already there"}
