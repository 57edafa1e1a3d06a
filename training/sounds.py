"""`make sounds`: recorded sounds that are not music, from Debian's game and education packages.

The detector's real household recordings (``../shared/data/nonmusic``) are 37 clips from
six sources, and noise of a source it never heard is what it calls music most. Debian
ships thousands of recorded sounds under free licences: Tux Paint's stamps (animals,
household things, vehicles, and a spoken description of each stamp read by people in
13 languages), Minetest's foley (steps, doors, water, fire, digging), and the effects
and voices of four games. ``apt-get download`` fetches each package (nothing is
installed); only the files the rules below name are unpacked, and the .deb is deleted.

Game sounds include jingles, notes and songs: those are left out by name (`MUSICAL`) and
by length (over `SONG_S`), and a rule only ever takes a package's effect or voice folders,
never its music.

Most sounds last a second or two, shorter than a window, so the files of one group are
joined in a seeded order, 0.12 s apart, into 8-20 s clips at 16 kHz mono (each sound
peak-normalised first: the window is level-normalised anyway, and a faint sound must not
vanish beside a loud one). At most `MAX_GROUP_S` per group, so the thousands of spoken
stamp names do not outweigh everything else. Output in DIR (default .cache/sounds):
``<group>_<n>.flac`` and ``SOURCES.tsv`` (file, category, group, package, seconds,
sounds, licence), which ``genred.training.nonmusic.index_nonmusic`` reads.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import shutil
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from genred.dsp.errors import GenredError, one_line

from .features import load_resampled
from .pool_fetch import below_share, download, extract_audio
from .speech import trim_silence

_LOG = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
CLIP_S = (8.0, 20.0)
MIN_CLIP_S = 5.0  # a group's last, shorter clip is kept only from this long
GAP_S = 0.12
MAX_SOUND_S = 30.0  # a long ambient loop gives its first 30 s
# Longer than this, a game's "sound" is a song (FreeDink keeps its soundtrack beside its
# effects): left out whatever its name.
SONG_S = 60.0
MAX_GROUP_S = 360.0
PEAK = 10 ** (-3 / 20)
COLUMNS = ("file", "category", "group", "package", "seconds", "sounds", "licence")
LICENCE = "Debian main (DFSG-free): /usr/share/doc/{package}/copyright"


@dataclass(frozen=True)
class Rule:
    """Files of ``package`` whose path below usr/share matches ``pattern`` are ``category``;
    ``group`` may name the pattern's groups (``{lang}``). The first matching rule wins."""

    package: str
    pattern: str
    category: str
    group: str


RULES = (
    Rule("tuxpaint-stamps-default", r"tuxpaint/stamps/.*_desc_?(?P<lang>[a-z]*)\.ogg$", "speech", "tuxpaint-{lang}"),
    Rule("tuxpaint-stamps-default", r"tuxpaint/stamps/.*/(lowercase|uppercase|math)/[^/]+\.ogg$", "speech",
         "tuxpaint-letters"),
    Rule("tuxpaint-stamps-default", r"tuxpaint/stamps/.*\.ogg$", "noise", "tuxpaint-effects"),
    Rule("minetest-data", r"minetest_game/mods/[^/]+/sounds/[^/]+\.ogg$", "noise", "minetest"),
    Rule("wesnoth-1.16-data", r"wesnoth/1\.16/data/core/sounds/.*\.(ogg|wav)$", "noise", "wesnoth"),
    Rule("supertux-data", r"supertux2/speech/[^/]+\.ogg$", "speech", "supertux-voices"),
    Rule("supertux-data", r"supertux2/sounds/[^/]+\.(ogg|wav)$", "noise", "supertux"),
    Rule("hedgewars-data", r"Data/Sounds/voices/(?P<voice>[^/]+)/[^/]+\.ogg$", "speech", "hedgewars-{voice}"),
    Rule("hedgewars-data", r"Data/Sounds/[^/]+\.ogg$", "noise", "hedgewars"),
    Rule("freedink-data", r"dink/dink/Sound/[^/]+\.wav$", "noise", "freedink"),  # its .ogg files are songs
)
PACKAGES = tuple(dict.fromkeys(r.package for r in RULES))
# Music among the effects, by name: instruments, notes (hedgewars' 1C..9D), fanfares,
# jingles, a singing voice pack, war drums and horn calls, a rap.
MUSICAL = re.compile(r"(?i)(/music/|horn-signals|wardrums|fanfare|jingle|tada|_rap|valkyries|"
                     r"/\d[A-G]\.ogg$|lifeup|invincible|excellent|welldone|gamestart|/Singer/|hogchant|"
                     r"Yoohoo|Hellish|savebell|coins_cleared|countdown)")


def match(package: str, rel: str) -> tuple[str, str] | None:
    """(category, group) of a file of ``package`` at ``rel`` (below usr/share), or None."""
    if MUSICAL.search("/" + rel):
        return None
    for rule in RULES:
        if rule.package != package:
            continue
        m = re.search(rule.pattern, rel)
        if m:
            names = {k: (v or "xx") for k, v in m.groupdict().items()}
            return rule.category, rule.group.format(**names).lower()
    return None


def _keeper(package: str):
    def member_path(name: str) -> Path | None:
        rel = below_share(name)
        return rel if rel is not None and match(package, rel.as_posix()) else None

    return member_path


