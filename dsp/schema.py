"""Declared schemas: the base classes of every checked record (the config, model.json,
the front-end and smoothing parameters), and what a declaration says.

A field declares its type, default, range and description once, as
``name: Annotated[int, Meta(ge=1, le=65535, description="...")] = 1883``; msgspec refuses
unknown keys and wrong types. What a field must be, in words ("an integer 1..65535"),
is derived from that declaration (`requirement`), or given as ``Meta(extra={"must_be":
...})`` where a pattern says it better than words could be derived. Reading a document
against a schema, and the words of its problems, is `schema_errors`.

A rule between fields, or one msgspec cannot state, is a small check in the record's
``__post_init__`` (it also runs when the record is decoded), in words that start with
the field it is about.
"""

from __future__ import annotations

import functools
import math
import sys
import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import msgspec
from msgspec import Meta

FLOAT_MAX = sys.float_info.max  # an upper bound that refuses only inf (and NaN, as every bound does)


class Schema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A record read from a file: unknown keys refused, immutable, compared by value."""


class Params(Schema, frozen=True, forbid_unknown_fields=True):
    """A record that also checks its fields when constructed in code (a smoother built
    by the training's grid search must obey the ranges a model.json is held to). Its
    messages read "FIELD must be ..."; nested in a file, "SECTION: FIELD must be ..."."""

    def __post_init__(self) -> None:
        check_fields(self)


# -- what a declared type accepts, in words -------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """A field's declaration taken apart."""

    base: Any  # the type without Annotated and None
    meta: Meta  # its constraints merged (an empty Meta when none)
    optional: bool


@functools.cache
def declared(tp: Any) -> Declared:
    optional = False
    metas: list[Meta] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            metas += [m for m in tp.__metadata__ if isinstance(m, Meta)]
            tp = tp.__origin__
        elif origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(tp))
            if len(args) != 1:
                break
            tp = args[0]
        else:
            break
    merged: dict[str, Any] = {}
    for m in metas:  # the outer layers last: a field's own Meta over its type's
        extra = {**merged.get("extra", {}), **(m.extra or {})}
        merged.update({k: getattr(m, k) for k in _META_KEYS if getattr(m, k) is not None}, extra=extra)
    return Declared(tp, Meta(**merged), optional)


_META_KEYS = ("gt", "ge", "lt", "le", "pattern", "min_length", "max_length", "description", "extra")


def _num(v: float) -> str:
    return f"{v:g}"


def _alternatives(values: tuple[Any, ...]) -> str:
    if all(isinstance(v, str) for v in values) and len(values) > 2:
        return "one of " + ", ".join(values)
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def requirement(tp: Any, name: str) -> str:
    """What a value of the declared type ``tp`` must be, completing "NAME must be ..."."""
    d = declared(tp)
    extra = d.meta.extra or {}
    if "must_be" in extra:
        return str(extra["must_be"])
    base = d.base
    if typing.get_origin(base) is Literal:
        return _alternatives(typing.get_args(base))
    if base in (int, float):
        return _number_words(base, d.meta, name)
    if typing.get_origin(base) in (tuple, list):
        return "a list"
    if typing.get_origin(base) is dict or base is dict:
        return "an object"
    return {bool: "true or false", str: "a string"}.get(base) or "a " + getattr(base, "__name__", str(base))


def _number_words(base: type, m: Meta, name: str) -> str:
    noun = "an integer" if base is int else (
        "a number of seconds" if name.endswith("_s") else "a level in dB" if name.endswith("_db") else "a number")
    lo = (m.ge, "[", ">=") if m.ge is not None and m.ge > -FLOAT_MAX else (m.gt, "(", ">") if m.gt is not None else None
    hi = (m.le, "]", "<=") if m.le is not None and m.le < FLOAT_MAX else (m.lt, ")", "<") if m.lt is not None else None
    if lo and hi:
        if base is int:
            return f"{noun} {_num(lo[0])}..{_num(hi[0])}"
        return f"{noun} in {lo[1]}{_num(lo[0])}, {_num(hi[0])}{hi[1]}"
    if hi and hi[2] == "<":
        return f"{noun} below {_num(hi[0])}"
    bound = lo or hi
    if bound is None:
        return noun
    # A bare comparison reads best for a number with no unit ("temperature must be > 0").
    return f"{bound[2]} {_num(bound[0])}" if noun == "a number" else f"{noun} {bound[2]} {_num(bound[0])}"


def is_optional(tp: Any) -> bool:
    return declared(tp).optional


def base_of(tp: Any) -> Any:
    """The Python type behind a declaration: ``str`` for ``Annotated[str, ...] | None``
    and for a ``Literal`` of strings."""
    base = declared(tp).base
    return type(typing.get_args(base)[0]) if typing.get_origin(base) is Literal else base


def leaves(cls: type[msgspec.Struct], prefix: str = "") -> dict[str, msgspec.structs.FieldInfo]:
    """Every leaf field under ``cls`` by its dotted key, nested records walked."""
    out: dict[str, msgspec.structs.FieldInfo] = {}
    for name, f in fields(cls).items():
        inner = struct_of(f.type)
        if inner is not None:
            out.update(leaves(inner, f"{prefix}{name}."))
        else:
            out[prefix + name] = f
    return out


def extra(tp: Any) -> dict[str, Any]:
    """The ``Meta(extra=...)`` of a declaration (merged over its layers)."""
    return dict(declared(tp).meta.extra or {})


def fits_kind(tp: Any, value: Any) -> bool:
    """Whether ``value`` is of the declared kind (a wrong value of the right kind is out of range)."""
    d = declared(tp)
    if value is None:
        return d.optional
    base = d.base
    if typing.get_origin(base) is Literal:
        kinds = {type(a) for a in typing.get_args(base)}
        return type(value) in kinds
    if base is bool:
        return isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if base is str:
        return isinstance(value, str)
    if typing.get_origin(base) in (tuple, list):
        return isinstance(value, (list, tuple))
    return True


@functools.cache
def fields(cls: type[msgspec.Struct]) -> dict[str, msgspec.structs.FieldInfo]:
    return {f.name: f for f in msgspec.structs.fields(cls)}


def struct_of(tp: Any) -> type[msgspec.Struct] | None:
    """The record type a field holds (``X`` or ``X | None``), or None for a leaf."""
    base = declared(tp).base
    return base if isinstance(base, type) and issubclass(base, msgspec.Struct) else None


def check_fields(record: msgspec.Struct) -> None:
    """Each field of ``record`` against its declaration; ValueError "NAME must be ..., not V"."""
    for name, f in fields(type(record)).items():
        value = getattr(record, name)
        # numpy's float64 is a float, as Python's own rules say; msgspec wants the exact type.
        probe = float(value) if isinstance(value, float) else value
        try:
            msgspec.convert(probe, f.type)
        except msgspec.ValidationError:
            raise ValueError(f"{name} must be {requirement(f.type, name)}, not {value!r}") from None


def to_plain(record: msgspec.Struct) -> dict[str, Any]:
    """Fields as plain data, nested records too; tuples become lists (for JSON)."""
    out: dict[str, Any] = {}
    for name in record.__struct_fields__:
        v = getattr(record, name)
        out[name] = to_plain(v) if isinstance(v, msgspec.Struct) else list(v) if isinstance(v, tuple) else v
    return out

