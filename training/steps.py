"""The steps of a training run, each from frozen inputs to a frozen result:

    split -> features -> teacher outputs -> fit -> export -> calibrate -> smoothing -> bundle

`student.student_step` runs features -> teacher -> fit -> export, for `core.run_training`
(the shipped model: the split, calibration, smoothing and bundle are its own) and for the
cross-validation driver (`cv_driver`: once per fold; it calibrates and smooths across
folds). A step reads only what it is given, so a fold can reuse the cached features and
teacher outputs of another. (The results hold arrays and lists: frozen means not re-bound,
not deep-frozen.)
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.bundle import ModelBundle, ModelMetadata
from genred.dsp.classifier import TfliteClassifier
from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.smoother_params import SmootherParams

from .augment import RoomParams
from .calibration import apply_temperature, fit_temperature_ece, nll, reliability
from .dataset import DatasetError, Track, _stable_int
from .export import convert_int8, tensor_specs
from .features import DEFAULT_CACHE_DIR, FeatureExtractor, teacher_cache_dir, windows_from_frames
from .smoothing_fit import Stream, fit_smoothing
from .sampler import TrainItem, track_weight
from .train import EvalSet, TrainConfig, TrainResult, representative_windows, track_scores

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setup:
    """What every step shares: the device's front end, the room simulator, the caches."""

    front_end: LogMelParams = field(default_factory=LogMelParams)
    window: WindowParams = field(default_factory=WindowParams)
    room: RoomParams = field(default_factory=RoomParams)
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    workers: int = 2
    threads: int = 1  # TensorFlow's: 1 makes a seed reproduce a model bit for bit

    @property
    def teacher_cache(self) -> Path | None:
        return teacher_cache_dir(self.cache_dir)


@dataclass(frozen=True)
class DataSplit:
    data: Path
    labels: tuple[str, ...]
    train: tuple[Track, ...]
    valid: tuple[Track, ...]  # what is scored (a fold's test side in cross-validation)
    description: str
    missing: dict[str, list[str]] = field(default_factory=dict)  # side -> listed keys without audio
    skipped: tuple[str, ...] = ()  # unreadable files the index skipped


@dataclass(frozen=True)
class Features:
    items: tuple[TrainItem, ...]
    sets: dict[str, EvalSet]  # scored sets by name: clean and through the room
    failed: tuple[tuple[str, str], ...]  # (file, why)
    wall_s: float


@dataclass(frozen=True)
class TeacherOutputs:
    items: tuple[TrainItem, ...]  # the train items with the teacher's soft labels
    scores: dict[str, dict[str, Any]]  # the teacher itself (float, with its head) on each scored set
    info: dict[str, Any]
    pool: tuple[TrainItem, ...] = ()  # unlabelled items with the teacher's soft labels (sampler.UNLABELLED)

    @property
    def train_items(self) -> tuple[TrainItem, ...]:
        """What the student trains on: the labelled items and the pool's."""
        return self.items + self.pool


@dataclass(frozen=True)
class Fitted:
    result: TrainResult
    float_scores: dict[str, dict[str, Any]]  # the float student on each scored set

    @property
    def model(self):
        return self.result.model


@dataclass(frozen=True)
class Exported:
    tflite: bytes
    meta: ModelMetadata  # temperature 1, no smoothing, training or metrics yet
    representative_n: int


@dataclass(frozen=True)
class Calibrated:
    temperature: float
    summary: dict[str, Any]  # ECE and NLL before and after, per set and pooled
    reliabilities: dict[str, tuple[dict, dict]]  # per set: (before, after)
    probs: dict[str, np.ndarray]  # per set: the device's window probabilities at the temperature
    scores: dict[str, dict[str, Any]]  # per set: `track_scores` of those


@dataclass(frozen=True)
class Smoothing:
    params: SmootherParams
    fit: dict[str, Any]  # `fit_smoothing`'s table and scores


def _room_seed(kind: str, key: str, i: int = 0) -> int:
    # Depends on the track only (not the run seed): cached room copies are reused.
    return _stable_int(kind, key, i) % (2**63)


def build_items(tracks: list[Track], labels: tuple[str, ...], ex: FeatureExtractor, window: WindowParams,
                room_copies: int, workers: int) -> tuple[list[TrainItem], list[tuple[str, str]]]:
    """Train items (clean + room variants of each track's longest audio); unreadable ones skipped."""
    jobs: list[tuple[Path, int | None]] = []
    for t in tracks:
        jobs.append((t.main_path, None))
        jobs.extend((t.main_path, _room_seed("train_room", t.key, i)) for i in range(room_copies))
    results = ex.frames_many(jobs, workers=workers)
    items: list[TrainItem] = []
    failed: list[tuple[str, str]] = []
    per = 1 + room_copies
    for n, t in enumerate(tracks):
        got = results[n * per : (n + 1) * per]
        bad = [r for r in got if isinstance(r, Exception)]
        if bad:
            _LOG.warning("skipping %s: %s", t.main_path, bad[0])
            failed.append((str(t.main_path), str(bad[0])))
            continue
        items.append(TrainItem(t, labels.index(t.genre), t.main_kind, list(got), track_weight(got[0].shape[0], window)))
    return items, failed


