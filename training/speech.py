"""`make speech`: synthetic speech, the "not music" that a TV or a radio talks.

Debian's three speech engines read sentences from text already on the machine
(`genred.training.tts_text`): espeak-ng in 33 languages, two or more voice variants each
(a TV in a living room may speak any language), flite's five English voices, festival's
festvox voices (English, Italian, Czech, Russian, Finnish, Catalan). Each file gets its own
speed (and, for espeak-ng, pitch and word gaps), drawn from a generator seeded by the run's
seed and the voice, so a run is repeatable.

Output, in DIR (default .cache/speech): ``<engine>_<voice>_<n>.flac``, 16 kHz mono 16-bit,
5-30 s (sentences joined; silence trimmed at the ends; peak -3 dBFS), and ``SOURCES.tsv``
with file, engine, voice, language, seconds, group, category (speech), settings and
text_source. ``group`` (engine and voice) is the cross-validation group: one voice never
on both sides of a split. ``genred.training.nonmusic.index_nonmusic(DIR)`` reads it.
"""

from __future__ import annotations

import argparse
import csv
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import soundfile as sf

from genred.dsp.errors import GenredError, one_line

from .features import load_resampled
from .tts_text import has_text, sentences_for, take_text

_LOG = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000
MIN_S, MAX_S = 5.0, 30.0
COLUMNS = ("file", "engine", "voice", "language", "seconds", "group", "category", "settings", "text_source")

# (espeak-ng language, language of the text, variants): the languages with fortunes first.
_ESPEAK_LANGUAGES = (
    ("en-us", "en", 3), ("en-gb", "en", 2), ("de", "de", 2), ("es", "es", 2), ("it", "it", 2), ("pl", "pl", 2),
    ("ru", "ru", 2), ("cs", "cs", 2), ("sk", "sk", 2), ("pt-br", "pt", 2), ("bg", "bg", 2), ("eo", "eo", 2),
    ("ga", "ga", 2), ("cmn", "zh", 2), ("fr-fr", "fr", 2), ("nl", "nl", 2), ("sv", "sv", 2), ("fi", "fi", 2),
    ("tr", "tr", 2), ("el", "el", 2), ("hu", "hu", 2), ("ca", "ca", 2), ("hi", "hi", 2), ("da", "da", 2),
    ("nb", "nb", 2), ("ro", "ro", 2), ("uk", "uk", 2), ("vi", "vi", 2), ("ko", "ko", 2), ("id", "id", 2),
    ("sr", "sr", 2), ("hr", "hr", 2), ("lt", "lt", 2), ("et", "et", 2),
)
# espeak-ng's voice variants that sound like people (no robots, whispers or croaks).
_ESPEAK_VARIANTS = ("m1", "f1", "m3", "f2", "klatt", "m2", "f3", "m4", "f4", "klatt2", "m5", "f5", "m6",
                    "klatt3", "m7", "klatt4", "Annie", "Andy", "edward", "linda", "steph", "grandpa", "grandma", "iven")
_FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")  # built in; awb_time only tells the time
# (festival voice, text language, the encoding it reads, how its speed is set). Debian's
# Hindi, Marathi and Telugu voices fail to load (their *_phones.scm is missing): not used.
_FESTIVAL_VOICES = (
    ("kal_diphone", "en", "ascii", "diphone"), ("ked_diphone", "en", "ascii", "diphone"),
    ("cmu_us_slt_arctic_hts", "en", "ascii", "hts"), ("lp_diphone", "it", "latin-1", "diphone"),
    ("pc_diphone", "it", "latin-1", "diphone"), ("czech_dita", "cs", "iso-8859-2", "diphone"),
    ("czech_krb", "cs", "iso-8859-2", "diphone"), ("czech_machac", "cs", "iso-8859-2", "diphone"),
    ("czech_ph", "cs", "iso-8859-2", "diphone"), ("msu_ru_nsh_clunits", "ru", "utf-8", "clunits"),
    ("suo_fi_lj_diphone", "fi", "latin-1", "diphone"), ("hy_fi_mv_diphone", "fi", "latin-1", "diphone"),
    ("upc_ca_ona_hts", "ca", "latin-1", "hts"),
)
_FESTIVAL_VOICE_DIR = Path("/usr/share/festival/voices")
_ENGINE_COMMANDS = {"espeak-ng": "espeak-ng", "flite": "flite", "festival": "text2wave"}


@dataclass(frozen=True)
class Voice:
    engine: str  # espeak-ng | flite | festival
    name: str  # as the engine names it: "de+f3", "slt", "czech_dita"
    language: str  # of the text it reads (tts_text's codes)
    encoding: str = "utf-8"  # of the text file the engine reads
    speed: str = ""  # festival: how its speed is set (diphone / hts / clunits: not at all)

    @property
    def group(self) -> str:
        return f"{self.engine}_{re.sub(r'[^A-Za-z0-9-]+', '-', self.name)}"


