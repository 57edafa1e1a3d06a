"""sd_notify without a dependency: READY, WATCHDOG, STOPPING and STATUS messages.

Outside systemd ($NOTIFY_SOCKET unset) every call is a cheap no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time

_LOG = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        addr = env.get("NOTIFY_SOCKET", "")
        # "@name" is an abstract socket: a leading NUL byte on Linux.
        self._addr = "\0" + addr[1:] if addr.startswith("@") else addr
        usec = env.get("WATCHDOG_USEC", "")
        # Feed at half the interval, as sd_watchdog_enabled(3) advises.
        self.watchdog_interval_s = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 else None
        self._sock: socket.socket | None = None
        self._warned = False
        self._last_watchdog: float | None = None

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def notify(self, message: str) -> bool:
        if not self._addr:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(message.encode(), self._addr)
            return True
        except OSError as exc:
            if not self._warned:  # once: the journal needs one line, not one per second
                _LOG.warning("cannot notify systemd at %s: %s", self._addr, exc)
                self._warned = True
            return False

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1" + (f"\nSTATUS={status}" if status else ""))

    def watchdog(self) -> bool:
        """Feed the watchdog; called for every audio block (and while a missing device is
        retried), sent at most once per ``watchdog_interval_s`` (1 s without one) so the
        journal's peer is not flooded."""
        now = time.monotonic()
        if self._last_watchdog is not None and now - self._last_watchdog < (self.watchdog_interval_s or 1.0):
            return False
        self._last_watchdog = now
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
