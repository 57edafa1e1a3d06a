"""Two cross-validations of the same folds compared fold by fold (training/cv_compare.py)."""

from __future__ import annotations

import json

import pytest

from genred.training.cv_compare import ROWS, compare, main


def _summary(folds_run: list[int], value, digest: str = "abc") -> dict:
    """A summary.json with every row's per-fold values from ``value(fold, row index)``."""
    s: dict = {"plan": {"test_digest": digest}, "folds_run": folds_run}
    for r, (_, path) in enumerate(ROWS):
        node = s
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = {"values": [value(f, r) for f in folds_run]}
    return s


def test_differences_are_taken_fold_by_fold_on_the_folds_both_ran():
    base = _summary([0, 1, 2, 3], lambda f, r: 0.5 + 0.1 * f)
    other = _summary([0, 2], lambda f, r: 0.5 + 0.1 * f + (0.02 if f == 0 else 0.06))
    rows = compare(base, other)
    assert len(rows) == len(ROWS)
    first = rows[0]
    assert first["folds"] == [0, 2]
    assert first["base"] == pytest.approx([0.5, 0.7]) and first["other"] == pytest.approx([0.52, 0.76])
    assert first["diff"] == pytest.approx([0.02, 0.06])
    assert first["diff_mean"] == pytest.approx(0.04) and first["diff_sd"] == pytest.approx(0.0282843, rel=1e-4)


def test_a_fold_without_a_value_is_left_out_of_its_row():
    base = _summary([0, 1], lambda f, r: None if f == 1 else 0.5)
    other = _summary([0, 1], lambda f, r: 0.6)
    row = compare(base, other)[0]
    assert row["diff"] == pytest.approx([0.1]) and row["diff_sd"] is None


def test_cross_validations_of_other_folds_are_refused_in_one_line(tmp_path, capsys):
    for name, digest in (("a", "abc"), ("b", "xyz")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(_summary([0, 1], lambda f, r: 0.5, digest)))
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different folds" in err
    assert main([str(tmp_path / "a"), str(tmp_path / "missing")]) == 2
    assert "summary.json: missing" in capsys.readouterr().err
    assert main([str(tmp_path / "a"), str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == len(ROWS) + 2 and "+0.0" in out
