"""MSD_musicnn + genre head rebuilt for full-integer int8: every tensor arrives in one range.

int8 gives each activation tensor one scale. MusiCNN as trained breaks that three ways:
its batch norms follow the ReLUs (TFLite makes them MUL and ADD with per-tensor int8
constants, and their factors span 1e-11..120), its concatenations join channels of very
different ranges, and the head divides each pooled feature by its spread (up to 1e6 for
near-constant ones), so one rounding step of a shared scale becomes many standard
deviations: the straight conversion names one genre for everything (docs/models.md).

The same function, rearranged (exact in float, but for the log compression):
- each conv's ReLU output is scaled per channel to [0, 1] (positive factors pass
  through a ReLU; the kernel and bias carry them, quantised per channel);
- each batch norm is a 1x1 depthwise convolution (per-channel weights and int32 bias),
  which also scales its channels to one range for the layer that reads them (the next
  conv's kernel undoes it) and, in a second copy for the pooling, standardises them;
- the pooled features are thus already standardised, and batch norm 9, the head's
  standardisation and its linear layer fold into one Dense layer with weights of the
  head's own size;
- ``log10(10000 * 10^((x + offset) / 10) + 1)`` is a sum of ReLU ramps (two 1x1
  convolutions) fitted by least squares: no int8 tensor holds 10^x.

`channel_stats` measures the ranges on float windows; `int8_ready_model` builds the graph.
"""

from __future__ import annotations

import math

import numpy as np

from .musicnn import BN_EPSILON, log_compress

FRONT = (("conv2d", "batch_normalization_1", (7, 38), "pad7"), ("conv2d_1", "batch_normalization_2", (7, 67), "pad7"),
         ("conv2d_2", "batch_normalization_3", (128, 1), "same"), ("conv2d_3", "batch_normalization_4", (64, 1), "same"),
         ("conv2d_4", "batch_normalization_5", (32, 1), "same"))
MID = (("conv2d_5", "batch_normalization_6"), ("conv2d_6", "batch_normalization_7"), ("conv2d_7", "batch_normalization_8"))
_TINY = 1e-6
_MIN_FACTOR = 1e-5
_REL_FLOOR = 1e-3


