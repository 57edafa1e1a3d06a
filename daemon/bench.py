"""`genred bench`: speed, memory and start-up of the runtime path, with a reference.

What is measured (docs/performance.md says it at length):

- the daemon's own path, `Pipeline(TfliteClassifier.from_path(model, num_threads), rate,
  hop)` fed 0.1 s blocks as the capture feeds it: CPU seconds of the process
  (`time.process_time`) for the audio, the share of each stage, and per window the
  cost of the `process()` call that emitted it;
- a reference built the way published notebooks do it: the whole audio resampled once
  with librosa, then at every hop `librosa.feature.melspectrogram` + `power_to_db` on
  the whole window, then the model (our int8 model, through the same interpreter:
  the ratio isolates the front-end design);
- in a fresh child process that imports only the runtime path (no TensorFlow, no
  librosa): its peak RSS over the whole run, and its start-up: from the process's
  spawn to the first decision, with one window of audio already there.

This module is also the child: ``python -m genred.daemon.bench --child ...``. Its
top-level imports stay light (the child's start-up is part of what it measures).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.errors import AudioError, GenredError, one_line

_LOG = logging.getLogger(__name__)

BLOCK_S = 0.1  # the capture's block (AudioSettings.block_s, FileSource's block_s)
SYNTH_RATE_HZ = 44100
DEFAULT_SECONDS = 120.0
MAX_SECONDS = 3600.0
CHILD_TIMEOUT_S = 600

# Targets of the issue, printed beside the figures.
TARGET_REALTIME_FACTOR = 300.0
TARGET_REFERENCE_RATIO = 10.0
TARGET_RSS_MB = 120.0
TARGET_STARTUP_S = 0.5  # first decision <= window length + this

# -- synthetic audio -----------------------------------------------------------------------

# A, E, F#m, D (I-V-vi-IV), two seconds each; a noise burst (a drum) every half second.
_CHORDS_HZ = np.array(
    [
        [220.00, 277.18, 329.63],
        [164.81, 207.65, 246.94],
        [185.00, 220.00, 277.18],
        [146.83, 185.00, 220.00],
    ]
)
_CHORD_S = 2.0
_BEAT_S = 0.5


def synthetic_block(start: int, frames: int, rate_hz: int = SYNTH_RATE_HZ, seed: int = 0) -> np.ndarray:
    """Samples ``[start, start + frames)`` of a deterministic music-like stereo signal,
    (frames, 2) float32: chords with a bass and overtones, a decaying noise burst every
    half second, a little steady noise.

    Each sample depends only on its index (the noise of each beat is seeded by the beat
    number), so any cut into blocks gives the same signal.
    """
    idx = start + np.arange(frames, dtype=np.int64)
    t = idx / rate_hz
    chord = _CHORDS_HZ[(idx // int(_CHORD_S * rate_hz)) % len(_CHORDS_HZ)]  # (frames, 3)
    left = np.zeros(frames)
    right = np.zeros(frames)
    for k in range(3):
        f = chord[:, k]
        tone = 0.10 * np.sin(2 * np.pi * f * t) + 0.03 * np.sin(4 * np.pi * f * t) + 0.015 * np.sin(6 * np.pi * f * t)
        left += tone * (1.2 - 0.2 * k)
        right += tone * (0.8 + 0.2 * k)
    bass = 0.15 * np.sin(np.pi * chord[:, 0] * t)
    beat_len = int(_BEAT_S * rate_hz)
    noise = np.empty(frames)
    for beat in range(start // beat_len, (start + frames - 1) // beat_len + 1):
        lo, hi = max(start, beat * beat_len), min(start + frames, (beat + 1) * beat_len)
        burst = np.random.default_rng((seed, beat)).standard_normal(beat_len)
        noise[lo - start : hi - start] = burst[lo - beat * beat_len : hi - beat * beat_len]
    drum = noise * (0.35 * np.exp(-30.0 * (idx % beat_len) / rate_hz) + 0.01)
    out = np.stack((left + bass + drum, right + bass + 0.9 * drum), axis=1)
    return np.clip(0.6 * out, -1.0, 1.0).astype(np.float32)


def _synthetic_blocks(seconds: float, rate_hz: int, seed: int = 0) -> Iterator[np.ndarray]:
    total = round(seconds * rate_hz)
    block = max(1, int(BLOCK_S * rate_hz))
    for start in range(0, total, block):
        yield synthetic_block(start, min(block, total - start), rate_hz, seed)


def _file_blocks(path: Path, seconds: float) -> Iterator[np.ndarray]:
    """The first ``seconds`` of a file in the capture's blocks, read as it goes."""
    from genred.dsp.audio import audio_info, iter_blocks

    info = audio_info(path)
    total = round(seconds * info.sample_rate_hz)
    done = 0
    for block in iter_blocks(path, max(1, int(BLOCK_S * info.sample_rate_hz))):
        if done >= total:
            return
        block = block[: total - done]
        done += block.shape[0]
        yield block


