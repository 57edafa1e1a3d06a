"""The reference the runtime path is compared with, built the way published notebooks
do it: the whole audio resampled once with librosa, then at every hop
`librosa.feature.melspectrogram` + `power_to_db` on the whole window, then the model
(our int8 model, through the same interpreter: the ratio isolates the front-end design)."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.errors import one_line

_LOG = logging.getLogger(__name__)

METHOD = ("librosa.resample of the whole audio once; per hop librosa.feature.melspectrogram + "
          "power_to_db of the whole window; the same int8 model through the same interpreter")


def reference_or_why_not(
    asked: bool, blocks: list[np.ndarray], rate_hz: int, model: Path, threads: int, hop_frames: int
) -> tuple[dict[str, Any] | None, str | None]:
    """The reference's figures, or None and why there are none (not asked for, no librosa)."""
    if not asked:
        return None, "not asked for"
    try:
        import librosa  # noqa: F401 - only whether it is installed; measure_reference uses it
    except ImportError as exc:
        return None, f"librosa is not installed ({one_line(exc)})"
    _LOG.info("bench: the librosa reference")
    return measure_reference(blocks, rate_hz, model, threads, hop_frames), None


def compare(ref: dict[str, Any], ours: dict[str, Any], audio_s: float, rtf: float) -> tuple[float, dict[str, Any]]:
    """(our realtime factor / the reference's, the reference's figures for the result)."""
    ref_rtf = audio_s / ref["cpu_s"] if ref["cpu_s"] > 0 else math.inf
    n = min(len(ref["predictions"]), len(ours["predictions"]))
    agree = sum(a == b for a, b in zip(ref["predictions"][:n], ours["predictions"][:n], strict=True))
    return rtf / ref_rtf, {
        "realtime_factor": ref_rtf,
        "cpu_s": ref["cpu_s"],
        "wall_s": ref["wall_s"],
        "windows": ref["windows"],
        "top1_agreement": agree / n if n else None,
        "librosa": ref["librosa"],
        "method": METHOD,
    }


def measure_reference(
    blocks: list[np.ndarray], rate_hz: int, model: Path, threads: int, hop_frames: int
) -> dict[str, Any]:
    """The notebook way: librosa resampling of the whole audio once, then at every hop
    librosa's mel spectrogram and dB of the whole window, then the model."""
    import librosa
    import scipy.signal  # noqa: F401 - librosa loads it lazily: keep that import out of the timed part
    from librosa.version import version as librosa_version

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
            "librosa": librosa_version}
