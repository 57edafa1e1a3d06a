"""Faults injected into a running daemon, and a soak.

* The broker is killed (SIGKILL) or stopped (SIGTERM) and restarted 20 times under a
  daemon fed from a file faster than real time: every event arrives, in order (at
  least once), and the retained state and availability end as the daemon left them.
* Capture faults through DeviceSource's hooks (tests/fakes.py's FakePortAudio): an open that
  fails, input overflows, a callback that stalls; and at the daemon level, the systemd
  watchdog starves while a stalled stream gives nothing, and is fed while audio flows
  or a missing device is retried.
* One hour of synthetic audio through the daemon as fast as it goes: memory flat,
  every queue and table bounded.

Each test bounds its own waits; nothing here asserts speed.
"""

from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from broker import daemon_on_broker, delivered_in_order
from fakes import FakePortAudio, fake_query, looped_music, wait_until
from signals import music_like


# -- the broker killed and restarted ----------------------------------------------------------


def test_broker_killed_and_restarted_20_times(mosquitto_persistent, subscriber, write_wav, genre_only_model):
    model_path = genre_only_model  # synthetic music: its genre events are what is counted
    broker = mosquitto_persistent
    music = music_like(5.0, 16000, seed=4)
    path = write_wav("cycle.wav", np.concatenate([music, np.zeros_like(music)]), 16000)
    base = "genred/den"
    sub = subscriber(broker, [f"{base}/event"], clean_session=False)
    rng = random.Random(20)
    with daemon_on_broker(broker, model_path, path, speed=6, reconnect_max_s=0.4) as made:
        wait_until(lambda: made and len(made[0].events) >= 2, 20, "the first events")
        pub = made[0]
        time.sleep(1.2)  # the broker's autosave (1 s) has the subscriber's session
        events_before = len(pub.events)
        queued_while_down = []
        for i in range(20):
            before = pub.counters().reconnects
            if i % 2:
                broker.kill()  # SIGKILL: no goodbye, nothing saved since the last autosave
            else:
                broker.stop()  # SIGTERM: mosquitto saves its sessions and exits
            time.sleep(rng.uniform(0.3, 0.6))
            queued_while_down.append(pub.counters().events_queued)
            broker.start()
            wait_until(lambda before=before: pub.counters().reconnects > before, 15, f"reconnect {i + 1}")
            wait_until(sub.client.is_connected, 15, f"the subscriber back after restart {i + 1}")
            time.sleep(rng.uniform(0.2, 0.5))  # traffic while the broker is up
        assert len(pub.events) - events_before >= 10, "events must flow through the restarts"
        assert sum(n > 0 for n in queued_while_down) >= 3, f"events must be queued during outages: {queued_while_down}"
        time.sleep(1.0)
    assert pub.counters().reconnects >= 20 and pub.counters().events_dropped == 0

    produced = [e.to_json() for e in pub.events]  # exactly what went on the wire

    def received() -> list[str]:
        return sub.payloads(f"{base}/event")

    deadline = time.monotonic() + 10
    while not delivered_in_order(produced, received())[0] and time.monotonic() < deadline:
        time.sleep(0.1)
    ok, why = delivered_in_order(produced, received())
    print(f"{len(produced)} events produced, {len(received())} received (repeats included)")
    assert ok, f"{why}; produced {len(produced)}, received {len(received())}"

    # What a subscriber arriving now sees: offline, and the last state published.
    late = subscriber(broker, [f"{base}/state", f"{base}/availability"])
    assert late.wait_for(f"{base}/availability", timeout=5).payload == "offline"
    state = late.wait_for(f"{base}/state", timeout=5)
    assert state.retain and state.payload == pub.states[-1].to_json()


# -- capture faults --------------------------------------------------------------------------


def _audio(**kw):
    from genred.daemon.settings import AudioSettings

    base = dict(source="Fake USB", sample_rate_hz=16000, channels=1, block_s=0.02, buffer_s=2.0,
                no_audio_timeout_s=0.3, retry_min_s=0.1, retry_max_s=0.2)
    base.update(kw)
    return AudioSettings(**base)


