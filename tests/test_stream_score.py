"""The stream score on hand-made published sequences with known answers."""

from __future__ import annotations

import math

import pytest

from genred.training.stream_score import Segment, playing_at, score_stream

# Three tracks back to back: rock 0-10 s, rock 10-20 s (no true change), jazz 20-30 s.
SEGMENTS = [Segment(0, 10, "rock", "a"), Segment(10, 20, "rock", "b"), Segment(20, 30, "jazz", "c")]
TIMES = [float(t) for t in range(3, 31)]  # a window ends every second from 3 s to 30 s


def states(spec):
    """'R' rock, 'J' jazz, 'B' blues, '.' uncertain/silence, one per window."""
    names = {"R": "rock", "J": "jazz", "B": "blues", ".": None}
    assert len(spec) == len(TIMES)
    return [names[c] for c in spec]


def test_playing_at_the_boundaries():
    assert playing_at(SEGMENTS, [0.0, 9.99, 10.0, 20.0, 30.0, 30.5, -1.0]) == [
        "rock", "rock", "rock", "jazz", "jazz", None, None]


def test_a_perfect_stream():
    # windows at 3..19 s say rock (17), 20..30 s jazz (11)
    s = score_stream(TIMES, states("R" * 17 + "J" * 11), SEGMENTS)
    assert s.windows == 28 and s.right_share == 1.0
    assert s.true_changes == 1 and s.published_changes == 1 and s.per_true_change == 1.0
    assert s.wrong_changes == 0 and s.wrong_changes_per_hour == 0.0
    assert s.latencies_s == (3.0, 0.0) and s.median_latency_s == 1.5 and s.never_found == 0
    assert s.hours == pytest.approx(30 / 3600)


def test_late_uncertain_and_a_wrong_flip():
    # rock from 5 s; a blues flip at 12-13 s; uncertain 20-23 s; jazz from 24 s
    spec = ".." + "R" * 7 + "BB" + "R" * 6 + "...." + "J" * 7
    s = score_stream(TIMES, states(spec), SEGMENTS)
    right = 7 + 6 + 7
    assert s.right_share == pytest.approx(right / 28)
    # rock -> blues (wrong), blues -> rock (right genre: not wrong), rock -> jazz (right)
    assert s.published_changes == 3 and s.wrong_changes == 1
    assert s.per_true_change == 3.0
    assert s.wrong_changes_per_hour == pytest.approx(1 / (30 / 3600))
    assert s.latencies_s == (5.0, 4.0) and s.median_latency_s == 4.5


def test_a_gap_of_uncertain_between_equal_genres_is_no_change():
    spec = "R" * 5 + "..." + "R" * 9 + "J" * 11
    s = score_stream(TIMES, states(spec), SEGMENTS)
    assert s.published_changes == 1 and s.wrong_changes == 0
    assert s.right_share == pytest.approx(25 / 28)


def test_a_genre_never_published_is_never_found():
    # jazz is never published: the stream stays on rock to the end
    s = score_stream(TIMES, states("R" * 28), SEGMENTS)
    assert s.published_changes == 0 and s.per_true_change == 0.0
    assert s.latencies_s == (3.0, math.inf) and s.never_found == 1
    assert math.isinf(s.median_latency_s)  # half never found
    d = s.to_dict()
    assert d["latencies_s"] == [3.0, None] and d["median_latency_s"] is None
    # a late change to jazz after jazz has stopped would not count: here it plays to the end
    late = score_stream(TIMES, states("R" * 27 + "J"), SEGMENTS)
    assert late.latencies_s == (3.0, 10.0)


def test_a_wrong_change_to_the_genre_that_comes_next_is_wrong_until_it_plays():
    spec = "R" * 14 + "JJJ" + "J" * 11  # jazz published from 17 s: 3 s before it starts
    s = score_stream(TIMES, states(spec), SEGMENTS)
    assert s.published_changes == 1 and s.wrong_changes == 1
    assert s.latencies_s == (3.0, 0.0)  # jazz is already published when it starts (at 20 s)


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        score_stream([1.0, 2.0], ["rock"], SEGMENTS)
    with pytest.raises(ValueError):
        score_stream([2.0, 1.0], ["rock", "rock"], SEGMENTS)
    with pytest.raises(ValueError):
        score_stream([], [], [])
