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

import inspect
from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from peprkit.checks import CheckFailed
from peprkit.schema import HISTORY_COLUMNS

#: Labels the meter gives each component (see peprkit.meter): measured, estimated,
#: partial (a reader failed part-way) or unavailable.
CPU_LABELS = ("measured:rapl", "estimated:cpu-time", "partial:rapl-error",
              "unavailable", "unavailable:rapl-error")
GPU_LABELS = ("measured:nvml-energy-counter", "measured:nvml-power-sampling",
              "partial:nvml-error", "unavailable", "unavailable:nvml-error")
RAM_LABELS = ("estimated:ram-per-gb", "unavailable")
#: The labels every drawn CPU run carries, as a metered run on a laptop writes them.
CPU_RUN_LABELS = {"memory_source": "process-rss-increase:measured:kernel-peak-rss",
                  "gpu_source": "unavailable", "cpu_source": "estimated:cpu-time",
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
    variables. The file is untrusted: it is read through
    :func:`peprkit.course._exchange.read_bytes`, so a symbolic link (in the path or in its
    place), a FIFO or anything but a regular file, or a file over
    :data:`MAX_ARTIFACT_BYTES` is refused without blocking.

    Raises:
        CheckFailed: the file is missing, outside the folder, too large or not a table.
    """
    import errno
    import io

    from peprkit.course import _exchange

    try:
        raw = _exchange.read_bytes(relative, MAX_ARTIFACT_BYTES, root=folder)
    except _exchange.Refused as err:
        if err.errno == errno.EFBIG:
            raise CheckFailed(f"the run's file {relative} is too large to grade.") from None
        raise CheckFailed(f"the run's file {relative} is missing: run every cell of the "
                          "notebook, in order, so that the lesson writes its results.") from None
    except OSError:  # the folder itself cannot be opened
        raise CheckFailed(f"the run's file {relative} is missing: run every cell of the "
                          "notebook, in order, so that the lesson writes its results.") from None
    try:
        return pd.read_csv(io.BytesIO(raw))
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
    from peprkit.course import _exchange

    # a run whose history is planted (a link, a FIFO) is listed, and refused by read_artifact
    names = [n for n in _exchange.subfolders(root, root=folder)
             if _exchange.present(f"{root}/{n}/history.csv", root=folder)]
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


def _spec_calls(spec: Any, names: Iterable[str]) -> list[str]:
    """The kit functions ``names`` a learner's function as the grader holds it (a
    :class:`peprkit.course._codec.FunctionSource`: source, helpers, modules) refers to; a
    helper that is a copy of the kit's own function counts as that function."""
    import importlib

    from peprkit.checks import _byhand

    aliases = {a: m for a, m in (getattr(spec, "modules", None) or {}).items()
               if isinstance(m, str)}
    texts = [str(getattr(spec, "source", ""))]
    for helper, text in (getattr(spec, "helpers", None) or {}).items():
        copy = None
        for name, module in _byhand.KIT_FUNCTIONS.items():
            try:
                kit = inspect.getsource(getattr(importlib.import_module(module), name))
            except (OSError, TypeError, AttributeError):
                continue
            if str(text).strip() == kit.strip():
                copy = f"{module}.{name}"
        if copy:
            aliases[helper] = copy
        else:
            texts.append(str(text))
    return _byhand.kit_calls("\n".join(texts), names, aliases)


def by_hand(answer: Any, names: Iterable[str]):
    """The learner's answer to a by-hand exercise, refusing the kit's own functions
    ``names``: calling it raises :class:`peprkit.checks.ByHand` (a message the grader may
    show) when the answer uses one of them.

    ``answer`` is the learner's function, or the ``rerun`` of its answer cells. Its source
    is read (a function's source and helpers once; the cells a rerun runs, with the
    notebook's imports, at each call), and while it runs in this process (a master, the
    kit's tests) the functions themselves refuse to run; when grading it runs in a
    sandbox, and its source is what is checked.

    >>> from peprkit.course.hidden import answer_cells
    >>> by_hand(answer_cells(["y = peprkit.normalize(x)"]), ["normalize"])(["y"], x=[1, 2])
    Traceback (most recent call last):
    ...
    peprkit.checks.ByHand: peprkit.normalize is the kit's own function, ...
    """
    from peprkit.checks import _byhand
    from peprkit.course._cells import CellError, CellRunner, imports, pick_cells

    names = list(names)
    sources = getattr(answer, "sources", None)
    here = isinstance(answer, CellRunner) or _byhand.local(answer)
    if sources is None:
        if _byhand.local(answer):
            _byhand.check_function(answer, names)
        else:  # the grader's stand-in for a function that runs in its sandbox
            worker = getattr(answer, "_worker", None)
            spec = (getattr(worker, "functions", None) or {}).get(getattr(answer, "__name__",
                                                                          ""))
            used = _spec_calls(spec, names) if spec is not None else []
            if used:
                _byhand._refused(used[0])

    def refused(*args: Any, **kwargs: Any) -> Any:
        if sources is not None:
            try:
                cells = pick_cells(sources, list(args[0]), given=list(kwargs))
            except CellError:
                cells = []  # the rerun itself says what is missing
            used = _byhand.kit_calls("\n".join([*imports(sources, cells), *cells]), names)
            if used:
                _byhand._refused(used[0])
        if not here:  # the worker refuses them too (a lookup the source scan missed)
            remote = getattr(answer, "refusing", None)
            if sources is None and callable(remote):
                return remote(names, *args, **kwargs)
            return answer(*args, **kwargs)
        with _byhand.refusing(names):
            return answer(*args, **kwargs)
    return refused
