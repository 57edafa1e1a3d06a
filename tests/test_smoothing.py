"""Tests of genred.dsp.smoothing on synthetic probability sequences."""

from __future__ import annotations

import itertools
import json
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from genred.dsp.smoothed_state import SmoothedState
from genred.dsp.smoother_params import SmootherParams
from genred.dsp.smoothing import Smoother

LABELS = ("rock", "jazz", "classical")
A = np.array([0.8, 0.1, 0.1])  # rock
B = np.array([0.1, 0.8, 0.1])  # jazz
# Jazz leads rock by more than the margin while rock stays above the floor, so the
# state stays "music" (rock) until jazz takes over.
B_LEAD = np.array([0.42, 0.55, 0.03])
C_LEAD = np.array([0.42, 0.03, 0.55])  # the same for classical
LOUD_DB = -20.0
QUIET_DB = -90.0  # a quiet room: below the silence gate (-70)
# Smoothing so fast that the smoothed probabilities equal the input (alpha == 1.0
# for any hop >= 0.1 s): isolates the hysteresis logic from the EMA.
RAW_EMA = dict(tau_s=1e-3)


def run(smoother: Smoother, seq, hop_s: float = 1.0, t0_s: float = 0.0, level_db=LOUD_DB):
    """Feed (probabilities) or (probabilities, level_db) items at t = t0 + (i+1)*hop."""
    out = []
    for i, item in enumerate(seq):
        if isinstance(item, tuple):
            p, lvl = item
        else:
            p, lvl = item, level_db
        out.append(smoother.process(np.asarray(p, dtype=float), lvl, t0_s + (i + 1) * hop_s))
    return out


def times(n: int, hop_s: float, t0_s: float = 0.0) -> list[float]:
    return [t0_s + (i + 1) * hop_s for i in range(n)]


def changes(states: list[SmoothedState]) -> list[tuple[float, str, str | None]]:
    """(t_s, status, genre) of every published change, the first window included."""
    out, prev = [], None
    for s in states:
        key = (s.status, s.genre)
        if key != prev:
            out.append((s.since_s, s.status, s.genre))
            prev = key
    return out


# --- steady input, outliers, real changes ---------------------------------------


def test_steady_input_gives_one_stable_genre():
    sm = Smoother(LABELS)
    states = run(sm, [A] * 60)
    assert all(s.status == "music" and s.genre == "rock" for s in states)
    assert all(s.since_s == 1.0 for s in states)
    assert states[-1].confidence == pytest.approx(0.8)
    assert states[-1].probabilities == pytest.approx(tuple(A))


def test_first_window_starts_the_average():
    # alpha = 1 on the first window: the state reflects that window at once.
    sm = Smoother(LABELS)
    s = sm.process(B, LOUD_DB, 5.0)
    assert s.status == "music" and s.genre == "jazz" and s.since_s == 5.0
    assert s.probabilities == pytest.approx(tuple(B))


@pytest.mark.parametrize("hop_s", [0.5, 1.0])
def test_single_outlier_window_never_changes_genre(hop_s):
    onehot_jazz = np.array([0.0, 1.0, 0.0])
    n = int(20 / hop_s)
    seq = [A] * n + [onehot_jazz] + [A] * n
    states = run(Smoother(LABELS), seq, hop_s)
    assert changes(states) == [(hop_s, "music", "rock")]


def test_burst_shorter_than_hold_does_not_switch():
    # 5 s of jazz: the smoothed jazz leads rock by the margin for about 2 s only
    # (t = 24, 25). Rock dips below the floor meanwhile ("uncertain"), then comes back.
    seq = [A] * 20 + [B] * 5 + [A] * 20
    states = run(Smoother(LABELS), seq)
    assert changes(states) == [
        (1.0, "music", "rock"),
        (24.0, "uncertain", None),
        (26.0, "music", "rock"),
    ]
    assert not any(s.genre == "jazz" for s in states)
    # ... while without the hold the same burst does switch (the test can fail).
    states = run(Smoother(LABELS, SmootherParams(switch_hold_s=0.0)), seq)
    assert [g for _, _, g in changes(states)] == ["rock", "jazz", "rock"]


