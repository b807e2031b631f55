"""Self-checks for lesson 05, the model zoo: PePR-E/C/M/T and choosing a model.

Choosing a model (exercise 2) ranks on the validation accuracy, among the runs that beat
the majority-class baseline, and leaves the test accuracy for reporting the choice; the
paper's own ranking on test accuracy is what exercise 1 reproduces.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._byhand import check_cells
from peprkit.checks._common import (
    LEARNED_MARGIN,
    CheckFailed,
    answered,
    learned,
    minmax_slips,
    model_name,
    never_learned,
    on_test_split,
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
            "Here P should be the test accuracy (test_acc), not val_acc: this exercise "
            "reproduces the paper's PePR-T table, which scores the test accuracy. (Choosing "
            "a model to deploy, exercise 2, is different: it ranks on val_acc.)"
        )
    if same(got, 100 * expected):
        raise CheckFailed(
            "That is a percentage: test_acc is a fraction in [0, 1] and PePR keeps its scale; "
            "do not multiply by 100."
        )
    raise CheckFailed(
        "Not PePR-T yet: for each run, R = (train_time_s - min) / (max - min) within its "
        "dataset, then test_acc / (1 + R), keeping the rows' order."
    )


def best_models(scored: pd.DataFrame, key: str) -> set[str]:
    """The model(s) with the highest ``pepr_<key>`` (ties all count); none for no rows."""
    col = scored[f"pepr_{key}"].to_numpy(dtype=float)
    if col.size == 0:
        return set()
    return set(scored["model"].astype(str)[np.isclose(col, col.max(), rtol=0, atol=1e-12)])


def selection(results: pd.DataFrame, performance: str = "val_acc") -> pd.DataFrame:
    """``results`` scored for choosing a model: PePR-E/C/M/T with P = ``performance``
    (the validation accuracy), each resource min-max normalised within its dataset over
    all runs; the lesson's ``sel``."""
    return add_pepr(results, performance=performance, resources=RESOURCES, by="dataset")


def deploy_answers(results: pd.DataFrame, performance: str = "val_acc"
                   ) -> dict[str, set[str]] | None:
    """The right ``deploy`` of exercise 2: per variant, the model(s) of the learned run(s)
    (``test_acc - majority_acc > 0.01``) with the highest PePR on ``performance``; R
    min-max normalised over all runs or over the learned runs only (both accepted).
    None when no run learned.

    >>> runs = pd.DataFrame({"model": ["a", "b", "c"], "dataset": "d",
    ...                      "val_acc": [0.95, 0.85, 0.74], "test_acc": [0.9, 0.8, 0.73],
    ...                      "majority_acc": 0.73, **{c: [3.0, 2.0, 1.0]
    ...                      for c in RESOURCES.values()}})
    >>> deploy_answers(runs)["e"], deploy_answers(runs.assign(test_acc=0.735)) is None
    ({'b'}, True)
    """
    ok = learned(results["test_acc"], results["majority_acc"])
    if not ok.any():
        return None
    over_all = selection(results, performance)[ok]
    over_learned = selection(results[ok], performance)
    return {k: best_models(over_all, k) | best_models(over_learned, k) for k in RESOURCES}


def _no_deploy(deploy: Any) -> bool:
    """Whether ``deploy`` says "deploy nothing": None, or a dict whose values all are."""
    return deploy is None or (isinstance(deploy, dict) and len(deploy) > 0
                              and all(v is None for v in deploy.values()))


