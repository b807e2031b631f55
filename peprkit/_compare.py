"""Two groups of models compared on the right unit: the model, not the run.

Seeds of one model are not independent models: two seeds of ``resnet18`` share an
architecture, a recipe and most of their result. :func:`compare_models` therefore first
averages every model's runs (one mean per model and group), then compares the two groups of
per-model means: how many models each holds, the difference of their medians with a
bootstrap confidence interval, Cliff's delta, the two-sided Mann-Whitney U p-value, and the
smallest p-value those group sizes allow at all (:func:`smallest_p_value`): with 3 + 3
models no outcome gives p below 0.1. :func:`peprkit.metric.compare_sizes` (small against
large) is built on it. Only numpy is imported here; pandas and scipy inside the function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from peprkit._validation import check_finite, column_values, is_pandas, require_columns, show

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GroupComparison", "compare_models", "smallest_p_value"]


def smallest_p_value(n_first: int, n_second: int) -> float:
    """The smallest two-sided Mann-Whitney p-value that groups of these sizes can give.

    ``p_min = 2 / C(n_first + n_second, n_first)`` (at most 1): the exact two-sided p of the
    most extreme outcome, every value of one group above every value of the other. When
    ``p_min`` exceeds the significance level, no data of these sizes can reach it.

    Args:
        n_first, n_second: models in each group (whole numbers >= 1).

    Returns:
        ``p_min`` in (0, 1].

    Raises:
        ValueError: a size that is not a whole number >= 1.

    >>> smallest_p_value(3, 3), round(smallest_p_value(8, 8), 6), smallest_p_value(1, 1)
    (0.1, 0.000155, 1.0)
    """
    for name, n in (("n_first", n_first), ("n_second", n_second)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name}={show(n)} must be a whole number >= 1 (models in a "
                             "group); count the models, not the runs.")
    return min(1.0, 2.0 / math.comb(int(n_first) + int(n_second), int(n_first)))


@dataclass(frozen=True)
class GroupComparison:
    """Result of :func:`compare_models`; every pair is (first group, second group).

    Attributes:
        groups: the two group values, as text.
        n: models per group (the independent units; runs of a model are averaged first).
        runs: rows (runs) per group.
        median, mean: the median and the mean of the per-model means.
        difference: ``median[0] - median[1]``.
        ci: bootstrap percentile interval of ``difference`` at ``level`` (models resampled
            within each group).
        level: the confidence level of ``ci``, e.g. 0.95.
        cliffs_delta: ``(#(a > b) - #(a < b)) / (n_a n_b)`` over all pairs of per-model
            means, from -1 (every second-group model higher) to +1.
        p_value: two-sided Mann-Whitney U p-value on the per-model means.
        min_p_value: the smallest p-value possible for these ``n``
            (:func:`smallest_p_value`).
        shared_models: models that appear in both groups (e.g. pretrained and from scratch).
        models: the model names of each group.
        means: each model's mean score, in the order of ``models``.
    """

    groups: tuple[str, str]
    n: tuple[int, int]
    runs: tuple[int, int]
    median: tuple[float, float]
    mean: tuple[float, float]
    difference: float
    ci: tuple[float, float]
    level: float
    cliffs_delta: float
    p_value: float
    min_p_value: float
    shared_models: int
    models: tuple[tuple[str, ...], tuple[str, ...]]
    means: tuple[tuple[float, ...], tuple[float, ...]]


def _group_labels(df: Any, group: Any) -> np.ndarray:
    if isinstance(group, str):
        require_columns(df, [group], arg="group")
        return df[group].to_numpy()
    labels = group.to_numpy() if is_pandas(group, "Series") else np.asarray(group)
    if labels.shape != (len(df),):
        raise ValueError(
            f"`group` must name a column or give one label per row ({len(df)}), got shape "
            f"{labels.shape}; pass e.g. group='pretrained' or group=df['num_params'] <= 24.6e6."
        )
    return labels


def _order(labels: np.ndarray, order: Any, group: Any) -> tuple[Any, Any]:
    values = list(dict.fromkeys(labels.tolist()))
    if order is not None:
        try:
            first, second = order
        except (TypeError, ValueError):
            raise ValueError(f"order={show(order)} must be the two group values to compare, "
                             "first first, e.g. order=(True, False).") from None
        missing = [v for v in (first, second) if v not in values]
        if missing or first == second:
            raise ValueError(
                f"order={show(order)} must name two different values of `group`, which holds "
                f"{show(values)}; pass two of them, e.g. order={tuple(values[:2])!r}.")
        return first, second
    if len(values) != 2:
        what = group if isinstance(group, str) else "the group labels"
        raise ValueError(
            f"`group` ({what}) must hold exactly two values, got {len(values)}: {show(values)}; "
            "pass order=(first, second) to pick two, or filter the table first.")
    if set(values) <= {True, False}:
        return True, False
    return tuple(sorted(values, key=str))  # type: ignore[return-value]


def compare_models(
    df: pd.DataFrame,
    *,
    score: str,
    group: Any,
    model: str | None = "model",
    order: Any = None,
    level: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> GroupComparison:
    """Compare two groups of models on ``score`` after averaging each model's runs.

    1. Each model's runs within a group are averaged: ``m_j = mean of score over model j's
       runs`` (seeds, repeats); the models are the units, so ``n`` counts models.
    2. ``difference = median(m over group 1) - median(m over group 2)``, with a bootstrap
       percentile interval (``n_boot`` resamples of the models within each group).
    3. Cliff's delta ``= (#(a > b) - #(a < b)) / (n_1 n_2)`` over pairs of per-model means.
    4. The two-sided Mann-Whitney U p-value on the per-model means
       (``scipy.stats.mannwhitneyu``), and ``min_p_value``, the smallest p those ``n`` allow.

    A model in both groups (the same architecture pretrained and from scratch) counts once
    in each; ``shared_models`` says how many. The test treats the groups as independent,
    which is conservative for such pairs.

    Args:
        df: one row per run (or per model).
        score: the column compared, e.g. ``"pepr_e"``; finite numbers.
        group: a column with two values (``"pretrained"``), or one label per row (e.g.
            ``df["num_params"] <= 24.6e6``).
        model: the column naming each model; None, or a column ``df`` lacks, makes every
            row its own model.
        order: the two group values, first first (default: True before False, otherwise
            sorted); with it, rows of other values are left out.
        level: confidence level of ``ci``, in (0, 1).
        n_boot: bootstrap resamples (>= 100); ``seed`` makes them repeatable.

    Returns:
        A :class:`GroupComparison`.

    Raises:
        ValueError: missing columns, non-finite scores, not two groups, an empty group, a
            bad ``level`` or ``n_boot``.

    >>> import pandas as pd
    >>> runs = pd.DataFrame({"model": ["a", "a", "b", "b", "c", "c", "d", "d"],
    ...                      "pretrained": [True, True, True, True, False, False, False, False],
    ...                      "test_acc": [0.90, 0.92, 0.88, 0.86, 0.70, 0.74, 0.72, 0.76]})
    >>> res = compare_models(runs, score="test_acc", group="pretrained")
    >>> res.groups, res.n, res.runs, round(res.difference, 3), res.cliffs_delta
    (('True', 'False'), (2, 2), (4, 4), 0.16, 1.0)
    >>> round(res.p_value, 3), round(res.min_p_value, 3)  # 2 + 2 models: p >= 0.333
    (0.333, 0.333)
    """
    require_columns(df, [score], arg="score")
    if not (isinstance(level, (int, float)) and 0 < level < 1):
        raise ValueError(f"level={show(level)} must be a number in (0, 1), e.g. 0.95.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 100:
        raise ValueError(f"n_boot={show(n_boot)} must be a whole number >= 100, e.g. 2000.")
    s = column_values(df, score)
    check_finite(s, f"df[{score!r}]")
    labels = _group_labels(df, group)
    first, second = _order(labels, order, group)
    names = (df[model].astype(str).to_numpy() if model is not None and model in df.columns
             else np.array([f"row {i}" for i in df.index], dtype=object))
    import pandas as pd

    units = pd.DataFrame({"g": labels, "m": names, "s": s})
    per: list[Any] = []
    for value in (first, second):
        rows = units[units["g"] == value]
        if rows.empty:
            raise ValueError(f"group {value!r} of `group` has no rows; pass a table with "
                             "runs in both groups.")
        per.append(rows.groupby("m", sort=True)["s"].agg(["mean", "size"]))
    a, b = (p["mean"].to_numpy(dtype=float) for p in per)
    diff = float(np.median(a) - np.median(b))
    rng = np.random.default_rng(seed)
    boot = (np.median(a[rng.integers(0, len(a), (n_boot, len(a)))], axis=1)
            - np.median(b[rng.integers(0, len(b), (n_boot, len(b)))], axis=1))
    lo, hi = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
    delta = float(np.sign(a[:, None] - b[None, :]).sum() / (len(a) * len(b)))
    from scipy.stats import mannwhitneyu

    p_value = float(mannwhitneyu(a, b, alternative="two-sided").pvalue)
    if not np.isfinite(p_value):  # every value equal: no evidence either way
        p_value = 1.0
    return GroupComparison(
        groups=(str(first), str(second)),
        n=(len(a), len(b)),
        runs=(int(per[0]["size"].sum()), int(per[1]["size"].sum())),
        median=(float(np.median(a)), float(np.median(b))),
        mean=(float(a.mean()), float(b.mean())),
        difference=diff,
        ci=(float(lo), float(hi)),
        level=float(level),
        cliffs_delta=delta,
        p_value=p_value,
        min_p_value=smallest_p_value(len(a), len(b)),
        shared_models=len(set(per[0].index) & set(per[1].index)),
        models=(tuple(map(str, per[0].index)), tuple(map(str, per[1].index))),
        means=(tuple(map(float, a)), tuple(map(float, b))),
    )
