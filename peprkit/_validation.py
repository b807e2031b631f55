"""Argument checks shared by every public entry point.

Each check raises ``ValueError`` whose message names the argument, shows the bad value and
says what is allowed or how to fix it (the scikit-learn pattern), e.g.
``epochs=0 must be a whole number >= 1 (the paper uses 10).``. Only numpy is imported:
an object can only be a pandas Series or DataFrame when pandas is already loaded, which
is how :func:`is_pandas` avoids importing it.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from peprkit._util import did_you_mean

__all__ = [
    "as_float_array",
    "check_choice",
    "check_each",
    "check_finite",
    "check_number",
    "check_performance",
    "check_resource",
    "check_same_length",
    "check_shard",
    "column_values",
    "first_bad",
    "is_pandas",
    "require_columns",
    "show",
]


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters.

    >>> show("x" * 100, limit=10)
    "'xxxxxx..."
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe_range(low, high, strict: bool, integer: bool) -> str:
    kind = "a whole number" if integer else "a number"
    if low is not None and high is not None:
        left = "(" if strict else "["
        return f"{kind} in {left}{low}, {high}]"
    if low is not None:
        return f"{kind} {'>' if strict else '>='} {low}"
    if high is not None:
        return f"{kind} <= {high}"
    return kind


def check_number(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    strict: bool = False,
    integer: bool = False,
    expect: str | None = None,
    hint: str = "",
) -> Any:
    """``value`` as a float (an int with ``integer=True``), or ValueError naming ``name``.

    ``low`` is inclusive unless ``strict``; ``high`` is inclusive. NaN and infinities
    always fail. With ``integer=True`` only whole numbers pass (not ``True``/``False``
    and not ``2.0``). ``expect`` replaces the generated description of what is allowed,
    ``hint`` is appended in brackets (e.g. ``"(the paper uses 10)"``).

    >>> check_number("pue", "1.2", low=1.0, hint="(1.0 for a laptop)")
    1.2
    >>> check_number("epochs", 0, low=1, integer=True, hint="(the paper uses 10)")
    Traceback (most recent call last):
    ...
    ValueError: epochs=0 must be a whole number >= 1 (the paper uses 10).
    """
    if integer:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        number = int(value) if ok else math.nan
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
    good = math.isfinite(number)
    if good and low is not None:
        good = number > low if strict else number >= low
    if good and high is not None:
        good = number <= high
    if not good:
        what = expect or _describe_range(low, high, strict, integer)
        tail = f" {hint}" if hint else ""
        raise ValueError(f"{name}={show(value)} must be {what}{tail}.")
    return number


def _or_list(options: Sequence[Any]) -> str:
    shown = [repr(o) for o in options]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def check_choice(name: str, value: Any, options: Sequence[Any], *, hint: str = "") -> Any:
    """``value`` when it is one of ``options``, else ValueError listing them.

    >>> check_choice("optimizer", "adamm", ("adam", "adamw", "sgd"))
    Traceback (most recent call last):
    ...
    ValueError: optimizer='adamm' must be 'adam', 'adamw' or 'sgd'. Did you mean: adam, adamw?
    """
    try:
        known = value in options
    except (TypeError, ValueError):  # odd comparisons (e.g. arrays)
        known = False
    if not known:
        strings = [o for o in options if isinstance(o, str)]
        close = did_you_mean(str(value), strings) if isinstance(value, str) else ""
        tail = f" {hint}" if hint else ""
        raise ValueError(f"{name}={show(value)} must be {_or_list(options)}.{close}{tail}")
    return value


def check_each(
    name: str, values: Iterable[Any], options: Sequence[Any], *, what: str = "",
    hint: str = "", convert: Any = None,
) -> list:
    """Every item of ``values`` (after ``convert``) one of ``options``, as a list; else a
    ValueError naming ``name``, the bad item and the allowed ones.

    >>> check_each("sizes", ["28", 64], (28, 64, 128), convert=int)
    [28, 64]
    >>> check_each("platforms", ["linux", "mac"], ("linux", "windows", "macos"))
    Traceback (most recent call last):
    ...
    ValueError: platforms contains 'mac'; use some of linux, windows, macos. Did you mean: macos?
    """
    checked = []
    for value in values:
        try:
            item = convert(value) if convert is not None else value
            known = item in options
        except (TypeError, ValueError):
            item, known = None, False
        if not known:
            allowed = [str(o) for o in options]
            close = did_you_mean(value, allowed) if isinstance(value, str) else ""
            which = f", which is not {what}" if what else ""
            tail = f" {hint}" if hint else ""
            raise ValueError(f"{name} contains {show(value)}{which}; use some of "
                             f"{', '.join(allowed)}.{close}{tail}")
        checked.append(item)
    return checked


def check_shard(shard: Any) -> tuple[int, int]:
    """``shard`` as ``(i, n)`` with ``0 <= i < n`` (learner or array task ``i`` of ``n``).

    >>> check_shard(("1", 4))
    (1, 4)
    >>> check_shard((4, 4))
    Traceback (most recent call last):
    ...
    ValueError: shard=(4, 4) must be (i, n) with 0 <= i < n, e.g. (0, 4) for the first of 4 shards.
    """
    try:
        i, n = (int(v) for v in shard)
        ok = 0 <= i < n
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"shard={shard!r} must be (i, n) with 0 <= i < n, e.g. (0, 4) for the "
                         "first of 4 shards.")
    return i, n


def is_pandas(obj: Any, kind: str) -> bool:
    """Whether ``obj`` is a pandas ``kind`` ("Series", "DataFrame"), without importing pandas."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, getattr(pandas, kind))


