"""Self-checks for lesson 07, the capstone: choose a model within a clinic's budget.

The choice ranks on the validation accuracy (``val_acc``, and PePR-E with P = val_acc),
among the models that beat the majority-class baseline (``test_acc - majority_acc >
0.01``); the test accuracy is kept for reporting the chosen model. When no model within
the budgets learned anything, the answer is None.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks._common import (
    CheckFailed,
    answered,
    close,
    columns,
    learned,
    model_name,
    never_learned,
    number,
    on_test_split,
    same,
    sealed,
)
from peprkit.metric import pareto_front

#: Columns the capstone's table must have.
TABLE_COLUMNS = ["model", "num_params", "val_acc", "test_acc", "majority_acc", "energy_kwh",
                 "memory_gb", "co2_clinic_g", "pepr_e"]


#: Columns of the sweep that the decision table averages per model (as the lesson does).
DECISION_COLUMNS = ["num_params", "val_acc", "test_acc", "majority_acc", "test_balanced_acc",
                    "test_auc", "energy_kwh", "memory_gb"]


def decision_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the sweep's ``results``: the mean of :data:`DECISION_COLUMNS`
    over its runs, as the lesson builds ``table`` (before exercise 1's columns).

    >>> r = pd.DataFrame({"model": ["b", "a", "b"], **{c: [1.0, 2.0, 3.0]
    ...                   for c in DECISION_COLUMNS}})
    >>> decision_table(r)[["model", "energy_kwh"]].values.tolist()
    [['a', 2.0], ['b', 2.0]]
    """
    return results.groupby("model", as_index=False)[DECISION_COLUMNS].mean()


def matches_sweep(table: pd.DataFrame, results: pd.DataFrame, name: str) -> None:
    """Fail unless ``table`` holds the sweep's models with the sweep's numbers."""
    base = decision_table(results).set_index("model")
    if sorted(table["model"].astype(str)) != sorted(base.index.astype(str)):
        raise CheckFailed(
            f"`{name}` should hold one row for every model of the sweep (`results`), no more: "
            "start from the table the cell above builds and only add the two columns."
        )
    mine = table.set_index("model").loc[base.index]
    for column in ("val_acc", "test_acc", "energy_kwh", "memory_gb"):
        if not same(mine[column].to_numpy(dtype=float), base[column].to_numpy(dtype=float)):
            raise CheckFailed(
                f"`{name}[{column!r}]` no longer matches the sweep: keep the per-model means "
                "of `results` that the cell above computes."
            )


@sealed
def q1(table: Any, *, budget_kwh: float, intensity_g_per_kwh: float,
       results: pd.DataFrame | None = None, name: str = "table") -> None:
    """The capstone table: one row per model, the clinic's CO2 and PePR-E against the budget.

    ``co2_clinic_g = energy_kwh * intensity_g_per_kwh`` and
    ``pepr_e = val_acc / (1 + energy_kwh / budget_kwh)`` (P is the validation accuracy:
    the table is for choosing). With ``results`` (the sweep), the table must also hold
    exactly the sweep's models and numbers.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "a"], "num_params": [1, 1], "val_acc": 0.8,
        ...                   "test_acc": [0.8, 0.8], "majority_acc": 0.7,
        ...                   "energy_kwh": [1.0, 1.0], "memory_gb": [1.0, 1.0],
        ...                   "co2_clinic_g": [5.0, 5.0], "pepr_e": [0.4, 0.4]})
        >>> q1(t, budget_kwh=1.0, intensity_g_per_kwh=5.0)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `table` has several rows for 'a'...
    """
    columns(table, name, TABLE_COLUMNS)
    for column in ("co2_clinic_g", "pepr_e"):
        if (table[column].map(lambda v: v is Ellipsis)).any():
            raise CheckFailed(
                f"`{name}[{column!r}]` is still `...`: replace it with your computation."
            )
    for column in TABLE_COLUMNS[1:]:
        try:
            pd.to_numeric(table[column])
        except (TypeError, ValueError):
            raise CheckFailed(f"`{name}[{column!r}]` should hold numbers.") from None
    if table.empty:
        raise CheckFailed(f"`{name}` is empty: put one row per model of your sweep in it.")
    repeated = table["model"][table["model"].duplicated()]
    if len(repeated):
        raise CheckFailed(
            f"`{name}` has several rows for {repeated.iloc[0]!r}: keep one row per model (e.g. "
            "the mean over seeds with groupby('model'))."
        )
    if table[TABLE_COLUMNS[1:]].isna().any().any():
        raise CheckFailed(f"`{name}` has missing values; every model needs every number.")
    if results is not None:
        matches_sweep(table, results, name)
    energy = table["energy_kwh"].to_numpy(dtype=float)
    if not same(table["co2_clinic_g"].to_numpy(dtype=float), energy * intensity_g_per_kwh):
        raise CheckFailed(
            "co2_clinic_g should be the clinic's emissions: energy_kwh times the grid "
            "intensity of the clinic's country (g/kWh), not the meter's default grid."
        )
    p = table["val_acc"].to_numpy(dtype=float)
    got = table["pepr_e"].to_numpy(dtype=float)
    if same(got, p / (1 + energy / budget_kwh)):
        return
    test = table["test_acc"].to_numpy(dtype=float)
    if not same(test, p) and same(got, test / (1 + energy / budget_kwh)):
        raise CheckFailed(
            "pepr_e uses test_acc: this table is for choosing a model, so P is the validation "
            "accuracy (val_acc). A model chosen on the test split has an optimistic test "
            "score; keep test_acc for reporting the chosen model."
        )
    if same(got, 100 * p / (1 + energy / budget_kwh)):
        raise CheckFailed("That is a percentage: val_acc is a fraction in [0, 1] and PePR keeps "
                          "its scale; do not multiply by 100.")
    if energy.max() > energy.min() and same(
            got, p / (1 + (energy - energy.min()) / (energy.max() - energy.min()))):
        raise CheckFailed(
            "pepr_e is min-max normalised over your models. The clinic has a fixed budget: "
            "R = energy_kwh / budget (normalize(..., reference=budget)), so scores stay "
            "comparable when the set of models changes."
        )
    raise CheckFailed(
        "pepr_e should be val_acc / (1 + R) with R = energy_kwh / the energy budget."
    )


