"""The accurate bundle's graphs, built from a head fitted here: both forms compute the
numpy teacher (`Teacher.embed`) + `Head.probs` on real windows."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("musicnn", reason="the MSD_musicnn checkpoint (pip install --no-deps musicnn==0.1.0)")

from genred.dsp.params import LogMelParams, WindowParams
from genred.training.musicnn import log_compress


def test_the_tags_from_the_pooled_features_are_the_models_own(gtzan_dir):
    from genred.training.features import FeatureExtractor, windows_from_frames
    from genred.training.musicnn import checkpoint_dir, load_musicnn, read_weights, tags_from_pooled

    fe, win = LogMelParams(), WindowParams()
    x = windows_from_frames(FeatureExtractor(fe, cache_dir=None).frames(gtzan_dir / "audio/rock/rock.00000.flac"),
                            fe, win, 62).x[:6]
    logits, _, pooled = load_musicnn()(log_compress(x - 9.0), training=False)
    got = tags_from_pooled(np.asarray(pooled), read_weights(checkpoint_dir()))
    assert got.shape == (6, 50)
    np.testing.assert_allclose(got, np.asarray(logits), atol=2e-3)
    assert np.std(got) > 0.5  # real logits, not a constant


def test_a_feature_weight_is_a_prior_the_head_keeps_in_its_scale():
    from genred.training.teacher import fit_head

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 200)
    signal = y + rng.normal(0, 1.0, 600)
    # Two equally informative copies of one signal, with their own noise.
    x = np.c_[signal + rng.normal(0, 0.3, 600), signal + rng.normal(0, 0.3, 600)]
    track = np.arange(600) // 20
    plain = fit_head(x, y, track, 3, c=0.01)
    weighted = fit_head(x, y, track, 3, c=0.01, feature_weight=np.array([1.0, 5.0]))
    # Per unit of the raw feature, the weighted one now carries most of the decision.
    eff = lambda h: np.abs(h.coef[2] - h.coef[0]) / h.scale  # noqa: E731
    assert 0.5 < eff(plain)[1] / eff(plain)[0] < 2.0
    assert eff(weighted)[1] / eff(weighted)[0] > 3.0
    # Head.probs applies the weight through its scale: the same as weighting by hand.
    z = ((x - x.mean(0)) / (x.std(0) + 1e-6) * [1.0, 5.0]) @ weighted.coef.T + weighted.intercept
    p = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(weighted.probs(x), p / p.sum(1, keepdims=True), atol=1e-5)


def test_the_ramps_follow_the_log_compression():
    from genred.training.accurate_int8 import ramp_fit

    offset = -9.0
    t, a, c = ramp_fit(offset, -80.0, 35.0)
    x = np.linspace(-80.0, 35.0, 4001)
    approx = c + np.maximum(x[:, None] - t[None, :], 0.0) @ a
    exact = log_compress(x + offset)
    # The int8 input's step (~0.4 dB) moves the output by up to 0.04; the ramps stay well under.
    assert np.max(np.abs(approx - exact)) < 0.01


@pytest.mark.slow
def test_both_graphs_compute_the_teacher_and_its_head(gtzan_dir):
    from ai_edge_litert.interpreter import Interpreter

    from genred.training.accurate_graph import convert, device_model
    from genred.training.accurate_int8 import channel_stats, int8_ready_model
    from genred.training.features import FeatureExtractor, windows_from_frames
    from genred.training.musicnn import checkpoint_dir, read_weights
    from genred.training.teacher import Teacher, fit_head

    fe, win = LogMelParams(), WindowParams()
    ex = FeatureExtractor(fe, cache_dir=None)
    clips = ["audio/rock/rock.00005.flac", "audio/classical/classical.00005.flac", "audio/jazz/jazz.00005.flac"]
    per_clip = [windows_from_frames(ex.frames(gtzan_dir / c), fe, win, 31).x for c in clips]
    offset = -9.0
    teacher = Teacher(fe, win, offset, None, batch=8)
    emb = [teacher.embed(x) for x in per_clip]
    y = np.concatenate([np.full(len(e), g) for g, e in zip((9, 1, 5), emb, strict=True)])
    head = fit_head(np.concatenate(emb), y, np.concatenate([np.full(len(e), i) for i, e in enumerate(emb)]), 10,
                    c=0.01, min_std=1e-3)
    assert 0 < int((head.coef != 0).any(axis=0).sum()) < head.coef.shape[1]  # dead features dropped, live kept
    x = np.concatenate([p[1::9] for p in per_clip])
    want = head.probs(teacher.embed(x))
    stats = channel_stats(teacher.model, np.concatenate([p[::5] for p in per_clip]), offset)
    # The head that also reads the 50 tag logits (computed in numpy from the pooled features).
    from genred.training.accurate_data import Embeddings, head_inputs

    tag_emb = head_inputs(Embeddings(np.concatenate(emb), np.zeros(1), np.zeros((0, 1506)), np.zeros((0, 1506))),
                          "pooled+tags").grid
    tag_head = fit_head(tag_emb, y, np.concatenate([np.full(len(e), i) for i, e in enumerate(emb)]), 10, c=0.01,
                        min_std=1e-3, feature_weight=np.r_[np.ones(1506), np.full(50, 3.0)])
    x_emb = teacher.embed(x)
    want_tags = tag_head.probs(head_inputs(Embeddings(x_emb, np.zeros(1), x_emb[:0], x_emb[:0]), "pooled+tags").grid)
    assert np.mean(want_tags.argmax(1) == want.argmax(1)) > 0.9  # another head, the same three genres
    graphs = {
        "plain": device_model(teacher.model, head, offset, win.window_frames, fe.n_mels, 10),
        "tags": device_model(teacher.model, tag_head, offset, win.window_frames, fe.n_mels, 10, tags=True),
        "rearranged": int8_ready_model(read_weights(checkpoint_dir()), stats, head, offset, win.window_frames,
                                       fe.n_mels, 10, win.floor_db, ramps=False),
    }
    for name, model in graphs.items():
        interp = Interpreter(model_content=convert(model, "float32"), num_threads=1)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        z = []
        for w in x:
            interp.set_tensor(inp["index"], w[None, :, :, None].astype(np.float32))
            interp.invoke()
            z.append(interp.get_tensor(out["index"])[0].astype(np.float64))
        z = np.array(z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        got = e / e.sum(axis=1, keepdims=True)
        expected = want_tags if name == "tags" else want
        assert np.max(np.abs(got - expected)) < 2e-3, name
        assert np.array_equal(got.argmax(1), expected.argmax(1)), name
