"""`genred train ...` / `python -m genred.training ...`: parse, set up logging, run."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
from pathlib import Path


from .command import run_command, setup_logging
from .features import DEFAULT_CACHE_DIR
from .models import ARCHITECTURES, ModelSpec
from .smoothing_fit import CLIPS, FIT_MODES, parse_settings
from .train import TrainConfig

_LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="genred train",
        description="Train a genre model on a GTZAN-layout folder and write an int8 TFLite bundle with its report.",
    )
    p.add_argument("--data", type=Path, required=True,
                   help="folder with <genre>/ sub-folders, or audio/<genre>/ and excerpts/<genre>/")
    p.add_argument("--train-list", type=Path, default=None, help="tracks to fit (lines genre/name.ext)")
    p.add_argument("--valid-list", type=Path, default=None, help="tracks to select on")
    p.add_argument("--valid-fraction", type=float, default=0.3,
                   help="without lists: share of each genre's tracks held out for valid (split by track)")
    p.add_argument("--out", type=Path, required=True, help="folder for model.tflite, model.json and the report")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps", type=int, default=d.steps_per_epoch, help="batches per epoch")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.learning_rate)
    p.add_argument("--patience", type=int, default=d.patience, help="epochs without a better valid score before stopping")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=ModelSpec().name)
    p.add_argument("--room-copies", type=int, default=2, help="simulated-room copies of each train track")
    p.add_argument("--teacher", action="store_true",
                   help="distil the pretrained MSD_musicnn (pip install --no-deps musicnn==0.1.0) into the student")
    p.add_argument("--teacher-weight", type=float, default=d.teacher_weight,
                   help="share of the teacher's soft label in each target")
    p.add_argument("--teacher-hears", choices=("clean", "own"), default="clean",
                   help="label a room copy's window by the teacher's view of the clean audio (clean) or of the copy (own)")
    p.add_argument("--teacher-temperature", type=float, default=d.teacher_temperature,
                   help="softens the teacher's soft labels (> 1: more weight on its second choices)")
    p.add_argument("--pool", type=Path, default=None,
                   help="a folder of unlabelled music the student imitates the teacher on (make pool fills .cache/pool; "
                        "any music library works); needs --teacher")
    p.add_argument("--pool-share", type=float, default=0.25, help="share of the train windows drawn from --pool")
    p.add_argument("--tag-weight", type=float, default=d.tag_weight,
                   help="weight of a training-only output that learns the teacher's 50 MSD tags (0: none); needs --teacher")
    p.add_argument("--ema", type=float, default=d.ema_decay,
                   help="decay of the moving average of the weights that is scored and kept (0: off)")
    p.add_argument("--ensemble", type=int, default=d.ensemble,
                   help="train this many students (seeds seed, seed+1, ...) and ship the mean of their logits")
    p.add_argument("--mixup", type=float, default=d.mixup_p, help="share of windows mixed with another")
    p.add_argument("--warp", type=float, default=d.warp_p,
                   help="share of windows time-stretched (+-10 %%) and pitch-shifted (+-2 mel bins)")
    p.add_argument("--smoothing-fit", choices=FIT_MODES, default=CLIPS,
                   help="fit the smoothing on the scored full clips each as its own stream (clips), or on each "
                   "scored set's clips back to back, as the stream score plays them, so that a genre lingering after a "
                   "change costs (the valid sets in a build; the other folds' in a CV summary)")
    p.add_argument("--all-dev", action="store_true",
                   help="the final build of a recipe chosen by cross-validation: train on both lists for exactly "
                   "--epochs (no epoch picked), with the CV's --temperature and --smoothing; valid is then scored "
                   "in-sample")
    p.add_argument("--temperature", type=float, default=None,
                   help="the softmax temperature to ship (default: fitted on the valid sets)")
    p.add_argument("--smoothing", nargs="*", default=None, metavar="KEY=VALUE", action=_SettingsAction,
                   help="smoothing settings to ship, over the built-in defaults (default: fitted on the valid sets; "
                   "e.g. tau_s=4 switch_margin=0.2)")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE_DIR,
                   help="feature cache folder ('none' to disable)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="processes computing features")
    p.add_argument("--threads", type=int, default=1,
                   help="TensorFlow threads: 1 (default) gives the same model for the same seed, bit for bit; "
                        "2 trains faster, but the runs then differ in their last bits and drift apart")
    p.add_argument("--name", default="genred-gtzan-cnn", help="model name recorded in its metadata")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("--debug", action="store_true", help="tracebacks on errors")
    return p


def check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Ranges argparse cannot say; one line naming the flag (parser.error exits)."""
    if not 0.0 <= args.ema < 1.0:
        parser.error(f"--ema must be in [0, 1), not {args.ema}")
    if not args.teacher_temperature > 0:
        parser.error(f"--teacher-temperature must be > 0, not {args.teacher_temperature}")
    if not 0.0 <= args.teacher_weight <= 1.0:
        parser.error(f"--teacher-weight must be in [0, 1], not {args.teacher_weight}")
    if not 1 <= args.ensemble <= 8:
        parser.error(f"--ensemble must be 1..8, not {args.ensemble}")
    if not 1 <= args.threads <= 64:
        parser.error(f"--threads must be 1..64, not {args.threads}")
    if not 0.0 <= args.mixup <= 1.0:
        parser.error(f"--mixup must be in [0, 1], not {args.mixup}")
    if not 0.0 <= args.warp <= 1.0:
        parser.error(f"--warp must be in [0, 1], not {args.warp}")
    if not 0.0 <= args.pool_share < 1.0:
        parser.error(f"--pool-share must be in [0, 1), not {args.pool_share}")
    if not args.tag_weight >= 0:
        parser.error(f"--tag-weight must be >= 0, not {args.tag_weight}")
    if args.tag_weight > 0 and not args.teacher:
        parser.error("--tag-weight needs --teacher: the tags are the teacher's")
    if args.pool is not None and not args.teacher:
        parser.error("--pool needs --teacher: the teacher's opinions are the pool's only labels")
    check_given(parser, args)


