"""What C libraries print to stderr themselves, sent to the debug log instead.

ALSA, JACK and PortAudio write straight to file descriptor 2 ("ALSA lib pcm.c:...",
"Expression 'ret' failed in ..."): three or four lines on every failed attempt to open a
device, which fill the journal while a microphone is missing and say nothing our own
one-line warning does not. While a device is opened or closed, fd 2 points at an
in-memory file; afterwards its lines are logged at debug level (``genred run -v`` shows
them).

Our own log lines from other threads land there too meanwhile; they are recognised by
the format `genred.daemon.cli` gives them and written back to stderr as they were. Only
another capture waits for one in progress; logging never does, so a PortAudio call that
hangs cannot block it (nor SIGTERM's handler, which logs).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

# The two formats of genred.daemon.cli's logging.basicConfig: "genred: ..." and "LEVEL genred...: ...".
_OUR_LINE = re.compile(r"^(genred: |(DEBUG|INFO|WARNING|ERROR|CRITICAL) genred[.\w]*: )")
# fd 2 is one per process: two captures at once would restore each other's scratch file.
_FD2 = threading.Lock()


def _scratch() -> IO[bytes]:
    if hasattr(os, "memfd_create"):  # Linux: no file system needed (the unit's is read-only)
        return open(os.memfd_create("genred-stderr"), "w+b")
    return tempfile.TemporaryFile()


@contextmanager
def c_library_stderr_to_debug(what: str, log: logging.Logger) -> Iterator[None]:
    """Run the body with fd 2 captured; log the C libraries' lines on ``log`` at debug,
    as ``what: line``; give our own lines back to stderr."""
    scratch = _scratch()
    try:
        with _FD2:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(scratch.fileno(), 2)
            try:
                yield
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
    finally:  # the body's exception (a failed open) still goes on, after this
        with scratch:
            scratch.seek(0)
            text = scratch.read().decode("utf-8", errors="replace")
        for line in text.splitlines():
            if _OUR_LINE.match(line):
                os.write(2, (line + "\n").encode("utf-8", errors="replace"))
            elif line.strip():
                log.debug("%s: %s", what, line.rstrip())
