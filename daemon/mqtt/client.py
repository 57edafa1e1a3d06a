"""The paho client under genred's MQTT: its set-up (credentials, TLS, timeouts), shared by
the publisher, `genred listen` and `check-config`, and what its failures mean, each as one
line naming what to check."""

from __future__ import annotations

import os
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from genred.dsp.errors import GenredError, one_line

from ..settings import MqttSettings, TlsSettings

CONNECT_TIMEOUT_S = 5.0  # TCP (+TLS) connect; bounds how long one attempt can hang
CONNACK_TIMEOUT_S = 10.0  # a listener that accepts and never answers CONNECT is not a broker
AUTH_HINT = "check mqtt.username / password_file"
AUTH_REFUSALS = ("Not authorized", "Bad user name or password")
CLOSED_BY_BROKER = "closed by the broker: it shut down or restarted, or dropped us"
_X509_HOSTNAME_MISMATCH = 62  # X509_V_ERR_HOSTNAME_MISMATCH


class MqttError(GenredError):
    """The broker cannot be used (for `listen`; the publisher only logs and retries)."""


def new_client(client_id: str) -> mqtt.Client:
    # Reconnecting is the publisher's (see genred.daemon.mqtt.link), so paho's own is off.
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, reconnect_on_failure=False)


def configure_client(client: Any, settings: MqttSettings, password: str | None) -> None:
    """The credentials and TLS of ``settings`` on a paho client (the daemon's, `listen`'s
    and `check-config`'s). `MqttError` naming the key and the file for unusable TLS files."""
    if settings.username is not None:
        client.username_pw_set(settings.username, password)
    tls = settings.tls
    if tls.enabled:
        for key in ("ca_file", "cert_file", "key_file"):
            name = getattr(tls, key)
            if name is not None and not os.path.isfile(name):
                raise MqttError(f"mqtt.tls.{key}: no such file: {os.path.abspath(name)}")
        try:
            client.tls_set(ca_certs=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise MqttError(
                f"mqtt.tls: cannot use {_tls_files(tls)}: {one_line(exc)}; check that they are PEM files readable by this user"
            ) from None
        if tls.insecure:
            client.tls_insecure_set(True)
    client.connect_timeout = CONNECT_TIMEOUT_S


def _tls_files(tls: TlsSettings) -> str:
    named = [f"mqtt.tls.{k} ({getattr(tls, k)})" for k in ("ca_file", "cert_file", "key_file") if getattr(tls, k)]
    return ", ".join(named) or "the system's CA store"


def unreachable(settings: MqttSettings, exc: BaseException) -> tuple[str, str]:
    """A connect that raised: (the warning, the short ``last_error``)."""
    reason = one_line(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        what = f"has a TLS certificate we do not trust ({exc.verify_message or reason})"
        if exc.verify_code == _X509_HOSTNAME_MISMATCH:
            hint = ("check mqtt.host: it must be a name the broker's certificate is for "
                    "(mqtt.tls.insecure for test brokers only); retrying")
        else:
            hint = ("check mqtt.tls.ca_file: the CA that signed the broker's certificate "
                    "(null: the system's CA store); retrying")
    elif settings.tls.enabled and isinstance(exc, (ssl.SSLError, ConnectionResetError)):
        what = f"failed the TLS handshake ({reason})"
        hint = f"check mqtt.port and mqtt.tls.enabled: is {settings.port} the broker's TLS port?; retrying"
    else:
        what, hint = f"not reachable ({reason})", "retrying; genre changes are still printed"
    return f"MQTT broker {_where(settings)} {what}; {hint}", f"not reachable: {reason}"


def not_answered(settings: MqttSettings, *, unanswered: bool, reason: str, connack_timeout_s: float) -> tuple[str, str]:
    """TCP (and TLS) worked, but no MQTT answer came (not a broker, or not this protocol):
    (the warning, the short ``last_error``). ``unanswered``: no CONNACK within the timeout;
    else the connection ended for ``reason``."""
    if unanswered:
        what = f"accepted the connection but sent no MQTT answer within {connack_timeout_s:g} s"
    elif reason in ("", CLOSED_BY_BROKER):
        what = "closed the connection without an MQTT answer"
    else:
        what = f"ended the connection without an MQTT answer ({reason})"
    if settings.tls.enabled:
        hint = f"check mqtt.port: is {settings.port} the broker's MQTT over TLS port? (mqtt.tls.enabled is true)"
    elif settings.port == 8883:
        hint = "port 8883 is MQTT over TLS: set mqtt.tls.enabled: true (or check mqtt.port)"
    else:
        hint = "if it is a TLS port, set mqtt.tls.enabled: true; otherwise check mqtt.port (no MQTT broker answers there)"
    return f"MQTT broker {_where(settings)} {what}; {hint}; retrying", f"no MQTT answer: {what}"


def _where(settings: MqttSettings) -> str:
    return f"{settings.host}:{settings.port}"