def _sound(path: Path) -> np.ndarray:
    """The sound, trimmed and peak-normalised; empty when silent or as long as a song."""
    x = load_resampled(path, SAMPLE_RATE_HZ)
    if x.size > SONG_S * SAMPLE_RATE_HZ:
        _LOG.info("sounds: leaving out %s (%.0f s: a song, not an effect)", path.name, x.size / SAMPLE_RATE_HZ)
        return x[:0]
    x = trim_silence(x[: int(MAX_SOUND_S * SAMPLE_RATE_HZ)], SAMPLE_RATE_HZ)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x * (PEAK / peak)).astype(np.float32) if peak > 0 else x[:0]


def join_group(paths: list[Path], seed: int) -> list[tuple[np.ndarray, int]]:
    """The group's sounds in a seeded order, joined into clips of CLIP_S (clip, sounds in it)."""
    rng = np.random.default_rng(seed)
    order = [paths[i] for i in rng.permutation(len(paths))]
    gap = np.zeros(int(GAP_S * SAMPLE_RATE_HZ), np.float32)
    clips, parts, n_sounds, length, total = [], [], 0, 0, 0.0
    target = float(rng.uniform(*CLIP_S))
    for p in order:
        if total >= MAX_GROUP_S:
            break
        try:
            x = _sound(p)
        except (GenredError, OSError, RuntimeError) as exc:  # one unreadable effect costs a line, not the group
            _LOG.warning("sounds: skipping %s (%s)", p, one_line(exc))
            continue
        if x.size == 0:
            continue
        parts += [x, gap]
        n_sounds, length = n_sounds + 1, length + x.size + gap.size
        if length >= target * SAMPLE_RATE_HZ:
            clips.append((np.concatenate(parts[:-1]), n_sounds))
            total += length / SAMPLE_RATE_HZ
            parts, n_sounds, length, target = [], 0, 0, float(rng.uniform(*CLIP_S))
    if parts and length >= MIN_CLIP_S * SAMPLE_RATE_HZ:
        clips.append((np.concatenate(parts[:-1]), n_sounds))
    return clips


def _group_files(raw: Path, package: str) -> dict[tuple[str, str], list[Path]]:
    groups: dict[tuple[str, str], list[Path]] = {}
    for p in sorted(raw.rglob("*")):
        found = match(package, p.relative_to(raw).as_posix()) if p.is_file() else None
        if found:
            groups.setdefault(found, []).append(p)
    return groups


def make_package(package: str, out: Path, seed: int) -> list[dict[str, str]]:
    """Fetch ``package`` and write its clips into ``out``; their SOURCES.tsv rows."""
    with tempfile.TemporaryDirectory(dir=out, prefix=".download-") as tmp:
        return clips_from_deb(download(package, Path(tmp)), package, out, seed)


def clips_from_deb(deb: Path, package: str, out: Path, seed: int) -> list[dict[str, str]]:
    """The sounds of ``deb`` that ``package``'s rules name, joined into clips in ``out``."""
    rows = []
    with tempfile.TemporaryDirectory(dir=out, prefix=".raw-") as tmp:
        raw = Path(tmp)
        extract_audio(deb, raw, _keeper(package))
        for (category, group), paths in sorted(_group_files(raw, package).items()):
            for i, (clip, n) in enumerate(join_group(paths, seed + zlib.crc32(group.encode()))):
                name = f"{group}_{i:03d}.flac"
                sf.write(str(out / name), clip, SAMPLE_RATE_HZ, subtype="PCM_16")
                rows.append({"file": name, "category": category, "group": group, "package": package,
                             "seconds": f"{clip.size / SAMPLE_RATE_HZ:.2f}", "sounds": str(n),
                             "licence": LICENCE.format(package=package)})
    return rows


def write_table(out: Path, rows: list[dict[str, str]]) -> None:
    with (out / "SOURCES.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def make_sounds(out: Path, packages: tuple[str, ...] = PACKAGES, seed: int = 0) -> list[dict[str, str]]:
    """Every package's clips into ``out`` and SOURCES.tsv (a package that fails costs a line)."""
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.flac"):
        stale.unlink()
    rows = []
    for package in packages:
        try:
            got = make_package(package, out, seed)
        except (OSError, RuntimeError) as exc:
            _LOG.warning("%s: not fetched (%s); the others go on", package, one_line(exc))
            continue
        _LOG.info("%s: %d clips, %.1f min", package, len(got), sum(float(r["seconds"]) for r in got) / 60)
        rows += got
    write_table(out, rows)
    return rows


def summary(rows: list[dict[str, str]]) -> str:
    by: dict[str, list[float]] = {}
    for r in rows:
        by.setdefault(r["category"], []).append(float(r["seconds"]))
    groups = len({r["group"] for r in rows})
    return f"{len(rows)} clips in {groups} groups: " + ", ".join(
        f"{k} {len(v)} ({sum(v) / 60:.1f} min)" for k, v in sorted(by.items()))


def main(argv: list[str] | None = None) -> int:
    from .command import run_command, setup_logging

    p = argparse.ArgumentParser(prog="python -m genred.training.sounds", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(".cache/sounds"), help="the folder (default .cache/sounds)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    setup_logging()
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        print("genred sounds: needs apt-get and dpkg-deb (Debian / Raspberry Pi OS)", file=sys.stderr)
        return 2
    if (args.out / "SOURCES.tsv").exists():
        _LOG.info("sounds: %s is already made (delete its SOURCES.tsv to make it again)", args.out)
        return 0

    def run() -> None:
        rows = make_sounds(args.out, seed=args.seed)
        if not rows:
            raise GenredError(f"no package could be fetched into {args.out} (see the lines above)")
        _LOG.info("sounds: %s", summary(rows))

    return run_command("sounds", run)


if __name__ == "__main__":
    raise SystemExit(main())
