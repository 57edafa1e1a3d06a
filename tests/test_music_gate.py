"""The `no_music` state: genred.dsp.smoothing with a music detector's probabilities,
on synthetic sequences (the detector model itself is tested in test_music_detector.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genred.dsp.smoothed_state import STATUS_NO_MUSIC
from genred.dsp.smoother_params import SmootherParams
from genred.dsp.smoothing import Smoother

LABELS = ("rock", "jazz", "classical")
ROCK = np.array([0.8, 0.1, 0.1])
TALK = np.array([0.1, 0.8, 0.1])  # what the genre model makes of speech (hiphop on the real one)
SPEECH_P, MUSIC_P, TALK_OVER_P = 0.05, 0.95, 0.1
LOUD_DB, QUIET_DB = -20.0, -90.0


def run(sm: Smoother, seq, hop_s: float = 1.0, t0_s: float = 0.0):
    """Feed (probabilities, music_probability[, level_db]) at t = t0 + (i+1) * hop."""
    out = []
    for i, item in enumerate(seq):
        p, m, *lvl = item
        out.append(sm.process(p, lvl[0] if lvl else LOUD_DB, t0_s + (i + 1) * hop_s, music_probability=m))
    return out


def changes(states):
    out, prev = [], None
    for s in states:
        if (s.status, s.genre) != prev:
            out.append((s.since_s, s.status, s.genre))
            prev = (s.status, s.genre)
    return out


def n_of(seconds: float, hop_s: float) -> int:
    return int(round(seconds / hop_s))


# --- the first window decides ---------------------------------------------------------


def test_speech_is_no_music_from_the_first_window():
    states = run(Smoother(LABELS), [(TALK, SPEECH_P)] * 20)
    assert changes(states) == [(1.0, STATUS_NO_MUSIC, None)]
    for s in states:
        assert s.genre is None and s.probabilities == (0.0, 0.0, 0.0)
        assert s.music_probability == pytest.approx(SPEECH_P)
        assert s.confidence == pytest.approx(1 - SPEECH_P)
    # Without a detector the same windows publish the genre speech looks like.
    assert changes(run(Smoother(LABELS), [(TALK, None)] * 20)) == [(1.0, "music", "jazz")]


def test_music_gives_the_genre_from_the_first_window():
    states = run(Smoother(LABELS), [(ROCK, MUSIC_P)] * 20)
    assert changes(states) == [(1.0, "music", "rock")]
    assert states[-1].confidence == pytest.approx(0.8) and states[-1].music_probability == pytest.approx(MUSIC_P)


def test_first_window_threshold_is_the_midpoint():
    prm = SmootherParams()
    mid = (prm.music_on + prm.music_off) / 2
    assert Smoother(LABELS).process(ROCK, LOUD_DB, 1.0, music_probability=mid).status == "music"
    below = float(np.nextafter(mid, 0.0))
    assert Smoother(LABELS).process(ROCK, LOUD_DB, 1.0, music_probability=below).status == STATUS_NO_MUSIC


# --- a talk-over inside music ----------------------------------------------------------


def test_talk_over_keeps_the_genre_and_does_not_move_its_average():
    seq = [(ROCK, MUSIC_P)] * 20 + [(TALK, TALK_OVER_P)] * 5 + [(ROCK, MUSIC_P)] * 10
    states = run(Smoother(LABELS), seq)
    assert changes(states) == [(1.0, "music", "rock")]
    held = states[19].probabilities
    assert all(s.probabilities == held for s in states[20:25])
    # The smoothed music probability did fall below music_off (from t = 24), just not for long.
    assert states[23].music_probability < SmootherParams().music_off < states[22].music_probability
    # With every window folded in (music_off = 0), the same talk-over pulls the average to jazz.
    folded = run(Smoother(LABELS, SmootherParams(music_off=0.0)), seq)
    assert folded[24].probabilities[1] > held[1] + 0.3


# --- long talk, and music again -----------------------------------------------------------


@pytest.mark.parametrize("hop_s", [0.5, 1.0])
def test_long_talk_ends_music_after_no_music_hold(hop_s):
    prm = SmootherParams()
    seq = [(ROCK, MUSIC_P)] * n_of(20, hop_s) + [(TALK, TALK_OVER_P)] * n_of(15, hop_s)
    states = run(Smoother(LABELS, prm), seq, hop_s)
    # Smoothed m = 0.1 + 0.85 exp(-(t - 20) / music_tau_s) crosses music_off at t_cross;
    # it must then stay below for no_music_hold_s.
    t_cross_s = 20 + prm.music_tau_s * math.log((MUSIC_P - TALK_OVER_P) / (prm.music_off - TALK_OVER_P))
    ch = changes(states)
    assert [(status, genre) for _, status, genre in ch] == [("music", "rock"), (STATUS_NO_MUSIC, None)]
    t_off_s = ch[1][0]
    assert t_cross_s + prm.no_music_hold_s - 1e-9 <= t_off_s < t_cross_s + prm.no_music_hold_s + hop_s
    before = [s for s in states if s.status == "music"]
    assert all(s.probabilities == before[0].probabilities for s in before)  # rock held throughout
    after = [s for s in states if s.status == STATUS_NO_MUSIC]
    assert after and all(s.probabilities == (0.0, 0.0, 0.0) for s in after)
    assert after[0].confidence == pytest.approx(1 - after[0].music_probability)


@pytest.mark.parametrize("hop_s", [0.5, 1.0])
def test_back_to_music_after_music_hold_starts_fresh(hop_s):
    prm = SmootherParams()
    seq = [(TALK, SPEECH_P)] * n_of(10, hop_s) + [(ROCK, MUSIC_P)] * n_of(15, hop_s)
    states = run(Smoother(LABELS, prm), seq, hop_s)
    t_cross_s = 10 + prm.music_tau_s * math.log((MUSIC_P - SPEECH_P) / (MUSIC_P - prm.music_on))
    ch = changes(states)
    assert [(status, genre) for _, status, genre in ch] == [(STATUS_NO_MUSIC, None), ("music", "rock")]
    t_on_s = ch[1][0]
    assert t_cross_s + prm.music_hold_s - 1e-9 <= t_on_s < t_cross_s + prm.music_hold_s + hop_s
    # The genre average starts from the first music window: nothing of the talk is in it.
    first = next(s for s in states if s.status == "music")
    assert first.probabilities == pytest.approx(tuple(ROCK))
    # Without the detector the talk would have made jazz current first.
    plain = run(Smoother(LABELS, prm), [(p, None) for p, _ in seq], hop_s)
    assert changes(plain)[0][2] == "jazz"


def test_music_after_no_music_forgets_the_old_genre():
    jazz = TALK  # the same probabilities, this time with music playing
    seq = [(ROCK, MUSIC_P)] * 20 + [(TALK, TALK_OVER_P)] * 20 + [(jazz, MUSIC_P)] * 15
    states = run(Smoother(LABELS), seq)
    assert [(status, genre) for _, status, genre in changes(states)] == [
        ("music", "rock"), (STATUS_NO_MUSIC, None), ("music", "jazz"),  # jazz at once: no challenge of rock
    ]
    first = next(s for s in states[40:] if s.status == "music")
    assert first.probabilities == pytest.approx(tuple(jazz))


def test_switch_times_do_not_depend_on_hop():
    def times(hop_s):
        seq = [(ROCK, MUSIC_P)] * n_of(20, hop_s) + [(TALK, TALK_OVER_P)] * n_of(20, hop_s) + [(ROCK, MUSIC_P)] * n_of(20, hop_s)
        return [t for t, _, _ in changes(run(Smoother(LABELS), seq, hop_s))]

    coarse = times(1.0)
    assert len(coarse) == 3
    for hop_s in (0.25, 0.5):
        fine = times(hop_s)
        assert len(fine) == 3 and all(abs(a - b) < 1.0 for a, b in zip(fine, coarse, strict=True))


def test_zero_holds_switch_on_the_first_window_past_the_threshold():
    sm = Smoother(LABELS, SmootherParams(music_tau_s=1e-3, music_hold_s=0.0, no_music_hold_s=0.0))
    seq = [(ROCK, 0.9)] * 3 + [(TALK, 0.3)] + [(TALK, 0.5)] + [(ROCK, 0.6)]
    assert [s.status for s in run(sm, seq)] == ["music"] * 3 + [STATUS_NO_MUSIC] * 2 + ["music"]


# --- silence and reset --------------------------------------------------------------------


def test_silence_wins_and_clears_the_music_average():
    seq = [(ROCK, MUSIC_P)] * 10 + [(ROCK, MUSIC_P, QUIET_DB)] * 2 + [(TALK, SPEECH_P, QUIET_DB)] * 2
    seq += [(TALK, SPEECH_P)] * 3
    states = run(Smoother(LABELS), seq)
    assert changes(states) == [(1.0, "music", "rock"), (11.0, "silence", None), (15.0, STATUS_NO_MUSIC, None)]
    assert all(s.music_probability is None and s.confidence == 0.0 for s in states[10:14])
    # The first window after silence decided at once: no 8 s hold from the old music average.
    assert states[14].music_probability == pytest.approx(SPEECH_P)


def test_reset_clears_the_music_state():
    sm = Smoother(LABELS)
    run(sm, [(ROCK, MUSIC_P)] * 20)
    sm.reset()
    s = sm.process(TALK, LOUD_DB, 0.5, music_probability=SPEECH_P)
    assert (s.status, s.since_s, s.music_probability) == (STATUS_NO_MUSIC, 0.5, pytest.approx(SPEECH_P))


def test_as_dict_carries_the_music_probability_only_with_a_detector():
    sm = Smoother(LABELS)
    assert sm.process(ROCK, LOUD_DB, 1.0, music_probability=0.25).as_dict(LABELS)["music_probability"] == 0.25
    assert "music_probability" not in Smoother(LABELS).process(ROCK, LOUD_DB, 1.0).as_dict(LABELS)


# --- invariants and validation -------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
            st.floats(0.0, 1.0),
            st.sampled_from([LOUD_DB, LOUD_DB, QUIET_DB]),
            st.floats(0.05, 3.0),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_invariants_with_a_detector(windows):
    sm = Smoother(LABELS)
    t = 0.0
    for p, m, lvl, dt in windows:
        t += dt
        s = sm.process(np.array(p), lvl, t, music_probability=m)
        assert (s.genre is not None) == (s.status == "music")
        if s.status == "silence":
            assert s.music_probability is None
        else:
            assert s.music_probability is not None and 0.0 <= s.music_probability <= 1.0
        if s.status == STATUS_NO_MUSIC:
            assert s.probabilities == (0.0, 0.0, 0.0)
            assert s.confidence == pytest.approx(1.0 - s.music_probability)


@pytest.mark.parametrize("bad", [float("nan"), -0.01, 1.01, "x", float("inf")])
def test_bad_music_probability_is_rejected(bad):
    with pytest.raises(ValueError, match="music_probability"):
        Smoother(LABELS).process(ROCK, LOUD_DB, 1.0, music_probability=bad)


@pytest.mark.parametrize(
    "field, value",
    [("music_tau_s", 0.0), ("music_on", 1.01), ("music_off", -0.1), ("music_hold_s", -1.0),
     ("no_music_hold_s", float("inf")), ("music_on", True)],
)
def test_music_params_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SmootherParams(**{field: value})


def test_music_off_above_music_on_is_refused_in_one_line():
    with pytest.raises(ValueError) as info:
        SmootherParams(music_on=0.5, music_off=0.6)
    assert str(info.value) == "music_off must be <= music_on (0.5), not 0.6"
    with pytest.raises(ValueError, match=r"^smoothing: music_off must be <= music_on \(0.5\)"):
        SmootherParams.from_dict({"music_on": 0.5, "music_off": 0.6})
    assert SmootherParams(music_on=0.5, music_off=0.5).music_off == 0.5  # equal is allowed
