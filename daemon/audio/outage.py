"""What a supervised device source logs about an outage."""

from __future__ import annotations

import logging
import time

from genred.dsp.errors import AudioError

from ..backoff import Backoff

_LOG = logging.getLogger(__name__)

_NO_DEVICE_HINT = (
    "; `genred devices` lists the inputs (a microphone plugged in later is picked up);"
    " to classify a file instead: genred run --source file:PATH (make run FILE=PATH)"
)


class OutageLog:
    """One warning when an outage starts, debug lines while it lasts, one info line
    when the device is open again: a microphone missing all night is not a log flood."""

    def __init__(self, source: str, backoff: Backoff) -> None:
        self._source = source
        self._backoff = backoff
        self._since: float | None = None  # set while there is no working stream

    def open_failed(self, exc: BaseException, message: str) -> None:
        if self._since is not None:
            _LOG.debug("audio input %s: still failing: %s", self._source, message)
            return
        self._since = time.monotonic()
        # An AudioError already names the device; PortAudio's do not.
        named = message if isinstance(exc, AudioError) else f"audio input {self._source}: {message}"
        hint = _NO_DEVICE_HINT if isinstance(exc, AudioError) else ""
        _LOG.warning("%s; retrying every %g..%g s%s", named, self._backoff.min_s, self._backoff.max_s, hint)

    def lost(self, device: str, reason: str, at: float) -> None:
        self._since = at
        _LOG.warning("audio input %s lost (%s); reopening", device, reason)

    def opened(self, device: str, at: float) -> None:
        if self._since is not None:
            _LOG.info("audio input %s: open again after %.1f s", device, at - self._since)
            self._since = None
