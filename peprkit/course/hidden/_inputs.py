"""Helpers of the hidden tests and grading hooks: inputs drawn at grading time, shaped
like the ones peprkit makes, and the run files (``history.csv``, ``results.csv``) a
graded notebook wrote, read safely.

A hidden test runs the learner's answer cell again on these (see
:mod:`peprkit.course._cells`), so they carry the columns, dtypes and labels of the real
objects: a training history as :func:`peprkit.train.finetune` writes it (one row per
epoch, cumulative ``time_s``/``energy_kwh``/``co2_g``, source labels beside the numbers),
and meter source labels as the readers give them.

>>> h = history(np.random.default_rng(0), epochs=3, energy_per_epoch_kwh=1e-4)
>>> list(h["epoch"]), bool(h["energy_kwh"].is_monotonic_increasing)
([1, 2, 3], True)
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import CheckFailed
from peprkit.schema import HISTORY_COLUMNS

#: Labels the meter gives each component (see peprkit.meter): measured, estimated,
#: partial (a reader failed part-way) or unavailable.
CPU_LABELS = ("measured:rapl", "estimated:cpu-utilisation", "partial:rapl-error",
              "unavailable", "unavailable:rapl-error")
GPU_LABELS = ("measured:nvml-energy-counter", "measured:nvml-power-sampling",
              "partial:nvml-error", "unavailable", "unavailable:nvml-error")
RAM_LABELS = ("estimated:ram-per-gb", "unavailable")
#: The labels every drawn CPU run carries, as a metered run on a laptop writes them.
CPU_RUN_LABELS = {"memory_source": "process-rss-increase:measured:kernel-peak-rss",
                  "gpu_source": "unavailable", "cpu_source": "estimated:cpu-utilisation",
                  "ram_source": "estimated:ram-per-gb", "metered": "train+eval"}


def draws(lesson: str, question: str, rng: np.random.Generator | None = None
          ) -> np.random.Generator:
    """The generator a hidden test draws its inputs from: ``rng`` when given (the kit's
    tests), else the one seeded for ``question`` of ``lesson`` at grading time."""
    from peprkit.course._secret import rng as grading_rng

    return grading_rng(lesson, question) if rng is None else rng


def history(rng: np.random.Generator, *, epochs: int, energy_per_epoch_kwh: float,
            val_acc: Any = None, intensity_g_per_kwh: float = 150.0) -> pd.DataFrame:
    """A training history of ``epochs`` rows (``val_acc`` drawn when not given), as read
    back from a run's ``history.csv``."""
    n = int(epochs)
    epoch_kwh = energy_per_epoch_kwh * rng.uniform(0.85, 1.15, n)
    energy = np.cumsum(epoch_kwh)
    cpu_share = rng.uniform(0.7, 0.95)
    epoch_s = rng.uniform(3.0, 90.0)
    time_s = np.cumsum(epoch_s * rng.uniform(0.9, 1.1, n))
    if val_acc is None:
        val_acc = np.clip(rng.uniform(0.55, 0.75) + np.cumsum(rng.uniform(-0.02, 0.06, n)),
                          0.0, 1.0)
    majority = rng.uniform(0.5, 0.75)
    frame = pd.DataFrame({
        "epoch": np.arange(1, n + 1, dtype=np.int64),
        "train_loss": np.sort(rng.uniform(0.1, 0.7, n))[::-1],
        "train_acc": np.clip(np.asarray(val_acc) + rng.uniform(0.0, 0.08, n), 0.0, 1.0),
        "val_acc": np.asarray(val_acc, dtype=float),
        "test_acc": np.clip(np.asarray(val_acc) + rng.uniform(-0.05, 0.03, n), 0.0, 1.0),
        "test_auc": rng.uniform(0.5, 0.95, n),
        "time_s": time_s,
        "energy_kwh": energy,
        "gpu_kwh": np.full(n, np.nan),
        "cpu_kwh": energy * cpu_share,
        "ram_kwh": energy * (1.0 - cpu_share),
        "co2_g": energy * intensity_g_per_kwh,
        "memory_gb": rng.uniform(0.05, 2.0) * np.ones(n),
        **CPU_RUN_LABELS,
        "test_balanced_acc": rng.uniform(0.5, 0.9, n),
        "majority_acc": majority,
        "train_cpu_s": time_s * rng.uniform(1.0, 2.0),
        "train_images_per_s": rng.uniform(20.0, 400.0, n),
    })
    return frame[list(HISTORY_COLUMNS)]


