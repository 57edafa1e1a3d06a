"""The wire format of `payloads`: compact JSON out, and the checked reading of it back
(each failure a `PayloadError` naming the key and what it expected)."""

from __future__ import annotations

import json
from typing import Any, cast


class PayloadError(ValueError):
    """A payload that is not one of ours (or not of this version)."""


def dumps(d: Any) -> str:
    """Compact JSON; numpy scalars (``.item()``) and anything else odd become plain values."""
    return json.dumps(d, separators=(",", ":"), default=_plain)


def _plain(obj: Any) -> Any:
    item = getattr(obj, "item", None)
    if callable(item):
        return item()
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    return str(obj)


_MISSING: Any = object()


def read_object(cls: type, text: str | bytes) -> dict[str, Any]:
    try:
        d = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{cls.__name__}: not JSON ({exc})") from None
    if not isinstance(d, dict):
        raise PayloadError(f"{cls.__name__}: expected a JSON object, got {type(d).__name__}")
    return d


def _get(d: dict[str, Any], key: str, default: Any) -> Any:
    if key in d:
        return d[key]
    if default is _MISSING:
        raise PayloadError(f"{key}: missing")
    return default


def _wrong(key: str, what: str, value: Any) -> PayloadError:
    return PayloadError(f"{key}: expected {what}, got {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_str(d: dict[str, Any], key: str, default: Any = _MISSING) -> str:
    value = _get(d, key, default)
    if not isinstance(value, str):
        raise _wrong(key, "a string", value)
    return value


def opt_str(d: dict[str, Any], key: str, default: Any = _MISSING) -> str | None:
    value = _get(d, key, default)
    if value is not None and not isinstance(value, str):
        raise _wrong(key, "a string or null", value)
    return value


def read_number(d: dict[str, Any], key: str) -> float:
    value = _get(d, key, _MISSING)
    if not _is_number(value):
        raise _wrong(key, "a number", value)
    return cast(float, value)  # an int stays an int: it was written as one


def opt_number(d: dict[str, Any], key: str, default: Any = _MISSING) -> float | None:
    value = _get(d, key, default)
    if value is not None and not _is_number(value):
        raise _wrong(key, "a number or null", value)
    return cast("float | None", value)


def read_int(d: dict[str, Any], key: str) -> int:
    value = _get(d, key, _MISSING)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _wrong(key, "an integer", value)
    return value


def opt_int(d: dict[str, Any], key: str) -> int | None:
    value = _get(d, key, _MISSING)
    return None if value is None else read_int(d, key)


def read_bool(d: dict[str, Any], key: str) -> bool:
    value = _get(d, key, _MISSING)
    if not isinstance(value, bool):
        raise _wrong(key, "true or false", value)
    return value


def opt_object(d: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = _get(d, key, _MISSING)
    if value is not None and not isinstance(value, dict):
        raise _wrong(key, "an object or null", value)
    return value


def required_object(d: dict[str, Any], key: str) -> dict[str, Any]:
    value = opt_object(d, key)
    if value is None:
        raise _wrong(key, "an object", value)
    return value


def read_probabilities(d: dict[str, Any], key: str, default: Any = _MISSING) -> dict[str, float]:
    value = _get(d, key, default)
    if not isinstance(value, dict) or not all(_is_number(p) for p in value.values()):
        raise _wrong(key, "an object of numbers by label", value)
    return value