@pytest.mark.parametrize("hop_s", [0.5, 1.0])
def test_real_change_takes_over_after_hold_independent_of_hop(hop_s):
    prm = SmootherParams()
    t_change_s = 20.0  # windows ending after this carry jazz
    n = int(round(60 / hop_s))
    ts = times(n, hop_s)
    seq = [A if t <= t_change_s else B for t in ts]
    states = run(Smoother(LABELS, prm), seq, hop_s)
    # Smoothed d = p_jazz - p_rock = 0.7 - 1.4 exp(-(t - t_change) / tau); it reaches
    # the margin at t_cross, and jazz must then lead for switch_hold_s.
    t_cross_s = t_change_s + prm.tau_s * math.log(1.4 / (0.7 - prm.switch_margin))
    expected_s = t_cross_s + prm.switch_hold_s
    ch = changes(states)
    # With two-class inputs rock falls below the floor exactly when jazz reaches the
    # margin, so the handover shows "uncertain" for the hold time.
    assert [(st_, g) for _, st_, g in ch] == [
        ("music", "rock"),
        ("uncertain", None),
        ("music", "jazz"),
    ]
    assert t_cross_s - 1e-9 <= ch[1][0] < t_cross_s + hop_s
    t_switch_s = ch[2][0]
    assert expected_s - 1e-9 <= t_switch_s < expected_s + hop_s
    # The first window that shows jazz is the switch itself.
    first_jazz = next(s for s in states if s.genre == "jazz")
    assert first_jazz.since_s == t_switch_s


def test_switch_time_does_not_depend_on_hop():
    # A coarse and a fine hop over the same piecewise-constant input switch within one
    # coarse hop of each other; a per-window (not per-second) EMA would not.
    def switch_time(hop_s):
        ts = times(int(round(60 / hop_s)), hop_s)
        states = run(Smoother(LABELS), [A if t <= 20.0 else B for t in ts], hop_s)
        return next(s.since_s for s in states if s.genre == "jazz")

    assert abs(switch_time(0.25) - switch_time(1.0)) < 1.0
    assert abs(switch_time(0.5) - switch_time(1.0)) < 1.0


def test_hold_is_measured_in_stream_time_across_a_gap():
    # The run of leading windows is measured in t_s, so a gap in the stream counts.
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))
    run(sm, [A] * 10)  # t = 1..10
    assert sm.process(B_LEAD, LOUD_DB, 11.0).genre == "rock"  # clock starts at 11
    assert sm.process(B_LEAD, LOUD_DB, 15.0).genre == "jazz"  # 4 s >= 3 s hold


# --- the challenger's clock ------------------------------------------------------


@pytest.mark.parametrize("n_before", range(5, 40, 3))
def test_hold_of_whole_hops_survives_accumulated_float_time(n_before):
    # Times built by adding 0.1 s hops are off by an ulp or so; a run of exactly
    # switch_hold_s (3 hops here) must still be enough.
    sm = Smoother(LABELS, SmootherParams(switch_hold_s=0.3, **RAW_EMA))
    t, genres = 0.0, []
    for p in [A] * n_before + [B_LEAD] * 6:
        t += 0.1
        genres.append(sm.process(p, LOUD_DB, t).genre)
    assert genres.index("jazz") == n_before + 3


def test_window_without_margin_restarts_the_clock():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))  # hold 3 s, margin 0.1
    tie = np.array([0.42, 0.46, 0.12])  # jazz leads, but by less than the margin
    seq = [A] * 10 + [B_LEAD, B_LEAD, tie] + [B_LEAD] * 10  # t=11,12 lead; 13 not; 14.. lead
    ch = changes(run(sm, seq))
    assert ch == [(1.0, "music", "rock"), (17.0, "music", "jazz")]  # 14 + 3


def test_different_challenger_restarts_the_clock():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))
    seq = [A] * 10 + [B_LEAD, B_LEAD] + [C_LEAD] * 10  # jazz leads at 11, 12; classical from 13
    ch = changes(run(sm, seq))
    assert ch == [(1.0, "music", "rock"), (16.0, "music", "classical")]  # 13 + 3


