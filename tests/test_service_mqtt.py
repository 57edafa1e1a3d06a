"""The daemon against a real mosquitto: every topic from `genred run --source file:...`,
and no event lost while the broker restarts under a running daemon."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from broker import USERNAME, daemon_on_broker, delivered_in_order
from fakes import FakePortAudio, fake_query, looped_music
from signals import music_like


def _music_and_silence(seconds_each: float, sr: int, cycles: int) -> np.ndarray:
    """Music, then digital silence, repeated: the state must change, so events flow."""
    music = music_like(seconds_each, sr, seed=4)
    return np.concatenate([np.concatenate([music, np.zeros_like(music)]) for _ in range(cycles)])


def _classify(model_path, audio: np.ndarray, rate_hz: int) -> tuple[list, float]:
    """The windows of ``audio`` through a Pipeline of the model, as the daemon makes them; and the hop."""
    from genred.dsp.classifier import TfliteClassifier
    from genred.dsp.pipeline import Pipeline

    pipeline = Pipeline(TfliteClassifier.from_path(model_path), rate_hz)
    return pipeline.process(audio) + pipeline.flush(), pipeline.hop_s


def _status_genre(message) -> tuple[str, str | None]:
    state = json.loads(message.payload)
    return state["status"], state["genre"]


def _labels(model_path) -> list[str]:
    return json.loads(model_path.with_suffix(".json").read_text())["labels"]


def test_genred_run_on_a_file_shows_every_topic(mosquitto, subscriber, write_wav, genre_only_model, tmp_path):
    model_path = genre_only_model
    audio = _music_and_silence(3.5, 22050, 1)
    path = write_wav("song.wav", audio, 22050)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"device_id: den\nmodel: {model_path}\naudio:\n  source: file:{path}\n"
        f"mqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n  publish_probabilities: true\n"
    )
    live = subscriber(mosquitto, ["genred/#", "homeassistant/#"])
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    base = "genred/den"
    state = json.loads(live.wait_for(f"{base}/state").payload)
    assert set(state) == {"genre", "confidence", "status", "since", "probabilities", "music_probability", "model"}
    assert state["music_probability"] is None  # this bundle has no music detector
    # What the daemon heard, worked out again through a Pipeline of the same model. The
    # state is retained (its latest is what a connect sends), so the daemon may be windows
    # ahead when it connects: the states seen are the Pipeline's, in its order, to the last.
    heard, _ = sf.read(path, dtype="float32")  # the file's 16-bit samples, not the float signal written
    results, hop_s = _classify(model_path, heard, 22050)
    states = [(r.state.status, r.state.genre) for r in results]
    live.wait_for(f"{base}/state", lambda m: _status_genre(m) == states[-1])
    seen = [_status_genre(m) for m in live.messages[f"{base}/state"]]
    later = iter(states)
    assert all(s in later for s in seen), (seen, states)
    event = json.loads(live.wait_for(f"{base}/event").payload)
    assert set(event) == {"from", "to", "confidence", "at"}
    probs = json.loads(live.wait_for(f"{base}/probabilities").payload)
    assert abs(sum(probs["probabilities"].values()) - 1) < 0.01
    # A late subscriber: the retained topics, and `offline` after the clean exit.
    late = subscriber(mosquitto, ["genred/#", "homeassistant/#"])
    assert late.wait_for(f"{base}/availability").payload == "offline"
    for kind in ("state", "status", "stats"):
        assert late.wait_for(f"{base}/{kind}").retain
    status = json.loads(late.wait_for(f"{base}/status").payload)
    assert status["windows"] == len(results) == 5 and status["capture"]["device"] == f"file:{path}"
    assert status["mqtt"]["reconnects"] == 0
    stats = json.loads(late.wait_for(f"{base}/stats").payload)
    genres = [r.state.genre for r in results if r.state.genre is not None]
    assert genres, "the music half must name a genre (the mix would be empty)"
    mix = {"music_s": round(len(genres) * hop_s, 1),
           "share": {g: pytest.approx(genres.count(g) / len(genres), abs=1e-4) for g in _labels(model_path)}}
    assert stats == {"today": mix, "last_7_days": mix, "date": dt.date.today().isoformat()}
    assert late.wait_for("homeassistant/sensor/genred_den/genre/config").retain
    assert " den: " in proc.stdout  # changes also go to stdout (the journal)


def test_broker_restart_loses_no_event(mosquitto_persistent, subscriber, write_wav, genre_only_model):
    model_path = genre_only_model  # synthetic music: its genre events are what is counted
    broker = mosquitto_persistent
    path = write_wav("cycle.wav", _music_and_silence(4.0, 16000, 2), 16000)
    sub = subscriber(broker, ["genred/den/event", "genred/den/availability"], clean_session=False)
    with daemon_on_broker(broker, model_path, path, speed=4) as made:
        deadline = time.monotonic() + 20
        while not (made and len(made[0].events) >= 2) and time.monotonic() < deadline:
            time.sleep(0.05)
        pub = made[0]
        assert len(pub.events) >= 2, "the music/silence cycle must produce events"
        broker.stop()
        produced_while_down = len(pub.events)
        time.sleep(3.0)  # the daemon keeps classifying; events queue up
        broker.start()
        deadline = time.monotonic() + 20
        while pub.counters().reconnects < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pub.counters().reconnects >= 1
        time.sleep(2.0)
        assert len(pub.events) > produced_while_down
    produced = [e.to_json() for e in pub.events]  # exactly what went on the wire
    received = sub.wait_count("genred/den/event", len(produced), timeout=10)
    ok, why = delivered_in_order(produced, received)  # at least once, in order
    assert ok, why
    sub.wait_for("genred/den/availability", lambda m: m.payload == "offline")  # the clean exit's, after the events
    assert sub.payloads("genred/den/availability")[-1] == "offline"


def _run_daemon(broker, path, model_path, tmp_path, *extra_yaml: str) -> subprocess.Popen:
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"device_id: den\nmodel: {model_path}\naudio:\n  source: file:{path}\n  loop: true\n"
        f"mqtt:\n  host: {broker.host}\n  port: {broker.port}\n  keepalive_s: 5\n" + "".join(extra_yaml)
    )
    return subprocess.Popen([sys.executable, "-m", "genred.daemon", "run", "--config", str(cfg)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _first_line(proc: subprocess.Popen) -> str:
    timer = threading.Timer(60, proc.kill)  # never hang the suite
    timer.start()
    try:
        return proc.stdout.readline()
    finally:
        timer.cancel()


def test_sigterm_publishes_offline_and_kill_9_leaves_the_will(mosquitto, subscriber, write_wav, model_path, tmp_path):
    import signal

    path = write_wav("loop.wav", music_like(4.0, 16000), 16000)
    proc = _run_daemon(mosquitto, path, model_path, tmp_path)
    try:
        assert " den: " in _first_line(proc)
        sub = subscriber(mosquitto, ["genred/den/availability"])
        assert sub.wait_for("genred/den/availability").payload == "online"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        assert sub.wait_for("genred/den/availability", lambda m: m.payload == "offline").payload == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()

    proc = _run_daemon(mosquitto, path, model_path, tmp_path)
    try:
        assert " den: " in _first_line(proc)
        n = len(sub.payloads("genred/den/availability"))
        sub.wait_for("genred/den/availability", lambda m: m.payload == "online", after=n - 1 if n else 0)
        proc.kill()  # SIGKILL: no goodbye; the broker publishes the will after 1.5 x keepalive
        proc.wait(timeout=5)
        m = sub.wait_for("genred/den/availability", lambda m: m.payload == "offline", timeout=15, after=n)
        assert m.payload == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_wrong_credentials_one_error_and_classification_goes_on(mosquitto_auth, write_wav, model_path, tmp_path):
    path = write_wav("loop.wav", music_like(4.0, 16000), 16000)
    secret = tmp_path / "mqtt-password"
    secret.write_text("not-the-password\n")
    proc = _run_daemon(mosquitto_auth, path, model_path, tmp_path,
                       f"  username: {USERNAME}\n  password_file: {secret}\n  reconnect_max_s: 1\n")
    try:
        assert " den: " in _first_line(proc)  # classification goes on and prints
        time.sleep(2.5)  # several refused attempts
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    err = proc.stderr.read()
    refused = [ln for ln in err.splitlines() if "refused" in ln]
    assert len(refused) == 1 and "mqtt.username" in refused[0], err
    assert "not-the-password" not in err and "Traceback" not in err


def test_a_lost_microphone_is_no_audio_in_the_state_and_comes_back(mosquitto, subscriber, genre_only_model):
    """The retained state (what Home Assistant shows) says when no audio arrives. The
    genre-only bundle names a genre for the synthetic chords (the detector rightly does not)."""
    model_path = genre_only_model
    import io

    from genred.daemon.audio import DeviceSource
    from genred.daemon.service import Daemon
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings
    from genred.daemon.systemd import Notifier

    fake = FakePortAudio(looped_music())
    settings = Settings(
        device_id="den", model=str(model_path),
        audio=AudioSettings(source="Fake USB", sample_rate_hz=16000, channels=1, block_s=0.05, buffer_s=2.0,
                            no_audio_timeout_s=0.5, retry_min_s=0.2, retry_max_s=0.4),
        mqtt=MqttSettings(host=mosquitto.host, port=mosquitto.port, keepalive_s=5, reconnect_min_s=0.1, reconnect_max_s=0.5),
    )
    topic = "genred/den/state"
    sub = subscriber(mosquitto, [topic, "genred/den/event"])
    out = io.StringIO()
    daemon = Daemon(settings, source_factory=lambda a: DeviceSource(a, stream_factory=fake.factory, query_devices=fake_query()),
                    notifier=Notifier({}), out=out)
    stop = threading.Event()
    runner = threading.Thread(target=daemon.run, args=(stop,), name="test-daemon")
    runner.start()
    try:
        first = json.loads(sub.wait_for(topic, timeout=20).payload)  # the first window: 3 s of audio
        assert first["status"] == "music" and first["genre"] is not None
        fake.stalled = True  # the microphone is unplugged: no callbacks, and reopening fails
        fake.available = False
        m = sub.wait_for(topic, lambda m: json.loads(m.payload)["status"] == "no_audio", timeout=5)
        state = json.loads(m.payload)
        assert state["genre"] is None and state["confidence"] == 0.0
        windows = daemon.status().windows
        mix = daemon.mix.snapshot(dt.date.today())
        late = subscriber(mosquitto, [topic])  # a dashboard that connects during the outage
        retained = late.wait_for(topic)
        assert retained.retain and json.loads(retained.payload)["status"] == "no_audio"
        time.sleep(1.5)
        assert daemon.status().windows == windows and daemon.mix.snapshot(dt.date.today()) == mix
        n = len(sub.payloads(topic))
        fake.stalled = False  # plugged in again
        fake.available = True
        back = json.loads(sub.wait_for(topic, lambda m: json.loads(m.payload)["status"] != "no_audio",
                                       timeout=15, after=n).payload)
        assert back["status"] in ("music", "silence", "uncertain") and daemon.status().windows > windows
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive()
    lines = out.getvalue().splitlines()
    assert any(ln.split(" -> ")[1].startswith("no_audio") for ln in lines if " -> " in ln), lines
    # The genre that ended is an event, as with silence.
    events = [json.loads(p) for p in sub.payloads("genred/den/event")]
    assert (events[0]["from"], events[0]["to"]) == (None, first["genre"])
    assert any(e["from"] is not None and e["to"] is None for e in events), events
