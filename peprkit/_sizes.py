"""Small against large models: where to split them, and whether the split matters.

:func:`size_threshold` turns a ``threshold`` argument (``"median"`` or a parameter count)
into the parameter count that splits small from large models; :func:`compare_sizes`
(re-exported by :mod:`peprkit.metric`) compares the two groups' scores, model by model
(:func:`peprkit._compare.compare_models`: seeds averaged first), and the size plots of
:mod:`peprkit.plot` shade the same split. scipy is imported inside
:func:`compare_sizes` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from peprkit._compare import compare_models
from peprkit._validation import check_finite, column_values, require_columns, show

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SizeComparison", "compare_sizes", "size_threshold"]


def size_threshold(threshold: float | str, params: Any) -> float:
    """The parameter count splitting small models (at or under it) from large ones.

    ``cut = median(params)`` for ``threshold="median"``, else ``cut = threshold``, which
    must be a positive, finite number (e.g. the paper's ``24.6e6``).

    Args:
        threshold: ``"median"`` or a parameter count.
        params: the models' parameter counts (used for the median only).

    Returns:
        The cut as a float (NaN for the median of no models).

    Raises:
        ValueError: any other string, a bool, NaN, infinity or a number <= 0.

    >>> size_threshold("median", [1e6, 2e6, 4e7]), size_threshold(24.6e6, [1e6])
    (2000000.0, 24600000.0)
    """
    if isinstance(threshold, str) and threshold == "median":
        n = np.asarray(params, dtype=float)
        return float(np.median(n)) if n.size else float("nan")
    if (isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool)
            and np.isfinite(threshold) and threshold > 0):
        return float(threshold)
    raise ValueError(f"threshold={show(threshold)} must be 'median' or a positive parameter "
                     "count; pass e.g. threshold=24.6e6 (the paper's split, the median of "
                     "its 131 models).")


@dataclass(frozen=True)
class SizeComparison:
    """Result of :func:`compare_sizes`. Scores are per-model means (a model's seeds averaged).

    Attributes:
        threshold: the parameter count splitting small (at or under) from large models.
        median_small: median score of the models with ``params <= threshold``.
        median_large: median score of the models with ``params > threshold``.
        n_small: number of small models (models, not runs).
        n_large: number of large models.
        p_value: two-sided Mann-Whitney U p-value for small vs large, on per-model means.
        runs_small, runs_large: rows (runs) in each group.
        difference: ``median_small - median_large``.
        ci_low, ci_high: bootstrap 95% interval of ``difference``.
        cliffs_delta: Cliff's delta of small against large, in [-1, 1].
        min_p_value: the smallest p-value ``n_small`` + ``n_large`` models allow: with
            3 + 3 models p is never below 0.1.
    """

    threshold: float
    median_small: float
    median_large: float
    n_small: int
    n_large: int
    p_value: float
    runs_small: int = 0
    runs_large: int = 0
    difference: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    cliffs_delta: float = float("nan")
    min_p_value: float = float("nan")


def compare_sizes(
    df: pd.DataFrame,
    *,
    score: str,
    params: str = "num_params",
    threshold: float | str = "median",
    model: str | None = "model",
) -> SizeComparison:
    """Compare the score of small and large models, as the paper does at 24.6M parameters.

    Models with ``params <= threshold`` are small, the rest large. Each model's runs (its
    seeds) are averaged first, so the models are the units and ``n_small`` / ``n_large``
    count models; the result holds each group's median per-model score, the difference of
    medians with a bootstrap interval, Cliff's delta and the two-sided Mann-Whitney U
    p-value (``scipy.stats.mannwhitneyu``), which asks whether one group tends to score
    higher, beside the smallest p-value those group sizes allow
    (:func:`peprkit._compare.compare_models`).

    Args:
        df: one row per run or per model.
        score: the column to compare (e.g. ``"pepr_e"`` or ``"test_acc"``).
        params: the parameter-count column.
        threshold: ``"median"`` (of ``df[params]``, over rows) or a positive parameter
            count such as ``24.6e6`` (see :func:`size_threshold`).
        model: the column naming each model, whose runs are averaged; None, or a column
            ``df`` lacks, treats every row as a model.

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
    >>> round(res.p_value, 3), res.min_p_value  # 3 + 3 models: p is never below 0.1
    (0.1, 0.1)
    """
    require_columns(df, [score], arg="score")
    require_columns(df, [params], arg="params")
    s, n = column_values(df, score), column_values(df, params)
    check_finite(s, f"df[{score!r}]")
    check_finite(n, f"df[{params!r}]")
    cut = size_threshold(threshold, n)
    small = n <= cut
    if small.all() or not small.any():
        raise ValueError(
            f"`threshold` {threshold!r} ({cut!r}) puts all {len(n)} models in one group; "
            "pass a threshold between the smallest and largest parameter count "
            "(and at least two models)."
        )
    res = compare_models(df, score=score, group=small, model=model, order=(True, False))
    return SizeComparison(
        threshold=cut,
        median_small=res.median[0],
        median_large=res.median[1],
        n_small=res.n[0],
        n_large=res.n[1],
        p_value=res.p_value,
        runs_small=res.runs[0],
        runs_large=res.runs[1],
        difference=res.difference,
        ci_low=res.ci[0],
        ci_high=res.ci[1],
        cliffs_delta=res.cliffs_delta,
        min_p_value=res.min_p_value,
    )
