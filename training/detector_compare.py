"""Two detector CVs side by side (`python -m genred.training.detector_compare A B`): the two
targets pooled and per fold, and the share of wrong windows by kind (GTZAN, the pool, mixes,
real and synthetic talk, real and synthetic noise), clean and through the room. A and B are
the summary JSONs of `detector_cli summary` (scored at one gate: ``--gate``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TARGETS = (("not_music_publishing_genre", "not-music publishing a genre"),
           ("music_publishing_no_music", "music publishing `no_music`"))
# (row name, per_category key prefix): prefixes are summed over (GTZAN's genres are one row).
KINDS = (("GTZAN music", "music/from:gtzan:"), ("the pool", "music/from:pool"), ("music under talk / noise", "mix/from:mix"),
         ("real speech (nonmusic)", "speech/from:nonmusic"), ("synthetic speech", "speech/from:speech"),
         ("real household noise (nonmusic)", "noise/from:nonmusic"), ("synthetic noise, held-out kinds", "noise/from:synth"))


def kind_share(per_category: dict[str, dict[str, float]], variant: str, prefix: str) -> tuple[float, int]:
    """(share wrong, windows) over the per_category entries of ``variant`` starting ``prefix``."""
    rows = [v for k, v in per_category.items() if k.startswith(f"{variant}/{prefix}")]
    n = sum(int(v["windows"]) for v in rows)
    return (sum(v["wrong"] * v["windows"] for v in rows) / n if n else float("nan")), n


def compare(a: dict[str, Any], b: dict[str, Any], names: tuple[str, str]) -> str:
    fold_names = [r["fold"] for r in a["folds"]]
    if fold_names != [r["fold"] for r in b["folds"]]:
        raise ValueError(f"the runs score different folds ({fold_names} vs {[r['fold'] for r in b['folds']]})")
    lines = [f"| | {names[0]} | {names[1]} |", "|---|---|---|"]
    for v in ("clean", "room"):
        for key, label in TARGETS:
            cells = []
            for run in (a, b):
                per_fold = " / ".join(f"{100 * r[v][key]:.1f}" for r in run["folds"])
                cells.append(f"{100 * run['pooled']['streams'][v][key]:.1f} % ({per_fold})")
            lines.append(f"| {v}: {label}, pooled (per fold) | {cells[0]} | {cells[1]} |")
    lines += ["", f"| kind (share of its windows wrong) | {names[0]} clean / room | {names[1]} clean / room |", "|---|---|---|"]
    for label, prefix in KINDS:
        cells, windows = [], 0
        for run in (a, b):
            shares = []
            for v in ("clean", "room"):
                share, n = kind_share(run["pooled"]["streams"][v]["per_category"], v, prefix)
                shares.append(f"{100 * share:.1f}")
                windows = max(windows, n)
            cells.append(" / ".join(shares) + " %")
        lines.append(f"| {label} ({windows} windows) | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from .command import run_command

    p = argparse.ArgumentParser(prog="python -m genred.training.detector_compare", description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path, help="a summary JSON (detector_cli summary --gate ...)")
    p.add_argument("b", type=Path)
    args = p.parse_args(argv)

    def run() -> None:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in (args.a, args.b)]
        print(compare(runs[0], runs[1], (args.a.parent.name, args.b.parent.name)))

    return run_command("detector_compare", run, errors=(OSError, ValueError, KeyError))


if __name__ == "__main__":
    raise SystemExit(main())
