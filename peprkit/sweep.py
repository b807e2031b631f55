"""Run a grid of fine-tuning runs into one CSV, resumably and shardably.

Each finished run appends one row (the sweep schema, :data:`peprkit.schema.SUMMARY_COLUMNS`)
to ``out`` by rewriting the whole file atomically, so the CSV is never half-written. A
rerun skips the runs already in ``out`` (same model, dataset, size, pretrained, fraction,
seed and epochs) and resumes a run cut off mid-way from its checkpoint. ``shard=(i, n)``
takes every n-th job from the i-th, e.g. ``(int(os.environ["SLURM_ARRAY_TASK_ID"]), n)``;
give each shard its own ``out`` when shards share a disk, then concatenate the CSVs.

On a CPU each run trains in a worker process of its own by default (``isolate=True``), so
the memory, time and energy of one run are not coloured by the runs before it; the worker's
progress is shown here. On Linux the workers are forked from a server process that has
imported torch and timm once (:mod:`peprkit.train._forkserver`), so a run costs a fork
(well under a second) instead of a fresh interpreter's start (seconds of CPU time, mostly
the imports); elsewhere, or with ``PEPRKIT_ISOLATE_START=fresh``, each run starts a fresh
interpreter. ``benchmarks/isolate_cost.py`` measures both side by side. Pass
``isolate=False`` for quick experiments.

After the first run, the forecast of the whole sweep (the runs to come scaled from the
measured ones; :func:`peprkit.train._forecast.sweep_forecast`) is printed once and written
to ``<out stem>_forecast.csv``. ``max_energy_kwh`` / ``max_time_s`` limit the whole sweep's
spend: a run whose forecast would pass a limit is not started, and a started run gets what
is left as its own limit (it stops with status ``"over_budget"`` before an epoch that
would pass it); the sweep then stops with an ``OverBudgetWarning`` saying why, and a later
call with a higher limit resumes it. Each warning text the runs raise is shown once per
sweep, and the runs that did not beat the majority baseline are named in one
``ChanceLevelWarning`` when the sweep ends.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from peprkit._util import append_csv_row, atomic_write, optional_import, progress_bar
from peprkit._validation import check_shard


def _key(row: dict[str, Any]) -> tuple:
    """The run's identity, :data:`peprkit.schema.RUN_KEY`: a row with the same key is not
    run again."""
    return (str(row["model"]), str(row["dataset"]), int(row["size"]),
            str(row["pretrained"]).lower() == "true", round(float(row["fraction"]), 6),
            int(row["seed"]), int(row["epochs"]))


def make_jobs(
    models: Sequence[str], *, pretrained: Sequence[bool] = (True,),
    fractions: Sequence[float] = (1.0,), seeds: Sequence[int] = (0,),
    shard: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """The grid as a list of ``{"model", "pretrained", "fraction", "seed"}``, in a fixed order.

    ``shard=(i, n)`` keeps jobs ``i, i+n, i+2n, ...`` (0-based ``i < n``).

    >>> [j["model"] for j in make_jobs(["a", "b", "c"], seeds=(0, 1), shard=(1, 2))]
    ['a', 'b', 'c']

    Raises:
        ValueError: empty ``models``, bad ``shard`` or ``fractions``.
    """
    if isinstance(models, str) or not models:
        raise ValueError(f"models={models!r} must be a non-empty list of timm model names, "
                         "e.g. ['resnet18', 'efficientnet_b0'].")
    for f in fractions:
        if not 0.0 < float(f) <= 1.0:
            raise ValueError(f"fractions contains {f!r}; each must be in (0, 1], e.g. (0.1, 1.0).")
    grid = [dict(model=m, pretrained=bool(p), fraction=float(f), seed=int(s))
            for m, p, f, s in itertools.product(models, pretrained, fractions, seeds)]
    if shard is None:
        return grid
    i, n = check_shard(shard)
    return grid[i::n]


def read_results(out: str | os.PathLike) -> pd.DataFrame:
    """The rows already in ``out`` (an empty frame when the file does not exist)."""
    path = Path(out)
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else pd.DataFrame()


def append_row(out: str | os.PathLike, row: pd.DataFrame) -> pd.DataFrame:
    """Append the one-row frame ``row`` to the CSV ``out`` (atomically, see
    :func:`peprkit._util.append_csv_row`); returns the whole table."""
    append_csv_row(out, row.iloc[0].to_dict())
    return read_results(out)


def _run_dir(root: Path, job: dict[str, Any], dataset: str, size: int, epochs: int,
             options: dict[str, Any]) -> Path:
    """The run's checkpoint folder, named by every setting that defines the run."""
    from peprkit.train import PROTOCOL, recipe_for, run_folder

    _, recipe = recipe_for(job["model"], job["pretrained"], options.get("recipe", "auto"),
                           options.get("lr"), options.get("optimizer"))
    settings = {"lr": recipe["lr"], "optimizer": recipe["optimizer"],
                "batch_size": options.get("batch_size", PROTOCOL["batch_size"])}
    return run_folder(root, {**job, "dataset": dataset, "size": size, "epochs": epochs,
                             **settings})


