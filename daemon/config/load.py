"""Settings from a YAML file and the command line: the file read (`yaml_file`), the
command line's overrides set on it, what people write that means a valid value made
that value, msgspec's conversion to `Settings`, then the rules between fields (`rules`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from genred.dsp.schema import fields, struct_of
from genred.dsp.schema_errors import locate

from ..settings import Settings
from .errors import Context, message
from .rules import check_printable, check_relations
from .yaml_file import read_yaml

_LOG = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/genred/config.yaml")


def load_settings(path: str | Path | None, overrides: Mapping[str, object] | None = None) -> Settings:
    """Settings from a YAML file (None: built-in defaults) with command-line
    ``overrides`` (dotted keys; a None value means "not given") on top.

    Raises ConfigError, one line naming the file or the command line and the key.
    """
    if path is None:
        raw: Any = {}
        label = "(built-in defaults)"
    else:
        path = Path(path)
        raw = read_yaml(path)
        label = str(path)
    raw, cli_keys = _apply_overrides(raw, overrides or {})
    ctx = Context(label, cli_keys)
    settings = _build(raw, ctx)
    check_printable(settings, ctx)
    check_relations(settings, ctx)
    if cli_keys:
        _LOG.debug("command-line overrides: %s", ", ".join(sorted(cli_keys)))
    return settings


def _apply_overrides(raw: Any, overrides: Mapping[str, object]) -> tuple[Any, set[str]]:
    """``raw`` with the given (non-None) dotted overrides set; and the keys set."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return raw, set()  # the top-level error is the file's; report that one
    applied: set[str] = set()
    for key, value in overrides.items():
        if value is None:  # the flag was not given
            continue
        *parents, leaf = key.split(".")
        node = raw
        for part in parents:
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                break  # the file's section is malformed; its own error says so
            node = child
        else:
            node[leaf] = os.fspath(value) if isinstance(value, os.PathLike) else value  # --model may be a Path
            applied.add(key)
    return raw, applied


def _drop_empty_sections(node: dict[Any, Any], cls: type[msgspec.Struct] = Settings) -> None:
    """``audio:`` with every key commented out (null) means all of audio's defaults."""
    for name, f in fields(cls).items():
        inner = struct_of(f.type)
        if inner is not None and name in node:
            if node[name] is None:
                del node[name]
            elif isinstance(node[name], dict):
                _drop_empty_sections(node[name], inner)


def _in_schema_order(node: dict[Any, Any], cls: type[msgspec.Struct] = Settings) -> dict[Any, Any]:
    """``node`` with unknown keys first, then the fields in their declared order: msgspec
    names the first problem it meets, and a typo'd key explains the rest best."""
    known = fields(cls)
    out = {k: v for k, v in node.items() if not isinstance(k, str) or k not in known}
    for name, f in known.items():
        if name in node:
            inner = struct_of(f.type)
            value = node[name]
            out[name] = _in_schema_order(value, inner) if inner is not None and isinstance(value, dict) else value
    return out


def _normalise(raw: dict[Any, Any]) -> None:
    """What people write that means a valid value, made that value, in place."""
    _drop_empty_sections(raw)
    if isinstance(raw.get("log_level"), str):
        raw["log_level"] = raw["log_level"].lower()  # "INFO" as well
    audio = raw.get("audio")
    if isinstance(audio, dict):
        source = audio.get("source")
        if isinstance(source, int) and not isinstance(source, bool) and source >= 0:
            audio["source"] = str(source)  # "source: 2", a device index, is what people write


def _build(raw: Any, ctx: Context) -> Settings:
    if raw is None:
        raw = {}
    if isinstance(raw, dict):
        _normalise(raw)
        raw = _in_schema_order(raw)
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise message(locate(exc, raw, Settings), ctx) from None
