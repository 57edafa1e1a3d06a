"""The broker password: given in the config, or read from a file (systemd's
LoadCredential= puts it in ``$CREDENTIALS_DIRECTORY``); never in a message."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..settings import MqttSettings
from .errors import ConfigError

_LOG = logging.getLogger(__name__)


def resolve_password(mqtt: MqttSettings) -> str | None:
    """The broker password: ``mqtt.password``, else the content of ``password_file``
    (a relative name is looked up in ``$CREDENTIALS_DIRECTORY`` first, where systemd's
    LoadCredential= puts it, then in the working directory), else None.

    Raises ConfigError naming the file, never the password.
    """
    if mqtt.password is not None:
        return mqtt.password
    if mqtt.password_file is None:
        return None
    name = Path(mqtt.password_file)
    candidates: list[Path] = []
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    if credentials and not name.is_absolute():
        candidates.append(Path(credentials) / name)
    candidates.append(Path(os.path.abspath(name)))  # absolute, so the message says where
    for candidate in candidates:
        if not candidate.exists():
            continue
        try:
            text = candidate.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"mqtt.password_file: {candidate} is not UTF-8 text") from None
        except OSError as exc:
            raise ConfigError(
                f"mqtt.password_file: cannot read {candidate} ({exc.strerror or type(exc).__name__})"
            ) from None
        password = text.rstrip("\r\n")  # editors add a final newline; it is not part of the secret
        if not password:
            raise ConfigError(f"mqtt.password_file: {candidate} is empty")
        _LOG.debug("MQTT password read from %s", candidate)
        return password
    looked = " or ".join(str(c) for c in candidates)
    hint = "" if credentials or name.is_absolute() else " ($CREDENTIALS_DIRECTORY is not set)"
    raise ConfigError(f"mqtt.password_file: no such file: {looked}{hint}")
