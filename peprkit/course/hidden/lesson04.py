"""Hidden tests and grading hooks of lesson 04 (pretraining and data size).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson04`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import lesson04 as checks
from peprkit.checks._common import CheckFailed, close, number
from peprkit.course.hidden import _inputs

#: The master these hooks belong to.
GRADED_LESSON = "04_pretraining_and_data"
#: Names the grader rebuilds from the run's files (:func:`grading_context`) instead of
#: reading them from the notebook.
CONTEXT = ("history_pretrained", "history_scratch", "TARGET_ACC", "pretrained_acc",
           "scratch_acc")
#: Where the lesson writes its runs (``RUN_DIR``), relative to the notebook's folder.
RUN_ROOT = "runs/04_pretraining_and_data"
#: The share of the best validation accuracy the notebook's exercise 1 targets by default.
TARGET_SHARE = 0.95
_HISTORY_NEEDS = ("val_acc", "energy_kwh")
_RESULTS_NEEDS = ("model", "dataset", "epochs", "pretrained", "test_acc")


def target_acc(history_pretrained: pd.DataFrame, history_scratch: pd.DataFrame,
               share: float = TARGET_SHARE) -> float:
    """Exercise 1's target as the lesson sets it: ``share`` of the best validation
    accuracy of the two runs, rounded to three decimals.

    >>> a, b = pd.DataFrame({"val_acc": [0.6, 0.8]}), pd.DataFrame({"val_acc": [0.7]})
    >>> target_acc(a, b, 0.9)
    0.72
    """
    best = max(float(history_pretrained["val_acc"].max()), float(history_scratch["val_acc"].max()))
    return round(float(share) * best, 3)


def _needs(table: pd.DataFrame, columns: tuple[str, ...], what: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in table.columns]
    if missing or table.empty:
        raise CheckFailed(f"the run's {what} is empty or lacks the column(s) {missing}: run "
                          "every cell of the notebook, in order, without editing its files.")
    return table


def _one_run(folder: Any, root: str) -> pd.DataFrame:
    """History of the one run under ``folder/root`` (see :func:`_inputs.one_run`)."""
    name, history = _inputs.one_run(folder, root)
    return _needs(history, _HISTORY_NEEDS, f"history {root}/{name}")


def _flags(column: pd.Series) -> np.ndarray:
    """A CSV column of booleans as a bool array ("True"/"False" text included)."""
    return column.map(lambda v: str(v).strip().lower() in ("true", "1", "1.0")).to_numpy(bool)


def grading_parameters(rng: np.random.Generator) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: exercise 1's target
    share, so that the target differs from the one of any other run of the notebook.

    >>> 0.9 <= grading_parameters(np.random.default_rng(0))["TARGET_SHARE"] <= 0.98
    True
    """
    return {"TARGET_SHARE": round(float(rng.uniform(0.9, 0.98)), 3)}


def grading_context(parameters: dict[str, Any], folder: Any) -> dict[str, Any]:
    """The tests' context rebuilt from the files the graded run wrote in ``folder``:
    the two histories of section 2 (``history.csv`` under ``RUN_ROOT/one_pretrained`` and
    ``RUN_ROOT/one_scratch``), the target computed from them with the grader's
    ``TARGET_SHARE``, and the groups of exercise 2 from the sweep's ``results.csv``.

    Raises:
        CheckFailed: a file is missing, unreadable or lacks the columns the lesson writes.
    """

    history_pretrained = _one_run(folder, f"{RUN_ROOT}/one_pretrained")
    history_scratch = _one_run(folder, f"{RUN_ROOT}/one_scratch")
    share = float(parameters.get("TARGET_SHARE", TARGET_SHARE))
    results = _needs(_inputs.read_artifact(folder, f"{RUN_ROOT}/results.csv"), _RESULTS_NEEDS,
                     f"sweep table {RUN_ROOT}/results.csv")
    runs = _inputs.current_runs(results, ("dataset", "epochs"))
    pretrained = _flags(runs["pretrained"])
    acc = runs["test_acc"].to_numpy(dtype=float)
    return {"history_pretrained": history_pretrained, "history_scratch": history_scratch,
            "TARGET_ACC": target_acc(history_pretrained, history_scratch, share),
            "pretrained_acc": acc[pretrained], "scratch_acc": acc[~pretrained]}


def _history(rng: np.random.Generator, epochs: int, level: float, majority: float,
             per_epoch_kwh: float) -> pd.DataFrame:
    """A history as :func:`peprkit.train.finetune` writes it: accuracies on a grid of
    image counts that rise noisily from the majority baseline towards ``level``."""
    n_val, n_test = int(rng.integers(60, 400)), int(rng.integers(80, 600))
    x = np.arange(1, epochs + 1) / epochs
    rise = majority + (level - majority) * (1 - np.exp(-rng.uniform(1.0, 5.0) * x))

    def accuracy(n: int) -> np.ndarray:
        return np.clip(np.round((rise + rng.normal(0, 0.03, epochs)) * n) / n, 0.0, 1.0)

    frame = _inputs.history(rng, epochs=epochs, energy_per_epoch_kwh=per_epoch_kwh,
                            val_acc=accuracy(n_val))
    return frame.assign(train_acc=accuracy(int(rng.integers(300, 3000))),
                        test_acc=accuracy(n_test), test_auc=np.clip(rise + 0.1, 0.5, 1.0),
                        test_balanced_acc=np.clip(rise - 0.1, 0.5, 1.0), majority_acc=majority)


def _first_reach(history: pd.DataFrame, target: float, column: str = "val_acc") -> int | None:
    reached = np.flatnonzero(history[column].to_numpy(dtype=float) >= target)
    return int(reached[0]) if reached.size else None


