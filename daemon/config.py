"""Load the daemon's YAML config into the typed `Settings`, strictly.

A config file is edited by hand on a device, usually over SSH, and the daemon runs
unattended afterwards: a typo that silently falls back to a default (``sourse:``, a
port written as ``"1883"``, a second ``mqtt:`` block that replaces the first) costs
far more than a refusal to start. So every key must be known, every value must have
the right type and range, and every problem is one line that names the file and the
dotted key (``config /etc/genred/config.yaml: mqtt.port: must be ...``).

What each key accepts is declared in `settings` and checked by msgspec; this module
reads the YAML, applies the command line, words msgspec's errors (`_message`) and checks
the rules between fields (`_check_relations`). A new key needs no code here.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
import yaml

from genred.dsp.errors import GenredError, one_line
from genred.dsp.schema import base_of, extra, fields, is_optional, leaves, requirement, struct_of
from genred.dsp.schema_errors import Problem, locate
from genred.dsp.smoother_params import music_thresholds_problem

from .settings import MqttSettings, Settings

_LOG = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("/etc/genred/config.yaml")

# Where an override came from, in place of a file name in messages.
COMMAND_LINE = "(command line)"
# Values of these keys never appear in messages or in `check_config`'s output.
_SECRET_KEYS = frozenset(k for k, f in leaves(Settings).items() if extra(f.type).get("secret"))
# Text that must be printable (str.isprintable): topics and names.
_PRINTABLE = {k: f for k, f in leaves(Settings).items() if extra(f.type).get("printable")}
_MASK = "***"
# A `password:` key in a YAML line (block or flow style) and the first character of its value.
_SECRET_LINE = re.compile(r"(?:^|[\s{,])password\s*:\s*(\S?)")
_YAML_MEANING = {"*": "alias", "!": "tag", "&": "anchor"}


class ConfigError(GenredError):
    """A config file or override that cannot be used; the message is one line naming
    the file (or the command line) and the dotted key."""


# -- errors -------------------------------------------------------------------------------


class _Context:
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


def _show(value: Any, *, secret: bool = False) -> str:
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


# -- conversion ----------------------------------------------------------------------------


def _close_hint(name: str, names: list[str]) -> str | None:
    if "." in name:
        # `mqtt.port: 1884` at the top level: right key, wrong shape.
        head, _, rest = name.partition(".")
        if head in names:
            return f"write it nested: {head}: {{{rest}: ...}}"
    match = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {match[0]}?" if match else None


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


def _message(p: Problem, ctx: _Context) -> ConfigError:
    """msgspec's complaint about the settings, as one line naming the origin and the key."""
    where = ".".join(p.path)
    if p.kind in ("type", "range"):
        # "or null" and "quote it" only help when the kind of value is wrong.
        wrong_type = p.kind == "type"
        or_null = " or null" if wrong_type and is_optional(p.declared) else ""
        quote = " (quote it)" if wrong_type and base_of(p.declared) is str and isinstance(p.value, (bool, int, float)) else ""
        value = float(p.value) if base_of(p.declared) is float and not wrong_type else p.value  # "0" is 0.0 s
        shown = _show(value, secret=p.key in _SECRET_KEYS)
        return ctx.error(p.key, f"must be {p.requirement}{or_null}{quote}, not {shown}")
    if p.kind == "unknown":
        name = p.keys[0]
        # A key with a line break or a control character is shown quoted: one line.
        label = name if isinstance(name, str) and name.isprintable() else _show(name)
        return ctx.unknown(f"{where}.{label}" if where else label, _close_hint(label, list(fields(p.record))))
    if p.kind == "mapping":
        if not where:
            return ConfigError(f"config {ctx.file_label}: must be a mapping of settings at the top level, not {_show(p.value)}")
        return ctx.error(where, f"must be a mapping of settings (key: value lines), not {_show(p.value)}")
    return ConfigError(f"config {ctx.origin(where)}: {where + ': ' if where else ''}{p.detail}")  # no such rule yet


