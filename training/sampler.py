"""The student's train windows: class-balanced sampling and on-the-fly augmentation.

Balancing. GTZAN as gathered here is very unbalanced: classical, jazz and rock have
~45 full 30 s clips each in train, the other genres mostly one 2-3 s excerpt per
track. Each training window is drawn by

1. a genre, uniformly (every genre counts equally, whatever its data);
2. a track of that genre, with probability proportional to
   ``sqrt(max(1, n_frames / window_frames))``: a 30 s clip (~10 windows' worth of
   distinct audio) counts ~3.2x an excerpt, not 28x or 55x, so its windows do not
   drown the excerpts, while its extra material is still used. A track that has both a
   full clip and an excerpt in train is drawn from its full clip only (the excerpt is
   a slice of it);
3. a variant: the clean audio with probability ``p_clean``, else one of the track's
   seeded room copies;
4. a window: a random start frame (any frame, not a fixed hop grid: this is the time
   shift). Excerpts are shorter than a window and are wrap-padded as the device pads
   a short stream, after dropping 0-10 random frames at their start. Full-clip windows
   are, with probability ``p_pad``, replaced by a wrap-padded random 2.0-3.0 s crop,
   so that "padded" is not a cue for the excerpt-only genres: a live stream is never
   padded after its first seconds. With a teacher, windows start within half a grid
   step of a window the teacher labelled (and crops lie inside it), and take its label.

then level-normalised with the device's rule, and SpecAugment-masked. Optional mixup
between two drawn windows.

With unlabelled items (a pool of music, `UNLABELLED`), a share ``pool_p`` of the windows
comes from them instead, the item drawn by its weight, the target the teacher's soft
label alone: the student imitates the teacher on music that has no genre label. With
``tag_weight`` > 0 each window's targets also hold the teacher's tag probabilities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.windows import pad_frames

from .augment import spec_augment, warp
from .dataset import Track
from .features import normalise_batch
from .models import GENRE_OUTPUT, TAG_OUTPUT

if TYPE_CHECKING:
    from .train import TrainConfig

UNLABELLED = -1  # a TrainItem's label when it has none: only the teacher's soft labels say what it is


@dataclass
class TrainItem:
    track: Track
    label: int  # index into the labels, or UNLABELLED
    kind: str  # "full" or "excerpt"
    variants: list[np.ndarray]  # log-mel frames; [0] clean, [1:] room copies
    weight: float
    # With a teacher: per variant, its probabilities for the windows cut every
    # `grid_hop` frames (`cut_windows` order); windows are then drawn on that grid.
    soft: list[np.ndarray] | None = None
    grid_hop: int = 0
    tags: list[np.ndarray] | None = None  # with a teacher asked for them: its tag probabilities on the same grid


def track_weight(n_frames: int, window: WindowParams) -> float:
    return math.sqrt(max(1.0, n_frames / window.window_frames))


class WindowSampler:
    """Deterministic batches: batch (epoch, step) depends only on the seed and on them."""

    def __init__(self, items: list[TrainItem], n_classes: int, cfg: TrainConfig, front_end: LogMelParams, window: WindowParams):
        self.items = items
        self.n_classes = n_classes
        self.cfg = cfg
        self.front_end = front_end
        self.window = window
        self.by_label: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        pool = [i for i, it in enumerate(items) if it.label == UNLABELLED]
        if any(items[i].soft is None for i in pool):
            raise ValueError("an unlabelled train item needs the teacher's soft labels")
        if cfg.tag_weight > 0 and any(it.tags is None for it in items):
            raise ValueError("tag distillation (tag_weight > 0) needs the teacher's tags on every train item")
        self.n_tags = items[0].tags[0].shape[1] if cfg.tag_weight > 0 else 0
        pool_w = np.array([items[i].weight for i in pool], dtype=np.float64)
        self.pool = (np.array(pool, dtype=np.int64), pool_w / pool_w.sum() if pool else pool_w)
        for label in sorted({it.label for it in items} - {UNLABELLED}):
            idx = np.array([i for i, it in enumerate(items) if it.label == label])
            w = np.array([items[i].weight for i in idx], dtype=np.float64)
            self.by_label[label] = (idx, w / w.sum())
        self.labels_present = np.array(sorted(self.by_label))
        fr = front_end.frame_rate_hz
        self.crop_frames = (max(1, int(round(cfg.pad_crop_s[0] * fr))), max(1, int(round(cfg.pad_crop_s[1] * fr))))

    def _crop_length(self, rng: np.random.Generator) -> int:
        """Frames of a padded crop: 2-3 s, always shorter than a window."""
        lo, hi, wf = *self.crop_frames, self.window.window_frames
        return int(rng.integers(min(lo, wf - 1), min(hi, wf - 1) + 1))

    def draw_raw(self, rng: np.random.Generator) -> tuple[np.ndarray, int, np.ndarray | None, np.ndarray | None]:
        """One un-normalised window (frames, mels), its label, the teacher's soft label and tags."""
        cfg, wf = self.cfg, self.window.window_frames
        if cfg.pool_p > 0 and len(self.pool[0]) and rng.uniform() < cfg.pool_p:
            idx, p = self.pool
            label = UNLABELLED
        else:
            label = int(self.labels_present[rng.integers(len(self.labels_present))])
            idx, p = self.by_label[label]
        item = self.items[int(idx[rng.choice(len(idx), p=p)])]
        if len(item.variants) == 1 or rng.uniform() < cfg.p_clean:
            v = 0
        else:
            v = 1 + int(rng.integers(len(item.variants) - 1))
        frames = item.variants[v]
        n = frames.shape[0]
        if item.soft is not None:
            # Near the teacher's grid, so each window has the teacher's opinion of (most of) it.
            g = int(rng.integers(len(item.soft[v])))
            soft = item.soft[v][g]
            tags = item.tags[v][g] if item.tags is not None else None
            if n < wf:
                drop = int(rng.integers(0, max(0, min(cfg.excerpt_head_drop, n // 4)) + 1))
                return pad_frames(frames[drop:], wf), label, soft, tags
            j = item.grid_hop // 2
            start = min(max(0, g * item.grid_hop + int(rng.integers(-j, j + 1))), n - wf)
            if item.kind == "full" and rng.uniform() < cfg.p_pad:
                # a shorter crop inside the labelled window, wrap-padded like an excerpt
                length = self._crop_length(rng)
                s0 = g * item.grid_hop + int(rng.integers(0, wf - length + 1))
                return pad_frames(frames[s0 : s0 + length], wf), label, soft, tags
            return frames[start : start + wf], label, soft, tags
        if n >= wf:
            if item.kind == "full" and rng.uniform() < cfg.p_pad:
                length = self._crop_length(rng)
                start = int(rng.integers(0, n - length + 1))
                return pad_frames(frames[start : start + length], wf), label, None, None
            start = int(rng.integers(0, n - wf + 1))
            return frames[start : start + wf], label, None, None
        drop = int(rng.integers(0, max(0, min(cfg.excerpt_head_drop, n // 4)) + 1))
        return pad_frames(frames[drop:], wf), label, None, None

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray | dict[str, np.ndarray]]:
        """Windows and targets; with ``tag_weight`` > 0 the targets are the genre's and the
        teacher's tag probabilities by output name (`models.with_tag_head`)."""
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, epoch, step])
        raws, labels, softs, tags = zip(*(self.draw_raw(rng) for _ in range(cfg.batch_size)), strict=True)
        if cfg.warp_p > 0:
            raws = [warp(r, rng) if rng.uniform() < cfg.warp_p else r for r in raws]
        x, _ = normalise_batch(np.stack(raws), self.front_end, self.window)
        y = np.zeros((cfg.batch_size, self.n_classes), dtype=np.float32)
        for i, (label, soft) in enumerate(zip(labels, softs, strict=True)):
            if label == UNLABELLED:
                y[i] = soft
                continue
            y[i, label] = 1.0
            if soft is not None:
                y[i] = (1.0 - cfg.teacher_weight) * y[i] + cfg.teacher_weight * soft
        for i in range(cfg.batch_size):
            spec_augment(x[i], rng, p=cfg.specaug_p)
        if cfg.mixup_p > 0:
            partner = rng.permutation(cfg.batch_size)
            lam = rng.beta(cfg.mixup_alpha, cfg.mixup_alpha, cfg.batch_size).astype(np.float32)
            lam = np.maximum(lam, 1 - lam)  # the window keeps mostly its own label
            use = rng.uniform(size=cfg.batch_size) < cfg.mixup_p
            lam = np.where(use, lam, 1.0).astype(np.float32)
            # Mix in the power domain (two sounds playing together), then re-normalise.
            p = lam[:, None, None] * np.power(10.0, x / 10.0) + (1 - lam)[:, None, None] * np.power(10.0, x[partner] / 10.0)
            x, _ = normalise_batch(10.0 * np.log10(np.maximum(p, 1e-10)), self.front_end, self.window)
            y = lam[:, None] * y + (1 - lam)[:, None] * y[partner]
        if cfg.tag_weight <= 0:
            return x[..., None], y
        t = np.stack(tags).astype(np.float32)
        if cfg.mixup_p > 0:
            t = lam[:, None] * t + (1 - lam)[:, None] * t[partner]
        return x[..., None], {GENRE_OUTPUT: y, TAG_OUTPUT: t}
