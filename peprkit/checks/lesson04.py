"""Self-checks for lesson 04, pretraining and data size.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._byhand import answer_uses
from peprkit.checks._common import CheckFailed, close, number, sealed


def energy_to_reach(history: pd.DataFrame, target: float) -> float:
    """Cumulative kWh at the first epoch whose ``val_acc >= target`` (inf when never)."""
    reached = history["val_acc"].to_numpy(dtype=float) >= target
    if not reached.any():
        return math.inf
    return float(history["energy_kwh"].to_numpy(dtype=float)[int(np.argmax(reached))])


@sealed
def q1(answer: Any, *, history: pd.DataFrame, target: float, name: str = "answer") -> None:
    """Energy (kWh) a run used until its validation accuracy first reached ``target``.

    Example:
        >>> h = pd.DataFrame({"epoch": [1, 2, 3], "val_acc": [0.6, 0.8, 0.9],
        ...                   "energy_kwh": [0.1, 0.2, 0.3], "test_acc": [0.6, 0.7, 0.9]})
        >>> q1(0.3, history=h, target=0.75)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: That is the energy of the whole run. ...
    """
    value = number(answer, name, "kWh")
    expected = energy_to_reach(history, target)
    if close(value, expected) and not answer_uses([name], "test_acc"):
        return
    test_split = (
        "That epoch was chosen on the test split (test_acc). Decide with the validation "
        "accuracy (val_acc): the test set is kept aside for the final report; choosing "
        "with it makes the test score optimistic.")
    if answer_uses([name], "test_acc"):
        raise CheckFailed(test_split)
    energy = history["energy_kwh"].to_numpy(dtype=float)
    val = history["val_acc"].to_numpy(dtype=float)
    if math.isinf(expected):
        raise CheckFailed(
            "Does this run ever reach the target? When no epoch has val_acc >= target, "
            "no amount of this run's energy buys it: answer float('inf')."
        )
    if math.isinf(value):
        raise CheckFailed(
            "Some epoch of this run does reach the target. Look for val_acc >= target "
            "(greater than or equal)."
        )
    if close(value, energy[-1]):
        raise CheckFailed(
            "That is the energy of the whole run. Stop at the first epoch whose val_acc "
            "reaches the target (>= target)."
        )
    increments = np.diff(energy, prepend=0.0)
    if any(close(value, inc) for inc in increments):
        raise CheckFailed(
            "energy_kwh is cumulative (everything used since the start of training): take "
            "its value at that epoch instead of one epoch's increment."
        )
    if "test_acc" in history and close(
            value, energy_to_reach(history.assign(val_acc=history["test_acc"]), target)):
        raise CheckFailed(test_split)
    for i, e in enumerate(energy):
        if close(value, e):
            if val[i] >= target:
                raise CheckFailed(
                    "That epoch reaches the target, but an earlier one already did: take "
                    "the first one."
                )
            raise CheckFailed(
                "At that epoch val_acc is still below the target. Take the first epoch with "
                "val_acc >= target."
            )
    raise CheckFailed(
        "This is not the energy at any epoch of the history. Read history['energy_kwh'] at "
        "the first row where history['val_acc'] >= target."
    )


@sealed
def q2(p_value: Any, *, first: Any, second: Any, name: str = "p_value") -> None:
    """The two-sided Mann-Whitney U p-value comparing two groups of scores.

    Example:
        >>> q2(..., first=[0.8, 0.9], second=[0.6, 0.7])
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `p_value` is still empty: ...
    """
    from scipy import stats

    value = number(p_value, name)
    if not 0.0 <= value <= 1.0:
        raise CheckFailed(
            f"A p-value is a probability, so it lies in [0, 1]; `{name}` is {value!r}. Did you "
            "take the test statistic instead of `.pvalue`?"
        )
    a, b = np.asarray(first, dtype=float), np.asarray(second, dtype=float)
    expected = stats.mannwhitneyu(a, b, alternative="two-sided").pvalue
    if close(value, expected):
        return
    one_sided = [stats.mannwhitneyu(a, b, alternative=alt).pvalue for alt in ("less", "greater")]
    if any(close(value, p) for p in one_sided):
        raise CheckFailed(
            "That is a one-sided p-value. The question is whether the groups differ in either "
            "direction: use alternative='two-sided'."
        )
    if close(value, stats.ttest_ind(a, b).pvalue) or close(
            value, stats.ttest_ind(a, b, equal_var=False).pvalue):
        raise CheckFailed(
            "That looks like a t-test. With a handful of models and skewed scores the paper "
            "uses the rank-based Mann-Whitney U test (scipy.stats.mannwhitneyu)."
        )
    raise CheckFailed(
        "Not the p-value of a two-sided Mann-Whitney U test on these two groups. Check that "
        "you passed the two groups' scores (one value per model), not the whole table."
    )
