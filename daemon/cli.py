"""The `genred` command: parses arguments, sets up logging, calls the library.

Bad input (a file, a model, a list) ends as one line on stderr naming the thing and
what to do; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from genred.dsp.errors import GenredError, one_line

from . import __version__

_LOG = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default" / "model.tflite"


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be in (0, 60] seconds, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genred", description="Recognise the genre of the music that is playing."
    )
    parser.add_argument("--version", action="version", version=f"genred {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", type=Path, default=DEFAULT_MODEL,
                       help="model .tflite (its .json beside it); default: the shipped model")
        p.add_argument("--hop", type=_positive_float, default=None, metavar="SECONDS",
                       help="seconds between windows (default: the model's, ~1 s)")

    p = sub.add_parser("replay", help="classify audio files through the live code path")
    p.add_argument("files", nargs="+", metavar="FILE", help="WAV, FLAC or OGG files")
    model_option(p)
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="output format (default jsonl)")
    p.add_argument("--realtime", action="store_true", help="pace the audio at real time, as a microphone would")

    p = sub.add_parser("evaluate", help="score a model on a split list of a GTZAN-layout folder")
    p.add_argument("--data", type=Path, required=True, help="folder with <genre>/, audio/<genre>/ or excerpts/<genre>/")
    p.add_argument("--split", type=Path, required=True, help="list of genre/name.ext lines")
    model_option(p)
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the scores as JSON")

    p = sub.add_parser("train", help="train a model (needs the 'train' extra: TensorFlow)", add_help=False)
    p.add_argument("train_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if args.verbose else "genred: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _dispatch(args)
    except GenredError as exc:
        if args.debug:
            raise
        _LOG.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `genred replay ... | head`
        return 0
    except Exception as exc:
        if args.debug:
            raise
        _LOG.error("internal error: %s (run with --debug for the traceback)", one_line(exc))
        return 1


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "train":
        # TensorFlow only ever loads here, never for the device's commands.
        try:
            from genred.training.cli import main as train_main
        except ImportError as exc:
            raise GenredError(
                f"training needs the 'train' extra ({one_line(exc)}); install it with: pip install 'genred[train]'"
            ) from None
        return train_main(args.train_args)

    from genred.dsp.classifier import TfliteClassifier

    from .replay import evaluate, format_evaluation, replay

    classifier = TfliteClassifier.from_path(args.model)
    if args.command == "replay":
        failed = replay(args.files, classifier, sys.stdout, fmt=args.format, hop_s=args.hop, realtime=args.realtime)
        if failed:
            _LOG.error("%d of %d files failed", failed, len(args.files))
            return 1
        return 0
    if args.command == "evaluate":
        result = evaluate(args.data, args.split, classifier, hop_s=args.hop)
        print(format_evaluation(result))
        if args.json is not None:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