def test_capture_faults_open_error_overflows_and_a_stall():
    from genred.daemon.audio import DeviceSource

    fake = FakePortAudio(looped_music())
    fake.available = False  # the device errors at open: retried, with back-off
    src = DeviceSource(_audio(), stream_factory=fake.factory, query_devices=fake_query())
    try:
        src.start()
        wait_until(lambda: fake.failed_opens >= 2, 5, "two failed opens")
        s = src.status()
        assert s.state == "retrying" and "Device unavailable" in s.last_error and src.read(10, timeout_s=0.05) is None
        fake.available = True
        wait_until(lambda: src.status().state == "running", 5, "the device open")
        assert src.status().reopen_count == 1
        assert src.read(320, timeout_s=2.0) is not None

        fake.overflow_blocks = 4  # PortAudio reports overflows: counted, audio goes on
        wait_until(lambda: fake.overflow_blocks == 0 and src.status().overruns == 4, 5, "4 overruns counted")
        assert src.read(320, timeout_s=2.0) is not None

        fake.stalled = True  # the callback stops: lost after no_audio_timeout_s, reopened
        wait_until(lambda: src.status().state in ("lost", "retrying") or src.status().reopen_count == 2, 5, "lost")
        fake.stalled = False
        wait_until(lambda: src.status().reopen_count == 2 and src.status().state == "running", 5, "the reopen")
        assert src.status().last_error is None  # recovered
        assert len(fake.streams) == 2 and not fake.streams[0].active
        assert src.read(320, timeout_s=2.0) is not None  # audio flows again
        s = src.status()
        assert s.overruns == 4 and s.dropped_frames == 0  # the counts survive the reopen
        assert s.seconds_since_audio is not None and s.seconds_since_audio < 1.0
    finally:
        src.stop(timeout_s=1.0)
    assert src.status().state == "stopped"


