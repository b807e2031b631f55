"""Self-checks for lesson 07, the capstone: choose a model within a clinic's budget.

Each function raises ``AssertionError`` with a hint when an answer is not right yet, and
returns None when it is. The hints teach; they never print the expected value.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from peprkit.course.checks import _hidden
from peprkit.course.checks._common import (
    CheckFailed,
    answered,
    close,
    columns,
    model_name,
    number,
    read_artifact,
    same,
)
from peprkit.metric import pareto_front

#: Columns the capstone's table must have.
TABLE_COLUMNS = ["model", "num_params", "test_acc", "energy_kwh", "memory_gb", "co2_clinic_g",
                 "pepr_e"]


#: Columns of the sweep that the decision table averages per model (as the lesson does).
DECISION_COLUMNS = ["num_params", "test_acc", "majority_acc", "test_balanced_acc", "test_auc",
                    "energy_kwh", "memory_gb"]


def decision_table(results: pd.DataFrame) -> pd.DataFrame:
    """One row per model of the sweep's ``results``: the mean of :data:`DECISION_COLUMNS`
    over its runs, as the lesson builds ``table`` (before exercise 1's columns).

    >>> r = pd.DataFrame({"model": ["b", "a", "b"], **{c: [1.0, 2.0, 3.0]
    ...                   for c in DECISION_COLUMNS}})
    >>> decision_table(r)[["model", "energy_kwh"]].values.tolist()
    [['a', 2.0], ['b', 2.0]]
    """
    return results.groupby("model", as_index=False)[DECISION_COLUMNS].mean()


def _matches_sweep(table: pd.DataFrame, results: pd.DataFrame, name: str) -> None:
    """Fail unless ``table`` holds the sweep's models with the sweep's numbers."""
    base = decision_table(results).set_index("model")
    if sorted(table["model"].astype(str)) != sorted(base.index.astype(str)):
        raise CheckFailed(
            f"`{name}` should hold one row for every model of the sweep (`results`), no more: "
            "start from the table the cell above builds and only add the two columns."
        )
    mine = table.set_index("model").loc[base.index]
    for column in ("test_acc", "energy_kwh", "memory_gb"):
        if not same(mine[column].to_numpy(dtype=float), base[column].to_numpy(dtype=float)):
            raise CheckFailed(
                f"`{name}[{column!r}]` no longer matches the sweep: keep the per-model means "
                "of `results` that the cell above computes."
            )


def q1(table: Any, *, budget_kwh: float, intensity_g_per_kwh: float,
       results: pd.DataFrame | None = None, name: str = "table") -> None:
    """The capstone table: one row per model, the clinic's CO2 and PePR-E against the budget.

    ``co2_clinic_g = energy_kwh * intensity_g_per_kwh`` and
    ``pepr_e = test_acc / (1 + energy_kwh / budget_kwh)``. With ``results`` (the sweep),
    the table must also hold exactly the sweep's models and numbers.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "a"], "num_params": [1, 1], "test_acc": [0.8, 0.8],
        ...                   "energy_kwh": [1.0, 1.0], "memory_gb": [1.0, 1.0],
        ...                   "co2_clinic_g": [5.0, 5.0], "pepr_e": [0.4, 0.4]})
        >>> q1(t, budget_kwh=1.0, intensity_g_per_kwh=5.0)
        Traceback (most recent call last):
        ...
        peprkit.course.checks.CheckFailed: `table` has several rows for 'a'...
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
        _matches_sweep(table, results, name)
    energy = table["energy_kwh"].to_numpy(dtype=float)
    if not same(table["co2_clinic_g"].to_numpy(dtype=float), energy * intensity_g_per_kwh):
        raise CheckFailed(
            "co2_clinic_g should be the clinic's emissions: energy_kwh times the grid "
            "intensity of the clinic's country (g/kWh), not the meter's default grid."
        )
    p = table["test_acc"].to_numpy(dtype=float)
    got = table["pepr_e"].to_numpy(dtype=float)
    if same(got, p / (1 + energy / budget_kwh)):
        return
    if energy.max() > energy.min() and same(
            got, p / (1 + (energy - energy.min()) / (energy.max() - energy.min()))):
        raise CheckFailed(
            "pepr_e is min-max normalised over your models. The clinic has a fixed budget: "
            "R = energy_kwh / budget (normalize(..., reference=budget)), so scores stay "
            "comparable when the set of models changes."
        )
    raise CheckFailed(
        "pepr_e should be test_acc / (1 + R) with R = energy_kwh / the energy budget."
    )


