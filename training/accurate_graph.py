"""The accurate bundle's graph: MSD_musicnn and its genre head as one TFLite model that
takes the default model's input.

    level-normalised dB window (1, 187, 96, 1)
      -> + offset_db (the teacher's fixed level), log10(10000 * 10^(x / 10) + 1)
      -> MSD_musicnn up to its 1506 pooled features (and its 50 tag logits, if the head reads them)
      -> the head: standardise + linear, folded into one Dense layer -> 10 logits

`Teacher.outputs` does the first step in numpy before the Keras model, and `Head.probs`
the last after it: the graph computes the same function (a test checks it on real
windows), so the daemon's front end, windows and smoothing serve both bundles.
"""

from __future__ import annotations

import math

import numpy as np

QUANTISATIONS = ("float32", "float16", "dynamic", "int8")
QUANTISATION_TEXT = {
    "float32": "none (float32 weights and activations)",
    "float16": "float16 weights, float32 activations",
    "dynamic": "dynamic range: int8 weights (per channel), float32 activations, float32 input and output",
    "int8": "full-integer int8 (weights and activations), float32 input and output",
}
_NO_DATA_LOGIT = -30.0  # a label the head never saw: exp(-30) ~ 1e-13


def folded_head(head) -> tuple[np.ndarray, np.ndarray]:
    """``(emb - mean) / scale @ coef.T + intercept`` as one ``emb @ w + b``."""
    w = (head.coef / head.scale[None, :]).T
    b = head.intercept - (head.mean / head.scale) @ head.coef.T
    return w.astype(np.float32), np.where(np.isfinite(b), b, _NO_DATA_LOGIT).astype(np.float32)


def log_compress_layer(x, offset_db: float):
    """Keras ops of `musicnn.log_compress(x + offset_db)`, as ``ln(1 + e^u) / ln 10``
    with ``u = (x + offset_db) ln10 / 10 + ln 10^4`` (the same function; no 10^x
    intermediate that could overflow or underflow float32 over a window's range)."""
    from keras import ops

    ln10 = math.log(10.0)
    u = x * (ln10 / 10.0) + (offset_db * ln10 / 10.0 + 4.0 * ln10)
    return ops.log(1.0 + ops.exp(u)) / ln10


def device_model(musicnn, head, offset_db: float, n_frames: int, n_mels: int, n_labels: int, tags: bool = False):
    """Keras model: (batch, n_frames, n_mels, 1) normalised dB -> (batch, n_labels) logits.
    ``tags``: the head reads the pooled features and then the 50 tag logits."""
    import keras
    from keras import layers, ops

    inp = keras.Input((n_frames, n_mels, 1), name="window_db")
    z = log_compress_layer(ops.squeeze(inp, 3), offset_db)
    tag_logits, _, pooled = musicnn(z)
    dense = layers.Dense(n_labels, name="genre_head")
    out = dense(ops.concatenate([pooled, tag_logits], axis=1) if tags else pooled)
    w, b = folded_head(head)
    dense.set_weights([w, b])
    return keras.Model(inp, out, name="msd_musicnn_genre")


def convert(model, quantisation: str, representative: np.ndarray | None = None) -> bytes:
    """Keras model -> TFLite bytes with float32 input and output tensors.

    ``representative``: (n, frames, mels, 1) windows, needed for ``int8`` only."""
    import tensorflow as tf

    if quantisation not in QUANTISATIONS:
        raise ValueError(f"quantisation must be one of {', '.join(QUANTISATIONS)}, not {quantisation!r}")
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantisation == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantisation == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantisation == "int8":
        if representative is None or not len(representative):
            raise ValueError("int8 needs representative windows")
        rep = np.asarray(representative, dtype=np.float32)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
    return converter.convert()
