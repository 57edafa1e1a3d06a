"""A picture of the live path: files played one after another (with silence between)
through the daemon's own Pipeline, window probabilities against the smoothed state.

    python -m genred.training.timeline A.flac B.flac C.flac --gap 6 --out docs/timeline.png

matplotlib is a training/dev dependency; the device never draws.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from genred.dsp.classifier import TfliteClassifier
from genred.dsp.pipeline import Pipeline

from .features import load_resampled

_LOG = logging.getLogger(__name__)
DEFAULT_MODEL = Path(__file__).resolve().parents[1] / "daemon" / "models" / "default" / "model.tflite"


def play(files: list[Path], classifier: TfliteClassifier, gap_s: float, rate_hz: int = 44100, block_s: float = 0.1):
    """The files back to back at ``rate_hz`` with ``gap_s`` of silence after each, fed to a
    Pipeline in ``block_s`` blocks. Returns (window results, [(start_s, end_s, name)])."""
    pieces, spans, t = [], [], 0.0
    for f in files:
        audio = load_resampled(f, rate_hz)
        pieces += [audio, np.zeros(int(gap_s * rate_hz), np.float32)]
        spans.append((t, t + audio.size / rate_hz, f.stem))
        t += audio.size / rate_hz + gap_s
    stream = np.concatenate(pieces)
    pipe = Pipeline(classifier, rate_hz)
    n = int(block_s * rate_hz)
    results = []
    for i in range(0, stream.size, n):
        results += pipe.process(stream[i : i + n])
    return results, spans


def plot(results, spans, labels: tuple[str, ...], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = np.array([r.end_s for r in results])
    probs = np.stack([r.probabilities for r in results])
    fig, (a, b) = plt.subplots(2, 1, figsize=(11, 5.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    colours = plt.get_cmap("tab10")
    for k, g in enumerate(labels):
        if probs[:, k].max() > 0.15:
            a.plot(t, probs[:, k], lw=1.2, color=colours(k), label=g)
    for s, e, name in spans:
        a.axvspan(s, e, color="grey", alpha=0.07)
        a.text((s + e) / 2, 1.02, name, ha="center", va="bottom", fontsize=8)
    a.set_ylim(0, 1.1)
    a.set_ylabel("window probability")
    a.legend(fontsize=7, ncol=5, loc="upper right", bbox_to_anchor=(1, -0.02))
    states = [r.state for r in results]
    for i, s in enumerate(states):
        x0 = t[i - 1] if i else t[0] - 1
        colour = colours(labels.index(s.genre)) if s.genre else ("white" if s.status == "silence" else "lightgrey")
        b.axvspan(x0, t[i], color=colour, alpha=0.9 if s.genre else 1.0, lw=0)
    changes = [i for i, s in enumerate(states) if s.changed]  # one stream: its first window is a change
    for i in changes:
        s = states[i]
        b.text(t[i], 0.5, s.genre or s.status, fontsize=7, va="center", rotation=90 if len(changes) > 12 else 0)
    b.set_yticks([])
    b.set_ylabel("published\nstate", fontsize=8)
    b.set_xlabel("seconds (window end)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genred.training.timeline", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    p.add_argument("--gap", type=float, default=6.0, help="seconds of silence after each file")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    classifier = TfliteClassifier.from_path(args.model)
    results, spans = play(args.files, classifier, args.gap)
    plot(results, spans, classifier.labels, args.out)
    _LOG.info("wrote %s (%d windows)", args.out, len(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
