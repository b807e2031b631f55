"""Self-checks for lesson 05, the model zoo: PePR-E/C/M/T and choosing a model.

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
    model_name,
    same,
    sealed,
    values,
)
from peprkit.metric import add_pepr
from peprkit.schema import RESOURCES

#: The kit's functions the by-hand exercise refuses (q1).
BY_HAND = ("add_pepr", "normalize")



@sealed
def q1(answer: Any, *, results: pd.DataFrame, name: str = "pepr_t_by_hand") -> None:
    """PePR-T of every run by hand: test accuracy over 1 + training time min-max per dataset.

    ``answer`` holds one value per row of ``results``, in that order.

    Example:
        >>> from peprkit.examples import example_results
        >>> runs = example_results()
        >>> q1(runs["test_acc"] / (1 + runs["train_time_s"]), results=runs)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: PePR takes the normalised time...
    """
    got = values(answer, name, len(results))
    check_cells([name], BY_HAND)
    expected = add_pepr(results, performance="test_acc", resources={"t": "train_time_s"},
                        by="dataset")["pepr_t"]
    if same(got, expected):
        return
    p = results["test_acc"].to_numpy(dtype=float)
    minmax_slips(got, p, results["train_time_s"], symbol="t", what="time", unit="seconds",
                 largest="longest time", cheapest="fastest run")
    overall = add_pepr(results, performance="test_acc", resources={"t": "train_time_s"})
    if same(got, overall["pepr_t"]):
        raise CheckFailed(
            "You normalised over the whole table. The paper normalises within each dataset: "
            "group by 'dataset' (e.g. groupby('dataset')['train_time_s'].transform('min'))."
        )
    if "val_acc" in results and same(got, expected / p * results["val_acc"].to_numpy()):
        raise CheckFailed(
            "P should be the test accuracy (test_acc), as in the paper, not val_acc."
        )
    raise CheckFailed(
        "Not PePR-T yet: for each run, R = (train_time_s - min) / (max - min) within its "
        "dataset, then test_acc / (1 + R), keeping the rows' order."
    )


def best_models(scored: pd.DataFrame, key: str) -> set[str]:
    """The model(s) with the highest ``pepr_<key>`` (ties all count)."""
    col = scored[f"pepr_{key}"].to_numpy(dtype=float)
    return set(scored["model"].astype(str)[np.isclose(col, col.max(), rtol=0, atol=1e-12)])


@sealed
def q2(deploy: Any, *, scored: pd.DataFrame, name: str = "deploy") -> None:
    """``deploy`` maps each variant ("e", "c", "m", "t") to the model with the best score.

    Example:
        >>> from peprkit.examples import example_results
        >>> from peprkit.metric import add_pepr
        >>> scored = add_pepr(example_results(), performance="test_acc", resources=RESOURCES)
        >>> q2({"e": "resnet50"}, scored=scored)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `deploy` lacks the variant(s) ['c', 'm', 't']: ...
    """
    answered(deploy, name)
    if not isinstance(deploy, dict):
        raise CheckFailed(
            f"`{name}` should be a dict such as {{'e': 'model_a', 'c': ..., 'm': ..., 't': ...}},"
            f" got {type(deploy).__name__}."
        )
    missing = [k for k in RESOURCES if k not in deploy]
    if missing:
        raise CheckFailed(f"`{name}` lacks the variant(s) {missing}: give one model per key.")
    most_accurate = set(scored.loc[scored["test_acc"] == scored["test_acc"].max(), "model"])
    for key in RESOURCES:
        choice = model_name(deploy[key], f"{name}[{key!r}]", scored)
        if choice in best_models(scored, key):
            continue
        if choice in most_accurate:
            raise CheckFailed(
                f"{name}[{key!r}] is the most accurate model. PePR trades accuracy against "
                f"the resource: rank by pepr_{key}, not by test_acc."
            )
        others = [k for k in RESOURCES if k != key and choice in best_models(scored, k)]
        if others:
            raise CheckFailed(
                f"{name}[{key!r}] is the best model for pepr_{others[0]}, not for pepr_{key}."
            )
        raise CheckFailed(
            f"Another model has a higher pepr_{key} than {name}[{key!r}]: sort the table by "
            f"pepr_{key} (descending) and take the top row."
        )


def learned_models(results: pd.DataFrame, margin: float = 0.01) -> set[str]:
    """Models whose runs all beat their majority baseline by more than ``margin``."""
    above = (results["test_acc"] - results["majority_acc"]) > margin
    ok = above.groupby(results["model"].astype(str)).all()
    return set(ok[ok].index)


@sealed
def q3(learned: Any, top_adj: Any, *, results: pd.DataFrame) -> None:
    """Which models learned something, and the best PePR-E on chance-adjusted accuracy.

    ``learned`` lists the models whose runs all beat ``majority_acc`` by more than one
    point (any order); ``top_adj`` is the model of the run with the highest PePR-E when P
    is ``chance_adjusted(test_acc, majority_acc)`` (ties all count).

    Example:
        >>> runs = pd.DataFrame({"model": ["a", "b"], "dataset": "d", "test_acc": [0.9, 0.73],
        ...                      "majority_acc": 0.73, "energy_kwh": [2.0, 1.0]})
        >>> q3(["a"], "a", results=runs)
        >>> q3(["a", "b"], "a", results=runs)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `learned` includes b, but not every run of it...
    """
    answered(learned, "learned")
    if isinstance(learned, str) or not hasattr(learned, "__iter__"):
        raise CheckFailed("`learned` should be a list of model names, e.g. ['resnet18'] "
                          f"(or [] when no model beat the baseline), got {type(learned).__name__}.")
    names = [str(m) for m in learned]
    known = set(results["model"].astype(str))
    strangers = sorted(set(names) - known)
    if strangers:
        raise CheckFailed(f"`learned` names {strangers[0]!r}, which is not a model of `results`.")
    expected = learned_models(results)
    extra, missing = sorted(set(names) - expected), sorted(expected - set(names))
    if extra:
        if extra[0] in learned_models(results, margin=0.0):
            raise CheckFailed(f"`learned` includes {extra[0]}, whose margin over majority_acc "
                              "is one point or less in some run: use test_acc - majority_acc "
                              "> 0.01.")
        raise CheckFailed(f"`learned` includes {extra[0]}, but not every run of it is more "
                          "than one point above majority_acc: a model counts only when all "
                          "its runs are.")
    if missing:
        raise CheckFailed(f"`learned` misses a model whose every run is more than one point "
                          f"above its majority baseline (look at {missing[0]}).")
    choice = model_name(top_adj, "top_adj", results)
    adjusted = add_pepr(results, performance="test_acc", resources={"e": "energy_kwh"},
                        by="dataset", chance="majority_acc")
    if choice in best_models(adjusted, "e"):
        return
    plain = add_pepr(results, performance="test_acc", resources={"e": "energy_kwh"},
                     by="dataset")
    if choice in best_models(plain, "e"):
        raise CheckFailed("`top_adj` has the best PePR-E on plain accuracy. Score on the "
                          "chance-adjusted accuracy: add_pepr(..., chance='majority_acc').")
    raise CheckFailed("Another run has a higher chance-adjusted PePR-E: sort `adj` by "
                      "pepr_e (descending) and take the model of the top row.")