def _within_budget(table: pd.DataFrame, energy_budget_kwh: float,
                   memory_budget_gb: float) -> pd.DataFrame:
    ok = (table["energy_kwh"] <= energy_budget_kwh) & (table["memory_gb"] <= memory_budget_gb)
    return table[ok]


def q2(fits: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, name: str = "fits") -> None:
    """``fits`` lists the models whose energy and memory are both within budget.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b"], "test_acc": [0.9, 0.8],
        ...                   "energy_kwh": [1.0, 3.0], "memory_gb": [1.0, 1.0]})
        >>> q2(["a", "b"], table=t, energy_budget_kwh=2.0, memory_budget_gb=2.0)
        Traceback (most recent call last):
        ...
        peprkit.course.checks.CheckFailed: 'b' uses more energy per retraining than the budget...
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
    expected = set(_within_budget(table, energy_budget_kwh, memory_budget_gb)["model"])
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


def q3(choice: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, name: str = "choice") -> None:
    """``choice`` is on the Pareto front (test_acc vs energy) of the models within budget.

    When no model meets the budget the answer is None.

    Example:
        >>> t = pd.DataFrame({"model": ["a", "b"], "test_acc": [0.9, 0.8],
        ...                   "energy_kwh": [1.0, 2.0], "memory_gb": [1.0, 1.0]})
        >>> q3("b", table=t, energy_budget_kwh=5.0, memory_budget_gb=2.0)
        Traceback (most recent call last):
        ...
        peprkit.course.checks.CheckFailed: 'b' is dominated: ...
    """
    feasible = _within_budget(table, energy_budget_kwh, memory_budget_gb)
    if feasible.empty:
        if choice is None:
            return
        raise CheckFailed(
            "No model of your table meets both budgets, so there is nothing to deploy: set "
            f"`{name} = None` and say in your justification what the clinic should change."
        )
    answered(choice, name)
    model_name(choice, name, table)
    if choice not in set(feasible["model"]):
        raise CheckFailed(
            f"{choice!r} breaks the energy or memory budget; compare only the models within "
            "both budgets."
        )
    front = pareto_front(feasible["test_acc"].to_numpy(dtype=float),
                         feasible["energy_kwh"].to_numpy(dtype=float))
    if not bool(np.asarray(front)[feasible["model"].to_numpy() == choice].any()):
        raise CheckFailed(
            f"{choice!r} is dominated: another model within budget is at least as accurate "
            "and uses no more energy. Pick a model on the Pareto front (plot.pareto shows it)."
        )


def q4(choice: Any, yearly_co2_kg: Any, *, table: pd.DataFrame, energy_budget_kwh: float,
       memory_budget_gb: float, intensity_g_per_kwh: float, name: str = "choice") -> None:
    """``choice`` stays within both budgets; ``yearly_co2_kg`` is 12 retrainings' CO2 in kg.

    Example:
        >>> t = pd.DataFrame({"model": ["a"], "test_acc": [0.9], "energy_kwh": [3.0],
        ...                   "memory_gb": [1.0]})
        >>> q4("a", 3.6, table=t, energy_budget_kwh=2.0, memory_budget_gb=2.0,
        ...    intensity_g_per_kwh=100.0)
        Traceback (most recent call last):
        ...
        peprkit.course.checks.CheckFailed: 'a' needs more energy per retraining than ...
    """
    if choice is None and _within_budget(table, energy_budget_kwh, memory_budget_gb).empty:
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



# --- grading (used by `peprkit grade`; learners never need these) ---------------------
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
_SWEEP_COLUMNS = ["model", "dataset", "epochs", "majority_acc", *DECISION_COLUMNS]


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
    ...               for c in DECISION_COLUMNS}}).to_csv(folder / RESULTS_CSV, index=False)
    >>> ctx = grading_context({**QUICK_PARAMETERS, "MODELS": ["lcnet_050", "resnet18"],
    ...                        "COUNTRY": "FR", "BUDGET_FACTOR": 2.0}, folder)
    >>> ctx["ENERGY_BUDGET_KWH"], ctx["INTENSITY"], ctx["MEMORY_BUDGET_GB"], len(ctx["results"])
    (0.004, 44.0, 4.0, 2)
    """
    from peprkit.meter import lookup_country

    settings = {**QUICK_PARAMETERS, **CLINIC_DEFAULTS, **parameters}
    if folder is None:
        raise CheckFailed("grading lesson 07 needs the folder of the graded run.")
    results = _sweep(read_artifact(folder, RESULTS_CSV), settings)
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



