"""A real mosquitto broker for the tests, a subscriber that records what it sees, and a
daemon run against the broker.

The fixtures that start them (``mosquitto``, ``mosquitto_auth``, ``mosquitto_persistent``,
``mosquitto_tls``, ``subscriber``) are in tests/conftest.py: a test names them as arguments
and imports nothing for them.

Without mosquitto installed the tests that use it are skipped, except under CI
(``CI`` set), where they fail: CI must never pass by skipping the broker tests.
"""

from __future__ import annotations

import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import paho.mqtt.client as mqtt
import pytest

from fakes import RecordingPublisher

START_TIMEOUT_S = 10.0
USERNAME = "genred"
PASSWORD = "s3cret-test"


def _require(tool: str) -> str:
    path = shutil.which(tool) or next((p for p in (f"/usr/sbin/{tool}", f"/usr/bin/{tool}") if os.access(p, os.X_OK)), None)
    if path is None:
        message = f"{tool} is not installed; install mosquitto (make test does, as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    """``mosquitto -c <conf>`` on 127.0.0.1:<free port>; `stop` and `start` keep the port.

    ``auth``: anonymous clients refused; ``USERNAME``/``PASSWORD`` accepted.
    ``persistence``: sessions and queued messages survive `stop`/`start` (SIGTERM
    makes mosquitto save them), as on a real installation.
    ``tls``: the listener speaks TLS only, with the server certificate of `make_tls_files`.
    """

    host = "127.0.0.1"

    def __init__(self, workdir: Path, *, auth: bool = False, persistence: bool = False, tls: TlsFiles | None = None) -> None:
        self.binary = _require("mosquitto")
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log = self.dir / "mosquitto.log"
        self.conf = self.dir / "mosquitto.conf"
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if auth else 'true'}",
            f"persistence {'true' if persistence else 'false'}",
            f"log_dest file {self.log}",
            "log_type all",
            "connection_messages true",
            # As root mosquitto drops to the 'mosquitto' user, which cannot read our
            # temporary folder; staying the current user avoids that.
            f"user {pwd.getpwuid(os.getuid()).pw_name}",
        ]
        if persistence:
            lines += [f"persistence_location {self.dir}/", "autosave_interval 1"]
        if tls is not None:
            lines += [f"cafile {tls.ca}", f"certfile {tls.cert}", f"keyfile {tls.key}"]
        if auth:
            passwd = self.dir / "passwd"
            subprocess.run(
                [_require("mosquitto_passwd"), "-b", "-c", str(passwd), USERNAME, PASSWORD],
                check=True, capture_output=True, timeout=10,
            )
            passwd.chmod(0o600)
            lines.append(f"password_file {passwd}")
        self.conf.write_text("\n".join(lines) + "\n")
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        assert self.proc is None, "already running"
        self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                self.proc = None
                raise RuntimeError(f"mosquitto exited at start: {err.strip()} {self.log_text()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.kill()
                    raise RuntimeError(
                        f"mosquitto did not accept connections on {self.address} within {START_TIMEOUT_S:.0f} s") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown that saves persistence), then SIGKILL after 5 s."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self.proc = None

    def kill(self) -> None:
        if self.proc is None:
            return
        self.proc.kill()
        self.proc.wait(timeout=5)
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 (EC keys: fast to make)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        message = "openssl is not installed (needed to make test certificates)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr, ext = (folder / n for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr", "server.ext"))
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n"
        "extendedKeyUsage=serverAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in (
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=genred test CA"],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext],
    ):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=30)
    return TlsFiles(ca, cert, key)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: str
    retain: bool
    at: float


class Subscriber:
    """A paho client that records every message per topic; waits are thread-safe.

    It reconnects by itself (quickly) and subscribes again on each connect.
    ``clean_session=False`` keeps its subscriptions and queued QoS 1 messages at a
    broker with persistence while it is away.
    """

    def __init__(
        self, host: str, port: int, topics: list[str], *, clean_session: bool = True,
        username: str | None = None, password: str | None = None, connect_timeout_s: float = 5.0,
    ) -> None:
        self.topics = topics
        self._cond = threading.Condition()
        self.messages: dict[str, list[Message]] = {}
        self._subscribed = threading.Event()
        client_id = f"test-sub-{uuid.uuid4().hex[:8]}"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=0.1, max_delay=0.5)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(host, port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(connect_timeout_s):
            self.close()
            raise TimeoutError(f"the subscriber did not get a SUBACK from {host}:{port}")

    def _on_connect(self, client: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if not reason_code.is_failure:
            client.subscribe([(t, 1) for t in self.topics])

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        m = Message(msg.topic, msg.payload.decode("utf-8", errors="replace"), bool(msg.retain), time.monotonic())
        with self._cond:
            self.messages.setdefault(msg.topic, []).append(m)
            self._cond.notify_all()

    def payloads(self, topic: str) -> list[str]:
        with self._cond:
            return [m.payload for m in self.messages.get(topic, [])]

    def wait_for(self, topic: str, predicate: Callable[[Message], bool] = lambda m: True, timeout: float = 5.0, *, after: int = 0) -> Message:
        """The first message on ``topic`` (from index ``after``) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages.get(topic, [])[after:]:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m.payload for m in self.messages.get(topic, [])]
                    raise AssertionError(f"no matching message on {topic} within {timeout} s; seen: {seen}")
                self._cond.wait(left)

    def wait_count(self, topic: str, n: int, timeout: float = 5.0) -> list[str]:
        """Waits until ``topic`` has at least ``n`` messages; returns all payloads."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages.get(topic, [])) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{topic}: {len(self.messages.get(topic, []))} of {n} messages within {timeout} s: {self.payloads(topic)}")
                self._cond.wait(left)
            return [m.payload for m in self.messages[topic]]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def delivered_in_order(produced: list[str], received: list[str]) -> tuple[bool, str]:
    """At least once and in order: ``received`` is ``produced`` with repeats of events
    already delivered (a lost PUBACK resends every unacknowledged event, so a repeat
    need not be adjacent to its first copy). Returns (ok, why not)."""
    j = 0
    for i, r in enumerate(received):
        if j < len(produced) and r == produced[j]:
            j += 1
        elif r not in produced[:j]:
            return False, f"received[{i}] = {r} is neither the next event ({produced[j] if j < len(produced) else None}) nor a repeat"
    if j != len(produced):
        return False, f"{len(produced) - j} of {len(produced)} events never arrived, from {produced[j]}"
    return True, ""


def paced_file_source(path: Path, speed: float):
    """A looping FileSource paced at ``speed`` x real time: faster than a microphone,
    slow enough for a daemon's run to span broker outages."""
    from genred.daemon.audio import FileSource

    return FileSource(path, loop=True, realtime=True, speed=speed, block_s=0.1)


