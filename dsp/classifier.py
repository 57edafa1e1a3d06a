"""Runs a bundle's TFLite models with ai_edge_litert (never TensorFlow): the genre
model, and the music detector where the bundle has one, through one shared piece.

Training scores its exported int8 model through this very class, so the numbers in
a model's report are those of the code the device runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .bundle import ModelBundle, ModelMetadata, TensorSpec, load_metadata
from .errors import ModelError, one_line

_LOG = logging.getLogger(__name__)


class Detector(Protocol):
    """What is called on a music detector: P(music) of one normalised window."""

    def predict(self, features: np.ndarray) -> float: ...


class Classifier(Protocol):
    """What the pipeline and the daemon call on a model (`TfliteClassifier` is one):
    ``predict(features)`` -> probabilities in label order, for one normalised window."""

    @property
    def metadata(self) -> ModelMetadata: ...

    @property
    def labels(self) -> tuple[str, ...]: ...

    @property
    def music_detector(self) -> Detector | None: ...

    def predict(self, features: np.ndarray) -> np.ndarray: ...


class TfliteModel:
    """One ``.tflite`` file run on one normalised window: what the genre model and the
    music detector share. Loading, the tensor checks against the metadata, input
    quantisation and output dequantisation + softmax live here, once; every problem
    is a one-line ModelError that starts with ``what`` and the file.

    ``run(features)`` -> probabilities in output order; ``features`` is one window,
    (window_frames, n_mels) float32. The interpreter runs on ``num_threads`` threads.
    """

    def __init__(
        self,
        path: Path,
        input_spec: TensorSpec,
        output_spec: TensorSpec,
        output_activation: str,
        temperature: float,
        *,
        what: str = "model",
        num_threads: int = 1,
    ) -> None:
        # Imported here so that importing genred.dsp costs nothing until a model is loaded.
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        where = f"{what} {path}"
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"{where}: cannot read ({one_line(exc)})") from None
        if len(content) < 8 or content[4:8] != b"TFL3":
            raise ModelError(f"{where}: not a TFLite flatbuffer (no TFL3 identifier); re-export or re-install it")
        try:
            with _native_stderr_silenced():
                self._interp = Interpreter(model_content=content, num_threads=num_threads)
                self._interp.allocate_tensors()
        except Exception as exc:  # the runtime raises several types for a damaged flatbuffer
            raise ModelError(f"{where}: the TFLite runtime cannot load it ({one_line(exc)})") from None
        ins, outs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise ModelError(f"{where}: expected one input and one output tensor, found {len(ins)} and {len(outs)}")
        _check_tensor(where, "input", ins[0], input_spec)
        _check_tensor(where, "output", outs[0], output_spec)
        self._in_index = ins[0]["index"]
        self._out_index = outs[0]["index"]
        self._in_spec = input_spec
        self._out_spec = output_spec
        self._activation = output_activation
        self._temperature = temperature
        self._in_buf = np.zeros(input_spec.shape, dtype=np.dtype(input_spec.dtype))

    def run(self, features: np.ndarray) -> np.ndarray:
        return self.activate(self.raw_output(features))

    def raw_output(self, features: np.ndarray) -> np.ndarray:
        """The model's output for one window, dequantised (logits or probabilities, as the
        activation says), before `activate`."""
        spec = self._in_spec
        if features.shape != spec.shape[1:3]:
            raise ValueError(f"features must have shape {spec.shape[1:3]}, got {features.shape}")
        if spec.dtype == "int8":
            q = np.rint(features / np.float32(spec.scale)) + spec.zero_point
            self._in_buf[0, :, :, 0] = np.clip(q, -128, 127)
        else:
            self._in_buf[0, :, :, 0] = features
        self._interp.set_tensor(self._in_index, self._in_buf)
        self._interp.invoke()
        raw: np.ndarray = self._interp.get_tensor(self._out_index)[0]
        out = self._out_spec
        return (raw.astype(np.float32) - out.zero_point) * out.scale if out.dtype == "int8" else raw.astype(np.float32)

    def activate(self, values: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """`raw_output` -> probabilities, with the model's activation and its temperature, or
        ``temperature`` (training re-scores saved outputs with it)."""
        if self._activation == "logits":
            t = self._temperature if temperature is None else temperature
            # Shift first, then scale, in float64: any temperature > 0 the metadata
            # allows (1e-300, inf) gives finite probabilities, never inf - inf = NaN.
            z = np.exp((values - values.max()).astype(np.float64) / t)
            probs: np.ndarray = (z / z.sum()).astype(np.float32)
            return probs
        # An int8 softmax is coarse (steps of 1/256); renormalise so the sum is 1.
        values = np.maximum(values, 0.0)
        total = values.sum()
        return values / total if total > 0 else np.full_like(values, 1.0 / values.size)


class MusicDetector:
    """``predict(features)`` -> P(music) of one normalised window (the genre model's input)."""

    def __init__(self, bundle: ModelBundle, num_threads: int = 1) -> None:
        spec = bundle.metadata.music_detector
        path = bundle.music_detector_path
        if spec is None or path is None:
            raise ValueError(f"model {bundle.tflite_path} declares no music detector")
        self.spec = spec
        self.path = path
        self._model = TfliteModel(
            path, spec.input, spec.output, spec.output_activation, spec.temperature,
            what="music detector", num_threads=num_threads,
        )
        self._music_index = spec.labels.index("music")

    def predict(self, features: np.ndarray) -> float:
        return float(self._model.run(features)[self._music_index])


class TfliteClassifier:
    """``predict(features)`` -> class probabilities in label order.

    ``features`` is one normalised window, (window_frames, n_mels) float32. The
    interpreter runs on ``num_threads`` threads (one by default: a Pi has other work).
    ``music_detector`` is the bundle's detector, loaded with it, or None when the
    bundle declares none.
    """

    def __init__(self, bundle: ModelBundle, num_threads: int = 1) -> None:
        self.bundle = bundle
        self.metadata = meta = bundle.metadata
        self._model = TfliteModel(
            bundle.tflite_path, meta.input, meta.output, meta.output_activation, meta.temperature,
            num_threads=num_threads,
        )
        self.music_detector = MusicDetector(bundle, num_threads) if meta.music_detector is not None else None

    @classmethod
    def from_path(cls, path: str | Path, num_threads: int = 1) -> "TfliteClassifier":
        return cls(load_metadata(path), num_threads=num_threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.run(features)

    def raw_output(self, features: np.ndarray) -> np.ndarray:
        return self._model.raw_output(features)

    def activate(self, values: np.ndarray, temperature: float | None = None) -> np.ndarray:
        return self._model.activate(values, temperature)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """The runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate" straight to
    fd 2 on every load; users read that as a problem. Load errors still reach them as
    our own one-line ModelError. Kept when debug logging is on."""
    if _LOG.isEnabledFor(logging.DEBUG):
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 (some service managers): nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _check_tensor(where: str, which: str, detail: dict[str, Any], spec: TensorSpec) -> None:
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"]).name
    if shape != spec.shape:
        raise ModelError(f"{where}: {which} tensor shape {list(shape)} differs from its metadata {list(spec.shape)}")
    if dtype != spec.dtype:
        raise ModelError(f"{where}: {which} tensor dtype {dtype} differs from its metadata {spec.dtype}")
    if spec.dtype == "int8":
        scale, zp = detail["quantization"]
        if not np.isclose(scale, spec.scale, rtol=1e-5, atol=0) or int(zp) != spec.zero_point:
            raise ModelError(
                f"{where}: {which} quantisation (scale {scale:.6g}, zero point {zp}) differs from "
                f"its metadata (scale {spec.scale:.6g}, zero point {spec.zero_point})"
            )