def _build(raw: Any, ctx: _Context) -> Settings:
    if raw is None:
        raw = {}
    if isinstance(raw, dict):
        _normalise(raw)
        raw = _in_schema_order(raw)
    try:
        return msgspec.convert(raw, Settings)
    except msgspec.ValidationError as exc:
        raise _message(locate(exc, raw, Settings), ctx) from None


def _check_printable(s: Settings, ctx: _Context) -> None:
    for key, f in _PRINTABLE.items():
        value: Any = s
        for part in key.split("."):
            value = getattr(value, part)
        if value is not None and not value.isprintable():
            raise ctx.error(key, f"must be {requirement(f.type, f.name)}, not {_show(value)}")


def _check_relations(s: Settings, ctx: _Context) -> None:
    """Rules that involve two fields; reported on the second one."""
    a, m = s.audio, s.mqtt
    if not a.buffer_s > a.block_s:
        raise ctx.error("audio.buffer_s", f"must be longer than audio.block_s ({a.block_s:g} s), not {a.buffer_s:g}",
                        "audio.block_s")
    if not a.retry_max_s >= a.retry_min_s:
        raise ctx.error("audio.retry_max_s",
                        f"must be >= audio.retry_min_s ({a.retry_min_s:g} s), not {a.retry_max_s:g}",
                        "audio.retry_min_s")
    if not m.reconnect_max_s >= m.reconnect_min_s:
        raise ctx.error("mqtt.reconnect_max_s",
                        f"must be >= mqtt.reconnect_min_s ({m.reconnect_min_s:g} s), not {m.reconnect_max_s:g}",
                        "mqtt.reconnect_min_s")
    sm = s.smoothing
    if sm.music_on is not None and sm.music_off is not None:
        # Only when both are given: the other's value comes from the model (checked at start).
        problem = music_thresholds_problem(sm.music_on, sm.music_off)
        if problem is not None:
            raise ctx.error("smoothing.music_off", f"must be {problem.replace('music_on', 'smoothing.music_on')}",
                            "smoothing.music_on")
    if m.password is not None and m.password_file is not None:
        raise ctx.error("mqtt.password_file", "give mqtt.password or mqtt.password_file, not both", "mqtt.password")
    _check_topic_lengths(s, ctx)
    if (m.tls.cert_file is None) != (m.tls.key_file is None):
        given, missing = ("cert_file", "key_file") if m.tls.key_file is None else ("key_file", "cert_file")
        raise ctx.error(f"mqtt.tls.{missing}", f"needed with mqtt.tls.{given} (a client certificate needs both)",
                        f"mqtt.tls.{given}")


_MQTT_TOPIC_MAX_BYTES = 65535
_HOST_NAME_MAX = 64  # Linux's HOST_NAME_MAX: the device id when device_id is null
# The longest topics the daemon uses, around its prefixes and device id (the discovery
# node id is "genred_" and the device id with odd characters made "_": never longer).
_LONGEST_STATE_SUFFIX = "/probabilities"
_LONGEST_DISCOVERY_PARTS = ("/sensor/genred_", "/confidence/config")


def _check_topic_lengths(s: Settings, ctx: _Context) -> None:
    m = s.mqtt
    parts = {"device_id": s.device_id or "", "mqtt.topic_prefix": m.topic_prefix, "mqtt.discovery_prefix": m.discovery_prefix}
    size = {k: len(v.encode("utf-8")) for k, v in parts.items()}
    if s.device_id is None:
        size["device_id"] = _HOST_NAME_MAX  # the host name, then
    longest = max(
        size["mqtt.topic_prefix"] + 1 + size["device_id"] + len(_LONGEST_STATE_SUFFIX),
        size["mqtt.discovery_prefix"] + size["device_id"] + sum(map(len, _LONGEST_DISCOVERY_PARTS)),
    )
    if longest > _MQTT_TOPIC_MAX_BYTES:
        key = max(size, key=size.__getitem__)  # the one to shorten
        raise ctx.error(key, f"makes an MQTT topic {longest} bytes long; MQTT allows at most {_MQTT_TOPIC_MAX_BYTES}",
                        *(k for k in parts if k != key))


