"""The music detector's section of a bundle's report.md, written by `detector_cli build`
between markers so a rebuild replaces it (the genre run writes the rest of the page)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import pct

BEGIN, END = "<!-- music detector: begin -->", "<!-- music detector: end -->"
TARGETS_TEXT = "not-music windows publishing a genre <= 5 %, music windows publishing `no_music` <= 2 %"


def section(cfg: dict[str, Any], clips: int, size_bytes: int, gate: dict[str, float], cv: dict[str, Any] | None,
            command: str) -> str:
    lines = [BEGIN, "## Music detector", "",
             f"`music.tflite` ({size_bytes / 1024:.0f} KiB, full-integer int8, the `{cfg['arch']}` CNN) says P(music) for "
             "each window the genre model hears; the smoother turns it into the `no_music` status. Trained on "
             f"{clips} clips (GTZAN train + valid, the music pool, real and synthetic speech and household noise, "
             f"music under talk or noise), {cfg['epochs']} epochs of {cfg['steps_per_epoch']} x {cfg['batch_size']} windows, "
             "clean and through the room simulator:", "", f"    {command}", "",
             "Gate settings chosen by cross-validation: " + ", ".join(f"`{k}` {v:g}" for k, v in gate.items()) + "."]
    if cv:
        pooled = cv["pooled"]["streams"]
        lines += ["", f"Cross-validation ({len(cv['folds'])} folds scored, grouped by recording session: no artist, "
                  f"speaker, voice, soundtrack or noise kind on both sides; each clip its own stream through the "
                  f"smoother; targets: {TARGETS_TEXT}):", "",
                  "| | not-music windows publishing a genre | music windows publishing `no_music` |", "|---|---|---|"]
        for v in ("clean", "room"):
            lines.append(f"| {v} | {pct(pooled[v]['not_music_publishing_genre'])} | {pct(pooled[v]['music_publishing_no_music'])} |")
        lines += ["", "By source (share of its windows that are wrong):", "", "| source | clean | room |", "|---|---|---|"]
        cats = sorted({k.split("/", 1)[1] for v in ("clean", "room") for k in pooled[v]["per_category"]})
        for c in cats:
            cells = [pooled[v]["per_category"].get(f"{v}/{c}") for v in ("clean", "room")]
            lines.append(f"| {c} | " + " | ".join(f"{pct(x['wrong'])} of {x['windows']}" if x else "-" for x in cells) + " |")
        b2b = cv["pooled"]["back_to_back"]
        lines += ["", "Back to back (the clips of a fold as one stream, so the holds after each change count): "
                  + "; ".join(f"{v}: {pct(b2b[v]['not_music_publishing_genre'])} / {pct(b2b[v]['music_publishing_no_music'])}, "
                              f"median {b2b[v]['median_latency_s']['to_no_music']:.1f} s to `no_music`" for v in ("clean", "room"))
                  + ". See docs/models.md."]
    lines.append(END)
    return "\n".join(lines) + "\n"


def extract_section(report: Path) -> str | None:
    """The detector section of a report.md (markers included), or None."""
    text = report.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return None
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"


def write_section(report: Path, text: str, note: str | None = None) -> None:
    """Put the section ``text`` into ``report`` (replacing an old one); ``note`` goes
    right under its heading."""
    if note is not None:
        head, sep, rest = text.partition("## Music detector\n")
        text = head + sep + "\n" + note + "\n" + rest
    old = report.read_text(encoding="utf-8") if report.is_file() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + text.rstrip("\n") + rest.split(END, 1)[1]
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    report.write_text(new, encoding="utf-8")
