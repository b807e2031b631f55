"""Hidden tests and grading hooks of lesson 07 (capstone: a model within a budget).

The hooks and hidden tests :mod:`peprkit.course.hidden` describes; the learner's
self-checks are :mod:`peprkit.checks.lesson07`.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import lesson07 as checks
from peprkit.checks._common import CheckFailed, close, number
from peprkit.course.hidden import _inputs

#: The master these hooks belong to.
GRADED_LESSON = "07_capstone"
#: Names the grader rebuilds itself (:func:`grading_context`) instead of reading them
#: from the notebook.
CONTEXT = ("results", "INTENSITY", "REFERENCE_KWH", "ENERGY_BUDGET_KWH", "MEMORY_BUDGET_GB",
           "MAJORITY")
#: The sweep's table, as the lesson writes it (relative to the notebook's folder).
RESULTS_CSV = "runs/07_capstone/results.csv"
#: The lesson's quick-mode settings (``peprkit grade`` runs quick); the grader injects
#: them so that it knows which runs of ``results.csv`` the lesson kept.
QUICK_PARAMETERS: dict[str, Any] = {
    "DATASET": "breastmnist", "EPOCHS": 1,
    "MODELS": ["mobilenetv3_small_050", "lcnet_050", "mobilenetv3_small_100"],
    "DATA_FRACTION": 0.3, "REFERENCE_MODEL": "lcnet_050",
}
#: The lesson's default (full) settings, injected when grading with ``--full``.
FULL_PARAMETERS: dict[str, Any] = {
    "DATASET": "pneumoniamnist", "EPOCHS": 5,
    "MODELS": ["mobilenetv3_small_050", "lcnet_050", "mobilenetv3_small_100", "regnetx_002",
               "efficientnet_b0", "resnet18", "resnet50"],
    "DATA_FRACTION": 1.0, "REFERENCE_MODEL": "resnet18",
}
#: The notebook's own defaults of the clinic's settings.
CLINIC_DEFAULTS: dict[str, Any] = {"COUNTRY": "KE", "BUDGET_FACTOR": 1.5,
                                   "MEMORY_BUDGET_GB": 4.0}
_SWEEP_COLUMNS = ["model", "dataset", "epochs", "majority_acc", *checks.DECISION_COLUMNS]


def grading_parameters(rng: np.random.Generator, *, quick: bool = True) -> dict[str, Any]:
    """Inputs ``peprkit grade`` injects after the parameters cell: the quick (or, with
    ``quick=False``, the default) settings and a drawn clinic (country, budget factor,
    memory budget), so that numbers copied from another run of the notebook do not fit.

    >>> p = grading_parameters(np.random.default_rng(0))
    >>> p["MODELS"] == QUICK_PARAMETERS["MODELS"], 1.2 <= p["BUDGET_FACTOR"] <= 3.0
    (True, True)
    """
    from peprkit.meter import carbon_table

    codes = sorted(c for c in carbon_table()["code"].astype(str) if c != "WORLD")
    settings = QUICK_PARAMETERS if quick else FULL_PARAMETERS
    return {**{k: (list(v) if isinstance(v, list) else v) for k, v in settings.items()},
            "COUNTRY": str(rng.choice(codes)),
            "BUDGET_FACTOR": round(float(rng.uniform(1.2, 3.0)), 3),
            "MEMORY_BUDGET_GB": round(float(rng.uniform(2.0, 8.0)), 2)}


def _sweep(raw: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """The lesson's runs of ``results.csv`` (its models, epochs and dataset), checked."""
    missing = [c for c in _SWEEP_COLUMNS if c not in raw.columns]
    if missing:
        raise CheckFailed(f"the run's {RESULTS_CSV} lacks the column(s) {missing}.")
    rows = raw[raw["model"].astype(str).isin([str(m) for m in settings["MODELS"]])
               & (pd.to_numeric(raw["epochs"], errors="coerce") == settings["EPOCHS"])
               & (raw["dataset"].astype(str) == str(settings["DATASET"]))].copy()
    for column in _SWEEP_COLUMNS[2:]:
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    if rows.empty or rows[_SWEEP_COLUMNS[3:]].isna().any().any():
        raise CheckFailed(f"the run's {RESULTS_CSV} holds no complete run of the lesson's "
                          "models: run every cell of the notebook, in order.")
    if (rows["energy_kwh"] < 0).any() or (rows["memory_gb"] < 0).any():
        raise CheckFailed(f"the run's {RESULTS_CSV} holds negative resources.")
    return rows.reset_index(drop=True)


