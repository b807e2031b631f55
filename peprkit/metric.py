"""PePR, performance per resource unit, and the helpers around it.

PePR = P / (1 + R), where P is a performance in [0, 1] (test accuracy, AUC) and R a
non-negative resource, usually min-max normalised per dataset so that R lies in [0, 1] and
P/2 <= PePR <= P (Selvan et al., NLDL 2025). Every function here is a pure function of
array-likes or DataFrames. Only numpy is imported at module level, so ``import peprkit``
stays fast: pandas is imported where a DataFrame is built (:func:`pepr_curve`) and scipy
inside :func:`compare_sizes`; an object can only be a pandas Series or DataFrame when
pandas is already loaded, which is how the type checks below avoid importing it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PeprOptimum",
    "SizeComparison",
    "add_pepr",
    "compare_sizes",
    "normalize",
    "pareto_front",
    "pepr",
    "pepr_curve",
    "pepr_optimum",
]

_METHODS = ("minmax", "max")


# --- validation helpers -----------------------------------------------------------
def _as_float_array(values: Any, name: str) -> np.ndarray:
    """``values`` as a float array of 0 or 1 dimensions, or ValueError naming ``name``."""
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"`{name}` must be numbers, got {_show(values)} ({err}); "
            "pass a float, a list, a numpy array or a pandas Series of numbers."
        ) from None
    if arr.ndim > 1:
        raise ValueError(
            f"`{name}` must be a scalar or 1-D, got an array of shape {arr.shape}; "
            "pass one column (e.g. df['test_acc']) rather than a table."
        )
    return arr


def _show(values: Any) -> str:
    text = repr(values)
    return text if len(text) <= 60 else text[:57] + "..."


def _first_bad(arr: np.ndarray, bad: np.ndarray) -> str:
    """'value v at position i' for the first True of ``bad`` (``arr`` 0-D or 1-D)."""
    if arr.ndim == 0:
        return f"{arr.item()!r}"
    i = int(np.flatnonzero(bad)[0])
    return f"{arr[i].item()!r} at position {i}"


def _check_performance(arr: np.ndarray, name: str) -> None:
    nan = np.isnan(arr)
    if nan.any():
        raise ValueError(
            f"`{name}` must not be NaN, got {_first_bad(arr, nan)}; "
            "drop or fill the runs without a score before computing PePR."
        )
    bad = (arr < 0) | (arr > 1)
    if bad.any():
        raise ValueError(
            f"`{name}` must lie in [0, 1], got {_first_bad(arr, bad)}; "
            "pass accuracy as a fraction (0.875, not 87.5)."
        )


def _check_finite(arr: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"`{name}` must be finite, got {_first_bad(arr, bad)}; "
            "drop or fill the runs with missing or unmeasured values first."
        )


def _check_resource(arr: np.ndarray, name: str, fix: str) -> None:
    _check_finite(arr, name)
    bad = arr < 0
    if bad.any():
        raise ValueError(f"`{name}` must be >= 0, got {_first_bad(arr, bad)}; {fix}")


def _check_same_length(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> None:
    if a.ndim == 1 and b.ndim == 1 and len(a) != len(b):
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same length, got {len(a)} and "
            f"{len(b)}; pass one value of each per model (or per step)."
        )


def _is_pandas(obj: Any, kind: str) -> bool:
    """Whether ``obj`` is a pandas ``kind`` ("Series", "DataFrame"), without importing pandas."""
    pandas = sys.modules.get("pandas")
    return pandas is not None and isinstance(obj, getattr(pandas, kind))


def _like(result: np.ndarray, *inputs: Any, name: str | None = None) -> Any:
    """Return ``result`` as the kind of the first Series/array input (float for scalars)."""
    for x in inputs:
        if _is_pandas(x, "Series"):
            return type(x)(result, index=x.index, name=name)
    if np.ndim(result) == 0:
        return float(result)
    return result


def _column(df: pd.DataFrame, col: str) -> np.ndarray:
    """``df[col]`` as floats (NaN for missing), or ValueError naming the column."""
    try:
        return df[col].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(
            f"column {col!r} must hold numbers, got dtype {df[col].dtype}; "
            f"convert it first, e.g. df[{col!r}] = pd.to_numeric(df[{col!r}])."
        ) from None


def _require_columns(df: Any, columns: Sequence[str], arg: str) -> None:
    """ValueError naming the first of ``columns`` missing from ``df`` (a DataFrame)."""
    if not _is_pandas(df, "DataFrame"):
        raise ValueError(
            f"`df` must be a pandas DataFrame, got {type(df).__name__}; "
            "build one with pd.DataFrame(...) or pd.read_csv(...)."
        )
    for col in columns:
        if col not in df.columns:
            raise ValueError(
                f"`{arg}` names column {col!r}, which is not in the table; "
                f"use one of: {', '.join(map(str, df.columns))}."
            )


# --- the score -----------------------------------------------------------------------
def pepr(performance: Any, resource: Any) -> Any:
    """PePR score, elementwise: ``PePR = P / (1 + R)``.

    With R min-max normalised to [0, 1], ``P/2 <= PePR <= P``: the cheapest model keeps
    its full performance and the most expensive one keeps half of it.

    Args:
        performance: P in [0, 1]; a float, list, numpy array or pandas Series.
        resource: R, finite and >= 0 (normalise raw kWh, grams or seconds first with
            :func:`normalize`; R > 1 is allowed for a resource over a fixed budget).
            A scalar is broadcast against an array.

    Returns:
        The same kind as the input: a float for scalars, a numpy array for arrays and
        lists, a Series (keeping the index of the first Series given) for Series.

    Raises:
        ValueError: P outside [0, 1] or NaN, R negative or not finite, lengths differ.

    >>> pepr(0.9, 0.5)
    0.6
    >>> pepr([0.8, 0.8], [0.0, 1.0])
    array([0.8, 0.4])
    """
    p = _as_float_array(performance, "performance")
    r = _as_float_array(resource, "resource")
    _check_same_length(p, r, ("performance", "resource"))
    _check_performance(p, "performance")
    _check_resource(r, "resource", "normalise the resource first with `normalize`.")
    return _like(p / (1.0 + r), performance, resource, name="pepr")


def _minmax(x: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """``(x - lo) / (hi - lo)``, 0 where ``hi == lo`` (all values equal)."""
    span = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (x - lo) / span, 0.0)


def normalize(values: Any, *, method: str = "minmax", reference: float | None = None) -> Any:
    """Scale non-negative resource values for :func:`pepr`.

    - ``method="minmax"`` (the paper's choice): ``(x - min) / (max - min)``, in [0, 1];
      all-equal values give zeros, not NaN.
    - ``method="max"``: ``x / max``, in [0, 1] (zeros when max is 0).
    - ``reference=b`` (a fixed budget, e.g. 0.01 kWh): ``x / b``. This stays comparable
      across experiments and classrooms; values over the budget give R > 1, so their
      PePR falls below P/2. ``reference`` takes precedence over ``method``.

    Args:
        values: resource values (kWh, g, GB, s), finite and >= 0.
        method: ``"minmax"`` or ``"max"``.
        reference: a positive, finite budget in the unit of ``values``.

    Returns:
        The same kind as ``values`` (float, numpy array, or Series keeping index and name).

    Raises:
        ValueError: unknown method, negative or non-finite values, bad reference.

    >>> normalize([2.0, 4.0, 6.0])
    array([0. , 0.5, 1. ])
    >>> normalize([2.0, 4.0], method="max")
    array([0.5, 1. ])
    >>> normalize([0.005, 0.02], reference=0.01)
    array([0.5, 2. ])
    """
    x = _as_float_array(values, "values")
    _check_resource(x, "values", "resources are amounts (kWh, g, GB, s) and cannot be negative.")
    name = values.name if _is_pandas(values, "Series") else None
    if reference is not None:
        if not (np.isscalar(reference) and np.isfinite(reference) and reference > 0):
            raise ValueError(
                f"`reference` must be a positive finite budget, got {reference!r}; "
                "pass e.g. reference=0.01 for a 0.01 kWh budget."
            )
        return _like(x / float(reference), values, name=name)
    if method not in _METHODS:
        raise ValueError(
            f"`method` must be one of {', '.join(_METHODS)}, got {method!r}; "
            "use method='minmax' (the paper's choice) or reference=<budget>."
        )
    if x.size == 0:
        return _like(x, values, name=name)
    lo = x.min() if method == "minmax" else 0.0
    return _like(_minmax(x, lo, x.max()), values, name=name)


def add_pepr(
    df: pd.DataFrame,
    *,
    performance: str,
    resources: Mapping[str, str],
    by: str | Sequence[str] | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with normalised resources and PePR scores added.

    For each ``key: column`` in ``resources`` two columns are added:
    ``<column>_norm = (x - min) / (max - min)`` (min and max taken within each group of
    ``by``, e.g. per dataset as in the paper; all-equal groups give 0) and
    ``pepr_<key> = P / (1 + <column>_norm)`` with P = ``df[performance]``.

    Fed the authors' published raw results (``performance="test_09"``, the epoch-10
    test accuracy; ``resources={"e": "energy", "c": "co2", "m": "memR",
    "t": "train_time"}``; ``by="dataset"``) this reproduces their PePR-E/C/M/T columns.

    Args:
        df: one row per run, e.g. the sweep's results.csv.
        performance: column holding P in [0, 1].
        resources: score suffix -> resource column, e.g. ``{"e": "energy_kwh"}``.
        by: column(s) to normalise within (``None``: the whole table is one group).

    Returns:
        A new DataFrame; ``df`` is not modified.

    Raises:
        ValueError: missing columns, empty ``resources``, P outside [0, 1], negative or
            non-finite resources, missing values in the ``by`` columns.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"dataset": ["a", "a", "b", "b"], "acc": [0.8, 0.9, 0.6, 0.7],
    ...                      "energy_kwh": [1.0, 3.0, 10.0, 20.0]})
    >>> add_pepr(runs, performance="acc", resources={"e": "energy_kwh"}, by="dataset")
      dataset  acc  energy_kwh  energy_kwh_norm  pepr_e
    0       a  0.8         1.0              0.0    0.80
    1       a  0.9         3.0              1.0    0.45
    2       b  0.6        10.0              0.0    0.60
    3       b  0.7        20.0              1.0    0.35
    """
    if not isinstance(resources, Mapping) or not resources:
        raise ValueError(
            f"`resources` must be a non-empty dict of key -> column, got {_show(resources)}; "
            "e.g. resources={'e': 'energy_kwh', 'c': 'co2_g'}."
        )
    by_cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    cols = list(resources.values())
    _require_columns(df, [performance], "performance")
    _require_columns(df, cols, "resources")
    _require_columns(df, by_cols, "by")
    p = _column(df, performance)
    _check_performance(p, f"df[{performance!r}]")
    raw = np.column_stack([_column(df, col) for col in cols])
    for j, col in enumerate(cols):
        _check_resource(raw[:, j], f"df[{col!r}]", "resources are amounts and cannot be negative.")
    for col in by_cols:
        missing = df[col].isna().to_numpy()
        if missing.any():
            raise ValueError(
                f"`by` column {col!r} is missing at row {df.index[missing.argmax()]!r}; "
                "fill it (e.g. the dataset name) or drop that row first."
            )
    if by_cols:
        groups = df[cols].groupby([df[c] for c in by_cols], sort=False, observed=True)
        lo = groups.transform("min").to_numpy(dtype=float)
        hi = groups.transform("max").to_numpy(dtype=float)
    else:
        lo, hi = raw.min(axis=0, initial=np.inf), raw.max(axis=0, initial=-np.inf)
    norm = _minmax(raw, lo, hi)
    out = df.copy()
    for j, (key, col) in enumerate(resources.items()):
        out[f"{col}_norm"] = norm[:, j]
        out[f"pepr_{key}"] = p / (1.0 + norm[:, j])
    return out


# --- training curves ----------------------------------------------------------------
@dataclass(frozen=True)
class PeprOptimum:
    """The peak ``P_ePRc*`` of a PePR curve (see :func:`pepr_optimum`).

    Attributes:
        step: the step label at the peak (1-based epoch unless ``steps`` was given).
        position: 0-based row of the peak in the curve.
        pepr: the PePR value at the peak, ``P_ePRc*``.
        performance: P at the peak.
        resource: the raw resource at the peak (e.g. cumulative kWh).
        resource_norm: the normalised resource at the peak.
    """

    step: Any
    position: int
    pepr: float
    performance: float
    resource: float
    resource_norm: float


def pepr_curve(
    performance: Any,
    resource: Any,
    *,
    resource_range: tuple[float, float] | None = None,
    steps: Any = None,
) -> pd.DataFrame:
    """PePR at each step of one training run.

    ``resource_norm = (r - lo) / (hi - lo)`` with ``(lo, hi) = resource_range`` or, by
    default, the run's own min and max; ``pepr = P / (1 + resource_norm)``. Pass the
    range of a wider experiment space (e.g. all runs of a sweep) to compare runs on one
    scale.

    Args:
        performance: P at each step (e.g. test accuracy after each epoch), in [0, 1].
        resource: the resource used up to each step (e.g. cumulative energy_kwh), >= 0.
        resource_range: ``(lo, hi)`` with ``lo < hi`` covering every value of ``resource``.
        steps: step labels (e.g. ``history["epoch"]``); default 1, 2, ..., n.

    Returns:
        DataFrame with columns step, performance, resource, resource_norm, pepr.

    Raises:
        ValueError: empty or mismatched inputs, P outside [0, 1], bad ``resource_range``.

    >>> pepr_curve([0.6, 0.8, 0.82], [1.0, 2.0, 3.0])
       step  performance  resource  resource_norm     pepr
    0     1         0.60       1.0            0.0  0.60000
    1     2         0.80       2.0            0.5  0.53333
    2     3         0.82       3.0            1.0  0.41000
    """
    p = np.atleast_1d(_as_float_array(performance, "performance"))
    r = np.atleast_1d(_as_float_array(resource, "resource"))
    _check_same_length(p, r, ("performance", "resource"))
    if len(p) == 0:
        raise ValueError(
            "`performance` must hold at least one step, got an empty sequence; "
            "pass the per-epoch values of a run."
        )
    _check_performance(p, "performance")
    _check_resource(r, "resource", "pass the resource used so far (kWh, g, GB, s).")
    if resource_range is None:
        lo, hi = r.min(), r.max()
    else:
        lo, hi = _check_range(resource_range, r)
    step = np.arange(1, len(p) + 1) if steps is None else np.asarray(steps)
    if step.shape != p.shape:
        raise ValueError(
            f"`steps` must give one label per step ({len(p)}), got shape {step.shape}; "
            "pass e.g. history['epoch']."
        )
    import pandas as pd

    norm = _minmax(r, lo, hi)
    return pd.DataFrame(
        {"step": step, "performance": p, "resource": r, "resource_norm": norm,
         "pepr": p / (1.0 + norm)}
    )


def _check_range(resource_range: Any, r: np.ndarray) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in resource_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`resource_range` must be a pair (min, max), got {_show(resource_range)}; "
            "pass e.g. resource_range=(0.0, 0.05)."
        ) from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 <= lo < hi):
        raise ValueError(
            f"`resource_range` must satisfy 0 <= min < max (finite), got {resource_range!r}; "
            "pass the smallest and largest resource of the experiment space."
        )
    if r.min() < lo or r.max() > hi:
        raise ValueError(
            f"`resource_range` {resource_range!r} does not cover the run's resource "
            f"[{float(r.min())!r}, {float(r.max())!r}]; widen the range to include every step."
        )
    return lo, hi


