"""Channel down-mix and streaming sample-rate conversion for the device front end.

The streaming resampler reproduces ``scipy.signal.resample_poly`` exactly (same
filter, same phase, same output length), so that audio resampled chunk by chunk
on the device matches audio resampled in one go at training time.
"""

from __future__ import annotations

import logging
import math
from numbers import Integral

import numpy as np
from scipy.signal import firwin, upfirdn

_LOG = logging.getLogger(__name__)

MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192000

# resample_poly's default window; changing it would break parity with training.
_WINDOW = ("kaiser", 5.0)


def to_mono(block: np.ndarray) -> np.ndarray:
    """Down-mix a block of audio to one channel.

    Args:
        block: samples, shape ``(n,)`` (already mono) or ``(n, channels)``, in
            whatever amplitude units the caller uses (no scaling is applied, so
            integer PCM stays in integer units).

    Returns:
        float32 array of shape ``(n,)``: the mean over channels.

    Raises:
        ValueError: if ``block`` is not 1-D or 2-D, or has zero channels.
    """
    block = np.asarray(block)
    if block.ndim == 1:
        return block.astype(np.float32, copy=True)
    if block.ndim == 2:
        if block.shape[1] == 0:
            raise ValueError(f"to_mono: block of shape {block.shape} has no channels")
        # Average in float64 so that int32 PCM or many channels do not lose
        # precision before the final float32 rounding.
        return block.mean(axis=1, dtype=np.float64).astype(np.float32)
    raise ValueError(
        f"to_mono: expected shape (n,) or (n, channels), got shape {block.shape}"
    )


def _check_rate(name: str, rate_hz: object) -> int:
    # bool is an Integral, but True Hz is certainly a bug upstream.
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, Integral):
        raise ValueError(f"{name} must be an integer in Hz, got {rate_hz!r}")
    rate = int(rate_hz)
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise ValueError(
            f"{name} must be in {MIN_RATE_HZ}..{MAX_RATE_HZ} Hz, got {rate} Hz"
        )
    return rate


