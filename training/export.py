"""Full-integer int8 TFLite export, and reading the tensors' quantisation back."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from genred.dsp.bundle import TensorSpec


def convert_int8(model, representative: np.ndarray) -> bytes:
    """Keras model -> int8 TFLite with int8 input and output.

    ``representative``: (n, frames, mels, 1) float32 normalised windows (calibration)."""
    import tensorflow as tf

    rep = np.asarray(representative, dtype=np.float32)

    def gen():
        for i in range(rep.shape[0]):
            yield [rep[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    # The converter writes a SavedModel under TMPDIR; keep its chatter out of our logs.
    return converter.convert()


def tensor_specs(tflite: bytes) -> tuple[TensorSpec, TensorSpec]:
    """(input, output) TensorSpec read from the converted model with ai_edge_litert."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    interp.allocate_tensors()
    ins, outs = interp.get_input_details(), interp.get_output_details()
    if len(ins) != 1 or len(outs) != 1:
        raise RuntimeError(f"converted model has {len(ins)} inputs and {len(outs)} outputs; expected one each")

    def spec(detail) -> TensorSpec:
        dtype = np.dtype(detail["dtype"]).name
        scale, zp = detail["quantization"]
        if dtype == "int8":
            return TensorSpec(tuple(int(d) for d in detail["shape"]), "int8", float(scale), int(zp))
        return TensorSpec(tuple(int(d) for d in detail["shape"]), dtype, 0.0, 0)

    return spec(ins[0]), spec(outs[0])


def op_names(tflite: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=tflite)
    try:
        return sorted({d["op_name"] for d in interp._get_ops_details()})
    except Exception:  # private API; only for the report
        return []


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a shipped model is world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
