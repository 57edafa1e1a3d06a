"""Tiny music / not-music detectors for the tests, built with TensorFlow like the real one.

Average pooling, then a dense layer. With ``p_music`` the bias carries the answer:
about that P(music) for any window, so a test decides what the detector hears.
Without it the detector is "tonal": it hears music in a window whose mean normalised
log-mel is low (chords: about -26 dB, tests/signals.music_like) and no music in a
flat spectrum (white noise: about -1 dB), switching at -13 dB.
The entry returned is what the lead's training writes into model.json.

`make_bundle_factory` (the ``make_bundle`` fixture) puts one beside a copy of the shipped
genre model; `shipped_json_for` gives a copied or broken model the shipped metadata.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np

WINDOW_SHAPE = (187, 96, 1)  # the shipped front end's window


def build_detector(path: Path, p_music: float | None, dtype: str = "int8") -> dict[str, Any]:
    """Write a TFLite detector to ``path``; return its ``music_detector`` entry (file = its name)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from genred.training.export import convert_int8, tensor_specs

    tf.keras.utils.set_random_seed(0)
    inputs = tf.keras.Input(WINDOW_SHAPE)
    x = tf.keras.layers.GlobalAveragePooling2D()(inputs)
    dense = tf.keras.layers.Dense(2)
    model = tf.keras.Model(inputs, dense(x))
    if p_music is None:  # logit(music) - logit(no music) = -0.5 * (mean + 13)
        dense.set_weights([np.array([[0.25, -0.25]], np.float32), np.array([3.25, -3.25], np.float32)])
    else:
        half = math.log(p_music / (1 - p_music)) / 2
        # A tiny kernel, not zero: an all-zero weight tensor quantises to a degenerate scale.
        dense.set_weights([np.full((1, 2), 1e-4, np.float32), np.array([-half, half], np.float32)])
    if dtype == "int8":
        rng = np.random.default_rng(0)
        # Calibration windows whose means span the music and the noise ones.
        rep = rng.normal(0.0, 5.0, (8, *WINDOW_SHAPE)) + np.linspace(-40.0, 5.0, 8)[:, None, None, None]
        content = convert_int8(model, rep.astype(np.float32))
    else:
        content = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path.write_bytes(content)
    spec_in, spec_out = tensor_specs(content)
    return {
        "file": path.name,
        "labels": ["no_music", "music"],
        "input": spec_in.to_dict(),
        "output": spec_out.to_dict(),
        "output_activation": "logits",
        "temperature": 1.0,
        "metrics": {},
    }


def make_bundle_factory(model_path: Path, detectors: dict[str, tuple[Path, dict]], base: Path) -> Callable[..., Path]:
    """``make(kind, edit=None, name="b")``: a copy of the shipped genre bundle in ``base/name``
    with the detector ``kind`` (None: none) beside it; ``edit(entry)`` may change the entry."""

    def make(kind: str | None, edit: Callable[[dict], Any] | None = None, name: str = "b") -> Path:
        folder = base / name
        folder.mkdir(parents=True, exist_ok=False)
        shutil.copy(model_path, folder / "model.tflite")
        meta = json.loads(model_path.with_suffix(".json").read_text())
        meta.pop("music_detector", None)  # the shipped one, if any: this bundle has its own or none
        # ... and the shipped gate settings go with it: these bundles use SmootherParams' defaults
        meta["smoothing"] = {k: v for k, v in meta.get("smoothing", {}).items() if not k.startswith(("music_", "no_music_"))}
        if kind is not None:
            tflite, entry = detectors[kind]
            entry = json.loads(json.dumps(entry))
            shutil.copy(tflite, folder / "music.tflite")
            entry["file"] = "music.tflite"
            if edit is not None:
                edit(entry)
            meta["music_detector"] = entry
        (folder / "model.json").write_text(json.dumps(meta, indent=2))
        return folder / "model.tflite"

    return make


def shipped_json_for(model_path: Path, dest_tflite: Path) -> None:
    """Put the shipped model.json beside ``dest_tflite`` (a copy or a broken model under
    test), with the shipped music detector beside it too, so a test of the genre model's
    checks meets the genre model's error, not a missing detector file."""
    meta = json.loads(model_path.with_suffix(".json").read_text())
    detector = (meta.get("music_detector") or {}).get("file")
    if detector:
        shutil.copy(model_path.parent / detector, dest_tflite.parent / detector)
    dest_tflite.with_suffix(".json").write_text(json.dumps(meta))


# One table for both models' tensors (genre and music detector): an edit of a tensor's
# declaration in model.json, and the refusal it must bring.
TENSOR_MISMATCHES = [
    (lambda t: t["input"].update(scale=t["input"]["scale"] * 2), r"input quantisation .* differs"),
    (lambda t: t["output"].update(zero_point=t["output"]["zero_point"] + 1), r"output quantisation .* differs"),
    (lambda t: t["input"].update(dtype="float32", scale=0.0, zero_point=0), r"input tensor dtype int8 differs"),
]