def pepr_optimum(
    performance: Any,
    resource: Any,
    *,
    resource_range: tuple[float, float] | None = None,
    steps: Any = None,
) -> PeprOptimum:
    """The peak ``P_ePRc* = max_t P_t / (1 + R_t)`` of :func:`pepr_curve`.

    Beyond this step the extra resource costs more score than the performance it buys.
    Ties go to the earliest step. Arguments are those of :func:`pepr_curve`.

    Returns:
        A :class:`PeprOptimum` (step, position, pepr, performance, resource, resource_norm).

    Raises:
        ValueError: as :func:`pepr_curve`.

    >>> best = pepr_optimum([0.5, 0.8, 0.82], [0.0, 1.0, 4.0])
    >>> best.step, round(best.pepr, 3)
    (2, 0.64)
    """
    curve = pepr_curve(performance, resource, resource_range=resource_range, steps=steps)
    i = int(curve["pepr"].to_numpy().argmax())
    step = curve["step"].iloc[i]
    return PeprOptimum(
        step=step.item() if isinstance(step, np.generic) else step,
        position=i,
        pepr=float(curve["pepr"].iloc[i]),
        performance=float(curve["performance"].iloc[i]),
        resource=float(curve["resource"].iloc[i]),
        resource_norm=float(curve["resource_norm"].iloc[i]),
    )


