"""genred.dsp.schema: the words derived from a declaration, and the reading of msgspec's errors."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pytest
from msgspec import Meta

from genred.dsp import schema, schema_errors


@pytest.mark.parametrize(
    ("tp", "name", "words"),
    [
        (Annotated[int, Meta(ge=1, le=65535)], "port", "an integer 1..65535"),
        (Annotated[int, Meta(ge=1)], "size", "an integer >= 1"),
        (Annotated[float, Meta(gt=0, le=60)], "hop_s", "a number of seconds in (0, 60]"),
        (Annotated[float, Meta(ge=0, lt=1)], "margin", "a number in [0, 1)"),
        (Annotated[float, Meta(gt=0, le=schema.FLOAT_MAX)], "tau_s", "a number of seconds > 0"),
        (Annotated[float, Meta(gt=0)], "temperature", "> 0"),
        (Annotated[float, Meta(ge=-schema.FLOAT_MAX, lt=0)], "silence_db", "a level in dB below 0"),
        (Literal[0, 1, 2], "qos", "0, 1 or 2"),
        (Literal["softmax", "logits"], "activation", "'softmax' or 'logits'"),
        (Literal["debug", "info", "warning"], "level", "one of debug, info, warning"),
        (Annotated[str, Meta(pattern=r"\S", extra={"must_be": "a non-empty path"})] | None, "model", "a non-empty path"),
        (bool | None, "loop", "true or false"),
        (str, "name", "a string"),
    ],
)
def test_requirement_words(tp, name, words):
    assert schema.requirement(tp, name) == words


def test_declarations_merge_over_layers():
    inner = Annotated[str, Meta(pattern=r"\S", extra={"must_be": "a name"})]
    outer = Annotated[inner, Meta(description="d", extra={"secret": True})] | None
    d = schema.declared(outer)
    assert d.base is str and d.optional and d.meta.pattern == r"\S" and d.meta.description == "d"
    assert schema.extra(outer) == {"must_be": "a name", "secret": True}
    assert schema.requirement(outer, "x") == "a name"


class _Inner(schema.Schema, frozen=True, forbid_unknown_fields=True):
    port: Annotated[int, Meta(ge=1, le=9)] = 1
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if "bad" in self.names:
            raise ValueError("names must not say bad")


class _Outer(schema.Schema, frozen=True, forbid_unknown_fields=True):
    inner: _Inner = _Inner()
    hop_s: Annotated[float, Meta(gt=0, le=schema.FLOAT_MAX)] | None = None


@pytest.mark.parametrize(
    ("doc", "kind", "key", "value"),
    [
        ({"inner": {"port": 10}}, "range", "inner.port", 10),
        ({"inner": {"port": "1"}}, "type", "inner.port", "1"),
        ({"inner": {"names": "a"}}, "type", "inner.names", "a"),
        ({"inner": {"names": ["a", 3]}}, "range", "inner.names", ["a", 3]),  # a list: its items are wrong
        ({"hop_s": float("inf")}, "type", "hop_s", float("inf")),  # not finite: a wrong kind of number
        ({"hop_s": -1}, "range", "hop_s", -1),
        ({"inner": {"prot": 1, "zz": 2}}, "unknown", "inner", None),
        ({"inner": {3: 1}}, "unknown", "inner", None),
        ({"inner": "x"}, "mapping", "inner", "x"),
        ({"inner": {"names": ["bad"]}}, "check", "inner", None),
    ],
)
def test_locate_names_the_key_and_the_kind(doc: dict[str, Any], kind, key, value):
    with pytest.raises(msgspec.ValidationError) as info:
        msgspec.convert(doc, _Outer)
    p = schema_errors.locate(info.value, doc, _Outer)
    assert (p.kind, p.key) == (kind, key)
    if value is not None:
        assert p.value == value
    if kind == "unknown":
        assert p.keys == tuple(k for k in doc["inner"])
    if kind == "check":
        assert p.detail == "names must not say bad"


def test_params_check_their_fields_when_built_in_code():
    class P(schema.Params, frozen=True, forbid_unknown_fields=True):
        tau_s: Annotated[float, Meta(gt=0)] = 1.0

    assert P(tau_s=2).tau_s == 2
    with pytest.raises(ValueError, match=r"^tau_s must be a number of seconds > 0, not 0$"):
        P(tau_s=0)
    with pytest.raises(ValueError, match="tau_s must be"):
        P(tau_s=True)
    with pytest.raises(ValueError, match=r"^smoothing: tau_s must be a number of seconds > 0, not -1$"):
        schema_errors.decode({"tau_s": -1}, P, "smoothing")
    with pytest.raises(ValueError, match=r"^smoothing: unknown key\(s\) a, b$"):
        schema_errors.decode({"b": 1, "a": 2}, P, "smoothing")
