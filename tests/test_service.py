"""`genred run` without a broker: the daemon on a file source, systemd notifications,
SIGTERM, and the unit file."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from detectors import shipped_json_for
from fakes import RecordingPublisher, SilentSource
from signals import music_like

ROOT = Path(__file__).resolve().parents[1]


def _settings(source: str, model: Path, **mqtt):
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings

    mqtt.setdefault("enabled", False)
    return Settings(device_id="test", model=str(model), audio=AudioSettings(source=source), mqtt=MqttSettings(**mqtt))


def _fast_file(audio):
    from genred.daemon.audio import FileSource

    # As fast as the worker reads: the same path as live audio, without the wait.
    return FileSource(audio.source.removeprefix("file:"), realtime=False, block_s=audio.block_s)


def test_daemon_on_a_file_prints_changes_and_ends(write_wav, model_path):
    from genred.daemon.service import Daemon
    from genred.daemon.systemd import Notifier

    path = write_wav("song.wav", music_like(8.0, 48000, channels=2), 48000)
    out = io.StringIO()
    daemon = Daemon(_settings(f"file:{path}", model_path), source_factory=_fast_file, notifier=Notifier({}), out=out)
    stop = threading.Event()
    t0 = time.monotonic()
    assert daemon.run(stop) == 0
    assert time.monotonic() - t0 < 30
    status = daemon.status()
    assert status.windows == 6  # windows ending at 3..8 s
    assert status.input_rate_hz == 48000 and status.audio_s == pytest.approx(8.0, abs=0.05)
    lines = out.getvalue().splitlines()
    assert lines, "the first decision is always printed"
    assert all(" test: " in ln and " -> " in ln for ln in lines)


def test_the_daemon_reads_the_time_of_its_clock(write_wav, model_path):
    """Wall time for the payloads and the printed changes, monotonic time for uptime and
    intervals: both the clock's, none the system's."""
    import datetime as dt

    from genred.daemon.clock import Clock
    from genred.daemon.mqtt.api import NullPublisher
    from genred.daemon.mqtt.payloads import StatePayload, StatsPayload, StatusPayload
    from genred.daemon.service import Daemon
    from genred.daemon.systemd import Notifier

    recording = RecordingPublisher(NullPublisher())
    wall = dt.datetime(2031, 5, 6, 12, 8, 9, tzinfo=dt.timezone.utc).timestamp()  # noon: that day in any zone to +-11 h
    mono = iter(range(1000, 10**6, 10))  # ten seconds pass at each reading
    clock = Clock(wall=lambda: wall, monotonic=lambda: float(next(mono)))
    path = write_wav("song.wav", music_like(5.0, 16000), 16000)
    out = io.StringIO()
    daemon = Daemon(_settings(f"file:{path}", model_path, enabled=True), source_factory=_fast_file,
                    publisher_factory=lambda *a, **kw: recording, notifier=Notifier({}), out=out, clock=clock)
    assert daemon.run(threading.Event()) == 0
    at = dt.datetime.fromtimestamp(wall, dt.timezone.utc).astimezone().isoformat(timespec="seconds")
    lines = out.getvalue().splitlines()
    assert lines and all(ln.startswith(f"{at} test: ") for ln in lines)
    sent = recording.messages
    states = [m for m in sent if isinstance(m, StatePayload)]
    assert states and {m.since for m in states} == {at}
    assert {m.date for m in sent if isinstance(m, StatsPayload)} == {"2031-05-06"}
    uptimes = [m.uptime_s for m in sent if isinstance(m, StatusPayload)]
    assert uptimes and all(u > 0 and u % 10 == 0 for u in uptimes), uptimes  # whole steps of the clock


def test_ready_watchdog_and_stopping_are_sent(write_wav, model_path, notify_socket):
    from genred.daemon.service import Daemon
    from genred.daemon.systemd import Notifier

    sock = notify_socket
    path = write_wav("song.wav", music_like(4.0, 16000), 16000)
    settings = _settings(f"file:{path}", model_path)
    notifier = Notifier({"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "200000"})
    assert Daemon(settings, source_factory=_fast_file, notifier=notifier, out=io.StringIO()).run(threading.Event()) == 0
    msgs = sock.drain()
    assert msgs[0].startswith("READY=1")
    assert "WATCHDOG=1" in msgs
    assert msgs[-1] == "STOPPING=1"
    assert msgs.index("WATCHDOG=1") > msgs.index(f"STATUS=listening on file:{path}")  # fed once audio flows


def test_an_open_but_silent_device_is_ready_but_never_feeds_the_watchdog(model_path, notify_socket):
    from genred.daemon.service import Daemon
    from genred.daemon.systemd import Notifier

    sock = notify_socket
    notifier = Notifier({"NOTIFY_SOCKET": str(sock.path), "WATCHDOG_USEC": "200000"})
    stop = threading.Event()
    daemon = Daemon(_settings("default", model_path),
                    source_factory=lambda a: SilentSource(), notifier=notifier, out=io.StringIO())
    threading.Timer(1.0, stop.set).start()
    assert daemon.run(stop) == 0
    msgs = sock.drain()
    # Ready (the daemon runs and says what it waits for), but a stream that counts as
    # open and delivers nothing is a hung capture: the watchdog must bite.
    assert msgs[0] == "READY=1\nSTATUS=waiting for audio from default"
    assert "WATCHDOG=1" not in msgs
    assert msgs[-1] == "STOPPING=1"


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _start_waiting_daemon(model_path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    """`genred run` on a microphone that is not there; returns once it says it retries."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "genred.daemon", "run", "--no-mqtt", "--source", "no-such-microphone",
         "--device-id", "t", "--model", str(model_path), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    timer = threading.Timer(60, proc.kill)  # never hang the suite
    timer.start()
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "retrying" in line:
                proc.said = line  # type: ignore[attr-defined]
                return proc
        raise AssertionError(f"the daemon never said it retries: {''.join(seen)}")
    finally:
        timer.cancel()