def test_zero_hold_switches_on_first_window_with_margin():
    sm = Smoother(LABELS, SmootherParams(switch_hold_s=0.0, **RAW_EMA))
    ch = changes(run(sm, [A] * 5 + [B_LEAD] * 5))
    assert ch == [(1.0, "music", "rock"), (6.0, "music", "jazz")]


# --- near ties -------------------------------------------------------------------

TIE_AB = np.array([0.6, 0.3, 0.1])
TIE_BA = np.array([0.3, 0.6, 0.1])


@pytest.mark.parametrize(
    "pattern",
    [
        [TIE_AB, TIE_BA],  # the leader alternates every window
        [TIE_AB, TIE_AB, TIE_BA, TIE_BA],  # ... every two windows
        [np.array([0.47, 0.43, 0.10]), np.array([0.43, 0.47, 0.10])],
    ],
    ids=["period1", "period2", "narrow"],
)
def test_alternating_near_ties_do_not_flap(pattern):
    seq = pattern * 150
    states = run(Smoother(LABELS), seq)
    assert len(changes(states)) == 1
    assert all(s.status == "music" for s in states)
    # Without smoothing and hysteresis the same input flaps on most windows.
    raw = Smoother(LABELS, SmootherParams(switch_margin=0.0, switch_hold_s=0.0, **RAW_EMA))
    assert len(changes(run(raw, seq))) > 100


# --- silence ---------------------------------------------------------------------


def test_silence_gate_and_fresh_start_after_silence():
    sm = Smoother(LABELS)
    seq = [A] * 20 + [(A, QUIET_DB)] * 5 + [B] * 10
    states = run(sm, seq)
    assert changes(states) == [
        (1.0, "music", "rock"),
        (21.0, "silence", None),
        (26.0, "music", "jazz"),  # at once: the EMA and the current genre were cleared
    ]
    for s in states[20:25]:
        assert s.status == "silence" and s.genre is None and s.confidence == 0.0
        assert s.probabilities == (0.0, 0.0, 0.0)
        assert s.since_s == 21.0
    assert states[25].probabilities == pytest.approx(tuple(B))  # alpha = 1 after silence


def test_same_genre_after_silence_is_a_new_music_state():
    states = run(Smoother(LABELS), [A] * 5 + [(A, QUIET_DB)] + [A] * 5)
    assert changes(states) == [
        (1.0, "music", "rock"),
        (6.0, "silence", None),
        (7.0, "music", "rock"),
    ]


def test_silence_threshold_is_strict_and_minus_inf_is_silence():
    prm = SmootherParams()
    sm = Smoother(LABELS, prm)
    assert sm.process(A, prm.silence_db, 1.0).status == "music"
    assert sm.process(A, prm.silence_db - 0.01, 2.0).status == "silence"
    assert sm.process(A, float("-inf"), 3.0).status == "silence"


def test_the_default_gate_lets_quiet_music_through_and_keeps_microphone_noise_out():
    """The brief: music at any level down to -40 dBFS, through a room. Music peaking at
    -40 dBFS after the simulated room keeps nearly all its windows above the default gate;
    the simulator's loudest microphone self-noise (-80 dBFS rms) stays below it."""
    import dataclasses

    from signals import music_like

    from genred.dsp.params import LogMelParams, WindowParams
    from genred.dsp.windows import cut_windows, window_level_db
    from genred.training.augment import RoomParams, simulate_room
    from genred.training.features import audio_frames

    fe, win, gate = LogMelParams(), WindowParams(), SmootherParams().silence_db

    def levels(x: np.ndarray) -> np.ndarray:
        return np.array([window_level_db(w.frames, fe) for w in cut_windows(audio_frames(x.astype(np.float32), fe), win)])

    quiet_room = dataclasses.replace(RoomParams(), gain_db=(-40.0, -40.0))
    music = [simulate_room(music_like(12.0, fe.sample_rate_hz, seed=s), fe.sample_rate_hz, np.random.default_rng(s),
                           quiet_room)[0] for s in range(4)]
    heard = np.concatenate([levels(m) for m in music])
    assert np.mean(heard >= gate) >= 0.95, np.percentile(heard, [1, 5, 50])
    mic = np.random.default_rng(0).standard_normal(10 * fe.sample_rate_hz) * 10 ** (-80 / 20)
    assert np.all(levels(mic) < gate)


