"""Run a grid of fine-tuning runs into one CSV, resumably and shardably.

Each finished run appends one row (the sweep schema, :data:`peprkit.schema.SUMMARY_COLUMNS`)
to ``out`` by rewriting the whole file atomically, so the CSV is never half-written. A
rerun skips the runs already in ``out`` (same model, dataset, size, pretrained, fraction,
seed and epochs) and resumes a run cut off mid-way from its checkpoint. ``shard=(i, n)``
takes every n-th job from the i-th, e.g. ``(int(os.environ["SLURM_ARRAY_TASK_ID"]), n)``;
give each shard its own ``out`` when shards share a disk, then concatenate the CSVs.

On a CPU each run trains in a fresh worker process by default (``isolate=True``), so the
memory, time and energy of one run are not coloured by the runs before it; the worker's
progress is shown here. The price is the worker's start once per run, mostly importing
torch and timm: about 7 s of CPU time on a 2-core machine, so a few seconds of wall time
on an idle one and more on a busy one (``benchmarks/isolate_cost.py`` measures it); pass
``isolate=False`` for quick experiments.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from peprkit._util import atomic_write, optional_import, progress_bar
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
    """Append ``row`` to the CSV ``out`` by rewriting the file atomically; returns the table."""
    done = read_results(out)
    table = row if done.empty else pd.concat([done, row], ignore_index=True)
    atomic_write(out, table.to_csv(index=False))
    return table


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
        **finetune_options: passed to :func:`peprkit.train.finetune` (``lr``,
            ``batch_size``, ``device``, ``amp``, ``meter=False``...). Checkpoints go to
            ``<out stem>_runs/<settings>/`` (see :func:`peprkit.train.run_folder`); once
            a run's row is written its checkpoint is removed and its per-epoch
            ``history.csv`` kept.

    Returns:
        The whole table in ``out`` (feed it to ``peprkit.add_pepr(..., by="dataset")``).

    Raises:
        ValueError: bad grid, shard or options; ``meter`` given as a meter object (a sweep
            makes one per run: pass True or False).
        KeyboardInterrupt: after an interrupted run (its finished epochs stay in its
            checkpoint and the next call resumes it).
    """
    from peprkit.data import Data, load_medmnist
    from peprkit.models import check_model_name
    from peprkit.train import BEST, CHECKPOINT

    jobs = make_jobs(models, pretrained=pretrained, fractions=fractions, seeds=seeds, shard=shard)
    if finetune_options.get("meter", True) not in (True, False):
        raise ValueError("meter= must be True or False in a sweep (each run gets its own "
                         "EnergyMeter); set the grid with country='DK' (your ISO code).")
    if isolate is None:
        isolate = _default_isolate(finetune_options)
    for name in dict.fromkeys(j["model"] for j in jobs):
        check_model_name(name)
    full = data if isinstance(data, Data) else load_medmnist(str(data))
    out = Path(out)
    runs_root = out.parent / f"{out.stem}_runs"
    done = {_key(r) for r in read_results(out).to_dict("records")}
    todo = [j for j in jobs if _key({**j, "dataset": full.flag, "size": full.size,
                                     "epochs": epochs}) not in done]
    with progress_bar(total=len(jobs), initial=len(jobs) - len(todo), desc="sweep", unit="run",
              disable=quiet) as bar:
        for job in todo:
            bar.set_postfix_str(f"{job['model']} pt={job['pretrained']} f={job['fraction']:g} "
                                f"s={job['seed']}")
            subset = full if job["fraction"] == 1.0 else full.subset(job["fraction"], job["seed"])
            run_dir = _run_dir(runs_root, job, full.flag, full.size, epochs, finetune_options)
            summary, status = _train_one(job, subset, epochs=epochs, run_dir=run_dir,
                                         quiet=quiet, isolate=isolate, country=country,
                                         options=finetune_options)
            if status == "interrupted":
                raise KeyboardInterrupt(f"sweep interrupted during {job['model']}; rerun to resume")
            append_row(out, summary)
            for name in (CHECKPOINT, BEST):  # keep its history.csv
                (run_dir / name).unlink(missing_ok=True)
            bar.update(1)
    return read_results(out)
