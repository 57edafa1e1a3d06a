"""``python -m genred.training.cv``: cross-validate a training recipe on GTZAN.

The folds are `cv.gtzan_folds` over the train + valid tracks (artist-grouped,
genre-stratified). Each fold trains the recipe on the other folds for exactly
``--epochs`` epochs (nothing the fold scores chooses anything), exports it to int8 and
saves the int8 model's outputs on the fold's test tracks, clean and through the room
(``<out>/fold_N/``). ``--summarise`` then calibrates and smooths each fold with what the
*other* folds' test outputs say (temperature and smoothing are chosen by CV, never on
the fold itself), writes each fold's bundle, scores its tracks and its stream
(`cv_summary`), and writes ``summary.md`` / ``summary.json``. Folds can run as separate
processes (``--fold N``), one at a time in the background; without ``--fold`` or
``--summarise`` all folds run, then the summary.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.errors import GenredError

from .cli import build_parser, check_args, config_from_args
from .command import run_command, setup_logging
from .smoothing_fit import BACK_TO_BACK
from .cv import DEFAULT_FOLDS, CvPlan, default_lists, dev_plan

_LOG = logging.getLogger(__name__)

PLAN_FILE = "plan.json"
SETS = ("test", "test_room")


def build_cv_parser():
    p = build_parser()
    p.prog = "python -m genred.training.cv"
    p.description = ("Artist-grouped, genre-stratified k-fold cross-validation of a training recipe over the train + "
                     "valid tracks (--train-list / --valid-list, by default the two lists in --data). The training "
                     "flags are the recipe; --epochs is run in full in every fold (--patience is not used).")
    p.add_argument("--folds", type=int, default=DEFAULT_FOLDS,
                   help=f"k (default {DEFAULT_FOLDS}: GTZAN's blues has 4 artists, so k = 4 scores every genre in every fold)")
    p.add_argument("--fold-seed", type=int, default=1, help="seed of the fold assignment (independent of --seed)")
    p.add_argument("--fold", type=int, action="append", default=None,
                   help="run only this fold (0-based; repeatable); then --summarise gathers them")
    p.add_argument("--summarise", action="store_true", help="only gather the folds already run under --out")
    p.add_argument("--artists", type=Path, default=None, help="artist list (default: <data>/artists.tsv)")
    return p


# TrainConfig fields added after cross-validation folders were written: left out of the
# recipe at their off value, so that those folders still summarise (and match).
LATER_FIELDS = {"pool_p": 0.0, "tag_weight": 0.0}


def recipe(args) -> dict[str, Any]:
    """Everything that makes the folds' models what they are (a summary of folds trained
    with different recipes would be meaningless)."""
    config = {k: v for k, v in config_from_args(args).to_dict().items() if LATER_FIELDS.get(k, object()) != v}
    return {"config": config, "room_copies": args.room_copies, "teacher": args.teacher,
            "teacher_hears": args.teacher_hears if args.teacher else None,
            **({"pool": str(args.pool)} if args.pool is not None else {})}


def load_plan(args) -> tuple[Any, list, CvPlan, dict[str, Any]]:
    train_list, valid_list = default_lists(args.data, args.train_list, args.valid_list)
    lists = (str(train_list), str(valid_list))
    index, tracks, plan = dev_plan(args.data, args.folds, args.fold_seed, args.artists, lists)
    desc = {
        "data": str(args.data), "lists": list(lists), "folds": args.folds, "fold_seed": args.fold_seed,
        "tracks": len(tracks), "unscored": len(plan.unscored),
        "test_digest": hashlib.sha1(json.dumps([f.test for f in plan.folds]).encode()).hexdigest()[:12],
        "recipe": recipe(args),
    }
    return index, tracks, plan, desc


def check_plan(out: Path, desc: dict[str, Any]) -> None:
    """A CV folder holds one plan and one recipe; a fold of another is refused."""
    path = out / PLAN_FILE
    desc = json.loads(json.dumps(desc))  # as it reads back
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != desc:
            changed = sorted(k for k in set(old) | set(desc) if old.get(k) != desc.get(k))
            raise GenredError(f"{out}: holds a cross-validation with another {', '.join(changed)}; "
                              f"use a new --out (or the same flags as before)")
        return
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(desc, indent=1) + "\n", encoding="utf-8")


def dev_offset_db(tracks, labels, setup) -> float:
    """The teacher's input level from all dev audio (no labels): one level for every
    fold, so the folds share the teacher's cached embeddings."""
    from .features import FeatureExtractor
    from .steps import build_items
    from .teacher import typical_offset_db

    ex = FeatureExtractor(setup.front_end, setup.cache_dir, setup.room)
    items, _ = build_items(list(tracks), labels, ex, setup.window, 0, setup.workers)
    return typical_offset_db([it.variants[0] for it in items], setup.front_end, setup.window)


