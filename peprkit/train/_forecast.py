"""Forecasts of what a run will cost, made after its first epoch, and limits on the spend.

A run's **forecast** is its first epoch's measured time, energy and CO2 times the epochs
asked for: ``forecast_time_s = time_s(epoch 1) x epochs`` (and so on). It is printed once,
after epoch 1, and kept in the run's summary (``forecast_time_s``, ``forecast_energy_kwh``,
``forecast_co2_g``) beside ``forecast_source``, which says that the numbers are a forecast,
what they were scaled from and the meter's sources of epoch 1, e.g.
``forecast:epoch-1-x10[cpu=estimated:cpu-time;gpu=unavailable;ram=estimated:ram-per-gb]``.
The first epoch carries one-off costs (kernels chosen and caches filled on first use), so
the forecast tends to be high; ``benchmarks/forecast_error.py`` measures by how much.

**Spend limits** (``max_energy_kwh``, ``max_time_s`` of :func:`peprkit.train.finetune`):
before each epoch after the first, the run checks whether what it has spent so far plus
one more epoch at its mean cost per epoch would pass a limit, and if so stops with status
``"over_budget"`` and an :class:`OverBudgetWarning` saying why. Its finished epochs stay in
its checkpoint: a later call with a higher limit resumes it, as if never stopped. These
limits are not ``budget_kwh``, which is the normaliser of ``early_stop="pepr"``.

The forecast of a whole sweep (:func:`sweep_forecast`, used by :func:`peprkit.sweep.run_sweep`)
scales measured runs to the runs to come: by images x epochs for a model already measured,
and by each model's training GFLOP per image (``paper_zoo.csv`` and :data:`EXTRA_GFLOP`)
for the others. On a CPU, small models cost more than their GFLOP say (per-layer
overhead), so the second kind is rough; it improves as runs of each model are measured.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Callable, Sequence
from typing import Any

#: Status of a run stopped because its next epoch would pass a spend limit.
OVER_BUDGET = "over_budget"
#: The summary's forecast columns (see :mod:`peprkit.schema`).
FORECAST_COLUMNS = ("forecast_time_s", "forecast_energy_kwh", "forecast_co2_g",
                    "forecast_source")
#: Spend limit option -> the cumulative history column it limits.
LIMITS = {"max_energy_kwh": "energy_kwh", "max_time_s": "time_s"}
_UNITS = {"energy_kwh": "kWh", "time_s": "s", "co2_g": "gCO2eq"}


class OverBudgetWarning(UserWarning):
    """A run or sweep stopped because going on would pass a spend limit."""


def check_limits(max_energy_kwh: float | None, max_time_s: float | None,
                 meter: Any = True) -> dict[str, float]:
    """The spend limits that are set, checked: ``{"max_energy_kwh": ..., ...}``.

    >>> check_limits(0.01, None)
    {'max_energy_kwh': 0.01}

    Raises:
        ValueError: a limit that is not None or a positive number; ``max_energy_kwh``
            with ``meter=False`` (nothing would measure the energy).
    """
    limits = {}
    for name, value in (("max_energy_kwh", max_energy_kwh), ("max_time_s", max_time_s)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value > 0):
            example = "0.01" if name == "max_energy_kwh" else "600"
            raise ValueError(f"{name}={value!r} must be None (no limit) or a positive number, "
                             f"e.g. {name}={example}.")
        limits[name] = float(value)
    if "max_energy_kwh" in limits and meter is False:
        raise ValueError("max_energy_kwh needs the energy meter, but meter=False; pass "
                         "meter=True, or limit the time with max_time_s instead.")
    return limits


def _rows(history: Any) -> list[dict[str, Any]]:
    if hasattr(history, "to_dict"):
        return history.to_dict("records")
    return list(history)


def _value(row: dict[str, Any], column: str) -> float:
    value = row.get(column)
    return math.nan if value is None else float(value)


def run_forecast(history: Any, epochs: int) -> dict[str, Any]:
    """The forecast of a whole run of ``epochs`` epochs, scaled from its epoch 1.

    ``history``: the run's history rows (cumulative, as :func:`peprkit.train.finetune`
    writes them; a list of dicts or a DataFrame).

    >>> run_forecast([{"time_s": 2.0, "energy_kwh": 1e-5, "co2_g": 3e-3,
    ...                "cpu_source": "estimated:cpu-time", "gpu_source": "unavailable",
    ...                "ram_source": "estimated:ram-per-gb"}], 10)["forecast_time_s"]
    20.0
    """
    rows = _rows(history)
    if not rows:
        return {"forecast_time_s": math.nan, "forecast_energy_kwh": math.nan,
                "forecast_co2_g": math.nan, "forecast_source": "unavailable:no-epoch-yet"}
    first = rows[0]
    sources = ";".join(f"{c}={first.get(f'{c}_source')}" for c in ("cpu", "gpu", "ram"))
    return {"forecast_time_s": _value(first, "time_s") * epochs,
            "forecast_energy_kwh": _value(first, "energy_kwh") * epochs,
            "forecast_co2_g": _value(first, "co2_g") * epochs,
            "forecast_source": f"forecast:epoch-1-x{epochs}[{sources}]"}


def describe_cost(time_s: float, energy_kwh: float, co2_g: float) -> str:
    """``"12.3 s, 4.5e-05 kWh, 1.2 gCO2eq"`` (energy and CO2 left out when unknown).

    >>> describe_cost(12.34, float("nan"), float("nan"))
    '12.3 s'
    """
    parts = [f"{time_s:.3g} s" if time_s >= 10 else f"{time_s:.2g} s"]
    if energy_kwh == energy_kwh:
        parts.append(f"{energy_kwh:.2g} kWh")
    if co2_g == co2_g:
        parts.append(f"{co2_g:.2g} gCO2eq")
    return ", ".join(parts)


class Watch:
    """A run's forecast line after epoch 1 and its spend limits, checked before each epoch.

    Args:
        name: the model's name (for the messages).
        epochs: epochs the run asks for.
        limits: :func:`check_limits`'s result.
        quiet: no forecast line (the over-budget warning is raised anyway).
    """

    def __init__(self, name: str, epochs: int, limits: dict[str, float], quiet: bool) -> None:
        self.name, self.epochs, self.limits, self.quiet = name, epochs, limits, quiet

    def after_epoch(self, history: Sequence[dict[str, Any]], write: Callable[[str], Any]
                    ) -> None:
        """Write the whole run's forecast once, right after epoch 1."""
        if self.quiet or len(history) != 1 or self.epochs == 1:
            return
        f = run_forecast(history, self.epochs)
        cost = describe_cost(f["forecast_time_s"], f["forecast_energy_kwh"],
                             f["forecast_co2_g"])
        write(f"{self.name}: forecast for all {self.epochs} epochs (epoch 1 x {self.epochs}; "
              f"a forecast, not a measurement): {cost}")

    def over_budget(self, history: Sequence[dict[str, Any]], run_dir: Any = None) -> bool:
        """True (with an :class:`OverBudgetWarning`) when one more epoch would pass a limit.

        The next epoch is forecast at the mean cost of the epochs so far.
        """
        reason = next_epoch_over(history, self.limits)
        if reason is None:
            return False
        where = (f" with run_dir={str(run_dir)!r}" if run_dir is not None
                 else " (give run_dir or run_root to keep its epochs)")
        warnings.warn(f"{self.name} stopped before epoch {len(history) + 1}/{self.epochs}: "
                      f"{reason}. Its {len(history)} epoch(s) are kept; rerun with a higher "
                      f"limit{where} to go on.", OverBudgetWarning, stacklevel=4)
        return True


