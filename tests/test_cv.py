"""Cross-validation folds: grouped, stratified, unscored items train-only, seeded."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict

import numpy as np
import pytest

from genred.training.cv import grouped_folds, gtzan_folds, read_artists
from genred.training.dataset import DatasetError, Track


def check_folds(folds, keys, groups, scored=None):
    """The properties every fold list must have; returns the test side of each key."""
    scored = [True] * len(keys) if scored is None else scored
    group = dict(zip(keys, groups, strict=True))
    tested_in: dict[str, list[int]] = defaultdict(list)
    for f in folds:
        assert not set(f.train) & set(f.test)
        train_groups = {group[k] for k in f.train}
        test_groups = {group[k] for k in f.test}
        assert not train_groups & test_groups, f"fold {f.index}: a group on both sides"
        for k in f.test:
            tested_in[k].append(f.index)
    for k, sc in zip(keys, scored, strict=True):
        assert len(tested_in.get(k, [])) == (1 if sc else 0), k
    return tested_in


def random_items(seed, n_groups=40, strata=("a", "b", "c", "d"), spanning=5):
    import random

    rng = random.Random(seed)
    keys, groups, strat = [], [], []
    for g in range(n_groups):
        s = strata[g % len(strata)]
        for i in range(rng.randint(1, 6)):
            keys.append(f"g{g}/{i}")
            groups.append(f"g{g}")
            strat.append(s)
        if g < spanning:  # these artists also play another genre
            keys.append(f"g{g}/x")
            groups.append(f"g{g}")
            strat.append(strata[(g + 1) % len(strata)])
    return keys, groups, strat


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("k", [2, 4, 5])
def test_groups_stay_together_and_every_stratum_is_in_every_fold(seed, k):
    keys, groups, strata = random_items(seed)
    folds = grouped_folds(keys, groups, strata, k, seed)
    assert [f.index for f in folds] == list(range(k))
    check_folds(folds, keys, groups)
    stratum = dict(zip(keys, strata, strict=True))
    for f in folds:
        assert {stratum[x] for x in f.test} == {"a", "b", "c", "d"}
        # train is everything not tested here
        assert set(f.train) == set(keys) - set(f.test)


def test_per_stratum_counts_are_balanced():
    # 10 groups of 2 items per stratum: 5 folds get 4 items of each stratum exactly.
    keys = [f"{s}{g}/{i}" for s in "xy" for g in range(10) for i in range(2)]
    groups = [k.split("/")[0] for k in keys]
    strata = [k[0] for k in keys]
    folds = grouped_folds(keys, groups, strata, 5, seed=3)
    for f in folds:
        assert Counter(x[0] for x in f.test) == {"x": 4, "y": 4}


def test_same_seed_same_folds_and_seeds_differ():
    keys, groups, strata = random_items(0)
    a = grouped_folds(keys, groups, strata, 4, seed=11)
    assert a == grouped_folds(keys, groups, strata, 4, seed=11)
    assert any(a != grouped_folds(keys, groups, strata, 4, seed=s) for s in (12, 13, 14))


def naive_stratified(keys, strata, k):
    """Round-robin within each stratum, item by item: what ignoring the groups gives."""
    seen: Counter[str] = Counter()
    fold_of = {}
    for key, s in zip(keys, strata, strict=True):
        fold_of[key] = seen[s] % k
        seen[s] += 1
    return fold_of


def test_a_group_spanning_two_strata_stays_in_one_fold():
    # Artist "both" plays blues and rock; a split by stratum alone puts them apart.
    keys = ["b1", "b2", "b3", "both-b", "r1", "r2", "both-r", "r3"]
    groups = ["g1", "g2", "g3", "both", "g4", "g5", "both", "g6"]
    strata = ["blues"] * 4 + ["rock"] * 4
    naive = naive_stratified(keys, strata, 2)
    assert naive["both-b"] != naive["both-r"]  # the naive split leaks the artist
    folds = grouped_folds(keys, groups, strata, 2, seed=0)
    tested_in = check_folds(folds, keys, groups)
    assert tested_in["both-b"] == tested_in["both-r"]
    for f in folds:
        assert {s for key, s in zip(keys, strata, strict=True) if key in f.test} == {"blues", "rock"}


def test_coverage_where_size_balancing_alone_fails():
    # Stratum "rare" has exactly k = 3 groups; two of them are big artists of "common"
    # too. Balancing sizes alone (GroupKFold: biggest group to the emptiest fold) puts
    # the small rare group beside a big one; the stratified placement covers all three.
    keys, groups, strata = [], [], []
    def add(g, s, n):
        for i in range(n):
            keys.append(f"{g}/{s}{i}")
            groups.append(g)
            strata.append(s)
    add("big1", "common", 10); add("big1", "rare", 1)
    add("big2", "common", 10); add("big2", "rare", 1)
    add("big3", "common", 10)
    add("big4", "common", 10)
    add("r1", "rare", 1)
    size = Counter(groups)
    load = [0, 0, 0]
    fold_of = {}
    for g in sorted(size, key=lambda g: (-size[g], g)):
        f = min(range(3), key=lambda f: (load[f], f))
        fold_of[g] = f
        load[f] += size[g]
    rare_folds = {fold_of[g] for g, s in zip(groups, strata, strict=True) if s == "rare"}
    assert len(rare_folds) < 3  # the naive placement leaves a fold without "rare"
    folds = grouped_folds(keys, groups, strata, 3, seed=0)
    check_folds(folds, keys, groups)
    for f in folds:
        assert "rare" in {s for key, s in zip(keys, strata, strict=True) if key in f.test}


def test_a_spanning_artist_is_moved_where_greedy_placement_strands_a_stratum():
    # k = 2: g1 plays b and c, so g0 (b) and g2 (c) must share the other fold. Placing
    # strata one at a time leaves c out of a fold; the repair pass moves a group.
    keys = ["g0b0", "g0b1", "g1c0", "g1b0", "g2a0", "g2a1", "g2c0"]
    groups = ["g0", "g0", "g1", "g1", "g2", "g2", "g2"]
    strata = ["b", "b", "c", "b", "a", "a", "c"]
    folds = grouped_folds(keys, groups, strata, 2, seed=0)
    check_folds(folds, keys, groups)
    for f in folds:
        assert {"b", "c"} <= {s for key, s in zip(keys, strata, strict=True) if key in f.test}


def test_unscored_items_are_only_ever_trained_on():
    keys, groups, strata = random_items(2)
    scored = [i % 5 != 0 for i in range(len(keys))]
    # an unscored item in a group of its own (GTZAN's "-" tracks) is in every train side
    keys.append("lone"); groups.append("lone-group"); strata.append("a"); scored.append(False)
    folds = grouped_folds(keys, groups, strata, 4, seed=2, scored=scored)
    check_folds(folds, keys, groups, scored)
    assert all("lone" in f.train for f in folds)
    unscored = {k for k, sc in zip(keys, scored, strict=True) if not sc}
    group = dict(zip(keys, groups, strict=True))
    for f in folds:
        assert not unscored & set(f.test)
        tested_groups = {group[k] for k in f.test}
        # an unscored item of a group tested here is on neither side
        for k in unscored & {k for k in keys if group[k] in tested_groups}:
            assert k not in f.train


def test_impossible_coverage_is_named_not_hidden(caplog):
    # Three artists, each spanning two of three genres: two folds cannot hold every genre.
    keys = ["ab-a", "ab-b", "ac-a", "ac-c", "bc-b", "bc-c"]
    groups = ["ab", "ab", "ac", "ac", "bc", "bc"]
    strata = ["a", "b", "a", "c", "b", "c"]
    with caplog.at_level(logging.WARNING, logger="genred.training.cv"):
        folds = grouped_folds(keys, groups, strata, 2, seed=0)
    check_folds(folds, keys, groups)
    assert "left without a test item" in caplog.text


@pytest.mark.parametrize("bad", [
    dict(k=1), dict(keys=["a", "a", "b"]), dict(groups=["g"]), dict(k=4),
])
def test_bad_arguments_are_refused(bad):
    args = dict(keys=["a", "b", "c"], groups=["g1", "g2", "g3"], strata=["s"] * 3, k=2, seed=0)
    args.update(bad)
    with pytest.raises(ValueError):
        grouped_folds(**args)


# --- GTZAN ---------------------------------------------------------------------------------


def check_gtzan(plan, tracks, genres_everywhere):
    keys = [t.key for t in tracks]
    artist = plan.artist
    tested_in = defaultdict(list)
    for f in plan.folds:
        train_artists = {artist[k] for k in f.train} - {"-"}
        test_artists = {artist[k] for k in f.test}
        assert not train_artists & test_artists, f"fold {f.index}: an artist on both sides"
        assert "-" not in test_artists
        assert genres_everywhere <= {plan.genre[k] for k in f.test}
        for k in f.test:
            tested_in[k].append(f.index)
    for k in keys:
        assert len(tested_in[k]) == (0 if artist[k] == "-" else 1), k
    dashes = [k for k in keys if artist[k] == "-"]
    assert all(k in f.train for f in plan.folds for k in dashes)


def synthetic_gtzan(tmp_path):
    lines = ["# track\tartist_id"]
    tracks = []
    for gi, g in enumerate(("blues", "jazz", "rock")):
        for i in range(12):
            stem = f"{g}.{i:05d}"
            art = "-" if i == 11 else str(gi * 10 + i // 2)  # 6 artists of 2 tracks, one "-"
            lines.append(f"{g}/{stem}\t{art}")
            # full clips for some tracks, excerpts for others: one item each
            tracks.append(Track(g, stem, full=tmp_path / f"{stem}.flac" if i % 2 else None,
                                excerpt=tmp_path / f"{stem}.wav"))
    lines.append("jazz/jazz.00003\t0")  # a blues artist also plays jazz (a later line wins)
    path = tmp_path / "artists.tsv"
    path.write_text("\n".join(lines) + "\n")
    return tracks, path


def test_gtzan_folds_on_a_synthetic_artist_list(tmp_path):
    tracks, path = synthetic_gtzan(tmp_path)
    artists = read_artists(path)
    assert artists["jazz/jazz.00003"] == "0" and artists["blues/blues.00011"] == "-"
    plan = gtzan_folds(tracks, artists, k=4, seed=1)
    check_gtzan(plan, tracks, {"blues", "jazz", "rock"})
    fold_of = {k: f.index for f in plan.folds for k in f.test}
    assert fold_of["jazz/jazz.00003"] == fold_of["blues/blues.00000"]  # the artist, not the genre
    assert set(plan.unscored) == {"blues/blues.00011", "jazz/jazz.00011", "rock/rock.00011"}


def test_gtzan_folds_refuse_a_track_without_artist(tmp_path):
    tracks, path = synthetic_gtzan(tmp_path)
    tracks.append(Track("rock", "rock.00099", full=tmp_path / "x.flac"))
    with pytest.raises(DatasetError, match="no artist id for 1 track.*rock/rock.00099"):
        gtzan_folds(tracks, read_artists(path))


def test_read_artists_names_a_bad_line(tmp_path):
    path = tmp_path / "artists.tsv"
    path.write_text("blues/blues.00000\t3\nblues/blues.00001 4\n")
    with pytest.raises(DatasetError, match=r"artists.tsv, line 2"):
        read_artists(path)
    with pytest.raises(DatasetError, match="no such file"):
        read_artists(tmp_path / "none.tsv")


def test_gtzan_folds_on_the_real_artist_list(gtzan_dir, monkeypatch):
    from genred.training.cv import dev_plan

    monkeypatch.chdir(gtzan_dir.parent)  # a relative --data finds its lists and artists.tsv
    _, tracks, plan = dev_plan(gtzan_dir.name, k=4, seed=1)
    assert len(tracks) == 442  # 443 listed; jazz.00054 is the corrupt file
    check_gtzan(plan, tracks, set(t.genre for t in tracks))
    assert len(plan.unscored) == sum(plan.artist[t.key] == "-" for t in tracks) > 0
    # k = 5: blues has 4 artists with audio, so one fold has no blues; the rest are in all
    _, _, plan5 = dev_plan(gtzan_dir, k=5, seed=1)
    everywhere = {g for g in set(t.genre for t in tracks)
                  if len({plan5.artist[t.key] for t in tracks if t.genre == g} - {"-"}) >= 5}
    assert everywhere == set(t.genre for t in tracks) - {"blues"}
    check_gtzan(plan5, tracks, everywhere)


def _synthetic_dev(rng):
    """A DevData and Embeddings of 3 genres x 8 tracks x 6 windows, 2 folds, where the
    genres differ in the first 3 of 5 features only."""
    from genred.training.accurate_data import DevData, Embeddings
    from genred.training.cv import CvPlan, Fold
    from genred.training.dataset import Track
    from genred.training.train import EvalSet

    labels = ("blues", "country", "jazz")
    tracks = [Track(g, f"{g}.{i:05d}") for g in labels for i in range(8)]
    keys = tuple(t.key for t in tracks)
    label_of = np.array([labels.index(t.genre) for t in tracks])
    n_win = 6
    item = np.repeat(np.arange(len(tracks)), n_win)

    def emb():
        x = rng.normal(0, 1.0, (len(item), 5))
        x[np.arange(len(item)), label_of[item]] += 1.2
        return x

    def ev(name):
        return EvalSet(name, np.zeros((len(item), 2, 2), np.float32), np.zeros(len(item)), np.zeros(len(item), int), item,
                       tracks, label_of, ["full"] * len(tracks))

    folds = (Fold(0, keys[1::2], keys[0::2]), Fold(1, keys[0::2], keys[1::2]))
    plan = CvPlan(folds, {t.key: t.genre for t in tracks}, {k: k for k in keys}, (), 1)
    dev = DevData(labels, plan, keys, label_of, -9.0, ev("dev"), ev("dev_room"))
    return dev, Embeddings(emb(), item, emb(), emb())


def test_accurate_cv_scores_held_out_tracks_and_passes_the_feature_weight():
    from genred.training.accurate_cv import cross_validate

    dev, emb = _synthetic_dev(np.random.default_rng(5))
    plain = cross_validate(dev, emb, c=0.01, min_std=0.0)
    assert [f["test_tracks"] for f in plain.folds] == [12, 12]
    assert not np.isnan(plain.oof_clean).any() and plain.scored_items.tolist() == list(range(24))
    # Informative features: the held-out tracks are mostly right.
    assert plain.folds[0]["clean"]["all"]["track_accuracy"] >= 0.75
    ones = cross_validate(dev, emb, c=0.01, min_std=0.0, feature_weight=np.ones(5))
    np.testing.assert_allclose(ones.oof_clean, plain.oof_clean, atol=1e-6)
    # Weighting the two uninformative features up lets them in: other probabilities.
    noisy = cross_validate(dev, emb, c=0.01, min_std=0.0, feature_weight=np.r_[np.ones(3), 20.0, 20.0])
    assert np.abs(noisy.oof_clean - plain.oof_clean).max() > 0.05


def test_a_mixed_head_is_the_weighted_sum_of_its_two_heads_logits():
    from genred.training.accurate_cv import fold_head, mix_heads
    from genred.training.accurate_data import Embeddings
    from genred.training.teacher import fit_head

    rng = np.random.default_rng(2)
    dev, emb = _synthetic_dev(rng)
    # 5 "pooled" features and 50 "tags" (the last 50 columns, as head_inputs puts them).
    tags = lambda e: np.hstack([e, rng.normal(0, 1.0, (len(e), 50))])  # noqa: E731
    emb = Embeddings(tags(emb.grid), emb.grid_track, tags(emb.clean), tags(emb.room))
    y, track = dev.labels_of[emb.grid_track], emb.grid_track
    pooled = fit_head(emb.grid[:, :5], y, track, 3, c=0.1)
    tagged = fit_head(emb.grid, y, track, 3, c=0.01, feature_weight=np.r_[np.ones(5), np.full(50, 3.0)])
    x = emb.clean
    z1 = ((x[:, :5] - pooled.mean) / pooled.scale) @ pooled.coef.T + pooled.intercept
    z2 = ((x - tagged.mean) / tagged.scale) @ tagged.coef.T + tagged.intercept
    z = 0.7 * z1 + 0.3 * z2
    want = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(mix_heads(pooled, tagged, 0.3).probs(x), want / want.sum(1, keepdims=True), atol=1e-5)
    # fold_head builds the same mix from the fold's windows.
    got = fold_head(dev, emb, set(dev.keys), 0.1, 0.0, feature_weight=np.r_[np.ones(5), np.full(50, 3.0)],
                    tag_mix=(0.3, 0.01))
    np.testing.assert_allclose(got.probs(x), mix_heads(pooled, tagged, 0.3).probs(x), atol=1e-5)
    assert not np.allclose(got.probs(x), pooled.probs(x[:, :5]), atol=1e-2)
