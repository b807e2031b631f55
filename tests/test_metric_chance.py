"""peprkit.metric chance-aware scores: chance_adjusted, balanced accuracy, AUC, majority."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from peprkit.metric import (
    add_pepr,
    auc,
    balanced_accuracy,
    chance_adjusted,
    majority_accuracy,
)

unit = st.floats(0.0, 1.0, allow_nan=False)
below_one = st.floats(0.0, 0.99, allow_nan=False)


# --- chance_adjusted: the properties the docs promise -------------------------------
@given(below_one)
def test_chance_adjusted_is_zero_at_chance_and_one_at_perfect(c):
    assert chance_adjusted(c, c) == 0.0
    assert chance_adjusted(1.0, c) == pytest.approx(1.0)


@given(below_one, unit, unit)
def test_chance_adjusted_is_monotone_and_clipped(c, a, b):
    lo, hi = sorted((a, b))
    adj_lo, adj_hi = chance_adjusted(lo, c), chance_adjusted(hi, c)
    assert 0.0 <= adj_lo <= adj_hi <= 1.0
    if lo <= c:
        assert adj_lo == 0.0  # at or below chance: nothing learned


def test_chance_adjusted_kinds_and_formula():
    np.testing.assert_allclose(chance_adjusted([0.5, 0.8, 0.9], 0.6), [0.0, 0.5, 0.75])
    s = chance_adjusted(pd.Series([0.9, 0.7308], name="test_acc", index=["a", "b"]),
                        pd.Series([0.7308, 0.7308], index=["a", "b"]))
    assert isinstance(s, pd.Series) and s.name == "test_acc_adj" and list(s.index) == ["a", "b"]
    assert s["a"] == pytest.approx((0.9 - 0.7308) / (1 - 0.7308)) and s["b"] == 0.0


@pytest.mark.parametrize(("p", "c", "match"), [
    (0.9, 1.0, r"`chance` must be below 1, got 1.0; .*balanced accuracy or AUC"),
    (0.9, 1.5, r"`chance` must lie in \[0, 1\], got 1.5"),
    (87.0, 0.5, r"`performance` must lie in \[0, 1\], got 87.0"),
    ([0.9, 0.8], [0.5, 0.5, 0.5], r"`performance` and `chance` must have the same length"),
])
def test_chance_adjusted_rejects_bad_input(p, c, match):
    with pytest.raises(ValueError, match=match):
        chance_adjusted(p, c)


def test_add_pepr_with_chance_scores_the_adjusted_performance():
    runs = pd.DataFrame({"model": ["guess", "learner", "big"], "test_acc": [0.73, 0.85, 0.9],
                         "majority_acc": [0.73, 0.73, 0.73], "energy_kwh": [1.0, 2.0, 5.0]})
    plain = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"})
    assert plain["pepr_e"].idxmax() == 0  # the paper's PePR: the constant guess wins
    assert "test_acc_adj" not in plain
    adjusted = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"},
                        chance="majority_acc")
    np.testing.assert_allclose(adjusted["test_acc_adj"], [0.0, 0.12 / 0.27, 0.17 / 0.27])
    np.testing.assert_allclose(adjusted["pepr_e"],
                               adjusted["test_acc_adj"] / (1 + adjusted["energy_kwh_norm"]))
    assert adjusted["pepr_e"].iloc[0] == 0.0 and adjusted["pepr_e"].idxmax() == 1
    number = add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"}, chance=0.73)
    np.testing.assert_allclose(number["pepr_e"], adjusted["pepr_e"])
    with pytest.raises(ValueError, match=r"chance='majority' is not a column"):
        add_pepr(runs, performance="test_acc", resources={"e": "energy_kwh"}, chance="majority")


# --- baselines and balanced scores --------------------------------------------------
def test_majority_accuracy_uses_the_training_split_mode():
    assert majority_accuracy([0, 0, 1], [0, 1, 0, 0]) == 0.75
    assert majority_accuracy([1, 1, 0], [0, 1, 0, 0]) == 0.25  # test's own majority not used
    multi = majority_accuracy(np.array([[1, 0], [1, 0], [0, 0]]), np.array([[1, 1], [0, 0]]))
    assert multi == pytest.approx(0.5)  # label 0 guesses 1, label 1 guesses 0


def test_balanced_accuracy_gives_a_constant_guess_one_over_classes():
    y = [0] * 90 + [1] * 10
    assert balanced_accuracy(y, [0] * 100) == 0.5
    assert balanced_accuracy([0, 1, 2, 2], [0, 1, 2, 0]) == pytest.approx((1 + 1 + 0.5) / 3)
    with pytest.raises(ValueError, match="`y_true` and `y_pred` must have the same length"):
        balanced_accuracy([0, 1], [0])


def test_auc_binary_matches_mann_whitney_and_handles_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    s = rng.normal(size=200) + y
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert auc(y, s) == pytest.approx(u / (y.sum() * (200 - y.sum())))
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert np.isnan(auc([1, 1], [0.1, 0.2]))
    probs = np.column_stack([1 - s, s])
    assert auc(y, probs) == pytest.approx(auc(y, s))  # (n, 2) scores: the positive column


def test_auc_handles_ties_and_missing_class():  # moved from test_train (was train.auc)
    assert auc([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auc([0, 0, 1], [0.1, 0.2, 0.9]) == 1.0
    assert math.isnan(auc([1, 1], [0.1, 0.2]))


def test_auc_multiclass_is_one_vs_rest_macro():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 300)
    scores = rng.random((300, 3)) + np.eye(3)[y] * rng.random(300)[:, None]
    expected = np.mean([auc(y == c, scores[:, c]) for c in range(3)])
    assert auc(y, scores) == pytest.approx(expected)
    assert auc(y, np.eye(3)[y]) == 1.0
    assert 0.4 < auc(y, rng.random((300, 3))) < 0.6  # random scores: chance


def test_pepr_curve_with_a_fixed_reference_does_not_favour_the_first_epoch():
    from peprkit.metric import pepr_curve, pepr_optimum

    acc, energy = [0.7, 0.8, 0.82, 0.83], [1.0, 2.0, 3.0, 4.0]
    assert pepr_optimum(acc, energy).step == 1  # min-max within the run: epoch 1 costs R=0
    fixed = pepr_curve(acc, energy, reference=10.0)
    np.testing.assert_allclose(fixed["resource_norm"], [0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(fixed["pepr"], np.array(acc) / (1 + np.array(energy) / 10))
    assert pepr_optimum(acc, energy, reference=10.0).step == 2
    # adding epochs does not change the score of the earlier ones
    np.testing.assert_allclose(pepr_curve(acc[:2], energy[:2], reference=10.0)["pepr"],
                               fixed["pepr"][:2])
    with pytest.raises(ValueError, match=r"`reference` .* and `resource_range` .* pass one"):
        pepr_curve(acc, energy, reference=10.0, resource_range=(0, 5))
    with pytest.raises(ValueError, match=r"`reference` must be a positive finite budget"):
        pepr_curve(acc, energy, reference=0)