def grading_context(parameters: dict[str, Any], folder: Any = None) -> dict[str, Any]:
    """The tests' context, rebuilt from the sweep's ``results.csv`` that the graded run
    wrote in ``folder`` and from the grader's parameters (the notebook's ``results``,
    budget and intensity are never trusted).

    Raises:
        CheckFailed: ``results.csv`` is missing or holds no usable run of the reference
            model.

    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> (folder / "runs/07_capstone").mkdir(parents=True)
    >>> pd.DataFrame({"model": ["lcnet_050", "resnet18"], "dataset": "breastmnist",
    ...               "epochs": 1, "majority_acc": 0.7, **{c: [0.002, 0.004]
    ...               for c in checks.DECISION_COLUMNS}}).to_csv(folder / RESULTS_CSV, index=False)
    >>> ctx = grading_context({**QUICK_PARAMETERS, "MODELS": ["lcnet_050", "resnet18"],
    ...                        "COUNTRY": "FR", "BUDGET_FACTOR": 2.0}, folder)
    >>> ctx["ENERGY_BUDGET_KWH"], ctx["INTENSITY"], ctx["MEMORY_BUDGET_GB"], len(ctx["results"])
    (0.004, 44.0, 4.0, 2)
    """
    from peprkit.meter import lookup_country

    settings = {**QUICK_PARAMETERS, **CLINIC_DEFAULTS, **parameters}
    if folder is None:
        raise CheckFailed("grading lesson 07 needs the folder of the graded run.")
    results = _sweep(_inputs.read_artifact(folder, RESULTS_CSV), settings)
    reference = results.loc[results["model"] == settings["REFERENCE_MODEL"], "energy_kwh"]
    if reference.empty or not float(reference.mean()) > 0:
        raise CheckFailed(f"the run's {RESULTS_CSV} has no run of the reference model "
                          f"{settings['REFERENCE_MODEL']} with its energy.")
    reference_kwh = float(reference.mean())
    return {"results": results,
            "INTENSITY": float(lookup_country(settings["COUNTRY"]).intensity_g_per_kwh),
            "REFERENCE_KWH": reference_kwh,
            "ENERGY_BUDGET_KWH": float(settings["BUDGET_FACTOR"]) * reference_kwh,
            "MEMORY_BUDGET_GB": float(settings["MEMORY_BUDGET_GB"]),
            "MAJORITY": float(results["majority_acc"].iloc[0])}


#: timm names the hidden tests draw candidates from (the lesson's and similar small ones).
_CANDIDATES = ("mobilenetv3_small_050", "lcnet_050", "mobilenetv3_small_100", "regnetx_002",
               "efficientnet_b0", "resnet18", "resnet50", "mobilenetv2_050", "ghostnet_100",
               "tinynet_a", "convnext_atto", "resnet34", "mnasnet_100", "densenet121")



def _draw_results(rng: np.random.Generator, *, nobody: bool = False) -> pd.DataFrame:
    """A sweep's kept runs shaped like the lesson's ``results`` (the columns of
    ``results.csv``; 3 to 8 candidates, some run twice, energy and memory on a random
    machine's scale; validation and test accuracy a few points apart). With ``nobody``,
    no run is more than one point above the majority baseline."""
    from peprkit.schema import SUMMARY_COLUMNS

    n = int(rng.integers(3, 9))
    models = [str(m) for m in rng.choice(_CANDIDATES, size=n, replace=False)]
    runs = models + [m for m in models if rng.random() < 0.25]
    k = len(runs)
    majority = float(rng.uniform(0.5, 0.9))
    params = {m: int(10 ** rng.uniform(5.7, 7.5)) for m in models}
    energy = 10.0 ** rng.uniform(-6, -1) * rng.lognormal(0, 0.8, k)
    time_s = energy * rng.uniform(2e5, 2e6)
    acc = np.clip(majority + rng.uniform(-0.05, 0.006 if nobody else 0.25, k), 0.0, 0.999)
    columns = {
        "model": runs, "dataset": "breastmnist", "size": 28, "input_size": 28,
        "pretrained": False, "fraction": 0.3,
        "seed": [runs[:i].count(m) for i, m in enumerate(runs)], "epochs": 1,
        "num_params": [params[m] for m in runs], "test_acc": acc,
        "test_auc": rng.uniform(0.5, 0.95, k), "val_acc": np.clip(acc + rng.normal(0, .06, k),
                                                                  0, 1),
        "energy_kwh": energy, "co2_g": energy * 85.0,
        "memory_gb": 10.0 ** rng.uniform(-1.5, 1.1, k),
        "train_time_s": time_s, "device": "cpu", "synthetic": False,
        **_inputs.CPU_RUN_LABELS, "majority_acc": majority,
        "test_balanced_acc": rng.uniform(0.5, 0.9, k), "train_cpu_s": time_s * 0.6,
        "epochs_run": 1, "status": "completed",
        "pepr_best_epoch": np.nan, "weights": "random init", "task": "binary-class",
        "threads": 1, "lr": 0.0005, "batch_size": 32, "optimizer": "adam",
        "hardware": "cpu", "torch_version": "2",
    }
    return pd.DataFrame({c: columns[c] for c in SUMMARY_COLUMNS if c in columns})


