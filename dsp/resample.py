"""Channel down-mix and streaming sample-rate conversion for the device front end.

The streaming resampler reproduces ``scipy.signal.resample_poly`` exactly (same
filter, same phase, same output length), so that audio resampled chunk by chunk
on the device matches audio resampled in one go at training time.

It is numpy only: importing ``scipy.signal`` costs ~77 MB of resident memory and
~0.5 s of start-up on the device, so the filter design (``firwin`` with a Kaiser
window) and the polyphase filtering (``upfirdn``) are redone here with numpy.
``tests/test_resample.py`` checks both against scipy.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from numpy.lib.stride_tricks import as_strided, sliding_window_view

MIN_RATE_HZ = 8000
MAX_RATE_HZ = 192000

# resample_poly's default window, ("kaiser", 5.0); changing it would break parity
# with training.
_KAISER_BETA = 5.0

# Outputs computed per vectorised block: bounds the gathered input windows (and
# the tiled filter) to about this many float64 elements.
_BLOCK_ELEMENTS = 1 << 17


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
        n_channels = block.shape[1]
        if n_channels == 0:
            raise ValueError(f"to_mono: block of shape {block.shape} has no channels")
        # Average in float64 so that int32 PCM or many channels do not lose
        # precision before the final float32 rounding.  Channels are summed one
        # column at a time, in order, and divided by their count: the same
        # arithmetic as block.mean(axis=1, dtype=np.float64), which is ~8x slower
        # on a (4410, 2) float32 block (a buffered cast on a 2-long axis).
        acc = block[:, 0].astype(np.float64)
        for ch in range(1, n_channels):
            acc += block[:, ch]
        if n_channels > 1:
            acc /= n_channels
        return acc.astype(np.float32)
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


def kaiser_lowpass(numtaps: int, cutoff: float, beta: float = _KAISER_BETA) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))`` in numpy.

    The window method: an ideal low-pass (a sinc) centred on the middle tap,
    times a symmetric Kaiser window, scaled so that the gain at 0 Hz is exactly 1
    (firwin's ``scale=True`` for a pass band starting at 0).

    Args:
        numtaps: filter length (odd for resample_poly's filters).
        cutoff: cutoff relative to the Nyquist frequency, in (0, 1).
        beta: Kaiser window shape parameter.

    Returns:
        float64 array of ``numtaps`` coefficients.
    """
    m = np.arange(numtaps, dtype=np.float64) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m)
    h *= np.kaiser(numtaps, beta)
    h /= np.sum(h)
    return h


def resample_poly_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """The filter ``resample_poly(x, up, down)`` designs, and its half length.

    Args:
        up, down: the resampling factors, already divided by their gcd.

    Returns:
        ``(h, half_len)``: ``h`` has ``2 * half_len + 1`` taps, already
        multiplied by ``up`` as resample_poly does.
    """
    max_rate = max(up, down)
    half_len = 10 * max_rate
    return kaiser_lowpass(2 * half_len + 1, 1.0 / max_rate) * up, half_len


