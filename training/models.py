"""Small Keras CNNs over one normalised log-mel window (window_frames, n_mels, 1).

Input values are dB relative to the window's level, about [-80, +30]; the model
scales them itself (Rescaling), so the int8 input tensor carries plain dB.

Layout: conv blocks (3x3 conv -> batch norm -> ReLU -> max-pool; frequency pooled
from the first block on), then the frequency axis is max-pooled away, then global
average (or, in `*_att`, an attention-weighted sum: softmax over time of a learnt
per-step score) + global max over time (`wide_ds_att`: depthwise-separable
blocks after the first), dropout, Dense logits (the device applies
softmax with the temperature calibrated on valid and valid_room, see `calibration`). Batch norm folds
into the convolutions at export, so the int8 graph is conv/pool/mean/max/fully-connected
(+ softmax and batch matmul for attention) only.
"""

from __future__ import annotations

from dataclasses import dataclass

ARCHITECTURES = {
    # name: (filters per block, pool (time, freq) after each block)
    "tiny": ((4, 8), ((2, 4), (2, 4))),
    "small": ((12, 24, 48, 64), ((2, 2), (2, 2), (2, 2), (2, 1))),
    "medium": ((16, 32, 64, 96), ((2, 2), (2, 2), (2, 2), (2, 1))),
    "large": ((24, 48, 96, 128), ((2, 2), (2, 2), (2, 2), (2, 1))),
    # `medium` with attention pooling over time instead of the mean (the max stays).
    "medium_att": ((16, 32, 64, 96), ((2, 2), (2, 2), (2, 2), (2, 1))),
    # `large` with the same attention pooling: the capacity lever of issue 12 (3 ms budget).
    "large_att": ((24, 48, 96, 128), ((2, 2), (2, 2), (2, 2), (2, 1))),
    # Depthwise-separable convolutions after the first block (a 3x3 per channel, then a
    # 1x1 across channels), spent on wider blocks: as fast as `medium_att` in int8 here
    # (a 32-filter first block was 1.4x slower: its activations, not its multiply-adds); attention pooling.
    "wide_ds_att": ((16, 64, 128, 192), ((2, 2), (2, 2), (2, 2), (2, 1))),
    # The music / not-music detector (training/detector.py): a quarter of `medium`'s
    # filters; "is this music" needs far less than "which genre".
    "detector": ((8, 16, 32, 48), ((2, 2), (2, 2), (2, 2), (2, 1))),
    # The seed report's CNN (docs/baselines.md): five blocks of 3x3 conv, batch norm,
    # ReLU, 2x2 max-pool, then flatten and Dense logits (no global pooling, no dropout).
    "report_cnn": ((8, 16, 32, 64, 128), ((2, 2),) * 5),
}

# Architectures that flatten the last block instead of the genred head (freq max + time pooling).
FLATTEN_HEAD = frozenset({"report_cnn"})
# Architectures that weigh time steps by a learnt softmax score instead of averaging them.
ATTENTION_HEAD = frozenset({"medium_att", "large_att", "wide_ds_att"})
# Architectures whose blocks after the first are depthwise-separable.
SEPARABLE = frozenset({"wide_ds_att"})


GENRE_OUTPUT = "genre_logits"  # the layer (and output) the device runs
TAG_OUTPUT = "tag_logits"  # the training-only output of `with_tag_head`


@dataclass(frozen=True)
class ModelSpec:
    name: str = "small"
    dropout: float = 0.3
    l2: float = 1e-4


def build_model(spec: ModelSpec, window_frames: int, n_mels: int, n_classes: int):
    import keras
    from keras import layers

    if spec.name not in ARCHITECTURES:
        raise ValueError(f"unknown model {spec.name!r}; choose one of {', '.join(ARCHITECTURES)}")
    filters, pools = ARCHITECTURES[spec.name]
    reg = keras.regularizers.l2(spec.l2) if spec.l2 > 0 else None
    inp = keras.Input(shape=(window_frames, n_mels, 1), name="logmel_db")
    # Normalised windows are ~[-80, +30] dB with the bulk in [-40, 0].
    x = layers.Rescaling(1.0 / 20.0, offset=1.0, name="scale")(inp)
    for i, (f, pool) in enumerate(zip(filters, pools, strict=True)):
        if spec.name in SEPARABLE and i > 0:
            x = layers.SeparableConv2D(f, 3, padding="same", use_bias=False, depthwise_regularizer=reg,
                                       pointwise_regularizer=reg, name=f"sepconv{i}")(x)
        else:
            x = layers.Conv2D(f, 3, padding="same", use_bias=False, kernel_regularizer=reg, name=f"conv{i}")(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D(pool_size=pool, name=f"pool{i}")(x)
    if spec.name in FLATTEN_HEAD:
        x = layers.Flatten(name="flatten")(x)
        out = layers.Dense(n_classes, kernel_regularizer=reg, name=GENRE_OUTPUT)(x)
        return keras.Model(inp, out, name=f"genred_{spec.name}")
    # (time, freq, ch): max over what is left of frequency, then pool over time.
    freq_left = x.shape[2]
    x = layers.MaxPooling2D(pool_size=(1, freq_left), name="freq_max")(x)
    x = layers.Reshape((x.shape[1], x.shape[3]), name="to_time")(x)
    if spec.name in ATTENTION_HEAD:
        # softmax over time of a per-step score, then the weighted sum of the steps
        weights = layers.Softmax(axis=1, name="time_attention")(layers.Dense(1, name="time_score")(x))
        summary = layers.Flatten(name="attended")(layers.Dot(axes=1, name="time_weighted_sum")([weights, x]))
    else:
        summary = layers.GlobalAveragePooling1D(name="time_mean")(x)
    x = layers.Concatenate(name="time_pool")([summary, layers.GlobalMaxPooling1D(name="time_max")(x)])
    x = layers.Dropout(spec.dropout, name="dropout")(x)
    out = layers.Dense(n_classes, kernel_regularizer=reg, name=GENRE_OUTPUT)(x)
    return keras.Model(inp, out, name=f"genred_{spec.name}")


def with_tag_head(model, n_tags: int):
    """``model`` and a second output, ``n_tags`` logits from the same features its genre
    logits read (after dropout): a training model whose layers ``model`` shares, so what
    it learns from the teacher's tags is in ``model``, which exports without the tags."""
    import keras
    from keras import layers

    features = model.get_layer(GENRE_OUTPUT).input
    tags = layers.Dense(n_tags, name=TAG_OUTPUT)(features)
    return keras.Model(model.input, {GENRE_OUTPUT: model.output, TAG_OUTPUT: tags}, name=f"{model.name}_tags")
