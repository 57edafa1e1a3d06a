"""The music / not-music detector's training side: corpus, mixes, sampler, export, scores."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from genred.dsp.params import LogMelParams, WindowParams
from genred.training.augment import RoomParams
from genred.training.detector import DetectorConfig, Item, Sampler, load_detector
from genred.training.detector_data import MUSIC, NOT_MUSIC, Clip, clip_frames, make_mixes, make_noise_mixes, nonmusic_clips

FE = LogMelParams()
WIN = WindowParams()
SR = FE.sample_rate_hz


@pytest.fixture(scope="module", autouse=True)
def _op_determinism_off_afterwards():
    """Training here turns TensorFlow's op determinism on for the process; later tests
    (the MusiCNN port's TF1 reference graph has unseeded dropout) must not inherit it."""
    yield
    import sys

    if "tensorflow" in sys.modules:
        from tensorflow.python.framework import config  # the public API can only turn it on

        config.disable_op_determinism()


def _tone_clip(key: str, label: int, category: str, group: str, seconds: float = 4.0, seed: int = 0) -> Clip:
    def make() -> np.ndarray:
        rng = np.random.default_rng(seed)
        t = np.arange(int(seconds * SR)) / SR
        if label == MUSIC:  # a chord with a beat: pulses every 0.5 s
            env = np.exp(-8.0 * (t % 0.5))
            return (0.2 * env * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))).astype(np.float32)
        return (0.1 * rng.standard_normal(t.size)).astype(np.float32)

    return Clip(key, label, category, group, make=make, recipe=f"test|{key}|{seconds}|{seed}")


