"""`make speech`'s parts: the text cleaner, the sentence sources, and (where espeak-ng is
installed; one file, well under 2 s) one real synthesis through the whole path."""

from __future__ import annotations

import csv
import shutil
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genred.training.nonmusic import index_nonmusic
from genred.training.speech import COLUMNS, MAX_S, MIN_S, SAMPLE_RATE_HZ, Voice, trim_silence, make_voice_files
from genred.training.tts_text import catalog_sentences, clean_text, fortune_sentences, split_sentences, take_text


def test_clean_text_strips_codes_markup_and_pictures():
    raw = (
        "\x1b[1mHello\x1b[0m  w\x08world!\n"
        "  -- Mark Twain\n"
        "   /\\_/\\\n  ( o.o )\n"  # a picture
        "--verbose  print more\n"  # an option list
        "Visit https://example.org or mail me@example.org today.\n"
        "Cannot open '%s': %d errors in <b>file</b> _File (%lu)\n"
    )
    assert clean_text(raw) == "Hello world! Mark Twain Visit or mail today. Cannot open: errors in file File"
    assert clean_text("Don't 'quote' me, «Paul».") == "Don't 'quote' me, «Paul»."


def test_split_sentences_and_take_text():
    text = "Hello there. How are you? 你好吗。很好，谢谢！ Ok. Fine, thanks."
    assert split_sentences(text) == ["Hello there.", "How are you?", "你好吗。", "很好，谢谢！", "Fine, thanks."]
    sentences = ("One two.", "Three four.", "Five six.")
    taken = take_text(sentences, 15, np.random.default_rng(0))
    assert len(taken) >= 15 and " ".join(sentences * 2).find(taken) >= 0  # consecutive, wrapping round
    assert take_text(sentences, 10_000, np.random.default_rng(0)).count(".") == 3  # each sentence once at most


def test_fortune_cookies_are_split_and_cleaned(tmp_path):
    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "brot").write_text(
        "Wer nicht hören will, muss fühlen.\n\t\t-- Sprichwort\n%\n  _____\n |_____|\n%\nZwei Sätze hier. Und noch einer!\n%\n",
        encoding="utf-8")
    (tmp_path / "de" / "brot.dat").write_bytes(b"\x00\x01")
    assert fortune_sentences("de", tmp_path) == [
        "Wer nicht hören will, muss fühlen.", "Sprichwort", "Zwei Sätze hier.", "Und noch einer!"]


def write_mo(path: Path, messages: dict[str, str]) -> None:
    """A GNU .mo catalog (the format msgfmt writes), UTF-8, header first."""
    entries = {"": "Content-Type: text/plain; charset=UTF-8\n", **messages}
    keys = sorted(entries)
    ids = [k.encode() for k in keys]
    strs = [entries[k].encode() for k in keys]
    n = len(keys)
    start = 7 * 4 + 16 * n
    blob, id_table, str_table = b"", [], []
    for data, table in ((ids, id_table), (strs, str_table)):
        for d in data:
            table.append((len(d), start + len(blob)))
            blob += d + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0)
    body = b"".join(struct.pack("<2I", *e) for e in id_table) + b"".join(struct.pack("<2I", *e) for e in str_table)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(head + body + blob)


def test_catalog_sentences_from_gettext_files(tmp_path):
    write_mo(tmp_path / "fi" / "LC_MESSAGES" / "tool.mo", {
        "cannot open %s: %s": "tiedostoa %s ei voi avata: %s",
        "  -v, --verbose   explain": "  -v, --verbose   selitä mitä tehdään",
        "Print the version and exit": "Tulosta versio ja lopeta ohjelma",
        "Yes": "Kyllä",
    })
    assert sorted(catalog_sentences("fi", tmp_path)) == ["Tulosta versio ja lopeta ohjelma.", "tiedostoa ei voi avata."]
    assert catalog_sentences("sv", tmp_path) == []


def test_trim_keeps_the_sound_and_50_ms_around_it():
    sr = SAMPLE_RATE_HZ
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * sr) / sr)
    x = np.concatenate([np.zeros(sr), tone, np.zeros(3 * sr)]).astype(np.float32)
    y = trim_silence(x, sr)
    assert y.size == 2 * sr + 2 * sr // 20
    assert trim_silence(np.zeros(sr, np.float32), sr).size == 0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_one_espeak_voice_end_to_end(tmp_path):
    sentences = tuple(f"This is sentence number {i}, spoken by a machine for a test." for i in range(1, 30))
    voice = Voice("espeak-ng", "en-us+f2", "en")
    t0 = time.perf_counter()
    rows = make_voice_files(voice, sentences, 1.0, tmp_path, seed=3, text_source="test")
    assert time.perf_counter() - t0 < 2.0
    [row] = rows  # one file reaches the second asked for
    assert row["file"] == "espeak-ng_en-us-f2_1.flac" and row["group"] == "espeak-ng_en-us-f2"
    info = sf.info(str(tmp_path / row["file"]))
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert MIN_S <= info.duration <= MAX_S and float(row["seconds"]) == pytest.approx(info.duration, abs=0.01)
    x, _ = sf.read(str(tmp_path / row["file"]))
    assert np.max(np.abs(x)) == pytest.approx(10 ** (-3 / 20), abs=1e-3)
    assert row["settings"].startswith("wpm=")
    again = tmp_path / "again"
    again.mkdir()
    assert make_voice_files(voice, sentences, 1.0, again, seed=3, text_source="test") == rows  # seeded
    # The table make_speech writes is one index_nonmusic reads.
    with (tmp_path / "SOURCES.tsv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, delimiter="\t", lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    [indexed] = index_nonmusic(tmp_path)
    assert (indexed.group, indexed.category) == ("espeak-ng_en-us-f2", "speech")