class StreamingResampler:
    """Chunk-by-chunk rational resampler equal to ``scipy.signal.resample_poly``.

    For any split of a signal ``x`` into chunks, the concatenation of
    ``process(chunk)`` outputs followed by ``flush()`` equals
    ``resample_poly(x, up, down)`` (default Kaiser window, zero padding) up to
    float32 rounding, and has exactly ``ceil(len(x) * up / down)`` samples.

    Each ``process`` call emits only the output samples whose whole filter
    support has been received, so the latency is about half the filter length:
    ``10 * max(up, down) / up`` input samples.  Work per call is proportional
    to the chunk length plus the filter length.

    Rates are in Hz; samples are mono float32 in any amplitude unit.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int) -> None:
        self._in_rate_hz = _check_rate("in_rate_hz", in_rate_hz)
        self._out_rate_hz = _check_rate("out_rate_hz", out_rate_hz)
        g = math.gcd(self._in_rate_hz, self._out_rate_hz)
        self._up = self._out_rate_hz // g
        self._down = self._in_rate_hz // g
        self._passthrough = self._up == self._down

        if not self._passthrough:
            # Same design as resample_poly so that the outputs are identical.
            max_rate = max(self._up, self._down)
            half_len = 10 * max_rate
            h = firwin(2 * half_len + 1, 1.0 / max_rate, window=_WINDOW) * self._up
            n_pre_pad = self._down - half_len % self._down
            self._h = np.concatenate([np.zeros(n_pre_pad), h])
            # Outputs of upfirdn before this index belong to the filter's
            # leading transient and are dropped by resample_poly too.
            self._n_pre_remove = (half_len + n_pre_pad) // self._down
        self.reset()

    @property
    def in_rate_hz(self) -> int:
        """Input sample rate in Hz."""
        return self._in_rate_hz

    @property
    def out_rate_hz(self) -> int:
        """Output sample rate in Hz."""
        return self._out_rate_hz

    @property
    def up(self) -> int:
        """Upsampling factor, ``out_rate_hz / gcd``."""
        return self._up

    @property
    def down(self) -> int:
        """Downsampling factor, ``in_rate_hz / gcd``."""
        return self._down

    def reset(self) -> None:
        """Forget all input; the next ``process`` call starts a new stream."""
        # Input history; its absolute start index is kept a multiple of `down`
        # so that upfirdn run on the buffer keeps the stream's polyphase phase.
        self._buf = np.zeros(0, dtype=np.float64)
        self._buf_start = 0  # absolute input index of self._buf[0]
        self._n_in = 0  # input samples received since reset
        self._n_emitted = 0  # output samples returned since reset

    def process(self, chunk: np.ndarray) -> np.ndarray:
        """Feed input samples and return the output samples now fully determined.

        Args:
            chunk: 1-D array of input samples at ``in_rate_hz``; any length,
                including 0.

        Returns:
            float32 1-D array of output samples at ``out_rate_hz`` (possibly
            empty), continuing where the previous call left off.
        """
        chunk = np.asarray(chunk)
        if chunk.ndim != 1:
            raise ValueError(
                f"StreamingResampler.process expects a 1-D chunk, got shape {chunk.shape}"
            )
        if self._passthrough:
            # Copy: callers such as audio callbacks reuse their buffers.
            return chunk.astype(np.float32, copy=True)
        if chunk.size == 0:
            return np.zeros(0, dtype=np.float32)

        self._buf = np.concatenate([self._buf, chunk.astype(np.float64, copy=False)])
        self._n_in += chunk.size
        # Stream output i is upfirdn output k = n_pre_remove + i, which reads
        # input up to index floor(k * down / up); it is complete once that
        # index < n_in, i.e. k <= (n_in * up - 1) // down.
        n_ready = (self._n_in * self._up - 1) // self._down + 1 - self._n_pre_remove
        return self._emit(n_ready)

    def flush(self) -> np.ndarray:
        """Return the remaining output as if the input ended here, then reset.

        The input is treated as zero after its end, as ``resample_poly`` does,
        so the stream's total output is ``ceil(n_in * up / down)`` samples.

        Returns:
            float32 1-D array of the remaining output samples at
            ``out_rate_hz`` (empty for a pass-through resampler).
        """
        if self._passthrough:
            return np.zeros(0, dtype=np.float32)
        n_total = -(-self._n_in * self._up // self._down)
        out = np.zeros(0, dtype=np.float32)
        if n_total > self._n_emitted:
            # Append the zeros the last outputs read past the end of the input,
            # so that upfirdn's output reaches far enough.
            k_last = self._n_pre_remove + n_total - 1
            j_last = (k_last * self._down) // self._up
            n_zeros = max(0, j_last + 1 - (self._buf_start + self._buf.size))
            self._buf = np.concatenate([self._buf, np.zeros(n_zeros)])
            out = self._emit(n_total)
        self.reset()
        return out

    def _emit(self, n_ready: int) -> np.ndarray:
        """Compute stream outputs ``[n_emitted, n_ready)`` and trim the history."""
        if n_ready <= self._n_emitted:
            return np.zeros(0, dtype=np.float32)
        # buf_start is a multiple of down, so this offset is an integer.
        k_offset = self._buf_start * self._up // self._down
        k0 = self._n_pre_remove + self._n_emitted - k_offset
        k1 = self._n_pre_remove + n_ready - k_offset
        y = upfirdn(self._h, self._buf, self._up, self._down)
        out = y[k0:k1].astype(np.float32)
        if out.size != k1 - k0:  # would mean the bookkeeping above is wrong
            raise RuntimeError(
                f"StreamingResampler: expected {k1 - k0} outputs, got {out.size}"
            )
        self._n_emitted = n_ready

        # Earliest input the next output reads: k * down - j * up < len(h).
        k_next = self._n_pre_remove + self._n_emitted
        j_min = -(-(k_next * self._down - self._h.size + 1) // self._up)
        keep_from = max(0, min(j_min, self._n_in))
        keep_from -= keep_from % self._down
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
        return out