# -- YAML ------------------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses a key given twice in one mapping.

    Plain safe_load keeps the last one, so a second ``mqtt:`` block silently
    replaces the first, host and all.
    """


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"config {path}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror or one_line(exc)})") from None
    lines = data.decode("utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        bare = None if line.lstrip().startswith("#") else _SECRET_LINE.search(line)
        if bare is not None and bare.group(1) in _YAML_MEANING:
            # Unquoted, YAML reads these as an alias, a tag or an anchor: an error that
            # would quote the password, or (an anchor) a password silently null.
            c = bare.group(1)
            raise ConfigError(
                f"config {path}: line {number}: mqtt.password: a value starting with {c} is a YAML {_YAML_MEANING[c]}; "
                "quote the password: password: \"...\""
            )
    try:
        return yaml.load(data, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = one_line(exc.problem or exc.context or exc)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        if mark is not None and mark.line < len(lines) and _SECRET_LINE.search(lines[mark.line]):
            # The problem text may quote the value; the journal must not get the password.
            problem = "the mqtt.password value cannot be read as YAML; quote the password: password: \"...\""
        raise ConfigError(f"config {path}: not valid YAML ({where}{problem})") from None
    except yaml.YAMLError as exc:  # e.g. bytes that are not UTF-8
        raise ConfigError(f"config {path}: not valid YAML ({one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001
        # PyYAML's constructors raise bare exceptions, with no line, for some scalars:
        # ValueError for "2024-13-01" (month 13) or an integer of more than 4300
        # digits, IndexError for "!!int" with no value, AttributeError for
        # "!!timestamp x"; and RecursionError for collections nested thousands deep.
        raise ConfigError(f"config {path}: not valid YAML ({one_line(exc)})") from None


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


# -- public API ---------------------------------------------------------------------------


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
        raw = _read_yaml(path)
        label = str(path)
    raw, cli_keys = _apply_overrides(raw, overrides or {})
    ctx = _Context(label, cli_keys)
    settings = _build(raw, ctx)
    _check_printable(settings, ctx)
    _check_relations(settings, ctx)
    if cli_keys:
        _LOG.debug("command-line overrides: %s", ", ".join(sorted(cli_keys)))
    return settings


def settings_dict(settings: Settings, *, mask_secrets: bool = True) -> dict[str, Any]:
    """Settings as nested plain data (for YAML or JSON), secrets masked when set."""
    data: dict[str, Any] = msgspec.to_builtins(settings)
    if mask_secrets:
        for key in _SECRET_KEYS:
            *parents, leaf = key.split(".")
            node = data
            for part in parents:
                node = node[part]
            if node[leaf] is not None:
                node[leaf] = _MASK
    return data


def check_config(path: str | Path | None) -> str:
    """Load ``path`` (ConfigError on any problem) and return the effective settings,
    every key including the defaults, as YAML text with secrets masked."""
    settings = load_settings(path)
    shown = path if path is not None else "(built-in defaults)"
    _check_what_run_opens(settings, str(shown))
    body = yaml.safe_dump(settings_dict(settings), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return f"# effective settings of {shown}\n{body}"


def _check_what_run_opens(settings: Settings, label: str) -> None:
    """Open what `genred run` opens at start (the audio file, the password file, the TLS
    files, the model), so that check-config, the installer's gate, refuses what run would.
    Raises ConfigError naming the file and the key."""
    from genred.dsp.audio import audio_info
    from genred.dsp.classifier import TfliteClassifier

    from . import DEFAULT_MODEL

    source = settings.audio.source
    if source.startswith("file:"):
        try:
            audio_info(source[len("file:"):])
        except GenredError as exc:
            raise ConfigError(f"config {label}: audio.source: {exc}") from None
    m = settings.mqtt
    if m.enabled:
        from .mqtt.client import MqttError, configure_client, new_client

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
