"""A class reproduces the paper together: fair shards of a zoo, and one calibrated table.

Thirty learners have the compute to fine-tune the paper's 131 models if each runs a share.
Two things make their pooled results honest:

- **Fair shares.** :func:`balanced_shards` splits a zoo by expected cost (GFLOP of one
  training step per image at the input size each model runs at, from
  :func:`peprkit.models.paper_zoo`), not by count, so no learner gets all the large models.
- **Calibration.** Energy measured on different machines is not comparable (another CPU,
  another meter, another assumed watts per core). Every shard therefore also trains one
  fixed **reference model** (:data:`REFERENCE_MODEL`) with the same data and epochs;
  :func:`pool_results` divides each run's energy and time by its machine's reference run:
  ``energy_rel = energy_kwh / energy_kwh(reference)``, ``time_rel`` likewise. PePR-E and
  PePR-T can then be computed across machines on ``energy_rel`` and ``time_rel``. Carbon is
  *not* calibrated: it depends on each learner's grid, and the class should see that.

The calibration assumes that the ratio of two models' energies is about the same on every
machine (true for machines of one kind; rougher between a GPU and a CPU), which the class
can check: every machine's reference has ``energy_rel = 1``, and models run on several
machines show the spread.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from peprkit._util import atomic_write, did_you_mean
from peprkit._validation import check_shard

#: The model every shard trains for calibration (small, fast, in every timm version).
REFERENCE_MODEL = "resnet18"
#: Columns a results file must have to be pooled (a subset of the sweep schema).
REQUIRED_COLUMNS = ("model", "dataset", "size", "pretrained", "fraction", "seed", "epochs",
                    "test_acc", "energy_kwh", "train_time_s")
#: Settings that must agree within one comparison (one dataset) unless ``allow_mixed``.
SETTINGS = ("size", "epochs", "lr", "batch_size", "optimizer")
#: Run-record columns that identify a machine, used when present.
MACHINE_COLUMNS = ("device", "hardware", "torch_version", "threads")
#: Columns :func:`pool_results` adds; they are recomputed when a pooled table is pooled again.
DERIVED_COLUMNS = ("reference_energy_kwh", "reference_time_s", "energy_rel", "time_rel",
                   "is_reference", "calibrated_by")
_RUN_MATCH = ("dataset", "size", "epochs", "pretrained", "fraction")


def expected_cost(models: Sequence[str], *, size: int = 28) -> dict[str, float]:
    """Relative cost of training each model on ``size`` px images: GFLOP per image and step.

    Read from :func:`peprkit.models.paper_zoo` (counted at each model's smallest input
    size, scaled by pixels when ``size`` is larger); a model not in the table is measured
    with :func:`peprkit.models.describe_model` (needs timm; a few seconds each).

    >>> cost = expected_cost(["dla46_c", "resnet152d"])
    >>> cost["resnet152d"] > cost["dla46_c"] > 0
    True
    """
    from peprkit.models import describe_model, paper_zoo

    zoo = paper_zoo().set_index("model")
    out = {}
    for name in models:
        if name in zoo.index and pd.notna(zoo.loc[name, "train_gflop_per_image"]):
            gflop = float(zoo.loc[name, "train_gflop_per_image"])
            side = int(zoo.loc[name, "min_input_size"])
        else:
            facts = describe_model(name, size=28, time_it=False)
            gflop, side = float(facts["train_gflop_per_image"]), int(facts["min_input_size"])
        fixed = name in zoo.index and bool(zoo.loc[name, "fixed_input_size"])
        scale = 1.0 if fixed else (max(int(size), side) / side) ** 2
        out[name] = gflop * scale
    return out


def zoo_models(zoo: str) -> list[str]:
    """The models of a named zoo: ``"small"``, ``"paper"`` or ``"paper-cpu"``.

    ``"paper"`` is :data:`peprkit.models.PAPER_ZOO` without the models today's timm no
    longer has; ``"paper-cpu"`` keeps those with ``cpu_ok`` (see
    :func:`peprkit.models.paper_zoo`).

    >>> len(zoo_models("paper")) <= 131 and "dla46_c" in zoo_models("paper-cpu")
    True

    Raises:
        ValueError: an unknown zoo name.
    """
    from peprkit.models import SMALL_ZOO, paper_zoo

    if zoo == "small":
        return list(SMALL_ZOO)
    if zoo in ("paper", "paper-cpu"):
        table = paper_zoo(cpu_ok=True if zoo == "paper-cpu" else None)
        return table.loc[table["timm_weights"] != "", "model"].tolist()
    raise ValueError(f"zoo={zoo!r} is not a zoo; use 'small', 'paper' or 'paper-cpu'."
                     f"{did_you_mean(str(zoo), ('small', 'paper', 'paper-cpu'))}")


def balanced_shards(
    models: Sequence[str], n: int, *, cost: dict[str, float] | None = None, size: int = 28,
) -> list[list[str]]:
    """Split ``models`` into ``n`` shards of about equal total cost (greedy, largest first).

    Each model, most expensive first, goes to the shard with the least cost so far (ties:
    the lower shard number). Deterministic: every learner computes the same split.

    Args:
        models: timm names (duplicates are dropped).
        n: number of shards (learners), at least 1.
        cost: model -> cost; default :func:`expected_cost`.
        size: image size of the dataset, for the default cost.

    Returns:
        ``n`` lists of names, each in the order of ``models``.

    Raises:
        ValueError: ``n`` < 1, no models, or a model without a cost.

    >>> balanced_shards(["a", "b", "c", "d"], 2, cost={"a": 8, "b": 1, "c": 4, "d": 4})
    [['a', 'b'], ['c', 'd']]
    """
    names = list(dict.fromkeys(models))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a whole number of shards >= 1, e.g. n=30.")
    if not names:
        raise ValueError("models is empty; pass timm names, e.g. peprkit.models.PAPER_ZOO.")
    cost = expected_cost(names, size=size) if cost is None else dict(cost)
    missing = [m for m in names if m not in cost]
    if missing:
        raise ValueError(f"cost has no value for {missing[:5]}; give every model a cost.")
    loads = [0.0] * n
    owner: dict[str, int] = {}
    for name in sorted(names, key=lambda m: (-float(cost[m]), m)):
        k = min(range(n), key=lambda i: (loads[i], i))
        owner[name] = k
        loads[k] += float(cost[name])
    return [[m for m in names if owner[m] == k] for k in range(n)]


def shard_models(
    models: Sequence[str], shard: tuple[int, int], *, reference: str | None = REFERENCE_MODEL,
    size: int = 28, cost: dict[str, float] | None = None,
) -> list[str]:
    """Learner ``i`` of ``n``'s models: the reference first, then its cost-balanced share.

    The reference model is left out of the split (every shard trains it anyway).

    >>> shard_models(["a", "b", "c", "d"], (1, 2), reference="r",
    ...              cost={"a": 8, "b": 1, "c": 4, "d": 4})
    ['r', 'c', 'd']

    Raises:
        ValueError: a bad ``shard`` (as ``(i, n)`` with ``0 <= i < n``).
    """
    i, n = check_shard(shard)
    rest = [m for m in dict.fromkeys(models) if m != reference]
    if n == 1 or not rest:  # one learner: everything, no costs needed
        mine = rest
    else:
        mine = balanced_shards(rest, n, cost=cost, size=size)[i]
    return ([reference] if reference else []) + mine


def machine_id(row: dict[str, Any] | pd.Series, columns: Sequence[str] = MACHINE_COLUMNS) -> str:
    """A readable machine id from a run record's machine columns (those present).

    >>> machine_id({"device": "cpu", "threads": 2, "torch_version": "2.4.1"})
    'cpu | torch 2.4.1 | 2 threads'
    """
    get = row.get
    parts = []
    if pd.notna(get("device", None)):
        parts.append(str(get("device")))
    if pd.notna(get("hardware", None)) and "hardware" in columns:
        parts.append(str(get("hardware")))
    if pd.notna(get("torch_version", None)) and "torch_version" in columns:
        parts.append(f"torch {get('torch_version')}")
    if pd.notna(get("threads", None)) and "threads" in columns:
        parts.append(f"{int(float(get('threads')))} threads")
    return " | ".join(parts) or "unknown machine"


def pool_results(
    paths: Sequence[str | os.PathLike] | str | os.PathLike,
    *,
    reference: str = REFERENCE_MODEL,
    allow_mixed: bool = False,
    out: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Pool learners' ``results.csv`` files into one class table, calibrated per machine.

    For each file: checks the columns :data:`REQUIRED_COLUMNS` and their values (an error
    names the file, the column and the row), and records ``source_file`` and one ``machine``
    id per file (:func:`machine_id` of the most common ``device``, ``hardware``,
    ``torch_version`` and ``threads`` of its runs, those the records have; records
    written before those columns existed carry ``device`` and ``threads`` only). Then:
    exact duplicate rows are dropped (the same file given twice counts once); settings
    :data:`SETTINGS` must agree within each dataset unless ``allow_mixed``; and each run gets

    - ``reference_energy_kwh`` / ``reference_time_s``: the reference model's run in the
      same file with the same dataset, size, epochs, pretrained and fraction (mean over
      seeds; else any reference run of that dataset, size and epochs in the file; else one
      from another file of the same machine), with ``calibrated_by`` saying which;
    - ``energy_rel = energy_kwh / reference_energy_kwh`` and ``time_rel`` likewise
      (NaN, with a warning, when no reference run is found);
    - ``is_reference``: the row is a reference run.

    ``co2_g`` is left as it is: each learner's grid intensity is part of the result.
    Pooling the pooled table again (alone or with the same files) gives the same table.

    Args:
        paths: results CSVs (``peprkit sweep`` output, or earlier pooled tables).
        reference: the reference model's name.
        allow_mixed: accept different epochs, image sizes, learning rates... within one
            dataset (their PePR is then not a fair comparison).
        out: also write the table there (atomically).

    Returns:
        All rows, sorted by dataset, model, settings and file.

    Raises:
        ValueError: no paths, a missing file, a file that is not a results table, bad
            values, or mixed settings.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> for k, factor in enumerate((1.0, 3.0)):  # the same runs, metered 3x higher
        ...     pd.DataFrame({"model": ["resnet18", "tiny"], "dataset": "breastmnist",
        ...         "size": 28, "pretrained": True, "fraction": 1.0, "seed": 0, "epochs": 2,
        ...         "test_acc": [0.8, 0.7], "energy_kwh": [2e-4 * factor, 1e-4 * factor],
        ...         "train_time_s": [20.0, 10.0], "device": "cpu"}
        ...     ).to_csv(folder / f"learner{k}.csv", index=False)
        >>> pooled = pool_results(sorted(folder.glob("*.csv")))
        >>> pooled[pooled.model == "tiny"]["energy_rel"].tolist()
        [0.5, 0.5]
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = list(paths)
    if not paths:
        raise ValueError("paths is empty; pass the learners' results.csv files.")
    frames = [_read_one(Path(p)) for p in paths]
    table = pd.concat(frames, ignore_index=True, sort=False)
    table = table.drop(columns=[c for c in DERIVED_COLUMNS if c in table.columns])
    data_columns = [c for c in table.columns if c != "source_file"]
    before = len(table)
    table = table.drop_duplicates(subset=data_columns, keep="first", ignore_index=True)
    dropped = before - len(table)
    if not allow_mixed:
        _check_settings(table)
    table = _calibrate(table, reference)
    sort = [c for c in ("dataset", "model", "pretrained", "fraction", "seed", "epochs", "size",
                        "source_file") if c in table.columns]
    table = table.sort_values(sort, kind="stable", ignore_index=True)
    table.attrs["duplicates_dropped"] = dropped
    table.attrs["machine_columns"] = [c for c in MACHINE_COLUMNS if c in table.columns]
    if out is not None:
        atomic_write(out, table.to_csv(index=False))
    return table


def per_model(pooled: pd.DataFrame) -> pd.DataFrame:
    """One row per model and setting of a pooled class table: means over files and seeds.

    Adds ``n_runs`` and ``n_machines`` (the reference model has one run per machine).

    >>> pooled = pd.DataFrame({"dataset": "d", "model": ["a", "a", "b"], "pretrained": True,
    ...     "fraction": 1.0, "machine": ["m1", "m2", "m1"], "test_acc": [0.8, 0.9, 0.7],
    ...     "energy_rel": [1.0, 1.0, 0.5]})
    >>> per_model(pooled)[["model", "test_acc", "n_runs", "n_machines"]].to_dict("list")
    {'model': ['a', 'b'], 'test_acc': [0.85, 0.7], 'n_runs': [2, 1], 'n_machines': [2, 1]}
    """
    keys = [c for c in ("dataset", "model", "pretrained", "fraction") if c in pooled.columns]
    grouped = pooled.groupby(keys, sort=True, dropna=False)
    means = grouped.mean(numeric_only=True).drop(columns=["seed"], errors="ignore")
    means["n_runs"] = grouped.size()
    if "machine" in pooled.columns:
        means["n_machines"] = grouped["machine"].nunique()
    for col in ("synthetic",):
        if col in pooled.columns:
            means[col] = grouped[col].agg(lambda s: s.astype(str).str.lower().eq("true").any())
    return means.reset_index()


class SimulatedClass(NamedTuple):
    """What :func:`simulate_class` wrote: the learners' files and the reference model."""

    paths: list[Path]
    reference: str


