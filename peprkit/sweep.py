"""Run a grid of fine-tuning runs into one CSV, resumably and shardably.

Each finished run appends one row (the sweep schema of :attr:`peprkit.train.Run.summary`)
to ``out`` by rewriting the whole file atomically, so the CSV is never half-written. A
rerun skips the runs already in ``out`` (same model, dataset, size, pretrained, fraction,
seed and epochs) and resumes a run cut off mid-way from its checkpoint. ``shard=(i, n)``
takes every n-th job from the i-th, e.g. ``(int(os.environ["SLURM_ARRAY_TASK_ID"]), n)``;
give each shard its own ``out`` when shards share a disk, then concatenate the CSVs.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from peprkit._util import atomic_write, optional_import

#: Columns that identify a run: a row with the same values is not run again.
KEY = ("model", "dataset", "size", "pretrained", "fraction", "seed", "epochs")


def _key(row: dict[str, Any]) -> tuple:
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
    try:
        i, n = (int(v) for v in shard)
        ok = 0 <= i < n
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shard={shard!r} must be (i, n) with 0 <= i < n, e.g. (0, 4) for the "
                         "first of 4 shards.")
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


def _run_dir(root: Path, job: dict[str, Any], dataset: str, size: int, epochs: int) -> Path:
    tag = "pt" if job["pretrained"] else "scratch"
    return root / (f"{job['model']}_{dataset}_{size}_{tag}_f{job['fraction']:g}"
                   f"_s{job['seed']}_e{epochs}")


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
        **finetune_options: passed to :func:`peprkit.train.finetune` (``lr``,
            ``batch_size``, ``device``, ``amp``, ``meter=False``...). Checkpoints go to
            ``<out stem>_runs/<run>/``; once a run's row is written its checkpoint is
            removed and its per-epoch ``history.csv`` kept.

    Returns:
        The whole table in ``out`` (feed it to ``peprkit.add_pepr(..., by="dataset")``).

    Raises:
        ValueError: bad grid, shard or options; ``meter`` given as a meter object (a sweep
            makes one per run: pass True or False).
        KeyboardInterrupt: after an interrupted run (its finished epochs stay in its
            checkpoint and the next call resumes it).
    """
    tqdm = optional_import("tqdm.auto", extra="train", package="tqdm").tqdm
    from peprkit.data import Data, load_medmnist
    from peprkit.models import check_model_name
    from peprkit.train import CHECKPOINT, finetune

    jobs = make_jobs(models, pretrained=pretrained, fractions=fractions, seeds=seeds, shard=shard)
    if finetune_options.get("meter", True) not in (True, False):
        raise ValueError("meter= must be True or False in a sweep (each run gets its own "
                         "EnergyMeter); set the grid intensity with the meter's defaults.")
    for name in dict.fromkeys(j["model"] for j in jobs):
        check_model_name(name)
    full = data if isinstance(data, Data) else load_medmnist(str(data))
    out = Path(out)
    runs_root = out.parent / f"{out.stem}_runs"
    done = {_key(r) for r in read_results(out).to_dict("records")}
    todo = [j for j in jobs if _key({**j, "dataset": full.flag, "size": full.size,
                                     "epochs": epochs}) not in done]
    with tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="sweep", unit="run",
              disable=quiet) as bar:
        for job in todo:
            bar.set_postfix_str(f"{job['model']} pt={job['pretrained']} f={job['fraction']:g} "
                                f"s={job['seed']}")
            subset = full if job["fraction"] == 1.0 else full.subset(job["fraction"], job["seed"])
            run_dir = _run_dir(runs_root, job, full.flag, full.size, epochs)
            run = finetune(job["model"], subset, epochs=epochs, pretrained=job["pretrained"],
                           seed=job["seed"], run_dir=run_dir, quiet=quiet, **finetune_options)
            if run.status == "interrupted":
                raise KeyboardInterrupt(f"sweep interrupted during {job['model']}; rerun to resume")
            append_row(out, run.summary)
            (run_dir / CHECKPOINT).unlink(missing_ok=True)  # keep its history.csv
            bar.update(1)
    return read_results(out)
