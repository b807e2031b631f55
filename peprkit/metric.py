"""PePR, performance per resource unit, and the helpers around it.

PePR = P / (1 + R), where P is a performance in [0, 1] (test accuracy, AUC) and R a
non-negative resource, usually min-max normalised per dataset so that R lies in [0, 1] and
P/2 <= PePR <= P (Selvan et al., NLDL 2025). Every function here is a pure function of
array-likes or DataFrames. Only numpy is imported at module level, so ``import peprkit``
stays fast: pandas is imported where a DataFrame is built (:func:`pepr_curve`) and scipy
inside :func:`compare_models`; an object can only be a pandas Series or DataFrame when
pandas is already loaded, which is how the type checks below avoid importing it.

Three parts live in their own modules and are re-exported here: the scores computed from
labels alone (:func:`majority_accuracy`, :func:`balanced_accuracy`, :func:`auc`, in
:mod:`peprkit._performance`), the comparison of two groups of models on the right unit
(:func:`compare_models`, :class:`GroupComparison`, :func:`smallest_p_value`, in
:mod:`peprkit._compare`: a model's seeds are averaged before models are compared), and the
small-versus-large comparison built on it (:func:`compare_sizes`, :class:`SizeComparison`,
in :mod:`peprkit._sizes`, beside the one parser of a size threshold, which the plots
share). The rest stays in this module: the score, its normalisations, the chance-adjusted
performance it is computed on, its curve along a run and the Pareto front are one concept,
PePR and its scales, and each part is used by the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from peprkit._compare import GroupComparison, compare_models, smallest_p_value
from peprkit._performance import auc, balanced_accuracy, majority_accuracy
from peprkit._sizes import SizeComparison, compare_sizes
from peprkit._validation import (
    as_float_array,
    check_finite,
    check_performance,
    check_resource,
    check_same_length,
    column_values,
    first_bad,
    is_pandas,
    require_columns,
    show,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "GroupComparison",
    "PeprOptimum",
    "SizeComparison",
    "add_pepr",
    "auc",
    "balanced_accuracy",
    "chance_adjusted",
    "compare_models",
    "compare_sizes",
    "majority_accuracy",
    "normalize",
    "pareto_front",
    "pepr",
    "pepr_curve",
    "pepr_optimum",
    "smallest_p_value",
]

_METHODS = ("minmax", "max")


def _like(result: np.ndarray, *inputs: Any, name: str | None = None) -> Any:
    """Return ``result`` as the kind of the first Series/array input (float for scalars)."""
    for x in inputs:
        if is_pandas(x, "Series"):
            return type(x)(result, index=x.index, name=name)
    if np.ndim(result) == 0:
        return float(result)
    return result


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
    p = as_float_array(performance, "performance")
    r = as_float_array(resource, "resource")
    check_same_length(p, r, ("performance", "resource"))
    check_performance(p, "performance")
    check_resource(r, "resource", "normalise the resource first with `normalize`.")
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
    x = as_float_array(values, "values")
    check_resource(x, "values", "resources are amounts (kWh, g, GB, s) and cannot be negative.")
    name = values.name if is_pandas(values, "Series") else None
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
    chance: str | float | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with normalised resources and PePR scores added.

    For each ``key: column`` in ``resources`` two columns are added:
    ``<column>_norm = (x - min) / (max - min)`` (min and max taken within each group of
    ``by``, e.g. per dataset as in the paper; all-equal groups give 0) and
    ``pepr_<key> = P / (1 + <column>_norm)`` with P = ``df[performance]``.

    Fed the authors' published raw results (``performance="test_09"``, the epoch-10
    test accuracy; ``resources={"e": "energy", "c": "co2", "m": "memR",
    "t": "train_time"}``; ``by="dataset"``) this reproduces their PePR-E/C/M/T columns.

    With ``chance`` (a column such as ``"majority_acc"``, or a number such as 0.5) P is
    first replaced by ``chance_adjusted(P, chance)``, kept as ``<performance>_adj``, so a
    model that only guesses the majority class scores 0 (see :func:`chance_adjusted`).
    Without it the scores are the paper's.

    When ``df`` has meter source labels (``cpu_source``, ...) or a ``shared_device``
    column, a boolean ``shared_device`` is added: True where a label says others used the
    metered device (``;shared=...``, see :mod:`peprkit.meter.sharing`), so plots and
    tables can mark those rows.

    Args:
        df: one row per run, e.g. the sweep's results.csv.
        performance: column holding P in [0, 1].
        resources: score suffix -> resource column, e.g. ``{"e": "energy_kwh"}``.
        by: column(s) to normalise within (``None``: the whole table is one group).
        chance: column or number holding the chance level of ``performance``.

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
            f"`resources` must be a non-empty dict of key -> column, got {show(resources)}; "
            "e.g. resources={'e': 'energy_kwh', 'c': 'co2_g'}."
        )
    by_cols = [] if by is None else [by] if isinstance(by, str) else list(by)
    cols = list(resources.values())
    require_columns(df, [performance], arg="performance")
    require_columns(df, cols, arg="resources")
    require_columns(df, by_cols, arg="by")
    p = column_values(df, performance)
    check_performance(p, f"df[{performance!r}]")
    raw = np.column_stack([column_values(df, col) for col in cols])
    for j, col in enumerate(cols):
        check_resource(raw[:, j], f"df[{col!r}]", "resources are amounts and cannot be negative.")
    if chance is not None:
        if isinstance(chance, str):
            require_columns(df, [chance], arg="chance")
            level = column_values(df, chance)
        else:
            level = chance
        p = np.asarray(chance_adjusted(p, level), dtype=float)
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
    if chance is not None:
        out[f"{performance}_adj"] = p
    for j, (key, col) in enumerate(resources.items()):
        out[f"{col}_norm"] = norm[:, j]
        out[f"pepr_{key}"] = p / (1.0 + norm[:, j])
    labels = [c for c in ("gpu_source", "cpu_source", "ram_source") if c in df.columns]
    if labels or "shared_device" in df.columns:  # others used the metered device: mark the row
        shared = np.zeros(len(df), dtype=bool)
        for col in labels:
            shared |= df[col].astype(str).str.contains(";shared=", regex=False).to_numpy()
        if "shared_device" in df.columns:
            shared |= df["shared_device"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        out["shared_device"] = shared
    return out


# --- performance that beats chance ------------------------------------------------
def chance_adjusted(performance: Any, chance: Any) -> Any:
    """Performance above chance, as a fraction of the room above chance, clipped to [0, 1]:
    ``P_adj = clip((P - chance) / (1 - chance), 0, 1)``.

    This is the kit's answer to "PePR rewards a constant guess": on BreastMNIST, 73% of
    the test images are benign, so a model that always answers "benign" scores
    ``test_acc = 0.73`` and, being cheap, a high PePR. With ``chance`` the accuracy of that
    guess (``majority_acc``), the guess scores 0, a perfect model 1, and PePR computed on
    ``P_adj`` only rewards what a model learned. Use 0.5 for AUC and balanced accuracy of
    a binary task (``1 / classes`` for balanced accuracy in general).

    Args:
        performance: P in [0, 1]; a float, list, numpy array or Series.
        chance: the chance level in [0, 1), a scalar or one value per P.

    Returns:
        The same kind as ``performance`` (float, numpy array, or Series named ``<name>_adj``).

    Raises:
        ValueError: P or chance outside [0, 1] or NaN, chance equal to 1, lengths differ.

    >>> chance_adjusted(0.7308, 0.7308), chance_adjusted(1.0, 0.7308)
    (0.0, 1.0)
    >>> chance_adjusted([0.5, 0.8, 0.9], 0.6)
    array([0.  , 0.5 , 0.75])
    """
    p = as_float_array(performance, "performance")
    c = as_float_array(chance, "chance")
    check_same_length(p, c, ("performance", "chance"))
    check_performance(p, "performance")
    check_performance(c, "chance")
    if (c >= 1).any():
        raise ValueError(
            f"`chance` must be below 1, got {first_bad(c, c >= 1)}; a chance level of 1 "
            "(every test image in one class) leaves no room to beat it: use balanced "
            "accuracy or AUC with chance=0.5 instead."
        )
    adjusted = np.clip((p - c) / (1.0 - c), 0.0, 1.0)
    name = f"{performance.name}_adj" if is_pandas(performance, "Series") else None
    return _like(adjusted, performance, chance, name=name)


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
    reference: float | None = None,
    steps: Any = None,
) -> pd.DataFrame:
    """PePR at each step of one training run.

    ``resource_norm = (r - lo) / (hi - lo)`` with ``(lo, hi) = resource_range`` or, by
    default, the run's own min and max; ``pepr = P / (1 + resource_norm)``. Pass the
    range of a wider experiment space (e.g. all runs of a sweep) to compare runs on one
    scale. With ``reference=b`` (a fixed budget, e.g. the energy of the largest model's
    whole run) ``resource_norm = r / b`` instead: the score of a step no longer depends
    on how many steps the run has, and the first step is not best by construction.

    Args:
        performance: P at each step (e.g. test accuracy after each epoch), in [0, 1].
        resource: the resource used up to each step (e.g. cumulative energy_kwh), >= 0.
        resource_range: ``(lo, hi)`` with ``lo < hi`` covering every value of ``resource``.
        reference: a positive budget to divide the resource by (see :func:`normalize`);
            not together with ``resource_range``.
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
    >>> pepr_curve([0.6, 0.8, 0.82], [1.0, 2.0, 3.0], reference=10.0)["pepr"].round(3).tolist()
    [0.545, 0.667, 0.631]
    """
    p = np.atleast_1d(as_float_array(performance, "performance"))
    r = np.atleast_1d(as_float_array(resource, "resource"))
    check_same_length(p, r, ("performance", "resource"))
    if len(p) == 0:
        raise ValueError(
            "`performance` must hold at least one step, got an empty sequence; "
            "pass the per-epoch values of a run."
        )
    check_performance(p, "performance")
    check_resource(r, "resource", "pass the resource used so far (kWh, g, GB, s).")
    if reference is not None and resource_range is not None:
        raise ValueError(
            f"`reference` ({reference!r}) and `resource_range` ({resource_range!r}) were both "
            "given; pass one, not both: a fixed budget (R = resource / reference), or the "
            "(min, max) of the experiment space."
        )
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

    norm = (np.asarray(normalize(r, reference=reference)) if reference is not None
            else _minmax(r, lo, hi))
    return pd.DataFrame(
        {"step": step, "performance": p, "resource": r, "resource_norm": norm,
         "pepr": p / (1.0 + norm)}
    )


def _check_range(resource_range: Any, r: np.ndarray) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in resource_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"`resource_range` must be a pair (min, max), got {show(resource_range)}; "
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
    reference: float | None = None,
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
    curve = pepr_curve(performance, resource, resource_range=resource_range,
                       reference=reference, steps=steps)
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
    p = np.atleast_1d(as_float_array(performance, "performance"))
    r = np.atleast_1d(as_float_array(resource, "resource"))
    check_same_length(p, r, ("performance", "resource"))
    check_finite(p, "performance")
    check_finite(r, "resource")
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
