"""One student, from a split to an int8 model on disk: features -> teacher outputs -> fit ->
export. `core.run_training` (the shipped bundle) and `cv_driver.run_fold` (one fold) both
run it; what they do before (the split) and after (calibration, bundle or fold outputs)
is their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from genred.dsp.bundle import bundle_paths
from genred.dsp.classifier import TfliteClassifier

from .export import write_atomic
from .sampler import TrainItem
from .steps import (
    DataSplit,
    Exported,
    Features,
    Fitted,
    Setup,
    TeacherOutputs,
    device_classifier,
    export_step,
    features_step,
    fit_step,
    pool_step,
)
from .teacher import GRID_HOP_FRAMES, HEAD_C
from .train import TrainConfig


@dataclass(frozen=True)
class TeacherPlan:
    """How MSD_musicnn labels the train windows (`teacher.teacher_step`)."""

    hears: str = "clean"
    hop_frames: int = GRID_HOP_FRAMES
    c: float = HEAD_C
    offset_db: float | None = None  # the level the teacher hears at (None: its own default)
    pool: Path | None = None  # unlabelled music it labels too (`--pool`)


@dataclass(frozen=True)
class StudentPlan:
    config: TrainConfig
    room_copies: int
    set_names: tuple[str, str]  # the two scored sets: clean and through the room
    teacher: TeacherPlan | None  # None: hard labels only
    select: bool  # pick the epoch on the scored sets (the shipped model) or keep the last (a fold)
    name: str  # the model's name in its metadata
    representative_n: int  # int8 calibration windows


@dataclass(frozen=True)
class Student:
    features: Features
    teacher: TeacherOutputs | None
    fitted: Fitted
    exported: Exported
    classifier: TfliteClassifier  # the int8 file as the device runs it

    @property
    def items(self) -> tuple[TrainItem, ...]:
        """The labelled train tracks (with the teacher's soft labels when there is one)."""
        return self.teacher.items if self.teacher is not None else self.features.items


def student_step(split: DataSplit, setup: Setup, plan: StudentPlan, tflite_path: Path) -> Student:
    cfg, labels = plan.config, split.labels
    feats = features_step(split, setup, plan.room_copies, plan.set_names)
    teacher = None
    if plan.teacher is not None:
        from .teacher import teacher_step

        t = plan.teacher
        teacher = teacher_step(feats.items, feats.sets, labels, setup.front_end, setup.window, setup.teacher_cache,
                               t.hop_frames, t.c, t.hears, cfg.teacher_temperature, cfg.teacher_weight, t.offset_db,
                               pool=pool_step(t.pool, setup, plan.room_copies), tags=cfg.tag_weight > 0)
    items = teacher.items if teacher is not None else feats.items
    fitted = fit_step(teacher.train_items if teacher is not None else items, feats.sets, len(labels), cfg, setup,
                      select=plan.select)
    exported = export_step(fitted.model, items, labels, cfg, setup, plan.name, plan.representative_n)
    path, _ = bundle_paths(tflite_path)
    write_atomic(path, exported.tflite)
    return Student(feats, teacher, fitted, exported, device_classifier(path, exported.meta))
