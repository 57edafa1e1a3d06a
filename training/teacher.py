"""A pretrained teacher: MSD_musicnn embeddings of each window (its 1506 pooled
mid-level features), a genre head fitted on them, and its probabilities as soft labels
for the small student the device runs.

The teacher hears what the student hears: the same level-normalised windows of the
same audio (clean and through the simulated rooms), shifted to a typical level
(`offset_db`, the median level of the clean train windows) and compressed the way
MusiCNN was trained, ``log10(10000 * mel + 1)``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genred.dsp.melspec import reference_power_db
from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.windows import cut_windows, window_level_db

from .features import windows_from_frames
from .musicnn import load_musicnn, log_compress

_LOG = logging.getLogger(__name__)

TEACHER_VERSION = 2  # 2: the 1506 pooled features, not the 200-unit penultimate
EMBEDDING_DIM = 1506
GRID_HOP_FRAMES = 31  # the teacher's grid of train windows it embeds and labels (~0.5 s)
HEAD_C = 0.01  # the genre head's inverse L2 strength: teacher_probe's best for the pooled features (docs/models.md)


@dataclass(frozen=True)
class Head:
    """Standardise, then multinomial logistic regression: probabilities over all labels."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (n_labels, dim); rows of labels without train data are zero
    intercept: np.ndarray  # (n_labels,); -inf for labels without train data

    def probs(self, emb: np.ndarray, temperature: float = 1.0) -> np.ndarray:
        z = (((emb - self.mean) / self.scale) @ self.coef.T + self.intercept) / temperature
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


def balanced_weights(y: np.ndarray, track: np.ndarray) -> np.ndarray:
    """Every genre counts equally, and within a genre every track counts equally."""
    w = np.zeros(len(y))
    for c in np.unique(y):
        tracks = np.unique(track[y == c])
        for t in tracks:
            sel = track == t
            w[sel] = 1.0 / sel.sum() / len(tracks)
    return w * len(y) / w.sum()


def fit_head(emb: np.ndarray, y: np.ndarray, track: np.ndarray, n_labels: int, c: float = 0.1,
             min_std: float = 0.0, feature_weight: np.ndarray | None = None) -> Head:
    """``min_std`` > 0: features whose spread is below it get no weight. Over half of the
    pooled features are constant on GTZAN (dead channels: std ~1e-6); standardised, their
    last bits become unit-variance inputs, which no other runtime reproduces.
    ``feature_weight``: each standardised feature times this (k > 1: its weights pay
    1/k^2 of the L2 penalty, a prior toward using it); kept in ``scale``, so the Head and
    the graphs built from it need nothing new."""
    from sklearn.linear_model import LogisticRegression

    mean, scale = emb.mean(axis=0), emb.std(axis=0) + 1e-6
    live = scale - 1e-6 >= min_std
    if feature_weight is not None:
        scale = scale / np.asarray(feature_weight, np.float64)
    clf = LogisticRegression(C=c, max_iter=3000)
    clf.fit(((emb - mean) / scale)[:, live], y, sample_weight=balanced_weights(y, track))
    coef = np.zeros((n_labels, emb.shape[1]))
    intercept = np.full(n_labels, -np.inf)
    coef[np.ix_(clf.classes_, np.flatnonzero(live))] = clf.coef_
    intercept[clf.classes_] = clf.intercept_
    return Head(mean, scale, coef, intercept)


