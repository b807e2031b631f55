"""Self-checks for lesson 06, the paper's own results.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from peprkit.checks._common import answered, same, values
from peprkit.paper import PAPER_MEDIAN_PARAMS, compare_by_experiment, paper_pepr


def q1(answer: Any, results: pd.DataFrame, experiment: str, *, name: str = "pepr_e") -> None:
    """PePR-E of every model in one experiment, computed by hand from the raw columns.

    ``answer`` holds one value per row of ``results[results.dataset == experiment]``, in
    that order.

    Example:
        >>> from peprkit.paper import make_example_results
        >>> raw = make_example_results(n_models=4)
        >>> rows = raw[raw.dataset == "derma"]
        >>> q1(rows["test_09"] / (1 + rows["energy"]), raw, "derma")
        Traceback (most recent call last):
        ...
        AssertionError: PePR takes the normalised energy...
    """
    rows = results[results["dataset"] == experiment]
    got = values(answer, name, len(rows))
    expected = paper_pepr(results).loc[rows.index, "pepr_e"]
    if same(got, expected):
        return
    energy = rows["energy"].to_numpy(dtype=float)
    p = rows["test_09"].to_numpy(dtype=float)
    if same(got, p / (1 + energy)):
        raise AssertionError(
            "PePR takes the normalised energy, R = (E - E_min) / (E_max - E_min), not kWh as "
            "measured."
        )
    lo, hi = results["energy"].min(), results["energy"].max()
    if same(got, p / (1 + (energy - lo) / (hi - lo))):
        raise AssertionError(
            "You took E_min and E_max over all experiments. The paper normalises within each "
            "experiment: use only the rows of this experiment."
        )
    if same(got, p / (1 + energy / energy.max())):
        raise AssertionError(
            "R looks divided by the largest energy only; min-max also subtracts the smallest, "
            "so the cheapest model gets R = 0."
        )
    e_norm = (energy - energy.min()) / (energy.max() - energy.min())
    epochs = [f"test_{i:02d}" for i in range(9)]
    if any(same(got, rows[c].to_numpy(dtype=float) / (1 + e_norm)) for c in epochs) or same(
            got, rows[[*epochs, "test_09"]].max(axis=1).to_numpy(dtype=float) / (1 + e_norm)):
        raise AssertionError(
            "Your R is right but P is not: the authors use the test accuracy after the last "
            "(tenth) epoch, the column test_09."
        )
    raise AssertionError(
        "Not PePR-E yet. For this experiment's rows: R = (energy - min) / (max - min) over "
        "these rows, then test_09 / (1 + R), keeping the rows' order."
    )


def small_wins(scored: pd.DataFrame, score: str) -> int:
    """In how many experiments the small models' median ``score`` beats the large ones'."""
    table = compare_by_experiment(scored, score=score, threshold=PAPER_MEDIAN_PARAMS)
    return int((table["median_small"] > table["median_large"]).sum())


def q2(n_pepr: Any, n_acc: Any, scored: pd.DataFrame) -> None:
    """Experiments where small models (<= 24.6M) have the higher median PePR-E / accuracy.

    Example:
        >>> from peprkit.paper import make_example_results, paper_pepr
        >>> q2(2.5, 0, paper_pepr(make_example_results(n_models=8)))
        Traceback (most recent call last):
        ...
        AssertionError: `n_small_better_pepr` should be a whole number (a count of experiments).
    """
    counts = {}
    for label, answer in (("n_small_better_pepr", n_pepr), ("n_small_better_acc", n_acc)):
        answered(answer, label)
        try:
            whole = not isinstance(answer, (bool, str)) and float(answer).is_integer()
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise AssertionError(f"`{label}` should be a whole number (a count of experiments).")
        counts[label] = int(answer)
    expected = {"n_small_better_pepr": small_wins(scored, "pepr_e"),
                "n_small_better_acc": small_wins(scored, "test_acc")}
    if counts == expected:
        return
    n_experiments = scored["dataset"].nunique()
    if counts == dict(zip(expected, reversed(expected.values()), strict=True)):
        raise AssertionError("Your two counts are swapped: PePR-E first, then test accuracy.")
    for label, value in counts.items():
        if not 0 <= value <= n_experiments:
            raise AssertionError(
                f"`{label}` counts experiments, so it lies between 0 and {n_experiments}."
            )
    wrong = [label for label in counts if counts[label] != expected[label]]
    score = "pepr_e" if wrong[0].endswith("pepr") else "test_acc"
    raise AssertionError(
        f"`{wrong[0]}` is not right yet. Use compare_by_experiment(scored, score={score!r}) "
        "and count the rows where median_small > median_large."
    )