def test_waiting_for_a_missing_microphone_uses_no_cpu(model_path):
    proc = _start_waiting_daemon(model_path)
    # `make run` on a machine without a microphone: say how to go on.
    assert "genred devices" in proc.said and "--source file:PATH" in proc.said and "make run FILE=" in proc.said, proc.said
    try:
        time.sleep(0.5)
        cpu0, t0 = _cpu_s(proc.pid), time.monotonic()
        time.sleep(3.0)
        share = (_cpu_s(proc.pid) - cpu0) / (time.monotonic() - t0)
        assert proc.poll() is None
        # A spinning worker is a whole core (1.0); waiting is a few wake-ups a second.
        assert share < 0.05, f"{share:.0%} of a core while waiting for the microphone"
    finally:
        proc.kill()
        proc.wait(timeout=5)


def test_waiting_for_a_missing_microphone_is_ready_and_says_so(model_path, notify_socket):
    """Type=notify: a Pi that boots without its microphone must not time out at start."""
    sock = notify_socket
    env = dict(os.environ, NOTIFY_SOCKET=str(sock.path), WATCHDOG_USEC="200000")  # fed every 0.1 s
    proc = _start_waiting_daemon(model_path, env=env)
    try:
        time.sleep(1.5)
        msgs = sock.messages  # those so far
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    ready = [m for m in msgs if m.startswith("READY=1")]
    assert len(ready) == 1, msgs
    assert "STATUS=waiting for audio" in ready[0] and "no-such-microphone" in ready[0]
    # The microphone is missing, the daemon is not stuck: the supervisor retries, so
    # the watchdog is fed and systemd does not restart a healthy daemon in a loop.
    assert msgs.count("WATCHDOG=1") >= 5, msgs
    assert sock.drain()[-1] == "STOPPING=1"


def test_sigterm_stops_within_5_s(write_wav, model_path):
    path = write_wav("loop.wav", music_like(4.0, 44100), 44100)
    proc = subprocess.Popen(
        [sys.executable, "-m", "genred.daemon", "run", "--source", f"file:{path}", "--loop", "--no-mqtt",
         "--device-id", "t", "--model", str(model_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    watchdog = threading.Timer(60, proc.kill)  # never hang the suite on a silent daemon
    watchdog.start()
    try:
        line = proc.stdout.readline()  # the first decision, after one window of real-time audio
        assert " t: " in line, proc.stderr.read() if proc.poll() is not None else line
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=5)
        assert rc == 0 and time.monotonic() - t0 < 5
        assert "Traceback" not in proc.stderr.read()
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()


def test_a_file_source_that_fails_mid_stream_is_a_failed_run(write_wav, model_path):
    import numpy as np

    audio = music_like(1.0, 16000)
    audio[8000] = np.nan  # at 0.5 s: the header is fine, the stream is not
    path = write_wav("nan.wav", audio, 16000, subtype="FLOAT")
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--no-mqtt", "--source", f"file:{path}",
                           "--model", str(model_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if "non-finite sample" in ln]
    assert len(errors) == 1 and str(path) in errors[0] and "Traceback" not in proc.stderr, proc.stderr


def test_run_with_a_bad_config_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("audio:\n  block_s: fast\n")
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "audio.block_s" in lines[0] and str(cfg) in lines[0]


def test_run_with_a_corrupt_model_is_one_line(tmp_path, model_path):
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"not a model at all" * 10)
    shipped_json_for(model_path, bad)
    proc = subprocess.run([sys.executable, "-m", "genred.daemon", "run", "--no-mqtt", "--model", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0], proc.stderr


def test_the_unit_verifies(tmp_path):
    """systemd-analyze verify, with ExecStart pointed at a binary that exists here."""
    if shutil.which("systemd-analyze") is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing (make test installs systemd as root)")
        pytest.skip("systemd-analyze is not installed")
    unit = (ROOT / "deploy" / "genred.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "ProtectSystem=strict" in unit
    unit = unit.replace("/opt/genred/venv/bin/genred", sys.executable)

    def problems(text: str) -> list[str]:
        path = tmp_path / "genred.service"
        path.write_text(text)
        proc = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)],
                              capture_output=True, text=True, timeout=60)
        # verify exits 0 for settings it ignores: every line naming the unit counts,
        # except a user that does not exist on a build machine (not the unit's fault).
        return [ln for ln in (proc.stdout + proc.stderr).splitlines()
                if str(path) in ln and not ("user" in ln.lower() and "exist" in ln.lower())]

    assert problems(unit) == []
    assert problems(unit.replace("WatchdogSec=60", "WatchdogSec=soon"))  # the check does see a bad line


