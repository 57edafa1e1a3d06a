"""Fill a music pool from Debian's packages of free game soundtracks (`make pool`).

Each package is fetched with ``apt-get download`` (nothing is installed; works as a
normal user too) and only its audio is unpacked, into ``POOL/<package>/``, below the
deepest folder that holds all of it; the .deb is deleted at once. A package already
unpacked (``POOL/<package>/.fetched`` present) is skipped, so a second run only fetches
what failed. A package that cannot be downloaded costs one line, and the rest go on.

Sound effect folders (``sounds/``, ``sfx/``) are left out: they are not music. Two
packages need more than unpacking:
- nexuiz-music keeps its oggs in ``music.pk3``, a zip: they are taken out of it.
- Frets on Fire songs come as parts: ``song.ogg`` is the band without the lead guitar,
  ``guitar.ogg`` (sometimes ``rhythm.ogg``...) the parts the player plays. Their sum is
  the record as released, so each song folder becomes one ``mix.ogg`` and the parts go.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf

from genred.dsp.errors import one_line

from .pool import audio_suffixes, format_summary, index_pool, summarize

_LOG = logging.getLogger(__name__)

DEFAULT_PACKAGES = (
    "warzone2100-music", "nexuiz-music", "singularity-music", "drascula-music", "hyperrogue-music",
    "fretsonfire-songs-muldjord", "fretsonfire-songs-sectoid", "wesnoth-1.16-music", "ufoai-music",
    "planetblupi-music-ogg",
)
DONE_MARKER = ".fetched"
# Folders of game sound effects (hyperrogue-music has one beside its music): never unpacked.
EFFECT_FOLDERS = frozenset({"sounds", "sfx"})
# Frets on Fire's part files; song.ogg holds the rest of the band.
PART_STEMS = frozenset({"guitar", "rhythm", "drums", "bass", "vocals", "keys"})
LISTS_MAX_AGE_DAYS = 30
_LISTS = Path("/var/lib/apt/lists")


def _lists_age_days() -> float:
    """Days since apt's package lists were last refreshed (inf when there are none)."""
    stamps = [p.stat().st_mtime for p in _LISTS.glob("*_Packages*")] if _LISTS.is_dir() else []
    return (time.time() - max(stamps)) / 86400 if stamps else float("inf")


def _update_lists() -> None:
    _LOG.info("apt-get update (the package lists are missing or older than %d days)", LISTS_MAX_AGE_DAYS)
    r = subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True)
    if r.returncode != 0:
        _LOG.warning("apt-get update failed (%s); trying with the lists there are", _last_line(r.stderr))


def _last_line(text: str) -> str:
    lines = [s for s in text.strip().splitlines() if s.strip() and not s.startswith("W: Download is performed unsandboxed")]
    return lines[-1].strip() if lines else "no message"


def download(package: str, workdir: Path) -> Path:
    """The package's .deb, fetched into ``workdir``; OSError with apt's last line if not."""
    cmd = ["apt-get", "download", "-q"]
    if os.geteuid() == 0:  # apt's sandbox user cannot write to a root-owned folder
        cmd += ["-o", "APT::Sandbox::User=root"]
    r = subprocess.run(cmd + [package], cwd=workdir, capture_output=True, text=True)
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if r.returncode != 0 or not debs:
        raise OSError(_last_line(r.stderr or r.stdout))
    return debs[-1]


