"""Unlabelled music for the student: the pool's items, the teacher labelling them, and the
sampler drawing them (issue 12: the student imitates the teacher on every piece of audio)."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import soundfile as sf
from signals import music_like

from genred.dsp.params import LogMelParams, WindowParams
from genred.training.augment import RoomParams
from genred.training.dataset import Track
from genred.training.sampler import UNLABELLED, TrainItem, WindowSampler
from genred.training.train import TrainConfig
from genred.training.unlabelled import POOL_GENRE, pool_items

FE, WIN = LogMelParams(), WindowParams()


@pytest.fixture
def pool_dir(tmp_path):
    root = tmp_path / "pool"
    for sub in ("alpha", "beta", "planetblupi-music-ogg"):
        (root / sub).mkdir(parents=True)
    sf.write(str(root / "alpha" / "one.wav"), music_like(5.0, 22050, channels=2, seed=1), 22050)
    sf.write(str(root / "beta" / "two.flac"), music_like(6.0, 16000, seed=2), 16000)
    sf.write(str(root / "planetblupi-music-ogg" / "loop.ogg"), music_like(5.0, 44100, seed=3), 44100,
             format="OGG", subtype="VORBIS")
    (root / "alpha" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))
    return root


def test_pool_items_are_unlabelled_clean_and_room_variants_cached(pool_dir, tmp_path, caplog):
    cache = tmp_path / "cache"
    with caplog.at_level(logging.WARNING):
        items = pool_items(pool_dir, FE, WIN, RoomParams(), 2, cache, seconds_per_clip=4.0)
    assert sorted(it.track.stem for it in items) == ["pool/alpha/one.wav", "pool/beta/two.flac",
                                                     "pool/planetblupi-music-ogg/loop.ogg"]
    assert "broken.wav" in caplog.text  # skipped, said
    for it in items:
        assert it.label == UNLABELLED and it.track.genre == POOL_GENRE and it.kind == "full"
        assert len(it.variants) == 3 and len({v.shape for v in it.variants}) == 1
        assert it.variants[0].shape[0] >= WIN.window_frames
        assert not np.allclose(it.variants[0], it.variants[1])  # a room is not the clean audio
    assert {it.track.stem.split("/")[1]: it.weight for it in items}["planetblupi-music-ogg"] == 0.25
    assert len(list(cache.glob("*.npy"))) == 9
    again = pool_items(pool_dir, FE, WIN, RoomParams(), 2, cache, seconds_per_clip=4.0)
    for a, b in zip(items, again, strict=True):
        np.testing.assert_array_equal(a.variants[1], b.variants[1])


def test_a_pool_without_audio_is_one_clear_error(tmp_path):
    from genred.training.dataset import DatasetError

    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no readable audio"):
        pool_items(tmp_path / "empty", FE, WIN, RoomParams(), 1, None)
    with pytest.raises(DatasetError, match="not a folder"):
        pool_items(tmp_path / "missing", FE, WIN, RoomParams(), 1, None)


def _items(pool_soft: np.ndarray | None = None):
    rng = np.random.default_rng(0)
    n_grid, hop = 5, 31
    n = WIN.window_frames + (n_grid - 1) * hop
    labelled = [TrainItem(Track(g, f"{g}.0"), i, "full", [rng.normal(-40, 10, (n, FE.n_mels)).astype(np.float32)], 1.0)
                for i, g in enumerate(("a", "b", "c"))]
    pool = []
    if pool_soft is not None:
        pool = [TrainItem(Track(POOL_GENRE, "pool/x/y.ogg"), UNLABELLED, "full",
                          [rng.normal(-40, 10, (n, FE.n_mels)).astype(np.float32)], 1.0,
                          soft=[np.tile(pool_soft, (n_grid, 1))], grid_hop=hop)]
    return labelled, pool


def test_the_sampler_draws_the_pool_share_with_the_teachers_label_alone():
    soft = np.array([0.1, 0.2, 0.7], np.float32)
    labelled, pool = _items(soft)
    cfg = TrainConfig(pool_p=0.25, teacher_weight=0.5, specaug_p=0.0, batch_size=64)
    sampler = WindowSampler(labelled + pool, 3, cfg, FE, WIN)
    ys = np.concatenate([sampler.batch(0, s)[1] for s in range(10)])
    from_pool = np.all(np.isclose(ys, soft), axis=1)
    one_hot = np.isclose(ys.max(axis=1), 1.0) & np.isclose(ys.sum(axis=1), 1.0)
    assert np.all(from_pool | one_hot)  # nothing else: the pool's target is not mixed with a label
    assert 0.18 < from_pool.mean() < 0.32, from_pool.mean()


def test_a_pool_drawn_at_share_zero_leaves_every_batch_as_it_was():
    labelled, pool = _items(np.array([0.1, 0.2, 0.7], np.float32))
    cfg = TrainConfig(pool_p=0.0)
    without = WindowSampler(labelled, 3, cfg, FE, WIN).batch(2, 3)
    with_pool = WindowSampler(labelled + pool, 3, cfg, FE, WIN).batch(2, 3)
    for a, b in zip(without, with_pool, strict=True):
        np.testing.assert_array_equal(a, b)
    drawn = WindowSampler(labelled + pool, 3, TrainConfig(pool_p=0.5), FE, WIN).batch(2, 3)
    assert not np.array_equal(drawn[1], without[1])


def test_an_unlabelled_item_needs_soft_labels():
    labelled, _ = _items()
    bare = TrainItem(Track(POOL_GENRE, "pool/x/y.ogg"), UNLABELLED, "full", [labelled[0].variants[0]], 1.0)
    with pytest.raises(ValueError, match="soft labels"):
        WindowSampler(labelled + [bare], 3, TrainConfig(pool_p=0.3), FE, WIN)


def test_the_teacher_labels_the_pool_with_the_head_it_fits_on_the_labelled_tracks(musicnn):
    from genred.training.features import audio_frames
    from genred.training.teacher import teacher_step

    def frames(seed: int, gain: float = 1.0) -> np.ndarray:
        return audio_frames((gain * music_like(5.0, FE.sample_rate_hz, seed=seed)).astype(np.float32), FE)

    labelled = [TrainItem(Track(g, f"{g}.{s}"), i, "full", [frames(s, 1.0 if i else 0.2)] * 2, 1.0)
                for i, g in enumerate(("a", "b")) for s in (1, 2)]
    pool = [TrainItem(Track(POOL_GENRE, "pool/x/y.ogg"), UNLABELLED, "full", [frames(7), frames(8)], 0.5)]
    common = dict(sets={}, labels=("a", "b"), front_end=FE, window=WIN, cache_dir=None, offset_db=60.0)
    plain = teacher_step(labelled, **common)
    with_pool = teacher_step(labelled, **common, pool=pool, tags=True)
    for a, b in zip(plain.items, with_pool.items, strict=True):
        np.testing.assert_array_equal(a.soft[0], b.soft[0])  # the pool fits nothing
    (got,) = with_pool.pool
    n_grid = (got.variants[0].shape[0] - WIN.window_frames) // 31 + 1
    assert got.label == UNLABELLED and got.grid_hop == 31 and len(got.soft) == 2
    assert got.soft[0].shape == (n_grid, 2)
    np.testing.assert_allclose(got.soft[0].sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(got.soft[0], got.soft[1])  # the room copy gets the clean audio's opinion
    assert with_pool.info["pool_items"] == 1 and with_pool.info["pool_windows"] == n_grid
    assert plain.pool == () and plain.info["pool_items"] == 0
    # Asked for them, every item carries the teacher's 50 tag probabilities on the same grid.
    assert plain.items[0].tags is None
    for it in (*with_pool.items, got):
        assert len(it.tags) == len(it.variants) and it.tags[0].shape == (len(it.soft[0]), 50)
        assert it.tags[0].min() > 0.0 and it.tags[0].max() < 1.0
        np.testing.assert_array_equal(it.tags[0], it.tags[-1])
    assert not np.allclose(with_pool.items[0].tags[0].mean(axis=0), got.tags[0].mean(axis=0))


def test_the_cli_refuses_a_pool_without_the_teacher(tmp_path, capsys):
    from genred.training.cli import build_parser, check_args

    parser = build_parser()
    args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--pool", str(tmp_path)])
    with pytest.raises(SystemExit):
        check_args(parser, args)
    assert "--pool needs --teacher" in capsys.readouterr().err
    args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--teacher", "--pool",
                              str(tmp_path), "--pool-share", "0.4"])
    check_args(parser, args)
    from genred.training.cli import config_from_args

    assert config_from_args(args).pool_p == 0.4
    args = parser.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--teacher"])
    assert config_from_args(args).pool_p == 0.0  # no pool, no share


def _tagged(value: float, item: TrainItem) -> TrainItem:
    from dataclasses import replace

    n_grid = (item.variants[0].shape[0] - WIN.window_frames) // 31 + 1
    soft = np.full((n_grid, 3), 1 / 3, np.float32) if item.soft is None else item.soft[0]
    return replace(item, soft=[soft], grid_hop=31, tags=[np.full((n_grid, 4), value, np.float32)])


def test_with_a_tag_weight_each_window_brings_the_teachers_tags_of_its_own_item():
    labelled, pool = _items(np.array([0.1, 0.2, 0.7], np.float32))
    values = (0.1, 0.3, 0.5, 0.9)  # labels a, b, c, then the pool
    items = [_tagged(v, it) for v, it in zip(values, labelled + pool, strict=True)]
    cfg = TrainConfig(pool_p=0.25, teacher_weight=0.0, specaug_p=0.0, tag_weight=0.5)
    x, y = WindowSampler(items, 3, cfg, FE, WIN).batch(0, 0)
    genre, tags = y["genre_logits"], y["tag_logits"]
    assert tags.shape == (cfg.batch_size, 4) and genre.shape == (cfg.batch_size, 3)
    for g, t in zip(genre, tags, strict=True):
        want = values[int(np.argmax(g))] if g.max() == 1.0 else values[3]
        np.testing.assert_allclose(t, want)
    assert {round(float(t[0]), 3) for t in tags} == set(values)
    no_tags = WindowSampler(items, 3, TrainConfig(pool_p=0.25, teacher_weight=0.0, specaug_p=0.0), FE, WIN).batch(0, 0)
    np.testing.assert_array_equal(no_tags[1], genre)  # the tags change no genre target


def test_tag_distillation_trains_the_shared_layers_and_keeps_the_genre_model():
    from dataclasses import replace

    from genred.training.models import ModelSpec
    from genred.training.train import train

    labelled, pool = _items(np.array([0.1, 0.2, 0.7], np.float32))
    items = [_tagged(v, it) for v, it in zip((0.1, 0.3, 0.5, 0.9), labelled + pool, strict=True)]
    base = TrainConfig(epochs=1, steps_per_epoch=2, batch_size=8, model=ModelSpec(name="tiny"), pool_p=0.25, ema_decay=0.0)
    plain = train(items, None, None, 3, base, FE, WIN)
    tagged = train(items, None, None, 3, replace(base, tag_weight=1.0), FE, WIN)
    assert tagged.model.output.shape[-1] == 3 and len(tagged.model.outputs) == 1  # what exports: genres only
    assert [w.shape for w in tagged.model.get_weights()] == [w.shape for w in plain.model.get_weights()]
    conv = [w for w in tagged.model.weights if "conv0" in w.path][0]
    conv_plain = [w for w in plain.model.weights if "conv0" in w.path][0]
    assert not np.allclose(np.asarray(conv), np.asarray(conv_plain))  # the tags moved the shared layers


def test_tag_distillation_needs_tags_on_every_item():
    labelled, pool = _items(np.array([0.1, 0.2, 0.7], np.float32))
    tagged = [_tagged(0.5, it) for it in labelled + pool]
    cfg = TrainConfig(pool_p=0.25, tag_weight=1.0)
    assert WindowSampler(tagged, 3, cfg, FE, WIN).n_tags == 4
    with pytest.raises(ValueError, match="tags on every train item"):
        WindowSampler([*tagged[:-1], pool[0]], 3, cfg, FE, WIN)
