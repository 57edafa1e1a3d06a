"""The runtime path as one object: block size never changes what comes out."""

from __future__ import annotations

import numpy as np
import pytest

from genred.dsp.pipeline import Pipeline
from signals import music_like


def _run(classifier, x: np.ndarray, rate: int, sizes) -> list:
    p = Pipeline(classifier, rate)
    out, i = [], 0
    for size in sizes:
        out += p.process(x[i : i + size])
        i += size
    assert i == x.shape[0]
    return out + p.flush()


def _random_sizes(n: int, high: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, high)))
    sizes[-1] -= sum(sizes) - n
    return sizes


@pytest.mark.parametrize("rate,channels", [(44100, 2), (48000, 1), (16000, 1), (22050, 3)])
def test_output_independent_of_block_size(classifier, rate, channels):
    x = music_like(6.0, rate, channels=channels, seed=rate)
    reference = _run(classifier, x, rate, [x.shape[0]])
    assert len(reference) == 4  # windows end at 3.0, 4.0, 5.0, 6.0 s (hop 62 frames)
    for sizes in ([1024] * (x.shape[0] // 1024) + [x.shape[0] % 1024], _random_sizes(x.shape[0], 5000, 7)):
        got = _run(classifier, x, rate, sizes)
        assert [(r.start_s, r.end_s) for r in got] == [(r.start_s, r.end_s) for r in reference]
        for a, b in zip(got, reference, strict=True):
            # The int8 input quantisation can flip one step at a rounding edge.
            np.testing.assert_allclose(a.probabilities, b.probabilities, atol=0.02)
            assert a.level_db == pytest.approx(b.level_db, abs=1e-3)
            assert a.state.status == b.state.status and a.state.genre == b.state.genre


@pytest.mark.parametrize("rate", [44100, 16000])
def test_a_window_comes_out_of_the_block_that_completes_it(classifier, rate):
    # The frames are computed in a batch once a window is due: never a block late.
    block = rate // 10
    x = music_like(6.0, rate, seed=3)
    p = Pipeline(classifier, rate)
    emitted = []
    for i in range(0, x.shape[0], block):
        emitted += [(r.end_s, (i + block) / rate) for r in p.process(x[i : i + block])]
    assert len(emitted) == 4
    for end_s, block_end_s in emitted:
        # The resampler's filter reaches ~0.6 ms past a sample at 44.1 kHz.
        assert block_end_s - 0.1 < end_s + 0.001 and end_s <= block_end_s


def test_short_input_gives_one_padded_window(classifier):
    x = music_like(1.25, 44100, channels=2)
    (r,) = _run(classifier, x, 44100, [1000] * (x.shape[0] // 1000) + [x.shape[0] % 1000])
    assert r.padded and r.start_s == 0.0 and r.end_s == pytest.approx(1.25, abs=1e-3)
    assert r.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_window_times_and_reset(classifier):
    p = Pipeline(classifier, 16000, hop_s=0.5)
    x = music_like(5.0, 16000)
    first = p.process(x)
    hop = 31 * 256 / 16000
    assert [r.start_s for r in first] == pytest.approx([i * hop for i in range(len(first))])
    assert first[0].end_s == pytest.approx(p.window_s)
    p.reset()
    again = p.process(x)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.probabilities, b.probabilities)


def test_silence_is_gated(classifier):
    x = np.zeros(16000 * 5, dtype=np.float32)
    results = _run(classifier, x, 16000, [x.size])
    assert [r.state.status for r in results] == ["silence"] * 3  # windows end at 3.0, 4.0, 5.0 s
    quiet = music_like(5.0, 16000) * np.float32(10 ** (-30 / 20))  # -30 dB: still music
    results = _run(classifier, quiet, 16000, [quiet.size])
    assert len(results) == 3 and all(r.state.status != "silence" for r in results)
