"""Self-checks for lesson 01, PePR from first principles.

Each function raises ``AssertionError`` with a hint when an answer is not right yet and
returns None when it is; hints point at the step to fix, never at the expected value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._byhand import check_function, local, refusing
from peprkit.checks._common import CheckFailed, answered, close, number, result_of, same, sealed
from peprkit.metric import add_pepr, normalize, pepr

# Inputs the learner's functions are tried on (the hidden tests use others).
_NORMALIZE_CASES = ([4.0, 2.0, 8.0], [0.5, 1.5, 1.0, 3.5])
_PEPR_CASES = ((0.9, 0.0), (0.8, 1.0), (0.6, 0.5))
#: The kit's functions exercises 1 and 2 ask to write by hand (refused in the answers).
BY_HAND = {"q1": ("normalize", "add_pepr"),
           "q2": ("pepr", "add_pepr", "pepr_curve", "pepr_optimum")}
#: The hint for each error a usual slip raises inside the learner's function (the check
#: turns the error into the hint instead of crashing).
SLIPS = {
    "q1": {ZeroDivisionError: "normalize_by_hand divided by zero: divide by the range "
                              "(max - min) of the values, not by one value minus itself.",
           TypeError: "normalize_by_hand gets a plain list: compute with min(values), "
                      "max(values) and a list comprehension (or convert it with "
                      "np.asarray(values) first)."},
    "q2": {ZeroDivisionError: "pepr_by_hand divided by zero for the cheapest model (R = 0): "
                              "did you forget the 1 + in the denominator? PePR = P / (1 + R)."},
}


def _outputs(func: Any, name: str, question: str, cases) -> list:
    """The learner's function on the public cases, the kit's own refused meanwhile; an
    error it raises becomes the hint for that slip (:data:`SLIPS`)."""
    check_function(func, BY_HAND[question])
    guard = refusing(BY_HAND[question]) if local(func) else contextlib.nullcontext()
    with guard:
        return [result_of(func, name, *case, slips=SLIPS[question]) for case in cases]


@sealed
def q1(normalize_by_hand: Callable[[Any], Any]) -> None:
    """Min-max normalisation written by hand (``peprkit.normalize`` refused).

    >>> q1(lambda v: np.asarray(v) / max(v))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: The smallest value should become 0...
    """
    outputs = _outputs(normalize_by_hand, "normalize_by_hand", "q1",
                       [(list(case),) for case in _NORMALIZE_CASES])
    for case, result in zip(_NORMALIZE_CASES, outputs, strict=True):
        out = np.asarray(result, dtype=float)
        if out.shape != (len(case),):
            raise CheckFailed(
                f"normalize_by_hand should return one value per input ({len(case)} here), "
                f"got shape {out.shape}."
            )
        if same(out, normalize(case)):
            continue
        x = np.asarray(case)
        if not close(float(out.min()), 0.0):
            raise CheckFailed(
                "The smallest value should become 0: subtract the minimum of the values "
                "before dividing."
            )
        if not close(float(out.max()), 1.0):
            raise CheckFailed(
                "The largest value should become 1: divide by the range (max - min), "
                "not by the maximum."
            )
        if list(np.argsort(out)) != list(np.argsort(x)):
            raise CheckFailed(
                "The order changed: normalising must keep the smallest resource the "
                "smallest. Compute each value from its own input, in the same position."
            )
        raise CheckFailed(
            "Ends are right but values in between are off: every value x maps to "
            "(x - min) / (max - min)."
        )


@sealed
def q2(pepr_by_hand: Callable[[float, float], float]) -> None:
    """PePR of one model from its performance P and normalised resource R, by hand
    (``peprkit.pepr`` refused).

    >>> q2(lambda p, r: p / (1 + r))
    >>> q2(lambda p, r: p / r)
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: pepr_by_hand divided by zero for the cheapest model (R = 0): ...
    >>> import peprkit
    >>> q2(lambda p, r: peprkit.pepr(p, r))
    Traceback (most recent call last):
    ...
    peprkit.checks.ByHand: peprkit.pepr is the kit's own function, ...
    """
    outputs = _outputs(pepr_by_hand, "pepr_by_hand", "q2", _PEPR_CASES)
    for (p, r), result in zip(_PEPR_CASES, outputs, strict=True):
        got = number(result, "pepr_by_hand(p, r)")
        if close(got, pepr(p, r)):
            continue
        if (r > 0 and close(got, p / r)) or (r == 0 and not np.isfinite(got)):
            raise CheckFailed(
                "Dividing by R alone blows up for the cheapest model (R = 0): did you forget "
                "the 1 + in the denominator? PePR divides by one plus the resource."
            )
        if close(got, 100 * pepr(p, r)):
            raise CheckFailed(
                "That is a percentage: P is a fraction in [0, 1] (0.9, not 90), and PePR keeps "
                "P's scale. Do not multiply by 100."
            )
        if close(got, p * (1 - r)) or close(got, p - r):
            raise CheckFailed(
                "PePR is a ratio, not a difference: the most expensive model (R = 1) should "
                "keep half of its performance, not lose all of it."
            )
        raise CheckFailed(
            f"pepr_by_hand({p}, {r}) is off. Check: with R = 0 the score equals P, with "
            "R = 1 it is P / 2."
        )


def _models(answer: Any, name: str, table: pd.DataFrame) -> list[str]:
    answered(answer, name)
    if isinstance(answer, (pd.Series, pd.Index, np.ndarray)):
        answer = list(answer)
    if not isinstance(answer, (list, tuple)) or not all(isinstance(m, str) for m in answer):
        raise CheckFailed(
            f"`{name}` should be a list of model names (strings), best first, e.g. "
            "list(table.sort_values(...)['model'])."
        )
    if sorted(answer) != sorted(table["model"]):
        raise CheckFailed(
            f"`{name}` should name every model of the table exactly once "
            f"({len(table)} names), got {len(answer)}."
        )
    return list(answer)


@sealed
def q3(rank_by_accuracy: Any, rank_by_pepr: Any, *, table: pd.DataFrame) -> None:
    """Models ranked best first by test accuracy and by PePR-E (energy, min-max in the table).

    >>> t = pd.DataFrame({"model": ["a", "b"], "test_acc": [0.9, 0.8],
    ...                   "energy_kwh": [2.0, 1.0]})
    >>> q3(["a", "b"], ["b", "a"], table=t)
    """
    scored = add_pepr(table, performance="test_acc", resources={"e": "energy_kwh"})
    for answer, name, column in ((rank_by_accuracy, "rank_by_accuracy", "test_acc"),
                                 (rank_by_pepr, "rank_by_pepr", "pepr_e")):
        got = _models(answer, name, table)
        values = scored.set_index("model")[column]
        if list(values.loc[got]) == sorted(values, reverse=True):
            continue
        if list(values.loc[got]) == sorted(values):
            raise CheckFailed(
                f"`{name}` is in the right order but reversed: put the best model first "
                "(sort_values(..., ascending=False))."
            )
        raise CheckFailed(
            f"`{name}` is not ordered by {column!r}: sort the scored table by that column, "
            "best first, and take its `model` column."
        )


@sealed
def q4(minmax_with: Any, minmax_without: Any, budget_with: Any, budget_without: Any,
       *, table: pd.DataFrame, model: str, drop: str, budget_kwh: float) -> None:
    """PePR-E of ``model`` with and without ``drop`` in the set, min-max and fixed budget.

    >>> t = pd.DataFrame({"model": ["a", "b", "c"], "test_acc": [0.8, 0.9, 0.9],
    ...                   "energy_kwh": [1.0, 2.0, 4.0]})
    >>> q4(0.675, 0.45, 0.45, 0.45, table=t, model="b", drop="c", budget_kwh=2.0)
    """
    energy = table.set_index("model")["energy_kwh"].astype(float)
    p = float(table.set_index("model").loc[model, "test_acc"])
    without = energy.drop(drop)
    budget = pepr(p, float(normalize(energy[model], reference=budget_kwh)))
    expected = {
        "minmax_with": pepr(p, float(normalize(energy)[model])),
        "minmax_without": pepr(p, float(normalize(without)[model])),
        "budget_with": budget,
        "budget_without": budget,
    }
    answers = {"minmax_with": minmax_with, "minmax_without": minmax_without,
               "budget_with": budget_with, "budget_without": budget_without}
    got = {k: number(v, k) for k, v in answers.items()}
    for key in ("minmax_with", "minmax_without"):
        if not close(got[key], expected[key]):
            other = "minmax_without" if key == "minmax_with" else "minmax_with"
            if close(got[key], expected[other]):
                raise CheckFailed(
                    f"`{key}` holds the score for the other set: min-max uses the min and "
                    "max of the models in the set you normalise."
                )
            raise CheckFailed(
                f"`{key}` is off: normalise the energy column of that set with "
                "peprkit.normalize, then score with peprkit.pepr."
            )
    for key in ("budget_with", "budget_without"):
        if not close(got[key], expected[key]):
            raise CheckFailed(
                f"`{key}` is off: with a fixed budget R = energy / budget "
                "(peprkit.normalize(..., reference=budget)), whichever models are in the set."
            )
