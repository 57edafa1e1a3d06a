"""The daemon with a music detector: `no_music` on stdout, in the listening mix, in the
retained state and events on a real mosquitto, in Home Assistant's sensor and in
`genred listen`. The detector is tests/detectors.py's "tonal" one: chords are music,
white noise (standing in for talk) is not."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from signals import music_like

RATE_HZ = 16000


def _music_then_talk(music_s: float = 10.0, talk_s: float = 20.0) -> np.ndarray:
    noise = 0.1 * np.random.default_rng(7).standard_normal(int(talk_s * RATE_HZ))
    return np.concatenate([music_like(music_s, RATE_HZ, seed=1), noise.astype(np.float32)])


def _fast_file(audio):
    from genred.daemon.audio import FileSource

    return FileSource(audio.source.removeprefix("file:"), realtime=False, block_s=audio.block_s)


def _run_daemon(model, audio_path) -> tuple[object, str]:
    from genred.daemon.service import Daemon
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings
    from genred.daemon.systemd import Notifier

    settings = Settings(device_id="den", model=str(model), audio=AudioSettings(source=f"file:{audio_path}"),
                        mqtt=MqttSettings(enabled=False))
    out = io.StringIO()
    daemon = Daemon(settings, source_factory=_fast_file, notifier=Notifier({}), out=out)
    assert daemon.run(threading.Event()) == 0
    return daemon, out.getvalue()


def _genre_windows(model, audio: np.ndarray) -> tuple[int, float]:
    """Windows whose published state names a genre, through the same Pipeline; and the hop."""
    from genred.dsp.classifier import TfliteClassifier
    from genred.dsp.pipeline import Pipeline

    pipe = Pipeline(TfliteClassifier.from_path(model), RATE_HZ)
    results = pipe.process(audio) + pipe.flush()
    return sum(r.state.genre is not None for r in results), pipe.hop_s


def test_daemon_prints_the_change_to_no_music_and_does_not_count_it(make_bundle, write_wav):
    audio = _music_then_talk()
    path = write_wav("den.wav", audio, RATE_HZ)
    model = make_bundle("tonal")
    daemon, out = _run_daemon(model, path)
    changes = [line.split(" den: ")[1] for line in out.splitlines()]
    assert len(changes) == 2, out
    genre = changes[0].split(" -> ")[1].split(" ")[0]
    assert changes[0].startswith("- -> ") and genre not in ("no_music", "silence", "uncertain")
    assert changes[1].startswith(f"{genre} -> no_music (0.9")
    # The listening mix counts the windows that name a genre: the music, and the talk
    # only until no_music_hold_s has passed; the no-music windows after that are not counted.
    n, hop_s = _genre_windows(model, audio)
    counted = daemon.mix.snapshot(dt.date.today()).today.music_s
    assert counted == round(n * hop_s, 1) and n < daemon.status().windows - 5
    plain, _ = _run_daemon(make_bundle(None, name="plain"), path)
    # Without a detector, whatever of the talk the genre model names counts too (how much of
    # it depends on the shipped model: synthetic talk is often `uncertain`).
    assert plain.mix.snapshot(dt.date.today()).today.music_s > counted


def test_no_detector_is_said_once_at_info(make_bundle, caplog):
    from genred.daemon.service import Daemon
    from genred.daemon.settings import MqttSettings, Settings

    caplog.set_level(logging.INFO, logger="genred.daemon.service")
    Daemon(Settings(model=str(make_bundle(None, name="plain")), mqtt=MqttSettings(enabled=False)), out=io.StringIO())
    said = [r for r in caplog.records if "no music detector" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO and "no no_music state" in said[0].getMessage()
    caplog.clear()
    Daemon(Settings(model=str(make_bundle("tonal")), mqtt=MqttSettings(enabled=False)), out=io.StringIO())
    assert not [r for r in caplog.records if "no music detector" in r.getMessage()]


def test_music_off_above_the_models_music_on_is_one_line(make_bundle, write_wav, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"model: {make_bundle('tonal')}\nmqtt:\n  enabled: false\nsmoothing:\n  music_off: 0.7\n")
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines == ["genred: config: smoothing.music_off must be <= music_on (0.6), not 0.7 "
                     "(the config sets smoothing.music_off; the rest are the model's)"], proc.stderr


def _render(template: str, payload: dict) -> str:
    """A discovery value template, rendered as Home Assistant renders it (a sandboxed Jinja2)."""
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("jinja2 is missing (the dev extra installs it)")
        pytest.skip("jinja2 is not installed (the dev extra has it)")
    return ImmutableSandboxedEnvironment().from_string(template).render(value_json=payload)


def test_no_music_on_the_broker_in_home_assistant_and_listen(mosquitto, subscriber, make_bundle, write_wav, tmp_path):
    from genred.daemon.mqtt.listen import listen

    path = write_wav("den.wav", _music_then_talk(), RATE_HZ)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"device_id: den\nmodel: {make_bundle('tonal')}\naudio:\n  source: file:{path}\n"
                   f"mqtt:\n  host: {mosquitto.host}\n  port: {mosquitto.port}\n")
    live = subscriber(mosquitto, ["genred/#", "homeassistant/#"])
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    base = "genred/den"
    states = [json.loads(m) for m in live.payloads(f"{base}/state")]
    assert [s["status"] for s in states][:1] == ["music"] and states[0]["genre"]
    assert isinstance(states[0]["music_probability"], float) and states[0]["music_probability"] > 0.9
    quiet = live.wait_for(f"{base}/state", lambda m: json.loads(m.payload)["status"] == "no_music")
    nm = json.loads(quiet.payload)
    assert nm["genre"] is None and nm["music_probability"] < 0.35 and nm["confidence"] == pytest.approx(1 - nm["music_probability"], abs=1e-3)
    assert set(nm["probabilities"].values()) == {0.0}
    events = [json.loads(m) for m in live.payloads(f"{base}/event")]
    assert [(e["from"], e["to"]) for e in events] == [(None, states[0]["genre"]), (states[0]["genre"], None)]

    config = json.loads(live.wait_for("homeassistant/sensor/genred_den/genre/config").payload)
    assert _render(config["value_template"], nm) == "no music"
    assert _render(config["value_template"], states[0]) == states[0]["genre"]
    assert _render(config["value_template"], dict(nm, status="silence")) == "silence"

    out = io.StringIO()
    assert listen(mosquitto.host, mosquitto.port, device_id="den", out=out, max_messages=2) == 0
    state_line = next(line for line in out.getvalue().splitlines() if " state: " in line)
    assert state_line.endswith(f"den state: - {nm['confidence']:.2f} (no_music)")