def _draw_clinic(rng: np.random.Generator, *, exact: bool = False,
                 nobody: bool = False) -> dict[str, Any]:
    """The inputs of the lesson's answer cells after a drawn sweep: ``results``,
    ``table`` (with exercise 1's columns), ``view``, budgets, intensity and ``fits``.
    ``exact``: the energy budget equals one model's energy (a ``<`` instead of ``<=``
    then drops it); ``nobody``: no model learned anything."""
    from peprkit.metric import normalize

    results = _draw_results(rng, nobody=nobody)
    base = checks.decision_table(results)
    energy = base["energy_kwh"].to_numpy(dtype=float)
    memory = base["memory_gb"].to_numpy(dtype=float)
    at = int(rng.integers(len(energy)))
    budget = float(energy[at]) * (1.0 if exact else float(rng.uniform(1.05, 3.0)))
    memory_budget = float(rng.uniform(0.5 * memory.min(), 1.2 * memory.max()))
    if exact:  # the model at the energy budget fits the memory budget
        memory_budget = max(memory_budget, 1.1 * float(memory[at]))
    memory_budget = float(np.round(memory_budget, 3))
    if np.isclose(memory, memory_budget, rtol=1e-6).any():
        memory_budget *= 1.01
    intensity = float(rng.uniform(20.0, 800.0))
    table = base.assign(co2_clinic_g=energy * intensity,
                        pepr_e=base["val_acc"] / (1 + energy / budget))
    fits = list(checks.within_budget(table, budget, memory_budget)["model"])
    grid = SimpleNamespace(country="the clinic's country", code="XX",
                           intensity_g_per_kwh=intensity, year=2023, source="drawn")
    return {"results": results, "table": table, "INTENSITY": intensity, "GRID": grid,
            "ENERGY_BUDGET_KWH": budget, "MEMORY_BUDGET_GB": memory_budget,
            "MAJORITY": float(results["majority_acc"].iloc[0]), "fits": fits,
            "view": table.assign(energy_vs_budget=normalize(table["energy_kwh"],
                                                            reference=budget))}


