"""MqttPublisher and `listen` against a real mosquitto (tests/broker.py): no broker mocks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Callable, ClassVar, Iterator

import pytest

from broker import PASSWORD, USERNAME, Mosquitto
from fakes import NotABroker, wait_until
from genred.daemon.mqtt.client import MqttError
from genred.daemon.mqtt.listen import listen
from genred.daemon.mqtt.payloads import (
    Delivery, EventPayload, MixShare, ProbabilitiesPayload, StatePayload, StatsPayload, StatusPayload,
)
from genred.daemon.mqtt.publisher import MqttPublisher
from genred.daemon.settings import MqttSettings, TlsSettings

DEVICE = "kitchen"
BASE = f"genred/{DEVICE}"
STATE = StatePayload(genre="rock", confidence=0.8213, status="music", since="2025-01-01T12:00:00+00:00",
                     probabilities={"rock": 0.8213, "jazz": 0.1787}, music_probability=None, model="gtzan-small")
STATUS = StatusPayload(version="0.1.0", uptime_s=1.0, model="gtzan-small", capture=None, input_rate_hz=None,
                       model_rate_hz=16000, hop_s=None, windows=0, audio_s=0.0, inference_ms=None,
                       realtime_factor=None, mqtt=None)
STATS = StatsPayload(today=MixShare(60.0, {"rock": 1.0, "jazz": 0.0}), recent=MixShare(60.0, {"rock": 1.0, "jazz": 0.0}),
                     days=7, date="2025-01-01")
WINDOW = ProbabilitiesPayload(probabilities={"rock": 1.0, "jazz": 0.0}, level_db=-20.0, at="2025-01-01T12:00:00+00:00")
_AT0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def event(i: int) -> EventPayload:
    """The ``i``-th event of a test: its number is its time, ``i`` seconds after _AT0."""
    return EventPayload(from_genre="jazz", to_genre="rock", confidence=0.5, at=(_AT0 + dt.timedelta(seconds=i)).isoformat())


def number_of(payload: str) -> int:
    return int((dt.datetime.fromisoformat(EventPayload.from_json(payload).at) - _AT0).total_seconds())


def settings_for(broker: Mosquitto, **kw: Any) -> MqttSettings:
    base: dict[str, Any] = dict(host=broker.host, port=broker.port, keepalive_s=5, reconnect_min_s=0.2, reconnect_max_s=1.0)
    base.update(kw)
    return MqttSettings(**base)


@pytest.fixture
def publisher() -> Iterator[Callable[..., MqttPublisher]]:
    """``publisher(settings, **kw)``: a started MqttPublisher, stopped after the test."""
    made: list[MqttPublisher] = []

    def make(settings: MqttSettings, *, start: bool = True, **kw: Any) -> MqttPublisher:
        kw.setdefault("model_name", "gtzan-small")
        kw.setdefault("sw_version", "0.1.0")
        p = MqttPublisher(settings, DEVICE, **kw)
        made.append(p)
        if start:
            p.start()
        return p

    yield make
    for p in made:
        p.stop(timeout_s=1.0)


def test_late_subscriber_sees_retained_topics_and_discovery(mosquitto, subscriber, publisher):
    p = publisher(settings_for(mosquitto), start=False)
    p.publish(STATE)
    p.publish(STATUS)
    p.publish(STATS)
    p.start()
    # online, 2 discovery configs, state, status, stats: all acknowledged by the broker.
    wait_until(lambda: p.counters().published >= 6, what="6 acknowledged publishes")

    sub = subscriber(mosquitto, ["genred/#", "homeassistant/#"])
    assert sub.wait_for(f"{BASE}/availability").payload == "online"
    for kind, expected in (("state", STATE), ("status", STATUS), ("stats", STATS)):
        m = sub.wait_for(f"{BASE}/{kind}")
        assert m.retain, kind
        assert m.payload == expected.to_json()

    genre = sub.wait_for("homeassistant/sensor/genred_kitchen/genre/config")
    conf = sub.wait_for("homeassistant/sensor/genred_kitchen/confidence/config")
    assert genre.retain and conf.retain
    g = json.loads(genre.payload)
    # What Home Assistant needs: a state topic, a unique_id (for the device), availability.
    assert g["state_topic"] == f"{BASE}/state"
    assert g["json_attributes_topic"] == f"{BASE}/state"
    assert g["unique_id"] == "genred_kitchen_genre"
    assert g["default_entity_id"] == "sensor.genred_kitchen_genre"
    assert g["availability_topic"] == f"{BASE}/availability"
    assert (g["payload_available"], g["payload_not_available"]) == ("online", "offline")
    assert g["icon"] == "mdi:music"
    assert "value_json.genre" in g["value_template"] and "value_json.status" in g["value_template"]
    assert g["device"] == {"identifiers": ["genred_kitchen"], "name": "genred kitchen", "manufacturer": "genred",
                           "model": "gtzan-small", "sw_version": "0.1.0"}
    c = json.loads(conf.payload)
    assert c["unit_of_measurement"] == "%" and c["state_topic"] == f"{BASE}/state"
    assert c["device"]["identifiers"] == ["genred_kitchen"] and c["unique_id"] != g["unique_id"]

    counters = p.counters()
    assert counters.connected is True and counters.reconnects == 0 and counters.last_error is None

    # A clean stop leaves "offline" retained, within its timeout.
    t0 = time.monotonic()
    p.stop(timeout_s=2.0)
    assert time.monotonic() - t0 < 2.0
    late = subscriber(mosquitto, [f"{BASE}/availability"])
    m = late.wait_for(f"{BASE}/availability")
    assert (m.payload, m.retain) == ("offline", True)


def test_a_connect_sends_online_discovery_the_retained_in_order_then_the_events(mosquitto, subscriber, publisher):
    sub = subscriber(mosquitto, ["genred/#", "homeassistant/#"])
    p = publisher(settings_for(mosquitto), start=False)
    for message in (STATS, event(0), STATUS, STATE):  # not the order they go out in
        p.publish(message)
    p.start()
    wait_until(lambda: p.counters().published >= 7, what="7 acknowledged publishes")
    wait_until(lambda: sum(len(v) for v in sub.messages.values()) >= 7, what="7 messages at the subscriber")
    seen = sorted((m for ms in sub.messages.values() for m in ms), key=lambda m: m.at)
    assert [m.topic for m in seen] == [
        f"{BASE}/availability", "homeassistant/sensor/genred_kitchen/genre/config",
        "homeassistant/sensor/genred_kitchen/confidence/config", f"{BASE}/state", f"{BASE}/status", f"{BASE}/stats",
        f"{BASE}/event"]
    assert [m.payload for m in seen[3:]] == [STATE.to_json(), STATUS.to_json(), STATS.to_json(), event(0).to_json()]
    assert [m.retain for m in seen[3:]] == [False, False, False, False]  # live to a subscriber already there


def test_mqtt_retain_false_leaves_the_state_unretained_and_status_and_stats_retained(mosquitto, subscriber, publisher):
    p = publisher(settings_for(mosquitto, retain=False))
    for message in (STATE, STATUS, STATS):
        p.publish(message)
    wait_until(lambda: p.counters().published >= 6, what="online, discovery, state, status and stats acknowledged")
    late = subscriber(mosquitto, [f"{BASE}/#"])
    assert late.wait_for(f"{BASE}/stats").retain and late.wait_for(f"{BASE}/status").retain
    time.sleep(0.2)
    assert f"{BASE}/state" not in late.messages  # nothing retained to give a late subscriber


@dataclasses.dataclass(frozen=True)
class _Volume:
    """A message class the publisher has never heard of: a new topic needs nothing of it."""

    TOPIC: ClassVar[str] = "volume"
    DELIVERY: ClassVar[Delivery] = Delivery.RETAINED
    level_db: float

    def to_json(self) -> str:
        return json.dumps({"level_db": self.level_db})


def test_a_new_message_class_is_published_on_its_topic_as_its_delivery_says(mosquitto, subscriber, publisher):
    p = publisher(settings_for(mosquitto, discovery=False))
    p.publish(_Volume(-20.0))
    wait_until(lambda: p.counters().published >= 2, what="online and volume acknowledged")
    late = subscriber(mosquitto, [f"{BASE}/volume"])
    m = late.wait_for(f"{BASE}/volume")
    assert (m.payload, m.retain) == ('{"level_db": -20.0}', True)


def test_discovery_can_be_off(mosquitto, subscriber, publisher):
    p = publisher(settings_for(mosquitto, discovery=False))
    wait_until(lambda: p.counters().published >= 1)
    sub = subscriber(mosquitto, ["#"])
    sub.wait_for(f"{BASE}/availability")
    time.sleep(0.2)
    assert not any(t.startswith("homeassistant/") for t in sub.messages)


CHILD = textwrap.dedent("""
    import sys, time
    from genred.daemon.mqtt.publisher import MqttPublisher
    from genred.daemon.settings import MqttSettings, TlsSettings
    p = MqttPublisher(MqttSettings(host="127.0.0.1", port=int(sys.argv[1]), keepalive_s=2), "kitchen")
    p.start()
    deadline = time.monotonic() + 20
    while not p.counters().connected and time.monotonic() < deadline:
        time.sleep(0.02)
    print("connected" if p.counters().connected else "not connected", flush=True)
    time.sleep(60)