def simulate_class(
    results: pd.DataFrame, folder: str | os.PathLike, *, n_learners: int = 3,
    experiments: tuple[str, str] = ("derma_pt", "derma"), reference: str | None = None,
    noise: float = 0.05, seed: int = 0,
) -> SimulatedClass:
    """SIMULATED learners' results files made from the paper's table, to rehearse pooling.

    The models of ``experiments`` (pretrained, then from scratch; the paper's ``derma_pt``
    and ``derma``) are split over ``n_learners`` by :func:`balanced_shards` (cost: parameters).
    Each learner's "machine" meters energy and time a constant factor (0.4x to 2.5x) times
    the paper's, with ``noise`` (relative, per run) on top, and also runs the reference model
    (default: the paper's model closest to resnet18's 11.7M parameters). One
    ``learner<k>.csv`` per learner is written to ``folder`` in the sweep schema, with
    ``synthetic`` True and ``machine`` ``"simulated machine k"``: none of it was run.

    Returns:
        The paths written and the reference model, for :func:`pool_results`.

    Example:
        >>> import tempfile
        >>> from peprkit.paper import make_example_results
        >>> sim = simulate_class(make_example_results(), tempfile.mkdtemp())
        >>> pooled = pool_results(sim.paths, reference=sim.reference)
        >>> pooled["machine"].nunique(), bool(pooled["synthetic"].all())
        (3, True)
    """
    import numpy as np

    from peprkit.paper import tidy
    from peprkit.paper._table import check_experiment

    table = tidy(results)
    parts = []
    for i, (exp, pretrained) in enumerate(zip(experiments, (True, False), strict=True)):
        check_experiment(exp, table["dataset"], arg=f"experiments[{i}]")
        parts.append(table[table["dataset"] == exp].assign(pretrained=pretrained))
    runs = pd.concat(parts, ignore_index=True)
    sizes = runs.groupby("model")["num_params"].first()
    if reference is None:
        reference = str((sizes - 11.7e6).abs().idxmin())
    if reference not in sizes.index:
        raise ValueError(f"reference={reference!r} is not a model of the results.")
    shards = balanced_shards([m for m in sizes.index if m != reference], n_learners,
                             cost=sizes.astype(float).to_dict())
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, models in enumerate(shards):
        factor = float(np.exp(rng.uniform(np.log(0.4), np.log(2.5))))
        mine = runs[runs["model"].isin([reference, *models])].copy()
        jitter = 1 + noise * rng.standard_normal(len(mine))
        mine["energy_kwh"] = mine["energy_kwh"] * factor * jitter
        mine["train_time_s"] = mine["train_time_s"] * factor * jitter
        mine = mine.assign(dataset="dermamnist", size=28, fraction=1.0, seed=0, epochs=10,
                           device="cpu", machine=f"simulated machine {k}", synthetic=True)
        keep = [*REQUIRED_COLUMNS, "num_params", "co2_g", "memory_gb", "device", "machine",
                "synthetic"]
        path = folder / f"learner{k}.csv"
        atomic_write(path, mine[keep].to_csv(index=False))
        paths.append(path)
    return SimulatedClass(paths, reference)


