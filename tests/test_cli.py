"""`genred replay` and `genred evaluate` end to end, through the installed command."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from signals import music_like
from detectors import shipped_json_for


def genred(*args: str, model=None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "genred.daemon", *args]
    if model is not None:
        cmd += ["--model", str(model)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr
    return "\n".join(lines)


def test_replay_jsonl_schema(write_wav, genre_only_model):
    model_path = genre_only_model  # the schema without a detector (with one: test_detector.py)
    path = write_wav("song.wav", music_like(7.0, 44100, channels=2), 44100)
    proc = genred("replay", str(path), model=model_path)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    windows, summary = objs[:-1], objs[-1]
    assert len(windows) == 5  # ends at 3, 4, 5, 6, 7 s
    labels = json.loads(model_path.with_suffix(".json").read_text())["labels"]
    for w in windows:
        assert set(w) == {"file", "start_s", "end_s", "genre", "confidence", "probabilities", "music_probability", "state"}
        assert w["file"] == str(path) and w["end_s"] > w["start_s"] >= 0
        assert list(w["probabilities"]) == labels
        assert w["genre"] == max(w["probabilities"], key=w["probabilities"].get)
        assert abs(sum(w["probabilities"].values()) - 1) < 1e-3
        assert set(w["state"]) == {"status", "genre", "confidence", "music_probability"}
        assert w["state"]["status"] in ("music", "uncertain")  # loud, and no detector: never silence or no_music
        assert w["music_probability"] is None and w["state"]["music_probability"] is None
        assert (w["state"]["genre"] is None) == (w["state"]["status"] != "music")
    assert [w["start_s"] for w in windows] == pytest.approx([0.0, 0.992, 1.984, 2.976, 3.968])
    assert set(summary) == {"file", "summary", "windows"} and summary["windows"] == 5
    mean = {g: np.mean([w["probabilities"][g] for w in windows]) for g in labels}
    assert summary["summary"]["probabilities"] == pytest.approx(mean, abs=2e-4)
    assert summary["summary"]["genre"] == max(mean, key=mean.get)
    assert summary["summary"]["windows_counted"] == 5 and summary["summary"]["no_genre"] is None


def test_replay_short_file_and_hop_and_text(write_wav, model_path):
    short = write_wav("short.flac", music_like(2.2, 22050), 22050)
    longer = write_wav("long.ogg", music_like(5.0, 48000), 48000, format="OGG", subtype="VORBIS")
    proc = genred("replay", str(short), model=model_path)
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 2 and objs[1]["windows"] == 1
    assert objs[0]["end_s"] == pytest.approx(2.2, abs=1e-3)
    proc = genred("replay", "--hop", "0.5", str(longer), model=model_path)
    assert json.loads(proc.stdout.splitlines()[-1])["windows"] == 5  # 3.0, 3.5, ... 5.0 s
    proc = genred("replay", "--format", "text", str(short), str(longer), model=model_path)
    assert proc.returncode == 0
    assert proc.stdout.count("=> ") == 2 and str(short) in proc.stdout


def test_replay_bad_files_each_get_one_line_and_the_rest_goes_on(write_wav, tmp_path, model_path):
    good = write_wav("good.wav", music_like(3.5, 16000), 16000)
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage" * 100)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    nan = write_wav("nan.wav", np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    tiny = write_wav("tiny.wav", np.zeros(100, dtype=np.float32), 16000)
    headerless = tmp_path / "raw.wav"  # GTZAN's jazz.00054.wav: PCM with no header
    headerless.write_bytes((np.random.default_rng(0).integers(-3000, 3000, 40000)).astype("<i2").tobytes())
    bad = [corrupt, empty, nan, tiny, headerless, tmp_path / "absent.wav"]
    proc = genred("replay", str(bad[0]), str(good), *map(str, bad[1:]), model=model_path)
    assert proc.returncode == 1
    err = _one_error_line(proc)
    for path in bad:
        assert sum(str(path) in line for line in err.splitlines()) == 1, err
    assert "NaN" in err and "too short" in err and "no such file" in err
    assert "6 of 7 files failed" in err
    assert json.loads(proc.stdout.splitlines()[-1])["file"] == str(good)


def test_bad_model_is_one_line(tmp_path, write_wav, model_path):
    song = write_wav("s.wav", music_like(3.5, 16000), 16000)
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"\x00" * 64)
    shipped_json_for(model_path, broken)
    proc = genred("replay", str(song), model=broken)
    assert proc.returncode == 2
    assert _one_error_line(proc) == f"genred: model {broken}: not a TFLite flatbuffer (no TFL3 identifier); re-export or re-install it"


def test_evaluate_on_a_small_dataset(tmp_path, write_wav, model_path):
    data = tmp_path / "data"
    # Three layouts, as in ../shared/data/gtzan: <genre>/, audio/<genre>/, excerpts/<genre>/.
    write_wav("data/rock/rock.00001.wav", music_like(5.0, 22050, seed=1), 22050)
    write_wav("data/audio/jazz/jazz.00002.flac", music_like(4.0, 22050, seed=2), 22050)
    write_wav("data/excerpts/jazz/jazz.00003.flac", music_like(2.5, 22050, seed=3), 22050)
    (data / "audio" / "jazz" / "jazz.00004.wav").write_bytes(b"\x01\x02" * 5000)  # no header
    split = tmp_path / "split.txt"
    split.write_text("rock/rock.00001.wav\njazz/jazz.00002.wav\njazz/jazz.00003.wav\njazz/jazz.00004.wav\nblues/blues.00009.wav\n")
    out = tmp_path / "scores.json"
    proc = genred("evaluate", "--data", str(data), "--split", str(split), "--json", str(out), model=model_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    for key in ("model", "tracks", "track_accuracy", "window_accuracy", "macro_recall", "per_genre", "labels", "confusion", "missing"):
        assert key in result
    assert result["model"] == str(model_path)
    assert result["tracks"] == 3 and result["missing"] == ["blues/blues.00009.wav"]
    assert [u["track"] for u in result["unreadable"]] == ["jazz/jazz.00004.wav"]
    assert result["windows"] == 3 + 2 + 1
    cm = np.array(result["confusion"])
    assert cm.sum() == 3 and cm[result["labels"].index("jazz")].sum() == 2
    assert result["per_genre"]["jazz"]["n"] == 2 and result["per_genre"]["blues"]["recall"] is None
    assert "track accuracy" in proc.stdout


def test_evaluate_bad_list_is_one_line(tmp_path, model_path):
    split = tmp_path / "split.txt"
    split.write_text("no-slash-here\n")
    proc = genred("evaluate", "--data", str(tmp_path), "--split", str(split), model=model_path)
    assert proc.returncode == 2
    assert "line 1: expected 'genre/name.ext'" in _one_error_line(proc)


def test_replay_gtzan_clip(gtzan_dir, model_path):
    proc = genred("replay", str(gtzan_dir / "audio" / "classical" / "classical.00000.flac"), model=model_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["windows"] == 28


def test_train_help_reaches_the_training_cli():
    pytest.importorskip("tensorflow")
    proc = genred("train", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--train-list" in proc.stdout and "--teacher" in proc.stdout


# -- the verdict follows the published state (silence, no music) ---------------------------------


def _jsonl(proc: subprocess.CompletedProcess) -> tuple[list[dict], dict]:
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    return objs[:-1], objs[-1]


def test_replay_of_digital_silence_names_no_genre(write_wav, model_path):
    path = write_wav("silence.wav", np.zeros(6 * 16000, dtype=np.float32), 16000)
    windows, summary = _jsonl(genred("replay", str(path), model=model_path))
    assert len(windows) == 4
    for w in windows:
        assert w["state"]["status"] == "silence" and w["genre"] is None and w["confidence"] is None
        assert abs(sum(w["probabilities"].values()) - 1) < 1e-3  # the model's raw opinion stays in the data
    s = summary["summary"]
    assert (s["genre"], s["confidence"], s["probabilities"]) == (None, None, None)
    assert s["no_genre"] == "silence" and s["statuses"] == {"silence": 4} and s["windows_counted"] == 0
    text = genred("replay", "--format", "text", str(path), model=model_path)
    assert text.returncode == 0, text.stderr
    assert text.stdout.splitlines()[-1] == "  => no genre: silence throughout (4 windows)"
    assert "-> silence" in text.stdout


def test_replay_verdict_counts_only_the_windows_the_state_lets_through(write_wav, genre_only_model):
    model_path = genre_only_model  # the synthetic "music" must count as music here
    x = np.concatenate([np.zeros(5 * 16000, dtype=np.float32), music_like(8.0, 16000, seed=5)])
    path = write_wav("late.wav", x, 16000)
    windows, summary = _jsonl(genred("replay", str(path), model=model_path))
    heard = [w for w in windows if w["state"]["status"] != "silence"]
    silent = [w for w in windows if w["state"]["status"] == "silence"]
    assert heard and silent and all(w["genre"] is None for w in silent) and all(w["genre"] for w in heard)
    mean = {g: np.mean([w["probabilities"][g] for w in heard]) for g in heard[0]["probabilities"]}
    s = summary["summary"]
    assert s["probabilities"] == pytest.approx(mean, abs=2e-4) and s["genre"] == max(mean, key=mean.get)
    assert s["windows_counted"] == len(heard) and s["statuses"]["silence"] == len(silent)
    text = genred("replay", "--format", "text", str(path), model=model_path).stdout
    assert f"over {len(heard)} windows ({len(silent)} of silence not counted); then" in text


def test_replay_with_a_detector_that_hears_no_music_prints_no_genre(write_wav, make_bundle):
    path = write_wav("talk.wav", music_like(7.0, 22050, seed=2), 22050)
    model = make_bundle("speech")
    windows, summary = _jsonl(genred("replay", str(path), model=model))
    assert len(windows) == 5
    for w in windows:
        assert w["state"] == {"status": "no_music", "genre": None, "confidence": pytest.approx(0.97, abs=0.01),
                              "music_probability": pytest.approx(0.03, abs=0.01)}
        assert w["genre"] is None and w["music_probability"] == pytest.approx(0.03, abs=0.01)
    s = summary["summary"]
    assert s["genre"] is None and s["no_genre"] == "no music" and s["statuses"] == {"no_music": 5}
    text = genred("replay", "--format", "text", str(path), model=model)
    assert text.returncode == 0, text.stderr
    assert "-> no music" in text.stdout and "music 0.03" in text.stdout
    assert text.stdout.splitlines()[-1] == "  => no genre: no music throughout (5 windows)"
    # The same file, with a detector that hears music: a genre, as without a detector.
    _, summary = _jsonl(genred("replay", str(path), model=make_bundle("music", name="m")))
    _, plain = _jsonl(genred("replay", str(path), model=make_bundle(None, name="p")))
    assert summary["summary"]["genre"] == plain["summary"]["genre"] is not None


def test_bad_detector_is_one_line(write_wav, make_bundle):
    song = write_wav("s.wav", music_like(3.5, 16000), 16000)
    model = make_bundle("music")
    detector = model.parent / "music.tflite"
    detector.write_bytes(b"\x00" * 64)
    proc = genred("replay", str(song), model=model)
    assert proc.returncode == 2
    assert _one_error_line(proc) == (
        f"genred: music detector {detector}: not a TFLite flatbuffer (no TFL3 identifier); re-export or re-install it"
    )


def test_an_unreadable_file_says_what_libsndfile_reads_and_mp3_plays(tmp_path, model_path):
    import soundfile as sf

    from genred.dsp.audio import audio_info
    from genred.dsp.errors import AudioError

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    with pytest.raises(AudioError) as info:
        audio_info(bad)
    message = str(info.value)
    readable = set(sf.available_formats()) - {"RAW"}  # RAW needs its parameters given
    assert "use WAV, FLAC or OGG" not in message
    assert all(f in message for f in readable), message
    if "MP3" in readable:  # libsndfile >= 1.1
        mp3 = tmp_path / "song.mp3"
        sf.write(str(mp3), music_like(4.0, 16000), 16000, format="MP3")
        proc = subprocess.run([sys.executable, "-m", "genred.daemon", "replay", str(mp3), "--model", str(model_path)],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()  # windows ending at 3.0 and 4.0 s, and the summary
        assert len(lines) == 3 and json.loads(lines[-1])["windows"] == 2, proc.stdout
