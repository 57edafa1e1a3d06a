"""Start-up and memory, measured in a fresh process that imports only the runtime path
(no TensorFlow, no librosa): ``python -m genred.daemon.bench --child ...``, started by
`run_child`. Its peak RSS over the whole run, and its start-up: from the process's spawn
to the first decision, with one window of audio already there. Its imports stay light
(the child's start-up is part of what it measures): the block length comes on its
command line."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from genred.dsp.errors import GenredError

from .inputs import audio_blocks, audio_source

CHILD_TIMEOUT_S = 600


def run_child(
    file: Path | None, seconds: float, model: Path, threads: int, hop_s: float | None, block_s: float
) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "genred.daemon.bench", "--child", "--seconds", repr(seconds),
           "--model", str(model), "--threads", str(threads), "--block", repr(block_s)]
    if hop_s is not None:
        cmd += ["--hop", repr(hop_s)]
    if file is not None:
        cmd += ["--file", str(file)]
    spawned = time.time()
    proc = subprocess.run(cmd + ["--spawned-at", repr(spawned)], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise GenredError(f"bench: the measuring child process failed ({lines[-1] if lines else proc.returncode})")
    figures: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


def _vm_hwm_mb() -> float | None:
    """Peak resident set of this process image (Linux /proc), or None."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    return None


def _child(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: start-up to the first decision, then the rest of the audio,
    then the peak RSS. Imports only the runtime path."""
    import resource

    file = Path(args.file) if args.file else None
    rate, seconds, _ = audio_source(file, args.seconds)
    blocks = audio_blocks(file, seconds, rate, args.block)
    # One window of audio (and a little more for the resampler's delay) already there.
    g0 = time.time()
    ready = list(itertools.islice(blocks, int(4.0 / args.block)))
    gen_s = time.time() - g0

    t0 = time.time()
    from genred.dsp.classifier import TfliteClassifier
    from genred.dsp.pipeline import Pipeline

    t_imported = time.time()
    pipeline = Pipeline(TfliteClassifier.from_path(args.model, num_threads=args.threads), rate, hop_s=args.hop)
    t_loaded = time.time()
    windows = 0
    t_first = None
    for block in ready:
        windows += len(pipeline.process(block))
        if windows and t_first is None:
            t_first = time.time()
    ready.clear()
    for block in blocks:
        windows += len(pipeline.process(block))
        if windows and t_first is None:  # only with a window longer than 4 s
            t_first = time.time()
    if t_first is None:
        raise GenredError("bench: no window was completed")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    maxrss_mb = peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux
    # On Linux ru_maxrss survives exec(): a child spawned by a big parent starts with the
    # parent's peak. VmHWM is this process image's own peak; use it where there is one.
    hwm_mb = _vm_hwm_mb()
    rss_mb = maxrss_mb if hwm_mb is None else hwm_mb
    before = t0 - args.spawned_at - gen_s  # interpreter, numpy and this module
    return {
        "rss_mb": rss_mb,
        "rss_source": "VmHWM" if hwm_mb is not None else "ru_maxrss",
        "ru_maxrss_mb": maxrss_mb,
        "startup_s": t_first - args.spawned_at - gen_s,
        "interpreter_s": before,
        "import_s": t_imported - t0,
        "model_load_s": t_loaded - t_imported,
        "first_window_s": t_first - t_loaded,
        "windows": windows,
        "heavy_modules": sorted(m for m in ("tensorflow", "librosa", "keras", "torch") if m in sys.modules),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genred.daemon.bench")
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hop", type=float, default=None)
    parser.add_argument("--block", type=float, required=True)
    parser.add_argument("--file", default=None)
    parser.add_argument("--spawned-at", type=float, required=True)
    args = parser.parse_args(argv)
    try:
        out = _child(args)
    except GenredError as exc:
        print(f"genred bench child: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(out))
    return 0
