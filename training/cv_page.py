"""The cross-validation summary page (``summary.md``) from its template."""

from __future__ import annotations

import json
from pathlib import Path
from string import Template
from typing import Any

from .report import pct

SETS = ("test", "test_room")


def _ms(d: dict[str, Any] | None, percent: bool = True) -> str:
    if not d or d["mean"] is None:
        return "n/a"
    f = (lambda x: f"{100 * x:.1f}") if percent else (lambda x: f"{x:.2f}")
    sd = "" if d["sd"] is None else f" ± {f(d['sd'])}"
    return f"{f(d['mean'])}{sd}" + (" %" if percent else "")


def write_page(path: Path, s: dict[str, Any], labels: tuple[str, ...]) -> None:
    plan, pooled = s["plan"], s.get("pooled", {})
    rows = []
    for who, what in (("int8", "int8"), ("float", "float (the same students before export)"), ("teacher", "teacher (MSD_musicnn + head, float)")):
        if who not in s:
            continue
        kinds = ("all", "full_clips", "excerpts_only") if who == "int8" else ("all",)
        for kind in kinds:
            n = pooled[who]["test"][kind]["tracks"]
            for metric, name in (("track_accuracy", "track accuracy"), ("track_macro_recall", "track macro recall")):
                rows.append(f"| {what}, {name}, {kind.replace('_', ' ')} ({n} tracks) | "
                            + " | ".join(_ms(s[who][n_][kind][metric]) for n_ in SETS) + " | "
                            + " | ".join(pct(pooled[who][n_][kind][metric]) for n_ in SETS) + " |")
    rows.append("| int8, window accuracy | " + " | ".join(_ms(s["int8"][n]["all"]["window_accuracy"]) for n in SETS) + " | | |")
    rows.append("| int8, ECE at the fold's T (windows) | " + " | ".join(_ms(s["ece"][n], percent=False) for n in SETS) + " | | |")
    genre_rows = []
    for g in labels:
        full = pooled["int8"]["test"]["full_clips"]["per_genre"].get(g, {}).get("n", 0)
        exc = pooled["int8"]["test"]["excerpts_only"]["per_genre"].get(g, {}).get("n", 0)
        genre_rows.append(f"| {g} | {full + exc} ({full} / {exc}) | "
                          + " | ".join(_ms(s["int8"][n]["all"]["per_genre"][g]) for n in SETS) + " | "
                          + " | ".join(pct(pooled["int8"][n]["all"]["per_genre"].get(g, {}).get("recall")) for n in SETS) + " |")
    st = s["stream"]
    stream_rows = [
        "| share of windows publishing the genre playing | " + " | ".join(_ms(st[n]["right_share"]) for n in SETS) + " |",
        "| published changes per true change | " + " | ".join(_ms(st[n]["per_true_change"], False) for n in SETS) + " |",
        "| wrong changes per hour | " + " | ".join(_ms(st[n]["wrong_changes_per_hour"], False) for n in SETS) + " |",
        "| median latency, s (folds with a finite one) | " + " | ".join(
            f"{_ms(st[n]['median_latency_s'], False)} ({st[n]['median_latency_s']['folds']})" for n in SETS) + " |",
    ]
    fold_rows = []
    for p in s["per_fold"]:
        i8 = p["int8"]
        sc = p["stream"]["test"] or {}
        ptc = sc.get("per_true_change")
        fold_rows.append(
            f"| {p['fold']} | {i8['test']['all']['tracks']} | {p['temperature']} | "
            + " | ".join(f"{pct(i8[n]['all']['track_accuracy'])} / {pct(i8[n]['all']['track_macro_recall'])}" for n in SETS)
            + f" | {pct(i8['test']['full_clips']['track_accuracy'])} | {pct(sc.get('right_share'))} / "
            + ("n/a" if ptc is None else f"{ptc:.2f}") + " |")
    chosen = s["chosen_by_all_folds"]
    text = Template((Path(__file__).parent / "templates" / "cv_summary.md").read_text(encoding="utf-8")).substitute(
        k=plan["folds"], fold_seed=plan["fold_seed"], tracks=plan["tracks"], data=plan["data"], unscored=plan["unscored"],
        folds_run=", ".join(map(str, s["folds_run"])),
        missing=f" Not run yet: {', '.join(map(str, s['folds_missing']))}." if s["folds_missing"] else "",
        recipe="`" + json.dumps(plan["recipe"], sort_keys=True) + "`", track_rows="\n".join(rows),
        genre_rows="\n".join(genre_rows), stream_rows="\n".join(stream_rows), fold_rows="\n".join(fold_rows),
        temperature=chosen["temperature"], smoothing=", ".join(f"`{k}` {v}" for k, v in chosen["smoothing"].items()),
    )
    path.write_text(text, encoding="utf-8")