""")


def test_last_will_is_offline_after_sigkill(mosquitto, subscriber):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(mosquitto.port)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "connected"
        sub = subscriber(mosquitto, [f"{BASE}/availability"])
        assert sub.wait_for(f"{BASE}/availability").payload == "online"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=5)
        # The broker publishes the will when the socket closes (or after 1.5 x keepalive).
        sub.wait_for(f"{BASE}/availability", lambda m: m.payload == "offline", timeout=10)
    finally:
        child.kill()
        child.wait(timeout=5)
    late = subscriber(mosquitto, [f"{BASE}/availability"])
    m = late.wait_for(f"{BASE}/availability")
    assert (m.payload, m.retain) == ("offline", True)


def test_broker_restart_events_arrive_in_order(mosquitto_persistent, subscriber, publisher):
    broker = mosquitto_persistent
    # A persistent session: what is published while this subscriber is away waits for it.
    sub = subscriber(broker, [f"{BASE}/#"], clean_session=False)
    p = publisher(settings_for(broker, reconnect_min_s=0.2, reconnect_max_s=1.0))
    p.publish(STATE)
    wait_until(lambda: p.counters().connected, what="connected")
    sub.wait_for(f"{BASE}/state")
    onlines = len([x for x in sub.payloads(f"{BASE}/availability") if x == "online"])
    states = len(sub.payloads(f"{BASE}/state"))

    stop_producing = threading.Event()
    produced: list[int] = []

    def produce() -> None:
        i = 0
        while not stop_producing.is_set():
            p.publish(event(i))
            p.publish(WINDOW)  # QoS 0: dropped while away, never raises
            produced.append(i)
            i += 1
            time.sleep(0.05)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        time.sleep(0.4)
        broker.stop()
        time.sleep(0.8)  # events keep coming while the broker is down
        assert p.counters().connected is False
        broker.start()
        wait_until(lambda: p.counters().reconnects >= 1, timeout_s=10, what="a reconnect")
        time.sleep(0.4)
    finally:
        stop_producing.set()
        producer.join()

    n = len(produced)
    wait_until(lambda: len({number_of(x) for x in sub.payloads(f"{BASE}/event")}) == n, timeout_s=10, what="every event")
    got = [number_of(x) for x in sub.payloads(f"{BASE}/event")]
    # At least once, in order: a repeat can only be of an event whose PUBACK was lost.
    assert list(dict.fromkeys(got)) == list(range(n))
    assert got == sorted(got)
    # Availability and state are republished on the reconnect.
    sub.wait_for(f"{BASE}/availability", lambda m: m.payload == "online", after=onlines)
    sub.wait_for(f"{BASE}/state", after=states)
    wait_until(lambda: p.counters().events_queued == 0, what="an empty queue")
    c = p.counters()
    assert c.connected and c.reconnects >= 1 and c.events_dropped == 0


def test_events_in_flight_when_the_broker_dies_are_sent_again(mosquitto_persistent, subscriber, publisher, caplog):
    broker = mosquitto_persistent
    sub = subscriber(broker, [f"{BASE}/event"], clean_session=False)
    caplog.set_level(logging.DEBUG, logger="genred.daemon.mqtt")
    p = publisher(settings_for(broker, reconnect_min_s=0.2, reconnect_max_s=0.5))
    wait_until(lambda: p.counters().connected, what="connected")
    p.publish(event(0))
    sub.wait_count(f"{BASE}/event", 1)
    time.sleep(1.2)  # mosquitto's autosave (1 s) keeps the subscriber's session over a SIGKILL
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGSTOP)  # the next events reach paho but never the broker
    p.publish(event(1))
    p.publish(event(2))
    time.sleep(0.1)
    assert p.counters().events_queued == 2  # handed over, not acknowledged
    broker.kill()
    broker.start()
    got = sub.wait_count(f"{BASE}/event", 3, timeout=10)
    assert [number_of(x) for x in got] == [0, 1, 2]
    assert any("2 unacknowledged event(s) will be sent again" in r.getMessage() for r in caplog.records)
    wait_until(lambda: p.counters().events_queued == 0, what="an empty queue")


def test_event_queue_is_bounded_and_keeps_the_newest(mosquitto_persistent, subscriber, publisher, caplog):
    broker = mosquitto_persistent
    sub = subscriber(broker, [f"{BASE}/event"], clean_session=False)
    broker.stop()
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    p = publisher(settings_for(broker, event_queue_size=3))
    wait_until(lambda: p.counters().last_error is not None, what="a failed connect")
    for i in range(5):
        p.publish(event(i))
    c = p.counters()
    assert (c.connected, c.events_queued, c.events_dropped) == (False, 3, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("not reachable" in w and broker.address in w and "still printed" in w for w in warnings), warnings

    broker.start()
    assert sub.wait_count(f"{BASE}/event", 3, timeout=10) == [event(i).to_json() for i in (2, 3, 4)]
    wait_until(lambda: p.counters().events_queued == 0, what="an empty queue")
    assert p.counters().events_dropped == 2
    time.sleep(0.2)
    assert len(sub.payloads(f"{BASE}/event")) == 3
    # One warning for the whole outage, however many attempts it took.
    assert sum("not reachable" in r.getMessage() for r in caplog.records) == 1


def test_wrong_credentials_one_error_and_publishing_goes_on(mosquitto_auth, publisher, caplog):
    caplog.set_level(logging.DEBUG, logger="genred.daemon.mqtt")
    s = settings_for(mosquitto_auth, username=USERNAME, reconnect_min_s=0.1, reconnect_max_s=0.3)
    p = publisher(s, password="not-the-password")
    wait_until(lambda: "not authorized" in str(p.counters().last_error).lower(), what="an auth refusal")
    time.sleep(1.0)  # several more refused attempts
    p.publish(STATE)
    p.publish(STATUS)
    p.publish(STATS)
    p.publish(event(1))
    p.publish(WINDOW)
    c = p.counters()
    assert c.connected is False and c.events_queued == 1
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert "refused us" in errors[0].getMessage() and "Not authorized" in errors[0].getMessage()
    assert mosquitto_auth.log_text().count("not authorised") + mosquitto_auth.log_text().count("not authorized") >= 2
    assert all("not-the-password" not in r.getMessage() for r in caplog.records)

    good = publisher(s, password=PASSWORD)
    wait_until(lambda: good.counters().connected, what="a connect with the right password")


def test_tls_with_the_brokers_ca(mosquitto_tls, publisher, caplog):
    tls = mosquitto_tls.tls
    p = publisher(settings_for(mosquitto_tls, tls=TlsSettings(enabled=True, ca_file=str(tls.ca))))
    wait_until(lambda: p.counters().connected, what="a TLS connection")

    # Not our CA (the system store): refused by us, retried, one warning, no exception.
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    q = publisher(settings_for(mosquitto_tls, client_id="other", tls=TlsSettings(enabled=True)))
    wait_until(lambda: "certificate" in str(q.counters().last_error).lower(), what="a certificate failure")
    assert not q.counters().connected

    # A CA file that is not there: refused at start, naming the key and the file.
    missing = str(tls.ca) + ".missing"
    with pytest.raises(MqttError) as info:
        publisher(settings_for(mosquitto_tls, tls=TlsSettings(enabled=True, ca_file=missing)))
    assert str(info.value) == f"mqtt.tls.ca_file: no such file: {missing}"
    not_pem = tls.ca.with_name("not-a-ca.pem")
    not_pem.write_text("hello\n")
    with pytest.raises(MqttError, match=rf"^mqtt.tls: cannot use mqtt.tls.ca_file \({not_pem}\): "):
        publisher(settings_for(mosquitto_tls, tls=TlsSettings(enabled=True, ca_file=str(not_pem))))


def test_stop_returns_in_time_when_the_broker_is_gone(mosquitto, publisher):
    p = publisher(settings_for(mosquitto))
    wait_until(lambda: p.counters().connected, what="connected")
    assert mosquitto.proc is not None
    mosquitto.proc.send_signal(signal.SIGSTOP)  # the socket stays open, nothing answers
    try:
        t0 = time.monotonic()
        p.stop(timeout_s=1.0)
        assert time.monotonic() - t0 < 1.2
    finally:
        mosquitto.proc.send_signal(signal.SIGCONT)

    # Never connected at all: stop is quick too.
    mosquitto.kill()
    q = publisher(settings_for(mosquitto))
    wait_until(lambda: q.counters().last_error is not None, what="a failed connect")
    q.publish(event(0))
    t0 = time.monotonic()
    q.stop(timeout_s=1.0)
    assert time.monotonic() - t0 < 1.2


def test_listen_prints_state_event_and_availability(mosquitto, publisher):
    p = publisher(settings_for(mosquitto, discovery=False))
    p.publish(STATE)
    wait_until(lambda: p.counters().published >= 2, what="online and state acknowledged")
    out = io.StringIO()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(listen(mosquitto.host, mosquitto.port, out=out, max_messages=3)))
    t.start()
    wait_until(lambda: out.getvalue().count("\n") >= 2, what="the retained lines")
    p.publish(EventPayload(from_genre="jazz", to_genre="rock", confidence=0.8, at="2025-01-01T12:00:00+00:00"))
    t.join(timeout=10)
    assert not t.is_alive() and result == [0]
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    text = "\n".join(lines)
    assert f"{DEVICE} availability: online" in text
    assert f"{DEVICE} state: rock 0.82 (music)" in text
    assert lines[-1].endswith(f"{DEVICE} event: jazz -> rock (0.80)")


def test_listen_without_a_broker_is_one_clear_error(mosquitto):
    mosquitto.kill()
    with pytest.raises(MqttError, match=rf"^cannot reach the MQTT broker at {mosquitto.host}:{mosquitto.port}: "):
        listen(mosquitto.host, mosquitto.port, max_messages=1)


def test_bad_device_id_is_refused_up_front():
    with pytest.raises(MqttError):
        MqttPublisher(MqttSettings(), "a/b")
    with pytest.raises(MqttError):
        MqttPublisher(MqttSettings(), "kitchen+")


# -- failures after the TCP connect -------------------------------------------------------------


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name.startswith("genred")]


@pytest.mark.parametrize("mode", ["close", "garbage", "silent"])
def test_a_listener_that_is_not_mqtt_is_said_once(publisher, caplog, mode):
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    server = NotABroker(mode)
    try:
        s = MqttSettings(host="127.0.0.1", port=server.port, keepalive_s=5, reconnect_min_s=0.1, reconnect_max_s=0.2)
        p = publisher(s, connack_timeout_s=0.5)  # for "silent": how long to wait for CONNACK
        wait_until(lambda: server.accepted >= 3, timeout_s=40, what="three attempts")
        assert not p.counters().connected
    finally:
        p.stop(timeout_s=1.0)
        server.close()
    said = _warnings(caplog)
    assert len(said) == 1, said
    assert f"127.0.0.1:{server.port}" in said[0] and "mqtt.port" in said[0] and "mqtt.tls.enabled" in said[0], said
    assert "answer" in p.counters().last_error


def test_plain_mqtt_to_a_tls_port_names_mqtt_tls_enabled(mosquitto_tls, publisher, caplog):
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    p = publisher(settings_for(mosquitto_tls, reconnect_min_s=0.1, reconnect_max_s=0.2))
    wait_until(lambda: mosquitto_tls.log_text().count("New connection from") >= 3, timeout_s=40, what="three attempts")
    assert not p.counters().connected
    said = _warnings(caplog)
    assert len(said) == 1 and "mqtt.tls.enabled" in said[0], said


def test_tls_failures_name_what_to_check(mosquitto_tls, mosquitto, publisher, caplog):
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    # The system CA store does not know the test CA: the broker is not trusted.
    p = publisher(settings_for(mosquitto_tls, tls=TlsSettings(enabled=True), reconnect_min_s=0.1, reconnect_max_s=0.2))
    wait_until(lambda: mosquitto_tls.log_text().count("New connection from") >= 3, timeout_s=40, what="three attempts")
    said = _warnings(caplog)
    assert len(said) == 1 and "mqtt.tls.ca_file" in said[0] and "certificate" in said[0], said
    p.stop(timeout_s=1.0)

    # TLS to a plain listener.
    caplog.clear()
    q = publisher(settings_for(mosquitto, client_id="tls-to-plain", reconnect_min_s=0.1, reconnect_max_s=0.2,
                               tls=TlsSettings(enabled=True, ca_file=str(mosquitto_tls.tls.ca))))
    wait_until(lambda: mosquitto.log_text().count("New connection from") >= 3, timeout_s=40, what="three attempts")
    assert not q.counters().connected
    said = _warnings(caplog)
    assert len(said) == 1 and "TLS" in said[0] and "mqtt.port" in said[0] and "mqtt.tls.enabled" in said[0], said


def test_a_broker_shutting_down_is_said_plainly(mosquitto, publisher, caplog):
    caplog.set_level(logging.INFO, logger="genred.daemon.mqtt")
    p = publisher(settings_for(mosquitto))
    wait_until(lambda: p.counters().connected, what="connected")
    mosquitto.stop()  # SIGTERM: a clean shutdown, the socket closed without a DISCONNECT
    wait_until(lambda: not p.counters().connected, what="the loss noticed")
    lost = [m for m in _warnings(caplog) if "lost" in m]
    assert len(lost) == 1 and "closed by the broker" in lost[0] and "Unspecified" not in lost[0], lost
    assert "closed by the broker" in p.counters().last_error
    mosquitto.start()
    wait_until(lambda: p.counters().connected, timeout_s=10, what="reconnected")
    assert p.counters().last_error is None  # no stale error once connected again


# -- genred listen against a secured broker --------------------------------------------------------


def _listen_lines(args: list[str], n: int, timeout_s: float = 30.0) -> tuple[list[str], str]:
    """The first ``n`` lines `genred listen ARGS` prints (then it is killed), and its stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "genred.daemon", "listen", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    timer = threading.Timer(timeout_s, proc.kill)
    timer.start()
    lines: list[str] = []
    try:
        while len(lines) < n:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
    finally:
        timer.cancel()
        proc.kill()
        proc.wait(timeout=5)
    return lines, proc.stderr.read()