class _SettingsAction(argparse.Action):
    """KEY=VALUE words parsed once, as the parser reads them: a bad one stops the command
    before any training, naming the flag and the key."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, parse_settings(list(values), option_string or self.dest))
        except ValueError as e:
            parser.error(str(e))


def check_given(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """The settings a final build takes from a cross-validation instead of fitting them."""
    if args.temperature is not None and not args.temperature > 0:
        parser.error(f"--temperature must be > 0, not {args.temperature}")
    if args.all_dev and (args.temperature is None or args.smoothing is None):
        parser.error("--all-dev needs --temperature and --smoothing (the CV's): nothing held out is left to fit them on")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return dataclasses.replace(
        TrainConfig(), seed=args.seed, epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch_size,
        learning_rate=args.lr, patience=args.patience, mixup_p=args.mixup, model=ModelSpec(name=args.arch),
        teacher_weight=args.teacher_weight, teacher_temperature=args.teacher_temperature, ema_decay=args.ema,
        ensemble=args.ensemble, warp_p=args.warp, pool_p=args.pool_share if args.pool is not None else 0.0,
        tag_weight=args.tag_weight,
    )


def request_from_args(args: argparse.Namespace):
    from .core import TrainRequest

    return TrainRequest(
        data=args.data, out=args.out, train_list=args.train_list, valid_list=args.valid_list,
        valid_fraction=args.valid_fraction, config=config_from_args(args), room_copies=args.room_copies,
        cache_dir=None if str(args.cache) == "none" else args.cache, workers=args.workers, threads=args.threads, name=args.name,
        teacher=args.teacher, teacher_hears=args.teacher_hears, pool=args.pool, smoothing_fit=args.smoothing_fit,
        all_dev=args.all_dev, temperature=args.temperature,
        smoothing=args.smoothing,
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    setup_logging(args.verbose)
    from .core import run_training

    def run() -> None:
        v = run_training(request_from_args(args))["valid"]["int8"]
        _LOG.info("valid (int8): track accuracy %.1f %%, track macro recall %.1f %%, window accuracy %.1f %%",
                  100 * v["track_accuracy"], 100 * v["track_macro_recall"], 100 * v["window_accuracy"])

    return run_command("train", run, args.debug)
