"""Training: the student fitted on `sampler`'s batches, the moving average of its
weights, model selection on valid + valid_room.

Window sampling and augmentation: `sampler`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from genred.dsp.metrics import accuracy, confusion_matrix, macro_recall, recalls
from genred.dsp.params import LogMelParams, WindowParams

from .dataset import Track
from .models import GENRE_OUTPUT, TAG_OUTPUT, ModelSpec, build_model, with_tag_head
from .sampler import TrainItem, WindowSampler

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 1
    epochs: int = 40
    steps_per_epoch: int = 50
    batch_size: int = 64
    learning_rate: float = 2e-3
    min_lr_fraction: float = 0.05
    warmup_epochs: int = 1
    patience: int = 12
    p_clean: float = 0.3
    p_pad: float = 0.3
    excerpt_head_drop: int = 10
    pad_crop_s: tuple[float, float] = (2.0, 3.0)
    specaug_p: float = 0.5
    mixup_p: float = 0.0
    mixup_alpha: float = 0.4
    # Share of windows time-stretched (+-10 %) and pitch-shifted (+-2 mel bins) in the
    # spectrogram (`augment.warp`); 0 draws nothing, so the default batches do not move.
    warp_p: float = 0.0
    label_smoothing: float = 0.05
    teacher_weight: float = 1.0  # share of the teacher's soft label in the target (with a teacher)
    teacher_temperature: float = 1.0  # > 1 softens the teacher's soft labels (Hinton et al. 2015)
    pool_p: float = 0.0  # share of windows drawn from unlabelled items (a pool), with the teacher's label
    # Weight of a second output learning the teacher's 50 MSD tag probabilities (0: none);
    # the output is dropped before export, the device runs the genre output alone.
    tag_weight: float = 0.0
    # Exponential moving average of the weights, per step (0 = off): what is scored and
    # kept. Single epochs' weights swing by 10-20 points of valid accuracy.
    ema_decay: float = 0.995
    # Students trained with seeds seed, seed+1, ...; the model averages their logits.
    ensemble: int = 1
    model: ModelSpec = field(default_factory=ModelSpec)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["pad_crop_s"] = list(self.pad_crop_s)
        return d


@dataclass
class EvalSet:
    """Windows of whole items (tracks) for evaluation, in stream order per item."""

    name: str
    x: np.ndarray  # (n, frames, mels) float32 normalised
    level_db: np.ndarray  # (n,)
    start_frame: np.ndarray  # (n,)
    item: np.ndarray  # (n,) index into items
    items: list[Track]
    item_label: np.ndarray  # (n_items,)
    item_kind: list[str]  # "full" / "excerpt": which file each item used

    @property
    def window_label(self) -> np.ndarray:
        return self.item_label[self.item]


def representative_windows(items: list[TrainItem], front_end: LogMelParams, window: WindowParams, n: int, seed: int, hop_frames: int) -> np.ndarray:
    """``n`` train windows (clean and room copies, full clips and excerpts) cut at
    ``hop_frames`` and normalised: the int8 converter's calibration data."""
    from .features import windows_from_frames

    rng = np.random.default_rng([seed, 7])
    pool: list[np.ndarray] = []
    order = rng.permutation(len(items))
    per_item = max(1, n // max(1, len(items)) + 1)
    for i in order:
        it = items[int(i)]
        for v in rng.permutation(len(it.variants))[:2]:
            ws = windows_from_frames(it.variants[int(v)], front_end, window, hop_frames).x
            take = rng.permutation(len(ws))[:per_item]
            pool.extend(ws[take])
        if len(pool) >= n:
            break
    return np.stack(pool[:n])[..., None]


def full_clips(ev: EvalSet) -> tuple[EvalSet, np.ndarray]:
    """The part of ``ev`` that comes from full clips (a live stream is never padded after
    its first seconds; excerpts always are), and the mask of its windows."""
    return item_subset(ev, [i for i, k in enumerate(ev.item_kind) if k == "full"], "full clips")


def item_subset(ev: EvalSet, keep: list[int], what: str) -> tuple[EvalSet, np.ndarray]:
    """The items ``keep`` of ``ev`` (indices, in order), and the mask of their windows.
    The subset carries no window data (``x`` has no frames): it is for scoring
    probabilities."""
    keep = np.asarray(keep, dtype=np.int64)
    remap = np.full(len(ev.items), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    mask = remap[ev.item] >= 0
    sub = EvalSet(f"{ev.name} ({what})", np.zeros((int(mask.sum()), 0, 0), np.float32), ev.level_db[mask],
                  ev.start_frame[mask], remap[ev.item[mask]], [ev.items[i] for i in keep], ev.item_label[keep],
                  [ev.item_kind[i] for i in keep])
    return sub, mask


def track_scores(probs: np.ndarray, ev: EvalSet, n_classes: int) -> dict[str, Any]:
    """Window and track accuracy and macro recall (over genres present in ``ev``), and
    the track recall of each genre (None for a genre without tracks in ``ev``)."""
    pred_w = probs.argmax(axis=1)
    n_items = len(ev.items)
    sums = np.zeros((n_items, n_classes))
    np.add.at(sums, ev.item, probs)
    counts = np.bincount(ev.item, minlength=n_items)[:, None]
    item_probs = sums / np.maximum(counts, 1)
    pred_t = item_probs.argmax(axis=1)
    windows = confusion_matrix(ev.window_label, pred_w, n_classes)
    tracks = confusion_matrix(ev.item_label, pred_t, n_classes)
    return {
        "window_accuracy": accuracy(windows),
        "window_macro_recall": macro_recall(windows),
        "track_accuracy": accuracy(tracks),
        "track_macro_recall": macro_recall(tracks),
        "track_recalls": recalls(tracks),
        "item_probs": item_probs,
        "item_pred": pred_t,
        "window_pred": pred_w,
    }


SELECTION = ("best epoch by the mean, over valid and valid_room, of track accuracy, track macro recall and "
             "window macro recall (window accuracy breaks ties)")


def selection_score(valid: dict[str, Any], room: dict[str, Any]) -> tuple[float, float]:
    """(mean of track accuracy, track macro recall and window macro recall over valid and
    valid_room; mean window accuracy as tie-break).

    Not track macro recall alone: with a genre of one valid track it jumps by 1/genres
    when that track flips, and picked epochs that were worse on everything else. Window
    macro recall averages over thousands of windows; track accuracy over every track."""
    keys = ("track_accuracy", "track_macro_recall", "window_macro_recall")
    return (
        float(np.mean([r[k] for r in (valid, room) for k in keys])),
        0.5 * (valid["window_accuracy"] + room["window_accuracy"]),
    )


def set_determinism(seed: int, threads: int) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised (a second run in one process)
        pass
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # pragma: no cover - older TF
        _LOG.info("op determinism not available")


class WeightAverage:
    """An exponential moving average of all of a model's weights (batch-norm statistics
    included), updated after every step; ``applied()`` swaps it in for a while.

    The average starts with a short effective horizon (``min(decay, (1 + n) / (10 + n))``
    after ``n`` updates, as TensorFlow's ExponentialMovingAverage does with
    ``num_updates``) so the random initial weights do not linger."""

    def __init__(self, model, decay: float) -> None:
        self.model = model
        self.decay = float(decay)
        self.n = 0
        self.avg = [w.astype(np.float64) for w in model.get_weights()] if self.decay > 0 else None

    def update(self) -> None:
        if self.avg is None:
            return
        self.n += 1
        d = min(self.decay, (1.0 + self.n) / (10.0 + self.n))
        for a, w in zip(self.avg, self.model.get_weights(), strict=True):
            a *= d
            a += (1.0 - d) * w

    @contextmanager
    def applied(self):
        if self.avg is None:
            yield
            return
        current = self.model.get_weights()
        self.model.set_weights([a.astype(c.dtype) for a, c in zip(self.avg, current, strict=True)])
        try:
            yield
        finally:
            self.model.set_weights(current)


@dataclass
class TrainResult:
    model: Any  # keras.Model with the selected weights
    history: list[dict[str, float]]
    best_epoch: int
    best_score: tuple[float, float]
    wall_s: float
    stopped_early: bool
    # With an ensemble, per member: seed, selected epoch, epochs run, valid scores then.
    members: list[dict[str, Any]] = field(default_factory=list)


def train(
    items: list[TrainItem],
    valid: EvalSet | None,
    valid_room: EvalSet | None,
    n_classes: int,
    cfg: TrainConfig,
    front_end: LogMelParams,
    window: WindowParams,
    threads: int = 1,
) -> TrainResult:
    """Train one student, or with ``cfg.ensemble`` > 1 one per seed (``cfg.seed + i``),
    each selected on its own, and return a model that averages their logits (its
    history is the first member's). Without ``valid`` (cross-validation: nothing the
    fold scores may choose) every epoch is run and the last one's weights are kept."""
    import keras

    if cfg.ensemble > 1:
        results = []
        for i in range(cfg.ensemble):
            _LOG.info("ensemble member %d/%d (seed %d)", i + 1, cfg.ensemble, cfg.seed + i)
            member_cfg = replace(cfg, seed=cfg.seed + i, ensemble=1)
            results.append(train(items, valid, valid_room, n_classes, member_cfg, front_end, window, threads))
        members = [_member_summary(cfg.seed + i, r) for i, r in enumerate(results)]
        first = results[0]
        return TrainResult(average_logits([r.model for r in results]), first.history, first.best_epoch,
                           first.best_score, sum(r.wall_s for r in results), first.stopped_early, members)
    t_start = time.perf_counter()
    set_determinism(cfg.seed, threads)
    model = build_model(cfg.model, window.window_frames, front_end.n_mels, n_classes)
    total = cfg.epochs * cfg.steps_per_epoch
    warm = min(cfg.warmup_epochs * cfg.steps_per_epoch, max(0, total - 1))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=cfg.learning_rate * (0.1 if warm else 1.0),
        decay_steps=max(1, total - warm),
        alpha=cfg.min_lr_fraction,
        warmup_target=cfg.learning_rate if warm else None,
        warmup_steps=warm,
    )
    sampler = WindowSampler(items, n_classes, cfg, front_end, window)
    trainer = _compiled(model, sampler.n_tags, cfg, keras.optimizers.Adam(schedule))
    _LOG.info("model %s: %d parameters", model.name, model.count_params())
    history: list[dict[str, float]] = []
    best_score: tuple[float, float] = (-1.0, -1.0)
    best_weights = None
    best_epoch = -1
    stale = 0
    stopped_early = False
    ema = WeightAverage(trainer, cfg.ema_decay)
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(sampler.batch, 0, 0)
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            losses, accs = [], []
            for step in range(cfg.steps_per_epoch):
                x, y = pending.result()
                nxt = (epoch, step + 1) if step + 1 < cfg.steps_per_epoch else (epoch + 1, 0)
                pending = pool.submit(sampler.batch, *nxt)
                logs = trainer.train_on_batch(x, y, return_dict=True)
                loss, acc = logs["loss"], next(v for k, v in logs.items() if k.endswith("categorical_accuracy"))
                ema.update()
                losses.append(float(loss))
                accs.append(float(acc))
            t1 = time.perf_counter()
            if valid is None or valid_room is None:
                with ema.applied():
                    averaged = model.get_weights()
                history.append(_fixed_epoch_row(epoch, losses, accs, t1 - t0, trainer))
                best_weights, best_epoch = averaged, epoch + 1
                _LOG.info("epoch %d/%d: loss %.3f train acc %.3f (%.0f s)", epoch + 1, cfg.epochs,
                          history[-1]["loss"], history[-1]["train_accuracy"], t1 - t0)
                continue
            with ema.applied():
                rv = track_scores(predict(model, valid.x), valid, n_classes)
                rr = track_scores(predict(model, valid_room.x), valid_room, n_classes)
                averaged = model.get_weights()
            score = selection_score(rv, rr)
            lr = float(keras.ops.convert_to_numpy(trainer.optimizer.learning_rate))
            row = {
                "epoch": epoch + 1,
                "loss": float(np.mean(losses)),
                "train_accuracy": float(np.mean(accs)),
                "lr": lr,
                "score": score[0],
                "train_s": t1 - t0,
                "eval_s": time.perf_counter() - t1,
            }
            for name, r in (("valid", rv), ("valid_room", rr)):
                for k in ("window_accuracy", "window_macro_recall", "track_accuracy", "track_macro_recall"):
                    row[f"{name}_{k}"] = r[k]
            history.append(row)
            improved = score > best_score
            if improved:
                best_score, best_weights, best_epoch, stale = score, averaged, epoch + 1, 0
            else:
                stale += 1
            _LOG.info(
                "epoch %d/%d: loss %.3f train acc %.3f | valid trk macro %.3f win acc %.3f | room trk macro %.3f win acc %.3f | score %.3f%s (%.0f+%.0f s)",
                epoch + 1, cfg.epochs, row["loss"], row["train_accuracy"], rv["track_macro_recall"], rv["window_accuracy"],
                rr["track_macro_recall"], rr["window_accuracy"], score[0], " *" if improved else "", row["train_s"], row["eval_s"],
            )
            if stale >= cfg.patience:
                _LOG.info("no better score for %d epochs: stopping", cfg.patience)
                stopped_early = True
                break
        pending.cancel()
    if best_weights is not None:
        model.set_weights(best_weights)
    return TrainResult(model, history, best_epoch, best_score, time.perf_counter() - t_start, stopped_early)


def _compiled(model, n_tags: int, cfg: TrainConfig, optimizer):
    """What the steps train, compiled: ``model`` itself, or with ``tag_weight`` > 0 a model
    with the teacher's ``n_tags`` tags as a second output that shares ``model``'s layers."""
    import keras

    genre_loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=cfg.label_smoothing)
    if cfg.tag_weight <= 0:
        model.compile(optimizer=optimizer, loss=genre_loss, metrics=["categorical_accuracy"])
        return model
    trainer = with_tag_head(model, n_tags)
    trainer.compile(optimizer=optimizer,
                    loss={GENRE_OUTPUT: genre_loss, TAG_OUTPUT: keras.losses.BinaryCrossentropy(from_logits=True)},
                    loss_weights={GENRE_OUTPUT: 1.0, TAG_OUTPUT: cfg.tag_weight},
                    metrics={GENRE_OUTPUT: ["categorical_accuracy"]})
    return trainer