def test_listen_with_the_daemons_config_on_a_broker_with_passwords(mosquitto_auth, publisher, tmp_path):
    secret = tmp_path / "mqtt-password"
    secret.write_text(PASSWORD + "\n")
    p = publisher(settings_for(mosquitto_auth, username=USERNAME, discovery=False), password=PASSWORD)
    p.publish(STATE)
    wait_until(lambda: p.counters().published >= 2, what="online and state acknowledged")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"mqtt:\n  host: {mosquitto_auth.host}\n  port: {mosquitto_auth.port}\n"
                   f"  username: {USERNAME}\n  password_file: {secret}\n")
    lines, err = _listen_lines(["--config", str(cfg)], 2)
    assert any(ln.endswith(f"{DEVICE} state: rock 0.82 (music)") for ln in lines), (lines, err)
    # The same with flags only; and without the password the refusal is one clear line.
    lines, err = _listen_lines(["--host", mosquitto_auth.host, "--port", str(mosquitto_auth.port),
                                "--username", USERNAME, "--password-file", str(secret)], 2)
    assert any(ln.endswith(f"{DEVICE} state: rock 0.82 (music)") for ln in lines), (lines, err)
    lines, err = _listen_lines(["--host", mosquitto_auth.host, "--port", str(mosquitto_auth.port)], 1)
    assert lines == [] and "refused" in err and len(err.strip().splitlines()) == 1, err
    assert PASSWORD not in err


def test_listen_over_tls(mosquitto_tls, publisher):
    tls = TlsSettings(enabled=True, ca_file=str(mosquitto_tls.tls.ca))
    p = publisher(settings_for(mosquitto_tls, tls=tls, discovery=False))
    p.publish(STATE)
    wait_until(lambda: p.counters().published >= 2, what="online and state acknowledged")
    lines, err = _listen_lines(["--host", mosquitto_tls.host, "--port", str(mosquitto_tls.port),
                                "--tls", "--ca-file", str(mosquitto_tls.tls.ca)], 2)
    assert any(ln.endswith(f"{DEVICE} state: rock 0.82 (music)") for ln in lines), (lines, err)
