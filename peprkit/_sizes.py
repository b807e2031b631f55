"""Small against large models: where to split them, and whether the split matters.

:func:`size_threshold` turns a ``threshold`` argument (``"median"`` or a parameter count)
into the parameter count that splits small from large models; :func:`compare_sizes`
(re-exported by :mod:`peprkit.metric`) compares the two groups' scores, and the size plots
of :mod:`peprkit.plot` shade the same split. scipy is imported inside
:func:`compare_sizes` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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
        threshold: ``"median"`` (of ``df[params]``) or a positive parameter count such as
            ``24.6e6`` (see :func:`size_threshold`).

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
