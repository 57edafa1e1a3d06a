"""`genred bench`'s figures for people (`format_bench`) and as a JSON file (`write_json`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genred.dsp.errors import GenredError, one_line


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