def require_columns(df: Any, columns: Iterable[str], *, arg: str) -> None:
    """ValueError naming the first of ``columns`` missing from ``df``, the argument that
    named it, and the columns that exist; also when ``df`` is not a DataFrame.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"test_acc": [0.9]})
    >>> require_columns(df, ["test_ac"], arg="performance")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: performance='test_ac' is not a column: `performance` names column 'test_ac', ...
    """
    if not is_pandas(df, "DataFrame"):
        raise ValueError(
            f"`df` must be a pandas DataFrame, got {type(df).__name__}; "
            "build one with pd.DataFrame(...) or pd.read_csv(...)."
        )
    names = [str(c) for c in df.columns]
    for col in columns:
        if col not in df.columns:
            raise ValueError(
                f"{arg}={col!r} is not a column: `{arg}` names column {col!r}, which is not "
                f"in the table; use one of: {', '.join(names)}.{did_you_mean(str(col), names)}"
            )


def as_float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a float array of 0 or 1 dimensions, or ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{name}` must be numbers, got {show(values)} ({err}); "
            "pass a float, a list, a numpy array or a pandas Series of numbers."
        ) from None
    if arr.ndim > 1:
        raise ValueError(
            f"`{name}` must be a scalar or 1-D, got an array of shape {arr.shape}; "
            "pass one column (e.g. df['test_acc']) rather than a table."
        )
    return arr


def first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """'value v at position i' for the first True of ``bad`` (``arr`` 0-D or 1-D)."""
    if arr.ndim == 0:
        return f"{arr.item()!r}"
    i = int(np.flatnonzero(bad)[0])
    return f"{arr[i].item()!r} at position {i}"


def check_performance(arr: np.ndarray, name: str) -> None:
    """P must be a fraction in [0, 1] without NaN."""
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(
            f"`{name}` must not be NaN, got {first_bad(arr, nan)}; "
            "drop or fill the runs without a score before computing PePR."
        )
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        raise ValueError(
            f"`{name}` must lie in [0, 1], got {first_bad(arr, bad)}; "
            "pass accuracy as a fraction (0.875, not 87.5)."
        )


def check_finite(arr: np.ndarray, name: str) -> None:
    """Every value finite (no NaN, no infinity)."""
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"`{name}` must be finite, got {first_bad(arr, bad)}; "
            "drop or fill the runs with missing or unmeasured values first."
        )


def check_resource(arr: np.ndarray, name: str, fix: str) -> None:
    """Every value finite and >= 0; ``fix`` ends the message."""
    check_finite(arr, name)
    bad = arr < 0
    if bad.any():
        raise ValueError(f"`{name}` must be >= 0, got {first_bad(arr, bad)}; {fix}")


def check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    """Two 1-D arrays of one length (scalars broadcast)."""
    if a.ndim == 1 and b.ndim == 1 and len(a) != len(b):
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same length, got {len(a)} and "
            f"{len(b)}; pass one value of each per model (or per step)."
        )


def column_values(df: Any, col: str) -> np.ndarray:
    """``df[col]`` as floats (NaN for missing), or ValueError naming the column."""
    try:
        return df[col].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"column {col!r} must hold numbers, got dtype {df[col].dtype}; "
            f"convert it first, e.g. df[{col!r}] = pd.to_numeric(df[{col!r}])."
        ) from None