def build_eval_set(name: str, tracks: list[Track], labels: tuple[str, ...], ex: FeatureExtractor,
                   front_end: LogMelParams, window: WindowParams, room: bool, workers: int) -> tuple[EvalSet, list[tuple[str, str]]]:
    """Every window (at the device's hop) of each track's longest audio, in stream order.
    A track's room copy is one seeded room, whichever set or fold scores it."""
    jobs = [(t.main_path, _room_seed("valid_room", t.key) if room else None) for t in tracks]
    results = ex.frames_many(jobs, workers=workers)
    xs, levels, starts, item_idx = [], [], [], []
    items: list[Track] = []
    failed: list[tuple[str, str]] = []
    for t, frames in zip(tracks, results, strict=True):
        if isinstance(frames, Exception):
            failed.append((str(t.main_path), str(frames)))
            continue
        ws = windows_from_frames(frames, front_end, window)
        xs.append(ws.x)
        levels.append(ws.level_db)
        starts.append(ws.start_frame)
        item_idx.append(np.full(len(ws.x), len(items)))
        items.append(t)
    if not items:
        raise DatasetError(f"{name}: no readable tracks")
    ev = EvalSet(
        name, np.concatenate(xs), np.concatenate(levels), np.concatenate(starts), np.concatenate(item_idx),
        items, np.array([labels.index(t.genre) for t in items]), [t.main_kind for t in items],
    )
    _LOG.info("%s: %d tracks, %d windows", name, len(items), len(ev.x))
    return ev, failed


def features_step(split: DataSplit, setup: Setup, room_copies: int,
                  set_names: tuple[str, str] = ("valid", "valid_room")) -> Features:
    """Log-mel frames of the train tracks (clean + room copies, float16-cached) and the
    windows of the scored tracks, clean and through the room (float32, as the device)."""
    t0 = time.perf_counter()
    ex = FeatureExtractor(setup.front_end, setup.cache_dir, setup.room)
    items, failed_train = build_items(list(split.train), split.labels, ex, setup.window, room_copies, setup.workers)
    # Scored sets in float32, not float16: float16's 0.03 dB steps moved int8 inputs across
    # quantisation steps, and the report disagreed with `genred evaluate` by a track.
    ex_eval = FeatureExtractor(setup.front_end, setup.cache_dir, setup.room, exact=True)
    clean, failed_valid = build_eval_set(set_names[0], list(split.valid), split.labels, ex_eval, setup.front_end,
                                         setup.window, False, setup.workers)
    room, _ = build_eval_set(set_names[1], list(split.valid), split.labels, ex_eval, setup.front_end, setup.window,
                             True, setup.workers)
    if not items:
        raise DatasetError(f"data folder {split.data}: no readable train tracks")
    missing = sorted(set(split.labels) - {split.labels[it.label] for it in items})
    if missing:
        _LOG.warning("no train data for: %s (the model cannot learn them)", ", ".join(missing))
    return Features(tuple(items), {set_names[0]: clean, set_names[1]: room}, tuple(failed_train + failed_valid),
                    time.perf_counter() - t0)


def pool_step(folder: Path | None, setup: Setup, room_copies: int) -> tuple[TrainItem, ...]:
    """The unlabelled pool's items (none without a folder), for the teacher to label."""
    if folder is None:
        return ()
    from .unlabelled import detector_cache_dir, pool_items

    return tuple(pool_items(folder, setup.front_end, setup.window, setup.room, room_copies,
                            detector_cache_dir(setup.cache_dir)))


def fit_step(items: tuple[TrainItem, ...], sets: dict[str, EvalSet], n_labels: int, cfg: TrainConfig, setup: Setup,
             select: bool = True) -> Fitted:
    """Train the student. ``select``: pick the epoch on the two scored sets (the shipped
    model, on valid); else run every epoch and keep the last (a fold's test side must
    choose nothing)."""
    from .train import predict, train

    clean, room = sets.values()
    result = train(list(items), clean if select else None, room if select else None, n_labels, cfg,
                   setup.front_end, setup.window, threads=setup.threads)
    return Fitted(result, {name: track_scores(predict(result.model, ev.x), ev, n_labels) for name, ev in sets.items()})


def export_step(model, items: tuple[TrainItem, ...], labels: tuple[str, ...], cfg: TrainConfig, setup: Setup,
                name: str, representative_n: int) -> Exported:
    """Full-integer int8, calibrated on train windows (clean and room copies)."""
    fe, window = setup.front_end, setup.window
    rep = representative_windows(list(items), fe, window, representative_n, cfg.seed, window.hop_frames)
    tflite = convert_int8(model, rep)
    in_spec, out_spec = tensor_specs(tflite)
    meta = ModelMetadata(
        name=name, labels=labels, front_end=fe, window=window,
        default_hop_s=round(window.hop_frames / fe.frame_rate_hz, 4),
        input=in_spec, output=out_spec, output_activation="logits", temperature=1.0,
        quantisation=f"full-integer int8 (inputs, weights, activations, outputs); calibrated on {len(rep)} train windows",
    )
    return Exported(tflite, meta, len(rep))


