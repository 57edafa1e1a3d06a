"""The cross-validation driver end to end on a tiny synthetic set: folds as separate
processes, then the summary, each fold's bundle and its stream through the Pipeline."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("tensorflow", reason="the CV driver trains: it needs the 'train' extra")

GENRES = ("blues", "classical", "rock")


def tone(genre: str, seconds: float, sr: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    if genre == "blues":
        x = np.sin(2 * np.pi * (110 + 5 * seed) * t) + 0.5 * np.sin(2 * np.pi * 165 * t)
    elif genre == "classical":
        x = sum(np.sin(2 * np.pi * f * t) for f in (1320.0 + 10 * seed, 1760.0, 2640.0))
    else:
        x = rng.standard_normal(t.size) * np.exp(-((t % 0.25) * 20.0))
    return (0.5 * x / np.max(np.abs(x)) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture
def cv_data(tmp_path):
    """3 genres x 5 tracks (3 full clips + excerpts), 2 artists a genre, one `-` track."""
    root = tmp_path / "data"
    artists = ["# track\tartist_id"]
    listed = []
    for gi, g in enumerate(GENRES):
        for i in range(5):
            stem = f"{g}.{i:05d}"
            x = tone(g, 8.0, 22050, i)
            if i < 3:
                (root / "audio" / g).mkdir(parents=True, exist_ok=True)
                sf.write(str(root / "audio" / g / f"{stem}.flac"), x, 22050)
            (root / "excerpts" / g).mkdir(parents=True, exist_ok=True)
            sf.write(str(root / "excerpts" / g / f"{stem}.wav"), x[22050 : 3 * 22050], 22050)
            artists.append(f"{g}/{stem}\t{'-' if i == 4 else gi * 10 + i % 2}")
            listed.append(f"{g}/{stem}.wav")
    (root / "artists.tsv").write_text("\n".join(artists) + "\n")
    (root / "train_filtered.txt").write_text("\n".join(listed[::2]) + "\n")
    (root / "valid_filtered.txt").write_text("\n".join(listed[1::2]) + "\n")
    return root


def run_cv(*args, timeout=400):
    cmd = [sys.executable, "-m", "genred.training.cv", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def _stream_windows(seconds: float, meta: dict) -> int:
    """Windows the device's Pipeline makes of ``seconds`` of audio, from the bundle's front end."""
    from genred.dsp.params import LogMelParams, WindowParams, hop_frames_for

    fe, win = LogMelParams.from_dict(meta["front_end"]), WindowParams.from_dict(meta["window"])
    frames = 1 + (round(seconds * fe.sample_rate_hz) - fe.n_fft) // fe.hop_length
    return 1 + (frames - win.window_frames) // hop_frames_for(meta["default_hop_s"], fe)


@pytest.mark.slow
def test_cv_folds_then_summary(cv_data, tmp_path):
    out = tmp_path / "cv"
    common = ["--data", cv_data, "--out", out, "--folds", 2, "--epochs", 1, "--steps", 2, "--batch-size", 8,
              "--arch", "tiny", "--room-copies", 1, "--workers", 1, "--cache", tmp_path / "cache" / "features"]
    for fold in (0, 1):
        proc = run_cv(*common, "--fold", fold)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert (out / f"fold_{fold}" / "outputs.npz").is_file()
    # another recipe in the same folder is refused, in one line
    other = list(common)
    other[other.index("--steps") + 1] = 3
    bad = run_cv(*other, "--fold", 0)
    assert bad.returncode == 2 and "another recipe" in bad.stderr and "Traceback" not in bad.stderr
    proc = run_cv(*common, "--summarise")
    assert proc.returncode == 0, proc.stderr[-3000:]

    plan = json.loads((out / "plan.json").read_text())
    assert plan["tracks"] == 15 and plan["unscored"] == 3
    tested = []
    for fold in (0, 1):
        fold_dir = out / f"fold_{fold}"
        scores = json.loads((fold_dir / "scores.json").read_text())
        # the temperature came from the other fold, and the bundle says so
        meta = json.loads((fold_dir / "model.json").read_text())
        assert scores["chosen_by_folds"] == [1 - fold]
        assert meta["temperature"] == scores["temperature"] > 0 and meta["smoothing"] == scores["smoothing"]
        info = json.loads((fold_dir / "fold.json").read_text())
        # a fixed epoch count: nothing was scored on the fold's tracks to choose an epoch
        assert info["epochs"] == 1 and not any(k.startswith("valid") for row in info["history"] for k in row)
        keys = list(np.load(fold_dir / "outputs.npz")["test__keys"])
        tested += keys
        assert scores["int8"]["test"]["all"]["tracks"] == len(keys)
        assert scores["int8"]["test"]["full_clips"]["tracks"] + scores["int8"]["test"]["excerpts_only"]["tracks"] == len(keys)
        stream = scores["stream"]["test"]
        # The test tracks' full clips (tracks 0-2 of a genre, 8 s each) back to back: the
        # windows of that much audio, and a share of whole windows right.
        assert stream["windows"] == _stream_windows(8.0 * sum(int(k[-5:]) < 3 for k in keys), meta), stream
        right = stream["right_share"] * stream["windows"]
        assert right == pytest.approx(round(right), abs=1e-9), stream
        assert len(stream["latencies_s"]) == stream["true_changes"] + 1
    assert sorted(tested) == sorted(f"{g}/{g}.{i:05d}" for g in GENRES for i in range(4))  # every scored track once
    # the device loads a fold's bundle as it is
    from genred.dsp.classifier import TfliteClassifier

    TfliteClassifier.from_path(out / "fold_0" / "model.tflite")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["folds_run"] == [0, 1] and summary["int8"]["test"]["all"]["track_accuracy"]["folds"] == 2
    pooled = summary["pooled"]["int8"]["test"]["all"]
    assert pooled["tracks"] == 12 and set(pooled["per_genre"]) == set(GENRES)
    page = (out / "summary.md").read_text()
    assert "## Stream" in page and "| blues |" in page and "$" not in page


def test_fields_added_later_stay_out_of_the_recipe_at_their_off_value(tmp_path):
    """Folders written before --pool / --tag-weight existed keep matching the same flags;
    a recipe that uses them says so."""
    from genred.training.cv_driver import LATER_FIELDS, build_cv_parser, recipe

    base = ["--data", str(tmp_path), "--out", str(tmp_path / "cv"), "--teacher"]
    plain = recipe(build_cv_parser().parse_args(base))
    assert not set(LATER_FIELDS) & set(plain["config"]) and "pool" not in plain
    used = recipe(build_cv_parser().parse_args([*base, "--pool", str(tmp_path), "--tag-weight", "0.5"]))
    assert used["config"]["pool_p"] == 0.25 and used["config"]["tag_weight"] == 0.5 and used["pool"] == str(tmp_path)
    assert {k: v for k, v in used["config"].items() if k not in LATER_FIELDS} == plain["config"]


def test_a_cv_refuses_the_final_builds_given_settings(tmp_path, capsys):
    from genred.training.cv_driver import main

    for extra in (["--all-dev"], ["--temperature", "0.8"], ["--smoothing", "tau_s=4"]):
        with pytest.raises(SystemExit) as exc:
            main(["--data", str(tmp_path), "--out", str(tmp_path / "cv"), *extra])
        assert exc.value.code == 2 and "a CV chooses them per fold" in capsys.readouterr().err