def next_epoch_over(history: Sequence[dict[str, Any]], limits: dict[str, float]) -> str | None:
    """Why one more epoch would pass a limit in ``limits``, or None.

    >>> rows = [{"time_s": 10.0}, {"time_s": 20.0}]
    >>> next_epoch_over(rows, {"max_time_s": 25.0})
    'spent 20 s + 10 s forecast for the next epoch (the mean so far) > max_time_s=25'
    >>> next_epoch_over(rows, {"max_time_s": 30.0}) is None
    True
    """
    if not history or not limits:
        return None
    last = history[-1]
    for option, column in LIMITS.items():
        if option not in limits:
            continue
        spent = _value(last, column)
        if spent != spent:
            continue
        step = spent / len(history)
        if spent + step > limits[option]:
            unit = _UNITS[column]
            return (f"spent {spent:.3g} {unit} + {step:.3g} {unit} forecast for the next "
                    f"epoch (the mean so far) > {option}={limits[option]:g}")
    return None


# --- the forecast of a sweep ------------------------------------------------------------

#: Training GFLOP per image (forward + backward, 1000-class head) at the smallest input
#: side (px) for the models of :data:`peprkit.models.SMALL_ZOO` that are not in
#: ``paper_zoo.csv``; counted like that table, with
#: ``peprkit.models.describe_model(name, size=28)`` (timm 1.0.31).
EXTRA_GFLOP = {
    "mobilenetv3_small_050": (28, 0.033), "lcnet_050": (28, 0.0381),
    "mobilenetv3_small_100": (28, 0.0915), "regnetx_002": (28, 0.0493),
    "mobilenetv3_large_100": (28, 0.2599), "deit_tiny_patch16_224": (224, 6.3913),
    "resnet18": (28, 0.2048), "resnet34": (28, 0.4247), "resnet50": (28, 0.4836),
    "convnext_tiny": (32, 1.5857),
}
_COSTS = ("time_s", "energy_kwh", "co2_g")
_ROW_COSTS = {"time_s": "train_time_s", "energy_kwh": "energy_kwh", "co2_g": "co2_g"}
_gflop_table: dict[str, tuple[int, float, bool]] | None = None


