"""MSD_musicnn (Pons & Serra 2019, ISC licence) ported to Keras from its TF1 checkpoint.

The `musicnn` package on PyPI ships the checkpoints; its code is TF1 and pins an old
numpy, so it is never imported: only the checkpoint files are read, with
``tf.compat.v1.train.NewCheckpointReader("<package>/MSD_musicnn/")``, into an
equivalent Keras graph built here (`build_musicnn`). `reference_logits` runs the
original graph (from the checkpoint's ``.meta``) through ``tf.compat.v1`` so the
port can be checked against it.

Input: (batch, 187, 96) frames of ``log10(10000 * mel_power + 1)`` (librosa's mel
power at 16 kHz, n_fft 512, hop 256, 96 Slaney bands: genred's own front end).
Outputs: the 50 MSD tag logits, the 200-unit penultimate embedding, and the 1506
pooled mid-level features under it (max and mean over time of the front end and
mid-end's 753 channels, batch-normalised): the layer musicnn's authors use for
transfer learning, and the one that makes the best genre head here (docs/models.md).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

MSD_TAGS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
    "happy",
)
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default


def checkpoint_dir(name: str = "MSD_musicnn") -> Path:
    """The checkpoint folder inside the installed `musicnn` package (never imported)."""
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the musicnn checkpoints are not installed: pip install --no-deps musicnn==0.1.0 (only its files are used)"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / name
    if not (folder / ".index").is_file():
        raise FileNotFoundError(f"{folder}: no checkpoint here")
    return folder


def read_weights(folder: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    # The prefix is the folder itself (files ".index", ".data-..."); tf.train.load_checkpoint
    # trips on the stale `checkpoint` file, the v1 reader does not.
    reader = tf.compat.v1.train.NewCheckpointReader(str(folder) + "/")
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "Adam" not in k and "power" not in k}


def log_compress(mel_db: np.ndarray) -> np.ndarray:
    """genred's log-mel dB frames -> musicnn's ``log10(10000 * mel + 1)``."""
    return np.log10(10000.0 * np.power(10.0, np.asarray(mel_db, dtype=np.float64) / 10.0) + 1.0).astype(np.float32)


def build_musicnn(weights: dict[str, np.ndarray], n_frames: int = 187, n_mels: int = 96):
    """The MSD_musicnn inference graph in Keras with the checkpoint's weights.

    Returns a keras.Model: input (batch, n_frames, n_mels) -> [logits (batch, 50),
    penultimate (batch, 200), pooled (batch, 1506)]."""
    import keras
    from keras import layers, ops

    def bn(name: str) -> layers.BatchNormalization:
        layer = layers.BatchNormalization(epsilon=BN_EPSILON, name=name.replace("/", "_"))
        return layer

    bn_layers: dict[str, layers.BatchNormalization] = {}

    def apply_bn(x, name):
        bn_layers[name] = bn_layers.get(name) or bn(name)
        return bn_layers[name](x)

    conv_layers: dict[str, layers.Conv2D] = {}

    def conv(x, name, kernel_size, padding):
        k = weights[f"{name}/kernel"]
        layer = layers.Conv2D(k.shape[-1], kernel_size, padding=padding, activation="relu", name=name)
        conv_layers[name] = layer
        return layer(x)

    def pool_freq(x):  # max over the frequency axis, then drop it: (b, t, f, c) -> (b, t, c)
        return ops.max(x, axis=2)

    inp = keras.Input((n_frames, n_mels), name="logc_mel")
    x = ops.expand_dims(inp, 3)
    x = apply_bn(x, "batch_normalization")
    pad7 = ops.pad(x, [[0, 0], [3, 3], [0, 0], [0, 0]])
    f74 = pool_freq(apply_bn(conv(pad7, "conv2d", (7, int(0.4 * n_mels)), "valid"), "batch_normalization_1"))
    f77 = pool_freq(apply_bn(conv(pad7, "conv2d_1", (7, int(0.7 * n_mels)), "valid"), "batch_normalization_2"))
    s1 = pool_freq(apply_bn(conv(x, "conv2d_2", (128, 1), "same"), "batch_normalization_3"))
    s2 = pool_freq(apply_bn(conv(x, "conv2d_3", (64, 1), "same"), "batch_normalization_4"))
    s3 = pool_freq(apply_bn(conv(x, "conv2d_4", (32, 1), "same"), "batch_normalization_5"))
    front = ops.concatenate([f74, f77, s1, s2, s3], axis=2)  # (b, t, 561)

    def mid(h, name, bn_name):  # (b, t, c) -> 7-frame conv over all channels -> (b, t, 64)
        h4 = ops.pad(ops.expand_dims(h, 3), [[0, 0], [3, 3], [0, 0], [0, 0]])
        y = apply_bn(conv(h4, name, (7, h.shape[-1]), "valid"), bn_name)  # (b, t, 1, 64)
        return ops.squeeze(y, 2)

    m1 = mid(front, "conv2d_5", "batch_normalization_6")
    m2 = mid(m1, "conv2d_6", "batch_normalization_7") + m1
    m3 = mid(m2, "conv2d_7", "batch_normalization_8") + m2
    feats = ops.concatenate([front, m1, m2, m3], axis=2)  # (b, t, 753)
    pooled = ops.stack([ops.max(feats, axis=1), ops.mean(feats, axis=1)], axis=2)  # (b, 753, 2)
    flat = ops.reshape(pooled, (-1, pooled.shape[1] * 2))  # TF1's flatten: [max, mean] per feature
    flat = apply_bn(flat, "batch_normalization_9")
    dense = layers.Dense(200, activation="relu", name="dense")
    pen = apply_bn(dense(flat), "batch_normalization_10")
    out = layers.Dense(50, name="dense_1")
    logits = out(pen)
    model = keras.Model(inp, [logits, pen, flat], name="msd_musicnn")

    for name, layer in conv_layers.items():
        layer.set_weights([weights[f"{name}/kernel"], weights[f"{name}/bias"]])
    for name, layer in bn_layers.items():
        layer.set_weights([weights[f"{name}/{p}"] for p in ("gamma", "beta", "moving_mean", "moving_variance")])
    dense.set_weights([weights["dense/kernel"], weights["dense/bias"]])
    out.set_weights([weights["dense_1/kernel"], weights["dense_1/bias"]])
    return model


def tags_from_pooled(flat: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """MSD_musicnn's 50 tag logits from its pooled features (the model's last layers in
    numpy): what it learnt about blues, country, Hip-Hop... on the Million Song Dataset,
    for heads fitted on cached pooled features without running the model again."""

    def bn(x: np.ndarray, name: str) -> np.ndarray:
        g, b, m, v = (weights[f"{name}/{p}"] for p in ("gamma", "beta", "moving_mean", "moving_variance"))
        return (x - m) / np.sqrt(v + BN_EPSILON) * g + b

    hidden = np.maximum(np.asarray(flat, np.float64) @ weights["dense/kernel"] + weights["dense/bias"], 0.0)
    return (bn(hidden, "batch_normalization_10") @ weights["dense_1/kernel"] + weights["dense_1/bias"]).astype(np.float32)


def load_musicnn(name: str = "MSD_musicnn"):
    return build_musicnn(read_weights(checkpoint_dir(name)))


def reference_logits(x: np.ndarray, name: str = "MSD_musicnn") -> np.ndarray:
    """The original TF1 graph (from the checkpoint's .meta) run through tf.compat.v1.

    The training part of the graph (gradients, Adam) is dropped: its recorded shapes
    do not import in TF 2."""
    import tensorflow as tf
    from tensorflow.core.framework import graph_pb2
    from tensorflow.core.protobuf import meta_graph_pb2

    folder = checkpoint_dir(name)
    mg = meta_graph_pb2.MetaGraphDef()
    mg.ParseFromString((folder / ".meta").read_bytes())
    gd = graph_pb2.GraphDef()
    gd.versions.CopyFrom(mg.graph_def.versions)
    for node in mg.graph_def.node:
        if node.name.startswith(("gradients/", "Adam/")) or node.name == "Adam":
            continue
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
        gd.node.add().CopyFrom(node)
    graph = tf.Graph()
    with graph.as_default():
        tf.import_graph_def(gd, name="")
        with tf.compat.v1.Session(graph=graph) as sess:
            sess.run(mg.saver_def.restore_op_name, {mg.saver_def.filename_tensor_name: str(folder) + "/"})
            return sess.run("model/dense_1/BiasAdd:0", {"model/Placeholder:0": x, "model/Placeholder_2:0": False})