def run_fold(args, index, tracks, plan: CvPlan, i: int) -> Path:
    """Train fold ``i`` on the other folds, export int8, save its test outputs."""
    from .steps import DataSplit, Setup, raw_outputs
    from .student import StudentPlan, TeacherPlan, student_step
    from .train import set_determinism

    t0 = time.perf_counter()
    cfg = config_from_args(args)
    setup = Setup(cache_dir=None if str(args.cache) == "none" else args.cache, workers=args.workers, threads=args.threads)
    set_determinism(cfg.seed, args.threads)
    fold, by_key, labels = plan.folds[i], {t.key: t for t in tracks}, index.labels
    _LOG.info("fold %d/%d: %d train, %d test tracks", i, len(plan.folds), len(fold.train), len(fold.test))
    split = DataSplit(args.data, labels, tuple(by_key[k] for k in fold.train), tuple(by_key[k] for k in fold.test),
                      f"cross-validation fold {i} of {len(plan.folds)} (fold seed {plan.seed})")
    teacher_plan = None
    if args.teacher:
        teacher_plan = TeacherPlan(hears=args.teacher_hears, offset_db=dev_offset_db(tracks, labels, setup), pool=args.pool)
    folder = args.out / f"fold_{i}"
    student_plan = StudentPlan(cfg, args.room_copies, SETS, teacher_plan, select=False, name=f"{args.name}-cv-fold{i}",
                               representative_n=300)
    student = student_step(split, setup, student_plan, folder / "model.tflite")
    feats, teacher, fitted = student.features, student.teacher, student.fitted
    arrays: dict[str, np.ndarray] = {}
    for name, ev in feats.sets.items():
        arrays.update({
            f"{name}__raw": raw_outputs(student.classifier, ev.x), f"{name}__item": ev.item, f"{name}__level_db": ev.level_db,
            f"{name}__start_frame": ev.start_frame,
            f"{name}__keys": np.array([t.key for t in ev.items]), f"{name}__kinds": np.array(ev.item_kind),
            f"{name}__float_item_probs": fitted.float_scores[name]["item_probs"].astype(np.float32),
        })
        if teacher is not None:
            arrays[f"{name}__teacher_item_probs"] = teacher.scores[name]["item_probs"].astype(np.float32)
    np.savez_compressed(folder / "outputs.npz", **arrays)
    info = {
        "fold": i, "folds": len(plan.folds), "train_tracks": len(student.items), "test_tracks": len(fold.test),
        "unreadable": [f for f, _ in feats.failed], "epochs": len(fitted.result.history),
        "history": fitted.result.history, "train_wall_s": round(fitted.result.wall_s, 1),
        "features_wall_s": round(feats.wall_s, 1), "wall_s": round(time.perf_counter() - t0, 1),
        "teacher": None if teacher is None else teacher.info, "metadata": student.exported.meta.to_dict(),
    }
    (folder / "fold.json").write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
    _LOG.info("fold %d done in %.0f s: %s", i, info["wall_s"], folder)
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = build_cv_parser()
    args = parser.parse_args(argv)
    if args.all_dev or args.temperature is not None or args.smoothing is not None:
        parser.error("--all-dev, --temperature and --smoothing are for the final build: a CV chooses them per fold")
    check_args(parser, args)
    if args.folds < 2:
        parser.error(f"--folds must be >= 2, not {args.folds}")
    if args.fold and any(not 0 <= f < args.folds for f in args.fold):
        parser.error(f"--fold must be in 0..{args.folds - 1}")
    if args.fold and args.summarise:
        parser.error("give --fold or --summarise, not both")
    setup_logging(args.verbose)

    def run() -> None:
        index, tracks, plan, desc = load_plan(args)
        check_plan(args.out, desc)
        if not args.summarise:
            for i in args.fold or range(args.folds):
                run_fold(args, index, tracks, plan, i)
        if args.summarise or not args.fold:
            from .cv_summary import summarise

            summarise(args.out, index, tracks, plan, desc, back_to_back=args.smoothing_fit == BACK_TO_BACK)

    return run_command("cv", run, args.debug)


if __name__ == "__main__":
    sys.exit(main())