class StreamingResampler:
    """Chunk-by-chunk rational resampler equal to ``scipy.signal.resample_poly``.

    For any split of a signal ``x`` into chunks, the concatenation of
    ``process(chunk)`` outputs followed by ``flush()`` equals
    ``resample_poly(x, up, down)`` (default Kaiser window, zero padding) up to
    float32 rounding, and has exactly ``ceil(len(x) * up / down)`` samples.

    Each ``process`` call emits only the output samples whose whole filter
    support has been received, so the latency is about half the filter length:
    ``10 * max(up, down) / up`` input samples.  Work per call is proportional
    to the chunk length times the taps per phase (``~20 * max(up, down) / up``),
    with a history of about that many input samples kept between calls.

    Rates are in Hz; samples are mono float32 in any amplitude unit.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int, block_elements: int = _BLOCK_ELEMENTS) -> None:
        self._in_rate_hz = _check_rate("in_rate_hz", in_rate_hz)
        self._out_rate_hz = _check_rate("out_rate_hz", out_rate_hz)
        g = math.gcd(self._in_rate_hz, self._out_rate_hz)
        self._up = self._out_rate_hz // g
        self._down = self._in_rate_hz // g
        self._passthrough = self._up == self._down

        if not self._passthrough:
            up, down = self._up, self._down
            # Same design and padding as resample_poly, so the outputs are identical.
            h, half_len = resample_poly_filter(up, down)
            n_pre_pad = down - half_len % down
            h = np.concatenate([np.zeros(n_pre_pad), h])
            # upfirdn output k is sum_j h[k * down - j * up] * x[j]; resample_poly
            # drops the first n_pre_remove of them (the filter's leading transient).
            self._n_pre_remove = (half_len + n_pre_pad) // down
            # Polyphase form: with j_hi = k * down // up and phase
            # p = k * down % up, output k = sum_m h[p + m * up] * x[j_hi - m],
            # m = 0..taps-1, i.e. the dot product of the input window
            # x[j_hi - taps + 1 .. j_hi] with phase p's taps reversed.
            taps = -(-h.size // up)
            self._taps = taps
            phases = np.zeros(taps * up)
            phases[: h.size] = h
            phases = phases.reshape(taps, up).T[:, ::-1]  # [p, t] = h[p + (taps-1-t) * up]
            self._block = max(1, block_elements // taps)  # outputs per step
            if up == 1:
                # Integer decimation: one phase, every down-th window.
                self._mode = "decimate"
                self._filters = np.ascontiguousarray(phases[0])
            elif down == 1:
                # Integer interpolation: window j gives outputs j * up + p, one
                # per phase p, so a block is one (windows, taps) @ (taps, up) product.
                self._mode = "interpolate"
                self._filters = np.ascontiguousarray(phases.T)
            else:
                # General: output k = P * up + i reads the taps inputs from
                # P * down + offsets[i] - taps + 1, so a period of `up` outputs is one
                # banded (span x up) matrix applied to one stretch of input. The band
                # is cut into groups of g outputs, group j reading `span` samples from
                # j * step after the period's start: a call is then one batched matmul
                # over strided views of the history (BLAS, no gathered copies), each
                # group's matrix about half non-zero: at 44.1 kHz in 0.1 s blocks, ~4x
                # faster than gathering each output's window and filter.
                self._mode = "general"
                by_k = phases[(np.arange(up) * down) % up]  # [i]: filter of outputs k % up == i
                offsets = (np.arange(up) * down) // up
                g = min(up, max(1, taps * up // down))
                self._step = g * down // up
                self._groups = -(-up // g)
                starts = offsets - (np.arange(up) // g) * self._step  # >= 0: floor(a) + floor(b) <= floor(a + b)
                self._span = int(starts.max()) + taps
                self._filters = np.zeros((self._groups, self._span, g))
                for i in range(up):
                    self._filters[i // g, starts[i] : starts[i] + taps, i % g] = by_k[i]
                self._block = max(1, block_elements // (self._groups * self._span))  # periods per step
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
        self._n_in = 0  # input samples received since reset
        self._n_emitted = 0  # output samples returned since reset
        if self._passthrough:
            return
        # Input history, starting with the zeros before the stream (the first
        # outputs' windows reach back taps - 1 samples before input 0).
        self._buf = np.zeros(self._taps - 1, dtype=np.float64)
        self._buf_start = -(self._taps - 1)  # absolute input index of self._buf[0]

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
            # Append the zeros the last outputs read past the end of the input.
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
        k = self._n_pre_remove + self._n_emitted
        k_end = self._n_pre_remove + n_ready
        if self._mode == "general":
            y = self._emit_periods(k, k_end)
            # The next output's period starts reading at (k_end // up) * down - taps + 1.
            keep_from = (k_end // self._up) * self._down - self._taps + 1
        else:
            y = self._emit_windows(k, k_end)
            # The next output's window starts at k_end * down // up - taps + 1.
            keep_from = (k_end * self._down) // self._up - self._taps + 1
        self._n_emitted = n_ready
        keep_from = min(keep_from, self._buf_start + self._buf.size)
        if keep_from > self._buf_start:
            self._buf = self._buf[keep_from - self._buf_start :]
            self._buf_start = keep_from
        return y

    def _emit_windows(self, k: int, k_end: int) -> np.ndarray:
        """Outputs ``[k, k_end)`` of an integer decimation or interpolation."""
        up, down, taps = self._up, self._down, self._taps
        windows = sliding_window_view(self._buf, taps)
        outs = []
        while k < k_end:
            n = min(self._block, k_end - k)
            # Output k + i reads the window starting at absolute input index
            # (k + i) * down // up - taps + 1 = q + (p0 + i * down) // up - taps + 1,
            # with k * down = q * up + p0 (exact Python ints, no overflow).
            q, p0 = divmod(k * down, up)
            first = q - taps + 1 - self._buf_start
            last = first + ((n - 1) * down + p0) // up
            self._check_reads(k, n, first, last + taps)
            if self._mode == "decimate":
                y = np.vecdot(windows[first : last + 1 : down], self._filters)
            else:
                y = (windows[first : last + 1] @ self._filters).ravel()[p0 : p0 + n]
            outs.append(y.astype(np.float32))
            k += n
        return outs[0] if len(outs) == 1 else np.concatenate(outs)

    def _emit_periods(self, k: int, k_end: int) -> np.ndarray:
        """Outputs ``[k, k_end)`` of a general ratio, whole periods at a time."""
        up, down = self._up, self._down
        p_first, p_end = k // up, -(-k_end // up)
        first = p_first * down - self._taps + 1 - self._buf_start
        # The last period may run past the input received: its outputs from k_end on
        # read zeros here and are dropped (they are computed again once complete).
        n_read = (p_end - p_first - 1) * down + (self._groups - 1) * self._step + self._span
        self._check_reads(k, k_end - k, first, first)  # zeros pad the end, not the start
        buf = self._buf[first:]
        if buf.size < n_read:
            buf = np.concatenate([buf, np.zeros(n_read - buf.size)])
        outs = []
        for p in range(0, p_end - p_first, self._block):
            n = min(self._block, p_end - p_first - p)
            views = as_strided(buf[p * down :], shape=(self._groups, n, self._span),
                               strides=(self._step * buf.itemsize, down * buf.itemsize, buf.itemsize), writeable=False)
            y = np.matmul(views, self._filters)  # (groups, n, g): group j holds outputs j * g ..
            outs.append(y.transpose(1, 0, 2).reshape(n, -1)[:, :up].ravel())
        y = outs[0] if len(outs) == 1 else np.concatenate(outs)
        skip = k - p_first * up
        return y[skip : skip + k_end - k].astype(np.float32)

    def _check_reads(self, k: int, n: int, first: int, end: int) -> None:
        """Refuse to read history before the buffer or past its end (``end`` exclusive)."""
        if first < 0 or end > self._buf.size:
            # Would mean the bookkeeping in process/flush/_emit is wrong.
            raise RuntimeError(
                f"StreamingResampler: outputs {k}..{k + n - 1} read outside the "
                f"history [{self._buf_start}, {self._buf_start + self._buf.size})"
            )
