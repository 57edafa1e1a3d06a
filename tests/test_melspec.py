"""The log-mel front end: librosa agreement, and streaming == batch for any chunking."""

from __future__ import annotations

import numpy as np
import pytest

from genred.dsp.melspec import StreamingLogMel, log_mel, mel_filterbank, n_frames_for, reference_power_db
from genred.dsp.params import LogMelParams

from signals import music_like as _music_like

librosa = pytest.importorskip("librosa")

PARAMS = LogMelParams()


def _librosa_db(x: np.ndarray, p: LogMelParams) -> np.ndarray:
    mel = librosa.feature.melspectrogram(
        y=x, sr=p.sample_rate_hz, n_fft=p.n_fft, hop_length=p.hop_length, n_mels=p.n_mels,
        fmin=p.fmin_hz, fmax=p.fmax_hz, window=p.window, center=False, power=p.power,
        htk=p.mel_scale == "htk", norm=p.mel_norm,
    )
    return librosa.power_to_db(mel, ref=1.0, amin=p.amin, top_db=None).T


@pytest.mark.parametrize("params", [PARAMS, LogMelParams(mel_scale="htk", mel_norm=None, fmin_hz=30.0, n_mels=64)])
def test_filterbank_matches_librosa(params):
    ref = librosa.filters.mel(
        sr=params.sample_rate_hz, n_fft=params.n_fft, n_mels=params.n_mels, fmin=params.fmin_hz,
        fmax=params.fmax_hz, htk=params.mel_scale == "htk", norm=params.mel_norm,
    )
    np.testing.assert_allclose(mel_filterbank(params), ref, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize(
    "signal",
    ["music", "sine", "noise", "quiet_music"],
)
def test_log_mel_matches_librosa_within_1e3_db(signal):
    sr = PARAMS.sample_rate_hz
    rng = np.random.default_rng(1)
    x = {
        "music": lambda: _music_like(2.0, sr),
        "sine": lambda: np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr).astype(np.float32),
        "noise": lambda: (0.1 * rng.standard_normal(sr)).astype(np.float32),
        "quiet_music": lambda: _music_like(2.0, sr) * np.float32(0.01),  # -40 dB
    }[signal]()
    ours = log_mel(x, PARAMS)
    ref = _librosa_db(x, PARAMS)
    assert ours.shape == ref.shape == (n_frames_for(x.size, PARAMS), PARAMS.n_mels)
    _assert_close_db(ours, ref)


def _assert_close_db(ours: np.ndarray, ref: np.ndarray) -> None:
    # A float32 FFT is exact to ~1e-7 of its largest amplitude: bins more than 60 dB under
    # the loudest bin (a pure sine's window side lobes) carry rounding noise above 1e-3 dB
    # in both implementations.
    mask = ref > ref.max() - 60.0
    assert mask.sum() >= 5 * ref.shape[0]  # several bands of every frame are compared
    np.testing.assert_allclose(ours[mask], ref[mask], atol=1e-3, rtol=0)


def test_log_mel_matches_librosa_on_real_music(gtzan_track):
    x, sr = gtzan_track
    x = librosa.resample(x, orig_sr=sr, target_sr=PARAMS.sample_rate_hz)[: 5 * PARAMS.sample_rate_hz]
    x = x.astype(np.float32)
    _assert_close_db(log_mel(x, PARAMS), _librosa_db(x, PARAMS))


def _chunkings(n: int, rng: np.random.Generator):
    yield "one chunk", [n]
    yield "odd 7", [7] * (n // 7) + [n % 7]
    yield "odd 1001", [1001] * (n // 1001) + [n % 1001]
    sizes = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(0, 3000)))
    sizes[-1] -= sum(sizes) - n
    yield "random 0..3000", sizes


def _stream(x: np.ndarray, sizes: list[int]) -> np.ndarray:
    s = StreamingLogMel(PARAMS)
    out, i = [], 0
    for size in sizes:
        out.append(s.process(x[i : i + size]))
        i += size
    assert i == x.size
    return np.concatenate(out)


def test_streaming_equals_batch_for_any_chunking():
    x = _music_like(3.0, PARAMS.sample_rate_hz, seed=3)
    batch = log_mel(x, PARAMS)
    for name, sizes in _chunkings(x.size, np.random.default_rng(4)):
        # Not bit-equal: BLAS may order a matrix product's sums differently for other row counts.
        np.testing.assert_allclose(_stream(x, sizes), batch, atol=1e-4, rtol=0, err_msg=name)


def test_streaming_one_sample_at_a_time():
    x = _music_like(0.3, PARAMS.sample_rate_hz, seed=5)
    np.testing.assert_allclose(_stream(x, [1] * x.size), log_mel(x, PARAMS), atol=1e-4, rtol=0)


def test_streaming_computes_only_new_frames():
    s = StreamingLogMel(PARAMS)
    x = _music_like(2.0, PARAMS.sample_rate_hz)
    first = s.process(x[:8000])
    assert first.shape[0] == n_frames_for(8000, PARAMS)
    # The internal backlog never exceeds one frame's worth of samples.
    assert s._pending.size < PARAMS.n_fft
    second = s.process(x[8000:8000 + PARAMS.hop_length])
    assert second.shape[0] == 1
    s.reset()
    np.testing.assert_array_equal(s.process(x[:8000]), first)


def test_reference_level_is_a_full_scale_sine():
    sr = PARAMS.sample_rate_hz
    sine = np.sin(2 * np.pi * 1000.0 * np.arange(sr) / sr).astype(np.float32)
    db = log_mel(sine * np.float32(0.1), PARAMS)
    level = 10 * np.log10(np.mean(10 ** (db / 10))) - reference_power_db(PARAMS)
    assert level == pytest.approx(-20.0, abs=0.01)


def test_rejects_stereo():
    with pytest.raises(ValueError, match="mono"):
        log_mel(np.zeros((100, 2), dtype=np.float32), PARAMS)
    with pytest.raises(ValueError, match="mono"):
        StreamingLogMel(PARAMS).process(np.zeros((100, 2), dtype=np.float32))