@contextmanager
def daemon_on_broker(broker: Mosquitto, model_path: Path, audio_path: Path, speed: float,
                     reconnect_max_s: float = 0.5) -> Iterator[list[RecordingPublisher]]:
    """A Daemon on its own thread, playing ``audio_path`` in a loop at ``speed`` x real
    time into ``broker`` as device "den"; yields the publishers it made (the first one
    appears once it starts). On leaving, the stop event is set and the thread must end."""
    from genred.daemon.mqtt.publisher import MqttPublisher
    from genred.daemon.service import Daemon
    from genred.daemon.settings import AudioSettings, MqttSettings, Settings
    from genred.daemon.systemd import Notifier

    settings = Settings(
        device_id="den", model=str(model_path), audio=AudioSettings(source=f"file:{audio_path}", loop=True),
        mqtt=MqttSettings(host=broker.host, port=broker.port, keepalive_s=5, reconnect_min_s=0.1,
                          reconnect_max_s=reconnect_max_s),
    )
    made: list[RecordingPublisher] = []

    def publisher_factory(*a: Any, **kw: Any) -> RecordingPublisher:
        made.append(RecordingPublisher(MqttPublisher(*a, **kw)))
        return made[-1]

    stop = threading.Event()
    daemon = Daemon(settings, source_factory=lambda a: paced_file_source(audio_path, speed),
                    publisher_factory=publisher_factory, notifier=Notifier({}), out=io.StringIO())
    runner = threading.Thread(target=daemon.run, args=(stop,), name="test-daemon")
    runner.start()
    try:
        yield made
    finally:
        stop.set()
        runner.join(timeout=10)
    assert not runner.is_alive(), "the daemon did not stop within 10 s"
