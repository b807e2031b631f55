"""Small helpers shared by the lessons' self-checks (hints, never answers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


class CheckFailed(AssertionError):
    """A self-check that did not pass: its message is the hint.

    It is an ``AssertionError``, so otter, pytest and ``peprkit grade`` record a failure;
    in Jupyter, IPython and Colab it shows the hint alone, without a traceback through
    the kit's code (IPython calls ``_render_traceback_`` when it is there).

    >>> err = CheckFailed("divide by the range")
    >>> isinstance(err, AssertionError), err._render_traceback_()[-1]
    (True, 'divide by the range')
    """

    def _render_traceback_(self) -> list[str]:
        return ["\x1b[0;31mNot yet:\x1b[0m (self-check)", *str(self).splitlines()]


CheckFailed.__module__ = "peprkit.course.checks"


def answered(value: Any, name: str) -> None:
    """Fail with a hint when ``value`` is still the notebook's ``...`` placeholder (or None)."""
    if value is Ellipsis or value is None:
        raise CheckFailed(
            f"`{name}` is still empty: replace the `...` with your answer and run the cell again."
        )


def number(value: Any, name: str, unit: str = "") -> float:
    """``value`` as a float, or a hint that one number was expected."""
    answered(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise CheckFailed(
            f"`{name}` should be a single number{f' in {unit}' if unit else ''}, got "
            f"{type(value).__name__}. If you have a one-row Series, take `.item()` or `float(...)`."
        )
    return float(value)


def close(a: float, b: float, rtol: float = 1e-6) -> bool:
    """True when ``a`` and ``b`` agree (both infinite counts as equal)."""
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-12)


def values(answer: Any, name: str, n: int) -> np.ndarray:
    """``answer`` as a float array of length ``n``, or a hint about its shape."""
    answered(answer, name)
    try:
        arr = np.asarray(answer, dtype=float).ravel()
    except (TypeError, ValueError):
        raise CheckFailed(
            f"`{name}` should hold numbers (a Series, array or list), got "
            f"{type(answer).__name__}."
        ) from None
    if arr.size != n:
        raise CheckFailed(f"`{name}` should hold {n} values (one per model), got {arr.size}.")
    return arr


def same(arr: np.ndarray, expected: Any) -> bool:
    """True when two arrays agree to floating-point precision."""
    return bool(np.allclose(arr, np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9))


def model_name(answer: Any, name: str, table: pd.DataFrame) -> str:
    """``answer`` as one of the table's model names, or a hint."""
    answered(answer, name)
    if not isinstance(answer, str):
        raise CheckFailed(
            f"`{name}` should be a model name (a string such as the ones in the `model` "
            f"column), got {type(answer).__name__}."
        )
    if answer not in set(table["model"].astype(str)):
        raise CheckFailed(
            f"`{name}`={answer!r} is not a model of your table; copy a name from its "
            "`model` column."
        )
    return answer


def columns(table: Any, name: str, required: list[str]) -> pd.DataFrame:
    """``table`` as a DataFrame holding ``required`` columns, or a hint naming the missing ones."""
    answered(table, name)
    if not isinstance(table, pd.DataFrame):
        raise CheckFailed(f"`{name}` should be a pandas DataFrame, got {type(table).__name__}.")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise CheckFailed(f"`{name}` lacks the column(s) {missing}.")
    return table


def minmax_slips(got: np.ndarray, performance: Any, resource: Any, *, symbol: str, what: str,
                 unit: str, largest: str, cheapest: str) -> None:
    """Raise the hint for the two usual slips of a PePR computed by hand with min-max R.

    ``got`` is the learner's scores, ``performance`` and ``resource`` the raw columns:
    forgetting to normalise (``P / (1 + x)``) and dividing by the maximum only
    (``P / (1 + x / max)``). Returns when neither slip matches.

    >>> minmax_slips(np.array([0.5, 0.25]), [1.0, 1.0], [1.0, 3.0], symbol="t", what="time",
    ...              unit="seconds", largest="longest time", cheapest="fastest run")
    Traceback (most recent call last):
    ...
    peprkit.course.checks.CheckFailed: PePR takes the normalised time, ...
    """
    p = np.asarray(performance, dtype=float)
    x = np.asarray(resource, dtype=float)
    if same(got, p / (1 + x)):
        raise CheckFailed(
            f"PePR takes the normalised {what}, R = ({symbol} - {symbol}_min) / "
            f"({symbol}_max - {symbol}_min), not {unit} as measured."
        )
    if x.max() > 0 and same(got, p / (1 + x / x.max())):
        raise CheckFailed(
            f"R looks divided by the {largest} only; min-max also subtracts the smallest, "
            f"so the {cheapest} gets R = 0."
        )


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
    from pathlib import Path

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
    from pathlib import Path

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
