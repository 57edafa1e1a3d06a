"""What goes on the wire: compact JSON."""

from __future__ import annotations

import json
from typing import Any


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