def below_share(name: str) -> Path | None:
    """A .deb member's path below usr/share (None for one that would leave the folder)."""
    rel = Path(name.removeprefix("./"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        return None
    parts = rel.parts[2:] if rel.parts[:2] == ("usr", "share") else rel.parts
    return Path(*parts) if parts else None


def _member_path(name: str) -> Path | None:
    rel = below_share(name)
    if rel is None or any(p.lower() in EFFECT_FOLDERS for p in rel.parts[:-1]):
        return None
    return rel


def _extract_zip_audio(zip_path: Path, dest: Path, suffixes: frozenset[str]) -> None:
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            rel = _member_path(info.filename)
            if info.is_dir() or rel is None or rel.suffix.lower() not in suffixes:
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)


def extract_audio(deb: Path, dest: Path, member_path: Callable[[str], Path | None] = _member_path) -> None:
    """The audio files of ``deb`` (and of the zips, .pk3, inside it) into ``dest``, at the
    paths ``member_path`` gives them (None: not written; by default the path below
    usr/share, sound effect folders left out)."""
    suffixes = audio_suffixes()
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                rel = member_path(member.name)
                if not member.isfile() or rel is None:
                    continue
                kind = rel.suffix.lower()
                if kind not in suffixes and kind not in (".pk3", ".zip"):
                    continue
                out = dest / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                if kind in (".pk3", ".zip"):
                    _extract_zip_audio(out, out.with_suffix(""), suffixes)
                    out.unlink()
    finally:
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise OSError(f"dpkg-deb cannot read {deb.name}: {_last_line(err)}")


def mix_parts(dest: Path) -> int:
    """Each folder holding a Frets on Fire ``song.ogg`` and part files becomes one
    ``mix.ogg`` (their sum, scaled down only if it would clip); returns the songs mixed."""
    mixed = 0
    for song in sorted(dest.rglob("song.ogg")):
        parts = [song] + sorted(p for p in song.parent.iterdir() if p.suffix.lower() == ".ogg" and p.stem.lower() in PART_STEMS)
        if len(parts) == 1:
            continue
        signals, rate = [], None
        for p in parts:
            x, sr = sf.read(str(p), dtype="float32", always_2d=True)
            if rate is not None and sr != rate:
                raise OSError(f"{p}: {sr} Hz, but {parts[0].name} is {rate} Hz")
            rate = sr
            signals.append(x)
        channels = max(x.shape[1] for x in signals)
        total = np.zeros((max(len(x) for x in signals), channels), np.float32)
        for x in signals:
            total[: len(x)] += x if x.shape[1] == channels else x.mean(axis=1, keepdims=True)
        peak = float(np.max(np.abs(total)))
        if peak > 0.99:
            total *= 0.99 / peak
        # In blocks: libsndfile's Vorbis encoder overflows its stack on a long single write.
        with sf.SoundFile(str(song.parent / "mix.ogg"), "w", rate, channels, format="OGG", subtype="VORBIS") as out:
            for start in range(0, len(total), 1 << 15):
                out.write(total[start:start + (1 << 15)])
        for p in parts:
            p.unlink()
        mixed += 1
    return mixed


def _flatten(dest: Path) -> None:
    """Move the files up out of the folders that every file of ``dest`` is in."""
    files = [p for p in dest.rglob("*") if p.is_file()]
    if not files:
        return
    common = Path(os.path.commonpath([p.parent for p in files]))
    if common == dest:
        return
    for p in files:
        target = dest / p.relative_to(common)
        target.parent.mkdir(parents=True, exist_ok=True)
        p.rename(target)
    top = dest / common.relative_to(dest).parts[0]
    if not any(p.is_file() for p in top.rglob("*")):
        shutil.rmtree(top)


def unpack(deb: Path, dest: Path) -> None:
    """Audio only, songs as whole mixes, the common folders gone; then the marker."""
    extract_audio(deb, dest)
    mixed = mix_parts(dest)
    if mixed:
        _LOG.info("%s: %d songs mixed from their parts", dest.name, mixed)
    _flatten(dest)
    (dest / DONE_MARKER).write_text(f"{deb.name}\n", encoding="utf-8")


def fetch_pool(pool: Path, packages: tuple[str, ...] = DEFAULT_PACKAGES) -> dict[str, str]:
    """Fetch and unpack each package not yet in ``pool``; package -> what happened."""
    pool.mkdir(parents=True, exist_ok=True)
    todo = [p for p in packages if not (pool / p / DONE_MARKER).exists()]
    outcome = {p: "already there" for p in packages if p not in todo}
    is_root = os.geteuid() == 0
    updated = False
    if todo and is_root and _lists_age_days() > LISTS_MAX_AGE_DAYS:
        _update_lists()
        updated = True
    for package in todo:
        dest = pool / package
        with tempfile.TemporaryDirectory(dir=pool, prefix=".download-") as tmp:
            try:
                try:
                    deb = download(package, Path(tmp))
                except OSError:
                    if not is_root or updated:
                        raise
                    _update_lists()  # the lists may name a version the mirror no longer has
                    updated = True
                    deb = download(package, Path(tmp))
                _LOG.info("%s: %.0f MiB downloaded; unpacking its audio", package, deb.stat().st_size / 2**20)
                if dest.exists():
                    shutil.rmtree(dest)  # a half-done earlier run
                unpack(deb, dest)
                outcome[package] = "fetched"
            except (OSError, RuntimeError, zipfile.BadZipFile, tarfile.TarError) as exc:  # RuntimeError: libsndfile
                _LOG.warning("%s: not fetched (%s); the others go on", package, one_line(exc))
                outcome[package] = f"failed: {one_line(exc)}"
    return outcome


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genred.training.pool fetch",
                                description="Fill a music pool from Debian's free game soundtrack packages.")
    p.add_argument("--pool", type=Path, default=Path(".cache/pool"), help="the pool folder (default .cache/pool)")
    p.add_argument("packages", nargs="*", default=list(DEFAULT_PACKAGES), help="Debian packages (default: the ten soundtracks)")
    args = p.parse_args(argv)
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        _LOG.error("genred pool: needs apt-get and dpkg-deb (Debian / Raspberry Pi OS)")
        return 2
    outcome = fetch_pool(args.pool, tuple(args.packages))
    print(format_summary(summarize(index_pool(args.pool))))
    failed = [k for k, v in outcome.items() if v.startswith("failed")]
    if failed:
        _LOG.warning("not fetched: %s (run `make pool` again to retry them)", ", ".join(failed))
    return 0
