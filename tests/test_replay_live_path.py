"""`genred replay` takes the live path from capture on: its files are read by the
daemon's file source in the daemon's blocks, its output is what replay printed when it
read files itself, and the daemon hearing the same file says the same."""

from __future__ import annotations

import io
import threading

import numpy as np
import pytest

from signals import music_like


@pytest.fixture
def fixture_files(write_wav):
    """Stereo music at 44.1 kHz; mono music at 22.05 kHz after 4 s of silence; a clip
    shorter than a window (its one window ends where the file does). None is a whole
    number of 0.1 s blocks long: the last, short block counts."""
    silent_start = np.concatenate([np.zeros(4 * 22050, np.float32), music_like(4.13, 22050, seed=3)])
    return [
        write_wav("a.wav", music_like(9.33, 44100, channels=2, seed=1), 44100),
        write_wav("b.flac", silent_start, 22050),
        write_wav("c.wav", music_like(2.23, 16000, seed=4), 16000),
    ]


def _replay_as_before(paths, classifier, fmt, hop_s):
    """What replay printed before it read through the file source: the file read by
    itself in 0.25 s blocks straight into a `Pipeline`, the same writers after."""
    from genred.daemon.replay import NO_GENRE_STATUSES, FileResult, JsonlWriter, TextWriter
    from genred.dsp.audio import audio_info, iter_blocks
    from genred.dsp.pipeline import Pipeline

    out = io.StringIO()
    writer = (JsonlWriter if fmt == "jsonl" else TextWriter)(out, classifier.labels)
    for path in paths:
        info = audio_info(path)
        pipeline = Pipeline(classifier, info.sample_rate_hz, hop_s=hop_s)
        results = []
        for block in iter_blocks(path, int(0.25 * info.sample_rate_hz)):
            results += pipeline.process(block)
        results += pipeline.flush()
        for r in results:
            writer.window(path, r)
        probs = np.array([r.probabilities for r in results])
        heard = [r.state.status not in NO_GENRE_STATUSES for r in results]
        writer.file(FileResult(
            path, probs.mean(axis=0).astype(np.float32), tuple(int(np.argmax(p)) for p in probs),
            tuple(r.state.status for r in results), probs[heard].mean(axis=0).astype(np.float32) if any(heard) else None,
        ))
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "text"])
@pytest.mark.parametrize("hop_s", [None, 0.5])
def test_replay_prints_what_it_printed_before(fixture_files, classifier, fmt, hop_s):
    from genred.daemon.replay import replay

    out = io.StringIO()
    assert replay([str(p) for p in fixture_files], classifier, out, fmt=fmt, hop_s=hop_s) == 0
    before = _replay_as_before(fixture_files, classifier, fmt, hop_s)
    assert out.getvalue() == before
    assert ("silence" in before) and (before.count("\n") > 10)  # the fixture reaches the states it is meant to


def test_replay_reads_in_the_daemons_blocks():
    from genred.daemon.replay import BLOCK_S
    from genred.daemon.settings import AudioSettings

    assert AudioSettings().block_s == BLOCK_S


def test_the_daemon_hearing_the_file_says_what_replay_says(fixture_files, classifier, model_path):
    """The daemon's worker on a file source (as fast as it reads) changes state where
    replay's windows do, with the same confidences, over the same number of windows."""
    from genred.daemon.audio import FileSource
    from genred.daemon.replay import classify_file
    from genred.daemon.service import Daemon
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings
    from genred.daemon.systemd import Notifier

    path = fixture_files[0]
    states = []
    result = classify_file(path, classifier, on_window=lambda r: states.append(r.state))
    expected = []
    last = None
    for s in states:
        key = (s.status, s.genre)
        if key != last:
            expected.append(f"{'-' if last is None else last[1] or last[0]} -> {s.genre or s.status} ({s.confidence:.2f})")
            last = key

    settings = Settings(device_id="test", model=str(model_path), audio=AudioSettings(source=f"file:{path}"),
                        mqtt=MqttSettings(enabled=False))
    out = io.StringIO()
    daemon = Daemon(settings, out=out, notifier=Notifier({}), source_factory=lambda a: FileSource(
        a.source.removeprefix("file:"), realtime=False, block_s=a.block_s))
    assert daemon.run(threading.Event()) == 0
    said = [line.split(" test: ", 1)[1] for line in out.getvalue().splitlines()]
    assert said == expected and len(expected) >= 1
    assert daemon.status().windows == result.windows == 7


def test_a_file_that_fails_part_way_is_one_error_in_replay(write_wav, classifier, caplog):
    import logging

    from genred.daemon.replay import replay

    audio = music_like(5.0, 16000)
    audio[4 * 16000] = np.nan  # past the first window: the header is fine, the stream is not
    bad = write_wav("nan.wav", audio, 16000, subtype="FLOAT")
    out = io.StringIO()
    with caplog.at_level(logging.DEBUG, logger="genred"):
        assert replay([str(bad)], classifier, out) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert errors == [f"audio {bad}: non-finite sample (NaN or inf) at 4.000 s"]
    assert '"summary"' not in out.getvalue()  # no verdict for a file that failed
