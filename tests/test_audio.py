"""daemon/audio/ without hardware: the ring buffer, device sources over a fake PortAudio
stream, file sources, and the device table. Synthetic signals only."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from genred.daemon.audio import (
    AudioSource,
    CaptureStatus,
    Device,
    DeviceSource,
    FileSource,
    RingBuffer,
    format_devices,
    list_devices,
    open_source,
    select_device,
)
from genred.daemon.audio.devices import plan_stream
from genred.daemon.audio.pacing import Pacer
from genred.daemon.settings import AudioSettings
from genred.dsp.errors import AudioError

from fakes import FakePortAudio, fake_query, ramp, wait_until


# -- RingBuffer --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ring_threads_blocking_writer_exact(seed):
    # A capacity smaller than many blocks forces wrap-around and partial waits.
    rng = np.random.default_rng(seed)
    data = ramp(40_000, 2)
    ring = RingBuffer(257, 2)
    sizes = []
    done = 0
    while done < len(data):
        k = int(rng.integers(1, 600))
        sizes.append((done, min(len(data), done + k)))
        done += k

    def produce():
        for a, b in sizes:
            assert ring.write_wait(data[a:b]) == b - a
        ring.finish()

    out = []
    t = threading.Thread(target=produce, name="test-producer", daemon=True)
    t.start()
    while True:
        block = ring.read(int(rng.integers(1, 258)), timeout_s=2.0)
        if block is None:
            assert ring.finished
            out.append(ring.read_available())
            break
        out.append(block)
    t.join(timeout=5)
    got = np.concatenate(out)
    np.testing.assert_array_equal(got, data)
    assert ring.dropped_frames == 0 and ring.overruns == 0
    assert ring.written_frames == ring.read_frames == len(data)


def test_ring_threads_nonblocking_writer_exact_when_room():
    # The callback's write: never drops while the consumer keeps up (the producer
    # here only writes what it knows fits, as a well-sized buffer would).
    rng = np.random.default_rng(7)
    data = ramp(30_000, 1)
    ring = RingBuffer(1000, 1)
    stop = threading.Event()

    def produce():
        i = 0
        while i < len(data):
            k = min(int(rng.integers(1, 300)), len(data) - i)
            while ring.capacity_frames - ring.available < k:
                time.sleep(0.0005)
            assert ring.write(data[i:i + k, 0]) == k  # mono may come as 1-D
            i += k
        ring.finish()

    t = threading.Thread(target=produce, name="test-producer", daemon=True)
    t.start()
    out = []
    read_rng = np.random.default_rng(8)
    while not stop.is_set():
        block = ring.read(int(read_rng.integers(1, 400)), timeout_s=2.0)
        if block is None:
            out.append(ring.read_available())
            break
        out.append(block)
    t.join(timeout=5)
    np.testing.assert_array_equal(np.concatenate(out), data)
    assert ring.dropped_frames == 0 and ring.written_frames > ring.capacity_frames  # it wrapped


def test_ring_stalled_consumer_drops_exactly_the_overflow():
    ring = RingBuffer(1000, 2)
    data = ramp(2600, 2)
    written = [ring.write(data[i:i + 300]) for i in range(0, 2600, 300)]
    assert written == [300, 300, 300, 100, 0, 0, 0, 0, 0]
    assert ring.dropped_frames == 1600 and ring.overruns == 6
    np.testing.assert_array_equal(ring.read_available(), data[:1000])  # the oldest, untouched
    assert ring.read(1, timeout_s=0.01) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 40)), max_size=60), st.integers(1, 50))
def test_ring_matches_a_model(ops, capacity):
    # Each write keeps the prefix that fits; reads return the accepted frames in order.
    ring = RingBuffer(capacity, 2)
    queue: list[np.ndarray] = []  # the reference: accepted frames not yet read
    counter = 0
    dropped = 0
    for is_write, n in ops:
        if is_write:
            block = ramp(n, 2, counter)
            counter += n
            fits = min(n, capacity - sum(len(q) for q in queue))
            assert ring.write(block) == fits
            queue.append(block[:fits])
            dropped += n - fits
        else:
            n = min(n, capacity)
            want = np.concatenate(queue) if queue else np.zeros((0, 2), np.float32)
            got = ring.read(n, timeout_s=0)
            if len(want) >= n:
                np.testing.assert_array_equal(got, want[:n])
                queue = [want[n:]]
            else:
                assert got is None
    assert ring.dropped_frames == dropped
    assert ring.available == sum(len(q) for q in queue)


def test_ring_read_timeout_clear_and_bad_sizes():
    ring = RingBuffer(100, 1)
    t0 = time.monotonic()
    assert ring.read(10, timeout_s=0.1) is None
    assert 0.08 <= time.monotonic() - t0 < 1.0
    ring.write(np.ones((50, 1), np.float32))
    assert ring.read(60, timeout_s=0.01) is None and ring.available == 50
    ring.clear()
    assert ring.available == 0 and ring.written_frames == 50
    with pytest.raises(ValueError):
        ring.read(101)
    with pytest.raises(ValueError):
        ring.write(np.ones((5, 2), np.float32))
    # A writer waiting for space gives up when told to stop, dropping nothing.
    ring.write(np.ones((100, 1), np.float32))
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    assert ring.write_wait(np.ones((5, 1), np.float32), stop) == 0 and ring.dropped_frames == 0


# -- a device table for the fake PortAudio (tests/fakes.py) ------------------------------------


DEVICES = [
    {"name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "index": 0, "max_input_channels": 2,
     "max_output_channels": 2, "default_samplerate": 44100.0},
    {"name": "HDA Intel PCH: HDMI 0 (hw:0,3)", "index": 1, "max_input_channels": 0,
     "max_output_channels": 8, "default_samplerate": 44100.0},
    {"name": "USB PnP Sound Device: Audio (hw:2,0)", "index": 2, "max_input_channels": 1,
     "max_output_channels": 0, "default_samplerate": 1000.0},
    {"name": "Loopback 4ch", "index": 3, "max_input_channels": 4,
     "max_output_channels": 0, "default_samplerate": 1000.0},
]


def audio_settings(**kw) -> AudioSettings:
    base = dict(block_s=0.01, buffer_s=2.0, no_audio_timeout_s=0.2, retry_min_s=0.02, retry_max_s=0.08)
    base.update(kw)
    return AudioSettings(**base)


@pytest.fixture
def pa():
    return FakePortAudio()


@pytest.fixture
def make_source(pa):
    made = []

    def make(devices=DEVICES, default=0, **kw):
        src = DeviceSource(audio_settings(**kw), stream_factory=pa.factory, query_devices=fake_query(devices, default))
        made.append(src)
        return src

    yield make
    for src in made:
        src.stop(timeout_s=1.0)


# -- device selection -----------------------------------------------------------------------


def test_select_device_by_default_index_and_name():
    q = fake_query(DEVICES)
    assert select_device("default", q).index == 0
    assert select_device("2", q).index == 2
    assert select_device(3, q).name == "Loopback 4ch"
    assert select_device("usb pnp", q).index == 2
    assert select_device("hda", q).index == 0  # the first input, skipping output-only devices
    with pytest.raises(AudioError) as err:
        select_device("Blue Yeti", q)
    msg = str(err.value)
    assert "Blue Yeti" in msg and "USB PnP Sound Device" in msg and "HDMI" not in msg and "\n" not in msg
    with pytest.raises(AudioError, match="no input device has that index"):
        select_device("1", q)  # an output-only device
    with pytest.raises(AudioError, match="no default input"):
        select_device("default", fake_query(DEVICES, default=None))


def test_list_and_format_devices():
    devices = list_devices(fake_query(DEVICES, default=2))
    assert [d.index for d in devices] == [0, 2, 3]
    assert [d.is_default for d in devices] == [False, True, False]
    assert {f.name for f in dataclasses.fields(devices[0])} == {
        "index", "name", "max_input_channels", "default_sample_rate_hz", "is_default"}
    assert devices[1] == Device(2, "USB PnP Sound Device: Audio (hw:2,0)", 1, 1000.0, True)
    table = format_devices(devices)
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["index", "default", "channels", "rate"]
    usb = next(line for line in lines if "USB PnP" in line)
    assert usb.split()[:4] == ["2", "*", "1", "1000"]
    assert format_devices([]) == "no input devices found"
    assert format_devices(list_devices(fake_query(devices=[DEVICES[1]], default=None))) == "no input devices found"


def test_list_devices_without_portaudio_is_one_line():
    def broken(device=None, kind=None):
        raise OSError("PortAudio library not found")

    with pytest.raises(AudioError) as err:
        list_devices(broken)
    assert "no audio system" in str(err.value) and "libportaudio2" in str(err.value) and "\n" not in str(err.value)


def test_module_imports_without_sounddevice():
    code = (
        "import sys; sys.modules['sounddevice'] = None\n"
        "import genred.daemon.audio as c\n"
        "from genred.dsp.errors import AudioError\n"
        "try:\n    c.list_devices()\nexcept AudioError as e:\n    print(e)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "no audio system" in proc.stdout and "libportaudio2" in proc.stdout


# -- DeviceSource ----------------------------------------------------------------------------


def test_device_source_delivers_audio(make_source, pa):
    src = make_source(source="usb")
    assert src.sample_rate_hz is None and src.status().state == "starting" and src.eof is False
    src.start()
    wait_until(lambda: src.status().state == "running", what="running")
    assert src.sample_rate_hz == 1000 and src.channels == 1  # the device's rate; min(2, its channels)
    stream = pa.streams[0]
    assert (stream.device, stream.samplerate, stream.channels, stream.blocksize) == (2, 1000, 1, 10)
    blocks = [src.read(25, timeout_s=1.0) for _ in range(4)]
    assert all(b is not None and b.shape == (25, 1) and b.dtype == np.float32 for b in blocks)
    got = np.concatenate(blocks)[:, 0]
    np.testing.assert_array_equal(np.diff(got), 1.0)  # consecutive: nothing lost or repeated
    st_ = src.status()
    assert isinstance(st_, CaptureStatus)
    assert "USB PnP" in st_.device and st_.overruns == 0 and st_.reopen_count == 0 and st_.last_error is None
    assert st_.seconds_since_audio is not None and st_.seconds_since_audio < 0.5
    t0 = time.monotonic()
    src.stop(timeout_s=1.0)
    assert time.monotonic() - t0 < 1.0
    assert stream.closed and src.status().state == "stopped"


def test_device_source_settings_override_rate_and_channels(make_source, pa):
    src = make_source(source="Loopback", sample_rate_hz=2000, channels=3)
    src.start()
    wait_until(lambda: src.status().state == "running")
    assert (pa.streams[0].samplerate, pa.streams[0].channels, pa.streams[0].blocksize) == (2000, 3, 20)
    assert src.read(20, timeout_s=1.0).shape == (20, 3)


def test_device_source_counts_input_overflow(make_source, pa):
    pa.overflow_blocks = 3
    src = make_source(source="2")
    src.start()
    wait_until(lambda: src.status().state == "running")
    wait_until(lambda: pa.overflow_blocks == 0 and src.status().overruns == 3, what="3 overflows")
    assert src.status().dropped_frames == 0


def test_device_source_full_buffer_is_an_overrun(make_source, pa):
    src = make_source(source="2", buffer_s=0.05)  # 4 blocks of 10 frames: 50 ms
    src.start()
    wait_until(lambda: src.status().dropped_frames >= 20, what="drops")
    s = src.status()
    assert s.overruns >= 2 and s.dropped_frames % 10 == 0
    # What is kept is the oldest unread audio: still consecutive.
    np.testing.assert_array_equal(np.diff(src.read(40, timeout_s=0.5)[:, 0]), 1.0)


def test_device_missing_at_start_retries_then_runs(make_source, pa, caplog):
    pa.available = False
    src = make_source(source="default")
    with caplog.at_level(logging.DEBUG, logger="genred.daemon.audio"):
        src.start()  # does not raise
        wait_until(lambda: src.status().state == "retrying", what="retrying")
        time.sleep(0.25)  # several attempts
        s = src.status()
        assert s.state == "retrying" and "Device unavailable" in s.last_error and src.sample_rate_hz is None
        assert src.read(10, timeout_s=0.05) is None
        pa.available = True
        wait_until(lambda: src.status().state == "running", what="running")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Device unavailable" in warnings[0].getMessage()
    assert src.status().reopen_count == 1 and src.status().last_error is None  # no stale error once it runs
    assert src.read(10, timeout_s=1.0).shape == (10, 2)


def test_device_name_missing_retries_with_names(make_source, caplog):
    src = make_source(source="Blue Yeti")
    with caplog.at_level(logging.WARNING, logger="genred.daemon.audio"):
        src.start()
        wait_until(lambda: src.status().state == "retrying")
        time.sleep(0.15)
    assert "Loopback 4ch" in src.status().last_error
    assert len(caplog.records) == 1 and "Blue Yeti" in caplog.records[0].getMessage()


def test_device_going_silent_is_lost_and_reopened(make_source, pa, caplog):
    src = make_source(source="default", no_audio_timeout_s=0.2)
    with caplog.at_level(logging.INFO, logger="genred.daemon.audio"):
        src.start()
        wait_until(lambda: src.status().state == "running")
        assert src.read(10, timeout_s=1.0) is not None
        pa.streams[0].silent = True
        wait_until(lambda: src.status().reopen_count == 1 and src.status().state == "running", what="reopen")
    assert pa.streams[0].closed and len(pa.streams) == 2
    assert src.status().last_error is None  # recovered: the fault is in the log, not a stale status
    assert any("no audio" in r.getMessage() for r in caplog.records)
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert len(lost) == 1 and lost[0].levelno == logging.WARNING
    assert src.read(10, timeout_s=1.0) is not None  # audio flows again


def test_device_stream_error_is_lost_and_reopened_with_backoff(make_source, pa):
    src = make_source(source="default", no_audio_timeout_s=5.0)
    src.start()
    wait_until(lambda: src.status().state == "running")
    pa.available = False  # the device is gone: reopening fails a few times
    pa.streams[0].fail()
    # A loaded machine may take a while to reach the retry loop: wait for the state, then check
    # that no stream opened while the device was away.
    wait_until(lambda: src.status().state == "retrying", timeout_s=5.0, what="retrying")
    assert len(pa.streams) == 1
    pa.available = True
    wait_until(lambda: src.status().state == "running", what="back")
    assert src.status().reopen_count == 1 and len(pa.streams) == 2
    assert src.read(10, timeout_s=1.0) is not None


def test_c_library_lines_on_failed_opens_go_to_the_debug_log(capfd, caplog):
    """ALSA, JACK and PortAudio print to fd 2 themselves, 3-4 lines on every failed open."""
    attempts = []

    def noisy_factory(**kw):
        attempts.append(1)
        os.write(2, b"ALSA lib pcm.c:2664:(snd_pcm_open_noupdate) Unknown PCM nothere\n")
        os.write(2, b"Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c', line: 1736\n")
        raise RuntimeError("Error opening InputStream: Device unavailable [PaErrorCode -9985]")

    src = DeviceSource(audio_settings(), stream_factory=noisy_factory, query_devices=fake_query(DEVICES))
    with caplog.at_level(logging.DEBUG, logger="genred.daemon.audio"):
        src.start()
        wait_until(lambda: len(attempts) >= 3, what="three failed opens")
        src.stop(timeout_s=1.0)
    err = capfd.readouterr().err
    assert "ALSA lib" not in err and "pa_linux_alsa" not in err, err
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert sum("ALSA lib pcm.c:2664" in m for m in debug) >= 3, debug
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Device unavailable" in warnings[0]  # our one line stays


def test_stop_returns_within_timeout_while_retrying(make_source, pa):
    pa.available = False
    src = make_source(source="default", retry_min_s=5.0, retry_max_s=5.0)
    src.start()
    wait_until(lambda: src.status().state == "retrying")
    t0 = time.monotonic()
    src.stop(timeout_s=0.5)
    assert time.monotonic() - t0 < 0.5 and src.status().state == "stopped"


# -- FileSource ---------------------------------------------------------------------------


def write_ramp(tmp_path, frames=1000, sr=8000, channels=2, name="ramp.wav"):
    # Float WAV keeps the samples bit-exact through the file.
    data = (ramp(frames, channels) / 4096).astype(np.float32)
    path = tmp_path / name
    sf.write(str(path), data, sr, subtype="FLOAT")
    return path, data


def drain(src, n, timeout_s=1.0, limit=None):
    out = []
    total = 0
    while limit is None or total < limit:
        block = src.read(n, timeout_s=timeout_s)
        if block is None:
            if src.eof:
                break
            continue
        out.append(block)
        total += len(block)
    return np.concatenate(out)


def test_file_source_fast_is_exact_and_ends(tmp_path):
    path, data = write_ramp(tmp_path, frames=1234)
    src = FileSource(path, realtime=False, block_s=0.01)
    assert (src.sample_rate_hz, src.channels, src.eof) == (8000, 2, False)
    src.start()
    got = drain(src, 100)
    np.testing.assert_array_equal(got, data)  # the short tail included
    assert src.eof and src.read(10, timeout_s=0.01) is None
    s = src.status()
    assert s.device == f"file:{path}" and s.state == "ended" and s.dropped_frames == 0
    src.stop(timeout_s=1.0)
    assert src.status().state == "stopped"


def test_file_source_loops(tmp_path):
    path, data = write_ramp(tmp_path, frames=1000)
    src = FileSource(path, loop=True, realtime=False, block_s=0.01)
    src.start()
    got = drain(src, 300, limit=2500)
    src.stop(timeout_s=1.0)
    np.testing.assert_array_equal(got[:2500], np.concatenate([data, data, data])[:2500])


def test_file_source_realtime_pacing(tmp_path):
    path, data = write_ramp(tmp_path, frames=4000, sr=8000)  # 0.5 s
    src = FileSource(path, realtime=True, block_s=0.05)
    t0 = time.monotonic()
    src.start()
    got = drain(src, 400)
    elapsed = time.monotonic() - t0
    src.stop(timeout_s=1.0)
    np.testing.assert_array_equal(got, data)
    assert 0.4 <= elapsed < 2.0


def test_file_source_bad_files_are_one_line(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    for path in (bad, tmp_path / "missing.wav"):
        with pytest.raises(AudioError) as err:
            FileSource(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_file_source_that_fails_mid_stream_ends_with_the_error_and_logs_nothing(tmp_path, caplog):
    # The reader says it once (a failed run, a skipped track), not the source as well.
    data = (ramp(4000, 1) / 4096).astype(np.float32)
    data[2500] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(str(path), data, 8000, subtype="FLOAT")
    src = FileSource(path, realtime=False, block_s=0.1)
    with caplog.at_level(logging.DEBUG, logger="genred.daemon.audio"):
        src.start()
        got = drain(src, 800)
        src.stop(timeout_s=1.0)
    np.testing.assert_array_equal(got, data[:2400])  # the blocks before the bad one (800 frames each)
    assert src.eof and src.status().last_error == f"audio {path}: non-finite sample (NaN or inf) at 0.312 s"
    assert caplog.records == []


def test_pacer_delivers_on_the_audio_clock_at_any_speed(tmp_path):
    now = [100.0]
    pacer = Pacer(1000, clock=lambda: now[0])
    assert pacer.wait_s(250) == 0.25
    now[0] = 100.4  # woke late: the next block is due at 0.5 s, not 0.4 + 0.25
    assert pacer.wait_s(250) == pytest.approx(0.1)
    now[0] = 101.0
    assert pacer.wait_s(250) == 0.0  # behind: no wait, and no debt carried either way
    fast = Pacer(1000, speed=4.0, clock=lambda: now[0])
    assert [fast.wait_s(500) for _ in range(2)] == [0.125, 0.25]
    with pytest.raises(ValueError, match="speed must be > 0"):
        Pacer(1000, speed=0.0)
    with pytest.raises(ValueError, match="speed must be > 0"):
        FileSource(write_ramp(tmp_path)[0], speed=-1.0)


def test_both_sources_are_audio_sources(tmp_path):
    path, _ = write_ramp(tmp_path)
    assert isinstance(FileSource(path), AudioSource)
    assert isinstance(DeviceSource(audio_settings(), stream_factory=FakePortAudio().factory, query_devices=fake_query(DEVICES)),
                      AudioSource)

    class NoWatchdogAnswer:  # what the daemon would have to guess about: refused
        sample_rate_hz, channels, eof = 16000, 1, False

        def start(self): ...
        def stop(self, timeout_s=1.0): ...
        def read(self, n, timeout_s=None): ...
        def status(self): ...

    assert not isinstance(NoWatchdogAnswer(), AudioSource)


def test_plan_stream_applies_the_settings_to_the_device():
    usb = select_device("usb", fake_query(DEVICES))
    plan = plan_stream(AudioSettings(block_s=0.1, buffer_s=30.0), usb)
    assert (plan.sample_rate_hz, plan.channels, plan.block_frames, plan.capacity_frames) == (1000, 1, 100, 30000)
    plan = plan_stream(AudioSettings(sample_rate_hz=48000, block_s=0.01, buffer_s=0.01), usb)
    assert (plan.sample_rate_hz, plan.block_frames, plan.capacity_frames) == (48000, 480, 4 * 480)  # never under 4 blocks
    with pytest.raises(AudioError) as err:
        plan_stream(AudioSettings(channels=2), usb)
    assert str(err.value) == ("audio device 2 'USB PnP Sound Device: Audio (hw:2,0)' has 1 input channel(s); "
                              "audio.channels asks for 2")


def test_open_source_picks_the_kind(tmp_path):
    path, _ = write_ramp(tmp_path)
    src = open_source(AudioSettings(source=f"file:{path}", loop=True, block_s=0.05))
    assert isinstance(src, FileSource) and src.loop and src.realtime
    assert isinstance(open_source(AudioSettings(source="USB")), DeviceSource)  # not opened until start()
    with pytest.raises(AudioError):
        open_source(AudioSettings(source=f"file:{tmp_path / 'nope.wav'}"))


def test_our_own_lines_written_meanwhile_come_back_to_stderr(capfd, caplog):
    from genred.daemon.quiet import c_library_stderr_to_debug

    log = logging.getLogger("genred.test.quiet")
    with (caplog.at_level(logging.DEBUG, logger="genred.test.quiet"), pytest.raises(RuntimeError),
          c_library_stderr_to_debug("device x", log)):
        os.write(2, b"genred: MQTT connected to broker:1883 as genred-den\n")  # another thread's line
        os.write(2, b"ALSA lib conf.c:4555:(snd_config_update_r) Cannot access file x\n")
        raise RuntimeError("the open failed")
    err = capfd.readouterr().err
    assert err == "genred: MQTT connected to broker:1883 as genred-den\n"
    assert [r.getMessage() for r in caplog.records] == ["device x: ALSA lib conf.c:4555:(snd_config_update_r) Cannot access file x"]
