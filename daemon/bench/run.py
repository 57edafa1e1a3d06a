"""`run_bench`: the whole benchmark, its figures (the keys of `genred bench --json`)
and the targets beside them."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from genred.dsp.errors import AudioError, GenredError

from ..settings import AudioSettings
from .child import run_child
from .inputs import audio_blocks, audio_source
from .machine import machine, pinned
from .measure import measure_pipeline
from .reference import compare, reference_or_why_not

_LOG = logging.getLogger(__name__)

BLOCK_S = AudioSettings().block_s  # the daemon's block: what capture and replay hand the pipeline
DEFAULT_SECONDS = 120.0
MAX_SECONDS = 3600.0

# Targets of the issue, printed beside the figures.
TARGET_REALTIME_FACTOR = 300.0
TARGET_REFERENCE_RATIO = 10.0
TARGET_RSS_MB = 120.0
TARGET_STARTUP_S = 0.5  # first decision <= window length + this


def run_bench(
    seconds: float = DEFAULT_SECONDS,
    threads: int = 1,
    file: str | Path | None = None,
    model: str | Path | None = None,
    hop_s: float | None = None,
    reference: bool = True,
) -> dict[str, Any]:
    """Measure the runtime path; returns the figures (the keys of `genred bench --json`).

    Raises GenredError (one line) for a bad file, model or argument.
    """
    from genred.dsp.bundle import load_metadata

    from .. import resolve_model

    if not (isinstance(seconds, (int, float)) and 0 < seconds <= MAX_SECONDS):
        raise GenredError(f"bench: --seconds must be in (0, {MAX_SECONDS:.0f}], got {seconds}")
    if not (isinstance(threads, int) and 1 <= threads <= 64):
        raise GenredError(f"bench: --threads must be 1..64, got {threads}")
    file = None if file is None else Path(file)
    bundle = load_metadata(resolve_model(model))
    model_path = bundle.tflite_path
    rate, audio_s, audio_desc = audio_source(file, float(seconds))
    fe, win = bundle.metadata.front_end, bundle.metadata.window
    window_s = ((win.window_frames - 1) * fe.hop_length + fe.n_fft) / fe.sample_rate_hz
    if audio_s < window_s + 0.5:
        what = f"audio {file}" if file is not None else "bench"
        raise AudioError(f"{what}: {audio_s:.2f} s of audio is too short; need at least {window_s + 0.5:.1f} s "
                         "(one window and the resampler's delay)")

    _LOG.info("bench: %.1f s of %s", audio_s, audio_desc)
    blocks = list(audio_blocks(file, audio_s, rate, BLOCK_S))
    with pinned(threads) as cpus:
        _LOG.info("bench: the runtime path (%d thread%s%s)", threads, "" if threads == 1 else "s",
                  f", pinned to CPU {','.join(map(str, cpus))}" if cpus else ", not pinned")
        ours = measure_pipeline(blocks, rate, model_path, threads, hop_s)
        ref, ref_skipped = reference_or_why_not(reference, blocks, rate, model_path, threads, ours["hop_frames"])
    del blocks
    _LOG.info("bench: start-up and memory in a fresh process")
    child = run_child(file, audio_s, model_path, threads, hop_s, BLOCK_S)
    if child["heavy_modules"]:
        raise GenredError(f"bench: the runtime path imported {', '.join(child['heavy_modules'])}")

    rtf = audio_s / ours["cpu_s"] if ours["cpu_s"] > 0 else math.inf
    result: dict[str, Any] = {
        "realtime_factor": rtf,
        "realtime_factor_wall": audio_s / ours["wall_s"] if ours["wall_s"] > 0 else math.inf,
        "cpu_s": ours["cpu_s"],
        "wall_s": ours["wall_s"],
        "reference_ratio": None,
        "reference": None,
        "reference_skipped": ref_skipped,
        "rss_mb": child["rss_mb"],
        "rss_source": child["rss_source"],
        "rss_ru_maxrss_mb": child["ru_maxrss_mb"],
        "startup_s": child["startup_s"],
        "first_decision_s": window_s + child["startup_s"],
        "startup": {k: child[k] for k in ("interpreter_s", "import_s", "model_load_s", "first_window_s")},
        "cpu_ms_per_window": ours["cpu_s"] * 1e3 / ours["windows"] if ours["windows"] else float("nan"),
        "window_ms_p50": ours["window_ms_p50"],
        "window_ms_p95": ours["window_ms_p95"],
        "window_wall_ms_p50": ours["window_wall_ms_p50"],
        "window_wall_ms_p95": ours["window_wall_ms_p95"],
        "model_ms_p50": ours["model_ms_p50"],
        "model_ms_p95": ours["model_ms_p95"],
        "stage_share": ours["stage_share"],
        "stage_s": ours["stage_s"],
        "audio_s": audio_s,
        "audio": audio_desc,
        "input_rate_hz": rate,
        "block_s": BLOCK_S,
        "window_s": window_s,
        "hop_s": ours["hop_s"],
        "windows": ours["windows"],
        "threads": threads,
        "pinned_cpus": cpus,
        "model": {"path": str(model_path), "name": ours["name"]},
        "music_detector": ours["music_detector"],
        "machine": machine(),
    }
    if ref is not None:
        result["reference_ratio"], result["reference"] = compare(ref, ours, audio_s, rtf)
    first_limit = window_s + TARGET_STARTUP_S
    result["targets"] = {
        "realtime_factor": {"op": ">=", "limit": TARGET_REALTIME_FACTOR, "pass": rtf >= TARGET_REALTIME_FACTOR},
        "reference_ratio": {
            "op": ">=",
            "limit": TARGET_REFERENCE_RATIO,
            "pass": None if ref is None else result["reference_ratio"] >= TARGET_REFERENCE_RATIO,
        },
        "rss_mb": {"op": "<=", "limit": TARGET_RSS_MB, "pass": child["rss_mb"] <= TARGET_RSS_MB},
        "first_decision_s": {"op": "<=", "limit": first_limit, "pass": result["first_decision_s"] <= first_limit},
    }
    return result