class Teacher:
    """MSD_musicnn embeddings of normalised windows, cached per file variant."""

    def __init__(self, front_end: LogMelParams, window: WindowParams, offset_db: float, cache_dir: Path | None,
                 batch: int = 64) -> None:
        self.front_end = front_end
        self.batch = batch  # windows per model call (64: ~3.5 GB of activations)
        self.window = window
        self.offset_db = float(offset_db)
        self._model = None  # loaded on the first miss: a fully cached run never needs it
        key = f"{TEACHER_VERSION}|{front_end.to_dict()}|{window.to_dict()}|{self.offset_db:.3f}"
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / hashlib.sha1(key.encode()).hexdigest()[:12]

    @property
    def model(self):
        if self._model is None:
            self._model = load_musicnn()
        return self._model

    def outputs(self, x: np.ndarray, batch: int | None = None) -> list[np.ndarray]:
        """(n, frames, mels) normalised windows -> MusiCNN's [tag logits (n, 50),
        penultimate (n, 200), pooled features (n, 1506)]."""
        batch = self.batch if batch is None else batch
        outs: list[list[np.ndarray]] = [[], [], []]
        for i in range(0, len(x), batch):
            for o, a in zip(outs, self.model(log_compress(x[i : i + batch] + self.offset_db), training=False), strict=True):
                o.append(np.asarray(a, dtype=np.float32))
        return [np.concatenate(o) if o else np.zeros((0, d), np.float32) for o, d in zip(outs, (50, 200, EMBEDDING_DIM), strict=True)]

    def embed(self, x: np.ndarray) -> np.ndarray:
        """(n, frames, mels) normalised windows -> (n, 1506) pooled MusiCNN features."""
        return self.outputs(x)[2]

    def _cached(self, name: str, source: np.ndarray, compute) -> np.ndarray:
        """``compute()``, cached under ``name`` and a digest of the array it derives from."""
        path = None
        if self.cache_dir is not None:
            digest = hashlib.sha1(np.ascontiguousarray(source[:: max(1, len(source) // 64)]).tobytes()).hexdigest()[:12]
            path = self.cache_dir / f"{name}__n{len(source)}__{digest}.npy"
            if path.is_file():
                return np.load(path)
        emb = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, emb)
        return emb

    def embed_cached(self, x: np.ndarray, name: str) -> np.ndarray:
        """`embed` of normalised windows, cached."""
        return self._cached(name, x, lambda: self.embed(x))

    def embed_frames(self, frames: np.ndarray, hop_frames: int, name: str) -> np.ndarray:
        """Embeddings of the windows `windows_from_frames` cuts at ``hop_frames``, cached
        by the frames themselves: a hit cuts no window."""
        return self._cached(f"{name}__h{hop_frames}", frames, lambda: self.embed(
            windows_from_frames(frames, self.front_end, self.window, hop_frames).x))


def tag_probabilities(emb: np.ndarray, weights: dict[str, np.ndarray]) -> np.ndarray:
    """MSD_musicnn's 50 tag probabilities (sigmoid of its logits) from pooled features."""
    from .musicnn import tags_from_pooled

    return (1.0 / (1.0 + np.exp(-tags_from_pooled(emb, weights).astype(np.float64)))).astype(np.float32)


def typical_offset_db(clean_frames: list[np.ndarray], front_end: LogMelParams, window: WindowParams) -> float:
    """The median level of the clean train windows (dB of mel power): the teacher's loudness."""
    levels = [window_level_db(w.frames, front_end) for f in clean_frames for w in cut_windows(f, window)]
    return float(np.median(levels) + reference_power_db(front_end))


def teacher_step(items, sets: dict, labels: tuple[str, ...], front_end: LogMelParams, window: WindowParams,
                 cache_dir: Path | None, hop_frames: int = GRID_HOP_FRAMES, c: float = HEAD_C, hears: str = "clean",
                 temperature: float = 1.0, weight: float = 1.0, offset_db: float | None = None, pool=(),
                 tags: bool = False):
    """Embed the train windows (on the teacher's grid) with MSD_musicnn, fit a genre head
    on them, and return the items with the head's soft labels; score the teacher itself
    on the scored ``sets``.

    ``hears="clean"``: the head is fitted on the clean windows, and a room copy's window
    gets the teacher's opinion of the same window of the clean audio (the room copies
    have the clean audio's length, so the grids line up): the student learns to hear
    through the room what the teacher hears without it. ``"own"``: every variant is
    embedded, the head fitted on all of them, and each window labelled by what the
    teacher makes of it. ``offset_db``: the teacher's input level; by default the median
    of the clean train windows (a fixed one lets cross-validation folds share the cache).
    ``pool``: unlabelled items (`unlabelled.pool_items`), labelled by the same head and
    returned as the outputs' ``pool``; they play no part in fitting it. ``tags``: every
    item also gets the teacher's 50 MSD tag probabilities on the same grid (``TrainItem.tags``),
    for a student that learns the teacher's representation, not only its genre head."""
    import time
    from dataclasses import replace

    from .dataset import DatasetError
    from .steps import TeacherOutputs
    from .train import track_scores

    t0 = time.perf_counter()
    offset = typical_offset_db([it.variants[0] for it in items], front_end, window) if offset_db is None else offset_db
    teacher = Teacher(front_end, window, offset, cache_dir)
    own = hears == "own"

    def embed(it) -> list[np.ndarray]:
        name = f"{it.track.genre}__{it.track.stem}".replace("/", "__")
        return [teacher.embed_frames(f, hop_frames, f"{name}__v{v}") for v, f in enumerate(it.variants if own else it.variants[:1])]

    embs = [embed(it) for it in items]
    emb = np.concatenate([e for es in embs for e in es])
    y = np.concatenate([np.full(len(e), it.label) for it, es in zip(items, embs, strict=True) for e in es])
    track = np.concatenate([np.full(len(e), i) for i, es in enumerate(embs) for e in es])
    head = fit_head(emb, y, track, len(labels), c=c)

    tag_weights = None
    if tags:
        from .musicnn import checkpoint_dir, read_weights

        tag_weights = read_weights(checkpoint_dir())

    def label(it, es: list[np.ndarray]):
        soft = [head.probs(e, temperature) for e in es]
        tag_probs = None if tag_weights is None else [tag_probabilities(e, tag_weights) for e in es]
        if not own:
            if any(f.shape != it.variants[0].shape for f in it.variants):
                raise DatasetError(f"{it.track.key}: a room copy is not as long as the clean audio")
            soft = soft * len(it.variants)
            tag_probs = None if tag_probs is None else tag_probs * len(it.variants)
        return replace(it, soft=soft, grid_hop=hop_frames, tags=tag_probs)

    labelled = [label(it, es) for it, es in zip(items, embs, strict=True)]
    pool_labelled = tuple(label(it, embed(it)) for it in pool)
    scores = {name: track_scores(head.probs(teacher.embed_cached(ev.x, name)), ev, len(labels)) for name, ev in sets.items()}
    _LOG.info("teacher (MSD_musicnn + head): %s (%.0f s)", " | ".join(
        f"{name} track acc {s['track_accuracy']:.3f} macro {s['track_macro_recall']:.3f}" for name, s in scores.items()),
        time.perf_counter() - t0)
    info = {
        "model": "MSD_musicnn (musicnn 0.1.0 checkpoint, ISC licence), frozen; its 1506 pooled mid-level features (max and mean over time)",
        "head": f"standardised logistic regression, C={c}, genre- and track-balanced",
        "hears": hears,
        "level_offset_db": round(offset, 2),
        "grid_hop_frames": hop_frames,
        "train_windows": int(len(emb)),
        "soft_label_weight": weight,
        "soft_label_temperature": temperature,
        "tags": tags,
        "pool_items": len(pool_labelled),
        "pool_windows": int(sum(len(it.soft[0]) for it in pool_labelled)),
        # What the teacher makes of the pool: its mean probability per label over the pool's windows.
        "pool_label_means": {lab: round(float(m), 3) for lab, m in zip(labels, np.concatenate(
            [it.soft[0] for it in pool_labelled]).mean(axis=0), strict=True)} if pool_labelled else {},
    }
    return TeacherOutputs(tuple(labelled), scores, info, pool_labelled)