def _histories_case(rng: np.random.Generator, kind: str
                    ) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Two histories and a target: ``kind`` "both" (both reach it, the first reaching
    epoch being neither the last nor the best one, and not where test_acc first reaches
    it) or "one" (only one run reaches it)."""
    for _ in range(10_000):
        majority = round(float(rng.uniform(0.5, 0.8)), 3)
        levels = rng.uniform(majority + 0.05, 0.97, 2)
        if kind == "one":
            levels[int(rng.integers(2))] -= rng.uniform(0.08, 0.2)
        scale = 10.0 ** rng.uniform(-6.5, -3.0)
        pair = [_history(rng, int(rng.integers(4, 13)), float(lv), majority,
                         scale * rng.uniform(0.5, 2.0)) for lv in levels]
        target = target_acc(pair[0], pair[1], float(rng.uniform(0.85, 0.99)))
        vals = np.concatenate([h["val_acc"].to_numpy() for h in pair])
        if np.isclose(vals, target, rtol=0, atol=1e-6).any():
            continue
        first = [_first_reach(h, target) for h in pair]
        if kind == "one" and sum(f is None for f in first) != 1:
            continue
        if kind == "both":
            if None in first:
                continue
            informative = [
                f != len(h) - 1 and f != int(h["val_acc"].to_numpy().argmax())
                and _first_reach(h, target, "test_acc") != f
                for f, h in zip(first, pair, strict=True)]
            if not any(informative):
                continue
        return pair[0], pair[1], target
    raise RuntimeError("could not draw histories")  # pragma: no cover


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell, run again on histories and targets
    drawn at grading time (runs that reach the target late, and a run that never does).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q1(answer_cells([
    ...     "hit = history_pretrained[history_pretrained['val_acc'] >= TARGET_ACC]\\n"
    ...     "energy_pretrained_kwh = hit['energy_kwh'].iloc[0] if len(hit) else float('inf')\\n"
    ...     "hit = history_scratch[history_scratch['val_acc'] >= TARGET_ACC]\\n"
    ...     "energy_scratch_kwh = hit['energy_kwh'].iloc[0] if len(hit) else float('inf')"]))
    >>> hidden_q1(answer_cells(["energy_pretrained_kwh = energy_scratch_kwh = 0.001"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: The energies to reach the target are wrong on other runs...
    """
    import types

    rng = _inputs.draws("04", "q1", rng)
    kinds = ["both", "one", "both"]
    rng.shuffle(kinds)
    names = ["energy_pretrained_kwh", "energy_scratch_kwh"]
    for kind in kinds:
        pretrained, scratch, target = _histories_case(rng, kind)
        got = rerun(names, history_pretrained=pretrained, history_scratch=scratch,
                    TARGET_ACC=target, run_pt=types.SimpleNamespace(history=pretrained),
                    run_scratch=types.SimpleNamespace(history=scratch))
        for name, history in zip(names, (pretrained, scratch), strict=True):
            try:
                value = number(got[name], name, "kWh")
            except CheckFailed:
                raise CheckFailed(f"`{name}` is not a number on other runs.") from None
            if not close(value, checks.energy_to_reach(history, target)):
                raise CheckFailed("The energies to reach the target are wrong on other runs: "
                                  "compute them from the histories and TARGET_ACC, with no "
                                  "value copied from the notebook's output.")


def _groups_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Test accuracies of a pretrained and a from-scratch group (different sizes, ties
    possible as on a real test split), and the sweep table holding them."""
    n_test = int(rng.integers(80, 600))
    sizes = rng.choice(np.arange(2, 11), size=2, replace=True)
    centre = rng.uniform(0.55, 0.9)
    shift = rng.uniform(-0.12, 0.12)
    groups = [np.clip(np.round((centre + s + rng.normal(0, 0.04, int(n))) * n_test) / n_test,
                      0.0, 1.0) for s, n in ((shift, sizes[0]), (0.0, sizes[1]))]
    rows = [{"model": f"model_{i}", "pretrained": flag, "fraction": float(rng.choice([1.0, 0.1])),
             "test_acc": float(a)}
            for flag, accs in ((True, groups[0]), (False, groups[1])) for i, a in enumerate(accs)]
    order = rng.permutation(len(rows))
    table = pd.DataFrame([rows[i] for i in order]).assign(dataset="breastmnist", epochs=10)
    table["majority_acc"] = 0.731
    pretrained = table.loc[table["pretrained"], "test_acc"].to_numpy()
    scratch = table.loc[~table["pretrained"], "test_acc"].to_numpy()
    return pretrained, scratch, table


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell, run again on groups of test
    accuracies drawn at grading time (sizes, levels and shifts vary).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q2(answer_cells(["from scipy.stats import mannwhitneyu",
    ...                         "p_value = mannwhitneyu(pretrained_acc, scratch_acc).pvalue"]))
    >>> hidden_q2(answer_cells(["p_value = 0.4"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: `p_value` is wrong on other groups of scores...
    """
    from scipy import stats

    rng = _inputs.draws("04", "q2", rng)
    seen: list[float] = []
    while len(seen) < 3:
        first, second, table = _groups_case(rng)
        expected = float(stats.mannwhitneyu(first, second, alternative="two-sided").pvalue)
        if any(close(expected, p) for p in seen):
            continue
        seen.append(expected)
        got = rerun(["p_value"], pretrained_acc=first, scratch_acc=second, results=table)
        try:
            value = number(got["p_value"], "p_value")
        except CheckFailed:
            raise CheckFailed("`p_value` is not a number on other groups of scores.") from None
        if not close(value, expected):
            raise CheckFailed("`p_value` is wrong on other groups of scores: compute it from "
                              "pretrained_acc and scratch_acc, with no value copied from the "
                              "notebook's output.")