def _default_isolate(options: dict[str, Any]) -> bool:
    """True unless the runs will train on CUDA (where peak memory is per run already)."""
    device = str(options.get("device", "auto"))
    if device == "auto":
        torch = optional_import("torch", extra="train")
        return not torch.cuda.is_available()
    return not device.startswith("cuda")


def _train_one(job: dict[str, Any], subset: Any, *, epochs: int, run_dir: Path, quiet: bool,
               isolate: bool, country: str | None, options: dict[str, Any]):
    """(summary, status) of one run, trained here or in a fresh worker process."""
    from peprkit import train

    kwargs = dict(model=job["model"], data=subset, epochs=epochs, pretrained=job["pretrained"],
                  seed=job["seed"], run_dir=run_dir, quiet=quiet, **options)
    meter = kwargs.pop("meter", True)
    if isolate:
        from peprkit.train._subprocess import run_isolated

        result = run_isolated({"finetune": kwargs, "meter": meter, "country": country})
        return result["summary"], result["status"]
    if meter is True and country is not None:
        from peprkit.meter import EnergyMeter

        kwargs["meter"] = EnergyMeter(country=country)
    elif meter is not True:
        kwargs["meter"] = meter
    run = train.finetune(kwargs.pop("model"), kwargs.pop("data"), **kwargs)
    return run.summary, run.status


