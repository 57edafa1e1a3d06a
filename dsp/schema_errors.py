"""Reading a document against a declared schema (`genred.dsp.schema`): the one reader
of msgspec's errors, and model.json's words for them.

`locate` turns a `msgspec.ValidationError` into a `Problem` (the dotted key, what kind
of problem, the value) from which the daemon's config and the model bundle (`decode`,
`plain_message`) write their own one-line messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from .schema import Params, fields, fits_kind, requirement, struct_of

# Where a problem lies, as a user would write it: the dotted key of a field.
KeyPath = tuple[str, ...]
_NOT_GIVEN = object()


@dataclass(frozen=True)
class Problem:
    """One problem of a document, where a user would look for it.

    ``kind``: "type" (not of the field's kind), "range" (the right kind, a wrong value),
    "mapping" (a record given something other than a mapping), "unknown" / "missing"
    (``keys``, in the document's order), or "check" (a record's own rule, ``detail``).
    ``path`` is the record's dotted key, ``name`` the field's (for type and range).
    """

    kind: str
    path: KeyPath
    record: type[msgspec.Struct]
    name: str = ""
    declared: Any = None
    value: Any = None
    keys: tuple[Any, ...] = ()
    detail: str = ""

    @property
    def key(self) -> str:
        return ".".join(self.path + ((self.name,) if self.name else ()))

    @property
    def requirement(self) -> str:
        return requirement(self.declared, self.name)


def _split(message: str) -> tuple[str, list[str]]:
    """msgspec's "TEXT - at `$.a.b[0]`" -> ("TEXT", ["a", "b", "[0]"])."""
    head, sep, tail = message.rpartition(" - at `")
    if not sep:
        return message, []
    where = tail.rstrip("`")
    if where.startswith("key` in `"):  # a key that is not a string: the mapping holding it
        where = where[len("key` in `"):]
    if not where.startswith("$"):
        return message, []
    parts: list[str] = []
    for piece in where[1:].replace("[", ".[").split("."):
        if piece:
            parts.append(piece)
    return head, parts


def locate(exc: msgspec.ValidationError, raw: Any, cls: type[msgspec.Struct]) -> Problem:
    """Where in ``raw`` (the document decoded as ``cls``) ``exc`` lies, and what it is."""
    detail, parts = _split(str(exc))
    path: KeyPath = ()
    record, value = cls, raw
    leaf: msgspec.structs.FieldInfo | None = None  # the field reached, not yet entered
    for part in parts:
        if leaf is not None:
            inner = struct_of(leaf.type)
            if inner is None or part.startswith("["):
                break  # inside a leaf (a list's item): the problem is the leaf's
            record, path, leaf = inner, path + (leaf.name,), None
        f = fields(record).get(part)
        if f is None or not isinstance(value, dict):
            break
        leaf, value = f, value.get(part, _NOT_GIVEN)
    if leaf is not None:
        inner = struct_of(leaf.type)
        if inner is None:
            kind = "type" if not fits_kind(leaf.type, value) else "range"
            return Problem(kind, path, record, leaf.name, leaf.type, value)
        record, path = inner, path + (leaf.name,)  # the problem is the nested record's own
    if not isinstance(value, dict):
        return Problem("mapping", path, record, value=value)
    known = fields(record)
    unknown = tuple(k for k in value if not isinstance(k, str) or k not in known)
    if unknown:
        return Problem("unknown", path, record, value=value, keys=unknown)
    missing = tuple(n for n, f in known.items() if n not in value and f.required)
    if missing:
        return Problem("missing", path, record, value=value, keys=missing)
    return Problem("check", path, record, value=value, detail=detail)


def plain_message(p: Problem, where: str) -> str:
    """A problem in model.json's words; ``where`` names the document's top ("metadata")."""
    at = ".".join(p.path) or where
    if p.kind in ("type", "range"):
        head = f"{at}: " if issubclass(p.record, Params) else f"{'.'.join(p.path)}." if p.path else ""
        return f"{head}{p.name} must be {p.requirement}, not {p.value!r}"
    if p.kind == "mapping":
        return f"{at}: expected an object, got {type(p.value).__name__}"
    if p.kind in ("unknown", "missing"):
        return f"{at}: {p.kind} key(s) {', '.join(sorted(str(k) for k in p.keys))}"
    if issubclass(p.record, Params):
        return f"{at}: {p.detail}"
    return f"{'.'.join(p.path)}.{p.detail}" if p.path else p.detail


def decode(data: Any, cls: type[msgspec.Struct], where: str) -> Any:
    """``data`` (from JSON) as ``cls``; ValueError, one line naming the key, otherwise."""
    try:
        return msgspec.convert(data, cls)
    except msgspec.ValidationError as exc:
        raise ValueError(plain_message(locate(exc, data, cls), where)) from None


def require_every_key(data: Any, cls: type[msgspec.Struct], where: str) -> None:
    """Refuse a mapping that leaves out a field, defaults or not: what decides what a model
    sees must be written in its bundle, never taken from this version's defaults."""
    if isinstance(data, dict):
        missing = sorted(set(fields(cls)) - set(data))
        if missing:
            raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
