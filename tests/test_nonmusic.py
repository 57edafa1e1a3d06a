"""Not-music audio: the synthetic household noises and the index of speech/noise folders."""

from __future__ import annotations

import csv
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genred.dsp.errors import GenredError
from genred.training.nonmusic import LEVEL_DBFS, NOISE_KINDS, PEAK_MAX, index_nonmusic, synth_noise

SR = 16000
NONMUSIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "nonmusic"


def power_db(x: np.ndarray, lo_hz: float, hi_hz: float, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x.astype(np.float64))) ** 2
    f = np.fft.rfftfreq(x.size, 1 / sr)
    return float(10 * np.log10(spec[(f >= lo_hz) & (f < hi_hz)].sum()))


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_is_finite_sized_seeded_and_at_a_sane_level(kind):
    x = synth_noise(kind, 2.5, SR, np.random.default_rng(7))
    assert x.dtype == np.float32 and x.shape == (40000,)
    assert np.isfinite(x).all()
    assert float(np.max(np.abs(x))) <= PEAK_MAX + 1e-6
    rms_db = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    # On target, or quieter only where a knock had to stay below full scale.
    assert LEVEL_DBFS[0] - 20 < rms_db < LEVEL_DBFS[1] + 0.01
    if float(np.max(np.abs(x))) < PEAK_MAX - 1e-3:
        assert LEVEL_DBFS[0] - 0.01 < rms_db
    assert np.array_equal(x, synth_noise(kind, 2.5, SR, np.random.default_rng(7)))
    assert not np.allclose(x, synth_noise(kind, 2.5, SR, np.random.default_rng(8)))


def test_odd_lengths_and_rates():
    assert synth_noise("rain", 0.33333, 8000, np.random.default_rng(0)).shape == (2667,)
    assert synth_noise("whistle", 1.0, 22050, np.random.default_rng(0)).shape == (22050,)
    assert synth_noise("hum", 0.0, SR, np.random.default_rng(0)).shape == (0,)
    with pytest.raises(ValueError, match="white"):
        synth_noise("jazz", 1.0, SR, np.random.default_rng(0))


def test_noise_colours_have_their_slopes():
    # Power per octave, 100-200 Hz against 3.2-6.4 kHz (five octaves up): white rises
    # 3 dB an octave, pink is level, brown falls 3 dB an octave.
    slopes = {}
    for kind in ("white", "pink", "brown"):
        x = synth_noise(kind, 10.0, SR, np.random.default_rng(1))
        slopes[kind] = (power_db(x, 3200, 6400) - power_db(x, 100, 200)) / 5
    assert slopes["white"] == pytest.approx(3.0, abs=0.5)
    assert slopes["pink"] == pytest.approx(0.0, abs=0.5)
    assert slopes["brown"] == pytest.approx(-3.0, abs=0.5)


def test_hum_is_mains_harmonics_and_whistle_a_single_high_tone():
    for seed in range(4):
        hum = synth_noise("hum", 4.0, SR, np.random.default_rng(seed)).astype(np.float64)
        spec = np.abs(np.fft.rfft(hum)) ** 2
        f = np.fft.rfftfreq(hum.size, 1 / SR)
        on = [sum(spec[np.abs(f - k * base) < 1.5].sum() for k in range(1, 13)) / spec.sum() for base in (50.0, 60.0)]
        assert max(on) > 0.95 and min(on) < 0.5  # one mains frequency, not both

        # The whistle glides in pitch: one tone at a time, in each quarter second.
        whistle = synth_noise("whistle", 4.0, SR, np.random.default_rng(seed)).astype(np.float64)
        for start in range(SR, 4 * SR, SR // 4):  # after the onset
            spec = np.abs(np.fft.rfft(whistle[start : start + SR // 4] * np.hanning(SR // 4))) ** 2
            f = np.fft.rfftfreq(SR // 4, 1 / SR)
            peak_hz = f[np.argmax(spec)]
            assert 750 <= peak_hz <= 4100
            assert spec[np.abs(f - peak_hz) < 60].sum() / spec.sum() > 0.8


def test_beeps_pause_and_clatter_is_impulsive():
    beeps = synth_noise("beeps", 6.0, SR, np.random.default_rng(3)).astype(np.float64)
    frame_rms = np.sqrt(np.mean(beeps[: beeps.size // 160 * 160].reshape(-1, 160) ** 2, axis=1))
    quiet = frame_rms < frame_rms.max() * 0.01
    assert 0.1 < quiet.mean() < 0.95  # both beeps and silences
    clatter = synth_noise("clatter", 6.0, SR, np.random.default_rng(3)).astype(np.float64)
    white = synth_noise("white", 6.0, SR, np.random.default_rng(3)).astype(np.float64)

    def crest(x: np.ndarray) -> float:
        return float(np.max(np.abs(x)) / np.sqrt(np.mean(x**2)))

    assert crest(clatter) > 3 * crest(white)


def write_table(path: Path, header: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def test_index_of_a_copy_of_the_shared_data(tmp_path, caplog):
    if not (NONMUSIC / "SOURCES.tsv").is_file():
        pytest.skip("../shared/data/nonmusic is not present")
    with (NONMUSIC / "SOURCES.tsv").open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        header, rows = list(reader.fieldnames), list(reader)
    speech = next(r for r in rows if r["category"] == "speech")
    noise = next(r for r in rows if r["category"] == "noise")
    for r in (speech, noise):
        shutil.copy(NONMUSIC / r["file"], tmp_path / r["file"])
    gone = dict(noise, file="noise_not_here_1.flac")
    write_table(tmp_path / "SOURCES.tsv", header, [speech, gone, noise])
    with caplog.at_level(logging.WARNING, logger="genred.training.nonmusic"):
        files = index_nonmusic(tmp_path)
    assert [(f.path.name, f.category, f.group) for f in files] == [
        (speech["file"], "speech", speech["source_repo"]), (noise["file"], "noise", noise["source_repo"])]
    assert files[0].duration_s == pytest.approx(float(speech["duration_s"]), abs=0.01)
    assert files[0].sample_rate_hz == 16000
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "noise_not_here_1.flac" in warnings[0], warnings  # one line for the missing file


def test_index_prefers_a_group_column_and_names_a_bad_table(tmp_path):
    sf.write(str(tmp_path / "espeak-ng_de-f3_1.flac"), np.zeros(16000 * 5, np.float32), 16000)
    write_table(tmp_path / "SOURCES.tsv", ["file", "engine", "voice", "language", "seconds", "group", "category"],
                [{"file": "espeak-ng_de-f3_1.flac", "engine": "espeak-ng", "voice": "de+f3", "language": "de",
                  "seconds": "5.00", "group": "espeak-ng_de-f3", "category": "speech"}])
    [f] = index_nonmusic(tmp_path)
    assert (f.group, f.category, f.duration_s) == ("espeak-ng_de-f3", "speech", 5.0)
    write_table(tmp_path / "SOURCES.tsv", ["file", "category"], [{"file": "x.flac", "category": "noise"}])
    with pytest.raises(GenredError, match="source_repo"):
        index_nonmusic(tmp_path)
    with pytest.raises(GenredError, match="cannot read"):
        index_nonmusic(tmp_path / "absent")