def plan_voices() -> list[Voice]:
    """Every voice whose engine is installed and whose language has text here."""
    voices, k = [], 0
    for lang, text_lang, count in _ESPEAK_LANGUAGES:
        for _ in range(count):
            voices.append(Voice("espeak-ng", f"{lang}+{_ESPEAK_VARIANTS[k % len(_ESPEAK_VARIANTS)]}", text_lang))
            k += 1
    voices += [Voice("flite", v, "en", "ascii") for v in _FLITE_VOICES]
    voices += [Voice("festival", v, lang, enc, speed) for v, lang, enc, speed in _FESTIVAL_VOICES
               if any(_FESTIVAL_VOICE_DIR.glob(f"*/{v}"))]
    missing = sorted({e for e in _ENGINE_COMMANDS if shutil.which(_ENGINE_COMMANDS[e]) is None})
    if missing:
        _LOG.warning("speech: %s not installed (apt-get install %s); their voices are left out",
                     ", ".join(missing), " ".join(missing))
    no_text = sorted({v.language for v in voices if not has_text(v.language)})
    if no_text:
        _LOG.warning("speech: no text here in %s (install fortunes-<lang> or that language's locale files); "
                     "those voices are left out", ", ".join(no_text))
    return [v for v in voices if v.engine not in missing and v.language not in no_text]


def _draw_settings(voice: Voice, rng: np.random.Generator) -> dict[str, float]:
    stretch = float(rng.uniform(0.8, 1.25))  # > 1: slower
    if voice.engine == "espeak-ng":
        return {"wpm": round(175 / stretch), "pitch": int(rng.integers(20, 81)), "gap": int(rng.integers(0, 4))}
    if voice.speed == "clunits":
        return {}
    return {"stretch": round(stretch, 2)}


def _command(voice: Voice, settings: dict[str, float], txt: Path, wav: Path) -> list[str]:
    if voice.engine == "espeak-ng":
        return ["espeak-ng", "-v", voice.name, "-s", str(settings["wpm"]), "-p", str(settings["pitch"]),
                "-g", str(settings["gap"]), "-w", str(wav), "-f", str(txt)]
    if voice.engine == "flite":
        return ["flite", "-voice", voice.name, "--setf", f"duration_stretch={settings['stretch']}", "-f", str(txt), "-o", str(wav)]
    cmd = ["text2wave", "-eval", f"(voice_{voice.name})"]
    if voice.speed == "diphone":
        cmd += ["-eval", f"(Parameter.set 'Duration_Stretch {settings['stretch']})"]
    elif voice.speed == "hts":  # the HTS engine's own rate: > 1 is faster
        cmd += ["-eval", f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {1 / settings["stretch"]:.3f}))))']
    return cmd + ["-o", str(wav), str(txt)]


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "ascii":  # English voices: accents dropped (café -> cafe)
        text = unicodedata.normalize("NFKD", text)
    return text.encode(encoding, errors="ignore")


def trim_silence(x: np.ndarray, sr: int) -> np.ndarray:
    """Without the silence before the first and after the last sound (50 ms kept)."""
    frame = sr // 100
    n = x.size // frame
    if n == 0:
        return x[:0]
    rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > rms.max() * 10 ** (-50 / 20))
    if rms.max() == 0 or loud.size == 0:
        return x[:0]
    return x[max(0, (loud[0] - 5) * frame): min(x.size, (loud[-1] + 6) * frame)]


