"""What C libraries print to stderr themselves, sent to the debug log instead.

ALSA, JACK and PortAudio write straight to file descriptor 2 (\"ALSA lib pcm.c:...\",
\"Expression 'ret' failed in ...\"): three or four lines on every failed attempt to open a
device, which fill the journal while a microphone is missing and say nothing our own
one-line warning does not. While a device is opened or closed, fd 2 points at an
in-memory file; afterwards its lines are logged at debug level (``genred run -v`` shows
them).

Python's own logging goes to fd 2 as well: the handlers' locks are held meanwhile, so a
log line from another thread waits the few milliseconds instead of being swallowed.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


def _scratch() -> IO[bytes]:
    if hasattr(os, "memfd_create"):  # Linux: no file system needed (the unit's is read-only)
        return open(os.memfd_create("genred-stderr"), "w+b")
    return tempfile.TemporaryFile()


@contextmanager
def c_library_stderr_to_debug(what: str, log: logging.Logger) -> Iterator[None]:
    """Run the body with fd 2 captured; log what was written there on ``log`` at debug,
    as ``what: line``."""
    handlers = list(logging.getLogger().handlers) or [logging.lastResort]
    handlers = [h for h in handlers if h is not None]
    scratch = _scratch()
    for h in handlers:
        h.acquire()
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(scratch.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    finally:
        for h in reversed(handlers):
            h.release()
        scratch.seek(0)
        text = scratch.read().decode("utf-8", errors="replace")
        scratch.close()
        for line in text.splitlines():
            if line.strip():
                log.debug("%s: %s", what, line.rstrip())
