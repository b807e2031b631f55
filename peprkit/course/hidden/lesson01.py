"""Hidden tests and grading hooks of lesson 01 (PePR from first principles).

Teacher code, used by ``peprkit grade`` and by the master's ``# HIDDEN`` test cells;
learners never need it (their self-checks are :mod:`peprkit.checks.lesson01`).
``GRADED_LESSON`` names the master the hooks belong to, ``CONTEXT`` the names the
grader rebuilds itself (:func:`grading_context`) instead of reading them from the
notebook, and each ``hidden_qK`` draws its inputs at grading time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from peprkit.checks._common import CheckFailed, close, number, result_of, same
from peprkit.course.hidden import _inputs
from peprkit.metric import normalize, pepr

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
    """Hidden test of exercise 1: random resource values of random size and scale.

    >>> hidden_q1(lambda v: (np.asarray(v) - min(v)) / (max(v) - min(v)))
    """
    rng = _inputs.draws("01", "q1", rng)
    for _ in range(4):
        n = int(rng.integers(3, 10))
        case = (10.0 ** rng.uniform(-4, 3)) * rng.uniform(0.1, 10.0, size=n)
        out = np.asarray(result_of(normalize_by_hand, "normalize_by_hand", case.tolist()),
                         dtype=float)
        if out.shape != (n,) or not same(out, normalize(case)):
            raise CheckFailed("normalize_by_hand is wrong on other resource values.")


def hidden_q2(pepr_by_hand: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: random performances and resources (also R > 1).

    >>> hidden_q2(lambda p, r: p / (1 + r))
    """
    rng = _inputs.draws("01", "q2", rng)
    for p, r in zip(rng.uniform(0, 1, 5), rng.uniform(0, 3, 5), strict=True):
        got = number(result_of(pepr_by_hand, "pepr_by_hand", float(p), float(r)), "pepr_by_hand")
        if not close(got, pepr(float(p), float(r))):
            raise CheckFailed("pepr_by_hand is wrong on other inputs.")
