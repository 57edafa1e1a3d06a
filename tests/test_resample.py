"""StreamingResampler must equal scipy.signal.resample_poly for any chunking."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from genred.dsp.resample import (
    StreamingResampler,
    kaiser_lowpass,
    resample_poly_filter,
    to_mono,
)
from scipy.signal import firwin, resample_poly

RATE_PAIRS = [
    (44100, 16000),
    (48000, 16000),
    (22050, 16000),
    (8000, 16000),
    (16000, 16000),
    (96000, 16000),
]


def _signal(n: int, seed: int = 0) -> np.ndarray:
    """Unit-amplitude test signal: white noise plus a chirp, float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / n
    x = 0.5 * rng.uniform(-1.0, 1.0, n) + 0.5 * np.sin(2 * np.pi * (5 + 300 * t) * t * 40)
    return x.astype(np.float32)


def _stream(rs: StreamingResampler, x: np.ndarray, sizes) -> np.ndarray:
    outs = []
    pos = 0
    for size in sizes:
        out = rs.process(x[pos : pos + size])
        assert out.dtype == np.float32 and out.ndim == 1
        outs.append(out)
        pos += size
    assert pos >= len(x)
    tail = rs.flush()
    assert tail.dtype == np.float32
    outs.append(tail)
    return np.concatenate(outs)


def _fixed_sizes(n: int, size: int) -> list[int]:
    return [size] * math.ceil(n / size)