def run_sweep(
    models: Sequence[str],
    data: Any,
    *,
    epochs: int = 10,
    out: str | os.PathLike = "results.csv",
    pretrained: Sequence[bool] = (True,),
    fractions: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0,),
    shard: tuple[int, int] | None = None,
    quiet: bool = False,
    isolate: bool | None = None,
    country: str | None = None,
    max_energy_kwh: float | None = None,
    max_time_s: float | None = None,
    **finetune_options: Any,
) -> pd.DataFrame:
    """Fine-tune every (model, pretrained, fraction, seed) combination and collect the rows.

    Args:
        models: timm model names, e.g. ``peprkit.models.SMALL_ZOO[:4]``.
        data: a :class:`peprkit.data.Data` (its full training split) or a MedMNIST flag.
        epochs: epochs per run.
        out: results CSV (created, appended to, never half-written).
        pretrained, fractions, seeds: the other grid axes; a fraction takes a stratified
            subset of the training split chosen by the run's seed.
        shard: ``(i, n)`` runs every n-th job starting at i.
        quiet: no progress output.
        isolate: train each run in a fresh worker process (None: True on a CPU, False on
            CUDA), so that memory, time and energy belong to that run alone.
        country: ISO code of your electricity grid (e.g. ``"DK"``), passed to each run's
            :class:`peprkit.meter.EnergyMeter` for its CO2 figures; None: world average.
        max_energy_kwh, max_time_s: limits on the whole sweep's spend (energy; the runs'
            ``train_time_s``), rows already in ``out`` for this grid included; None: none.
            The sweep stops before a run (or epoch) that would pass one, with an
            ``OverBudgetWarning``; rerun with a higher limit to resume.
        **finetune_options: passed to :func:`peprkit.train.finetune` (``lr``,
            ``batch_size``, ``device``, ``amp``, ``meter=False``...). Checkpoints go to
            ``<out stem>_runs/<settings>/`` (see :func:`peprkit.train.run_folder`); once
            a run's row is written its checkpoint is removed and its per-epoch
            ``history.csv`` kept.

    Returns:
        The whole table in ``out`` (feed it to ``peprkit.add_pepr(..., by="dataset")``),
        also when a spend limit stopped the sweep.

    Raises:
        ValueError: bad grid, shard or options; ``meter`` given as a meter object (a sweep
            makes one per run: pass True or False).
        KeyboardInterrupt: after an interrupted run (its finished epochs stay in its
            checkpoint and the next call resumes it).
    """
    from peprkit.data import Data, load_medmnist
    from peprkit.models import check_model_name
    from peprkit.train import BEST, CHECKPOINT, _forecast

    jobs = make_jobs(models, pretrained=pretrained, fractions=fractions, seeds=seeds, shard=shard)
    if finetune_options.get("meter", True) not in (True, False):
        raise ValueError("meter= must be True or False in a sweep (each run gets its own "
                         "EnergyMeter); set the grid with country='DK' (your ISO code).")
    limits = _forecast.check_limits(max_energy_kwh, max_time_s,
                                    finetune_options.get("meter", True))
    if isolate is None:
        isolate = _default_isolate(finetune_options)
    for name in dict.fromkeys(j["model"] for j in jobs):
        check_model_name(name)
    if isolate:
        _start_server(finetune_options)  # imports torch there while the data loads here
    full = data if isinstance(data, Data) else load_medmnist(str(data))
    out = Path(out)
    runs_root = out.parent / f"{out.stem}_runs"
    done = {_key(r) for r in read_results(out).to_dict("records")}
    todo = [j for j in jobs if _key({**j, "dataset": full.flag, "size": full.size,
                                     "epochs": epochs}) not in done]
    plan = _Plan(full, epochs, finetune_options, jobs, out)
    table = read_results(out)
    from peprkit.train import CHANCE_MARGIN

    seen: set[tuple] = set()  # the runs' warnings, each passed on once per sweep
    at_chance: list[str] = []  # runs at the majority baseline, named in one warning at the end
    with progress_bar(total=len(jobs), initial=len(jobs) - len(todo), desc="sweep", unit="run",
                      disable=quiet) as bar, _chance_summary(at_chance, len(todo)):
        for i, job in enumerate(todo):
            bar.set_postfix_str(f"{job['model']} pt={job['pretrained']} f={job['fraction']:g} "
                                f"s={job['seed']}")
            spent, forecasts = plan.forecast(table, todo[i:])
            if not plan.printed and forecasts[0]["forecast_source"].startswith("forecast:"):
                plan.report(forecasts, spent, bar.write, quiet)
            reason = _forecast.sweep_limit_reason(spent, {
                c: forecasts[0][f"forecast_{c}"] for c in ("time_s", "energy_kwh")}, limits)
            if reason is not None:
                _stopped(job, reason, len(todo) - i)
                break
            left = {k: v - spent[_forecast.LIMITS[k]] for k, v in limits.items()}
            subset = full if job["fraction"] == 1.0 else full.subset(job["fraction"], job["seed"])
            run_dir = _run_dir(runs_root, job, full.flag, full.size, epochs, finetune_options)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                summary, status = _train_one(job, subset, epochs=epochs, run_dir=run_dir,
                                             quiet=quiet, isolate=isolate, country=country,
                                             options={**finetune_options, **left})
            _pass_on(caught, seen)
            if status == "interrupted":
                raise KeyboardInterrupt(f"sweep interrupted during {job['model']}; rerun to resume")
            if status == _forecast.OVER_BUDGET:
                _stopped(job, "its next epoch would pass what is left of the sweep's limit "
                         f"({_describe_left(left)})", len(todo) - i)
                break
            table = append_row(out, summary)
            acc, majority = (_number(summary.iloc[0][c]) for c in ("test_acc", "majority_acc"))
            if acc < majority + CHANCE_MARGIN:  # False when either is missing
                at_chance.append(f"{job['model']} (seed {job['seed']}, fraction "
                                 f"{job['fraction']:g}: {acc:.3f} vs {majority:.3f})")
            for name in (CHECKPOINT, BEST):  # keep its history.csv
                (run_dir / name).unlink(missing_ok=True)
            bar.update(1)
    return read_results(out)


def _pass_on(caught: list, seen: set[tuple]) -> None:
    """Show a run's warnings as the sweep's, each text once (a sweep of 16 runs says "no
    country given" once, not 16 times); chance-level ones are summed up at the end."""
    from peprkit.train import ChanceLevelWarning

    for w in caught:
        key = (w.category, str(w.message))
        if issubclass(w.category, ChanceLevelWarning) or key in seen:
            continue
        seen.add(key)
        warnings.warn(str(w.message), w.category, stacklevel=3)


@contextlib.contextmanager
def _chance_summary(at_chance: list[str], n_runs: int):
    """One ChanceLevelWarning for the whole sweep, naming every run that did not beat the
    majority baseline, shown when the sweep ends (also when it stops early)."""
    try:
        yield
    finally:
        if at_chance:
            from peprkit.train import ChanceLevelWarning

            warnings.warn(
                f"{len(at_chance)} of the {n_runs} run(s) trained here did not beat always "
                f"answering the most common class: {'; '.join(at_chance)}. These models have "
                "not learned to tell the classes apart (yet), and their PePR rewards a constant "
                "guess: compare runs on test_balanced_acc, test_auc or "
                "peprkit.metric.chance_adjusted(test_acc, majority_acc), train longer, or start "
                "from pretrained weights.", ChanceLevelWarning, stacklevel=4)


