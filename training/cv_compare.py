"""``python -m genred.training.cv_compare BASE OTHER``: two cross-validations of the same
folds, compared fold by fold.

The folds' spread (sd ~2-9 points) is mostly which tracks a fold holds, and both recipes
see the same tracks in the same fold: the per-fold difference OTHER - BASE says far more
than two means side by side. Refused unless both ran on the same plan (`cv_driver`'s
``plan.json`` test digest); only folds both have run are compared.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from genred.dsp.errors import GenredError

# (label, path in summary.json); track scores are int8, what a device runs.
ROWS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (f"{name} {what} {kind.replace('_', ' ')}", ("int8", name, kind, key))
    for name in ("test", "test_room")
    for kind in ("all", "full_clips", "excerpts_only")
    for what, key in (("track acc", "track_accuracy"), ("macro recall", "track_macro_recall"))
) + tuple(
    (f"stream {name} {what}", ("stream", name, key))
    for name in ("test", "test_room")
    for what, key in (("right share", "right_share"), ("changes per true change", "per_true_change"),
                      ("median latency s", "median_latency_s"))
) + (("ECE test", ("ece", "test")), ("ECE test_room", ("ece", "test_room")))


def load_summary(folder: Path) -> dict[str, Any]:
    path = Path(folder) / "summary.json"
    if not path.is_file():
        raise GenredError(f"{path}: missing (python -m genred.training.cv --summarise --out {folder} first)")
    return json.loads(path.read_text(encoding="utf-8"))


def _values(summary: dict[str, Any], path: tuple[str, ...]) -> list[float | None]:
    node: Any = summary
    for key in path:
        node = node[key]
    return list(node["values"])


def compare(base: dict[str, Any], other: dict[str, Any]) -> list[dict[str, Any]]:
    """Per row: both recipes' per-fold values on the folds both ran, and the differences."""
    if base["plan"].get("test_digest") != other["plan"].get("test_digest"):
        raise GenredError("the two cross-validations hold different folds (plan test_digest differs)")
    both = sorted(set(base["folds_run"]) & set(other["folds_run"]))
    if not both:
        raise GenredError("the two cross-validations have no fold in common")
    rows = []
    for label, path in ROWS:
        a_all, b_all = _values(base, path), _values(other, path)
        a = [a_all[base["folds_run"].index(f)] for f in both]
        b = [b_all[other["folds_run"].index(f)] for f in both]
        pairs = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
        diff = np.array([y - x for x, y in pairs], dtype=np.float64)
        rows.append({"row": label, "folds": both, "base": a, "other": b, "diff": diff.tolist(),
                     "diff_mean": float(diff.mean()) if diff.size else None,
                     "diff_sd": float(diff.std(ddof=1)) if diff.size > 1 else None})
    return rows


def _fmt(v: float | None, pct: bool) -> str:
    if v is None:
        return "–"
    return f"{100 * v:+.1f}" if pct else f"{v:+.2f}"


def table(rows: list[dict[str, Any]], base_name: str, other_name: str) -> str:
    out = [f"| {other_name} - {base_name}, folds {rows[0]['folds']} | mean of base | mean of other | per fold | mean ± sd |",
           "|---|---|---|---|---|"]
    for r in rows:
        pct = not r["row"].endswith(("change", " s"))
        a = [v for v in r["base"] if v is not None]
        b = [v for v in r["other"] if v is not None]

        def mean(vs: list[float], pct: bool = pct) -> str:
            return "–" if not vs else (f"{100 * np.mean(vs):.1f} %" if pct else f"{np.mean(vs):.2f}")

        per = " / ".join(_fmt(d, pct) for d in r["diff"])
        sd = "" if r["diff_sd"] is None else f" ± {_fmt(r['diff_sd'], pct).lstrip('+')}"
        out.append(f"| {r['row']} | {mean(a)} | {mean(b)} | {per} | {_fmt(r['diff_mean'], pct)}{sd} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from .command import run_command

    p = argparse.ArgumentParser(prog="python -m genred.training.cv_compare", description=__doc__.split("\n\n")[0])
    p.add_argument("base", type=Path, help="a cross-validation folder (with summary.json)")
    p.add_argument("other", type=Path, help="another one, of the same plan")
    args = p.parse_args(argv)
    return run_command("cv_compare", lambda: print(table(compare(load_summary(args.base), load_summary(args.other)),
                                                         args.base.name, args.other.name)))


if __name__ == "__main__":
    sys.exit(main())
