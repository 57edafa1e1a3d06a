"""``python -m genred.training.gate_sweep RUN``: is the music gate the lever?

Replays a detector CV run's saved per-clip scores (``RUN/fold*.npz`` of ``detector_cli
cv``) through the music gate alone, for a grid wider than ``summary``'s, choosing on one
half of the folds and scoring the other half untuned (both ways round). No training; a
few minutes. The gate alone decides whether a window is music; the genre smoother's
uncertain state can only hide a genre, so "not music called music" here is an upper bound
of ``summary``'s "not-music publishing a genre", and "music called no music" equals it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from genred.dsp.music_gate import MusicGate
from genred.dsp.smoother_params import SILENCE_DB

from .detector_eval import ClipScore, load_scores, window_scores
from .detector_run import TARGETS, gate_settings

WIDE_GRID = {"music_tau_s": (0.5, 1.0, 1.5, 3.0), "music_on": (0.3, 0.4, 0.5, 0.6),
             "music_off": (0.05, 0.1, 0.2, 0.3), "music_hold_s": (0.0, 1.0, 2.0),
             "no_music_hold_s": (6.0, 8.0, 12.0, 16.0)}


def gate_errors(scores: Sequence[ClipScore], gate: dict[str, float]) -> dict[str, float]:
    """Share of wrong windows per variant and side: ``{"clean/not_music": ..., ...}``."""
    counts: dict[str, list[int]] = {}
    for s in scores:
        g = MusicGate(gate["music_tau_s"], gate["music_on"], gate["music_off"], gate["music_hold_s"],
                      gate["no_music_hold_s"])
        side = "music" if s.label == 1 else "not_music"
        c = counts.setdefault(f"{s.variant}/{side}", [0, 0])
        for i, (p, level) in enumerate(zip(s.p_music, s.level_db, strict=True)):
            if level < SILENCE_DB:
                g.reset()  # as the smoother: music after silence starts afresh
                continue
            music, _ = g.process(float(p), (i + 1) * s.hop_s)
            c[0] += 1
            c[1] += int(music != (s.label == 1))
    return {k: w / max(1, n) for k, (n, w) in sorted(counts.items())}


def worst_ratio(errors: dict[str, float]) -> float:
    target = {"not_music": TARGETS["not_music_publishing_genre"], "music": TARGETS["music_publishing_no_music"]}
    return max(e / target[k.split("/")[1]] for k, e in errors.items())


def sweep(folds: dict[str, list[ClipScore]], choose: Sequence[str], score: Sequence[str],
          fixed: dict[str, float]) -> str:
    pick = [s for f in choose for s in folds[f]]
    held = [s for f in score for s in folds[f]]
    tried = sorted((worst_ratio(gate_errors(pick, g)), i, g) for i, g in enumerate(gate_settings(WIDE_GRID)))
    best = tried[0][2]
    lines = [f"chosen on {'+'.join(choose)}, scored on {'+'.join(score)} ({len(tried)} settings)"]
    for name, gate in (("fixed", fixed), ("best", best)):
        e = gate_errors(held, gate)
        lines.append(f"  {name} {gate}: {worst_ratio(gate_errors(pick, gate)):.2f} -> {worst_ratio(e):.2f} "
                     + " ".join(f"{k} {v:.3f}" for k, v in e.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genred.training.gate_sweep", description=__doc__.split("\n")[0])
    p.add_argument("run", type=Path, help="a detector_cli cv --out folder with fold*.npz")
    p.add_argument("--gate", nargs=5, type=float, default=(1.5, 0.5, 0.2, 1.0, 8.0), metavar="V",
                   help=f"the gate to compare with, values of {', '.join(WIDE_GRID)} (default: the shipped one)")
    args = p.parse_args(argv)
    folds = {f.stem: load_scores(f) for f in sorted(args.run.glob("fold*.npz"))}
    if len(folds) < 2:
        print(f"error: {args.run}: needs at least two fold*.npz (run detector_cli cv first)", file=sys.stderr)
        return 2
    names = list(folds)
    half = len(names) // 2
    fixed = dict(zip(WIDE_GRID, args.gate, strict=True))
    every = [s for sc in folds.values() for s in sc]
    for variant in sorted({s.variant for s in every}):
        raw = window_scores([s for s in every if s.variant == variant])
        print(f"raw window error, {variant}, all folds: music {raw['music_window_error']:.3f}, "
              f"not music {raw['not_music_window_error']:.3f}")
    print(sweep(folds, names[:half], names[half:], fixed))
    print(sweep(folds, names[half:], names[:half], fixed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