def _audio_source(file: Path | None, seconds: float) -> tuple[int, float, str]:
    """(rate, seconds used, description) of the benchmark's audio; AudioError if bad."""
    if file is None:
        return SYNTH_RATE_HZ, seconds, f"synthetic music-like stereo, {SYNTH_RATE_HZ} Hz (chords + noise bursts)"
    from genred.dsp.audio import audio_info

    info = audio_info(file)
    used = min(seconds, info.duration_s)
    return info.sample_rate_hz, used, f"{file} ({info.channels} ch, {info.sample_rate_hz} Hz, first {used:.1f} s)"


def _blocks(file: Path | None, seconds: float, rate_hz: int) -> Iterator[np.ndarray]:
    return _synthetic_blocks(seconds, rate_hz) if file is None else _file_blocks(file, seconds)


# -- pinning ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _pinned(n_cpus: int) -> Iterator[list[int] | None]:
    """Pin every thread of this process (and those it starts) to ``n_cpus`` CPUs.

    Yields the CPUs, or None where pinning is not possible (no sched_setaffinity,
    fewer CPUs allowed than asked for). Restores the threads' affinities after.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    try:
        allowed = sorted(os.sched_getaffinity(0))
        tids = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:
        yield None
        return
    if n_cpus > len(allowed):
        yield None
        return
    cpus = set(allowed[-n_cpus:])
    saved: dict[int, set[int]] = {}
    for tid in tids:
        with contextlib.suppress(OSError):
            saved[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    try:
        yield sorted(cpus)
    finally:
        for tid, mask in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, mask)


# -- the measurements ------------------------------------------------------------------------


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1e3) if values else float("nan")


def _measure_pipeline(blocks: list[np.ndarray], rate_hz: int, model: Path, threads: int, hop_s: float | None) -> dict[str, Any]:
    from genred.dsp.classifier import TfliteClassifier
    from genred.dsp.pipeline import Pipeline

    classifier = TfliteClassifier.from_path(model, num_threads=threads)
    pipeline = Pipeline(classifier, rate_hz, hop_s=hop_s)
    window_cpu: list[float] = []
    window_wall: list[float] = []
    model_ms: list[float] = []
    predictions: list[int] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for block in blocks:
        c, w = time.process_time(), time.perf_counter()
        results = pipeline.process(block)
        if results:
            dc, dw = time.process_time() - c, time.perf_counter() - w
            window_cpu += [dc / len(results)] * len(results)
            window_wall += [dw / len(results)] * len(results)
            model_ms += [r.inference_ms for r in results]
            predictions += [int(np.argmax(r.probabilities)) for r in results]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    # No flush(): a live stream never ends, and flush() resets the stage times.
    st = pipeline.times
    stages = {"resample": st.resample_s, "front_end": st.front_end_s, "model": st.model_s}
    if pipeline.music_detector is not None:
        stages["music_detector"] = st.music_s
    stages["smoothing"] = st.smoothing_s
    total = sum(stages.values()) or 1.0
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "windows": len(predictions),
        "predictions": predictions,
        "hop_s": pipeline.hop_s,
        "hop_frames": pipeline.hop_frames,
        "window_s": pipeline.window_s,
        "window_ms_p50": _percentile_ms(window_cpu, 50),
        "window_ms_p95": _percentile_ms(window_cpu, 95),
        "window_wall_ms_p50": _percentile_ms(window_wall, 50),
        "window_wall_ms_p95": _percentile_ms(window_wall, 95),
        "model_ms_p50": float(np.percentile(model_ms, 50)) if model_ms else float("nan"),
        "model_ms_p95": float(np.percentile(model_ms, 95)) if model_ms else float("nan"),
        "stage_s": stages,
        "stage_share": {k: v / total for k, v in stages.items()},
        "name": classifier.metadata.name,
        "music_detector": None if pipeline.music_detector is None else str(pipeline.music_detector.path),
    }


def _measure_reference(
    blocks: list[np.ndarray], rate_hz: int, model: Path, threads: int, hop_frames: int
) -> dict[str, Any]:
    """The notebook way: librosa resampling of the whole audio once, then at every hop
    librosa's mel spectrogram and dB of the whole window, then the model."""
    import librosa
    import scipy.signal  # noqa: F401  librosa loads it lazily: keep that import out of the timed part

    from genred.dsp.classifier import TfliteClassifier
    from genred.dsp.resample import to_mono
    from genred.dsp.windows import normalise_window, window_level_db

    classifier = TfliteClassifier.from_path(model, num_threads=threads)
    meta = classifier.metadata
    fe, win = meta.front_end, meta.window
    audio = np.concatenate([to_mono(b) for b in blocks])  # the file as loaded: not timed
    window_samples = (win.window_frames - 1) * fe.hop_length + fe.n_fft
    hop_samples = hop_frames * fe.hop_length
    predictions: list[int] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    y = librosa.resample(audio, orig_sr=rate_hz, target_sr=fe.sample_rate_hz)
    for start in range(0, y.size - window_samples + 1, hop_samples):
        mel = librosa.feature.melspectrogram(
            y=y[start : start + window_samples], sr=fe.sample_rate_hz, n_fft=fe.n_fft, hop_length=fe.hop_length,
            window="hann", center=False, power=fe.power, n_mels=fe.n_mels, fmin=fe.fmin_hz, fmax=fe.fmax_hz,
            htk=fe.mel_scale == "htk", norm=fe.mel_norm,
        )
        frames = librosa.power_to_db(mel, ref=1.0, amin=fe.amin, top_db=None).T.astype(np.float32)
        level = window_level_db(frames, fe)
        probs = classifier.predict(normalise_window(frames, level, fe, win))
        predictions.append(int(np.argmax(probs)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {"cpu_s": cpu, "wall_s": wall, "windows": len(predictions), "predictions": predictions,
            "librosa": librosa.__version__}


def _run_child(file: Path | None, seconds: float, model: Path, threads: int, hop_s: float | None) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "genred.daemon.bench", "--child", "--seconds", repr(seconds),
           "--model", str(model), "--threads", str(threads)]
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
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
    rate, seconds, _ = _audio_source(file, args.seconds)
    blocks = _blocks(file, seconds, rate)
    # One window of audio (and a little more for the resampler's delay) already there.
    g0 = time.time()
    ready = [b for _, b in zip(range(int(4.0 / BLOCK_S)), blocks)]
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


# -- the whole benchmark -------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    cpu_model = platform.processor() or None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpus_allowed": allowed,
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "load_average": load,
    }


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

    from . import resolve_model

    if not (isinstance(seconds, (int, float)) and 0 < seconds <= MAX_SECONDS):
        raise GenredError(f"bench: --seconds must be in (0, {MAX_SECONDS:.0f}], got {seconds}")
    if not (isinstance(threads, int) and 1 <= threads <= 64):
        raise GenredError(f"bench: --threads must be 1..64, got {threads}")
    file = None if file is None else Path(file)
    bundle = load_metadata(resolve_model(model))
    model_path = bundle.tflite_path
    rate, audio_s, audio_desc = _audio_source(file, float(seconds))
    fe, win = bundle.metadata.front_end, bundle.metadata.window
    window_s = ((win.window_frames - 1) * fe.hop_length + fe.n_fft) / fe.sample_rate_hz
    if audio_s < window_s + 0.5:
        what = f"audio {file}" if file is not None else "bench"
        raise AudioError(f"{what}: {audio_s:.2f} s of audio is too short; need at least {window_s + 0.5:.1f} s "
                         "(one window and the resampler's delay)")

    _LOG.info("bench: %.1f s of %s", audio_s, audio_desc)
    blocks = list(_blocks(file, audio_s, rate))
    with _pinned(threads) as cpus:
        _LOG.info("bench: the runtime path (%d thread%s%s)", threads, "" if threads == 1 else "s",
                  f", pinned to CPU {','.join(map(str, cpus))}" if cpus else ", not pinned")
        ours = _measure_pipeline(blocks, rate, model_path, threads, hop_s)
        ref: dict[str, Any] | None = None
        ref_skipped = None
        if reference:
            try:
                import librosa  # noqa: F401
            except ImportError as exc:
                ref_skipped = f"librosa is not installed ({one_line(exc)})"
            else:
                _LOG.info("bench: the librosa reference")
                ref = _measure_reference(blocks, rate, model_path, threads, ours["hop_frames"])
        else:
            ref_skipped = "not asked for"
    del blocks
    _LOG.info("bench: start-up and memory in a fresh process")
    child = _run_child(file, audio_s, model_path, threads, hop_s)
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
        "machine": _machine(),
    }
    if ref is not None:
        ref_rtf = audio_s / ref["cpu_s"] if ref["cpu_s"] > 0 else math.inf
        n = min(len(ref["predictions"]), len(ours["predictions"]))
        agree = sum(a == b for a, b in zip(ref["predictions"][:n], ours["predictions"][:n]))
        result["reference_ratio"] = rtf / ref_rtf
        result["reference"] = {
            "realtime_factor": ref_rtf,
            "cpu_s": ref["cpu_s"],
            "wall_s": ref["wall_s"],
            "windows": ref["windows"],
            "top1_agreement": agree / n if n else None,
            "librosa": ref["librosa"],
            "method": "librosa.resample of the whole audio once; per hop librosa.feature.melspectrogram + "
                      "power_to_db of the whole window; the same int8 model through the same interpreter",
        }
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


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "MISS")


