"""The label -> probability dict (dsp/labels.py) that replay, the MQTT state and the
smoother's as_dict all print."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genred.dsp.labels import PROBABILITY_DIGITS, label_probabilities

LABELS = ("rock", "jazz", "classical")


def test_keyed_by_label_in_label_order_and_rounded_as_printed():
    probs = np.array([0.123456, 0.87649, 6e-5], dtype=np.float32)
    d = label_probabilities(LABELS, probs, PROBABILITY_DIGITS)
    assert list(d) == list(LABELS)
    assert d == {"rock": 0.1235, "jazz": 0.8765, "classical": 0.0001}
    assert all(type(v) is float for v in d.values())
    assert json.loads(json.dumps(d)) == d


def test_unrounded_it_keeps_each_value():
    probs = np.array([0.123456, 0.87649, 5e-5], dtype=np.float32)
    d = label_probabilities(LABELS, probs)
    assert [d[k] for k in LABELS] == [float(p) for p in probs]


def test_a_count_mismatch_is_refused_not_cut_short():
    with pytest.raises(ValueError, match="got 2 labels for 3 probabilities"):
        label_probabilities(LABELS[:2], [0.2, 0.3, 0.5], PROBABILITY_DIGITS)