def run(frame: pd.DataFrame) -> SimpleNamespace:
    """A training run as the tests see it: an object with a ``history``."""
    return SimpleNamespace(history=frame)


def distinct(values: Any, rel: float = 1e-3) -> bool:
    """True when no two of ``values`` are within ``rel`` of each other (no near-ties)."""
    v = np.sort(np.asarray(values, dtype=float).ravel())
    if v.size < 2:
        return True
    scale = np.maximum(np.abs(v[1:]), np.abs(v[:-1]))
    return bool(np.all(np.diff(v) > rel * np.where(scale > 0, scale, 1.0)))


def one_run(folder: Any, root: str) -> tuple[str, pd.DataFrame]:
    """The folder name and history of the one run under ``folder/root`` (a ``run_root``
    of the lesson), read from its ``history.csv`` with :func:`run_histories`.

    Raises:
        CheckFailed: no run there, or several (a graded run starts in a fresh folder, so
            the lesson leaves exactly one).
    """
    runs = run_histories(folder, root)
    if len(runs) != 1:
        raise CheckFailed(f"{root} holds {len(runs)} training runs, where the lesson makes "
                          "one: run the notebook once, top to bottom, in a fresh folder.")
    return next(iter(runs.items()))


#: Largest run artifact (CSV) the grader reads from a submission's folder.
MAX_ARTIFACT_BYTES = 20_000_000


def read_artifact(folder: Any, relative: str) -> pd.DataFrame:
    """A CSV that peprkit wrote during the graded run (``history.csv``, ``results.csv``),
    read as plain data from the submission's ``folder``; what a lesson's
    ``grading_context`` rebuilds the tests' context from instead of the notebook's
    variables. The file is untrusted: a path leading outside ``folder`` (a planted
    symlink) or a file over :data:`MAX_ARTIFACT_BYTES` is refused.

    Raises:
        CheckFailed: the file is missing, outside the folder, too large or not a table.
    """
    root = Path(folder).resolve()
    path = root / relative
    try:
        resolved = path.resolve()
        inside = resolved.is_relative_to(root) and resolved.is_file()
        size = resolved.stat().st_size if inside else 0
    except (OSError, RuntimeError):
        inside, size = False, 0
    if not inside:
        raise CheckFailed(f"the run's file {relative} is missing: run every cell of the "
                          "notebook, in order, so that the lesson writes its results.")
    if size > MAX_ARTIFACT_BYTES:
        raise CheckFailed(f"the run's file {relative} is too large to grade.")
    try:
        return pd.read_csv(resolved)
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise CheckFailed(f"the run's file {relative} is not a readable table "
                          f"({type(err).__name__}).") from None


def run_histories(folder: Any, root: str) -> dict[str, pd.DataFrame]:
    """``{run folder name: history}`` of every run under ``folder/root`` (the run
    folders :func:`peprkit.train.finetune` writes with ``run_root``), read with
    :func:`read_artifact`.

    Raises:
        CheckFailed: ``root`` holds no run.
    """
    base = Path(folder) / root
    names = sorted(p.parent.name for p in base.glob("*/history.csv")) if base.is_dir() else []
    if not names:
        raise CheckFailed(f"no training run was found in {root}: run every cell of the "
                          "notebook, in order.")
    return {name: read_artifact(folder, f"{root}/{name}/history.csv") for name in names}


def current_runs(results: pd.DataFrame, keys: tuple[str, ...]) -> pd.DataFrame:
    """The rows of a sweep table run with the settings ``keys`` of its last row (the
    notebook's own sweep, when earlier experiments wrote to the same file), reindexed.

    >>> t = pd.DataFrame({"dataset": ["d", "d", "d"], "epochs": [5, 2, 2], "x": [1, 2, 3]})
    >>> current_runs(t, ("dataset", "epochs"))["x"].tolist()
    [2, 3]
    """
    last = results.iloc[-1]
    keep = np.ones(len(results), dtype=bool)
    for key in keys:
        keep &= (results[key].astype(str) == str(last[key])).to_numpy()
    return results[keep].reset_index(drop=True)
