"""The daemon's own path, measured: `Pipeline(TfliteClassifier.from_path(model,
num_threads), rate, hop)` fed the capture's blocks; CPU and wall seconds of the whole,
the share of each stage, and per window the cost of the `process()` call that emitted it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np


def _percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q) * 1e3) if values else float("nan")


def measure_pipeline(blocks: list[np.ndarray], rate_hz: int, model: Path, threads: int, hop_s: float | None) -> dict[str, Any]:
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
