"""Scores and energy against model size, the small-model side shaded.

:func:`versus_params` (a score, with the small and large groups' medians) and
:func:`energy_vs_params` (the paper's Figure 2c) split the models where
:func:`peprkit.metric.compare_sizes` does, with the same threshold parser
(:func:`peprkit._sizes.size_threshold`). Both are re-exported by :mod:`peprkit.plot`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from peprkit._sizes import size_threshold
from peprkit._validation import (
    check_finite,
    check_resource,
    column_values,
    first_bad,
    require_columns,
)
from peprkit.plot._style import (
    axes_or_new,
    column_unit,
    draw_baselines,
    draw_guess_pepr,
    draw_ranges,
    format_count,
    guess_levels,
    parse_baselines,
    source_word,
    summarise_runs,
    titled,
)
from peprkit.schema import RESOURCES


def versus_params(
    df: pd.DataFrame,
    *,
    score: str,
    params: str = "num_params",
    threshold: float | str = "median",
    threshold_note: str = "threshold given",
    baseline: Any = None,
    model: str | None = "model",
    ax: Any = None,
) -> Any:
    """A score against log10 of the parameter count; the small-model region shaded.

    Models with ``params <= threshold`` are small (the region shaded green), as compared
    by :func:`peprkit.metric.compare_sizes`; short horizontal lines mark the median score
    of the small and of the large models. The legend says where the split is and why.
    A model's runs (its seeds) are drawn as one point, their mean, with a bar spanning
    their range, and the medians are over models, as :func:`~peprkit.metric.compare_sizes`
    computes them. For a PePR score (``pepr_...``) the y label says how its resource was
    obtained, and the baseline is the PePR of a constant guess, ``majority / (1 + R)``.

    Args:
        df: one row per model.
        score: column to plot (e.g. ``"test_acc"`` or ``"pepr_e"``).
        params: parameter-count column (positive numbers).
        threshold: ``"median"`` (of ``df[params]``) or a parameter count, e.g. the
            paper's ``24.6e6``.
        threshold_note: where a numeric threshold comes from, said in the legend, e.g.
            ``"the paper's split"``.
        baseline: the accuracy of a model that learned nothing (a number, or a mapping
            label -> number), e.g. the dataset's ``majority_acc``; drawn as a labelled
            horizontal line, or, for a PePR score, as the band of that guess's PePR from
            ``majority / 2`` (R = 1) to ``majority`` (R = 0), with a tick at each model's own
            ``majority / (1 + R)`` when ``df`` holds the normalised resource
            (``energy_kwh_norm`` for ``pepr_e``).
        model: the column naming each model (runs sharing it are averaged); None, or a
            column ``df`` lacks, draws every row.
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes. The title says "(synthetic data)" when a ``synthetic`` column is true.

    Raises:
        ValueError: no rows, missing columns, non-finite scores, parameter counts <= 0,
            a bad ``threshold`` or ``baseline``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from peprkit.examples import example_results
    >>> versus_params(example_results(), score="test_acc").get_xlabel()
    'Number of parameters (log$_{10}$)'
    >>> ax = versus_params(example_results(), score="test_acc", threshold=24.6e6)
    >>> ax.get_legend_handles_labels()[1][0]
    'small: at or under 24.6M parameters (threshold given)'
    """
    require_columns(df, [score], arg="score")
    require_columns(df, [params], arg="params")
    if len(df) == 0:
        raise ValueError("`df` has no rows; pass at least one model.")
    y = column_values(df, score)
    check_finite(y, f"df[{score!r}]")
    n = _param_counts(df, params)
    cut = size_threshold(threshold, n)
    key = score[len("pepr_"):] if score.startswith("pepr_") else None
    resource = RESOURCES.get(key or "")
    chance_r = (column_values(df, f"{resource}_norm")
                if resource and f"{resource}_norm" in df.columns else None)
    counts, spread = np.ones(len(y), dtype=int), None
    if model is not None and model in df.columns and df[model].duplicated().any():
        extra = [chance_r] if chance_r is not None else []
        _, counts, stats = summarise_runs(df[model].astype(str).to_numpy(), y, n, *extra)
        (y, lo, hi), (n, _, _) = stats[0], stats[1]
        spread = (lo, hi)
        chance_r = stats[2][0] if extra else None
    why = "the median of these models" if isinstance(threshold, str) else str(threshold_note)
    lines = parse_baselines(baseline)
    ax = axes_or_new(ax)
    x = np.log10(n)
    small = n <= cut
    lo_x, hi_x = min(x.min(), np.log10(cut)), max(x.max(), np.log10(cut))
    pad = 0.1 * max(float(hi_x - lo_x), 1.0)
    name = "median" if why.startswith("the median") else format_count(cut)
    label = (f"small: at or under median ({format_count(cut)})" if name == "median"
             else f"small: at or under {name} parameters ({why})")
    ax.axvspan(lo_x - pad, np.log10(cut), color="tab:green", alpha=0.12, label=label)
    ax.axvline(np.log10(cut), color="tab:green", ls="--", lw=1)
    ax.scatter(x, y, s=36, color="tab:blue", zorder=3,
               label="models (mean over runs)" if spread is not None else "models")
    if spread is not None:
        draw_ranges(ax, x, y, yr=spread, counts=counts)
    for mask, lo, hi, group in ((small, lo_x - pad, np.log10(cut), "small"),
                                (~small, np.log10(cut), hi_x + pad, "large")):
        if mask.any():
            med = float(np.median(y[mask]))
            ax.hlines(med, lo, hi, color="0.3", ls=":", lw=1.5)
            ax.annotate(f"median {group}: {med:.3f}", ((lo + hi) / 2, med), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=8, color="0.3")
    if key is not None:
        guesses = guess_levels(lines)
        draw_guess_pepr(ax, guesses)
        draw_baselines(ax, [item for item in lines if item not in guesses])
        if chance_r is not None:
            for i, (_, m) in enumerate(guesses):
                ax.scatter(x, m / (1.0 + chance_r), marker="_", s=80, color="0.3", zorder=2.6,
                           label="constant guess at each model's R" if i == 0 else None)
    else:
        draw_baselines(ax, lines)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_xlabel("Number of parameters (log$_{10}$)")
    ax.set_ylabel(f"{score} ({resource}: {source_word(df, resource)})" if resource else score)
    ax.set_title(titled(f"{score} vs model size", df))
    ax.legend(loc="best", fontsize=8)
    return ax


def energy_vs_params(
    df: pd.DataFrame,
    *,
    energy: str = "energy_kwh",
    params: str = "num_params",
    hue: str | None = "efficient",
    threshold: float | str = "median",
    relative: bool = True,
    ax: Any = None,
) -> Any:
    """Energy against log10 of the parameter count, the small-model side shaded (Figure 2c).

    The paper's Figure 2c plots every model's energy (averaged over its experiments and
    divided by the largest) against its size, with the region at or under the median size
    (24.6M for its 131 models) shaded and the median marked by a vertical line.

    Args:
        df: one row per model (e.g. ``scored.groupby("model").mean(numeric_only=True)``).
        energy: energy column (kWh).
        params: parameter-count column (positive numbers).
        hue: a 0/1 or True/False column colouring the points (the authors' ``efficient``);
            None, or a column not in ``df``, draws every point alike.
        threshold: ``"median"`` of ``df[params]``, or a parameter count such as ``24.6e6``.
        relative: divide energy by its largest value (as the paper's figure); False keeps kWh.
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes. The title says "(synthetic data)" when a ``synthetic`` column is true.

    Raises:
        ValueError: no rows, missing columns, negative energy, parameter counts <= 0, a
            bad ``threshold``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> df = pd.DataFrame({"num_params": [2e6, 5e6, 30e6, 90e6], "efficient": [1, 1, 0, 0],
    ...                    "energy_kwh": [0.01, 0.02, 0.05, 0.2]})
    >>> ax = energy_vs_params(df)
    >>> ax.get_ylabel(), ax.get_legend_handles_labels()[1][0]
    ('energy_kwh / largest', 'median: 17.5M parameters')
    """
    require_columns(df, [energy], arg="energy")
    require_columns(df, [params], arg="params")
    if len(df) == 0:
        raise ValueError("`df` has no rows; pass at least one model.")
    e = column_values(df, energy)
    check_resource(e, f"df[{energy!r}]", "energy is an amount and cannot be negative.")
    n = _param_counts(df, params)
    cut = size_threshold(threshold, n)
    label = (f"median: {format_count(cut)} parameters" if isinstance(threshold, str)
             else f"split at {format_count(cut)} parameters")
    y = e / e.max() if relative and e.max() > 0 else e
    x = np.log10(n)
    ax = axes_or_new(ax)
    lo, hi = min(x.min(), np.log10(cut)), max(x.max(), np.log10(cut))
    pad = 0.05 * max(float(hi - lo), 1.0)
    ax.axvline(np.log10(cut), color="tab:red", ls="--", lw=1.2, label=label)
    ax.axvspan(lo - pad, np.log10(cut), color="0.5", alpha=0.2, label="small models")
    if hue is not None and hue in df.columns:
        flag = df[hue].fillna(0).astype(float).to_numpy() > 0
        ax.scatter(x[~flag], y[~flag], s=36, color="tab:blue", marker="o", zorder=3,
                   label=f"{hue} = 0")
        ax.scatter(x[flag], y[flag], s=36, color="tab:orange", marker="x", zorder=3,
                   label=f"{hue} = 1")
    else:
        ax.scatter(x, y, s=36, color="tab:blue", zorder=3, label="models")
    ax.set_xlim(lo - pad, hi + pad)
    ax.grid(alpha=0.4)
    ax.set_xlabel("Number of parameters (log$_{10}$)")
    unit = column_unit(energy) or "as given"
    ax.set_ylabel(f"{energy} / largest" if relative else f"{energy} ({unit})")
    ax.set_title(titled("Energy against model size", df))
    ax.legend(loc="upper left", fontsize=8)
    return ax


def _param_counts(df: pd.DataFrame, params: str) -> np.ndarray:
    """``df[params]`` as floats, checked positive (their log10 is the x axis)."""
    n = column_values(df, params)
    check_resource(n, f"df[{params!r}]", "parameter counts are positive.")
    if (n == 0).any():
        raise ValueError(
            f"`df[{params!r}]` must be > 0 (its log10 is plotted), got "
            f"{first_bad(n, n == 0)}; drop the models without a parameter count."
        )
    return n