def _random_sizes(n: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < n:
        s = int(rng.integers(0, 5001))
        sizes.append(s)
        total += s
    return sizes


def _reference(x: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    g = math.gcd(in_rate, out_rate)
    return resample_poly(x.astype(np.float64), out_rate // g, in_rate // g)


def _check(x: np.ndarray, in_rate: int, out_rate: int, sizes, block_elements: int | None = None) -> None:
    rs = StreamingResampler(in_rate, out_rate) if block_elements is None else StreamingResampler(in_rate, out_rate, block_elements)
    y = _stream(rs, x, sizes)
    ref = _reference(x, in_rate, out_rate)
    assert len(y) == math.ceil(len(x) * rs.up / rs.down) == len(ref)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
@pytest.mark.parametrize("chunking", ["whole", "7", "441", "1000", "random"])
def test_matches_resample_poly(in_rate: int, out_rate: int, chunking: str) -> None:
    n = 30011  # not a multiple of any `down`, so the tail is exercised
    x = _signal(n, seed=in_rate)
    if chunking == "whole":
        sizes = [n]
    elif chunking == "random":
        sizes = _random_sizes(n, seed=in_rate + 1)
    else:
        sizes = _fixed_sizes(n, int(chunking))
    _check(x, in_rate, out_rate, sizes)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
def test_one_sample_chunks(in_rate: int, out_rate: int) -> None:
    n = 1500
    x = _signal(n, seed=3)
    _check(x, in_rate, out_rate, [1] * n)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
@pytest.mark.parametrize("n", [1, 2, 5, 440, 441, 442])
def test_short_signals(in_rate: int, out_rate: int, n: int) -> None:
    x = _signal(n, seed=n)
    _check(x, in_rate, out_rate, [n])
    _check(x, in_rate, out_rate, [1] * n)


@pytest.mark.parametrize(("in_rate", "out_rate"), RATE_PAIRS)
def test_reset_and_flush_restart_the_stream(in_rate: int, out_rate: int) -> None:
    x = _signal(9001, seed=7)
    sizes = _fixed_sizes(len(x), 1000)
    rs = StreamingResampler(in_rate, out_rate)
    first = _stream(rs, x, sizes)  # flush() resets
    second = _stream(rs, x, sizes)
    np.testing.assert_array_equal(first, second)

    # A half-fed stream abandoned by reset() leaves no trace.
    rs.process(_signal(3333, seed=8))
    rs.reset()
    third = _stream(rs, x, sizes)
    np.testing.assert_array_equal(first, third)


def test_empty_stream() -> None:
    rs = StreamingResampler(44100, 16000)
    assert rs.process(np.zeros(0, dtype=np.float32)).size == 0
    assert rs.flush().size == 0


def test_passthrough_when_rates_equal() -> None:
    rs = StreamingResampler(16000, 16000)
    assert (rs.up, rs.down) == (1, 1)
    x = np.arange(10, dtype=np.float64)
    y = rs.process(x)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, x)
    assert rs.flush().size == 0


def test_properties_reduced_by_gcd() -> None:
    rs = StreamingResampler(44100, 16000)
    assert (rs.in_rate_hz, rs.out_rate_hz) == (44100, 16000)
    assert (rs.up, rs.down) == (160, 441)
    rs = StreamingResampler(48000, 16000)
    assert (rs.up, rs.down) == (1, 3)


def test_sine_keeps_its_frequency() -> None:
    in_rate, out_rate, f_hz = 44100, 16000, 1000.0
    x = np.sin(2 * np.pi * f_hz * np.arange(in_rate) / in_rate).astype(np.float32)
    rs = StreamingResampler(in_rate, out_rate)
    y = _stream(rs, x, _random_sizes(len(x), seed=11))
    assert len(y) == out_rate
    # Skip the edges, where zero padding makes the filter ring.
    seg = y[1000:-1000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    freqs = np.fft.rfftfreq(len(seg), d=1.0 / out_rate)
    assert abs(freqs[np.argmax(spec)] - f_hz) <= freqs[1]
    # Amplitude is preserved (passband gain ~1).
    assert abs(np.max(np.abs(seg)) - 1.0) < 0.01


@pytest.mark.parametrize("bad", [7999, 192001, 0, -16000, 16000.0, "16000", True, None])
def test_bad_rates_raise(bad) -> None:
    with pytest.raises(ValueError, match="rate_hz"):
        StreamingResampler(bad, 16000)
    with pytest.raises(ValueError, match="rate_hz"):
        StreamingResampler(16000, bad)


def test_process_rejects_2d_chunk() -> None:
    rs = StreamingResampler(44100, 16000)
    with pytest.raises(ValueError, match="shape"):
        rs.process(np.zeros((10, 2), dtype=np.float32))


def test_to_mono_averages_channels() -> None:
    block = np.array([[1.0, 3.0], [-2.0, 0.0], [0.5, 0.5]], dtype=np.float64)
    y = to_mono(block)
    assert y.dtype == np.float32 and y.shape == (3,)
    np.testing.assert_array_equal(y, [2.0, -1.0, 0.5])


def test_to_mono_passes_mono_through() -> None:
    x = np.linspace(-1, 1, 11)
    y = to_mono(x)
    assert y.dtype == np.float32 and y.shape == (11,)
    np.testing.assert_array_equal(y, x.astype(np.float32))


@pytest.mark.parametrize("shape", [(), (4, 2, 1), (4, 0)])
def test_to_mono_bad_shape_raises(shape) -> None:
    with pytest.raises(ValueError, match=r"shape"):
        to_mono(np.zeros(shape))


# --- the numpy filter design and polyphase filtering against scipy -------------

FACTOR_PAIRS = [(160, 441), (1, 3), (2, 3), (1, 6), (40, 147), (2, 1), (320, 441), (80, 441), (147, 160)]


@pytest.mark.parametrize(("up", "down"), FACTOR_PAIRS)
def test_filter_equals_resample_polys_firwin(up: int, down: int) -> None:
    h, half_len = resample_poly_filter(up, down)
    max_rate = max(up, down)
    assert half_len == 10 * max_rate
    ref = firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * up
    assert h.dtype == np.float64 and h.shape == ref.shape
    np.testing.assert_allclose(h, ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("numtaps", "cutoff", "beta"), [(61, 1 / 3, 5.0), (64, 0.25, 5.0), (101, 0.9, 8.6), (7, 0.5, 0.0)])
def test_kaiser_lowpass_equals_firwin(numtaps: int, cutoff: float, beta: float) -> None:
    h = kaiser_lowpass(numtaps, cutoff, beta)
    np.testing.assert_allclose(h, firwin(numtaps, cutoff, window=("kaiser", beta)), rtol=0, atol=1e-12)
    assert abs(h.sum() - 1.0) < 1e-12  # unit gain at 0 Hz


def _mixed_sizes(n: int, seed: int) -> list[int]:
    """Random chunk sizes, a third of them 0..3 samples (size 1 included), the rest up to 3000."""
    rng = np.random.default_rng(seed)
    sizes, total = [1], 1
    while total < n:
        s = int(rng.integers(0, 4)) if rng.random() < 1 / 3 else int(rng.integers(1, 3001))
        sizes.append(s)
        total += s
    return sizes


@pytest.mark.parametrize("in_rate", [8000, 11025, 22050, 32000, 44100, 48000, 88200, 96000])
def test_device_rates_to_16k_random_chunks(in_rate: int) -> None:
    n = 20011
    x = _signal(n, seed=in_rate + 5)
    _check(x, in_rate, 16000, _mixed_sizes(n, seed=in_rate))


@pytest.mark.parametrize(("in_rate", "out_rate"), [(16000, 44100), (8000, 48000), (44100, 48000), (48000, 44100), (16000, 8000)])
def test_other_rate_pairs(in_rate: int, out_rate: int) -> None:
    n = 7001
    x = _signal(n, seed=out_rate)
    _check(x, in_rate, out_rate, _mixed_sizes(n, seed=in_rate))
    _check(x, in_rate, out_rate, [n])


@pytest.mark.parametrize(("in_rate", "out_rate"), [(44100, 16000), (48000, 16000), (8000, 16000), (44100, 48000)])
def test_small_blocks_split_a_call_into_many_steps(in_rate: int, out_rate: int) -> None:
    # A tiny block budget splits every call into many vectorised steps: one period
    # (general ratios) or a few outputs (integer ratios) at a time.
    rs = StreamingResampler(in_rate, out_rate, block_elements=100)
    assert rs._block <= 4
    n = 3001
    x = _signal(n, seed=9)
    _check(x, in_rate, out_rate, [n], block_elements=100)
    _check(x, in_rate, out_rate, _mixed_sizes(n, seed=10), block_elements=100)


def test_large_block_in_one_call() -> None:
    # 10 s in one call: several vectorised steps of _BLOCK_ELEMENTS each.
    n = 441000
    x = _signal(n, seed=12)
    _check(x, 44100, 16000, [n])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32])
@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6, 8])
def test_to_mono_equals_float64_mean(dtype, channels: int) -> None:
    rng = np.random.default_rng(channels)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        block = rng.integers(info.min, info.max, size=(999, channels), endpoint=True).astype(dtype)
    else:
        block = (rng.standard_normal((999, channels)) * 1000).astype(dtype)
    expected = block.mean(axis=1, dtype=np.float64).astype(np.float32)
    np.testing.assert_array_equal(to_mono(block), expected)
    np.testing.assert_array_equal(to_mono(block[::3]), expected[::3])  # non-contiguous


def test_runtime_path_does_not_import_scipy_signal(tmp_path) -> None:
    # scipy.signal costs ~77 MB of RSS and ~0.5 s of start-up on the device.
    code = (
        "import sys, numpy as np\n"
        "import genred.dsp.pipeline\n"
        "from genred.dsp.resample import StreamingResampler\n"
        "rs = StreamingResampler(44100, 16000)\n"
        "rs.process(np.zeros(4410, dtype=np.float32)); rs.flush()\n"
        "print(sorted(m for m in sys.modules if m == 'scipy.signal' or m.startswith('scipy.signal.')))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