def bn_affine(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    """A frozen batch norm as ``g * x + b``."""
    g = weights[f"{name}/gamma"] / np.sqrt(weights[f"{name}/moving_variance"] + BN_EPSILON)
    return g.astype(np.float64), (weights[f"{name}/beta"] - g * weights[f"{name}/moving_mean"]).astype(np.float64)


class _Moments:
    def __init__(self) -> None:
        self.n, self.s, self.s2, self.amax = 0, 0.0, 0.0, 0.0

    def add(self, a: np.ndarray) -> None:  # a: (..., C)
        a = a.reshape(-1, a.shape[-1]).astype(np.float64)
        self.n += len(a)
        self.s = self.s + a.sum(0)
        self.s2 = self.s2 + (a * a).sum(0)
        self.amax = np.maximum(self.amax, np.abs(a).max(0))

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        m = self.s / self.n
        return m, np.sqrt(np.maximum(self.s2 / self.n - m * m, 0.0)) + _TINY


def channel_stats(musicnn, windows_db: np.ndarray, offset_db: float, batch: int = 16) -> dict[str, np.ndarray]:
    """Per-channel ranges of the float graph on normalised windows (n, frames, mels)."""
    import keras

    names = [c for c, _, _, _ in FRONT] + [c for c, _ in MID] + [b for _, b, _, _ in FRONT] + [b for _, b in MID]
    probe = keras.Model(musicnn.input, [musicnn.get_layer(n).output for n in names])
    acc: dict[str, _Moments] = {}

    def add(key: str, a: np.ndarray) -> None:
        acc.setdefault(key, _Moments()).add(a)

    for i in range(0, len(windows_db), batch):
        outs = dict(zip(names, (np.asarray(o) for o in probe(log_compress(windows_db[i : i + batch] + offset_db))), strict=True))
        for conv, bn, _, _ in FRONT:
            add(f"{conv}/relu", outs[conv])
            add(f"{bn}/pool", outs[bn].max(axis=2))  # max over frequency: (b, t, C)
        m = None
        for conv, bn in MID:
            add(f"{conv}/relu", outs[conv])
            y = outs[bn][:, :, 0, :]
            m = y if m is None else m + y
            add(f"{bn}/m", m)
        x_max = float(np.max(windows_db[i : i + batch]))
        acc.setdefault("input", _Moments()).add(np.array([[x_max]]))
    stats: dict[str, np.ndarray] = {}
    for key, mo in acc.items():
        stats[f"{key}/max"] = mo.amax
        stats[f"{key}/mean"], stats[f"{key}/std"] = mo.mean_std()
    return stats


def ramp_fit(offset_db: float, lo_db: float, hi_db: float, knots: int = 24) -> tuple[np.ndarray, np.ndarray, float]:
    """``log_compress(x + offset)`` on [lo, hi] dB as ``c + sum a_k relu(x - t_k)``
    (least squares on a 0.05 dB grid): (t, a, c)."""
    x = np.arange(lo_db, hi_db + 0.05, 0.05)
    y = log_compress(x + offset_db).astype(np.float64)
    # Knots where the curve bends: evenly in its slope (the sigmoid of the exponent).
    u = np.linspace(-6.0, 6.0, knots)
    t = (u - 4.0 * math.log(10.0)) * 10.0 / math.log(10.0) - offset_db
    t = np.concatenate([[lo_db], t[(t > lo_db) & (t < hi_db)]])
    basis = np.concatenate([np.maximum(x[:, None] - t[None, :], 0.0), np.ones((len(x), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(basis, y, rcond=None)
    return t, coef[:-1], float(coef[-1])


def int8_ready_model(weights: dict[str, np.ndarray], stats: dict[str, np.ndarray], head, offset_db: float,
                     n_frames: int, n_mels: int, n_labels: int, floor_db: float, ramps: bool = True):
    """The rearranged graph (see the module docstring): (batch, frames, mels, 1) normalised
    dB -> (batch, n_labels) logits. ``ramps=False``: the exact log compression (to check
    the rearrangement in float)."""
    import keras
    from keras import layers, ops

    from .accurate_graph import log_compress_layer

    inp = keras.Input((n_frames, n_mels, 1), name="window_db")
    g0, b0 = bn_affine(weights, "batch_normalization")
    if ramps:
        hi = float(stats["input/max"][0]) + 3.0
        t, a, c = ramp_fit(offset_db, floor_db, hi)
        span = hi - t  # each ramp scaled to [0, 1]
        ramp = layers.Conv2D(len(t), 1, activation="relu", name="ramps")
        total = layers.Conv2D(1, 1, name="ramp_sum")
        x0 = total(ramp(inp))
        ramp.set_weights([(1.0 / span)[None, None, None, :].astype(np.float32), (-t / span).astype(np.float32)])
        total.set_weights([(g0 * a * span)[None, None, :, None].astype(np.float32),
                           np.array([g0[0] * c + b0[0]], np.float32)])
    else:
        x0 = log_compress_layer(inp, offset_db) * float(g0[0]) + float(b0[0])
    pad7 = ops.pad(x0, [[0, 0], [3, 3], [0, 0], [0, 0]])

    def conv(x, name, kernel_size, padding, e, in_scale=None):
        """ReLU conv whose output channel o is multiplied by e[o] (> 0); input width
        position w divided by in_scale[w] (undoing the scaling of what it reads)."""
        k = weights[f"{name}/kernel"].astype(np.float64)
        if in_scale is not None:
            k = k / in_scale[None, :, None, None]
        layer = layers.Conv2D(k.shape[-1], kernel_size, padding=padding, activation="relu", name=name)
        y = layer(x)
        layer.set_weights([(k * e).astype(np.float32), (weights[f"{name}/bias"] * e).astype(np.float32)])
        return y

    def affine(x, g, b, name):
        """Per-channel g * x + b as a 1x1 depthwise convolution. Inputs and outputs are
        within a few units here; a factor under 1e-5 (a constant channel) is raised to
        it, as XNNPACK refuses rescaling factors under 2^-32 (a zero factor is one)."""
        g = np.where(g < 0, np.minimum(g, -_MIN_FACTOR), np.maximum(g, _MIN_FACTOR))
        layer = layers.DepthwiseConv2D(1, name=name)
        y = layer(x)
        layer.set_weights([np.asarray(g, np.float32)[None, None, :, None], np.asarray(b, np.float32)])
        return y

    def unit(mx):
        """1 / each channel's largest value, at most 1000 / the layer's largest: a channel
        that is ~0 on every window stays ~0 instead of being blown up to the full range."""
        return 1.0 / np.maximum(mx, max(_REL_FLOOR * mx.max(), _TINY))

    # Channels the head gives no weight (dead ones: constant over every window) get no
    # pooling copy: standardising a constant would blow its rounding up to any size.
    used = (head.coef[:, 0::2] != 0).any(axis=0) | (head.coef[:, 1::2] != 0).any(axis=0)  # (753,)
    sizes = [weights[f"{c}/kernel"].shape[-1] for c, _, _, _ in FRONT] + [weights[f"{c}/kernel"].shape[-1] for c, _ in MID]
    used_of = dict(zip([b for _, b, _, _ in FRONT] + [b for _, b in MID], np.split(used, np.cumsum(sizes)[:-1]), strict=True))
    # The spreads the pooling copies divide by (floored like `unit`); the head undoes them.
    spread = {bn: np.maximum(stats[f"{bn}/{kind}/std"], _REL_FLOOR * stats[f"{bn}/{kind}/std"].max())
              for bn, kind in [(b, "pool") for _, b, _, _ in FRONT] + [(b, "m") for _, b in MID]}
    front_mid, front_pool, mid_scale = [], [], []
    for conv_name, bn, ks, pad in FRONT:
        e = unit(stats[f"{conv_name}/relu/max"])
        h = conv(pad7 if pad == "pad7" else x0, conv_name, ks, "valid" if pad == "pad7" else "same", e)
        g, b = bn_affine(weights, bn)
        s = unit(stats[f"{bn}/pool/max"])
        mu, sd = stats[f"{bn}/pool/mean"], spread[bn]
        front_mid.append(ops.max(affine(h, s * g / e, s * b, f"{bn}_mid"), axis=2))
        u = used_of[bn].astype(np.float64)
        front_pool.append(ops.max(affine(h, u * g / e / sd, u * (b - mu) / sd, f"{bn}_pool"), axis=2))
        mid_scale.append(s)
    s_front = np.concatenate(mid_scale)
    front = ops.concatenate(front_mid, axis=2)  # (b, t, 561), each channel in [-1, 1]

    # One scale per mid-end channel for m1, m2 and m3 (the residual sums need it).
    r = unit(np.max([stats[f"{bn}/m/max"] for _, bn in MID], axis=0))
    h_in, in_scale, m, pooled_mid = front, s_front, None, []
    for conv_name, bn in MID:
        e = unit(stats[f"{conv_name}/relu/max"])
        h4 = ops.pad(ops.expand_dims(h_in, 3), [[0, 0], [3, 3], [0, 0], [0, 0]])
        h = conv(h4, conv_name, (7, h4.shape[2]), "valid", e, in_scale)  # (b, t, 1, 64)
        g, b = bn_affine(weights, bn)
        y = affine(h, r * g / e, r * b, f"{bn}_mid")
        m = y if m is None else m + y
        mu, sd = stats[f"{bn}/m/mean"], spread[bn]
        u = used_of[bn].astype(np.float64)
        pooled_mid.append(ops.squeeze(affine(m, u / (r * sd), -u * mu / sd, f"{bn}_pool"), 2))
        h_in, in_scale = ops.squeeze(m, 2), r
    feats = ops.concatenate(front_pool + pooled_mid, axis=2)  # (b, t, 753), standardised channels
    pooled = ops.concatenate([ops.max(feats, axis=1), ops.mean(feats, axis=1)], axis=1)  # (b, 1506)

    # BN 9 and the head on the original interleaved [max, mean] features, onto these.
    g9, b9 = bn_affine(weights, "batch_normalization_9")
    w_raw = (g9 / head.scale)[:, None] * head.coef.T  # (1506, labels)
    bias = head.intercept + ((b9 - head.mean) / head.scale) @ head.coef.T
    mu = np.concatenate([stats[f"{bn}/pool/mean"] for _, bn, _, _ in FRONT] + [stats[f"{bn}/m/mean"] for _, bn in MID])
    sd = np.concatenate([spread[bn] for _, bn, _, _ in FRONT] + [spread[bn] for _, bn in MID])
    w_max, w_mean = w_raw[0::2], w_raw[1::2]
    w = np.concatenate([sd[:, None] * w_max, sd[:, None] * w_mean])
    bias = bias + mu @ (w_max + w_mean)
    dense = layers.Dense(n_labels, name="genre_head")
    out = dense(pooled)
    dense.set_weights([w.astype(np.float32), np.where(np.isfinite(bias), bias, -30.0).astype(np.float32)])
    return keras.Model(inp, out, name="msd_musicnn_genre_int8")