def device_classifier(tflite_path: Path, meta: ModelMetadata) -> TfliteClassifier:
    """The device's classifier on ``tflite_path`` with ``meta``, as a device would read
    it back from its JSON (the round trip keeps every number what `genred evaluate` gets)."""
    meta = ModelMetadata.from_dict(meta.to_dict())
    return TfliteClassifier(ModelBundle(Path(tflite_path), Path(tflite_path).with_suffix(".json"), meta))


def raw_outputs(classifier: TfliteClassifier, x: np.ndarray) -> np.ndarray:
    """The int8 model's dequantised logits, one window at a time as on the device."""
    n = len(classifier.labels)
    return np.stack([classifier.raw_output(w) for w in x]).astype(np.float32) if len(x) else np.zeros((0, n), np.float32)


def activate(classifier: TfliteClassifier, raw: np.ndarray, temperature: float) -> np.ndarray:
    """The device's probabilities of saved outputs at ``temperature``."""
    n = len(classifier.labels)
    return np.stack([classifier.activate(r, temperature) for r in raw]) if len(raw) else np.zeros((0, n), np.float32)


def calibrate_step(classifier: TfliteClassifier, raw: dict[str, np.ndarray], sets: dict[str, EvalSet],
                   temperature: float | None = None) -> Calibrated:
    """The temperature that makes the int8 window probabilities honest on the scored sets
    together, clean and through the room (what a device hears lies between the two); or
    the one given. Then the device's probabilities and track scores at it."""
    n_labels = len(classifier.labels)
    at_one = {name: activate(classifier, raw[name], 1.0) for name in sets}
    pooled = np.concatenate([at_one[name] for name in sets])
    pooled_labels = np.concatenate([ev.window_label for ev in sets.values()])
    fitted = fit_temperature_ece(pooled, pooled_labels) if temperature is None else temperature
    given = temperature is not None
    temperature = round(fitted, 4)  # what the bundle says, and the device uses
    summary: dict[str, Any] = {"temperature": temperature, "bins": 10, "given": given,
                               "fitted_on": " and ".join(sets) + " windows together, int8 model",
                               "objective": "minimum expected calibration error"}
    reliabilities = {}
    for name, probs, labels_w in [(n, at_one[n], ev.window_label) for n, ev in sets.items()] + [
            ("pooled", pooled, pooled_labels)]:
        scaled = apply_temperature(probs, fitted)
        before, after = reliability(probs, labels_w), reliability(scaled, labels_w)
        if name != "pooled":
            reliabilities[name] = (before, after)
        summary[name] = {"ece_before": round(before["ece"], 4), "ece_after": round(after["ece"], 4),
                         "nll_before": round(nll(probs, labels_w), 4), "nll_after": round(nll(scaled, labels_w), 4)}
    _LOG.info("temperature %.3f: ECE %s", temperature, ", ".join(
        f"{n} {summary[n]['ece_before']:.3f} -> {summary[n]['ece_after']:.3f}" for n in sets))
    # What the device computes at that temperature, bit for bit (int8 logits tie often;
    # recomputing keeps every reported number equal to `genred evaluate`'s).
    probs = {name: activate(classifier, raw[name], temperature) for name in sets}
    scores = {name: track_scores(probs[name], ev, n_labels) for name, ev in sets.items()}
    return Calibrated(temperature, summary, reliabilities, probs, scores)


def smoothing_streams(ev: EvalSet, probs: np.ndarray, front_end: LogMelParams, window: WindowParams,
                      group: str = "") -> list[Stream]:
    """Each full clip as a stream: its windows' probabilities, levels and end times."""
    streams = []
    frame_s = front_end.hop_length / front_end.sample_rate_hz
    for i, kind in enumerate(ev.item_kind):
        if kind != "full":
            continue
        sel = ev.item == i
        ends = (ev.start_frame[sel] + window.window_frames) * frame_s
        streams.append(Stream(probs[sel], ev.level_db[sel], ends, int(ev.item_label[i]), ev.items[i].key, group))
    return streams


def smoothing_step(sets: dict[str, EvalSet], probs: dict[str, np.ndarray], labels: tuple[str, ...],
                   setup: Setup, back_to_back: bool = False, given: SmootherParams | None = None) -> Smoothing:
    """Smoothing defaults measured on the full clips of the scored sets as streams (each
    clip its own, or each set's clips back to back); or ``given`` (a cross-validation's
    choice), only scored on them."""
    streams = [s for name, ev in sets.items()
               for s in smoothing_streams(ev, probs[name], setup.front_end, setup.window, name)]
    fit = fit_smoothing(streams, labels, given or SmootherParams(), back_to_back=back_to_back, given=given is not None)
    return Smoothing(fit["best"], fit)