# --- helpers ---------------------------------------------------------------------------

def _read_one(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist; pass the results.csv "
                         "each learner's `peprkit sweep` wrote.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a readable CSV ({err}); pass a results.csv from "
                         "`peprkit sweep`.") from err
    for column in REQUIRED_COLUMNS:
        if column not in table.columns:
            raise ValueError(
                f"{path}: column {column!r} is missing, so this is not a sweep results table "
                f"(it has {list(table.columns)[:12]}).{did_you_mean(column, map(str, table))} "
                "Pass the results.csv written by `peprkit sweep`.")
    if table.empty:
        raise ValueError(f"{path}: has no rows; the learner's sweep has not finished a run yet.")
    _check_values(table, path)
    if "source_file" not in table.columns:
        table["source_file"] = str(path)
    if "machine" not in table.columns:
        present = [c for c in MACHINE_COLUMNS if c in table.columns and table[c].notna().any()]
        common = {c: table[c].mode().iloc[0] for c in present}  # one id per file
        table["machine"] = machine_id(common, present)
    return table


def _check_values(table: pd.DataFrame, path: Path) -> None:
    def bad(column: str, mask, why: str) -> None:
        if mask.any():
            row = int(mask.to_numpy().nonzero()[0][0])
            raise ValueError(f"{path}: column {column!r} row {row + 2} (line in the file) has "
                             f"{table[column].iloc[row]!r}; {why}")

    for column in ("test_acc", "energy_kwh", "train_time_s", "size", "epochs", "fraction"):
        values = pd.to_numeric(table[column], errors="coerce")
        bad(column, values.isna() & table[column].notna(), "it must be a number.")
        if column == "test_acc":
            bad(column, ~values.between(0, 1) & values.notna(), "accuracy lies in [0, 1].")
        elif column in ("energy_kwh", "train_time_s"):
            bad(column, values < 0, "a resource cannot be negative.")
        else:
            bad(column, values <= 0, "it must be positive.")
    bad("model", table["model"].isna(), "every run names its model.")


