"""Hidden tests and grading hooks of lesson 01 (PePR from first principles).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson01`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import lesson01 as checks
from peprkit.checks._common import CheckFailed, close, number, result_of, same
from peprkit.course.hidden import _inputs
from peprkit.metric import add_pepr, normalize, pepr

#: The master these hooks belong to.
GRADED_LESSON = "01_pepr_metric"
#: Names the grader rebuilds itself (:func:`grading_context`) instead of reading them
#: from the notebook.
CONTEXT = ("table", "MODEL", "DROP", "BUDGET_KWH")


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: a random subset of the
    example models (never all of them) and a random energy budget, so that answers copied
    from another run of the notebook do not fit.

    >>> p = grading_parameters(np.random.default_rng(0))
    >>> 5 <= len(p["MODELS"]) < 8 and 0.002 <= p["BUDGET_KWH"] <= 0.02
    True
    """
    from peprkit.examples import example_results

    models = sorted(example_results()["model"].astype(str))
    k = int(rng.integers(5, len(models)))
    chosen = sorted(str(m) for m in rng.choice(models, size=k, replace=False))
    return {"MODELS": chosen, "BUDGET_KWH": round(float(rng.uniform(0.002, 0.02)), 6)}


def grading_context(parameters: dict[str, Any], folder: Any = None) -> dict[str, Any]:
    """The tests' context, rebuilt from the injected ``parameters`` as the lesson builds it
    (the notebook's own ``table`` is never trusted).

    >>> ctx = grading_context({"MODELS": ["resnet18", "resnet50", "densenet121"],
    ...                        "BUDGET_KWH": 0.01})
    >>> len(ctx["table"]), ctx["MODEL"], ctx["BUDGET_KWH"]
    (3, 'resnet18', 0.01)
    """
    from peprkit.examples import example_results

    table = example_results()
    models = parameters.get("MODELS")
    if models:
        table = table[table["model"].isin(models)]
    table = table.reset_index(drop=True)
    model = "resnet18" if "resnet18" in set(table["model"]) else table["model"].iloc[0]
    drop = table.loc[table["energy_kwh"].idxmax(), "model"]
    return {"table": table, "MODEL": model, "DROP": drop,
            "BUDGET_KWH": float(parameters.get("BUDGET_KWH", 0.005))}


