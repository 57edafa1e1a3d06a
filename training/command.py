"""What every training command's ``main()`` shares: logging to stderr, and bad input as one
line naming the command, exit status 2, no traceback (``--debug`` shows it)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from genred.dsp.errors import GenredError


def setup_logging(verbose: bool = False) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                            format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    # TensorFlow's C++ start-up chatter is not ours to show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run_command(prog: str, run: Callable[[], object], debug: bool = False,
                errors: tuple[type[BaseException], ...] = (GenredError,)) -> int:
    """``run()``; 0, or 2 after one line ``genred PROG: what went wrong`` on stderr."""
    try:
        run()
    except errors as exc:
        if debug:
            raise
        print(f"genred {prog}: {exc}", file=sys.stderr)
        return 2
    return 0
