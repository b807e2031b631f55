"""Self-checks for lesson 05, the model zoo: PePR-E/C/M/T and choosing a model.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._common import answered, model_name, same, values
from peprkit.metric import add_pepr
from peprkit.paper import RESOURCES


def q1(answer: Any, results: pd.DataFrame, *, name: str = "pepr_t_by_hand") -> None:
    """PePR-T of every run by hand: test accuracy over 1 + training time min-max per dataset.

    ``answer`` holds one value per row of ``results``, in that order.

    Example:
        >>> from peprkit.examples import example_results
        >>> runs = example_results()
        >>> q1(runs["test_acc"] / (1 + runs["train_time_s"]), runs)
        Traceback (most recent call last):
        ...
        AssertionError: PePR takes the normalised time...
    """
    got = values(answer, name, len(results))
    expected = add_pepr(results, performance="test_acc", resources={"t": "train_time_s"},
                        by="dataset")["pepr_t"]
    if same(got, expected):
        return
    p = results["test_acc"].to_numpy(dtype=float)
    t = results["train_time_s"].to_numpy(dtype=float)
    if same(got, p / (1 + t)):
        raise AssertionError(
            "PePR takes the normalised time, R = (t - t_min) / (t_max - t_min), not seconds "
            "as measured."
        )
    if t.max() > 0 and same(got, p / (1 + t / t.max())):
        raise AssertionError(
            "R looks divided by the longest time only; min-max also subtracts the shortest, "
            "so the fastest run gets R = 0."
        )
    overall = add_pepr(results, performance="test_acc", resources={"t": "train_time_s"})
    if same(got, overall["pepr_t"]):
        raise AssertionError(
            "You normalised over the whole table. The paper normalises within each dataset: "
            "group by 'dataset' (e.g. groupby('dataset')['train_time_s'].transform('min'))."
        )
    if "val_acc" in results and same(got, expected / p * results["val_acc"].to_numpy()):
        raise AssertionError(
            "P should be the test accuracy (test_acc), as in the paper, not val_acc."
        )
    raise AssertionError(
        "Not PePR-T yet: for each run, R = (train_time_s - min) / (max - min) within its "
        "dataset, then test_acc / (1 + R), keeping the rows' order."
    )


def best_models(scored: pd.DataFrame, key: str) -> set[str]:
    """The model(s) with the highest ``pepr_<key>`` (ties all count)."""
    col = scored[f"pepr_{key}"].to_numpy(dtype=float)
    return set(scored["model"].astype(str)[np.isclose(col, col.max(), rtol=0, atol=1e-12)])


def q2(deploy: Any, scored: pd.DataFrame, *, name: str = "deploy") -> None:
    """``deploy`` maps each variant ("e", "c", "m", "t") to the model with the best score.

    Example:
        >>> from peprkit.examples import example_results
        >>> from peprkit.metric import add_pepr
        >>> scored = add_pepr(example_results(), performance="test_acc", resources=RESOURCES)
        >>> q2({"e": "resnet50"}, scored)
        Traceback (most recent call last):
        ...
        AssertionError: `deploy` lacks the variant(s) ['c', 'm', 't']: ...
    """
    answered(deploy, name)
    if not isinstance(deploy, dict):
        raise AssertionError(
            f"`{name}` should be a dict such as {{'e': 'model_a', 'c': ..., 'm': ..., 't': ...}},"
            f" got {type(deploy).__name__}."
        )
    missing = [k for k in RESOURCES if k not in deploy]
    if missing:
        raise AssertionError(f"`{name}` lacks the variant(s) {missing}: give one model per key.")
    most_accurate = set(scored.loc[scored["test_acc"] == scored["test_acc"].max(), "model"])
    for key in RESOURCES:
        choice = model_name(deploy[key], f"{name}[{key!r}]", scored)
        if choice in best_models(scored, key):
            continue
        if choice in most_accurate:
            raise AssertionError(
                f"{name}[{key!r}] is the most accurate model. PePR trades accuracy against "
                f"the resource: rank by pepr_{key}, not by test_acc."
            )
        others = [k for k in RESOURCES if k != key and choice in best_models(scored, k)]
        if others:
            raise AssertionError(
                f"{name}[{key!r}] is the best model for pepr_{others[0]}, not for pepr_{key}."
            )
        raise AssertionError(
            f"Another model has a higher pepr_{key} than {name}[{key!r}]: sort the table by "
            f"pepr_{key} (descending) and take the top row."
        )
