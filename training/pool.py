"""A pool of unlabelled music: an index of any folder of audio files.

The student imitates the teacher on music that has no genre labels (the teacher's
opinions are the labels), and a music / not-music detector needs music of every kind;
any folder of music serves, a user's own library as well as the pool that `make pool`
fills from Debian's free game soundtracks (`genred.training.pool_fetch`)::

    from genred.training.pool import index_pool
    files = index_pool(".cache/pool")   # [PoolFile(path, source, duration_s, ...), ...]

A file's ``source`` is the top folder under the pool root (the Debian package for
`make pool`'s pool; an artist or album folder in a library): split and balance by it.
``weight`` is 1.0, lower for sources known to be short loops played over and over, so
that a sampler drawing by ``duration_s * weight`` does not drown in them.

``python -m genred.training.pool DIR`` prints files, hours, formats and disk use per
source; ``python -m genred.training.pool fetch --pool DIR`` fills DIR (`make pool`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from genred.dsp.audio import audio_info
from genred.dsp.errors import GenredError
from genred.dsp.params import LogMelParams, WindowParams

_LOG = logging.getLogger(__name__)

# libsndfile's format names -> the file name endings used for them. Only the formats
# this libsndfile build reads count (MP3 needs libsndfile >= 1.1, for instance).
_SUFFIXES_BY_FORMAT = {
    "WAV": (".wav",), "WAVEX": (".wav",), "FLAC": (".flac",), "OGG": (".ogg", ".oga", ".opus"),
    "MP3": (".mp3",), "AIFF": (".aif", ".aiff"), "AU": (".au", ".snd"), "CAF": (".caf",),
    "W64": (".w64",), "RF64": (".rf64",),
}

# Sources that are short loops (menu / level music repeated for minutes in play).
LOOP_WEIGHTS: Mapping[str, float] = {"planetblupi-music-ogg": 0.25}


def audio_suffixes() -> frozenset[str]:
    """The file name endings (lower case, with the dot) of the formats libsndfile reads here."""
    available = sf.available_formats()
    return frozenset(s for fmt, suffixes in _SUFFIXES_BY_FORMAT.items() if fmt in available for s in suffixes)


def _one_window_s() -> float:
    """The audio one model window spans: shorter files cannot give a single window."""
    fe, w = LogMelParams(), WindowParams()
    return ((w.window_frames - 1) * fe.hop_length + fe.n_fft) / fe.sample_rate_hz


MIN_DURATION_S = _one_window_s()


@dataclass(frozen=True)
class PoolFile:
    path: Path
    source: str  # the top folder under the pool root (files directly in it: the root's name)
    duration_s: float
    sample_rate_hz: int
    weight: float = 1.0


def index_pool(folder: str | Path, min_duration_s: float = MIN_DURATION_S,
               weights: Mapping[str, float] = LOOP_WEIGHTS) -> list[PoolFile]:
    """Every readable audio file under ``folder`` (recursive, sorted by path), at least
    ``min_duration_s`` long. An unreadable or too short file is skipped with one warning
    naming it; files of other kinds (and hidden ones) are passed over silently."""
    root = Path(folder)
    if not root.is_dir():
        raise GenredError(f"music pool {root}: not a folder (fill it with `make pool`, or name a folder of music)")
    suffixes = audio_suffixes()
    found = []
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root)
        if p.suffix.lower() not in suffixes or any(part.startswith(".") for part in rel.parts) or not p.is_file():
            continue
        try:
            info = audio_info(p)
        except GenredError as exc:
            _LOG.warning("music pool: skipping %s", exc)
            continue
        if info.duration_s < min_duration_s:
            _LOG.warning("music pool: skipping %s: %.2f s is shorter than %.2f s", p, info.duration_s, min_duration_s)
            continue
        source = rel.parts[0] if len(rel.parts) > 1 else root.resolve().name
        found.append(PoolFile(p, source, info.duration_s, info.sample_rate_hz, float(weights.get(source, 1.0))))
    return found


@dataclass(frozen=True)
class SourceSummary:
    source: str
    files: int
    hours: float
    formats: tuple[str, ...]  # file name endings, e.g. (".ogg",)
    disk_mib: float
    weight: float


def summarize(files: list[PoolFile]) -> list[SourceSummary]:
    by_source: dict[str, list[PoolFile]] = {}
    for f in files:
        by_source.setdefault(f.source, []).append(f)
    return [
        SourceSummary(source, len(fs), sum(f.duration_s for f in fs) / 3600,
                      tuple(sorted({f.path.suffix.lower() for f in fs})),
                      sum(f.path.stat().st_size for f in fs) / 2**20, fs[0].weight)
        for source, fs in sorted(by_source.items())
    ]


def format_summary(rows: list[SourceSummary]) -> str:
    lines = ["| source | files | hours | formats | MiB | weight |", "|---|---:|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r.source} | {r.files} | {r.hours:.2f} | {' '.join(r.formats)} | {r.disk_mib:.0f} | {r.weight:g} |")
    lines.append(f"| all | {sum(r.files for r in rows)} | {sum(r.hours for r in rows):.2f} | "
                 f"{' '.join(sorted({s for r in rows for s in r.formats}))} | {sum(r.disk_mib for r in rows):.0f} | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if argv[:1] == ["fetch"]:
        from .pool_fetch import main as fetch_main

        return fetch_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m genred.training.pool",
                                description="Files, hours, formats and disk use per source of a folder of music.")
    p.add_argument("folder", type=Path)
    args = p.parse_args(argv)
    from .command import run_command

    return run_command("pool", lambda: print(format_summary(summarize(index_pool(args.folder)))))


if __name__ == "__main__":
    sys.exit(main())