@sealed
def q2(deploy: Any, *, results: pd.DataFrame | None = None, scored: pd.DataFrame | None = None,
       name: str = "deploy") -> None:
    """``deploy`` maps each variant ("e", "c", "m", "t") to the model to deploy: among the
    runs that learned something (``test_acc - majority_acc > 0.01``), the one with the
    highest PePR when P is the **validation** accuracy (``val_acc``); None when no run
    learned. ``results`` is the sweep (``scored``, which holds the same columns, works too).

    Example:
        >>> runs = pd.DataFrame({"model": ["a", "b", "c"], "dataset": "d",
        ...                      "val_acc": [0.95, 0.85, 0.80], "test_acc": [0.9, 0.8, 0.73],
        ...                      "majority_acc": 0.73, **{c: [3.0, 2.0, 1.0]
        ...                      for c in RESOURCES.values()}})
        >>> q2({k: "b" for k in RESOURCES}, results=runs)
        >>> q2({k: "c" for k in RESOURCES}, results=runs)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `deploy['e']` = 'c': this run never beat always answering...
    """
    table = results if results is not None else scored
    if table is None:
        raise ValueError("pass results=<the sweep's table> (e.g. results=results).")
    table = table.reset_index(drop=True)
    right = deploy_answers(table)
    majority = float(table["majority_acc"].max()) if len(table) else float("nan")
    if deploy is Ellipsis:
        answered(deploy, name)
    if right is None:
        if _no_deploy(deploy):
            return
        raise CheckFailed(
            f"No run of your table beat always answering the majority class (majority_acc = "
            f"{majority:.3f}) by more than one point: nothing learned, so nothing is worth "
            f"deploying. The answer is `{name} = None` (train longer, or from pretrained "
            "weights, and try again).")
    if _no_deploy(deploy):
        raise CheckFailed(
            f"`{name}` is None, but at least one run beat the majority baseline by more than "
            "one point: choose among those runs.")
    if not isinstance(deploy, dict):
        raise CheckFailed(
            f"`{name}` should be a dict such as {{'e': 'model_a', 'c': ..., 'm': ..., 't': ...}}"
            f" (or None when no run learned), got {type(deploy).__name__}."
        )
    missing = [k for k in RESOURCES if k not in deploy]
    if missing:
        raise CheckFailed(f"`{name}` lacks the variant(s) {missing}: give one model per key.")
    ok = learned(table["test_acc"], table["majority_acc"])
    models = table["model"].astype(str)
    ever_learned = set(models[ok])
    on_val = selection(table)
    on_test = selection(table, "test_acc")
    for key in RESOURCES:
        label = f"{name}[{key!r}]"
        choice = model_name(deploy[key], label, table)
        if choice in right[key]:
            continue
        if choice not in ever_learned:
            raise CheckFailed(never_learned(label, choice, float(
                table.loc[models == choice, "majority_acc"].max())))
        if choice in (best_models(on_test[ok], key) | best_models(on_test, key)
                      | best_models(selection(table[ok], "test_acc"), key)):
            raise CheckFailed(on_test_split(label, f"pepr_{key}"))
        if choice in best_models(on_val, key):
            raise CheckFailed(
                f"{label}: the best pepr_{key} run of {choice!r} did not beat the majority "
                "baseline; keep only the runs with test_acc - majority_acc > 0.01, then take "
                "the best of those.")
        val = on_val[ok]
        if choice in set(val.loc[val["val_acc"] == val["val_acc"].max(), "model"].astype(str)):
            raise CheckFailed(
                f"{label} is the most accurate model on validation. PePR trades accuracy "
                f"against the resource: rank by pepr_{key} (P = val_acc), not by val_acc.")
        others = [k for k in RESOURCES if k != key and choice in right[k]]
        if others:
            raise CheckFailed(
                f"{label} is the best model for pepr_{others[0]}, not for pepr_{key}."
            )
        raise CheckFailed(
            f"Another learned run has a higher pepr_{key} on validation than {label}: sort "
            f"the learned runs of `sel` by pepr_{key} (descending) and take the top row."
        )


def learned_models(results: pd.DataFrame, margin: float = LEARNED_MARGIN) -> set[str]:
    """Models whose runs all beat their majority baseline by more than ``margin``."""
    above = pd.Series(learned(results["test_acc"], results["majority_acc"], margin),
                      index=results.index)
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
