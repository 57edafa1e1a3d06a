"""The config's one-line messages: `ConfigError`, and msgspec's complaints (located by
`genred.dsp.schema_errors`) worded as ``config FILE: KEY: must be ..., not VALUE``,
with the origin (the file or the command line), the did-you-mean hint, and secrets
shown by their kind only."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

from genred.dsp.errors import GenredError
from genred.dsp.schema import base_of, extra, fields, is_optional, leaves
from genred.dsp.schema_errors import Problem

from ..settings import Settings

# Where an override came from, in place of a file name in messages.
COMMAND_LINE = "(command line)"
# Values of these keys never appear in messages or in `check_config`'s output.
SECRET_KEYS = frozenset(k for k, f in leaves(Settings).items() if extra(f.type).get("secret"))


class ConfigError(GenredError):
    """A config file or override that cannot be used; the message is one line naming
    the file (or the command line) and the dotted key."""


class Context:
    """Knows which keys came from the command line, so a message names the right origin."""

    def __init__(self, file_label: str, cli_keys: set[str]) -> None:
        self.file_label = file_label
        self.cli_keys = cli_keys

    def origin(self, *keys: str) -> str:
        return COMMAND_LINE if any(k in self.cli_keys for k in keys) else self.file_label

    def error(self, key: str, reason: str, *related: str) -> ConfigError:
        return ConfigError(f"config {self.origin(key, *related)}: {key}: {reason}")

    def unknown(self, key: str, hint: str | None) -> ConfigError:
        tail = f" ({hint})" if hint else ""
        return ConfigError(f"config {self.origin(key)}: unknown key {key}{tail}")


def show(value: Any, *, secret: bool = False) -> str:
    """A value as a user wrote it in YAML, short and on one line."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if secret:  # the kind only: a password must not reach the journal
        return {str: "a string", int: "an integer", float: "a number"}.get(type(value), "a " + type(value).__name__)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a " + type(value).__name__  # dates, binary: YAML turns some bare words into these


def _close_hint(name: str, names: list[str]) -> str | None:
    if "." in name:
        # `mqtt.port: 1884` at the top level: right key, wrong shape.
        head, _, rest = name.partition(".")
        if head in names:
            return f"write it nested: {head}: {{{rest}: ...}}"
    match = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {match[0]}?" if match else None


def message(p: Problem, ctx: Context) -> ConfigError:
    """msgspec's complaint about the settings, as one line naming the origin and the key."""
    where = ".".join(p.path)
    if p.kind in ("type", "range"):
        # "or null" and "quote it" only help when the kind of value is wrong.
        wrong_type = p.kind == "type"
        or_null = " or null" if wrong_type and is_optional(p.declared) else ""
        quote = " (quote it)" if wrong_type and base_of(p.declared) is str and isinstance(p.value, (bool, int, float)) else ""
        value = float(p.value) if base_of(p.declared) is float and not wrong_type else p.value  # "0" is 0.0 s
        shown = show(value, secret=p.key in SECRET_KEYS)
        return ctx.error(p.key, f"must be {p.requirement}{or_null}{quote}, not {shown}")
    if p.kind == "unknown":
        name = p.keys[0]
        # A key with a line break or a control character is shown quoted: one line.
        label = name if isinstance(name, str) and name.isprintable() else show(name)
        return ctx.unknown(f"{where}.{label}" if where else label, _close_hint(label, list(fields(p.record))))
    if p.kind == "mapping":
        if not where:
            return ConfigError(f"config {ctx.file_label}: must be a mapping of settings at the top level, not {show(p.value)}")
        return ctx.error(where, f"must be a mapping of settings (key: value lines), not {show(p.value)}")
    return ConfigError(f"config {ctx.origin(where)}: {where + ': ' if where else ''}{p.detail}")  # no such rule yet