def format_bench(r: dict[str, Any]) -> str:
    """A readable table of `run_bench`'s figures, targets beside them."""
    m = r["machine"]
    pin = f"pinned to CPU {','.join(map(str, r['pinned_cpus']))}" if r["pinned_cpus"] else "not pinned"

    def row(name: str, key: str, value: str, unit: str, fmt: str) -> str:
        t = r["targets"][key]
        target = f"{t['op']} {format(t['limit'], fmt)}{unit}"
        return f"  {name:<36}{value:>10}   {target:<12} {_verdict(t['pass'])}"

    ref = r["reference"]
    lines = [
        f"genred bench: {r['audio_s']:.1f} s of {r['audio']}",
        f"  model {r['model']['name']} ({r['model']['path']})"
        + (f", music detector {r['music_detector']}" if r.get("music_detector") else ", no music detector"),
        (
            f"  window {r['window_s']:.3f} s, hop {r['hop_s']:.3f} s, {r['block_s']:g} s blocks, "
            f"{r['threads']} interpreter thread{'s' if r['threads'] != 1 else ''}, {pin}"
        ),
        (
            f"  machine: {m['cpu_model']}, {m['cpu_count']} CPUs, {m['platform']}, Python {m['python']}, "
            f"load average {m['load_average']}"
        ),
        "",
        f"  {'figure':<36}{'value':>10}   {'target':<12}",
        row("realtime factor (audio s / CPU s)", "realtime_factor", f"{r['realtime_factor']:.0f}x", "x", "g"),
        row("reference ratio", "reference_ratio", "-" if ref is None else f"{r['reference_ratio']:.1f}x", "x", "g")
        + ("" if ref is not None else f" ({r['reference_skipped']})"),
        row("peak RSS of a fresh process", "rss_mb", f"{r['rss_mb']:.1f} MB", " MB", "g"),
        row("first decision (window + start-up)", "first_decision_s", f"{r['first_decision_s']:.2f} s", " s", ".2f"),
        "",
        (
            f"  runtime path: {r['cpu_s']:.3f} s CPU, {r['wall_s']:.3f} s wall for {r['audio_s']:.1f} s of audio "
            f"({r['realtime_factor_wall']:.0f}x by wall clock), {r['windows']} windows: "
            f"{r['cpu_ms_per_window']:.2f} ms CPU per window, all stages"
        ),
        (
            f"  per window, CPU of the process() call that emits it: p50 {r['window_ms_p50']:.2f} ms, "
            f"p95 {r['window_ms_p95']:.2f} ms (model alone p50 {r['model_ms_p50']:.2f} ms, "
            f"p95 {r['model_ms_p95']:.2f} ms)"
        ),
        "  stage share: " + ", ".join(f"{k.replace('_', ' ')} {v * 100:.0f} %" for k, v in r["stage_share"].items())
        + (
            f" (music detector {r['stage_s']['music_detector'] * 1e3 / r['windows']:.2f} ms per window)"
            if "music_detector" in r["stage_s"] and r["windows"] else ""
        ),
        (
            f"  start-up {r['startup_s']:.3f} s = interpreter + numpy {r['startup']['interpreter_s']:.3f} s"
            f" + runtime imports {r['startup']['import_s']:.3f} s + model load {r['startup']['model_load_s']:.3f} s"
            f" + first window {r['startup']['first_window_s']:.3f} s"
        ),
        (
            f"  (a live device also waits {r['window_s']:.2f} s for its first window of audio: "
            "first decision = window + start-up)"
        ),
    ]
    if ref is not None:
        agree = "" if ref["top1_agreement"] is None else f", same top genre as ours on {ref['top1_agreement'] * 100:.0f} % of windows"
        lines.append(
            f"  reference: librosa {ref['librosa']} resampling once, mel + dB of the whole window at every hop, "
            f"our int8 model: {ref['cpu_s']:.3f} s CPU, {ref['realtime_factor']:.0f}x, {ref['windows']} windows{agree}"
        )
    return "\n".join(lines)


def write_json(result: dict[str, Any], path: str | Path) -> None:
    p = Path(path)
    try:
        p.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise GenredError(f"bench: cannot write {p} ({one_line(exc)})") from None


def _child_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genred.daemon.bench")
    parser.add_argument("--child", action="store_true", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hop", type=float, default=None)
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


if __name__ == "__main__":
    sys.exit(_child_main())
