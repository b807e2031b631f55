"""Hidden tests and grading hooks of lesson 05 (the model zoo, choosing a model).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson05`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import lesson05 as checks
from peprkit.checks._common import CheckFailed
from peprkit.course.hidden import _inputs
from peprkit.metric import add_pepr
from peprkit.schema import RESOURCES

#: The master these hooks belong to.
GRADED_LESSON = "05_model_zoo"
#: Names the grader rebuilds from the run's files (:func:`grading_context`) instead of
#: reading them from the notebook.
CONTEXT = ("results", "scored")
#: Where the lesson writes its runs (``RUN_DIR``), relative to the notebook's folder.
RUN_ROOT = "runs/05_model_zoo"
#: The sweep table the lesson's ``run_sweep`` writes (``RUN_DIR / "results.csv"``).
RESULTS_FILE = f"{RUN_ROOT}/results.csv"
_RESULTS_NEEDS = ("model", "dataset", "epochs", "pretrained", "seed", "test_acc",
                  "majority_acc", *RESOURCES.values())


def score(results: pd.DataFrame) -> pd.DataFrame:
    """``scored`` as the lesson builds it: PePR-E/C/M/T on test accuracy, per dataset."""
    return add_pepr(results, performance="test_acc", resources=RESOURCES, by="dataset")


def grading_context(parameters: dict[str, Any], folder: Any) -> dict[str, Any]:
    """The tests' context rebuilt from the sweep table the graded run wrote
    (:data:`RESULTS_FILE` in ``folder``): ``results`` (the runs of the notebook's sweep,
    in the file's order, as the notebook filters them) and ``scored`` (their PePR).

    Raises:
        CheckFailed: the file is missing, unreadable, empty or lacks the sweep's columns.
    """

    table = _inputs.read_artifact(folder, RESULTS_FILE)
    missing = [c for c in _RESULTS_NEEDS if c not in table.columns]
    if missing or table.empty:
        raise CheckFailed(f"the run's sweep table {RESULTS_FILE} is empty or lacks the "
                          f"column(s) {missing}: run every cell of the notebook, in order, "
                          "without editing its files.")
    results = _inputs.current_runs(table, ("dataset", "epochs", "pretrained"))
    try:
        scored = score(results)
    except ValueError as err:
        raise CheckFailed(f"the run's sweep table {RESULTS_FILE} cannot be scored: "
                          f"{str(err)[:200]}") from None
    return {"results": results, "scored": scored}


#: Image counts of the test splits the drawn tables pretend to come from.
_DATASETS = {"breastmnist": 156, "pneumoniamnist": 624, "dermamnist": 2005,
             "bloodmnist": 3421, "octmnist": 1000}


def _sweep(rng: np.random.Generator, margins: dict[str, list[float]], *,
           datasets: list[str], two_grids: bool = False) -> pd.DataFrame:
    """A sweep table shaped like ``results.csv`` (the sweep schema's columns): one row per
    (dataset, model, seed), ``margins[model][seed]`` being ``test_acc - majority_acc``;
    resources grow with the model's size, each with its own noise; rows shuffled."""
    from peprkit.schema import SUMMARY_COLUMNS

    models = list(margins)
    sizes = np.sort(10.0 ** rng.uniform(5.7, 8.1, len(models))).astype(int)
    params = dict(zip(models, sizes[rng.permutation(len(models))], strict=True))
    intensity = rng.uniform(20, 600, 2)
    grid = {m: intensity[int(two_grids and rng.integers(2))] for m in models}
    keys = [(m, seed, margin) for m in models for seed, margin in enumerate(margins[m])]
    model = np.array([m for m, _, _ in keys] * len(datasets), dtype=object)
    margin = np.tile([g for _, _, g in keys], len(datasets))
    n = len(model)
    size = np.array([params[m] for m in model], dtype=float)
    dataset, majority, kwh = [], [], []
    for d in datasets:
        n_test = _DATASETS[d]
        dataset += [d] * len(keys)
        majority += [round(float(rng.uniform(0.45, 0.8)) * n_test) / n_test] * len(keys)
        kwh += [10.0 ** rng.uniform(-7, -4)] * len(keys)
    majority = np.array(majority)
    acc = np.minimum(majority + margin, 1.0)
    energy = np.array(kwh) * (size / 1e6) ** rng.uniform(0.6, 1.0, n) * rng.uniform(0.7, 1.4, n)
    table = pd.DataFrame({
        "model": model, "dataset": dataset, "size": 28, "input_size": 28, "pretrained": True,
        "fraction": 1.0, "seed": np.tile([k for _, k, _ in keys], len(datasets)),
        "epochs": 10, "num_params": size.astype(int), "test_acc": acc,
        "test_auc": np.clip(0.5 + margin * 2, 0.3, 1.0),
        "val_acc": np.clip(acc + rng.normal(0, 0.02, n), 0, 1), "energy_kwh": energy,
        "co2_g": energy * np.array([grid[m] for m in model]),
        "memory_gb": 0.05 + size * 1.2e-8 * rng.uniform(0.6, 1.6, n),
        "train_time_s": energy * 3.6e6 / rng.uniform(15, 80, n), "device": "cpu",
        "synthetic": False, **_inputs.CPU_RUN_LABELS,
        "majority_acc": majority, "test_balanced_acc": np.clip(0.5 + margin, 0.0, 1.0),
        "train_cpu_s": energy * 3.6e6 / rng.uniform(10, 40, n), "epochs_run": 10,
        "status": "completed", "pepr_best_epoch": np.nan,
        "weights": [f"timm/{m}" for m in model], "task": "binary-class", "threads": 2,
        "lr": 5e-4, "batch_size": 32, "optimizer": "adam", "hardware": "cpu",
        "torch_version": "2.5.1"}).reindex(columns=list(SUMMARY_COLUMNS))
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


#: Draws tried for a table with the wanted answers before taking any table without ties.
_TRIES = 500


def _zoo(rng: np.random.Generator, low: int = 3, high: int = 7) -> list[str]:
    from peprkit.models import SMALL_ZOO

    k = int(rng.integers(low, high + 1))
    return [str(m) for m in rng.choice(SMALL_ZOO, size=k, replace=False)]


def _any_margins(rng: np.random.Generator, models: list[str], seeds: int
                 ) -> dict[str, list[float]]:
    return {m: list(rng.uniform(-0.05, 0.25, seeds)) for m in models}


def _top_gap(column: pd.Series) -> float:
    """How far the best value stands above the second best (0 with a tie)."""
    top = np.sort(column.to_numpy(dtype=float))[::-1]
    return float(top[0] - top[1]) if top.size > 1 else float(top[0])


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell, run again on sweep tables drawn at
    grading time (one or two datasets, several seeds, rows in random order); the kit's
    ``add_pepr`` and ``normalize`` are refused (the exercise says by hand).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q1(answer_cells([
    ...     "t = results['train_time_s']\\n"
    ...     "lo = results.groupby('dataset')['train_time_s'].transform('min')\\n"
    ...     "hi = results.groupby('dataset')['train_time_s'].transform('max')\\n"
    ...     "pepr_t_by_hand = results['test_acc'] / (1 + (t - lo) / (hi - lo))"]))
    >>> hidden_q1(answer_cells(["pepr_t_by_hand = [0.7, 0.6, 0.5]"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: `pepr_t_by_hand` is wrong on other sweep tables...
    """
    rng = _inputs.draws("05", "q1", rng)
    rerun = _inputs.by_hand(rerun, checks.BY_HAND)  # before add_pepr: by hand
    counts = [1, 2, int(rng.integers(1, 3))]
    rng.shuffle(counts)
    for count in counts:
        datasets = [str(d) for d in rng.choice(list(_DATASETS), size=count, replace=False)]
        seeds = int(rng.integers(1, 4))
        models = _zoo(rng, 2 if seeds > 1 else 3)
        results = _sweep(rng, _any_margins(rng, models, seeds), datasets=datasets)
        got = rerun(["pepr_t_by_hand"], results=results)["pepr_t_by_hand"]
        try:
            checks.q1(got, results=results)
        except CheckFailed:
            raise CheckFailed("`pepr_t_by_hand` is wrong on other sweep tables: compute it "
                              "from `results` (one value per row, in its order), with no "
                              "value copied from the notebook's output.") from None


def _winners(results: pd.DataFrame) -> dict[str, frozenset[str]] | None:
    """The right ``deploy`` of ``results`` (per variant, the models that are right), or
    None when no run learned."""
    right = checks.deploy_answers(results)
    return None if right is None else {k: frozenset(v) for k, v in right.items()}


def _fits(answer: dict[str, frozenset[str]] | None,
          right: dict[str, frozenset[str]] | None) -> bool:
    """Whether some answer drawn from ``answer``'s right models (or None) is right for a
    table whose right models are ``right``."""
    if answer is None or right is None:
        return answer is None and right is None
    return all(answer[k] & right[k] for k in RESOURCES)


def _q2_margins(rng: np.random.Generator, models: list[str], seeds: int, *,
                nobody: bool) -> dict[str, list[float]]:
    """Margins over the majority baseline: with ``nobody`` no run is more than one point
    above it; else some models learned (2 to 25 points) and some sit at chance, never
    near the one-point threshold."""
    if nobody:
        return {m: list(rng.uniform(-0.06, 0.006, seeds)) for m in models}
    chance = set(rng.choice(models, size=int(rng.integers(1, len(models))), replace=False))
    return {m: list(rng.uniform(-0.05, 0.006, seeds) if m in chance
                    else rng.uniform(0.02, 0.25, seeds)) for m in models}


def _q2_table(rng: np.random.Generator, case: str,
              public: dict[str, frozenset[str]] | None, strict: bool) -> pd.DataFrame | None:
    """A drawn sweep for exercise 2's ``case``, or None when the draw does not fit it:
    ``"split"`` (choosing on the test split picks another model for some variant, and the
    variants disagree), ``"chance"`` (the best PePR on validation over all runs is a run at
    chance) or ``"nobody"`` (no run learned: the answer is None)."""
    seeds = int(rng.integers(1, 3))
    results = _sweep(rng, _q2_margins(rng, _zoo(rng, 3, 8), seeds, nobody=case == "nobody"),
                     datasets=[str(rng.choice(list(_DATASETS)))],
                     two_grids=bool(rng.integers(2)))
    right = _winners(results)
    if strict and public is not False and _fits(public, right):
        return None  # the graded run's answer would fit this table too
    if case == "nobody":
        return results if right is None else None
    if right is None:
        return None
    ok = checks.learned(results["test_acc"], results["majority_acc"])
    sel = checks.selection(results)
    if min(_top_gap(sel[ok][f"pepr_{k}"]) for k in RESOURCES) < 1e-4:
        return None  # a near tie: more than one right answer
    if case == "split":
        on_test = checks.selection(results, "test_acc")[ok]
        differ = [k for k in RESOURCES if not checks.best_models(on_test, k) & right[k]]
        if not differ or (strict and len(set(right.values())) < 2):
            return None
    if case == "chance":
        unfiltered = {k: frozenset(checks.best_models(sel, k)) for k in RESOURCES}
        if all(unfiltered[k] & right[k] for k in RESOURCES):
            return None
    return results


def hidden_q2(rerun: Any, *, results: pd.DataFrame | None = None,
              scored: pd.DataFrame | None = None,
              rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell, run again on sweep tables drawn at
    grading time: one where choosing on the test split picks another model, one where the
    best PePR on validation belongs to a run at chance, one where no run learned (the
    answer is None), and one more; none where the answer of ``results`` (the graded run's
    table, when given; ``scored`` holds the same columns) would also be right.

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q2(answer_cells([
    ...     "ok = sel[sel['test_acc'] - sel['majority_acc'] > 0.01]\\n"
    ...     "deploy = {k: ok.loc[ok[f'pepr_{k}'].idxmax(), 'model'] for k in 'ecmt'} "
    ...     "if len(ok) else None"]))
    >>> hidden_q2(answer_cells([
    ...     "deploy = {k: scored.loc[scored[f'pepr_{k}'].idxmax(), 'model'] for k in 'ecmt'}"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: `deploy` is wrong on other sweep tables...
    """
    rng = _inputs.draws("05", "q2", rng)
    graded = results if results is not None else scored
    public = _winners(graded) if graded is not None and len(graded) else False
    cases = ["split", "chance", "nobody", str(rng.choice(["split", "chance"]))]
    rng.shuffle(cases)
    for case in cases:
        for attempt in range(100_000):
            drawn = _q2_table(rng, case, public, strict=attempt < _TRIES)
            if drawn is not None:
                break
        got = rerun(["deploy"], results=drawn, scored=score(drawn),
                    sel=checks.selection(drawn),
                    MAJORITY=float(drawn["majority_acc"].iloc[0]))["deploy"]
        try:
            checks.q2(got, results=drawn)
        except CheckFailed:
            raise CheckFailed("`deploy` is wrong on other sweep tables: among the runs that "
                              "beat the majority baseline by more than one point, take each "
                              "variant's best model on validation (`sel`), or None when no "
                              "run did, with no name copied from the notebook's output."
                              ) from None


def _q3_margins(rng: np.random.Generator, models: list[str], seeds: int, *,
                edge: bool = False) -> dict[str, list[float]]:
    """Margins over the majority baseline: some models above it by more than one point in
    every run, the others at or under it (or less than one point above) in some run; never
    near the one-point threshold. With ``edge`` (and several seeds) the first model is
    more than one point above in every run but one, where it is above by less."""
    margins = {}
    for i, m in enumerate(models):
        runs = list(rng.uniform(0.02, 0.25, seeds))
        if edge and i == 0:
            runs[int(rng.integers(seeds))] = float(rng.uniform(0.001, 0.006))
        elif rng.uniform() < 0.5:
            runs[int(rng.integers(seeds))] = float(rng.choice(
                [rng.uniform(-0.15, -0.001), rng.uniform(0.001, 0.006), 0.0]))
        margins[m] = runs
    return margins


def _q3_answer(results: pd.DataFrame) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(models that learned, best chance-adjusted PePR-E, best plain PePR-E)."""
    adjusted = add_pepr(results, performance="test_acc", resources={"e": "energy_kwh"},
                        by="dataset", chance="majority_acc")
    plain = add_pepr(results, performance="test_acc", resources={"e": "energy_kwh"},
                     by="dataset")
    return (frozenset(checks.learned_models(results)), frozenset(checks.best_models(adjusted, "e")),
            frozenset(checks.best_models(plain, "e")))


def hidden_q3(rerun: Any, *, results: pd.DataFrame | None = None,
              rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 3: the answer cell, run again on sweep tables drawn at
    grading time whose models that learned and whose best chance-adjusted PePR-E differ
    from those of ``results`` (the graded run's table, when given).

    >>> from peprkit.course.hidden import answer_cells
    >>> hidden_q3(answer_cells([
    ...     "above = (results['test_acc'] - results['majority_acc']) > 0.01\\n"
    ...     "learned = sorted(above.groupby(results['model']).all().loc[lambda ok: ok].index)\\n"
    ...     "top_adj = adj.loc[adj['pepr_e'].idxmax(), 'model']"]))
    >>> hidden_q3(answer_cells(["learned = []", "top_adj = 'lcnet_050'"]))
    Traceback (most recent call last):
    ...
    peprkit.checks.CheckFailed: `learned` or `top_adj` is wrong on other sweep tables...
    """
    rng = _inputs.draws("05", "q3", rng)
    public = _q3_answer(results) if results is not None and len(results) else None
    for case in range(3):
        for attempt in range(100_000):
            strict = attempt < _TRIES
            seeds = int(rng.integers(2 if case == 1 else 1, 4))
            models = _zoo(rng, 3, 7)
            datasets = [str(d) for d in rng.choice(list(_DATASETS), size=int(rng.integers(1, 3)),
                                                   replace=False)]
            # case 1: a model whose margin is one point or less in one run only
            drawn = _sweep(rng, _q3_margins(rng, models, seeds, edge=case == 1),
                           datasets=datasets)
            learned = frozenset(checks.learned_models(drawn))
            if strict and ((public is not None and learned == public[0])
                           or (case == 0 and not learned)):
                continue  # the graded run's `learned` would fit this table too
            adj = add_pepr(drawn, performance="test_acc", resources={"e": "energy_kwh"},
                           by="dataset", chance="majority_acc")
            if _top_gap(adj["pepr_e"]) < 1e-4:
                continue  # a tie: more than one right answer
            _, top, plain = _q3_answer(drawn)
            if strict and public is not None and top <= public[1]:
                continue  # the graded run's `top_adj` would fit this table too
            if strict and case == 0 and not top.isdisjoint(plain):
                continue  # one table where plain and adjusted PePR pick different models
            if strict and case == 2 and not top.isdisjoint(checks.best_models(
                    adj.assign(pepr_a=adj["test_acc_adj"]), "a")):
                continue  # one where the most accurate (adjusted) run is not the best PePR
            break
        got = rerun(["learned", "top_adj"], results=drawn, adj=adj, scored=score(drawn),
                    MAJORITY=float(drawn["majority_acc"].iloc[0]))
        try:
            checks.q3(got["learned"], got["top_adj"], results=drawn)
        except CheckFailed:
            raise CheckFailed("`learned` or `top_adj` is wrong on other sweep tables: compute "
                              "them from `results` and `adj`, with no name copied from the "
                              "notebook's output.") from None