def _fixed_epoch_row(epoch: int, losses: list[float], accs: list[float], train_s: float, model) -> dict[str, float]:
    import keras

    return {"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy": float(np.mean(accs)),
            "lr": float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)), "train_s": train_s}


def predict(model, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Float (Keras) probabilities, softmax of the logits, for (n, frames, mels) windows."""
    out = []
    for i in range(0, len(x), batch_size):
        z = np.asarray(model(x[i : i + batch_size, ..., None], training=False), dtype=np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        out.append(e / e.sum(axis=1, keepdims=True))
    if not out:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(out).astype(np.float32)


def _member_summary(seed: int, r: TrainResult) -> dict[str, Any]:
    """An ensemble member: its seed, selected epoch, and its valid scores then."""
    row = r.history[r.best_epoch - 1] if r.best_epoch > 0 else {}
    return {"seed": seed, "best_epoch": r.best_epoch, "epochs_run": len(r.history),
            **{k: round(v, 4) for k, v in row.items() if k.startswith("valid")}}


def average_logits(models: list) -> Any:
    """One Keras model whose logits are the mean of ``models``' logits (one int8 graph)."""
    import keras

    inp = keras.Input(shape=models[0].input_shape[1:], name="logmel_db")
    outs = [keras.Model(m.inputs, m.outputs[0], name=f"member{i}")(inp) for i, m in enumerate(models)]
    out = keras.layers.Average(name="genre_logits_mean")(outs)
    return keras.Model(inp, out, name=f"{models[0].name}_x{len(models)}")
