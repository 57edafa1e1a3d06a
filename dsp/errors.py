"""Errors that reach a user as one line naming the thing and what to do."""

from __future__ import annotations


class GenredError(ValueError):
    """A problem with the user's input; ``str(exc)`` is the whole message, one line."""


class AudioError(GenredError):
    """An audio file or stream that cannot be used."""


class ModelError(GenredError):
    """A model bundle that cannot be used."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (libraries like multi-line messages)."""
    return " ".join(str(exc).split()) or type(exc).__name__
