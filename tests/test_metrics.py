"""The one set of scores (dsp/metrics.py): hand-computed values on a fixed confusion, and
the training side's scores (track_scores, the baselines') read off it unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from genred.dsp.metrics import accuracy, confusion_matrix, macro_recall, precisions, recalls, scores

LABELS = ("a", "b", "c", "d")
# a: 4 true, 3 right (one called b); b: 2 true, 1 right (one called a); c: 3 true, 2 right
# (one called d); d: no true example, predicted once.
Y_TRUE = [0, 0, 0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 0, 0, 1, 1, 0, 2, 2, 3]


def test_scores_on_a_fixed_confusion_are_the_hand_computed_ones():
    s = scores(Y_TRUE, Y_PRED, LABELS)
    assert s["confusion"] == [[3, 1, 0, 0], [1, 1, 0, 0], [0, 0, 2, 1], [0, 0, 0, 0]]
    assert s["n"] == 9
    assert s["accuracy"] == pytest.approx(6 / 9, abs=1e-15)
    # d has no true example: no recall, and left out of the mean (not counted as 0).
    assert s["macro_recall"] == pytest.approx((3 / 4 + 1 / 2 + 2 / 3) / 3, abs=1e-15)
    assert s["per_label"] == {
        "a": {"n": 4, "recall": 0.75, "precision": 0.75},
        "b": {"n": 2, "recall": 0.5, "precision": 0.5},
        "c": {"n": 3, "recall": pytest.approx(2 / 3, abs=1e-15), "precision": 1.0},
        "d": {"n": 0, "recall": None, "precision": 0.0},
    }


def test_the_parts_agree_with_scores_and_say_none_where_nothing_was_seen():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 4)
    assert recalls(cm) == [0.75, 0.5, pytest.approx(2 / 3, abs=1e-15), None]
    assert precisions(cm) == [0.75, 0.5, 1.0, 0.0]
    assert precisions(confusion_matrix([0, 1], [0, 0], 3)) == [0.5, None, None]
    empty = confusion_matrix([], [], 3)
    assert accuracy(empty) is None and macro_recall(empty) is None and recalls(empty) == [None] * 3


def _old_train_scores(probs, item, item_label, n_classes):
    """training/train.py's track_scores before it read the shared metrics (the formulas
    the shipped report's numbers came from)."""
    pred_w = probs.argmax(axis=1)
    true_w = item_label[item]
    sums = np.zeros((len(item_label), n_classes))
    np.add.at(sums, item, probs)
    counts = np.bincount(item, minlength=len(item_label))[:, None]
    pred_t = (sums / np.maximum(counts, 1)).argmax(axis=1)
    present = np.unique(item_label)

    def macro(true, pred):
        return float(np.mean([np.mean(pred[true == c] == c) for c in present]))

    return {
        "window_accuracy": float(np.mean(pred_w == true_w)),
        "window_macro_recall": macro(true_w, pred_w),
        "track_accuracy": float(np.mean(pred_t == item_label)),
        "track_macro_recall": macro(item_label, pred_t),
        "per_genre": {int(g): float(np.mean(pred_t[item_label == g] == g)) for g in present},
    }


@pytest.mark.parametrize("seed", range(6))
def test_track_scores_give_the_numbers_the_old_formulas_gave_to_the_bit(seed):
    from genred.training.dataset import Track
    from genred.training.train import EvalSet, track_scores

    rng = np.random.default_rng(seed)
    n_classes, n_items = 10, int(rng.integers(20, 200))
    # Genres 3 and 7 absent, as hiphop and reggae are from GTZAN's valid split.
    item_label = rng.choice([0, 1, 2, 4, 5, 6, 8, 9], size=n_items)
    item = np.repeat(np.arange(n_items), rng.integers(1, 30, size=n_items))
    probs = rng.dirichlet(np.ones(n_classes), size=len(item)).astype(np.float32)
    probs[:, item_label[item]] += rng.uniform(0, 0.3, size=len(item)).astype(np.float32)[:, None]  # some skill
    ev = EvalSet("valid", np.zeros((len(item), 0, 0), np.float32), np.zeros(len(item)), np.arange(len(item)), item,
                 [Track(str(g), f"t{i}") for i, g in enumerate(item_label)], item_label, ["full"] * n_items)
    new, old = track_scores(probs, ev, n_classes), _old_train_scores(probs, item, item_label, n_classes)
    for key in ("window_accuracy", "window_macro_recall", "track_accuracy", "track_macro_recall"):
        assert new[key] == old[key], key  # exact: the report's numbers must not move
    assert {g: r for g, r in enumerate(new["track_recalls"]) if r is not None} == old["per_genre"]
    assert new["track_recalls"][3] is None and new["track_recalls"][7] is None


def test_track_scores_on_a_hand_made_set():
    from genred.training.dataset import Track
    from genred.training.train import EvalSet, track_scores

    # Three tracks (labels 0, 1, 0); windows 0-1 of track 0, 2 of track 1, 3-5 of track 2.
    item = np.array([0, 0, 1, 2, 2, 2])
    probs = np.array([[0.9, 0.1, 0], [0.2, 0.8, 0], [0.7, 0.3, 0], [0.2, 0.8, 0], [0.3, 0.7, 0], [0.6, 0.4, 0]],
                     np.float32)
    ev = EvalSet("valid", np.zeros((6, 0, 0), np.float32), np.zeros(6), np.arange(6), item,
                 [Track("a", "a.0"), Track("b", "b.0"), Track("a", "a.1")], np.array([0, 1, 0]), ["full"] * 3)
    s = track_scores(probs, ev, 3)
    # Windows right: 0 (a), 5 (a); wrong: 1, 2, 3, 4. Track means: t0 a (0.55), t1 a (0.7), t2 b (0.633).
    assert s["window_accuracy"] == pytest.approx(2 / 6)
    assert s["window_macro_recall"] == pytest.approx((2 / 5 + 0 / 1) / 2)
    assert s["item_pred"].tolist() == [0, 0, 1]
    assert s["track_accuracy"] == pytest.approx(1 / 3)
    assert s["track_recalls"] == [0.5, 0.0, None]
    assert s["track_macro_recall"] == pytest.approx(0.25)


def test_baseline_scores_read_the_shared_metrics():
    from genred.training.baselines import scores as baseline_scores

    probs = np.eye(4, dtype=np.float32)[Y_PRED]
    s = baseline_scores(np.array(Y_TRUE), probs)
    assert s == {"accuracy": pytest.approx(6 / 9, abs=1e-15),
                 "macro_recall": pytest.approx((3 / 4 + 1 / 2 + 2 / 3) / 3, abs=1e-15), "n": 9}