def _start_server(options: dict[str, Any]) -> None:
    """Start the fork server of isolated runs now (where runs are forked)."""
    from peprkit.train import _forkserver
    from peprkit.train._subprocess import job_environment

    if _forkserver.available():
        _forkserver.start(job_environment({"finetune": {"threads": options.get("threads")}}))


def _stopped(job: dict[str, Any], reason: str, n_left: int) -> None:
    from peprkit.train._forecast import OverBudgetWarning

    warnings.warn(f"sweep stopped at {job['model']} (seed {job['seed']}, fraction "
                  f"{job['fraction']:g}): {reason}. {n_left} run(s) not done; rerun with a "
                  "higher max_energy_kwh / max_time_s to go on (finished runs are kept, an "
                  "interrupted one resumes).", OverBudgetWarning, stacklevel=3)


def _number(value: Any) -> float:
    """A table cell as a float (NaN when empty or not a number)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _describe_left(left: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3g}" for k, v in left.items())


class _Plan:
    """What the sweep's forecast needs: each job's input side and work, the measured runs."""

    def __init__(self, full: Any, epochs: int, options: dict[str, Any],
                 jobs: list[dict[str, Any]], out: Path) -> None:
        from peprkit.train import _forecast, recipe_for

        self.forecasts = _forecast
        self.full, self.epochs, self.out, self.printed = full, epochs, out, False
        self.keys = {_key(self._row(j)) for j in jobs}
        self.n_train, self.n_eval = len(full.train), len(full.val) + len(full.test)
        self._recipe = lambda model, pretrained: recipe_for(
            model, pretrained, options.get("recipe", "auto"))[1]

    def _row(self, job: dict[str, Any]) -> dict[str, Any]:
        return {**job, "dataset": self.full.flag, "size": self.full.size, "epochs": self.epochs}

    def _job(self, job: dict[str, Any]) -> dict[str, Any]:
        f = self.forecasts
        side = f.run_side(job["model"], self.full.size,
                          self._recipe(job["model"], job["pretrained"])["min_input_size"])
        return {**job, "epochs": self.epochs, "side": side,
                "work": f.work_units(self.n_train * job["fraction"], self.n_eval, self.epochs)}

    def forecast(self, table: pd.DataFrame, todo: list[dict[str, Any]]
                 ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """(this grid's spend so far, the forecast of each job in ``todo``)."""
        f = self.forecasts
        measured, spent = [], {"time_s": 0.0, "energy_kwh": 0.0, "co2_g": 0.0}
        for row in table.to_dict("records"):
            if str(row.get("dataset")) != self.full.flag or int(row["size"]) != self.full.size:
                continue
            cost = {"time_s": _number(row.get("train_time_s")),
                    "energy_kwh": _number(row.get("energy_kwh")),
                    "co2_g": _number(row.get("co2_g"))}
            if _key(row) in self.keys:
                spent = {c: spent[c] + cost[c] for c in spent}
            epochs_run = _number(row.get("epochs_run"))
            side = _number(row.get("input_size"))
            if cost["time_s"] == cost["time_s"] and side == side:
                work = f.work_units(self.n_train * float(row["fraction"]), self.n_eval,
                                    epochs_run if epochs_run == epochs_run else row["epochs"])
                measured.append({"model": str(row["model"]), "side": int(side), "work": work,
                                 **cost})
        return spent, f.sweep_forecast([self._job(j) for j in todo], measured)

    def report(self, forecasts: list[dict[str, Any]], spent: dict[str, float], write,
               quiet: bool) -> None:
        """Print the sweep's forecast once and keep it in ``<out stem>_forecast.csv``."""
        self.printed = True
        n_done = len(self.keys) - len(forecasts)
        if not quiet:
            for line in self.forecasts.sweep_forecast_lines(forecasts, spent, n_done):
                write(line)
        columns = ["model", "pretrained", "fraction", "seed", "epochs", "side",
                   *(f"forecast_{c}" for c in ("time_s", "energy_kwh", "co2_g")),
                   "forecast_source"]
        frame = pd.DataFrame(forecasts).reindex(columns=columns).rename(
            columns={"side": "input_size"})
        atomic_write(self.out.parent / f"{self.out.stem}_forecast.csv",
                     frame.to_csv(index=False))