def within_budget(table: pd.DataFrame, energy_budget_kwh: float,
                   memory_budget_gb: float) -> pd.DataFrame:
    """The rows of ``table`` within both the energy and the memory budget."""
    ok = (table["energy_kwh"] <= energy_budget_kwh) & (table["memory_gb"] <= memory_budget_gb)
    return table[ok]


@sealed
def q2(fits: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, name: str = "fits") -> None:
    """``fits`` lists the models whose energy and memory are both within budget.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b"], "test_acc": [0.9, 0.8],
        ...                   "energy_kwh": [1.0, 3.0], "memory_gb": [1.0, 1.0]})
        >>> q2(["a", "b"], table=t, energy_budget_kwh=2.0, memory_budget_gb=2.0)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: 'b' uses more energy per retraining than the budget...
    """
    answered(fits, name)
    if isinstance(fits, str) or not hasattr(fits, "__iter__"):
        raise CheckFailed(
            f"`{name}` should be a list of model names (possibly empty), got "
            f"{type(fits).__name__}."
        )
    chosen = [str(m) for m in fits]
    for model in chosen:
        model_name(model, name, table)
    expected = set(within_budget(table, energy_budget_kwh, memory_budget_gb)["model"])
    by_model = table.set_index("model")
    for model in chosen:
        if model in expected:
            continue
        if by_model.loc[model, "energy_kwh"] > energy_budget_kwh:
            raise CheckFailed(
                f"{model!r} uses more energy per retraining than the budget; a model fits only "
                "when energy_kwh <= the energy budget."
            )
        raise CheckFailed(
            f"{model!r} needs more memory than the budget; a model fits only when "
            "memory_gb <= the memory budget too."
        )
    if set(chosen) != expected:
        raise CheckFailed(
            f"At least one model that meets both budgets is missing from `{name}`: check every "
            "row of the table against both limits (<=)."
        )


def candidates(table: pd.DataFrame, energy_budget_kwh: float,
               memory_budget_gb: float) -> pd.DataFrame:
    """The models a choice is made from: within both budgets and learned something
    (``test_acc - majority_acc > 0.01``)."""
    feasible = within_budget(table, energy_budget_kwh, memory_budget_gb)
    return feasible[learned(feasible["test_acc"], feasible["majority_acc"])]


def front_models(pool: pd.DataFrame, performance: str = "val_acc") -> set[str]:
    """The models of ``pool`` on its Pareto front of ``performance`` against energy."""
    if pool.empty:
        return set()
    front = pareto_front(pool[performance].to_numpy(dtype=float),
                         pool["energy_kwh"].to_numpy(dtype=float))
    return set(pool["model"].astype(str)[np.asarray(front, dtype=bool)])


def _chance_choice(choice: str, table: pd.DataFrame, name: str) -> None:
    """Fail with the chance hint when ``choice`` never beat the majority baseline."""
    row = table[table["model"].astype(str) == choice].iloc[0]
    if not learned(row["test_acc"], row["majority_acc"]):
        raise CheckFailed(never_learned(name, choice, float(row["majority_acc"])))