def speak(voice: Voice, text: str, settings: dict[str, float], tmp: Path) -> np.ndarray:
    """The engine's reading of ``text``, at 16 kHz mono, ends trimmed (OSError if none)."""
    txt, wav = tmp / "in.txt", tmp / "out.wav"
    txt.write_bytes(_encode(text, voice.encoding))
    wav.unlink(missing_ok=True)
    try:
        r = subprocess.run(_command(voice, settings, txt, wav), capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise OSError(f"{voice.engine} took over 120 s") from None
    if r.returncode != 0 or not wav.is_file():
        raise OSError(f"{voice.engine} failed: {one_line(r.stderr[-300:]) if r.stderr.strip() else 'no output'}")
    try:
        return trim_silence(load_resampled(wav, SAMPLE_RATE_HZ), SAMPLE_RATE_HZ)
    except GenredError as exc:
        raise OSError(str(exc)) from None


def make_voice_files(voice: Voice, sentences: tuple[str, ...], seconds: float, out: Path, seed: int,
                     text_source: str = "") -> list[dict[str, str]]:
    """About ``seconds`` of ``voice`` in files of 5-30 s; their SOURCES.tsv rows."""
    rng = np.random.default_rng([seed, zlib.crc32(voice.group.encode())])
    chars_per_s = 5.0 if voice.language in ("zh", "ko") else 14.0  # a first guess, then measured
    rows: list[dict[str, str]] = []
    total, failures, reason = 0.0, 0, ""
    with tempfile.TemporaryDirectory(prefix="genred-speech-") as tmp:
        while total < seconds and failures < 8:
            settings = _draw_settings(voice, rng)
            slow = settings.get("stretch", 175 / settings.get("wpm", 175))
            longest_s = min(28.0, max(8.0, seconds - total + 2.0))  # the last file: about what is left
            text = take_text(sentences, int(rng.uniform(6.0, longest_s) * chars_per_s / slow), rng)
            try:
                x = speak(voice, text, settings, Path(tmp))
            except OSError as exc:
                failures, reason = failures + 1, str(exc)
                continue
            if x.size:
                chars_per_s = 0.6 * chars_per_s + 0.4 * len(text) / (x.size / SAMPLE_RATE_HZ) * slow
            if x.size < MIN_S * SAMPLE_RATE_HZ:
                failures, reason = failures + 1, f"{x.size / SAMPLE_RATE_HZ:.1f} s of speech from {len(text)} characters"
                continue
            x = x[: int(MAX_S * SAMPLE_RATE_HZ)].astype(np.float64)
            fade = SAMPLE_RATE_HZ // 50
            x[-fade:] *= np.linspace(1.0, 0.0, fade)
            x *= 10 ** (-3 / 20) / max(float(np.max(np.abs(x))), 1e-9)
            name = f"{voice.group}_{len(rows) + 1}.flac"
            sf.write(str(out / name), x.astype(np.float32), SAMPLE_RATE_HZ, subtype="PCM_16")
            total += x.size / SAMPLE_RATE_HZ
            failures = 0
            rows.append({"file": name, "engine": voice.engine, "voice": voice.name, "language": voice.language,
                         "seconds": f"{x.size / SAMPLE_RATE_HZ:.2f}", "group": voice.group, "category": "speech",
                         "settings": " ".join(f"{k}={v}" for k, v in settings.items()), "text_source": text_source})
    if failures:
        _LOG.warning("speech: %s gave up after %d failed tries (%s); %.0f s made", voice.group, failures, reason, total)
    return rows


def _voice_job(voice: Voice, seconds: float, out: Path, seed: int) -> list[dict[str, str]]:
    sentences, source = sentences_for(voice.language)
    if not sentences:
        _LOG.warning("speech: no usable sentences in %s; %s left out", voice.language, voice.group)
        return []
    return make_voice_files(voice, sentences, seconds, out, seed, source)


def make_speech(out: Path, total_s: float = 7200.0, seed: int = 0, workers: int = 2) -> list[dict[str, str]]:
    """Synthesize about ``total_s`` seconds, shared equally by the voices; write SOURCES.tsv."""
    voices = plan_voices()
    if not voices:
        raise GenredError("speech: no engine and text to use (install espeak-ng and fortunes: make speech does it as root)")
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.flac"):  # an interrupted run's files (no SOURCES.tsv yet)
        stale.unlink()
    per_voice_s = total_s / len(voices)
    _LOG.info("speech: %d voices, %.0f s each, into %s", len(voices), per_voice_s, out)
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        results = list(pool.map(_voice_job, voices, [per_voice_s] * len(voices), [out] * len(voices), [seed] * len(voices)))
    rows = [row for rows in results for row in rows]
    with (out / "SOURCES.tsv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def summary(rows: list[dict[str, str]]) -> str:
    minutes = sum(float(r["seconds"]) for r in rows) / 60
    lines = [f"{len(rows)} files, {minutes:.1f} min, {len({r['group'] for r in rows})} voices, "
             f"{len({r['language'] for r in rows})} languages ({' '.join(sorted({r['language'] for r in rows}))})"]
    for engine in sorted({r["engine"] for r in rows}):
        mine = [r for r in rows if r["engine"] == engine]
        lines.append(f"  {engine}: {len(mine)} files, {sum(float(r['seconds']) for r in mine) / 60:.1f} min, "
                     f"{len({r['group'] for r in mine})} voices, {len({r['language'] for r in mine})} languages")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m genred.training.speech", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path(".cache/speech"))
    p.add_argument("--seconds", type=float, default=7200.0, help="about this much speech in all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="engine processes at once")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if (args.out / "SOURCES.tsv").exists():
        with (args.out / "SOURCES.tsv").open(encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        _LOG.info("speech: %s is already made (delete it to make it again)\n%s", args.out, summary(rows))
        return 0
    from .command import run_command

    return run_command("speech", lambda: _LOG.info("%s", summary(make_speech(args.out, args.seconds, args.seed, args.workers))))


if __name__ == "__main__":
    sys.exit(main())