def _table() -> dict[str, tuple[int, float, bool]]:
    """name -> (smallest side px, train GFLOP per image there, fixed input size)."""
    global _gflop_table
    if _gflop_table is None:
        from peprkit.models import _read_paper_zoo

        table = {name: (side, gflop, False) for name, (side, gflop) in EXTRA_GFLOP.items()}
        for row in _read_paper_zoo():
            try:
                table[row["model"]] = (int(row["min_input_size"]),
                                       float(row["train_gflop_per_image"]),
                                       row["fixed_input_size"].lower() == "true")
            except (TypeError, ValueError):
                continue
        _gflop_table = table
    return _gflop_table


def model_gflop(name: str, side: int) -> float | None:
    """Training GFLOP per image of ``name`` at ``side`` px, from the tables (None: unknown).

    The tabulated count (at the model's smallest side) is scaled by ``(side / smallest)^2``
    (a convolutional network's work grows with the pixels); a model that only takes one
    size keeps its count.

    >>> model_gflop("resnet18", 56) == 4 * model_gflop("resnet18", 28)
    True
    """
    entry = _table().get(name)
    if entry is None:
        return None
    smallest, gflop, fixed = entry
    return gflop if fixed else gflop * (max(side, smallest) / smallest) ** 2


def run_side(name: str, data_size: int, min_input_size: int | None) -> int:
    """The input side a run is expected to train at (the tables' smallest side at least)."""
    side = max(int(data_size), int(min_input_size or 0))
    entry = _table().get(name)
    if entry is not None:
        side = entry[0] if entry[2] else max(side, entry[0])
    return side


def work_units(n_train: float, n_eval: float, epochs: float) -> float:
    """Images a run pushes through its model, a training image counting 3 (forward and
    backward) and an evaluated one 1: ``epochs * (3 * n_train + n_eval)``."""
    return float(epochs) * (3.0 * float(n_train) + float(n_eval))


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]
    return statistics.median(values) if values else math.nan


