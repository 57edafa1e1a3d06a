"""Runs a bundle's TFLite model with ai_edge_litert (never TensorFlow).

Training scores its exported int8 model through this very class, so the numbers in
a model's report are those of the code the device runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .bundle import ModelBundle, TensorSpec, load_metadata
from .errors import ModelError, one_line

_LOG = logging.getLogger(__name__)


class TfliteClassifier:
    """``predict(features)`` -> class probabilities in label order.

    ``features`` is one normalised window, (window_frames, n_mels) float32. The
    interpreter runs on ``num_threads`` threads (one by default: a Pi has other work).
    """

    def __init__(self, bundle: ModelBundle, num_threads: int = 1) -> None:
        # Imported here so that importing genred.dsp costs nothing until a model is loaded.
        from ai_edge_litert.interpreter import Interpreter

        self.bundle = bundle
        self.metadata = bundle.metadata
        path = bundle.tflite_path
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"model {path}: cannot read ({one_line(exc)})") from None
        if len(content) < 8 or content[4:8] != b"TFL3":
            raise ModelError(f"model {path}: not a TFLite flatbuffer (no TFL3 identifier); re-export or re-install it")
        try:
            with _native_stderr_silenced():
                self._interp = Interpreter(model_content=content, num_threads=num_threads)
                self._interp.allocate_tensors()
        except Exception as exc:  # the runtime raises several types for a damaged flatbuffer
            raise ModelError(f"model {path}: the TFLite runtime cannot load it ({one_line(exc)})") from None
        ins, outs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(ins) != 1 or len(outs) != 1:
            raise ModelError(f"model {path}: expected one input and one output tensor, found {len(ins)} and {len(outs)}")
        _check_tensor(path, "input", ins[0], self.metadata.input)
        _check_tensor(path, "output", outs[0], self.metadata.output)
        self._in_index = ins[0]["index"]
        self._out_index = outs[0]["index"]
        self._in_spec = self.metadata.input
        self._out_spec = self.metadata.output
        self._in_buf = np.zeros(self._in_spec.shape, dtype=np.dtype(self._in_spec.dtype))

    @classmethod
    def from_path(cls, path: str | Path, num_threads: int = 1) -> "TfliteClassifier":
        return cls(load_metadata(path), num_threads=num_threads)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.metadata.labels

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.activate(self.raw_output(features))

    def raw_output(self, features: np.ndarray) -> np.ndarray:
        """The model's output for one window, dequantised (logits or probabilities, as
        the metadata's ``output_activation`` says), before `activate`."""
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
        raw = self._interp.get_tensor(self._out_index)[0]
        out = self._out_spec
        return (raw.astype(np.float32) - out.zero_point) * out.scale if out.dtype == "int8" else raw.astype(np.float32)

    def activate(self, values: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """`raw_output` -> class probabilities, with this bundle's activation and its
        temperature, or ``temperature`` (training re-scores saved outputs with it)."""
        if self.metadata.output_activation == "logits":
            t = self.metadata.temperature if temperature is None else temperature
            # Shift first, then scale, in float64: any temperature > 0 the metadata
            # allows (1e-300, inf) gives finite probabilities, never inf - inf = NaN.
            z = np.exp((values - values.max()).astype(np.float64) / t)
            return (z / z.sum()).astype(np.float32)
        # An int8 softmax is coarse (steps of 1/256); renormalise so the sum is 1.
        values = np.maximum(values, 0.0)
        total = values.sum()
        return values / total if total > 0 else np.full_like(values, 1.0 / values.size)


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


def _check_tensor(path: Path, which: str, detail: dict, spec: TensorSpec) -> None:
    shape = tuple(int(d) for d in detail["shape"])
    dtype = np.dtype(detail["dtype"]).name
    if shape != spec.shape:
        raise ModelError(f"model {path}: {which} tensor shape {list(shape)} differs from its metadata {list(spec.shape)}")
    if dtype != spec.dtype:
        raise ModelError(f"model {path}: {which} tensor dtype {dtype} differs from its metadata {spec.dtype}")
    if spec.dtype == "int8":
        scale, zp = detail["quantization"]
        if not np.isclose(scale, spec.scale, rtol=1e-5, atol=0) or int(zp) != spec.zero_point:
            raise ModelError(
                f"model {path}: {which} quantisation (scale {scale:.6g}, zero point {zp}) differs from "
                f"its metadata (scale {spec.scale:.6g}, zero point {spec.zero_point})"
            )