def test_watchdog_stops_while_audio_stalls_and_resumes(model_path, notify_socket):
    from genred.daemon.audio import DeviceSource
    from genred.daemon.service import Daemon
    from genred.daemon.settings import MqttSettings, Settings
    from genred.daemon.systemd import Notifier

    fake = FakePortAudio(looped_music())
    notify = notify_socket
    # A stall longer than no_audio_timeout_s, and a device that is gone for a while
    # after it: about 2.5 s without audio (0.6 s of it "lost", before the first reopen).
    settings = Settings(device_id="test", model=str(model_path), mqtt=MqttSettings(enabled=False),
                        audio=_audio(block_s=0.05, no_audio_timeout_s=0.5, retry_min_s=0.6, retry_max_s=0.8))
    notifier = Notifier({"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "100000"})  # fed every 50 ms
    daemon = Daemon(settings, source_factory=lambda a: DeviceSource(a, stream_factory=fake.factory, query_devices=fake_query()),
                    notifier=notifier, out=io.StringIO())
    stop = threading.Event()
    runner = threading.Thread(target=daemon.run, args=(stop,), name="test-daemon")
    runner.start()
    try:
        wait_until(lambda: daemon.status().windows >= 1, 15, "a first window (3 s of audio)")
        assert len(notify.watchdogs()) >= 5
        fake.overflow_blocks = 3
        wait_until(lambda: fake.overflow_blocks == 0, 5, "the overflows delivered")
        time.sleep(0.2)
        stalled_at = time.monotonic()
        fake.stalled = True
        wait_until(lambda: daemon.source.status().state != "running", 5, "the stall noticed")
        lost_at = time.monotonic()
        fake.available = False  # reopening fails for a while
        wait_until(lambda: fake.failed_opens >= 2, 5, "failed reopens")
        fake.stalled = False
        fake.available = True
        wait_until(lambda: len(fake.opened_at) == 2, 5, "the reopen")
        back_at = fake.opened_at[-1]
        wait_until(lambda: any(t > back_at for t in notify.watchdogs()), 5, "the watchdog fed again")
        windows_before = daemon.status().windows
        wait_until(lambda: daemon.status().windows > windows_before, 10, "windows classified again")
        status = daemon.status()
    finally:
        stop.set()
        runner.join(timeout=10)
        notify.close()  # what the daemon sent last (STOPPING=1) is read in
    assert not runner.is_alive()
    assert back_at - stalled_at > 1.0, "the outage must be long enough to tell"
    dogs = notify.watchdogs()
    # While the stream counts as open (and then lost) without audio, the watchdog starves;
    # once reopening fails (the device is gone) the supervisor is plainly alive and
    # waiting, so it is fed again: a restart would not bring the device back. The window
    # starts when the loss was seen (no_audio_timeout_s after the stall): by then the
    # blocks still in the ring buffer at the stall are long processed, even on a busy machine.
    gone_at = fake.failed_at[0]
    silent = [t for t in dogs if lost_at < t < gone_at]
    # Longer than two of the worker's read timeouts: feeding there would show.
    assert lost_at - stalled_at >= 0.5 and gone_at - lost_at > 0.5, "the outage must be long enough to tell"
    assert not silent, f"the watchdog was fed {len(silent)} time(s) while a stalled stream gave no audio"
    assert any(gone_at < t < back_at for t in dogs), "not fed while waiting for the missing device"
    assert sum(t < stalled_at for t in dogs) >= 5 and sum(t > back_at for t in dogs) >= 2
    gaps = np.diff([t for t in dogs if t < stalled_at])
    assert gaps.max() < 0.5  # fed steadily while audio flows
    cap = status.capture
    assert cap["overruns"] == 3 and cap["reopen_count"] >= 1 and cap["state"] == "running"
    assert cap["last_error"] is None  # running again: no stale error in the status
    msgs = notify.messages
    assert msgs[0].startswith("READY=1") and msgs[-1] == "STOPPING=1"


# -- the soak ----------------------------------------------------------------------------------


def test_soak_one_hour_of_audio_memory_and_queues_stay_bounded(model_path):
    """tests/soak.py runs the daemon in an interpreter of its own: RSS is the daemon's there."""
    soak = Path(__file__).with_name("soak.py")
    done = subprocess.run([sys.executable, str(soak), str(model_path)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    r = json.loads(done.stdout.splitlines()[-1])

    status = r["status"]
    assert r["rc"] == 0
    assert status["audio_s"] == pytest.approx(3600.0, abs=0.2)
    assert status["windows"] >= 3500  # about one a second
    assert r["out_lines"] >= 20, "the synthetic runs must change the state"
    samples = r["samples"]
    assert len(samples) == r["checkpoints"] == 12

    rss_warm = samples[0][1]
    growth_mib = (max(r["rss_end_kib"], *(s[1] for s in samples)) - rss_warm) / 1024
    print(f"RSS after warm-up {rss_warm} KiB, growth {growth_mib:.2f} MiB; samples {[(int(s[0]), s[1]) for s in samples]}")
    assert growth_mib <= 5.0, f"RSS grew {growth_mib:.1f} MiB after warm-up: {samples}, end {r['rss_end_kib']}"

    # Bounded, whatever the uptime: the inference times, the mix (7 days), the pipeline.
    assert r["inference_maxlen"] is not None and r["inference_len"] == r["inference_maxlen"]
    assert all(days <= r["mix_days"] for _, _, days, _ in samples)
    assert all(n <= r["inference_maxlen"] for *_, n in samples)
    assert all(n <= r["labels"] for n in r["mix_per_day_genres"])
    assert samples[-1][2] == r["mix_days"]  # a full week of the clock's days in the mix, no more
    assert r["snapshot_keys"] == ["date", "last_7_days", "today"]
    assert r["snapshot_share"] == r["labels"]
    assert r["snapshot_music_s"] <= 7 * 120 + 1
    assert r["input_rate_hz"] == 44100
    assert r["resampler_arrays"], "the resampler's buffers are looked at"
    for name, size in r["resampler_arrays"].items():
        assert size < 10 * 44100, f"resampler {name} holds {size} samples"
    assert r["status_json_chars"] < 4096  # the status payload does not grow either
    # The daemon's own status reports its source's, as after an hour of it.
    assert status["capture"] == {"device": "synthetic", "state": "running", "sample_rate_hz": 44100, "channels": 1,
                                 "overruns": 0, "dropped_frames": 0, "reopen_count": 0, "last_error": None,
                                 "seconds_since_audio": 0.0}