def sweep_forecast(jobs: list[dict[str, Any]], measured: list[dict[str, Any]]) -> list[dict]:
    """Each job's forecast cost, from the measured runs.

    Args:
        jobs: the runs to forecast, each with ``model``, ``side`` (px), ``work``
            (:func:`work_units`) and any other keys (kept).
        measured: finished runs, each with ``model``, ``side``, ``work`` and its measured
            ``time_s``, ``energy_kwh``, ``co2_g``.

    A job whose model was measured: that model's median cost per work unit (scaled by the
    training GFLOP per image when the side differs). Another: the measured models' median
    cost per GFLOP-work unit times the job's GFLOP per image (:func:`model_gflop`); a model
    missing from the tables: the measured runs' median cost per work unit. Each row gets
    ``forecast_time_s``, ``forecast_energy_kwh``, ``forecast_co2_g`` and a
    ``forecast_source`` saying which; with nothing measured yet, NaN and
    ``unavailable:nothing-measured-yet``.

    >>> done = [{"model": "resnet18", "side": 28, "work": 100.0, "time_s": 10.0,
    ...          "energy_kwh": 1e-4, "co2_g": 0.02}]
    >>> todo = [{"model": "resnet18", "side": 28, "work": 300.0},
    ...         {"model": "resnet34", "side": 28, "work": 100.0}]
    >>> [round(r["forecast_time_s"], 1) for r in sweep_forecast(todo, done)]
    [30.0, 20.7]
    """
    same_model: dict[str, list[dict[str, float]]] = {}  # per work unit and GFLOP (or 1)
    per_gflop: list[dict[str, float]] = []  # per work unit and GFLOP, models in the tables
    per_work: list[dict[str, float]] = []  # per work unit, every run
    for run in measured:
        gflop = model_gflop(run["model"], run["side"])
        unit = {c: _value(run, c) / run["work"] for c in _COSTS}
        per_work.append(unit)
        same_model.setdefault(run["model"], []).append(
            {c: unit[c] / (gflop or 1.0) for c in _COSTS})
        if gflop:
            per_gflop.append({c: unit[c] / gflop for c in _COSTS})
    out = []
    for job in jobs:
        gflop = model_gflop(job["model"], job["side"])
        if job["model"] in same_model:
            units, scale = same_model[job["model"]], (gflop or 1.0)
            source = f"forecast:measured-{job['model']}-x-images-x-epochs"
        elif gflop and per_gflop:
            units, scale = per_gflop, gflop
            source = "forecast:measured-runs-x-train-gflop-per-image(table)"
        elif per_work:
            units, scale = per_work, 1.0
            source = "forecast:measured-runs-x-images-x-epochs(model-not-in-table)"
        else:
            units, scale, source = [], math.nan, "unavailable:nothing-measured-yet"
        row = dict(job)
        for c in _COSTS:
            row[f"forecast_{c}"] = _median([u[c] for u in units]) * scale * job["work"]
        row["forecast_source"] = source
        out.append(row)
    return out


def sweep_limit_reason(spent: dict[str, float], next_cost: dict[str, float],
                       limits: dict[str, float]) -> str | None:
    """Why starting the next run would pass a sweep's limit, or None.

    ``spent``: the sweep's totals so far (``time_s``: the runs' ``train_time_s``;
    ``energy_kwh``); ``next_cost``: the next run's forecast (same keys).

    >>> sweep_limit_reason({"time_s": 50.0}, {"time_s": 20.0}, {"max_time_s": 60.0})
    'spent 50 s + 20 s forecast for the next run > max_time_s=60'
    """
    for option, column in LIMITS.items():
        if option not in limits:
            continue
        used, step = spent.get(column, math.nan), next_cost.get(column, math.nan)
        unit = _UNITS[column]
        if used == used and used >= limits[option]:
            return f"spent {used:.3g} {unit} >= {option}={limits[option]:g}"
        if used == used and step == step and used + step > limits[option]:
            return (f"spent {used:.3g} {unit} + {step:.3g} {unit} forecast for the next "
                    f"run > {option}={limits[option]:g}")
    return None


def sweep_forecast_lines(rows: list[dict[str, Any]], spent: dict[str, float],
                         n_done: int) -> list[str]:
    """The printed forecast of a sweep: a total line, then one line per model."""
    total = {c: spent.get(c, 0.0) + sum(r[f"forecast_{c}"] for r in rows) for c in _COSTS}
    lines = [f"sweep forecast (a forecast, not a measurement) for {len(rows) + n_done} runs, "
             f"{n_done} done: {describe_cost(*(total[c] for c in _COSTS))} in all, of which "
             f"{describe_cost(*(spent.get(c, 0.0) for c in _COSTS))} spent"]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        cost = describe_cost(*(sum(r[f"forecast_{c}"] for r in mine) for c in _COSTS))
        lines.append(f"  {model} x{len(mine)} to come: {cost} [{mine[0]['forecast_source']}]")
    return lines