def _fails(check: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        check(*args, **kwargs)
    except CheckFailed:
        return True
    return False


def hidden_q1(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 1: the answer cell run again on other sweeps, budgets and
    grids.

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = '''co2_clinic_g = table["energy_kwh"] * INTENSITY
    ... pepr_e = table["val_acc"] / (1 + table["energy_kwh"] / ENERGY_BUDGET_KWH)
    ... table = table.assign(co2_clinic_g=co2_clinic_g, pepr_e=pepr_e)'''
    >>> hidden_q1(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("07", "q1", rng)
    for _ in range(3):
        clinic = _draw_clinic(rng)
        before = ("results", "INTENSITY", "GRID", "ENERGY_BUDGET_KWH", "MEMORY_BUDGET_GB",
                  "MAJORITY")
        inputs = {**{k: clinic[k] for k in before},
                  "table": checks.decision_table(clinic["results"])}
        table = rerun(["table"], **inputs)["table"]
        if not isinstance(table, pd.DataFrame) or _fails(
                checks.q1, table, budget_kwh=clinic["ENERGY_BUDGET_KWH"],
                intensity_g_per_kwh=clinic["INTENSITY"], results=clinic["results"]):
            raise CheckFailed("`table`'s new columns are wrong for another sweep and clinic.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on other sweeps and budgets
    (once with a model exactly at the energy budget).

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = ('fits = list(table.loc[(table.energy_kwh <= ENERGY_BUDGET_KWH) & '
    ...         '(table.memory_gb <= MEMORY_BUDGET_GB), "model"])')
    >>> hidden_q2(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("07", "q2", rng)
    for i in range(4):
        clinic = _draw_clinic(rng, exact=i == 0)
        expected = set(clinic.pop("fits"))
        fits = rerun(["fits"], **clinic)["fits"]
        if isinstance(fits, str) or not hasattr(fits, "__iter__") or (
                sorted(str(m) for m in fits) != sorted(expected)):
            raise CheckFailed("`fits` is wrong for another sweep and other budgets.")


def _pool(clinic: dict[str, Any]) -> pd.DataFrame:
    """The models a choice is made from: within both budgets, and learned something."""
    return checks.candidates(clinic["table"], clinic["ENERGY_BUDGET_KWH"],
                             clinic["MEMORY_BUDGET_GB"])


def _front(clinic: dict[str, Any]) -> set[str | None]:
    """The answers a right ``choice`` may give: the Pareto front (validation accuracy
    against energy) of the models within both budgets that learned something, or
    ``{None}`` when there is none."""
    return checks.front_models(_pool(clinic)) or {None}


def _pepr_pick(pool: pd.DataFrame, performance: str, budget_kwh: float) -> str | None:
    """The model of ``pool`` with the highest PePR-E against the budget on
    ``performance`` (None if empty)."""
    if pool.empty:
        return None
    score = pool[performance] / (1 + pool["energy_kwh"] / budget_kwh)
    return str(pool.loc[score.idxmax(), "model"])


def _q3_case(clinic: dict[str, Any], case: str) -> bool:
    """Whether a drawn clinic shows exercise 3's ``case``: ``"split"`` (the best PePR-E on
    test accuracy is off the validation front), ``"chance"`` (the best PePR-E on validation
    among all models within budget is a model at chance) or ``"nobody"`` (models fit the
    budgets but none learned: the answer is None)."""
    right, budget = _front(clinic), clinic["ENERGY_BUDGET_KWH"]
    feasible = checks.within_budget(clinic["table"], budget, clinic["MEMORY_BUDGET_GB"])
    if case == "nobody":
        return right == {None} and not feasible.empty
    if right == {None}:
        return False
    if case == "split":
        return _pepr_pick(_pool(clinic), "test_acc", budget) not in right
    return _pepr_pick(feasible, "val_acc", budget) not in right


def hidden_q3(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 3: the answer cell run again on other sweeps and budgets:
    one where choosing on test accuracy picks a model off the validation front, one where
    the best model on validation is at chance, one where models fit but none learned (the
    answer is None), and one more; no answer is right for all of them.

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = '''ok = view[view.energy_kwh.le(ENERGY_BUDGET_KWH)
    ...             & view.memory_gb.le(MEMORY_BUDGET_GB)
    ...             & (view.test_acc - view.majority_acc > 0.01)]
    ... choice = ok.loc[ok.val_acc.idxmax(), "model"] if len(ok) else None'''
    >>> hidden_q3(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("07", "q3", rng)
    wanted = ["split", "chance", "nobody", str(rng.choice(["split", "chance"]))]
    cases: list[dict[str, Any]] = []
    for case in wanted:
        for attempt in range(2000):
            clinic = _draw_clinic(rng, nobody=case == "nobody")
            if not _q3_case(clinic, case) and attempt < 1999:
                continue
            if len(cases) == 3 and attempt < 1999 and set.intersection(
                    _front(clinic), *(_front(c) for c in cases)):
                continue  # no single answer may be right on every case
            cases.append(clinic)
            break
    for clinic in cases:
        choice = rerun(["choice"], **clinic)["choice"]
        if not (choice is None or isinstance(choice, str)) or choice not in _front(clinic):
            raise CheckFailed("`choice` is not a model on the validation front of the models "
                              "within budget that learned something (or None when there is "
                              "none) for another sweep and other budgets.")


def hidden_q4(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 4: the answer cell run again with other choices, sweeps and
    grids (once with no model to choose: ``choice`` None, 0 kg).

    >>> from peprkit.course.hidden import answer_cells
    >>> cell = '''e = float(table.set_index("model").loc[choice, "energy_kwh"]) if choice else 0.0
    ... yearly_co2_kg = 12 * e * INTENSITY / 1000'''
    >>> hidden_q4(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _inputs.draws("07", "q4", rng)
    done, nothing = 0, False
    for attempt in range(200):
        clinic = _draw_clinic(rng, nobody=not nothing and attempt % 4 == 3)
        pool = list(_pool(clinic)["model"].astype(str))
        if not pool and nothing:
            continue
        choice = str(rng.choice(pool)) if pool else None
        nothing = nothing or choice is None
        energy = (float(clinic["table"].set_index("model").loc[choice, "energy_kwh"])
                  if choice else 0.0)
        expected = 12 * energy * clinic["INTENSITY"] / 1000
        got = rerun(["yearly_co2_kg"], **clinic, choice=choice)["yearly_co2_kg"]
        try:
            ok = close(number(got, "yearly_co2_kg"), expected)
        except CheckFailed:
            ok = False
        if not ok:
            raise CheckFailed("yearly_co2_kg is wrong for another choice, sweep and grid.")
        done += 1
        if done >= 4 and nothing:
            break
