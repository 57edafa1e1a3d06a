"""`genred listen`: one line per state, event and availability message of the devices
on a broker."""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import threading
from typing import IO, Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from genred.dsp.errors import one_line

from ..settings import MqttSettings, TlsSettings
from .client import AUTH_REFUSALS, MqttError, configure_client
from .payloads import EventPayload, PayloadError, StatePayload

_LOG = logging.getLogger(__name__)

LISTEN_CONNACK_TIMEOUT_S = 10.0


def listen(
    host: str,
    port: int,
    *,
    device_id: str | None = None,
    topic_prefix: str = "genred",
    out: IO[str] = sys.stdout,
    stop: threading.Event | None = None,
    max_messages: int | None = None,
    username: str | None = None,
    password: str | None = None,
    tls: TlsSettings | None = None,
) -> int:
    """Print one line per state, event and availability message until Ctrl-C (or ``stop``,
    or ``max_messages`` lines); 0 then. `MqttError` if the broker cannot be reached.
    Credentials and TLS as the daemon's (`configure_client`)."""
    stop = stop or threading.Event()
    where = f"{host}:{port}"
    base = f"{topic_prefix}/{device_id or '+'}"
    topics = [f"{base}/state", f"{base}/event", f"{base}/availability"]
    connack: dict[str, Any] = {}
    got_connack = threading.Event()
    printed = 0
    out_lock = threading.Lock()

    def on_connect(client: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        connack["reason"] = reason_code
        got_connack.set()
        if not reason_code.is_failure:
            # Again on every reconnect: the session is clean.
            client.subscribe([(t, 1) for t in topics])

    def on_message(_c: Any, _u: Any, msg: Any) -> None:
        nonlocal printed
        line = format_message(msg.topic, msg.payload)
        if line is None:
            return
        with out_lock:
            if stop.is_set():
                return
            out.write(line + "\n")
            out.flush()
            printed += 1
            if max_messages is not None and printed >= max_messages:
                stop.set()

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        # Not after a refusal: that is the one error line, raised below.
        if got_connack.is_set() and not connack["reason"].is_failure and not stop.is_set():
            _LOG.warning("lost the MQTT broker at %s (%s); reconnecting", where, reason_code)

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"genred-listen-{os.getpid()}")
    client.on_connect = on_connect
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    configure_client(client, MqttSettings(host=host, port=port, username=username, tls=tls or TlsSettings()), password)
    try:
        client.connect(host, port, keepalive=30)
    except Exception as exc:  # OSError, DNS, ssl: one line for the user
        raise MqttError(f"cannot reach the MQTT broker at {where}: {one_line(exc)}") from None
    client.loop_start()
    try:
        _check_connack(where, connack if got_connack.wait(LISTEN_CONNACK_TIMEOUT_S) else None)
        # Waiting in short steps keeps Ctrl-C responsive in the main thread.
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        client.disconnect()
        client.loop_stop()
    return 0


def _check_connack(where: str, connack: dict[str, Any] | None) -> None:
    """`MqttError` unless the broker answered (``connack``) and accepted us."""
    if connack is None:
        raise MqttError(f"cannot reach the MQTT broker at {where}: no answer in {LISTEN_CONNACK_TIMEOUT_S:.0f} s")
    if connack["reason"].is_failure:
        reason = str(connack["reason"])
        hint = "; check --username / --password-file (or the config's)" if reason in AUTH_REFUSALS else ""
        raise MqttError(f"the MQTT broker at {where} refused us: {reason}{hint}")


def format_message(topic: str, payload: bytes) -> str | None:
    """``<time> <device> state: rock 0.82 (music)`` and the like; None for other topics."""
    parts = topic.split("/")
    if len(parts) < 3:
        return None
    device, kind = parts[-2], parts[-1]
    text = payload.decode("utf-8", errors="replace")
    now = dt.datetime.now().strftime("%H:%M:%S")
    if kind == "availability":
        return f"{now} {device} availability: {text}"
    if kind not in ("state", "event"):
        return None
    try:
        if kind == "state":
            s = StatePayload.from_json(text)
            body = f"{s.genre or '-'} {s.confidence:.2f} ({s.status})"
        else:
            e = EventPayload.from_json(text)
            body = f"{e.from_genre or '-'} -> {e.to_genre or '-'} ({e.confidence:.2f})"
    except PayloadError:
        body = text  # not ours, or another version's: show it as it is
    return f"{now} {device} {kind}: {body}"