# --- comparing models ---------------------------------------------------------------
def pareto_front(performance: Any, resource: Any) -> Any:
    """Boolean mask of the Pareto-optimal points (maximise P, minimise R), O(n log n).

    Point i is dominated when some j has ``P_j >= P_i`` and ``R_j <= R_i`` with at least
    one strict. Identical points do not dominate each other, so duplicates of a
    non-dominated point are all kept. The points are sorted by R ascending, then P
    descending, and swept keeping the running maximum of P.

    Args:
        performance: P per point (any finite numbers; higher is better).
        resource: R per point (any finite numbers, raw or normalised; lower is better).

    Returns:
        A bool numpy array, or a bool Series keeping the index when given a Series.

    Raises:
        ValueError: lengths differ or values are not finite.

    >>> pareto_front([0.9, 0.8, 0.95, 0.7], [0.5, 0.1, 1.0, 0.3])
    array([ True,  True,  True, False])
    """
    p = np.atleast_1d(_as_float_array(performance, "performance"))
    r = np.atleast_1d(_as_float_array(resource, "resource"))
    _check_same_length(p, r, ("performance", "resource"))
    _check_finite(p, "performance")
    _check_finite(r, "resource")
    mask = np.zeros(len(p), dtype=bool)
    if len(p):
        order = np.lexsort((-p, r))  # R ascending, then P descending
        ps, rs = p[order], r[order]
        # each row's group of equal R starts at its best-P row; rows before it have smaller R
        is_start = np.r_[True, rs[1:] != rs[:-1]]
        start = np.maximum.accumulate(np.where(is_start, np.arange(len(ps)), 0))
        best_before = np.r_[-np.inf, np.maximum.accumulate(ps)[:-1]]
        mask[order] = (ps == ps[start]) & (ps > best_before[start])
    return _like(mask, performance, resource, name="pareto")


