"""Model bundles: the metadata schema, and the checks of a .tflite against its .json."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from genred.dsp.bundle import ModelMetadata, load_metadata
from genred.dsp.classifier import TfliteClassifier
from genred.dsp.errors import ModelError
from detectors import TENSOR_MISMATCHES, shipped_json_for


@pytest.fixture
def bundle_copy(model_path, tmp_path):
    """A writable copy of the shipped bundle."""
    shutil.copy(load_metadata(model_path).tflite_path, tmp_path / "m.tflite")
    shipped_json_for(model_path, tmp_path / "m.tflite")
    return tmp_path / "m.tflite"


def _edit(path, change):
    meta_path = path.with_suffix(".json")
    data = json.loads(meta_path.read_text())
    change(data)
    meta_path.write_text(json.dumps(data))


def test_shipped_model_loads_and_predicts(classifier):
    meta = classifier.metadata
    assert len(meta.labels) == 10 and meta.input.dtype == "int8"
    probs = classifier.predict(np.full(meta.input.shape[1:3], -20.0, dtype=np.float32))
    assert probs.shape == (10,) and probs.sum() == pytest.approx(1.0, abs=1e-5) and (probs >= 0).all()


def test_metadata_round_trip(classifier):
    meta = classifier.metadata
    assert ModelMetadata.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["front_end"].update(n_mels=64), r"input.shape .* does not fit the front end"),
        (lambda d: d["front_end"].update(log="ln"), r"front_end: log must be 'db'"),
        (lambda d: d["front_end"].update(window="hamming"), r"front_end: window must be 'hann'"),
        (lambda d: d["front_end"].update(sample_rate_hz=22050, fmax_hz=8000.0) or d["input"].update(shape=[1, 187, 96, 1]), None),
        (lambda d: d["front_end"].update(colour="blue"), r"front_end: unknown key\(s\) colour"),
        (lambda d: d.update(labels=d["labels"][:9]), r"output.shape .* does not fit 9 labels"),
        (lambda d: d.update(schema="genred-model/99"), r"schema is 'genred-model/99'"),
        (lambda d: d.pop("window"), r"missing key\(s\) window"),
        (lambda d: d["window"].update(window_frames=100), r"input.shape .* does not fit the front end"),
    ],
)
def test_metadata_mismatch_is_refused_with_its_reason(bundle_copy, change, message):
    _edit(bundle_copy, change)
    if message is None:
        # A different but supported front end loads: the model was made for it.
        load_metadata(bundle_copy)
        return
    with pytest.raises(ModelError, match=message) as info:
        load_metadata(bundle_copy)
    assert str(bundle_copy.with_suffix(".json")) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "change,message",
    TENSOR_MISMATCHES,
)
def test_tensor_mismatch_is_refused(bundle_copy, change, message):
    _edit(bundle_copy, change)
    with pytest.raises(ModelError, match=message):
        TfliteClassifier.from_path(bundle_copy)


def test_corrupt_and_missing_files(bundle_copy, tmp_path):
    data = bundle_copy.read_bytes()
    bundle_copy.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelError, match="cannot load it|not a TFLite"):
        TfliteClassifier.from_path(bundle_copy)
    bundle_copy.write_bytes(b"not a model at all")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        TfliteClassifier.from_path(bundle_copy)
    bundle_copy.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="not readable JSON"):
        load_metadata(bundle_copy)
    bundle_copy.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="metadata m.json is missing"):
        load_metadata(bundle_copy)
    with pytest.raises(ModelError, match="no such file"):
        load_metadata(tmp_path / "nope.tflite")
