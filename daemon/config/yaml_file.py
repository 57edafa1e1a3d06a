"""Reading a config file's YAML: strictly (a key given twice is refused), every failure
one `ConfigError` naming the file and the line, and never a password in a message."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from genred.dsp.errors import one_line

from .errors import ConfigError

# A `password:` key in a YAML line (block or flow style) and the first character of its value.
_SECRET_LINE = re.compile(r"(?:^|[\s{,])password\s*:\s*(\S?)")
_YAML_MEANING = {"*": "alias", "!": "tag", "&": "anchor"}


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


def read_yaml(path: Path) -> Any:
    """The document in ``path``; ConfigError, one line naming the file, otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config {path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"config {path}: is a directory, not a file") from None
    except OSError as exc:
        raise ConfigError(f"config {path}: cannot read it ({exc.strerror or one_line(exc)})") from None
    lines = data.decode("utf-8", errors="replace").splitlines()
    _refuse_bare_password(path, lines)
    try:
        return yaml.load(data, Loader=_StrictLoader)  # a SafeLoader subclass: safe
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        text = exc.problem or exc.context
        problem = " ".join(text.split()) if text else one_line(exc)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        if mark is not None and mark.line < len(lines) and _SECRET_LINE.search(lines[mark.line]):
            # The problem text may quote the value; the journal must not get the password.
            problem = "the mqtt.password value cannot be read as YAML; quote the password: password: \"...\""
        raise ConfigError(f"config {path}: not valid YAML ({where}{problem})") from None
    except yaml.YAMLError as exc:  # e.g. bytes that are not UTF-8
        raise ConfigError(f"config {path}: not valid YAML ({one_line(exc)})") from None
    except Exception as exc:
        # PyYAML's constructors raise bare exceptions, with no line, for some scalars:
        # ValueError for "2024-13-01" (month 13) or an integer of more than 4300
        # digits, IndexError for "!!int" with no value, AttributeError for
        # "!!timestamp x"; and RecursionError for collections nested thousands deep.
        raise ConfigError(f"config {path}: not valid YAML ({one_line(exc)})") from None


def _refuse_bare_password(path: Path, lines: list[str]) -> None:
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