def hidden_q1(normalize_by_hand: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: random resource values of random size and scale; the
    kit's own ``normalize`` is refused (the exercise says by hand).

    >>> hidden_q1(lambda v: (np.asarray(v) - min(v)) / (max(v) - min(v)))
    """
    rng = _inputs.draws("01", "q1", rng)
    normalize_by_hand = _inputs.by_hand(normalize_by_hand, checks.BY_HAND["q1"])
    for _ in range(4):
        n = int(rng.integers(3, 10))
        case = (10.0 ** rng.uniform(-4, 3)) * rng.uniform(0.1, 10.0, size=n)
        out = np.asarray(result_of(normalize_by_hand, "normalize_by_hand", case.tolist(),
                                   slips=checks.SLIPS["q1"]),
                         dtype=float)
        if out.shape != (n,) or not same(out, normalize(case)):
            raise CheckFailed("normalize_by_hand is wrong on other resource values.")


def hidden_q2(pepr_by_hand: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: random performances and resources (also R = 0, the
    cheapest model, and R > 1); the kit's own ``pepr`` is refused (the exercise says by
    hand).

    >>> hidden_q2(lambda p, r: p / (1 + r))
    """
    rng = _inputs.draws("01", "q2", rng)
    pepr_by_hand = _inputs.by_hand(pepr_by_hand, checks.BY_HAND["q2"])
    resources = [0.0, *rng.uniform(0, 3, 4)]
    for p, r in zip(rng.uniform(0, 1, 5), resources, strict=True):
        got = number(result_of(pepr_by_hand, "pepr_by_hand", float(p), float(r),
                               slips=checks.SLIPS["q2"]), "pepr_by_hand")
        if not close(got, pepr(float(p), float(r))):
            raise CheckFailed("pepr_by_hand is wrong on other inputs.")


#: Names the drawn tables give their models (the example table's and similar ones).
_MODELS = ("resnet18", "resnet50", "densenet121", "efficientnet_b0", "mobilenetv3_small_050",
           "lcnet_050", "regnetx_002", "convnext_atto", "ghostnet_100", "tinynet_a",
           "mnasnet_100", "mobilenetv2_050")
_RESOURCES = {"e": "energy_kwh", "c": "co2_g", "m": "memory_gb", "t": "train_time_s"}


def _table(rng: np.random.Generator, low: int = 4) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A table of models shaped like the lesson's (``example_results`` columns, rows in
    random order, no ties) and its ``scored`` as the lesson computes it, whose ranking
    by PePR-E differs from the ranking by accuracy."""
    from peprkit.examples import example_results

    columns = list(example_results().columns)
    while True:
        n = int(rng.integers(low, 9))
        models = [str(m) for m in rng.choice(_MODELS, size=n, replace=False)]
        energy = 10.0 ** rng.uniform(-4, -1.5, n)
        table = pd.DataFrame({
            "model": models, "dataset": "breastmnist",
            "num_params": (10.0 ** rng.uniform(5.5, 7.5, n)).astype(int),
            "test_acc": np.round(rng.uniform(0.6, 0.95, n), 4), "energy_kwh": energy,
            "co2_g": energy * rng.uniform(20, 600), "memory_gb": rng.uniform(0.1, 4.0, n),
            "train_time_s": energy * rng.uniform(2e5, 2e6, n)})
        for column in columns:
            if column not in table:
                table[column] = example_results()[column].iloc[0]
        table = table[[c for c in columns if c in table] + [c for c in table if c not in
                                                             columns]]
        scored = add_pepr(table, performance="test_acc", resources=_RESOURCES, by="dataset")
        by_acc = list(scored.sort_values("test_acc", ascending=False)["model"])
        by_pepr = list(scored.sort_values("pepr_e", ascending=False)["model"])
        if (by_acc != by_pepr and by_acc != list(table["model"]) and _inputs.distinct(
                scored["test_acc"]) and _inputs.distinct(scored["pepr_e"])
                and _inputs.distinct(energy)):
            return table, scored


def hidden_q3(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 3: the answer cell run again on other tables of models
    (other models, accuracies and energies, rows in another order).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q3(answer_cells([
    ...     'rank_by_accuracy = list(scored.sort_values("test_acc", ascending=False)["model"])',
    ...     'rank_by_pepr = list(scored.sort_values("pepr_e", ascending=False)["model"])']))
    >>> hidden_q3(answer_cells(["rank_by_accuracy = rank_by_pepr = list(table['model'])"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: rank_by_accuracy or rank_by_pepr is wrong on other tables...
    """
    rng = _inputs.draws("01", "q3", rng)
    for _ in range(3):
        table, scored = _table(rng)
        got = rerun(["rank_by_accuracy", "rank_by_pepr"], table=table, scored=scored)
        try:
            checks.q3(got["rank_by_accuracy"], got["rank_by_pepr"], table=table)
        except CheckFailed:
            raise CheckFailed("rank_by_accuracy or rank_by_pepr is wrong on other tables of "
                              "models: sort `scored` by each column, with no name copied "
                              "from the notebook's output.") from None


def hidden_q4(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 4: the answer cell run again on other tables, models and
    budgets.

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q4(answer_cells([
    ...     'e = {n: peprkit.add_pepr(t, performance="test_acc", resources={"e": "energy_kwh"})'
    ...     '.set_index("model").loc[MODEL, "pepr_e"] for n, t in (("w", full_set), '
    ...     '("o", smaller_set))}\\nminmax_with, minmax_without = e["w"], e["o"]\\n'
    ...     'row = full_set.set_index("model").loc[MODEL]\\n'
    ...     'budget_with = budget_without = row.test_acc / (1 + row.energy_kwh / BUDGET_KWH)']))
    >>> hidden_q4(answer_cells(["minmax_with = minmax_without = 0.7",
    ...                         "budget_with = budget_without = 0.6"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: The four scores are wrong on other tables...
    """
    rng = _inputs.draws("01", "q4", rng)
    for _ in range(3):
        table, scored = _table(rng, low=5)
        energy = table.set_index("model")["energy_kwh"]
        drop = str(energy.idxmax())
        model = str(rng.choice([m for m in energy.index if m not in (drop, energy.idxmin())]))
        budget = round(float(rng.uniform(0.5, 3.0) * energy.median()), 8)
        smaller = table[table["model"] != drop].reset_index(drop=True)
        names = ["minmax_with", "minmax_without", "budget_with", "budget_without"]
        got = rerun(names, table=table, scored=scored, full_set=table, smaller_set=smaller,
                    MODEL=model, DROP=drop, BUDGET_KWH=budget)
        try:
            checks.q4(*(got[n] for n in names), table=table, model=model, drop=drop,
                      budget_kwh=budget)
        except CheckFailed:
            raise CheckFailed("The four scores are wrong on other tables, models and budgets: "
                              "compute them from full_set, smaller_set, MODEL and BUDGET_KWH, "
                              "with no value copied from the notebook's output.") from None