def test_installer_is_valid_shell():
    proc = subprocess.run(["bash", "-n", str(ROOT / "deploy" / "install.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _installer_code() -> list[str]:
    text = (ROOT / "deploy" / "install.sh").read_text()
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def test_installer_uses_the_system_python_and_checks_as_the_service_user():
    """A pyenv or conda python3 first on root's PATH makes a venv that points into /root:
    the service user cannot run it, and a check run as root does not notice."""
    code = _installer_code()
    venvs = [ln for ln in code if "-m venv" in ln]
    assert venvs and all('"$PYTHON" -m venv' in ln for ln in venvs), venvs
    assert "PYTHON=/usr/bin/python3" in code
    # A venv made earlier by another interpreter is rebuilt, not kept.
    assert any("pyvenv.cfg" in ln and "home = /usr/bin" in ln for ln in code), code
    checks = [ln for ln in code if "bin/genred\" check-config" in ln]
    assert checks and all(ln.startswith('runuser -u "$SERVICE_USER" -- ') for ln in checks), checks


def _run_installer(tmp_path: Path, option: str) -> tuple[subprocess.CompletedProcess, Path, Path]:
    """install.sh OPTION with its files under tmp_path (DESTDIR) and stand-ins for the
    commands that would touch this machine (root check, systemctl, userdel)."""
    dest, stubs = tmp_path / "root", tmp_path / "bin"
    for d in ("opt/genred/venv", "etc/genred", "etc/systemd/system"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    (dest / "etc/genred/config.yaml").write_text("device_id: den\n")
    (dest / "etc/systemd/system/genred.service").write_text("[Service]\n")
    stubs.mkdir(exist_ok=True)
    log = tmp_path / "commands.log"
    for name, body in {
        "id": 'echo "id $*" >> "$LOG"; if [ "$1" = -u ]; then echo 0; else exit 1; fi',  # root; no user genred
        "systemctl": 'echo "systemctl $*" >> "$LOG"',
        "userdel": 'echo "userdel $*" >> "$LOG"',
    }.items():
        (stubs / name).write_text(f"#!/bin/sh\n{body}\n")
        (stubs / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{stubs}:{os.environ['PATH']}", DESTDIR=str(dest), LOG=str(log))
    proc = subprocess.run(["bash", str(ROOT / "deploy" / "install.sh"), option], env=env,
                          capture_output=True, text=True, timeout=60)
    return proc, dest, log


def test_uninstall_keeps_the_config_and_purge_removes_it_saying_so(tmp_path):
    proc, dest, log = _run_installer(tmp_path / "u", "--uninstall")
    assert proc.returncode == 0, proc.stderr
    assert not (dest / "opt/genred").exists() and not (dest / "etc/systemd/system/genred.service").exists()
    assert (dest / "etc/genred/config.yaml").exists() and "kept" in proc.stdout
    assert "systemctl disable --now genred.service" in log.read_text()

    proc, dest, log = _run_installer(tmp_path / "p", "--purge")
    assert proc.returncode == 0, proc.stderr
    assert not (dest / "etc/genred").exists() and not (dest / "opt/genred").exists()
    assert "kept" not in proc.stdout and f"removed {dest}/etc/genred" in proc.stdout, proc.stdout


def test_listening_mix_today_and_last_7_days():
    import datetime as dt

    import json

    from genred.daemon.mqtt.payloads import MixShare
    from genred.daemon.stats import ListeningMix

    mix = ListeningMix(("jazz", "rock"))
    today = dt.date(2026, 3, 10)
    mix.add("rock", 30.0, today)
    mix.add("jazz", 10.0, today)
    mix.add(None, 100.0, today)  # silence and uncertainty are not music
    mix.add("jazz", 60.0, today - dt.timedelta(days=3))
    mix.add("rock", 500.0, today - dt.timedelta(days=7))  # outside the week
    snap = mix.snapshot(today)
    assert snap.today == MixShare(music_s=40.0, share={"jazz": 0.25, "rock": 0.75})
    assert snap.recent == MixShare(music_s=100.0, share={"jazz": 0.7, "rock": 0.3})
    assert json.loads(snap.to_json()) == {"today": {"music_s": 40.0, "share": {"jazz": 0.25, "rock": 0.75}},
                                          "last_7_days": {"music_s": 100.0, "share": {"jazz": 0.7, "rock": 0.3}},
                                          "date": "2026-03-10"}
    assert mix.snapshot(today + dt.timedelta(days=1)).today.music_s == 0.0