def test_nonmusic_index_groups_by_source_and_category(tmp_path):
    for name in ("speech_a_1.flac", "speech_a_2.flac", "noise_a_1.flac", "noise_b_1.flac"):
        sf.write(tmp_path / name, np.zeros(1600, np.float32), SR)
    rows = [
        "file\tsource_repo\tcategory",
        "speech_a_1.flac\torg/a\tspeech",
        "speech_a_2.flac\torg/a\tspeech",
        "noise_a_1.flac\torg/a\tnoise",
        "noise_b_1.flac\torg/b\tnoise",
        "gone.flac\torg/c\tspeech",  # listed but absent: left out
    ]
    (tmp_path / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    clips = nonmusic_clips(tmp_path)
    assert [(c.path.name, c.category, c.group, c.label) for c in clips] == [
        ("speech_a_1.flac", "speech", "speech:org/a", NOT_MUSIC),
        ("speech_a_2.flac", "speech", "speech:org/a", NOT_MUSIC),
        ("noise_a_1.flac", "noise", "noise:org/a", NOT_MUSIC),
        ("noise_b_1.flac", "noise", "noise:org/b", NOT_MUSIC),
    ]


def test_training_only_sounds_join_every_train_side_and_leave_the_scored_folds_as_they_were(tmp_path):
    from genred.training.detector_run import folds

    scored = [_tone_clip(f"m{i}", MUSIC, "music", f"artist{i % 8}") for i in range(16)]
    scored += [_tone_clip(f"s{i}", NOT_MUSIC, "speech", f"voice{i % 4}") for i in range(8)]
    scored += [_tone_clip(f"n{i}", NOT_MUSIC, "noise", f"kind{i % 4}") for i in range(8)]
    sf.write(tmp_path / "fx.flac", np.zeros(1600, np.float32), SR)
    (tmp_path / "SOURCES.tsv").write_text("file\tcategory\tgroup\nfx.flac\tnoise\tminetest\n")
    extra = nonmusic_clips(tmp_path, scored=False)
    assert [c.scored for c in extra] == [False]
    before, after = folds(scored, 4, 1), folds(scored + extra, 4, 1)
    assert [f.test for f in after] == [f.test for f in before]
    assert all(extra[0].key in f.train and extra[0].key not in f.test for f in after)


def test_mixes_are_music_made_only_of_the_clips_given():
    music = [_tone_clip(f"m{i}", MUSIC, "music", f"artist{i}", seed=i) for i in range(3)]
    talk = [_tone_clip(f"s{i}", NOT_MUSIC, "speech", f"voice{i}", seed=10 + i) for i in range(2)]
    mixes = make_mixes(music, talk, 12, seed=5, front_end=FE)
    assert len(mixes) == 12
    assert {m.label for m in mixes} == {MUSIC} and {m.category for m in mixes} == {"mix"}
    parts = {tuple(m.recipe.split("|")[1:3]) for m in mixes}
    assert {a for a, _ in parts} <= {"m0", "m1", "m2"} and {b for _, b in parts} <= {"s0", "s1"}
    assert {m.group for m in mixes} <= {"artist0", "artist1", "artist2"}  # a mix belongs to its music's session
    assert [m.recipe for m in make_mixes(music, talk, 12, seed=5, front_end=FE)] == [m.recipe for m in mixes]
    assert [m.recipe for m in make_mixes(music, talk, 12, seed=6, front_end=FE)] != [m.recipe for m in mixes]
    y = mixes[0].make()
    assert y.shape == (8 * SR,) and np.all(np.isfinite(y)) and 0.49 < np.max(np.abs(y)) <= 0.5


def test_noise_mixes_are_not_music_made_only_of_the_speech_and_noise_given():
    music = [_tone_clip("m0", MUSIC, "music", "artist0")]
    talk = [_tone_clip(f"s{i}", NOT_MUSIC, "speech", f"voice{i}", seed=10 + i) for i in range(2)]
    noise = [_tone_clip(f"n{i}", NOT_MUSIC, "noise", f"kind{i}", seed=20 + i) for i in range(2)]
    mixes = make_noise_mixes(music + talk + noise, 20, seed=5, front_end=FE)
    assert len(mixes) == 20
    assert {m.label for m in mixes} == {NOT_MUSIC} and {m.category for m in mixes} == {"noise_mix"}
    parts = [tuple(m.recipe.split("|")[1:3]) for m in mixes]
    assert {a for a, _ in parts} == {"s0", "s1", "n0", "n1"}  # talk over noise and noise over noise
    assert {b for _, b in parts} == {"n0", "n1"}  # the bed is always noise, never the music
    assert not any(m.scored for m in mixes)
    assert [m.recipe for m in make_noise_mixes(music + talk + noise, 20, seed=5, front_end=FE)] == [m.recipe for m in mixes]
    assert make_noise_mixes(music + talk, 20, seed=5, front_end=FE) == []  # no noise: nothing to mix into
    y = mixes[0].make()
    assert y.shape == (8 * SR,) and np.all(np.isfinite(y)) and 0.49 < np.max(np.abs(y)) <= 0.5


def test_clip_frames_are_cached_and_the_room_copy_differs(tmp_path):
    clip = _tone_clip("m", MUSIC, "music", "a")
    clean = clip_frames(clip, FE, RoomParams(), None, tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 1
    again = clip_frames(clip, FE, RoomParams(), None, tmp_path)
    np.testing.assert_array_equal(clean, again)
    room = clip_frames(clip, FE, RoomParams(), 123, tmp_path)
    assert room.shape == clean.shape and not np.allclose(room, clean, atol=1.0)
    assert len(list(tmp_path.glob("*.npy"))) == 2


def _items(tmp_path) -> list[Item]:
    clips = [_tone_clip("m", MUSIC, "music", "a"), _tone_clip("n", NOT_MUSIC, "noise", "b", seed=3),
             _tone_clip("s", NOT_MUSIC, "speech", "c", seconds=2.0, seed=4)]  # shorter than a window: padded
    return [Item(c, (clip_frames(c, FE, RoomParams(), None, tmp_path),)) for c in clips]


def test_sampler_batches_are_balanced_and_seeded(tmp_path):
    cfg = DetectorConfig(batch_size=16)
    sampler = Sampler(_items(tmp_path), cfg, FE, WIN)
    x, y = sampler.batch(0, 0)
    assert x.shape == (16, WIN.window_frames, FE.n_mels, 1) and y.shape == (16, 2)
    assert y[:, 1].sum() == 8 and y[:, 0].sum() == 8
    x2, y2 = sampler.batch(0, 0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(sampler.batch(0, 1)[0], x)
    with pytest.raises(ValueError, match="no training clips for no_music"):
        Sampler(_items(tmp_path)[:1], cfg, FE, WIN)


def test_the_noise_mix_share_is_what_the_sampler_draws_not_music_from(tmp_path):
    mix = _tone_clip("x", NOT_MUSIC, "noise_mix", "d", seed=5)
    items = _items(tmp_path) + [Item(mix, (clip_frames(mix, FE, RoomParams(), None, tmp_path),))]
    shares = {p[1].tolist()[0]: p[0] for p in Sampler(items, DetectorConfig(noise_mix_share=0.25), FE, WIN).pools[NOT_MUSIC]}
    assert shares == {1: pytest.approx(0.375), 2: pytest.approx(0.375), 3: pytest.approx(0.25)}  # noise, speech, mix
    # room_speech: the mixes come out of the noise's half; plain speech keeps its half.
    keep = DetectorConfig(noise_mix_share=0.25, mix_keeps_speech=True)
    shares = {p[1].tolist()[0]: p[0] for p in Sampler(items, keep, FE, WIN).pools[NOT_MUSIC]}
    assert shares == {1: pytest.approx(0.25), 2: pytest.approx(0.5), 3: pytest.approx(0.25)}
    # The default recipe never draws from such clips, even when they are there.
    default = Sampler(items, DetectorConfig(), FE, WIN).pools[NOT_MUSIC]
    assert sorted(i for _, idx, _ in default for i in idx.tolist()) == [1, 2]


def test_the_music_mix_share_is_what_the_sampler_draws_music_from(tmp_path):
    mix = _tone_clip("x", MUSIC, "mix", "d", seed=5)
    items = _items(tmp_path) + [Item(mix, (clip_frames(mix, FE, RoomParams(), None, tmp_path),))]

    def shares(cfg):
        return {p[1].tolist()[0]: p[0] for p in Sampler(items, cfg, FE, WIN).pools[MUSIC]}

    assert shares(DetectorConfig()) == {0: pytest.approx(0.75), 3: pytest.approx(0.25)}  # music, mix
    assert shares(DetectorConfig(music_mix_share=0.4)) == {0: pytest.approx(0.6), 3: pytest.approx(0.4)}
    assert shares(DetectorConfig(music_mix_share=0.4, noise_mix_share=0.25)) == {0: pytest.approx(0.6), 3: pytest.approx(0.4)}
    with pytest.raises(ValueError, match="music_mix_share 1.0 is not in"):
        Sampler(items, DetectorConfig(music_mix_share=1.0), FE, WIN)


def test_a_trained_detector_exports_int8_that_follows_the_float_model(tmp_path):
    pytest.importorskip("tensorflow")
    from genred.training.detector import export_int8, representative, train_detector
    from genred.training.train import predict

    items = _items(tmp_path)
    cfg = DetectorConfig(epochs=2, steps_per_epoch=6, batch_size=8, representative_n=20)
    model, history = train_detector(items, cfg, FE, WIN)
    assert [h["epoch"] for h in history] == [1, 2]
    rep = representative(items, cfg, FE, WIN)
    tflite, spec_in, spec_out = export_int8(model, rep)
    assert spec_in.dtype == "int8" and spec_in.shape == (1, WIN.window_frames, FE.n_mels, 1)
    assert spec_out.dtype == "int8" and spec_out.shape == (1, 2)
    x = rep[:10, ..., 0]
    (tmp_path / "music.tflite").write_bytes(tflite)
    detector = load_detector(tmp_path / "music.tflite", spec_in, spec_out)
    p_int8 = np.array([detector.run(w)[1] for w in x])
    p_float = predict(model, x)[:, 1]
    assert np.max(np.abs(p_int8 - p_float)) < 0.1


def _score(key, label, p, level=-20.0, n=20, category=None):
    from genred.training.detector_eval import ClipScore

    genre = np.zeros((n, 10), np.float32)
    genre[:, 6] = 0.9  # the genre model says "metal" throughout (what it says for noise)
    genre[:, 0] = 0.1
    return ClipScore(key, category or ("music" if label else "speech"), label, "clean", np.full(n, p, np.float32),
                     np.full(n, level, np.float32), genre, 0.992)


def test_stream_scores_count_what_the_smoother_publishes():
    from genred.dsp.bundle import GTZAN_LABELS
    from genred.dsp.smoother_params import SmootherParams
    from genred.training.detector_eval import stream_scores

    params = SmootherParams(confidence_floor=0.3)
    scores = [_score("talk", 0, 0.05), _score("song", 1, 0.95), _score("quiet", 0, 0.9, level=-90.0)]
    r = stream_scores(scores, params, GTZAN_LABELS)
    assert r["not_music_publishing_genre"] == 0.0 and r["music_publishing_no_music"] == 0.0
    assert r["windows"] == {"not_music": 20, "music": 20}  # the silent clip is the level gate's, not counted
    # A detector that hears music in the talk: every talk window publishes the genre.
    r = stream_scores([_score("talk", 0, 0.95), _score("song", 1, 0.95)], params, GTZAN_LABELS)
    assert r["not_music_publishing_genre"] == 1.0
    r = stream_scores([_score("song", 1, 0.05)], params, GTZAN_LABELS)
    assert r["music_publishing_no_music"] == 1.0 and r["per_category"]["clean/music"]["wrong"] == 1.0
    # Broken down by kind and by where a clip came from: real talk apart from real noise.
    r = stream_scores([_score("nonmusic/speech_a.flac", 0, 0.95), _score("nonmusic/noise_a.flac", 0, 0.05, category="noise"),
                       _score("speech/espeak_1.flac", 0, 0.05)], params, GTZAN_LABELS)
    per = r["per_category"]
    assert per["clean/speech/from:nonmusic"] == {"windows": 20, "wrong": 1.0}
    assert per["clean/noise/from:nonmusic"] == {"windows": 20, "wrong": 0.0}
    assert per["clean/speech"] == {"windows": 40, "wrong": 0.5} and per["clean/from:nonmusic"]["wrong"] == 0.5


def test_concatenated_streams_pay_for_the_hold_after_a_change():
    from genred.dsp.bundle import GTZAN_LABELS
    from genred.dsp.smoother_params import SmootherParams
    from genred.training.detector_eval import concat_stream_scores

    params = SmootherParams(confidence_floor=0.3, music_tau_s=0.5, no_music_hold_s=5.0, music_hold_s=1.0)
    scores = [_score(f"song{i}", 1, 0.95) for i in range(3)] + [_score(f"talk{i}", 0, 0.02) for i in range(3)]
    r = concat_stream_scores(scores, params, GTZAN_LABELS, seed=3)
    assert r["clips"] == 6
    # After a song, talk keeps the genre for about no_music_hold_s (5 s of 20 windows a clip)...
    assert 0.0 < r["not_music_publishing_genre"] < 0.5
    assert r["median_latency_s"]["to_no_music"] >= 5.0
    # ...and a clip that is too short is left out.
    assert concat_stream_scores(scores, params, GTZAN_LABELS, min_s=60.0)["clips"] == 0


def _p_music_by_hand(path, entry: dict, window: np.ndarray) -> float:
    """P(music) of one normalised window: ``path`` in the LiteRT interpreter, quantised and
    dequantised with the tensors ``entry`` (model.json's music_detector) declares."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path), num_threads=1)
    interp.allocate_tensors()
    (inp,), (outp,) = interp.get_input_details(), interp.get_output_details()
    spec_in, spec_out = entry["input"], entry["output"]
    assert (spec_in["dtype"], spec_out["dtype"], entry["output_activation"]) == ("int8", "int8", "logits")
    q = np.clip(np.rint(window / np.float32(spec_in["scale"])) + spec_in["zero_point"], -128, 127)
    interp.set_tensor(inp["index"], q.astype(np.int8)[None, :, :, None])
    interp.invoke()
    logits = (interp.get_tensor(outp["index"])[0].astype(np.float64) - spec_out["zero_point"]) * spec_out["scale"]
    z = np.exp((logits - logits.max()) / entry["temperature"])
    return float(z[entry["labels"].index("music")] / z.sum())


def test_build_declares_a_detector_the_daemon_loads(tmp_path, model_path):
    """`detector_cli build` on a tiny corpus: music.tflite beside the genre model, declared
    in model.json with the CV-chosen gate settings, and loaded by the runtime's classifier."""
    pytest.importorskip("tensorflow")
    import json
    import shutil

    from genred.dsp.classifier import TfliteClassifier
    from genred.training.detector_cli import main

    data, nonmusic, out = tmp_path / "gtzan", tmp_path / "nonmusic", tmp_path / "bundle"
    lines = []
    for g, genre in enumerate(("blues", "rock")):
        for i in range(2):
            clip = _tone_clip(f"{genre}{i}", MUSIC, "music", "x", seed=g * 10 + i)
            path = data / "audio" / genre / f"{genre}.0000{i}.flac"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, clip.make(), SR)
            lines.append(f"{genre}/{genre}.0000{i}\t{g * 2 + i}")
    (data / "artists.tsv").write_text("\n".join(lines) + "\n")
    nonmusic.mkdir()
    rows = ["file\tsource_repo\tcategory"]
    for i, cat in enumerate(("speech", "noise")):
        sf.write(nonmusic / f"{cat}_s_{i}.flac", _tone_clip("n", NOT_MUSIC, cat, "y", seed=i).make(), SR)
        rows.append(f"{cat}_s_{i}.flac\torg/s{i}\t{cat}")
    (nonmusic / "SOURCES.tsv").write_text("\n".join(rows) + "\n")
    out.mkdir()
    shutil.copy(model_path, out / "model.tflite")
    genre_only = json.loads(model_path.with_suffix(".json").read_text())
    genre_only.pop("music_detector", None)  # what the genre run writes, before the detector is built
    (out / "model.json").write_text(json.dumps(genre_only))
    summary = tmp_path / "summary.json"
    stream = {"not_music_publishing_genre": 0.031, "music_publishing_no_music": 0.012,
              "per_category": {"clean/speech": {"windows": 10, "wrong": 0.1}}}
    b2b = {"not_music_publishing_genre": 0.3, "music_publishing_no_music": 0.05, "median_latency_s": {"to_no_music": 4.0}}
    pooled = {"worst_ratio": 1.5, "streams": {"clean": stream, "room": stream}, "back_to_back": {"clean": b2b, "room": b2b}}
    summary.write_text(json.dumps({"chosen": {"music_on": 0.65, "music_off": 0.3}, "pooled": pooled, "folds": [{"fold": "fold0"}]}))
    (out / "report.md").write_text("# genre report\n")
    rc = main(["build", "--data", str(data), "--nonmusic", str(nonmusic), "--out", str(out), "--epochs", "1",
               "--steps", "2", "--mixes", "1", "--cache", str(tmp_path / "cache"), "--cv-summary", str(summary), "--gate", "music_hold_s=1.5"])
    assert rc == 0
    meta = json.loads((out / "model.json").read_text())
    assert meta["music_detector"]["file"] == "music.tflite" and meta["music_detector"]["labels"] == ["no_music", "music"]
    assert meta["music_detector"]["metrics"]["cv"]["pooled"] == pooled
    report = (out / "report.md").read_text()
    assert report.startswith("# genre report\n") and "| clean | 3.1 % | 1.2 % |" in report
    assert "| speech | 10.0 % of 10 | - |" in report and "`music_on` 0.65" in report
    assert (meta["smoothing"]["music_on"], meta["smoothing"]["music_off"], meta["smoothing"]["music_hold_s"]) == (0.65, 0.3, 1.5)
    clf = TfliteClassifier.from_path(out / "model.tflite")
    assert clf.music_detector is not None and clf.music_detector.path == out / "music.tflite"
    # The runtime's P(music) is the declared file run with the declared tensors, worked out here.
    for window in (np.zeros((WIN.window_frames, FE.n_mels), np.float32),
                   np.random.default_rng(3).normal(-20.0, 10.0, (WIN.window_frames, FE.n_mels)).astype(np.float32)):
        want = _p_music_by_hand(out / "music.tflite", meta["music_detector"], window)
        assert clf.music_detector.predict(window) == pytest.approx(want, abs=1e-6)
    assert main(["build", "--data", str(data), "--nonmusic", str(nonmusic), "--out", str(out), "--gate", "music_on"]) == 2


@pytest.mark.parametrize("bundle", ["default", "accurate"])
def test_the_shipped_detector_hears_talk_as_no_music_and_a_song_as_music(gtzan_dir, bundle):
    """End to end through `genred replay` with each shipped bundle, on real recordings: a
    dev-set rock clip and real read speech (both were in its training data: this checks the
    bundle and the path, the CV in docs/models.md measures generalisation)."""
    import json
    import subprocess
    import sys

    from genred.daemon import resolve_model

    model_path = resolve_model(bundle)
    speech = gtzan_dir.parent / "nonmusic" / "speech_resemblyzer_1.flac"
    if not speech.is_file():
        pytest.skip("../shared/data/nonmusic is not present")
    song = gtzan_dir / "audio" / "rock" / "rock.00000.flac"
    out = {}
    for name, path in (("song", song), ("talk", speech)):
        proc = subprocess.run([sys.executable, "-m", "genred.daemon", "replay", str(path), "--model", str(model_path)],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        lines = [json.loads(x) for x in proc.stdout.splitlines()]
        out[name] = ([w["state"]["status"] for w in lines[:-1]], lines[-1]["summary"])
    song_status, song_summary = out["song"]
    talk_status, talk_summary = out["talk"]
    assert song_status.count("no_music") <= 1 and song_summary["genre"] is not None
    assert set(talk_status) == {"no_music"} and talk_summary["genre"] is None


def test_summary_chooses_a_gate_from_the_grid_or_scores_the_one_given(tmp_path):
    import json

    from genred.training.detector_cli import main
    from genred.training.detector_eval import save_scores

    save_scores(tmp_path / "fold0.npz", [_score("talk", 0, 0.1, n=30), _score("song", 1, 0.9, n=30)])
    assert main(["summary", "--out", str(tmp_path)]) == 0
    chosen = json.loads((tmp_path / "summary.json").read_text())
    assert chosen["pooled"]["streams"]["clean"]["not_music_publishing_genre"] == 0.0
    assert set(chosen["chosen"]) == {"music_tau_s", "music_on", "music_off", "music_hold_s", "no_music_hold_s"}
    gate = ["music_tau_s=2", "music_on=0.95", "music_off=0.92", "music_hold_s=1", "no_music_hold_s=6"]
    assert main(["summary", "--out", str(tmp_path), "--gate", *gate]) == 0
    fixed = json.loads((tmp_path / "summary_fixed_gate.json").read_text())
    assert fixed["chosen"] == {"music_tau_s": 2.0, "music_on": 0.95, "music_off": 0.92, "music_hold_s": 1.0,
                               "no_music_hold_s": 6.0}
    # A song at P(music) 0.9 under a gate that wants 0.92 is no music throughout.
    assert fixed["pooled"]["streams"]["clean"]["music_publishing_no_music"] == 1.0


def _attach_pair(tmp_path, model_path):
    """A source bundle (the shipped default, detector and report) and a target with the
    same front end and no detector, its own genre smoothing and report."""
    import json
    import shutil

    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir(), dst.mkdir()
    for name in ("model.tflite", "model.json", "music.tflite", "report.md"):
        shutil.copy(model_path.parent / name, src / name)
    shutil.copy(model_path, dst / "model.tflite")
    meta = json.loads(model_path.with_suffix(".json").read_text())
    meta.pop("music_detector")
    meta["smoothing"] = {"tau_s": 5.0, "switch_margin": 0.1}
    (dst / "model.json").write_text(json.dumps(meta))
    (dst / "report.md").write_text("# target report\n")
    return src, dst


def test_attach_copies_the_detector_its_gate_and_its_report_section(tmp_path, model_path):
    import json

    from genred.dsp.classifier import TfliteClassifier
    from genred.training.detector_cli import main

    src, dst = _attach_pair(tmp_path, model_path)
    assert main(["attach", "--genre-model", str(src), "--out", str(dst)]) == 0
    assert (dst / "music.tflite").read_bytes() == (src / "music.tflite").read_bytes()
    s_meta, d_meta = (json.loads((d / "model.json").read_text()) for d in (src, dst))
    assert d_meta["music_detector"] == s_meta["music_detector"]
    gate = {k: v for k, v in s_meta["smoothing"].items() if k.startswith(("music_", "no_music_"))}
    assert len(gate) == 5
    # The target's own genre smoothing stays; the gate's settings come with the detector.
    assert d_meta["smoothing"] == {"tau_s": 5.0, "switch_margin": 0.1, **gate}
    report = (dst / "report.md").read_text()
    assert report.startswith("# target report\n") and "as the `src` bundle, copied by" in report
    section = (src / "report.md").read_text().split("## Music detector\n", 1)[1].split("<!-- music detector: end -->")[0]
    assert section.strip() in report
    clf = TfliteClassifier.from_path(dst / "model.tflite")
    assert clf.music_detector is not None and clf.music_detector.path == dst / "music.tflite"
    # Attached twice: one section, not two.
    assert main(["attach", "--genre-model", str(src), "--out", str(dst)]) == 0
    assert (dst / "report.md").read_text().count("## Music detector") == 1


def test_attach_refuses_another_front_end_or_a_source_without_a_detector(tmp_path, model_path, capsys):
    import json

    from genred.training.detector_cli import main

    src, dst = _attach_pair(tmp_path, model_path)
    meta = json.loads((dst / "model.json").read_text())
    meta["window"]["hop_frames"] = 31
    (dst / "model.json").write_text(json.dumps(meta))
    capsys.readouterr()
    assert main(["attach", "--genre-model", str(src), "--out", str(dst)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "front end or window differs" in err and str(dst / "model.json") in err
    assert not (dst / "music.tflite").exists()
    assert main(["attach", "--genre-model", str(dst), "--out", str(src)]) == 2
    assert "declares no music_detector" in capsys.readouterr().err


def test_gate_sweep_counts_what_the_gate_alone_decides(tmp_path, capsys):
    import dataclasses

    from genred.training.detector_eval import save_scores
    from genred.training.gate_sweep import gate_errors, main, worst_ratio

    shipped = {"music_tau_s": 1.5, "music_on": 0.5, "music_off": 0.2, "music_hold_s": 1.0, "no_music_hold_s": 8.0}
    # Talk that the detector thinks is music for its last 10 of 20 windows; a song heard
    # as music; a song in silence for its first 5 windows (not counted) and then at 0.9.
    talk = _score("talk", 0, 0.1, n=20)
    talk = dataclasses.replace(talk, p_music=np.r_[np.full(10, 0.1), np.full(10, 0.95)].astype(np.float32))
    song = _score("song", 1, 0.9, n=20)
    quiet = _score("quiet", 1, 0.9, n=20)
    quiet = dataclasses.replace(quiet, level_db=np.r_[np.full(5, -90.0), np.full(15, -20.0)].astype(np.float32))
    errors = gate_errors([talk, song, quiet], shipped)
    # The smoothed P(music) crosses 0.5 one window after the talk turns, then must hold 1 s:
    # 8 of the talk's windows are called music; the songs are music throughout.
    assert errors == {"clean/music": 0.0, "clean/not_music": 8 / 20}
    assert worst_ratio(errors) == pytest.approx(8.0)
    save_scores(tmp_path / "fold0.npz", [talk, song])
    save_scores(tmp_path / "fold1.npz", [_score("talk2", 0, 0.1), quiet])
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "chosen on fold0, scored on fold1 (768 settings)" in out and "chosen on fold1, scored on fold0" in out
    assert "raw window error, clean, all folds: music 0.000, not music 0.250" in out  # talk: 10 of 40 windows
    assert "room" not in out.split("chosen")[0]
    assert main([str(tmp_path / "nowhere")]) == 2


def test_detector_compare_sums_a_kind_over_its_sources_and_refuses_other_folds():
    from genred.training.detector_compare import compare, kind_share

    per = {"clean/music/from:gtzan:blues": {"windows": 10, "wrong": 0.5}, "clean/music/from:gtzan:rock": {"windows": 30, "wrong": 0.0},
           "clean/music/from:pool": {"windows": 5, "wrong": 1.0}}
    assert kind_share(per, "clean", "music/from:gtzan:") == (pytest.approx(5 / 40), 40)
    assert kind_share(per, "room", "music/from:gtzan:")[1] == 0

    def run(folds, share):
        streams = {v: {"not_music_publishing_genre": share, "music_publishing_no_music": 0.01, "per_category": per}
                   for v in ("clean", "room")}
        return {"pooled": {"streams": streams}, "folds": [{"fold": f, **streams} for f in folds]}

    table = compare(run(["fold0", "fold1"], 0.05), run(["fold0", "fold1"], 0.02), ("a", "b"))
    assert "| clean: not-music publishing a genre, pooled (per fold) | 5.0 % (5.0 / 5.0) | 2.0 % (2.0 / 2.0) |" in table
    assert "| GTZAN music (40 windows) | 12.5 / nan % |" in table
    with pytest.raises(ValueError, match="different folds"):
        compare(run(["fold0"], 0.05), run(["fold0", "fold1"], 0.05), ("a", "b"))


def test_the_reports_build_command_parses_back_to_the_same_recipe():
    from genred.training.detector_cli import build_command, build_parser

    argv = ["build", "--data", "g", "--nonmusic", "n", "--speech", "s", "--pool", "p", "--sounds", "x",
            "--synth-noise", "12", "--epochs", "10", "--steps", "150", "--gate", "music_on=0.6", "music_off=0.3",
            "--cv-summary", "cv.json", "--out", "b", "--cache", "elsewhere"]
    args = build_parser().parse_args(argv)
    command = build_command(args)
    assert command.startswith("python -m genred.training.detector_cli build ")
    again = build_parser().parse_args(command.split()[3:])
    recipe = {k: v for k, v in vars(args).items() if k not in ("cache", "debug")}
    assert {k: v for k, v in vars(again).items() if k not in ("cache", "debug")} == recipe
    assert "elsewhere" not in command and "--folds" not in command  # not the recipe; a default left out


def test_every_option_is_named_as_build_command_spells_it():
    from genred.training.detector_cli import _NOT_RECIPE, build_parser, option

    parser = build_parser()
    usage = parser.format_usage()
    for key in vars(parser.parse_args(["build", "--out", "x"])):
        if key not in _NOT_RECIPE:
            assert f"{option(key)} " in usage or f"{option(key)}]" in usage, key


def test_arch_picks_the_detectors_cnn_and_a_bad_one_is_named(capsys):
    from genred.training.detector_cli import build_parser
    from genred.training.detector_run import config

    parse = build_parser().parse_args
    assert config(parse(["cv", "--out", "x"])).arch == "detector"
    assert config(parse(["cv", "--out", "x", "--arch", "medium_att"])).arch == "medium_att"
    with pytest.raises(SystemExit) as exc:  # refused by the parser, before any data is read
        parse(["cv", "--out", "x", "--arch", "nope"])
    assert exc.value.code == 2 and "--arch: invalid choice: 'nope'" in capsys.readouterr().err


def test_every_recipe_is_offered_by_the_parser():
    from genred.training.detector_cli import build_parser
    from genred.training.detector import RECIPES
    from genred.training.detector_run import config

    for name in RECIPES:  # every recipe is offered, and builds a config
        assert config(build_parser().parse_args(["cv", "--out", "x", "--recipe", name])).seed == 1
    assert config(build_parser().parse_args(["cv", "--out", "x", "--recipe", "room_only"])).room_copies == 3
    assert config(build_parser().parse_args(["cv", "--out", "x", "--recipe", "room_mix"])).music_mix_share == 0.4
