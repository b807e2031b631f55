"""Small helpers shared by the lessons' self-checks (hints, never answers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd


def answered(value: Any, name: str) -> None:
    """Fail with a hint when ``value`` is still the notebook's ``...`` placeholder (or None)."""
    if value is Ellipsis or value is None:
        raise AssertionError(
            f"`{name}` is still empty: replace the `...` with your answer and run the cell again."
        )


def number(value: Any, name: str, unit: str = "") -> float:
    """``value`` as a float, or a hint that one number was expected."""
    answered(value, name)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise AssertionError(
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
        raise AssertionError(
            f"`{name}` should hold numbers (a Series, array or list), got "
            f"{type(answer).__name__}."
        ) from None
    if arr.size != n:
        raise AssertionError(f"`{name}` should hold {n} values (one per model), got {arr.size}.")
    return arr


def same(arr: np.ndarray, expected: Any) -> bool:
    """True when two arrays agree to floating-point precision."""
    return bool(np.allclose(arr, np.asarray(expected, dtype=float), rtol=1e-6, atol=1e-9))


def model_name(answer: Any, name: str, table: pd.DataFrame) -> str:
    """``answer`` as one of the table's model names, or a hint."""
    answered(answer, name)
    if not isinstance(answer, str):
        raise AssertionError(
            f"`{name}` should be a model name (a string such as the ones in the `model` "
            f"column), got {type(answer).__name__}."
        )
    if answer not in set(table["model"].astype(str)):
        raise AssertionError(
            f"`{name}`={answer!r} is not a model of your table; copy a name from its "
            "`model` column."
        )
    return answer


def columns(table: Any, name: str, required: list[str]) -> pd.DataFrame:
    """``table`` as a DataFrame holding ``required`` columns, or a hint naming the missing ones."""
    answered(table, name)
    if not isinstance(table, pd.DataFrame):
        raise AssertionError(f"`{name}` should be a pandas DataFrame, got {type(table).__name__}.")
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise AssertionError(f"`{name}` lacks the column(s) {missing}.")
    return table