_CHOICE_COLUMNS = ["model", "val_acc", "test_acc", "majority_acc", "energy_kwh", "memory_gb"]


@sealed
def q3(choice: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, name: str = "choice") -> None:
    """``choice`` is on the Pareto front (**validation** accuracy against energy) of the
    models within both budgets that learned something (``test_acc - majority_acc >
    0.01``). When there is no such model the answer is None.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b", "c"], "val_acc": [0.9, 0.8, 0.75],
        ...                   "test_acc": [0.9, 0.8, 0.7], "majority_acc": 0.7,
        ...                   "energy_kwh": [1.0, 2.0, 0.5], "memory_gb": 1.0})
        >>> q3("a", table=t, energy_budget_kwh=5.0, memory_budget_gb=2.0)
        >>> q3("b", table=t, energy_budget_kwh=5.0, memory_budget_gb=2.0)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: 'b' is dominated: ...
        >>> q3("c", table=t, energy_budget_kwh=5.0, memory_budget_gb=2.0)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: `choice` = 'c': this run never beat always answering...
    """
    columns(table, "table", _CHOICE_COLUMNS)
    feasible = within_budget(table, energy_budget_kwh, memory_budget_gb)
    pool = candidates(table, energy_budget_kwh, memory_budget_gb)
    if choice is None:
        if pool.empty:
            return
        raise CheckFailed(
            f"`{name}` is None, but at least one model within both budgets learned something "
            "(test_acc more than one point above majority_acc): choose among those.")
    answered(choice, name)
    model_name(choice, name, table)
    if choice not in set(feasible["model"].astype(str)):
        if feasible.empty:
            raise CheckFailed(
                "No model of your table meets both budgets, so there is nothing to deploy: "
                f"set `{name} = None` and say in your justification what the clinic should "
                "change.")
        raise CheckFailed(
            f"{choice!r} breaks the energy or memory budget; compare only the models within "
            "both budgets."
        )
    _chance_choice(choice, table, name)
    if choice in front_models(pool):
        return
    if choice in front_models(pool, "test_acc"):
        raise CheckFailed(on_test_split(name, "test_acc against energy"))
    raise CheckFailed(
        f"{choice!r} is dominated: another model within budget that learned something is at "
        "least as accurate on validation and uses no more energy. Pick a model on the "
        "Pareto front of val_acc against energy (plot.pareto shows it)."
    )


@sealed
def q4(choice: Any, yearly_co2_kg: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, intensity_g_per_kwh: float, name: str = "choice") -> None:
    """``choice`` stays within both budgets and learned something; ``yearly_co2_kg`` is 12
    retrainings' CO2 in kg (0.0 when ``choice`` is None because no model qualifies).

    Example:
        >>> t = pd.DataFrame({"model": ["a"], "val_acc": [0.9], "test_acc": [0.9],
        ...                   "majority_acc": 0.7, "energy_kwh": [3.0], "memory_gb": [1.0]})
        >>> q4("a", 3.6, table=t, energy_budget_kwh=2.0, memory_budget_gb=2.0,
        ...    intensity_g_per_kwh=100.0)
        Traceback (most recent call last):
        ...
        peprkit.checks.CheckFailed: 'a' needs more energy per retraining than ...
    """
    columns(table, "table", _CHOICE_COLUMNS)
    if choice is None:
        if not candidates(table, energy_budget_kwh, memory_budget_gb).empty:
            raise CheckFailed(
                f"`{name}` is None, but a model within both budgets learned something: go "
                "back to exercise 3 and choose it.")
        expected = 0.0
    else:
        model_name(choice, name, table)
        row = table[table["model"] == choice].iloc[0]
        if row["energy_kwh"] > energy_budget_kwh:
            raise CheckFailed(
                f"{choice!r} needs more energy per retraining than the budget allows; look at "
                "energy_kwh against the energy budget."
            )
        if row["memory_gb"] > memory_budget_gb:
            raise CheckFailed(
                f"{choice!r} needs more memory than the clinic's machine has; look at "
                "memory_gb against the memory budget."
            )
        _chance_choice(choice, table, name)
        expected = 12 * float(row["energy_kwh"]) * intensity_g_per_kwh / 1000
    value = number(yearly_co2_kg, "yearly_co2_kg", "kg")
    if close(value, expected):
        return
    if close(value, expected * 1000):
        raise CheckFailed("yearly_co2_kg is in grams; divide by 1000 for kilograms.")
    if close(value, expected / 12):
        raise CheckFailed("yearly_co2_kg is one retraining; the clinic retrains every month.")
    raise CheckFailed(
        "yearly_co2_kg should be twelve retrainings times your choice's energy_kwh times the "
        "clinic's grid intensity, in kg."
    )
