"""`python -m genred.training.detector_cli {cv,summary,build}`: the music detector's
cross-validation and the shipped build.

    cv --fold N     train on the other folds, score fold N (clean and room), save its scores
    summary         gather the folds' scores, replay them through the smoother, print/write
    build           train on every clip, export music.tflite into a bundle, declare it in model.json
    attach          copy the detector of --genre-model (its file, gate settings, report) into --out
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from genred.dsp.errors import GenredError

from .detector import RECIPES
from .models import ARCHITECTURES

_LOG = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m genred.training.detector_cli",
                                description="Train and cross-validate the music / not-music detector.")
    p.add_argument("command", choices=("cv", "summary", "build", "attach"))
    p.add_argument("--data", type=Path, default=Path("../shared/data/gtzan"), help="GTZAN folder (music)")
    p.add_argument("--nonmusic", type=Path, default=Path("../shared/data/nonmusic"), help="real speech and noise")
    p.add_argument("--speech", type=Path, default=None, help="synthetic speech folder (make speech) with SOURCES.tsv")
    p.add_argument("--pool", type=Path, default=None, help="a folder of unlabelled music (make pool)")
    p.add_argument("--sounds", type=Path, default=None,
                   help="recorded effects and voices (make sounds) with SOURCES.tsv: trained on, never scored")
    p.add_argument("--synth-noise", type=int, default=0, help="synthetic noise clips per kind (0: none)")
    p.add_argument("--mixes", type=int, default=150, help="music-under-talk/noise mixes scored per fold (3x that trained on; build: 4x)")
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--fold", type=int, default=None, help="cv: the fold to score (default: all, one after another)")
    p.add_argument("--fold-names", nargs="*", default=[], help="summary: only these folds (e.g. fold2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--recipe", choices=tuple(RECIPES), default="shipped",
                   help="what a training batch is made of (detector.RECIPES; room: more room copies, "
                   "talk in noise / noise over noise on the not-music side; room_speech: the same with plain speech kept "
                   "at half of the not-music windows; room_only: the room copies without the mixes; room_mix: room_only with music under talk/noise at 40 %% "
                   "of the music windows)")
    p.add_argument("--arch", choices=sorted(ARCHITECTURES), default=None,
                   help="the CNN (training.models; default: the recipe's, detector)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--out", type=Path, required=True, help="cv/summary: the run folder; build, attach: the bundle folder")
    p.add_argument("--genre-model", type=Path, default=None, help="the genre bundle scored with it (default: shipped); attach: the bundle whose detector is copied")
    p.add_argument("--cache", type=Path, default=Path(".cache") / "genred-detector")
    p.add_argument("--cv-summary", type=Path, default=None,
                   help="build: a summary.json of `summary`: its chosen gate settings and CV scores go into model.json")
    p.add_argument("--gate", nargs="*", default=[], metavar="KEY=VALUE",
                   help="build: music gate settings (music_on=0.6 ...), over those of --cv-summary; "
                   "summary: score these settings instead of choosing from the grid")
    p.add_argument("--debug", action="store_true")
    return p


# Not part of a build's recipe: where its caches live and how it logs.
_NOT_RECIPE = ("command", "cache", "debug")


def build_command(args: argparse.Namespace) -> str:
    """The `build` command line that remakes ``args``' detector, for its report: every
    option that differs from its default (so a new option cannot be left out), plus
    the data folders and --out."""
    parser = build_parser()
    parts = ["python -m genred.training.detector_cli build"]
    for key, value in vars(args).items():
        if key in _NOT_RECIPE or (value == parser.get_default(key) and key not in ("data", "nonmusic", "out")):
            continue
        items = value if isinstance(value, list) else [value]
        parts.append(" ".join([option(key), *map(str, items)]))
    return " ".join(parts)


def option(dest: str) -> str:
    """The flag of an option: every one is named ``--`` + its dest with dashes."""
    return "--" + dest.replace("_", "-")


def main(argv: list[str] | None = None) -> int:
    from .command import run_command, setup_logging
    from .detector_run import run

    args = build_parser().parse_args(argv)
    setup_logging(args.debug)
    return run_command("detector", lambda: run(args), args.debug, errors=(GenredError, OSError, ValueError))


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    _LOG.info("done in %.0f s", time.time() - t0)
    sys.exit(rc)
