"""The seed report's baselines (training/baselines.py): the 57 Kaggle features, the
dense net and `report_cnn`, the int8 export of `report_cnn`, and the splits that leak
and the one that does not."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from signals import music_like

pytest.importorskip("tensorflow", reason="baseline tests need the 'train' extra")
pytest.importorskip("librosa", reason="baseline tests need the 'train' extra")

from genred.dsp.params import LogMelParams, WindowParams
from genred.training import baselines as bl
from genred.training.dataset import Track
from genred.training.models import ModelSpec, build_model


def test_features_are_the_57_kaggle_columns_and_finite(tmp_path):
    names = bl.FEATURE_NAMES
    assert len(names) == 57 == len(set(names))
    assert names[:17] == (
        "chroma_stft_mean", "chroma_stft_var", "rms_mean", "rms_var", "spectral_centroid_mean",
        "spectral_centroid_var", "spectral_bandwidth_mean", "spectral_bandwidth_var", "rolloff_mean", "rolloff_var",
        "zero_crossing_rate_mean", "zero_crossing_rate_var", "harmony_mean", "harmony_var", "perceptr_mean",
        "perceptr_var", "tempo")
    assert names[17:19] == ("mfcc1_mean", "mfcc1_var") and names[-1] == "mfcc20_var"
    # A 7 s file at 44.1 kHz: resampled to 22050, two whole 3 s segments (the tail dropped).
    path = tmp_path / "song.wav"
    sf.write(str(path), music_like(7.0, 44100, seed=2), 44100)
    track, segs = bl.file_features(path)
    assert track.shape == (57,) and segs.shape == (2, 57)
    assert np.all(np.isfinite(track)) and np.all(np.isfinite(segs))
    v = dict(zip(names, track, strict=True))
    assert 0 < v["rms_mean"] < 1 and v["spectral_centroid_mean"] > 0 and 30 < v["tempo"] < 300
    # A clip shorter than one segment is one segment; the cache returns the same numbers.
    short = tmp_path / "short.wav"
    sf.write(str(short), music_like(2.0, 22050, seed=3), 22050)
    got = bl.cached_features(short, tmp_path / "cache")
    again = bl.cached_features(short, tmp_path / "cache")
    assert got[1].shape == (1, 57) and np.array_equal(got[0], again[0]) and len(list((tmp_path / "cache").iterdir())) == 1


@pytest.mark.parametrize("kind", ["silent", "too_short"])
def test_silent_or_too_short_clip_is_one_clear_error(tmp_path, kind):
    path = tmp_path / f"{kind}.wav"
    x = np.zeros(3 * 22050, np.float32) if kind == "silent" else music_like(0.3, 22050)
    sf.write(str(path), x, 22050)
    with pytest.raises(bl.BaselineError) as err:
        bl.file_features(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert ("silent" in msg) if kind == "silent" else ("too short" in msg)
    # The batch path returns it (the caller skips and reports the file) instead of raising.
    returned = bl.cached_features(path, tmp_path / "cache")
    assert isinstance(returned, bl.BaselineError) and str(returned) == msg


def test_dense_net_builds_and_trains_one_step():
    model = bl.build_dense(57, 10)
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [1024, 512, 256, 128, 64, 32, 10]
    rng = np.random.default_rng(0)
    loss, _ = model.train_on_batch(rng.standard_normal((8, 57)).astype(np.float32), rng.integers(0, 10, 8))
    assert np.isfinite(loss)
    assert np.allclose(model.predict(np.zeros((2, 57), np.float32), verbose=0).sum(axis=1), 1, atol=1e-5)


def test_report_cnn_builds_trains_and_runs_as_int8(tmp_path):
    import keras

    from genred.dsp.bundle import ModelMetadata, bundle_paths, load_metadata, write_metadata
    from genred.dsp.classifier import TfliteClassifier
    from genred.training.export import convert_int8, tensor_specs, write_atomic

    fe, win = LogMelParams(), WindowParams()
    model = build_model(ModelSpec(name="report_cnn"), win.window_frames, fe.n_mels, 3)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 16, 32, 64, 128]
    assert any(isinstance(layer, keras.layers.Flatten) for layer in model.layers)
    assert model.output_shape == (None, 3)
    model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(1)
    x = rng.uniform(-60, 10, (4, win.window_frames, fe.n_mels, 1)).astype(np.float32)
    assert np.isfinite(model.train_on_batch(x, np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]))

    tflite = convert_int8(model, x)
    in_spec, out_spec = tensor_specs(tflite)
    assert in_spec.dtype == "int8" and out_spec.dtype == "int8"
    path, json_path = bundle_paths(tmp_path / "model.tflite")
    write_atomic(path, tflite)
    write_metadata(ModelMetadata(name="report-cnn-test", labels=("a", "b", "c"), front_end=fe, window=win,
                                 default_hop_s=1.0, input=in_spec, output=out_spec, output_activation="logits"),
                   json_path)
    probs = TfliteClassifier(load_metadata(path)).predict(x[0, ..., 0])
    assert probs.shape == (3,) and abs(float(probs.sum()) - 1) < 1e-3


def test_existing_architectures_are_unchanged():
    fe, win = LogMelParams(), WindowParams()
    # Parameter counts in docs/models.md (10 genres).
    assert build_model(ModelSpec(name="small"), win.window_frames, fe.n_mels, 10).count_params() == 42598
    assert build_model(ModelSpec(name="medium"), win.window_frames, fe.n_mels, 10).count_params() == 81242


def test_random_segment_split_leaks_and_track_split_does_not():
    n_tracks, per = 30, 10
    groups = np.repeat(np.arange(n_tracks), per)  # segment -> its track
    tr, te = bl.random_split(len(groups), seed=1)
    assert len(te) == round(0.3 * len(groups)) and not set(tr) & set(te)
    assert bl.leak_count(groups, tr, te) >= 0.95 * len(te)  # nearly every held-out segment has a sibling
    assert np.array_equal(bl.random_split(len(groups), seed=1)[1], te)  # seeded
    # Split by track, then expand to segments: no track on both sides.
    ttr, tte = bl.random_split(n_tracks, seed=1)
    seg_tr, seg_te = np.flatnonzero(np.isin(groups, ttr)), np.flatnonzero(np.isin(groups, tte))
    assert bl.leak_count(groups, seg_tr, seg_te) == 0


def _table(genres: list[str], offset: int, rng) -> bl.FeatureTable:
    tracks = [Track(g, f"{g}.{offset + i:05d}") for g in genres for i in range(4)]
    labels = np.array([["a", "b", "c"].index(t.genre) for t in tracks])
    n_seg = rng.integers(1, 4, len(tracks))
    seg_track = np.repeat(np.arange(len(tracks)), n_seg)
    centre = labels[:, None] * 3.0
    return bl.FeatureTable(tracks, labels, centre + rng.standard_normal((len(tracks), 57)),
                           centre[seg_track] + rng.standard_normal((len(seg_track), 57)), seg_track)


def test_dense_runs_and_the_page(tmp_path):
    rng = np.random.default_rng(3)
    train, valid = _table(["a", "b", "c"], 0, rng), _table(["a", "b", "c"], 100, rng)
    assert not {t.key for t in train.tracks} & {t.key for t in valid.tracks}
    res = bl.dense_runs(train, valid, 3, seed=1, epochs=2)
    # How many it scores: the valid tracks, or the held-out 30 % of the pooled rows.
    n_segments = len(train.seg_track) + len(valid.seg_track)
    expected_n = {"dense_track_filtered": len(valid.tracks), "dense_segment_filtered": len(valid.tracks),
                  "dense_track_random": round(0.3 * 24), "dense_segment_random": round(0.3 * n_segments)}
    assert {k: res[k]["n"] for k in expected_n} == expected_n
    assert res["dense_track_random"]["train"] == 24 - expected_n["dense_track_random"]
    assert res["dense_segment_random"]["train"] == n_segments - expected_n["dense_segment_random"]
    for key, n in expected_n.items():
        right = res[key]["accuracy"] * n
        assert right == pytest.approx(round(right), abs=1e-9), (key, res[key])  # a share of n answers
    # valid has 4 tracks of each genre: the mean recall over genres is the accuracy.
    for key in ("dense_track_filtered", "dense_segment_filtered"):
        assert res[key]["macro_recall"] == pytest.approx(res[key]["accuracy"], abs=1e-12), res[key]
    assert res["dense_track_random"]["leak"] == 0  # the per-track model's unit is the track
    assert res["dense_segment_random"]["leak"] > 0
    res["genred_default"] = {"accuracy": 0.5, "macro_recall": 0.4, "n": 12}
    out = tmp_path / "baselines.md"
    bl.write_page(out, res, {"train_tracks": 12, "valid_tracks": 12, "seed": 1, "labels_present": 3,
                             "cnn_epochs": 1, "cnn_steps": 1, "skipped": []}, "python -m genred.training.baselines ...")
    text = out.read_text()
    assert "| model | report's claim | random segment split | artist-filtered split (valid, track-level) |" in text
    assert "91.5 %" in text and "have a sibling from the same recording in train" in text
    assert "python -m genred.training.baselines" in text