def _check_settings(table: pd.DataFrame) -> None:
    for dataset, rows in table.groupby("dataset", sort=True):
        for column in SETTINGS:
            if column not in rows.columns:
                continue
            values = rows[column].dropna().astype(str).unique()
            if len(values) > 1:
                files = {v: sorted(rows.loc[rows[column].astype(str) == v, "source_file"]
                                   .unique())[:3] for v in values}
                raise ValueError(
                    f"dataset {dataset!r} mixes {column} = {sorted(values)} ({files}); runs "
                    "with different settings are not one comparison. Rerun with the class's "
                    "settings, pool each setting separately, or pass allow_mixed=True "
                    "(`--allow-mixed`).")


def _calibrate(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    table = table.copy()
    table["is_reference"] = table["model"].astype(str) == reference
    table["pretrained"] = table["pretrained"].astype(str).str.lower()
    for col in ("energy_kwh", "train_time_s"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    refs = table[table["is_reference"]]
    loose_keys = ["dataset", "size", "epochs"]
    lookups = (  # most specific first
        (["source_file", *_RUN_MATCH], "reference run in this file"),
        (["source_file", *loose_keys], "reference run in this file (other pretrained/fraction)"),
        (["machine", *loose_keys], "reference run of the same machine in another file"),
    )
    means = [(keys, how, refs.groupby(keys, dropna=False)[["energy_kwh", "train_time_s"]].mean())
             for keys, how in lookups]
    ref_e, ref_t, labels = [], [], []
    for row in table.to_dict("records"):
        for keys, how, found in means:
            key = tuple(row[c] for c in keys)
            if key in found.index:
                ref_e.append(float(found.loc[key, "energy_kwh"]))
                ref_t.append(float(found.loc[key, "train_time_s"]))
                labels.append(how)
                break
        else:
            ref_e.append(float("nan"))
            ref_t.append(float("nan"))
            labels.append("none: no reference run for this machine")
    table["pretrained"] = table["pretrained"].map({"true": True, "false": False})
    table["reference_energy_kwh"] = ref_e
    table["reference_time_s"] = ref_t
    table["energy_rel"] = table["energy_kwh"] / table["reference_energy_kwh"]
    table["time_rel"] = table["train_time_s"] / table["reference_time_s"]
    table["calibrated_by"] = labels
    missing = sorted(table.loc[table["reference_energy_kwh"].isna(), "source_file"].unique())
    if missing:
        warnings.warn(
            f"no {reference} reference run for {missing[:5]}: their energy_rel and time_rel "
            "are NaN. Each learner's sweep must include the reference model (`peprkit sweep "
            "--zoo ...` adds it).", stacklevel=3)
    return table