def _draw_results(rng: np.random.Generator) -> pd.DataFrame:
    """A sweep's kept runs shaped like the lesson's ``results`` (the columns of
    ``results.csv``; 3 to 8 candidates, some run twice, energy and memory on a random
    machine's scale)."""
    from peprkit.schema import SUMMARY_COLUMNS

    n = int(rng.integers(3, 9))
    models = [str(m) for m in rng.choice(_CANDIDATES, size=n, replace=False)]
    runs = models + [m for m in models if rng.random() < 0.25]
    k = len(runs)
    majority = float(rng.uniform(0.5, 0.9))
    params = {m: int(10 ** rng.uniform(5.7, 7.5)) for m in models}
    energy = 10.0 ** rng.uniform(-6, -1) * rng.lognormal(0, 0.8, k)
    time_s = energy * rng.uniform(2e5, 2e6)
    acc = np.clip(majority + rng.uniform(-0.05, 0.25, k), 0.0, 0.999)
    columns = {
        "model": runs, "dataset": "breastmnist", "size": 28, "input_size": 28,
        "pretrained": False, "fraction": 0.3,
        "seed": [runs[:i].count(m) for i, m in enumerate(runs)], "epochs": 1,
        "num_params": [params[m] for m in runs], "test_acc": acc,
        "test_auc": rng.uniform(0.5, 0.95, k), "val_acc": np.clip(acc + rng.normal(0, .02, k),
                                                                  0, 1),
        "energy_kwh": energy, "co2_g": energy * 85.0,
        "memory_gb": 10.0 ** rng.uniform(-1.5, 1.1, k),
        "train_time_s": time_s, "device": "cpu", "synthetic": False,
        **_hidden.CPU_RUN_LABELS, "majority_acc": majority,
        "test_balanced_acc": rng.uniform(0.5, 0.9, k), "train_cpu_s": time_s * 0.6,
        "epochs_run": 1, "status": "completed",
        "pepr_best_epoch": np.nan, "weights": "random init", "task": "binary-class",
        "threads": 1, "lr": 0.0005, "batch_size": 32, "optimizer": "adam",
        "hardware": "cpu", "torch_version": "2",
    }
    return pd.DataFrame({c: columns[c] for c in SUMMARY_COLUMNS if c in columns})