# --- uncertain -------------------------------------------------------------------


def test_uncertain_below_floor_with_no_genre():
    flat = np.array([0.36, 0.34, 0.30])
    states = run(Smoother(LABELS), [flat] * 10)
    for s in states:
        assert s.status == "uncertain" and s.genre is None
        assert s.confidence == pytest.approx(0.36)  # the leader's
        assert s.since_s == 1.0
    assert states[0].as_dict(LABELS)["genre"] is None


def test_genre_that_fades_below_floor_is_uncertain_but_kept_internally():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))
    fade = np.array([0.35, 0.33, 0.32])  # rock leads, below the floor
    close = np.array([0.45, 0.50, 0.05])  # jazz leads rock by less than the margin
    states = run(sm, [A] * 5 + [fade] * 5 + [close] * 5)
    assert changes(states) == [
        (1.0, "music", "rock"),
        (6.0, "uncertain", None),
        # rock was kept through the uncertain spell: jazz (>= floor) does not take
        # over at once as it would from "no genre", and rock (0.45) is back above the floor.
        (11.0, "music", "rock"),
    ]
    assert states[5].confidence == pytest.approx(0.35)
    assert states[-1].confidence == pytest.approx(0.45)  # of the published genre


def test_uncertain_when_current_below_floor_reports_leader_confidence():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))
    # rock current; jazz leads (not by margin) and rock is below the floor.
    s = run(sm, [A, np.array([0.38, 0.45, 0.17])])[-1]
    assert s.status == "uncertain" and s.genre is None
    assert s.confidence == pytest.approx(0.45)


def test_challenger_can_take_over_while_uncertain():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA))
    low = np.array([0.25, 0.37, 0.38])  # classical leads rock by the margin, below the floor
    states = run(sm, [A] * 5 + [low] * 6 + [np.array([0.1, 0.3, 0.6])] * 2)
    assert changes(states) == [
        (1.0, "music", "rock"),
        (6.0, "uncertain", None),
        (12.0, "music", "classical"),  # current since t=9 (6 + 3) but uncertain till 12
    ]


# --- since_s ---------------------------------------------------------------------


def test_since_changes_only_with_status_or_genre():
    sm = Smoother(LABELS)
    rng = np.random.default_rng(0)
    seq = []
    for _ in range(30):  # rock, with confidence that varies every window
        p = A + rng.uniform(-0.05, 0.05, 3)
        seq.append(p / p.sum())
    seq += [B] * 30
    states = run(sm, seq)
    assert len({s.confidence for s in states[:30]}) == 30
    assert {s.since_s for s in states[:30]} == {1.0}
    for prev, cur in itertools.pairwise(states):
        if (prev.status, prev.genre) == (cur.status, cur.genre):
            assert cur.since_s == prev.since_s
        else:
            assert cur.since_s > prev.since_s
    i_jazz = next(i for i, s in enumerate(states) if s.genre == "jazz")
    assert states[i_jazz].since_s == i_jazz + 1.0  # the window of the switch
    assert all(s.since_s == i_jazz + 1.0 for s in states[i_jazz:])


# --- reset -----------------------------------------------------------------------


def test_reset_reproduces_the_same_outputs():
    rng = np.random.default_rng(1)
    seq = []
    for i in range(120):
        p = rng.dirichlet([1.0, 1.0, 1.0])
        seq.append((p, QUIET_DB if 50 <= i < 55 else LOUD_DB))
    sm = Smoother(LABELS)
    first = run(sm, seq, 0.7)
    with pytest.raises(ValueError, match="t_s"):
        run(sm, seq, 0.7)  # without reset the old stream's time continues
    sm.reset()
    second = run(sm, seq, 0.7)
    assert first == second
    assert first == run(Smoother(LABELS), seq, 0.7)


def test_reset_forgets_the_current_genre():
    sm = Smoother(LABELS)
    run(sm, [A] * 20)
    sm.reset()
    s = sm.process(B, LOUD_DB, 0.5)
    assert (s.status, s.genre, s.since_s) == ("music", "jazz", 0.5)


