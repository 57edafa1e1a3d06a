"""`genred bench` end to end: the figures are all there and sane. Speed is reported,
never asserted (the machines that run this suite are shared and noisy)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from genred.dsp.params import LogMelParams, WindowParams, hop_frames_for
from signals import music_like


def genred(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genred.daemon", *args], capture_output=True, text=True, timeout=120, check=False)


def _expected_windows(seconds: float, hop_s: float, model_path) -> int:
    meta = json.loads(model_path.with_suffix(".json").read_text())
    fe, win = LogMelParams.from_dict(meta["front_end"]), WindowParams.from_dict(meta["window"])
    samples = int(seconds * fe.sample_rate_hz)
    frames = 1 + (samples - fe.n_fft) // fe.hop_length
    return 1 + (frames - win.window_frames) // hop_frames_for(hop_s, fe)


def test_bench_json_figures(tmp_path, genre_only_model):
    model_path = genre_only_model  # the figures without a detector (with one: the test below)
    out = tmp_path / "bench.json"
    proc = genred("bench", "--seconds", "10", "--hop", "1", "--model", str(model_path), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "realtime factor" in proc.stdout and "reference ratio" in proc.stdout
    r = json.loads(out.read_text())

    # Times and memory depend on the machine: positive and finite is all there is to say.
    for key in ("realtime_factor", "rss_mb", "window_ms_p50", "window_ms_p95", "startup_s", "first_decision_s",
                "audio_s", "cpu_s", "wall_s"):
        assert isinstance(r[key], float) and math.isfinite(r[key]) and r[key] > 0, key
    assert r["window_ms_p95"] >= r["window_ms_p50"]
    # What follows from the model and the options is exact.
    meta = json.loads(model_path.with_suffix(".json").read_text())
    fe, win = LogMelParams.from_dict(meta["front_end"]), WindowParams.from_dict(meta["window"])
    assert r["window_s"] == pytest.approx(((win.window_frames - 1) * fe.hop_length + fe.n_fft) / fe.sample_rate_hz)
    assert r["hop_s"] == pytest.approx(hop_frames_for(1.0, fe) * fe.hop_length / fe.sample_rate_hz)
    assert r["realtime_factor"] == pytest.approx(r["audio_s"] / r["cpu_s"])
    assert r["first_decision_s"] == pytest.approx(r["window_s"] + r["startup_s"])
    assert r["audio_s"] == pytest.approx(10.0)
    assert r["windows"] == _expected_windows(10.0, 1.0, model_path) == 8
    assert r["threads"] == 1
    assert r["model"] == {"path": str(model_path), "name": json.loads(model_path.with_suffix(".json").read_text())["name"]}
    assert set(r["machine"]) >= {"platform", "cpu_count", "python"}

    shares, stage_s = r["stage_share"], r["stage_s"]
    assert set(shares) == set(stage_s) == {"resample", "front_end", "model", "smoothing"}
    assert r["music_detector"] is None and "no music detector" in proc.stdout
    assert all(v > 0 for v in stage_s.values()), stage_s  # every stage ran (44.1 kHz audio is resampled)
    assert shares == pytest.approx({k: v / sum(stage_s.values()) for k, v in stage_s.items()})

    # librosa is in the dev environment, so the reference runs on the same audio.
    assert isinstance(r["reference_ratio"], float) and math.isfinite(r["reference_ratio"]) and r["reference_ratio"] > 0
    assert r["reference"]["windows"] == r["windows"]
    assert r["reference_ratio"] == pytest.approx(r["realtime_factor"] / r["reference"]["realtime_factor"])

    assert set(r["targets"]) == {"realtime_factor", "reference_ratio", "rss_mb", "first_decision_s"}
    for name, t in r["targets"].items():
        assert t["pass"] is (r[name] >= t["limit"] if t["op"] == ">=" else r[name] <= t["limit"]), name
    assert r["targets"]["first_decision_s"]["limit"] == pytest.approx(r["window_s"] + 0.5)


@pytest.mark.parametrize("kind", ["missing", "not_audio", "too_short"])
def test_bench_bad_file_is_one_line(tmp_path, write_wav, kind):
    if kind == "missing":
        path = tmp_path / "nope.wav"
    elif kind == "not_audio":
        path = tmp_path / "junk.wav"
        path.write_bytes(b"this is not a wav file at all" * 10)
    else:
        path = write_wav("short.wav", music_like(1.0, 22050), 22050)
    proc = genred("bench", "--file", str(path), "--seconds", "10")
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert str(path) in lines[0]
    assert proc.stdout == ""


def test_synthetic_audio_is_deterministic_and_block_invariant():
    import numpy as np
    from genred.daemon.bench.inputs import synthetic_block

    whole = synthetic_block(0, 44100 * 2, 44100)
    parts = np.concatenate([synthetic_block(s, 4410, 44100) for s in range(0, 44100 * 2, 4410)])
    assert whole.shape == (88200, 2) and whole.dtype == np.float32
    np.testing.assert_array_equal(whole, parts)
    assert np.abs(whole).max() <= 1.0 and whole.std() > 0.05
    assert not np.array_equal(whole[:, 0], whole[:, 1])


def test_bench_shows_the_music_detectors_cost(tmp_path, make_bundle):
    model = make_bundle("tonal")
    out = tmp_path / "bench.json"
    proc = genred("bench", "--seconds", "6", "--model", str(model), "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["music_detector"] == str(model.parent / "music.tflite")
    assert set(r["stage_share"]) == {"resample", "front_end", "model", "music_detector", "smoothing"}
    assert r["stage_s"]["music_detector"] > 0
    assert r["stage_share"] == pytest.approx({k: v / sum(r["stage_s"].values()) for k, v in r["stage_s"].items()})
    assert f"music detector {model.parent / 'music.tflite'}" in proc.stdout
    assert "ms per window)" in proc.stdout and "music detector " in proc.stdout.split("stage share:")[1]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: OpenBLAS starts no threads to keep out")
def test_the_runtime_runs_numpy_on_one_blas_thread():
    def threads_after_a_matmul(imports: str) -> int:
        code = f"import os, {imports}; a = numpy.ones((300, 300)); a @ a; print(len(os.listdir('/proc/self/task')))"
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
        return int(done.stdout)

    assert threads_after_a_matmul("numpy") > 1  # a thread per CPU, as the daemon must not
    assert threads_after_a_matmul("genred.daemon, numpy") == 1
