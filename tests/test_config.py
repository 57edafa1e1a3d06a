"""genred.daemon.config: strict YAML loading, overrides, check-config, passwords."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

import msgspec
import pytest
import yaml

from genred.daemon import config as config_mod
from genred.daemon.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    check_config,
    load_settings,
    resolve_password,
)
from genred.daemon.settings import MqttSettings, Settings
from genred.dsp import schema
from detectors import shipped_json_for

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deploy" / "config.example.yaml"


def _leaves() -> list[tuple[str, typing.Any]]:
    """(dotted key, declared type) of every leaf field, from the schema."""
    return [(key, f.type) for key, f in schema.leaves(Settings).items()]


LEAVES = _leaves()
LEAF_KEYS = [k for k, _ in LEAVES]


def _base(hint: typing.Any) -> type:
    return schema.base_of(hint)


def _nest(key: str, value: object) -> dict:
    """{"a.b.c": v} -> {"a": {"b": {"c": v}}}."""
    *parents, leaf = key.split(".")
    data: dict = {leaf: value}
    for part in reversed(parents):
        data = {part: data}
    return data


@pytest.fixture
def write(tmp_path):
    def write(data: object, name: str = "config.yaml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


def _error(path: Path | None, overrides: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- defaults and the minimum ---------------------------------------------------------------


def test_defaults_without_a_file():
    assert load_settings(None) == Settings()
    assert load_settings(None, {}) == Settings()
    assert Path("/etc/genred/config.yaml") == DEFAULT_CONFIG_PATH


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_empty_file_is_defaults(write, text):
    assert load_settings(write(text)) == Settings()


def test_minimum_config(write):
    path = write("device_id: kitchen\naudio:\n  source: USB\nmqtt:\n  host: broker.lan\n  port: 8883\n")
    s = load_settings(str(path))  # a str path works too
    assert (s.device_id, s.audio.source, s.mqtt.host, s.mqtt.port) == ("kitchen", "USB", "broker.lan", 8883)
    assert msgspec.structs.replace(
        s, device_id=None,
        audio=msgspec.structs.replace(s.audio, source="default"),
        mqtt=msgspec.structs.replace(s.mqtt, host="localhost", port=1883),
    ) == Settings()


def test_empty_section_is_defaults(write):
    assert load_settings(write("audio:\nmqtt:\n  tls:\nsmoothing:\n")) == Settings()


def test_conversions(write):
    s = load_settings(write(
        "log_level: WARNING\nhop_s: 2\naudio:\n  source: 3\n  buffer_s: 10\n"
        "mqtt:\n  password: hunter2\nsmoothing:\n  tau_s: 5\n"
    ))
    assert s.log_level == "warning"
    assert s.hop_s == 2.0 and isinstance(s.hop_s, float)
    assert s.audio.source == "3"
    assert s.audio.buffer_s == 10.0 and isinstance(s.audio.buffer_s, float)
    assert s.smoothing.tau_s == 5.0 and isinstance(s.smoothing.tau_s, float)
    assert s.mqtt.password == "hunter2"


@pytest.mark.parametrize("source", ["default", "2", "USB Audio", "file:/tmp/a.wav", "file:song.flac"])
def test_audio_sources_accepted(write, source):
    assert load_settings(write({"audio": {"source": source}})).audio.source == source


# -- the example file -------------------------------------------------------------------------


def test_example_file_is_exactly_the_defaults():
    assert load_settings(EXAMPLE) == Settings()


def test_example_file_documents_every_key():
    raw = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

    def keys(data: dict, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for k, v in data.items():
            out |= keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k}
        return out

    assert keys(raw) == set(LEAF_KEYS)
    # the header (the comment block before the first key) shows the minimum to write
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    header = "\n".join(lines[: next(i for i, ln in enumerate(lines) if ln and not ln.startswith("#"))])
    for must in ("device_id:", "source:", "host:", "port:", "genred check-config"):
        assert must in header, must


@pytest.mark.parametrize("key", LEAF_KEYS)
def test_example_file_shows_each_schema_field_with_its_default(key):
    """A key added to the schema fails here, naming it, until the example documents it."""
    node = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for part in key.split("."):
        assert isinstance(node, dict) and part in node, f"{key} is not in {EXAMPLE.name}"
        node = node[part]
    default = schema.leaves(Settings)[key].default
    assert node == default and type(node) is type(default), f"{key}: {node!r} in {EXAMPLE.name}, default {default!r}"


# -- unknown keys -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key", "hint"),
    [
        ({"devce_id": "x"}, "devce_id", "device_id"),
        ({"audio": {"sourse": "x"}}, "audio.sourse", "source"),
        ({"mqtt": {"tls": {"cafile": "x"}}}, "mqtt.tls.cafile", "ca_file"),
        ({"smoothing": {"zzz": 1}}, "smoothing.zzz", None),
    ],
)
def test_unknown_keys_named_with_a_hint(write, data, key, hint):
    path = write(data)
    message = _error(path)
    assert message.startswith(f"config {path}: unknown key {key}")
    if hint:
        assert f"did you mean {hint}?" in message
    else:
        assert "did you mean" not in message


def test_dotted_key_at_top_level_hints_nesting(write):
    message = _error(write("mqtt.port: 1884\n"))
    assert "unknown key mqtt.port" in message and "nested" in message


def test_non_string_key(write):
    assert "unknown key 1" in _error(write("1: x\n"))


def test_section_not_a_mapping(write):
    path = write("audio: default\n")
    assert _error(path) == f"config {path}: audio: must be a mapping of settings (key: value lines), not 'default'"


# -- every leaf: wrong type and out of range ----------------------------------------------------


def _wrong_types(hint: typing.Any, key: str) -> list[object]:
    base = _base(hint)
    if base is bool:
        return ["yes please", 1, 0.0]
    if base is int:
        return ["12", True, 1.5, [1]]
    if base is float:
        return ["1.5", True, [1.0], float("nan"), float("inf")]
    if base is str:
        # audio.source is the one str that takes an int (a device index).
        return [True, 1.5, [1], {"a": 1}] + ([] if key == "audio.source" else [7])
    raise AssertionError(f"no wrong-type values for {key}: {hint!r}; extend the test")


WRONG_TYPE_CASES = [(key, bad) for key, hint in LEAVES for bad in _wrong_types(hint, key)]


@pytest.mark.parametrize(("key", "bad"), WRONG_TYPE_CASES, ids=[f"{k}={v!r}" for k, v in WRONG_TYPE_CASES])
def test_wrong_type_names_the_key(write, key, bad):
    path = write(_nest(key, bad))
    message = _error(path)
    assert message.startswith(f"config {path}: {key}: must be "), message


@pytest.mark.parametrize("key", [k for k, h in LEAVES if not schema.is_optional(h)])
def test_null_for_a_required_leaf(write, key):
    assert f": {key}: must be " in _error(write(_nest(key, None)))


# Out-of-range values of every constrained leaf. The leaves with no range are listed in
# UNCONSTRAINED, so a new field fails test_every_leaf_is_classified until it is added to one.
OUT_OF_RANGE: dict[str, list[object]] = {
    "device_id": ["", "  ", "living room", "a/b", "a+b", "a#b", "a\0b", "a\x1bb", "a\u200bb"],
    "model": ["", " "],
    "hop_s": [0, -1.0, 60.001, 100],
    "log_level": ["verbose", "", "warn", "critical"],
    "audio.source": ["", "   ", "file:", "file:  ", -1],
    "audio.sample_rate_hz": [7999, 192001, 0, -44100],
    "audio.channels": [0, 33, -1],
    "audio.block_s": [0, -0.1, 1.01],
    "audio.buffer_s": [0, -1.0, 300.5, 1e7],  # 1e7 s would be an 821 GiB allocation
    "audio.no_audio_timeout_s": [0, -5, 1e10],
    "audio.retry_min_s": [0, -1, 1e10],  # beyond threading's TIMEOUT_MAX: an OverflowError
    "audio.retry_max_s": [0, -1, 1e10],
    "mqtt.host": ["", "  "],
    "mqtt.port": [0, 65536, -1],
    "mqtt.topic_prefix": ["", "a/b", "a+", "#", "$SYS", "a\0b", "a\u00a0b"],  # the broker drops $ topics
    "mqtt.client_id": ["", " "],
    "mqtt.password_file": ["", " "],
    "mqtt.tls.ca_file": [""],
    "mqtt.tls.cert_file": [""],
    "mqtt.tls.key_file": [""],
    "mqtt.keepalive_s": [4, 0, 65536],
    "mqtt.qos": [-1, 3],
    "mqtt.state_interval_s": [0, -1],
    "mqtt.status_interval_s": [0, -1],
    "mqtt.discovery_prefix": ["", "home+assistant", "a/#", "homeassistant/", "/ha", "home//assistant", "$SYS", "h\0a", "h\ue000a"],
    "mqtt.event_queue_size": [0, -1],
    "mqtt.reconnect_min_s": [0, -1, 1e10],
    "mqtt.reconnect_max_s": [0, -1, 1e10],
    "smoothing.tau_s": [0, -1],
    "smoothing.switch_margin": [-0.01, 1, 1.5],
    "smoothing.switch_hold_s": [-0.5],
    "smoothing.confidence_floor": [-0.1, 1.01],
    "smoothing.silence_db": [0, 3.0],
    "smoothing.music_tau_s": [0, -1],
    "smoothing.music_on": [-0.1, 1.01],
    "smoothing.music_off": [-0.1, 1.5],
    "smoothing.music_hold_s": [-1],
    "smoothing.no_music_hold_s": [-0.5],
}
UNCONSTRAINED = {
    "audio.loop", "mqtt.enabled", "mqtt.username", "mqtt.password", "mqtt.tls.enabled",
    "mqtt.tls.insecure", "mqtt.retain", "mqtt.publish_probabilities", "mqtt.discovery",
}


def test_every_leaf_is_classified():
    assert set(OUT_OF_RANGE) | UNCONSTRAINED == set(LEAF_KEYS)
    assert not set(OUT_OF_RANGE) & UNCONSTRAINED
    # and the constrained ones are exactly those whose declaration carries a range, a
    # pattern or a set of values (the schema is the one table of rules)
    def constrained(hint: typing.Any) -> bool:
        d = schema.declared(hint)
        return typing.get_origin(d.base) is typing.Literal or any(
            getattr(d.meta, a) is not None for a in ("gt", "ge", "lt", "le", "pattern"))
    assert {k for k, h in LEAVES if constrained(h)} == set(OUT_OF_RANGE)


OUT_OF_RANGE_CASES = [(k, v) for k, values in OUT_OF_RANGE.items() for v in values]


@pytest.mark.parametrize(("key", "bad"), OUT_OF_RANGE_CASES, ids=[f"{k}={v!r}" for k, v in OUT_OF_RANGE_CASES])
def test_out_of_range_names_the_key(write, key, bad):
    path = write(_nest(key, bad))
    message = _error(path)
    assert message.startswith(f"config {path}: {key}: must be "), message


@pytest.mark.parametrize(
    ("key", "good"),
    [
        ("hop_s", 60), ("hop_s", 0.01), ("mqtt.port", 1), ("mqtt.port", 65535), ("mqtt.qos", 0), ("mqtt.qos", 2),
        ("mqtt.keepalive_s", 5), ("audio.sample_rate_hz", 8000), ("audio.sample_rate_hz", 192000),
        ("audio.channels", 1), ("audio.channels", 32), ("smoothing.switch_margin", 0),
        ("smoothing.switch_hold_s", 0), ("smoothing.confidence_floor", 0), ("smoothing.confidence_floor", 1),
        ("smoothing.silence_db", -0.5), ("mqtt.event_queue_size", 1), ("device_id", "living-room_2"),
        ("mqtt.discovery_prefix", "ha/discovery"), ("mqtt.username", ""), ("log_level", "Error"),
        ("audio.block_s", 1.0), ("audio.buffer_s", 300), ("audio.retry_max_s", 3600),
        ("audio.no_audio_timeout_s", 3600), ("mqtt.reconnect_max_s", 3600), ("mqtt.topic_prefix", "home$"),
        ("device_id", "$den"),
    ],
)
def test_boundaries_accepted(write, key, good):
    settings = load_settings(write(_nest(key, good)))
    value = settings
    for part in key.split("."):
        value = getattr(value, part)
    assert value == (good.lower() if key == "log_level" else good)  # taken, not dropped for a default


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"audio": {"block_s": 0.5, "buffer_s": 0.5}}, "audio.buffer_s"),
        ({"audio": {"buffer_s": 0.05}}, "audio.buffer_s"),
        ({"audio": {"retry_min_s": 40}}, "audio.retry_max_s"),
        ({"mqtt": {"reconnect_min_s": 5, "reconnect_max_s": 2}}, "mqtt.reconnect_max_s"),
        ({"mqtt": {"password": "x", "password_file": "f"}}, "mqtt.password_file"),
        ({"mqtt": {"tls": {"cert_file": "c.pem"}}}, "mqtt.tls.key_file"),
        ({"mqtt": {"tls": {"key_file": "k.pem"}}}, "mqtt.tls.cert_file"),
        ({"smoothing": {"music_on": 0.5, "music_off": 0.6}}, "smoothing.music_off"),
    ],
)
def test_relations_between_fields(write, data, key):
    path = write(data)
    assert _error(path).startswith(f"config {path}: {key}: ")


def test_relations_satisfied(write):
    s = load_settings(write({
        "audio": {"retry_min_s": 30, "retry_max_s": 30},
        "mqtt": {"tls": {"cert_file": "c.pem", "key_file": "k.pem"}, "password_file": "pw"},
        "smoothing": {"music_on": 0.5, "music_off": 0.5},
    }))
    assert s.mqtt.tls.cert_file == "c.pem" and s.mqtt.password_file == "pw"
    assert (s.smoothing.music_on, s.smoothing.music_off) == (0.5, 0.5)


def test_music_off_above_music_on_is_one_line(write):
    path = write({"smoothing": {"music_on": 0.5, "music_off": 0.6}})
    assert _error(path) == f"config {path}: smoothing.music_off: must be <= smoothing.music_on (0.5), not 0.6"
    # One of the two alone: the other is the model's, so the daemon checks the pair at start.
    assert load_settings(write({"smoothing": {"music_off": 0.9}})).smoothing.music_off == 0.9


def test_password_never_in_a_type_error(write):
    message = _error(write("mqtt:\n  password: 987654321\n"))
    assert "mqtt.password" in message and "987654321" not in message


# -- bad files --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line"),
    [("audio:\n  source: x\n  block_s: [0.1\n", None), ("device_id: a\nmqtt:\n  host: a: b\n", 3)],
)
def test_invalid_yaml_is_one_line(write, text, line):
    path = write(text)
    message = _error(path)
    assert message.startswith(f"config {path}: not valid YAML (")
    if line:
        assert f"line {line}:" in message


@pytest.mark.parametrize("value", ["*hunter2", "!hunter2", "&hunter2", "&hunter2 more", "*hunter2 x", "!!hunter2 y",
                                   "@hunter2", "%hunter2", "`hunter2"])
def test_a_password_yaml_cannot_read_is_never_echoed(write, value):
    """Unquoted, * is an alias, ! a tag, & an anchor (and the password silently null)."""
    for text in (f"mqtt:\n  username: me\n  password: {value}\n", f"mqtt: {{username: me, password: {value}}}\n"):
        path = write(text)
        message = _error(path)
        assert "hunter2" not in message, message
        assert message.startswith(f"config {path}: ") and "mqtt.password" in message and "quote" in message, message


def test_other_yaml_errors_still_say_what_is_wrong(write):
    path = write("mqtt:\n  password: 'fine'\n  host: *nohost\n")
    assert "nohost" in _error(path)  # not a secret: the undefined alias is named
    assert load_settings(write("mqtt:\n  password: '*hunter2'\n")).mqtt.password == "*hunter2"
    assert load_settings(write("mqtt:\n  # password: *not-this-one\n  password: x\n")).mqtt.password == "x"


def test_duplicate_key_is_refused(write):
    # plain safe_load would keep only the second mqtt block, losing the host
    path = write("mqtt:\n  host: broker\nmqtt:\n  port: 1884\n")
    message = _error(path)
    assert message.startswith(f"config {path}: not valid YAML (line 3:") and "duplicate key 'mqtt'" in message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    assert _error(path) == f"config {path}: no such file"


def test_directory(tmp_path):
    assert _error(tmp_path).startswith(f"config {tmp_path}: ")


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_not_a_mapping(write, text):
    path = write(text)
    assert _error(path).startswith(f"config {path}: must be a mapping of settings at the top level")


def test_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"device_id: caf\xe9\xff\n")
    assert _error(path).startswith(f"config {path}: not valid YAML")


# -- overrides --------------------------------------------------------------------------------


def test_overrides_applied_and_none_skipped(write):
    path = write({"device_id": "file-id", "audio": {"source": "USB"}, "mqtt": {"host": "broker", "port": 1884}})
    s = load_settings(path, {
        "audio.source": "file:x.wav", "audio.loop": True, "device_id": None, "mqtt.host": None,
        "mqtt.port": 1999, "mqtt.enabled": False, "model": Path("/m/model.tflite"), "hop_s": None,
    })
    assert s.audio.source == "file:x.wav" and s.audio.loop is True
    assert s.device_id == "file-id" and s.mqtt.host == "broker"  # None: flag not given
    assert s.mqtt.port == 1999 and s.mqtt.enabled is False
    assert s.model == "/m/model.tflite" and s.hop_s is None


def test_overrides_without_a_file():
    s = load_settings(None, {"mqtt.host": "b", "smoothing.tau_s": 2})
    assert s.mqtt.host == "b" and s.smoothing.tau_s == 2.0


def test_overrides_into_an_empty_section(write):
    assert load_settings(write("mqtt:\n"), {"mqtt.port": 2000}).mqtt.port == 2000


@pytest.mark.parametrize(
    ("overrides", "key"),
    [({"mqtt.port": 0}, "mqtt.port"), ({"hop_s": 75.0}, "hop_s"), ({"device_id": "a b"}, "device_id"),
     ({"audio.source": ""}, "audio.source")],
)
def test_bad_override_names_the_command_line(write, overrides, key):
    path = write({"mqtt": {"port": 1884}})
    message = _error(path, overrides)
    assert message.startswith(f"config {config_mod.COMMAND_LINE}: {key}: must be "), message
    assert str(path) not in message


def test_unknown_override_key():
    assert "unknown key audio.sourse" in _error(None, {"audio.sourse": "x"})


def test_file_error_still_names_the_file_with_overrides(write):
    path = write({"mqtt": {"qos": 5}})
    assert _error(path, {"mqtt.port": 1999}).startswith(f"config {path}: mqtt.qos: ")


# -- check_config -------------------------------------------------------------------------------


def test_check_config_masks_the_password_and_shows_every_key(write):
    path = write({"device_id": "den", "mqtt": {"password": "s3cr3t-pw", "username": "genred"}})
    text = check_config(path)
    assert text.splitlines()[0] == f"# effective settings of {path}"
    assert "s3cr3t-pw" not in text
    assert "password: '***'" in text
    data = yaml.safe_load(text)
    assert data["device_id"] == "den" and data["mqtt"]["username"] == "genred"
    flat = {k for k, _ in LEAVES}
    got = set()

    def walk(d: dict, prefix: str = "") -> None:
        for k, v in d.items():
            walk(v, f"{prefix}{k}.") if isinstance(v, dict) else got.add(prefix + k)

    walk(data)
    assert got == flat
    # and what it prints loads back to the same settings (the mask aside)
    data["mqtt"]["password"] = "s3cr3t-pw"
    assert load_settings(write(data, "again.yaml")) == load_settings(path)


def test_check_config_unset_password_is_null(write):
    assert "password: null" in check_config(write(""))


def test_check_config_raises_on_problems(write):
    with pytest.raises(ConfigError):
        check_config(write({"mqtt": {"port": "1883"}}))


def test_topics_longer_than_mqtt_allows_are_refused(write):
    path = write({"device_id": "x" * 70_000})  # topics are at most 65,535 bytes
    message = _error(path)
    assert message.startswith(f"config {path}: device_id: ") and "65535" in message, message
    path = write({"mqtt": {"topic_prefix": "p" * 65_530}})
    assert _error(path).startswith(f"config {path}: mqtt.topic_prefix: ")
    load_settings(write({"device_id": "x" * 1000}))  # long, but the topics fit


@pytest.mark.parametrize(
    ("data", "key", "missing"),
    [
        ({"model": "{tmp}/absent.tflite"}, "model", "absent.tflite"),
        ({"audio": {"source": "file:{tmp}/absent.wav"}}, "audio.source", "absent.wav"),
        ({"mqtt": {"password_file": "{tmp}/absent-pw"}}, "mqtt.password_file", "absent-pw"),
        ({"mqtt": {"tls": {"enabled": True, "ca_file": "{tmp}/absent-ca.pem"}}}, "mqtt.tls.ca_file", "absent-ca.pem"),
        ({"mqtt": {"tls": {"enabled": True, "cert_file": "{tmp}/absent-c.pem", "key_file": "{tmp}/absent-k.pem"}}},
         "mqtt.tls.cert_file", "absent-c.pem"),
    ],
)
def test_check_config_refuses_files_that_run_would_refuse(write, tmp_path, monkeypatch, data, key, missing):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write(yaml.safe_load(yaml.safe_dump(data).replace("{tmp}", str(tmp_path))))
    load_settings(path)  # well-formed: only the files are wrong
    with pytest.raises(ConfigError) as info:
        check_config(path)
    message = str(info.value)
    assert message.startswith(f"config {path}: {key}: ") and missing in message and "\n" not in message, message


def test_check_config_does_not_check_files_that_run_does_not_use(write, tmp_path):
    absent = str(tmp_path / "absent")
    check_config(write({"mqtt": {"enabled": False, "password_file": absent, "tls": {"enabled": True, "ca_file": absent}}}))
    check_config(write({"mqtt": {"tls": {"enabled": False, "ca_file": absent}}}))


def test_check_config_refuses_a_corrupt_model(write, tmp_path, model_path):
    bad = tmp_path / "m.tflite"
    bad.write_bytes(b"not a model" * 20)
    shipped_json_for(model_path, bad)
    path = write({"model": str(bad)})
    with pytest.raises(ConfigError, match=rf"^config {path}: model: "):
        check_config(path)


# -- resolve_password -----------------------------------------------------------------------------


def test_password_inline_wins():
    assert resolve_password(MqttSettings(password="inline")) == "inline"
    assert resolve_password(MqttSettings()) is None


def test_password_from_a_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    (tmp_path / "pw").write_text("p4ss word \n", encoding="utf-8")
    assert resolve_password(MqttSettings(password_file=str(tmp_path / "pw"))) == "p4ss word "
    monkeypatch.chdir(tmp_path)
    assert resolve_password(MqttSettings(password_file="pw")) == "p4ss word "


def test_password_from_credentials_directory_first(tmp_path, monkeypatch):
    creds, cwd = tmp_path / "creds", tmp_path / "cwd"
    creds.mkdir()
    cwd.mkdir()
    (creds / "mqtt-password").write_text("from-systemd\n", encoding="utf-8")
    (cwd / "mqtt-password").write_text("from-cwd\n", encoding="utf-8")
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert resolve_password(MqttSettings(password_file="mqtt-password")) == "from-systemd"
    (creds / "mqtt-password").unlink()
    assert resolve_password(MqttSettings(password_file="mqtt-password")) == "from-cwd"


def test_password_file_missing_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        resolve_password(MqttSettings(password_file="absent-pw"))
    message = str(info.value)
    assert "absent-pw" in message and str(tmp_path) in message and "\n" not in message


def test_password_file_errors_never_show_the_password(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match="empty"):
        resolve_password(MqttSettings(password_file=str(empty)))
    binary = tmp_path / "binary"
    binary.write_bytes(b"sup3r\xff\xfe")
    with pytest.raises(ConfigError) as info:
        resolve_password(MqttSettings(password_file=str(binary)))
    assert str(binary) in str(info.value) and "sup3r" not in str(info.value)


# -- through the command line ----------------------------------------------------------------------


def _genred(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genred.daemon", *args], capture_output=True, text=True, timeout=60)


def test_cli_check_config(write):
    good = write({"device_id": "den", "mqtt": {"host": "broker", "password": "topsecret"}}, "good.yaml")
    proc = _genred("check-config", str(good))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"# effective settings of {good}\n")
    assert yaml.safe_load(proc.stdout)["mqtt"]["host"] == "broker"
    assert "topsecret" not in proc.stdout + proc.stderr

    bad = write("audio:\n  sourse: USB\n", "bad.yaml")
    proc = _genred("check-config", str(bad))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0] == f"genred: config {bad}: unknown key audio.sourse (did you mean source?)"
    assert proc.stdout == ""