def test_changed_flags_mark_the_first_window_of_each_pair_and_each_genre():
    sm = Smoother(LABELS, SmootherParams(**RAW_EMA, switch_hold_s=0.0))
    flat = np.array([0.34, 0.33, 0.33])  # below the floor: uncertain
    seq = [A, A, (A, QUIET_DB), (A, QUIET_DB), flat, flat, A, B, B]
    states = run(sm, seq)
    assert [(s.status, s.genre) for s in states] == [
        ("music", "rock"), ("music", "rock"), ("silence", None), ("silence", None), ("uncertain", None),
        ("uncertain", None), ("music", "rock"), ("music", "jazz"), ("music", "jazz")]
    assert [s.changed for s in states] == [True, False, True, False, True, False, True, True, False]
    # silence -> uncertain changes the pair, not the genre (None both times)
    assert [s.genre_changed for s in states] == [True, False, True, False, False, False, True, True, False]
    assert [t for t, *_ in changes(states)] == [s.since_s for s in states if s.changed]
    sm.reset()  # a new stream: its first window is a change, its genre one from None
    again = sm.process(A, LOUD_DB, 0.5)
    assert (again.changed, again.genre_changed) == (True, True)
    quiet = Smoother(LABELS).process(A, QUIET_DB, 1.0)
    assert (quiet.changed, quiet.genre_changed) == (True, False)


# --- invariants ------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3),
            st.sampled_from([LOUD_DB, QUIET_DB]),
            st.floats(0.05, 3.0),
        ),
        min_size=1,
        max_size=80,
    )
)
def test_invariants(windows):
    sm = Smoother(LABELS)
    t = 0.0
    prev = None
    for p, lvl, dt in windows:
        t += dt
        s = sm.process(np.array(p), lvl, t)
        assert s.status in ("music", "silence", "uncertain")
        assert (s.genre is not None) == (s.status == "music")
        assert s.genre is None or s.genre in LABELS
        assert len(s.probabilities) == 3
        assert s.since_s <= t
        if s.status == "music":
            assert s.confidence >= sm.params.confidence_floor
            assert s.confidence == s.probabilities[LABELS.index(s.genre)]
        elif s.status == "uncertain":
            assert s.confidence == max(s.probabilities)
        else:
            assert s.confidence == 0.0 and s.probabilities == (0.0, 0.0, 0.0)
        if prev is not None and (prev.status, prev.genre) == (s.status, s.genre):
            assert s.since_s == prev.since_s
        elif prev is not None:
            assert s.since_s == t
        # The flags every reader uses, against the pair and the genre of the previous window.
        assert s.changed == (prev is None or (prev.status, prev.genre) != (s.status, s.genre))
        assert s.genre_changed == (s.genre != (prev.genre if prev is not None else None))
        prev = s


# --- input validation ------------------------------------------------------------


@pytest.mark.parametrize(
    "probs, match",
    [
        ([0.5, 0.5], r"shape \(3,\)"),
        ([0.2, 0.3, 0.3, 0.2], r"shape \(3,\)"),
        ([[0.2, 0.3, 0.5]], r"shape \(3,\)"),
        ([0.2, float("nan"), 0.5], "finite"),
        ([0.2, float("inf"), 0.5], "finite"),
        (["a", "b", "c"], "numeric"),
    ],
)
def test_bad_probabilities_are_rejected(probs, match):
    with pytest.raises(ValueError, match=match):
        Smoother(LABELS).process(probs, LOUD_DB, 1.0)


def test_bad_time_and_level_are_rejected():
    sm = Smoother(LABELS)
    sm.process(A, LOUD_DB, 2.0)
    with pytest.raises(ValueError, match="t_s must increase"):
        sm.process(A, LOUD_DB, 2.0)
    with pytest.raises(ValueError, match="t_s must increase"):
        sm.process(A, LOUD_DB, 1.0)
    with pytest.raises(ValueError, match="t_s must be finite"):
        sm.process(A, LOUD_DB, float("nan"))
    with pytest.raises(ValueError, match="level_db"):
        sm.process(A, float("nan"), 3.0)