@dataclass(frozen=True)
class SizeComparison:
    """Result of :func:`compare_sizes`.

    Attributes:
        threshold: the parameter count splitting small (at or under) from large models.
        median_small: median score of the models with ``params <= threshold``.
        median_large: median score of the models with ``params > threshold``.
        n_small: number of small models.
        n_large: number of large models.
        p_value: two-sided Mann-Whitney U p-value for small vs large.
    """

    threshold: float
    median_small: float
    median_large: float
    n_small: int
    n_large: int
    p_value: float


def compare_sizes(
    df: pd.DataFrame,
    *,
    score: str,
    params: str = "num_params",
    threshold: float | str = "median",
) -> SizeComparison:
    """Compare the score of small and large models, as the paper does at 24.6M parameters.

    Models with ``params <= threshold`` are small, the rest large; the result holds each
    group's median score and size and the two-sided Mann-Whitney U p-value
    (``scipy.stats.mannwhitneyu``), which asks whether one group tends to score higher.

    Args:
        df: one row per model.
        score: the column to compare (e.g. ``"pepr_e"`` or ``"test_acc"``).
        params: the parameter-count column.
        threshold: ``"median"`` (of ``df[params]``) or a number such as ``24.6e6``.

    Returns:
        A :class:`SizeComparison`.

    Raises:
        ValueError: missing columns, missing values, a bad threshold, or a threshold that
            leaves one group empty.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"num_params": [1e6, 2e6, 3e6, 4e7, 5e7, 6e7],
    ...                      "pepr_e": [0.80, 0.82, 0.78, 0.50, 0.55, 0.45]})
    >>> res = compare_sizes(runs, score="pepr_e")
    >>> res.threshold, res.median_small, res.median_large, res.n_small, res.n_large
    (21500000.0, 0.8, 0.5, 3, 3)
    >>> round(res.p_value, 3)
    0.1
    """
    _require_columns(df, [score], "score")
    _require_columns(df, [params], "params")
    s, n = _column(df, score), _column(df, params)
    _check_finite(s, f"df[{score!r}]")
    _check_finite(n, f"df[{params!r}]")
    if isinstance(threshold, str) and threshold == "median":
        cut = float(np.median(n)) if n.size else float("nan")
    elif isinstance(threshold, (int, float, np.number)) and np.isfinite(threshold):
        cut = float(threshold)
    else:
        raise ValueError(
            f"`threshold` must be 'median' or a finite number, got {threshold!r}; "
            "pass e.g. threshold=24.6e6."
        )
    small = n <= cut
    if small.all() or not small.any():
        raise ValueError(
            f"`threshold` {threshold!r} ({cut!r}) puts all {len(n)} models in one group; "
            "pass a threshold between the smallest and largest parameter count "
            "(and at least two models)."
        )
    from scipy.stats import mannwhitneyu

    test = mannwhitneyu(s[small], s[~small], alternative="two-sided")
    return SizeComparison(
        threshold=cut,
        median_small=float(np.median(s[small])),
        median_large=float(np.median(s[~small])),
        n_small=int(small.sum()),
        n_large=int((~small).sum()),
        p_value=float(test.pvalue),
    )
