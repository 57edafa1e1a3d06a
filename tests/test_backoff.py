"""The one back-off policy (daemon/backoff.py), as capture and MQTT use it."""

from __future__ import annotations

import pytest

from genred.daemon.backoff import Backoff


def test_delays_double_from_min_to_max_and_stay_there():
    policy = Backoff(1.0, 30.0)
    delays = [policy.min_s]
    for _ in range(7):
        delays.append(policy.after(delays[-1]))
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]


def test_a_delay_below_min_is_raised_to_min():
    # MQTT sets the delay to max after a refusal and to min after a success; a smaller
    # one (a setting changed under it) never makes the wait shorter than min_s.
    assert Backoff(0.5, 4.0).after(0.1) == 0.5
    assert Backoff(0.5, 4.0).after(4.0) == 4.0


def test_equal_jitter_spans_half_to_all_of_the_delay():
    policy = Backoff(1.0, 8.0)
    assert policy.jittered(8.0, uniform=lambda lo, hi: lo) == 4.0
    assert policy.jittered(8.0, uniform=lambda lo, hi: hi) == 8.0
    seen = []
    policy.jittered(6.0, uniform=lambda lo, hi: seen.append((lo, hi)) or lo)
    assert seen == [(0, 3.0)]


@pytest.mark.parametrize("low, high", [(0.0, 1.0), (-1.0, 1.0), (2.0, 1.0)])
def test_bad_bounds_are_refused(low, high):
    with pytest.raises(ValueError, match="0 < min_s <= max_s"):
        Backoff(low, high)
