"""The music detector in a bundle: its metadata, its checks against its .tflite (the
genre model's code), and what the pipeline does with it. The detectors are tiny
models built by tests/detectors.py (TensorFlow), once per session."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genred.dsp.bundle import ModelMetadata, load_metadata
from genred.dsp.classifier import TfliteClassifier
from genred.dsp.errors import ModelError
from genred.dsp.pipeline import Pipeline
from detectors import TENSOR_MISMATCHES
from signals import music_like

FEATURES = np.random.default_rng(3).normal(-20.0, 10.0, (187, 96)).astype(np.float32)


def _one_line_naming(exc: pytest.ExceptionInfo, *names: str) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    for name in names:
        assert name in msg, msg
    return msg


def test_detector_loads_and_predicts_p_music(make_bundle):
    speech = TfliteClassifier.from_path(make_bundle("speech", name="s"))
    music = TfliteClassifier.from_path(make_bundle("music", name="m"))
    floaty = TfliteClassifier.from_path(make_bundle("float_music", name="f"))
    assert speech.music_detector.predict(FEATURES) == pytest.approx(0.03, abs=0.01)
    assert music.music_detector.predict(FEATURES) == pytest.approx(0.97, abs=0.01)
    assert floaty.music_detector.predict(FEATURES) == pytest.approx(0.97, abs=1e-3)
    assert isinstance(music.music_detector.predict(FEATURES), float)
    # The genre model is untouched by the detector beside it.
    plain = TfliteClassifier.from_path(make_bundle(None, name="p"))
    np.testing.assert_array_equal(speech.predict(FEATURES), plain.predict(FEATURES))


def test_metadata_round_trip_with_a_detector(make_bundle):
    meta = load_metadata(make_bundle("music")).metadata
    assert meta.music_detector is not None and meta.music_detector.labels == ("no_music", "music")
    d = meta.to_dict()
    assert d["music_detector"]["file"] == "music.tflite"
    assert ModelMetadata.from_dict(json.loads(json.dumps(d))) == meta


def test_old_bundle_without_a_detector_runs_as_before(make_bundle):
    c = TfliteClassifier.from_path(make_bundle(None))
    assert c.metadata.music_detector is None and c.music_detector is None
    assert "music_detector" not in c.metadata.to_dict()
    results = Pipeline(c, 16000).process(music_like(5.0, 16000))
    assert len(results) == 3 and all(r.music_probability is None and r.state.music_probability is None for r in results)
    assert all(r.state.status != "no_music" for r in results)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda e: e.update(labels=["music", "no_music"]), r"music_detector.labels must be \['no_music', 'music'\]"),
        (lambda e: e.update(labels=["no_music", "music", "talk"]), r"music_detector.labels must be"),
        (lambda e: e["input"].update(shape=[1, 100, 96, 1]), r"music_detector.input.shape \[1, 100, 96, 1\] does not fit the front end"),
        (lambda e: e["output"].update(shape=[1, 3]), r"music_detector.output.shape \[1, 3\] must be \[1, 2\]"),
        (lambda e: e.update(colour="blue"), r"music_detector: unknown key\(s\) colour"),
        (lambda e: e.pop("input"), r"music_detector: missing key\(s\) input"),
        (lambda e: e.update(file="../music.tflite"), r"music_detector.file must be a plain file name"),
        (lambda e: e.update(output_activation="sigmoid"), r"music_detector.output_activation must be"),
        (lambda e: e.update(temperature=0), r"music_detector.temperature must be > 0"),
    ],
)
def test_bad_detector_metadata_is_one_line_naming_the_file(make_bundle, edit, message):
    path = make_bundle("music", edit=edit)
    with pytest.raises(ModelError, match=message) as info:
        load_metadata(path)
    _one_line_naming(info, str(path.with_suffix(".json")))


def test_missing_detector_file(make_bundle):
    path = make_bundle("music")
    (path.parent / "music.tflite").unlink()
    with pytest.raises(ModelError, match="no such file") as info:
        load_metadata(path)
    _one_line_naming(info, str(path.parent / "music.tflite"), "music_detector.file")


def test_corrupt_detector_file(make_bundle):
    path = make_bundle("music")
    detector = path.parent / "music.tflite"
    data = detector.read_bytes()
    detector.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer") as info:
        TfliteClassifier.from_path(path)
    assert _one_line_naming(info, str(detector)).startswith(f"music detector {detector}: ")
    detector.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="cannot load it|not a TFLite") as info:
        TfliteClassifier.from_path(path)
    _one_line_naming(info, str(detector))


@pytest.mark.parametrize(
    "edit, message",
    TENSOR_MISMATCHES,
)
def test_detector_tensor_mismatch(make_bundle, edit, message):
    path = make_bundle("music", edit=edit)
    with pytest.raises(ModelError, match=message) as info:
        TfliteClassifier.from_path(path)
    assert _one_line_naming(info, str(path.parent / "music.tflite")).startswith("music detector ")


def test_pipeline_gives_each_window_its_music_probability(make_bundle):
    x = music_like(6.0, 44100, channels=2)
    pipe = Pipeline(TfliteClassifier.from_path(make_bundle("speech")), 44100)
    results = pipe.process(x)
    assert len(results) == 4
    for r in results:
        assert r.music_probability == pytest.approx(0.03, abs=0.01)
        assert r.state.status == "no_music" and r.state.genre is None
        assert r.state.music_probability == pytest.approx(0.03, abs=0.01)
    assert pipe.times.music_s > 0
    plain = Pipeline(TfliteClassifier.from_path(make_bundle(None, name="plain")), 44100)
    plain.process(x)
    assert plain.times.music_s == 0.0


def test_tonal_detector_hears_chords_as_music_and_noise_as_none(make_bundle):
    # The test detector the daemon tests use for music -> no music within one stream.
    pipe = Pipeline(TfliteClassifier.from_path(make_bundle("tonal")), 16000)
    noise = (0.1 * np.random.default_rng(0).standard_normal(16000 * 6)).astype(np.float32)
    music = [r.music_probability for r in pipe.process(music_like(6.0, 16000))]
    pipe.reset()
    talk = [r.music_probability for r in pipe.process(noise)]
    assert min(music) > 0.95 and max(talk) < 0.05
