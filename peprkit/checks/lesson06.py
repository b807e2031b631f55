"""Self-checks for lesson 06, the paper's own results.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._byhand import check_cells
from peprkit.checks._common import (
    CheckFailed,
    answered,
    minmax_slips,
    same,
    sealed,
    values,
)
from peprkit.paper import (
    PAPER_MEDIAN_PARAMS,
    compare_by_experiment,
    paper_pepr,
)

#: The kit's functions the by-hand exercise refuses (q1).
BY_HAND = ("normalize", "pepr", "add_pepr", "pepr_curve", "pepr_optimum",
           "paper_pepr")


@sealed
def q1(answer: Any, *, results: pd.DataFrame, experiment: str, name: str = "pepr_e") -> None:
    """PePR-E of every model in one experiment, computed by hand from the raw columns.

    ``answer`` holds one value per row of ``results[results.dataset == experiment]``, in
    that order.

    Example:
        >>> from peprkit.paper import make_example_results
        >>> raw = make_example_results(n_models=4)
        >>> rows = raw[raw.dataset == "derma"]
        >>> q1(rows["test_09"] / (1 + rows["energy"]), results=raw, experiment="derma")
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: PePR takes the normalised energy...
    """
    rows = results[results["dataset"] == experiment]
    got = values(answer, name, len(rows))
    check_cells(["pepr_e_by_hand"], BY_HAND)
    expected = paper_pepr(results).loc[rows.index, "pepr_e"]
    if same(got, expected):
        return
    if same(got, 100 * np.asarray(expected, dtype=float)):
        raise CheckFailed("That is a percentage: test_09 is a fraction in [0, 1] and PePR keeps "
                          "its scale; do not multiply by 100.")
    energy = rows["energy"].to_numpy(dtype=float)
    p = rows["test_09"].to_numpy(dtype=float)
    minmax_slips(got, p, energy, symbol="E", what="energy", unit="kWh",
                 largest="largest energy", cheapest="cheapest model")
    lo, hi = results["energy"].min(), results["energy"].max()
    if same(got, p / (1 + (energy - lo) / (hi - lo))):
        raise CheckFailed(
            "You took E_min and E_max over all experiments. The paper normalises within each "
            "experiment: use only the rows of this experiment."
        )
    e_norm = (energy - energy.min()) / (energy.max() - energy.min())
    epochs = [f"test_{i:02d}" for i in range(9)]
    if any(same(got, rows[c].to_numpy(dtype=float) / (1 + e_norm)) for c in epochs) or same(
            got, rows[[*epochs, "test_09"]].max(axis=1).to_numpy(dtype=float) / (1 + e_norm)):
        raise CheckFailed(
            "Your R is right but P is not: the authors use the test accuracy after the last "
            "(tenth) epoch, the column test_09."
        )
    raise CheckFailed(
        "Not PePR-E yet. For this experiment's rows: R = (energy - min) / (max - min) over "
        "these rows, then test_09 / (1 + R), keeping the rows' order."
    )


def small_wins(scored: pd.DataFrame, score: str) -> int:
    """In how many experiments the small models' median ``score`` beats the large ones'."""
    table = compare_by_experiment(scored, score=score, threshold=PAPER_MEDIAN_PARAMS)
    return int((table["median_small"] > table["median_large"]).sum())


@sealed
def q2(n_pepr: Any, n_acc: Any, *, scored: pd.DataFrame) -> None:
    """Experiments where small models (<= 24.6M) have the higher median PePR-E / accuracy.

    Example:
        >>> from peprkit.paper import make_example_results, paper_pepr
        >>> q2(2.5, 0, scored=paper_pepr(make_example_results(n_models=8)))
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `n_small_better_pepr` should be a whole number ...
    """
    counts = {}
    for label, answer in (("n_small_better_pepr", n_pepr), ("n_small_better_acc", n_acc)):
        answered(answer, label)
        try:
            whole = not isinstance(answer, (bool, str)) and float(answer).is_integer()
        except (TypeError, ValueError):
            whole = False
        if not whole:
            raise CheckFailed(f"`{label}` should be a whole number (a count of experiments).")
        counts[label] = int(answer)
    expected = {"n_small_better_pepr": small_wins(scored, "pepr_e"),
                "n_small_better_acc": small_wins(scored, "test_acc")}
    if counts == expected:
        return
    n_experiments = scored["dataset"].nunique()
    if counts == dict(zip(expected, reversed(expected.values()), strict=True)):
        raise CheckFailed("Your two counts are swapped: PePR-E first, then test accuracy.")
    for label, value in counts.items():
        if not 0 <= value <= n_experiments:
            raise CheckFailed(
                f"`{label}` counts experiments, so it lies between 0 and {n_experiments}."
            )
    wrong = [label for label in counts if counts[label] != expected[label]]
    score = "pepr_e" if wrong[0].endswith("pepr") else "test_acc"
    raise CheckFailed(
        f"`{wrong[0]}` is not right yet. Use compare_by_experiment(scored, score={score!r}) "
        "and count the rows where median_small > median_large."
    )


def _small_better_pepr_m(table: pd.DataFrame) -> bool:
    """Whether models at or under 24.6M have the higher median PePR-M in ``table``."""
    from peprkit.metric import compare_sizes

    rows = table.dropna(subset=["pepr_m"])
    result = compare_sizes(rows, score="pepr_m", params="num_params",
                           threshold=PAPER_MEDIAN_PARAMS)
    return bool(result.median_small > result.median_large)


@sealed
def q3(n_disagree: Any, small_still_better: Any, *, results: pd.DataFrame,
       imagenet: pd.DataFrame) -> None:
    """The name-matching audit of Figure 4b: how many models change, and does the finding hold?

    ``n_disagree``: models whose ImageNet row differs between the authors' substring rule
    and the default-tag rule (``rules_agree`` False). ``small_still_better``: True when the
    small models (<= 24.6M) have the higher median PePR-M under *both* rules.

    Example:
        >>> from peprkit.paper import make_example_imagenet, make_example_results
        >>> raw = make_example_results()
        >>> tags = {m: f"{m}.a1_in1k" for m in raw.model}
        >>> q3(2.0, "yes", results=raw, imagenet=make_example_imagenet(raw, weights=tags))
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `small_still_better` should be True or False...
    """
    from peprkit.paper import imagenet_pepr

    answered(n_disagree, "n_rules_disagree")
    answered(small_still_better, "small_still_better")
    try:
        whole = not isinstance(n_disagree, (bool, str)) and float(n_disagree).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole:
        raise CheckFailed("`n_rules_disagree` should be a whole number (a count of models).")
    if not isinstance(small_still_better, (bool, np.bool_)):
        raise CheckFailed("`small_still_better` should be True or False (a bool), not "
                          f"{type(small_still_better).__name__}.")
    default = imagenet_pepr(results, imagenet, match="default-tag")
    authors = imagenet_pepr(results, imagenet, match="authors")
    expected_n = int((~default["rules_agree"]).sum())
    n = int(n_disagree)
    if n != expected_n:
        if n == int((~authors["matched"]).sum()):
            raise CheckFailed(
                "You counted only the models the authors' rule finds no row for. Also count "
                "those where it finds a *different* row (another architecture whose name "
                "contains this one, or another tag): the column rules_agree is False for both.")
        if n == int(default["rules_agree"].sum()):
            raise CheckFailed("That is the number of models where the rules AGREE; count those "
                              "where rules_agree is False.")
        raise CheckFailed("`n_rules_disagree` is not right yet: count the rows of "
                          "imagenet_pepr(...) whose rules_agree column is False.")
    expected = _small_better_pepr_m(default) and _small_better_pepr_m(authors)
    if bool(small_still_better) != expected:
        raise CheckFailed(
            "Check the finding under each rule: compare_sizes(table, score='pepr_m', "
            "params='num_params', threshold=24.6e6) on both tables (drop the NaN rows of the "
            "default-tag one); True only when median_small > median_large in both.")
