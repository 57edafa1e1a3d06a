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

from . import SHIPPED_MODELS, __version__, resolve_model

_LOG = logging.getLogger(__name__)



def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 60:
        raise argparse.ArgumentTypeError(f"must be in (0, 60] seconds, got {value}")
    return value


_MODEL_HELP = (f"a shipped model ({', '.join(SHIPPED_MODELS)}) or a model .tflite with its .json beside it "
               "(default: default)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genred", description="Recognise the genre of the music that is playing."
    )
    parser.add_argument("--version", action="version", version=f"genred {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", default=None, help=_MODEL_HELP)
        p.add_argument("--hop", type=_positive_float, default=None, metavar="SECONDS",
                       help="seconds between windows (default: the model's, ~1 s)")

    p = sub.add_parser("replay", help="classify audio files through the live code path")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio files (WAV, FLAC, OGG, MP3: what libsndfile reads)")
    model_option(p)
    p.add_argument("--format", choices=("jsonl", "text"), default="jsonl", help="output format (default jsonl)")
    p.add_argument("--realtime", action="store_true", help="pace the audio at real time, as a microphone would")

    p = sub.add_parser("evaluate", help="score a model on a split list of a GTZAN-layout folder")
    p.add_argument("--data", type=Path, required=True, help="folder with <genre>/, audio/<genre>/ or excerpts/<genre>/")
    p.add_argument("--split", type=Path, required=True, help="list of genre/name.ext lines")
    model_option(p)
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the scores as JSON")

    p = sub.add_parser("run", help="listen to the microphone and publish genres over MQTT (the service)")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML settings (default: /etc/genred/config.yaml if it exists, else built-in defaults)")
    p.add_argument("--source", default=None, help="'default', a device index or name part, or file:PATH")
    p.add_argument("--loop", action="store_true", default=None, help="file sources: start again at the end")
    p.add_argument("--device-id", default=None, help="name of this device in MQTT topics (default: host name)")
    p.add_argument("--mqtt-host", default=None, help="broker host (default localhost)")
    p.add_argument("--mqtt-port", type=int, default=None, help="broker port (default 1883)")
    p.add_argument("--no-mqtt", action="store_true", help="print genre changes only; no broker")
    p.add_argument("--model", default=None, help=_MODEL_HELP)
    p.add_argument("--hop", type=_positive_float, default=None, metavar="SECONDS", help="seconds between windows")

    p = sub.add_parser("check-config", help="validate a config file and print the effective settings")
    p.add_argument("config", type=Path, metavar="PATH")

    sub.add_parser("devices", help="list audio input devices")

    p = sub.add_parser("listen", help="show live states and events from the broker")
    p.add_argument("--config", type=Path, default=None,
                   help="a daemon's YAML settings: its broker, credentials, TLS and topic prefix (flags override)")
    p.add_argument("--host", default=None, help="broker host (default localhost)")
    p.add_argument("--port", type=int, default=None, help="broker port (default 1883)")
    p.add_argument("--username", default=None, help="broker user name (default: anonymous)")
    p.add_argument("--password-file", default=None, metavar="PATH", help="file holding the broker password")
    p.add_argument("--tls", action="store_true", default=None, help="connect with TLS (port 8883, usually)")
    p.add_argument("--ca-file", default=None, metavar="PATH", help="CA certificate for TLS (implies --tls; default: the system's)")
    p.add_argument("--device-id", default=None, help="one device (default: all)")
    p.add_argument("--topic-prefix", default=None, help="first topic level (default genred)")

    p = sub.add_parser("bench", help="measure speed, memory and start-up of the runtime path")
    p.add_argument("--seconds", type=float, default=120.0, help="seconds of audio (default 120)")
    p.add_argument("--threads", type=int, default=1, help="interpreter threads, and CPUs pinned (default 1)")
    p.add_argument("--file", type=Path, default=None, help="audio file (default: synthetic music-like stereo)")
    model_option(p)
    p.add_argument("--json", type=Path, default=None, metavar="OUT", help="also write the figures as JSON")

    p = sub.add_parser("train", help="train a model (needs the 'train' extra: TensorFlow)", add_help=False)
    p.add_argument("train_args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # `train` hands all its arguments (--help too) to the training CLI, which owns them.
    args, rest = parser.parse_known_args(argv)
    if args.command == "train":
        args.train_args = rest + list(args.train_args)
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
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
    except KeyboardInterrupt:  # before `run` installs its handler
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
        code: int = train_main(args.train_args)
        return code

    if args.command in ("run", "check-config", "devices", "listen"):
        return _dispatch_daemon(args)

    if args.command == "bench":
        from .bench.report import format_bench, write_json
        from .bench.run import run_bench

        result = run_bench(seconds=args.seconds, threads=args.threads, file=args.file, model=args.model, hop_s=args.hop)
        print(format_bench(result))
        if args.json is not None:
            write_json(result, args.json)
        return 0

    from genred.dsp.classifier import TfliteClassifier

    from .evaluate import evaluate, format_evaluation
    from .replay import replay

    classifier = TfliteClassifier.from_path(resolve_model(args.model))
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


def _run_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        "audio.source": args.source,
        "audio.loop": args.loop,
        "device_id": args.device_id,
        "mqtt.host": args.mqtt_host,
        "mqtt.port": args.mqtt_port,
        "mqtt.enabled": False if args.no_mqtt else None,
        "model": args.model,
        "hop_s": args.hop,
    }


def _dispatch_daemon(args: argparse.Namespace) -> int:
    from .config import DEFAULT_CONFIG_PATH, check_config, load_settings

    if args.command == "check-config":
        print(check_config(args.config), end="")
        return 0
    if args.command == "devices":
        from .audio import format_devices, list_devices

        print(format_devices(list_devices()))
        return 0
    if args.command == "listen":
        from .config import resolve_password
        from .mqtt.listen import listen

        mqtt = load_settings(args.config, {
            "mqtt.host": args.host, "mqtt.port": args.port, "mqtt.username": args.username,
            "mqtt.password_file": args.password_file, "mqtt.tls.enabled": True if args.tls or args.ca_file else None,
            "mqtt.tls.ca_file": args.ca_file, "mqtt.topic_prefix": args.topic_prefix,
        }).mqtt
        return listen(mqtt.host, mqtt.port, device_id=args.device_id, topic_prefix=mqtt.topic_prefix,
                      username=mqtt.username, password=resolve_password(mqtt), tls=mqtt.tls)

    import signal
    import threading

    from .service import Daemon

    path = args.config
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path = DEFAULT_CONFIG_PATH
    settings = load_settings(path, _run_overrides(args))
    if not args.verbose:
        logging.getLogger().setLevel(settings.log_level.upper())
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        _LOG.info("%s: stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return Daemon(settings).run(stop)


if __name__ == "__main__":
    sys.exit(main())
