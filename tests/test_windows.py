"""Windowing and level normalisation: training's batch cut == the device's stream."""

from __future__ import annotations

import numpy as np
import pytest

from genred.dsp.melspec import log_mel
from genred.dsp.params import LogMelParams, WindowParams
from genred.dsp.windows import (
    StreamingWindower,
    cut_windows,
    normalise_window,
    pad_frames,
    window_level_db,
    window_levels_db,
)
from signals import music_like

FE = LogMelParams()
WIN = WindowParams()


def _stream(frames: np.ndarray, sizes: list[int], hop: int) -> list:
    w = StreamingWindower(WIN, FE.n_mels, hop)
    out, i = [], 0
    for size in sizes:
        out += w.process(frames[i : i + size])
        i += size
    return out + w.flush()


@pytest.mark.parametrize("n_frames", [0, 1, 50, 186, 187, 188, 248, 249, 600])
@pytest.mark.parametrize("hop", [1, 31, 62, 187, 250])
def test_streaming_windows_equal_batch(n_frames, hop):
    rng = np.random.default_rng(n_frames + hop)
    frames = rng.standard_normal((n_frames, FE.n_mels)).astype(np.float32)
    batch = cut_windows(frames, WIN, hop)
    sizes = []
    while sum(sizes) < n_frames:
        sizes.append(int(rng.integers(0, 200)))
    if sizes:
        sizes[-1] -= sum(sizes) - n_frames
    for chunking in ([n_frames], [1] * n_frames, sizes):
        got = _stream(frames, chunking, hop)
        assert [w.start_frame for w in got] == [w.start_frame for w in batch]
        assert [w.padded for w in got] == [w.padded for w in batch]
        for a, b in zip(got, batch, strict=True):
            np.testing.assert_array_equal(a.frames, b.frames)


def test_window_starts_every_hop():
    frames = np.arange(400, dtype=np.float32)[:, None] * np.ones((1, FE.n_mels), np.float32)
    ws = cut_windows(frames, WIN, 62)
    assert [w.start_frame for w in ws] == [0, 62, 124, 186]
    assert ws[1].frames[0, 0] == 62 and ws[1].frames[-1, 0] == 62 + 186


def test_short_clip_is_wrapped_into_one_window():
    frames = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
    (w,) = cut_windows(frames, WindowParams(window_frames=120), 62)
    assert w.padded and w.frames.shape == (120, 4)
    assert list(w.frames[:, 0]) == list(range(50)) * 2 + list(range(20))
    with pytest.raises(ValueError, match="shorter than one STFT frame"):
        pad_frames(frames[:0], 10)


def test_level_normalisation_removes_gain():
    x = music_like(4.0, FE.sample_rate_hz)
    (w_loud,) = cut_windows(log_mel(x, FE)[:187], WIN)
    quiet_db = log_mel(x * np.float32(0.01), FE)[:187]  # -40 dB
    (w_quiet,) = cut_windows(quiet_db, WIN)
    level_loud = window_level_db(w_loud.frames, FE)
    level_quiet = window_level_db(w_quiet.frames, FE)
    assert level_loud - level_quiet == pytest.approx(40.0, abs=0.01)
    a = normalise_window(w_loud.frames, level_loud, FE, WIN)
    b = normalise_window(w_quiet.frames, level_quiet, FE, WIN)
    # Identical wherever the quiet copy stays clear of the absolute floor (amin): the
    # relative floor is the same for both, the absolute one bites the -40 dB copy sooner.
    clear = quiet_db > 10 * np.log10(FE.amin) + 10
    assert clear.mean() > 0.99
    both = clear & (a > WIN.floor_db)
    np.testing.assert_allclose(a[both], b[both], atol=0.01)
    assert a.min() >= WIN.floor_db


def test_a_batch_is_normalised_to_the_bit_as_each_window_alone():
    """Training normalises batches, the device one window at a time: the same numbers."""
    x = music_like(8.0, FE.sample_rate_hz, seed=3)
    # Loud, quiet, and so quiet that the absolute floor (amin) and floor_db bite.
    frames = [log_mel(x * np.float32(g), FE) for g in (1.0, 0.03, 1e-5)]
    windows = [w.frames for f in frames for w in cut_windows(f, WIN, 37)]
    windows.append(np.random.default_rng(4).uniform(-100, 10, windows[0].shape).astype(np.float32))
    batch = np.stack(windows)
    levels = window_levels_db(batch, FE)
    x_batch = normalise_window(batch, levels, FE, WIN)
    assert levels.shape == (len(windows),) and x_batch.shape == batch.shape and x_batch.dtype == np.float32
    assert (x_batch == WIN.floor_db).any()  # the floor is part of what is compared
    for i, w in enumerate(windows):
        level = window_level_db(w, FE)
        assert type(level) is float and level == levels[i]
        np.testing.assert_array_equal(normalise_window(w, level, FE, WIN), x_batch[i])


def test_params_validation_names_the_field():
    with pytest.raises(ValueError, match="n_fft"):
        LogMelParams(n_fft=500)
    with pytest.raises(ValueError, match="floor_db"):
        WindowParams(floor_db=3.0)
    with pytest.raises(ValueError, match="unknown key.*bogus"):
        LogMelParams.from_dict({**FE.to_dict(), "bogus": 1})
    with pytest.raises(ValueError, match="missing key.*n_mels"):
        LogMelParams.from_dict({k: v for k, v in FE.to_dict().items() if k != "n_mels"})
