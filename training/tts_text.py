"""Sentences to speak, from text already on a Debian machine, in many languages.

`make speech` needs text in every language a voice speaks. Two offline sources:
Debian's fortune cookies (``fortunes`` and ``fortunes-<lang>``: quotations, jokes,
proverbs, in English and a dozen other languages) and, for languages without them, the
gettext message catalogs under /usr/share/locale (every translated program's messages:
plain sentences once the format codes and markup are gone). ``clean_text`` strips
terminal escapes, overstrike, markup, URLs, format codes, option lists and ASCII art.
"""

from __future__ import annotations

import functools
import gettext
import re
import zlib
from pathlib import Path

import numpy as np

FORTUNES = Path("/usr/share/games/fortunes")
LOCALES = Path("/usr/share/locale")

# The English files of Debian's `fortunes` (the top folder also holds other languages').
_ENGLISH = (
    "art", "computers", "cookie", "definitions", "disclaimer", "drugs", "education", "ethnic",
    "food", "goedel", "humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "love",
    "magic", "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "pets",
    "platitudes", "politics", "pratchett", "science", "songs-poems", "sports", "startrek",
    "tao", "translate-me", "wisdom", "work", "zippy",
)
# language -> fortune files (globs under FORTUNES); languages not here use gettext catalogs.
FORTUNE_FILES: dict[str, tuple[str, ...]] = {
    "en": _ENGLISH, "de": ("de/*",), "es": ("es/*.fortunes",), "it": ("it/*",), "pl": ("pl/*",),
    "ru": ("ru/*",), "cs": ("cs/*",), "sk": ("cs/klasik-sk",), "pt": ("brasil",), "bg": ("bg/*",),
    "eo": ("eo/*",), "ga": ("ga/*",), "zh": ("chinese", "song100", "tang300"),
}
_NOT_PROSE = {"de/asciiart", "cs/klasik-sk"}  # pictures; Slovak in the Czech folder

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b.")
_OVERSTRIKE = re.compile(r".\x08")
_URL = re.compile(r"(?:https?://|ftp://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_FORMAT = re.compile(
    r"%(?:\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|z|j|t|q)?[diouxXeEfFgGcsSpnm%]"
    r"|\{[^{}\s]*\}|\$\{?\w+\}?"
)
_MARKUP = re.compile(r"<[^<>]*>|\\f[BIRP1-4]|\\[a-z]+\b|\\.")
_ACCELERATOR = re.compile(r"(?<!\w)[_&](?=\w)")
_OPTION = re.compile(r"^\s*(?:-{1,2}\w|\[-)")
_SYMBOLS = re.compile(r"[*_|<>\[\]{}#~^=+\\/@`$%]+")
_DASHES = re.compile(r"(?:^|\s)-{2,}(?=\s|$)|(?:^|\s)-(?=\s)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:!?。，！？])")
_ORPHAN_PUNCT = re.compile(r"(^|[.,;:!?])(?:\s*[.,;:])+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")
# What a removed format code leaves: '' "" „“ «» () with nothing inside.
_EMPTY_PAIR = re.compile(r"""(['"‘’“”„«»‹›「」]\s*['"‘’“”„«»‹›「」]|\(\s*\)|\[\s*\])(?=\W|$)""")


def _letters(s: str) -> int:
    return sum(ch.isalpha() for ch in s)


def _is_prose(line: str) -> bool:
    """Not an option list or a picture: mostly letters."""
    visible = [ch for ch in line if not ch.isspace()]
    return bool(visible) and not _OPTION.match(line) and _letters(line) >= 0.6 * len(visible)


def clean_text(raw: str) -> str:
    """Text as a person would read it aloud: one line, markup and codes gone."""
    text = _OVERSTRIKE.sub("", _ANSI.sub("", raw))
    lines = []
    for line in text.splitlines():
        line = _EMPTY_PAIR.sub(" ", _FORMAT.sub("", _URL.sub(" ", _MARKUP.sub(" ", line))))
        if _is_prose(line):
            lines.append(line)
    text = _SYMBOLS.sub(" ", _ACCELERATOR.sub("", " ".join(lines)))
    text = _DASHES.sub(" ", text)
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", " ".join(text.split()))
    return _ORPHAN_PUNCT.sub(r"\1", text).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences of at least three letters (a Chinese sentence has no spaces)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if _letters(s) >= 3]


def _fortune_paths(language: str, root: Path = FORTUNES) -> list[Path]:
    paths: set[Path] = set()
    for pattern in FORTUNE_FILES[language]:
        for p in root.glob(pattern):
            rel = str(p.relative_to(root))
            if p.is_file() and p.suffix not in (".dat", ".u8") and (rel not in _NOT_PROSE or language == "sk"):
                paths.add(p)
    return sorted(paths)


def fortune_sentences(language: str, root: Path = FORTUNES) -> list[str]:
    """The sentences of the fortune cookies in ``language`` (cookies end at a line "%")."""
    out = []
    for p in _fortune_paths(language, root):
        for cookie in re.split(r"^%\s*$", p.read_text(encoding="utf-8", errors="replace"), flags=re.M):
            out.extend(split_sentences(clean_text(cookie)))
    return out


def catalog_sentences(language: str, locales: Path = LOCALES) -> list[str]:
    """Translated messages of the machine's gettext catalogs, cleaned, de-duplicated,
    shuffled by a seed of the language (alphabetical runs would sound odd)."""
    messages: set[str] = set()
    for mo in sorted((locales / language / "LC_MESSAGES").glob("*.mo")):
        try:
            with mo.open("rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog  # the parsed table; no public accessor
        except (OSError, UnicodeDecodeError, ValueError, LookupError):
            continue  # a catalog this parser cannot read: there are plenty of others
        for key, value in catalog.items():
            if key == "" or not isinstance(value, str):
                continue  # the catalog's header
            text = clean_text(value)
            if len(text.split()) >= 4 and len(text) <= 300:
                text = text.rstrip(":;,. ")
                messages.add(text + "." if text and text[-1] not in "!?" else text)
    out = sorted(messages)
    np.random.default_rng(zlib.crc32(language.encode())).shuffle(out)
    return out


@functools.lru_cache(maxsize=None)
def sentences_for(language: str) -> tuple[tuple[str, ...], str]:
    """The sentences of ``language`` and where they come from ("fortunes" / "gettext")."""
    if language in FORTUNE_FILES:
        return tuple(fortune_sentences(language)), "fortunes"
    return tuple(catalog_sentences(language)), "gettext"


def take_text(sentences: tuple[str, ...], chars: int, rng: np.random.Generator) -> str:
    """Consecutive sentences from a random start, about ``chars`` characters in all."""
    i = int(rng.integers(0, len(sentences)))
    taken: list[str] = []
    while sum(len(s) + 1 for s in taken) < chars and len(taken) < len(sentences):
        taken.append(sentences[(i + len(taken)) % len(sentences)])
    return " ".join(taken)


def has_text(language: str) -> bool:
    """Whether this machine has any text file for ``language`` (cheap: nothing is read)."""
    if language in FORTUNE_FILES:
        return bool(_fortune_paths(language))
    return any((LOCALES / language / "LC_MESSAGES").glob("*.mo"))
