"""The ring buffer between an audio producer (PortAudio's callback, a file reader)
and the daemon's worker."""

from __future__ import annotations

import threading
import time

import numpy as np

class RingBuffer:
    """A fixed float32 (frames, channels) FIFO for one producer and one consumer.

    `write` never blocks and never overwrites unread audio: what does not fit is
    dropped and counted (an overrun), because the audio callback must return at once
    and the newest audio is the cheapest to lose (the old one is already queued).
    `write_wait` is the blocking variant for producers that may wait (a file read as
    fast as it is consumed). `finish` marks the end of the stream: readers stop
    waiting for audio that will never come.
    """

    def __init__(self, capacity_frames: int, channels: int) -> None:
        if capacity_frames < 1 or channels < 1:
            raise ValueError(f"ring buffer needs capacity >= 1 and channels >= 1, got {capacity_frames}, {channels}")
        self._buf = np.zeros((int(capacity_frames), int(channels)), dtype=np.float32)
        self._cond = threading.Condition(threading.Lock())
        # Running totals rather than wrapped indices: their difference is the fill
        # level, with no full/empty ambiguity. Python ints do not overflow.
        self._w = 0
        self._r = 0
        self._dropped = 0
        self._overruns = 0
        self._finished = False

    @property
    def capacity_frames(self) -> int:
        return self._buf.shape[0]

    @property
    def channels(self) -> int:
        return self._buf.shape[1]

    @property
    def available(self) -> int:
        with self._cond:
            return self._w - self._r

    @property
    def written_frames(self) -> int:
        return self._w

    @property
    def read_frames(self) -> int:
        return self._r

    @property
    def dropped_frames(self) -> int:
        return self._dropped

    @property
    def overruns(self) -> int:
        """Writes that did not fit whole (each dropped at least one frame)."""
        return self._overruns

    @property
    def finished(self) -> bool:
        return self._finished

    def _as_frames(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block)
        if block.ndim == 1 and self.channels == 1:
            block = block.reshape(-1, 1)  # a view, not a copy
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"ring buffer holds (frames, {self.channels}) blocks, got shape {block.shape}")
        return block

    def _put(self, block: np.ndarray, n: int) -> None:
        # Caller holds the lock and has checked that n frames fit.
        cap = self._buf.shape[0]
        start = self._w % cap
        first = min(n, cap - start)
        self._buf[start:start + first] = block[:first]
        if n > first:
            self._buf[:n - first] = block[first:n]
        self._w += n

    def write(self, block: np.ndarray) -> int:
        """Append what fits of ``block``; returns the frames written, the rest is dropped."""
        block = self._as_frames(block)
        n = int(block.shape[0])
        with self._cond:
            free = self._buf.shape[0] - (self._w - self._r)
            taken = min(n, free)
            if taken:
                self._put(block, taken)
                self._cond.notify_all()
            if taken < n:
                self._dropped += n - taken
                self._overruns += 1
        return taken

    def write_wait(self, block: np.ndarray, stop: threading.Event | None = None, timeout_s: float | None = None) -> int:
        """Append all of ``block``, waiting for space as needed; returns the frames written.

        Returns early (fewer frames) when ``stop`` is set, the buffer is finished, or
        ``timeout_s`` passes; nothing is dropped or counted as an overrun.
        """
        block = self._as_frames(block)
        n = int(block.shape[0])
        done = 0
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while done < n:
                if self._finished or (stop is not None and stop.is_set()):
                    break
                free = self._buf.shape[0] - (self._w - self._r)
                if free > 0:
                    taken = min(n - done, free)
                    self._put(block[done:], taken)
                    done += taken
                    self._cond.notify_all()
                    continue
                # A stop event cannot notify our condition: look up now and then.
                wait = 0.05 if stop is not None else None
                if deadline is not None:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)
        return done

    def _take(self, n: int) -> np.ndarray:
        cap = self._buf.shape[0]
        start = self._r % cap
        first = min(n, cap - start)
        out = np.empty((n, self._buf.shape[1]), dtype=np.float32)
        out[:first] = self._buf[start:start + first]
        if n > first:
            out[first:] = self._buf[:n - first]
        self._r += n
        self._cond.notify_all()  # a waiting writer has space now
        return out

    def read(self, n: int, timeout_s: float | None = None) -> np.ndarray | None:
        """Exactly ``n`` frames (a copy), or None if they are not there within ``timeout_s``.

        Also None at once when the buffer is finished with fewer than ``n`` frames
        left; `read_available` takes that tail.
        """
        if not 1 <= n <= self._buf.shape[0]:
            raise ValueError(f"read size must be in 1..{self._buf.shape[0]} frames, got {n}")
        with self._cond:
            ok = self._cond.wait_for(lambda: self._w - self._r >= n or self._finished, timeout_s)
            if not ok or self._w - self._r < n:
                return None
            return self._take(n)

    def read_available(self, max_n: int | None = None) -> np.ndarray:
        """Up to ``max_n`` frames that are there now, without waiting (possibly none)."""
        with self._cond:
            n = self._w - self._r
            if max_n is not None:
                n = min(n, max(0, max_n))
            return self._take(n)

    def clear(self) -> None:
        """Discard unread audio (after a device reopen it no longer joins on)."""
        with self._cond:
            self._r = self._w
            self._cond.notify_all()

    def finish(self) -> None:
        """No more audio will come: wake readers (and waiting writers) now."""
        with self._cond:
            self._finished = True
            self._cond.notify_all()