@pytest.mark.parametrize("labels", [[], ["rock", "rock"], ["rock", 3]])
def test_bad_labels_are_rejected(labels):
    with pytest.raises(ValueError, match="labels"):
        Smoother(labels)


# --- params ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("tau_s", 0.0),
        ("tau_s", -1.0),
        ("tau_s", float("nan")),
        ("switch_margin", -0.01),
        ("switch_margin", 1.0),
        ("switch_hold_s", -0.5),
        ("switch_hold_s", float("inf")),
        ("confidence_floor", -0.1),
        ("confidence_floor", 1.1),
        ("silence_db", float("nan")),
        ("silence_db", "loud"),
        ("silence_db", 0.0),
        ("tau_s", True),
    ],
)
def test_params_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        SmootherParams(**{field: value})
    with pytest.raises(ValueError, match=field):
        SmootherParams.from_dict({field: value})


@pytest.mark.parametrize(
    "field, value",
    [
        ("switch_margin", 0.0),
        ("switch_hold_s", 0.0),
        ("confidence_floor", 0.0),
        ("confidence_floor", 1.0),
    ],
)
def test_params_boundaries_are_accepted(field, value):
    assert getattr(SmootherParams(**{field: value}), field) == value


def test_params_dict_round_trip_and_defaults():
    prm = SmootherParams(
        tau_s=2.5, switch_margin=0.2, switch_hold_s=5, confidence_floor=0.3, silence_db=-60
    )
    d = prm.to_dict()
    assert set(d) == {"tau_s", "switch_margin", "switch_hold_s", "confidence_floor", "silence_db",
                      "music_tau_s", "music_on", "music_off", "music_hold_s", "no_music_hold_s"}
    assert SmootherParams.from_dict(json.loads(json.dumps(d))) == prm
    assert SmootherParams.from_dict({}) == SmootherParams()
    assert SmootherParams.from_dict({"tau_s": 8.0}) == SmootherParams(tau_s=8.0)


def test_from_dict_rejects_unknown_keys_naming_them():
    with pytest.raises(ValueError, match="hold_s, tau") as exc:
        SmootherParams.from_dict({"tau": 4.0, "tau_s": 4.0, "hold_s": 3.0})
    assert "tau_s" not in str(exc.value)  # a known key is not named
    with pytest.raises(ValueError, match="object"):
        SmootherParams.from_dict([("tau_s", 4.0)])


# --- as_dict ---------------------------------------------------------------------


def test_as_dict_is_json_ready_and_keyed_by_label():
    sm = Smoother(LABELS)
    d = sm.process(A, LOUD_DB, 1.0).as_dict(sm.labels)
    assert json.loads(json.dumps(d)) == d
    assert d == {
        "status": "music",
        "genre": "rock",
        "confidence": pytest.approx(0.8),
        "probabilities": {
            "rock": pytest.approx(0.8),
            "jazz": pytest.approx(0.1),
            "classical": pytest.approx(0.1),
        },
        "since_s": 1.0,
    }
    with pytest.raises(ValueError, match="labels"):
        sm.process(A, LOUD_DB, 2.0).as_dict(LABELS[:2])


def test_config_and_params_share_one_definition_of_the_ranges():
    """The daemon's config refuses exactly what SmootherParams refuses, in its words."""
    from genred.daemon.settings import SmoothingSettings
    from genred.dsp import schema

    bad = {"tau_s": 0.0, "switch_margin": 1.0, "switch_hold_s": -1.0, "confidence_floor": 2.0, "silence_db": 1.0,
           "music_tau_s": 0.0, "music_on": 1.5, "music_off": -0.1, "music_hold_s": -1.0, "no_music_hold_s": -2.0}
    params, config = schema.fields(SmootherParams), schema.fields(SmoothingSettings)
    assert set(bad) == set(params) == set(config)
    for name, f in params.items():
        what = schema.requirement(f.type, name)
        assert schema.requirement(config[name].type, name) == what
        with pytest.raises(ValueError, match=re.escape(f"{name} must be {what}")):
            SmootherParams(**{name: bad[name]})