def _draw_clinic(rng: np.random.Generator, *, exact: bool = False) -> dict[str, Any]:
    """The inputs of the lesson's answer cells after a drawn sweep: ``results``,
    ``table`` (with exercise 1's columns), ``view``, budgets, intensity and ``fits``.
    ``exact``: the energy budget equals one model's energy (a ``<`` instead of ``<=``
    then drops it)."""
    from peprkit.metric import normalize

    results = _draw_results(rng)
    base = decision_table(results)
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
                        pepr_e=base["test_acc"] / (1 + energy / budget))
    fits = list(_within_budget(table, budget, memory_budget)["model"])
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

    >>> from peprkit.course.checks import answer_cells
    >>> cell = '''co2_clinic_g = table["energy_kwh"] * INTENSITY
    ... pepr_e = table["test_acc"] / (1 + table["energy_kwh"] / ENERGY_BUDGET_KWH)
    ... table = table.assign(co2_clinic_g=co2_clinic_g, pepr_e=pepr_e)'''
    >>> hidden_q1(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _hidden.draws("07", "q1", rng)
    for _ in range(3):
        clinic = _draw_clinic(rng)
        before = ("results", "INTENSITY", "GRID", "ENERGY_BUDGET_KWH", "MEMORY_BUDGET_GB",
                  "MAJORITY")
        inputs = {**{k: clinic[k] for k in before}, "table": decision_table(clinic["results"])}
        table = rerun(["table"], **inputs)["table"]
        if not isinstance(table, pd.DataFrame) or _fails(
                q1, table, budget_kwh=clinic["ENERGY_BUDGET_KWH"],
                intensity_g_per_kwh=clinic["INTENSITY"], results=clinic["results"]):
            raise CheckFailed("`table`'s new columns are wrong for another sweep and clinic.")


def hidden_q2(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 2: the answer cell run again on other sweeps and budgets
    (once with a model exactly at the energy budget).

    >>> from peprkit.course.checks import answer_cells
    >>> cell = ('fits = list(table.loc[(table.energy_kwh <= ENERGY_BUDGET_KWH) & '
    ...         '(table.memory_gb <= MEMORY_BUDGET_GB), "model"])')
    >>> hidden_q2(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _hidden.draws("07", "q2", rng)
    for i in range(4):
        clinic = _draw_clinic(rng, exact=i == 0)
        expected = set(clinic.pop("fits"))
        fits = rerun(["fits"], **clinic)["fits"]
        if isinstance(fits, str) or not hasattr(fits, "__iter__") or (
                sorted(str(m) for m in fits) != sorted(expected)):
            raise CheckFailed("`fits` is wrong for another sweep and other budgets.")


def _front(clinic: dict[str, Any]) -> set[str]:
    """The models a right ``choice`` may name: the Pareto front within both budgets."""
    feasible = _within_budget(clinic["table"], clinic["ENERGY_BUDGET_KWH"],
                              clinic["MEMORY_BUDGET_GB"])
    front = pareto_front(feasible["test_acc"].to_numpy(dtype=float),
                         feasible["energy_kwh"].to_numpy(dtype=float))
    return set(feasible["model"][np.asarray(front, dtype=bool)])


def hidden_q3(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 3: the answer cell run again on other sweeps and budgets
    (every one with at least one model within budget, and no model right for all).

    >>> from peprkit.course.checks import answer_cells
    >>> cell = '''ok = view[view.energy_kwh.le(ENERGY_BUDGET_KWH)
    ...             & view.memory_gb.le(MEMORY_BUDGET_GB)]
    ... choice = ok.loc[ok.test_acc.idxmax(), "model"]'''
    >>> hidden_q3(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _hidden.draws("07", "q3", rng)
    cases: list[dict[str, Any]] = []
    for _ in range(100):
        clinic = _draw_clinic(rng)
        right = _front(clinic)
        if not right:
            continue
        if len(cases) == 3 and set.intersection(right, *(_front(c) for c in cases)):
            continue  # no single name may be right on every case
        cases.append(clinic)
        if len(cases) == 4:
            break
    for clinic in cases:
        choice = rerun(["choice"], **clinic)["choice"]
        if not isinstance(choice, str) or choice not in _front(clinic):
            raise CheckFailed("`choice` is not a model on the front within budget for another "
                              "sweep and other budgets.")


def hidden_q4(rerun: Any, *, rng: np.random.Generator | None = None) -> None:
    """Hidden test of exercise 4: the answer cell run again with other choices, sweeps and
    grids.

    >>> from peprkit.course.checks import answer_cells
    >>> cell = '''e = float(table.set_index("model").loc[choice, "energy_kwh"])
    ... yearly_co2_kg = 12 * e * INTENSITY / 1000'''
    >>> hidden_q4(answer_cells([cell]), rng=np.random.default_rng(1))
    """
    rng = _hidden.draws("07", "q4", rng)
    done = 0
    for _ in range(100):
        clinic = _draw_clinic(rng)
        if not clinic["fits"]:
            continue
        choice = str(rng.choice(clinic["fits"]))
        energy = float(clinic["table"].set_index("model").loc[choice, "energy_kwh"])
        expected = 12 * energy * clinic["INTENSITY"] / 1000
        got = rerun(["yearly_co2_kg"], **clinic, choice=choice)["yearly_co2_kg"]
        try:
            ok = close(number(got, "yearly_co2_kg"), expected)
        except CheckFailed:
            ok = False
        if not ok:
            raise CheckFailed("yearly_co2_kg is wrong for another choice, sweep and grid.")
        done += 1
        if done == 3:
            break
