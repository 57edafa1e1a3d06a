"""`genred check-config`: the effective settings, every key including the defaults, as
YAML with secrets masked, after opening what `genred run` would open at start."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import msgspec
import yaml

from genred.dsp.errors import GenredError

from ..settings import Settings
from .errors import SECRET_KEYS, ConfigError
from .load import load_settings
from .password import resolve_password

_LOG = logging.getLogger(__name__)

_MASK = "***"


def check_config(path: str | Path | None) -> str:
    """Load ``path`` (ConfigError on any problem) and return the effective settings,
    every key including the defaults, as YAML text with secrets masked."""
    settings = load_settings(path)
    shown = path if path is not None else "(built-in defaults)"
    _check_what_run_opens(settings, str(shown))
    body = yaml.safe_dump(settings_dict(settings), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return f"# effective settings of {shown}\n{body}"


def settings_dict(settings: Settings, *, mask_secrets: bool = True) -> dict[str, Any]:
    """Settings as nested plain data (for YAML or JSON), secrets masked when set."""
    data: dict[str, Any] = msgspec.to_builtins(settings)
    if mask_secrets:
        for key in SECRET_KEYS:
            *parents, leaf = key.split(".")
            node = data
            for part in parents:
                node = node[part]
            if node[leaf] is not None:
                node[leaf] = _MASK
    return data


def _check_what_run_opens(settings: Settings, label: str) -> None:
    """Open what `genred run` opens at start (the audio file, the password file, the TLS
    files, the model), so that check-config, the installer's gate, refuses what run would.
    Raises ConfigError naming the file and the key."""
    from genred.dsp.audio import audio_info
    from genred.dsp.classifier import TfliteClassifier

    from .. import DEFAULT_MODEL

    source = settings.audio.source
    if source.startswith("file:"):
        try:
            audio_info(source[len("file:"):])
        except GenredError as exc:
            raise ConfigError(f"config {label}: audio.source: {exc}") from None
    m = settings.mqtt
    if m.enabled:
        from ..mqtt.client import MqttError, configure_client, new_client

        password = None
        name = Path(m.password_file) if m.password_file is not None else None
        if name is not None and not name.is_absolute() and not os.environ.get("CREDENTIALS_DIRECTORY") and not name.exists():
            # Under systemd the name is looked up in $CREDENTIALS_DIRECTORY (LoadCredential=),
            # which exists only for the service: nothing to check here, so say so.
            _LOG.warning("mqtt.password_file: %s is looked up in $CREDENTIALS_DIRECTORY when genred runs under "
                         "systemd (LoadCredential=); not checked here", name)
        else:
            try:
                password = resolve_password(m)
            except ConfigError as exc:
                raise ConfigError(f"config {label}: {exc}") from None
        try:
            configure_client(new_client("genred-check-config"), m, password)
        except MqttError as exc:
            raise ConfigError(f"config {label}: {exc}") from None
    try:
        TfliteClassifier.from_path(settings.model or DEFAULT_MODEL)
    except GenredError as exc:
        raise ConfigError(f"config {label}: model: {exc}") from None
