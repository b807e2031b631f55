"""The PePR paper's plots: profile, Pareto front, score vs size, group violins, curves.

Every function takes ``ax=None`` (a new figure is made when it is None), draws on that
Axes and returns it; none calls ``plt.show()``. matplotlib and scipy are imported inside
the functions, so ``import peprkit.plot`` stays light.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from peprkit.metric import (
    _check_finite,
    _check_performance,
    _check_resource,
    _column,
    _first_bad,
    _require_columns,
    normalize,
    pareto_front,
    pepr,
    pepr_curve,
    pepr_optimum,
)

__all__ = ["bars", "curve", "groups", "history", "images", "pareto", "profile", "versus_params"]

_CMAP = "viridis"
_FRONT = "crimson"


def _axes(ax: Any) -> Any:
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    return ax


def _pepr_grid(r_max: float, p_lo: float, p_hi: float, n: int = 101):
    """R, P and PePR on an n x n grid covering [0, r_max] x [p_lo, p_hi]."""
    r, p = np.meshgrid(np.linspace(0.0, r_max, n), np.linspace(p_lo, p_hi, n))
    return r, p, pepr(p.ravel(), r.ravel()).reshape(r.shape)


def _title(text: str, df: pd.DataFrame) -> str:
    """``text``, marked '(synthetic data)' when any row's ``synthetic`` column is true."""
    if "synthetic" in df.columns and df["synthetic"].fillna(False).astype(bool).any():
        return f"{text} (synthetic data)"
    return text


def _format_p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def _format_count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,.0f}"


def profile(ax: Any = None, *, levels: int = 10) -> Any:
    """Filled contours of ``PePR = P / (1 + R)`` over R (x) and P (y) in [0, 1]².

    The paper's idealised PePR profile: the score falls from P (at R = 0) to P/2 (at R = 1).

    Args:
        ax: Axes to draw on (a new figure when None).
        levels: number of contour levels.

    Returns:
        The Axes.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> profile().get_xlabel()
    'Normalised resource, R'
    """
    ax = _axes(ax)
    r, p, z = _pepr_grid(1.0, 0.0, 1.0)
    filled = ax.contourf(r, p, z, levels=levels, cmap=_CMAP)
    ax.figure.colorbar(filled, ax=ax, label="PePR = P / (1 + R)")
    ax.set_xlabel("Normalised resource, R")
    ax.set_ylabel("Performance, P")
    ax.set_title("PePR profile")
    return ax


def pareto(
    df: pd.DataFrame,
    *,
    performance: str,
    resource: str,
    label: str | None = None,
    normalize_resource: bool = True,
    ax: Any = None,
) -> Any:
    """Performance against normalised resource with the Pareto front highlighted.

    The background is shaded by the PePR value ``P / (1 + R)`` of each position; the
    Pareto-optimal runs (no other run is both better and cheaper, see
    :func:`peprkit.metric.pareto_front`) are drawn larger and joined in order of R.

    Args:
        df: one row per run (use one dataset at a time: R is min-max normalised over
            the rows given).
        performance: column with P in [0, 1].
        resource: resource column (raw units; normalised here unless
            ``normalize_resource=False``, e.g. for an ``..._norm`` column).
        label: optional column to write next to the points (all points when there are
            20 or fewer, otherwise only the Pareto-optimal ones).
        normalize_resource: min-max normalise ``df[resource]`` first.
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes. The title says "(synthetic data)" when a ``synthetic`` column is true.

    Raises:
        ValueError: missing columns, P outside [0, 1], bad resource values.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from peprkit.examples import example_results
    >>> ax = pareto(example_results(), performance="test_acc", resource="energy_kwh")
    >>> ax.get_title()
    'Pareto front: test_acc vs energy_kwh (synthetic data)'
    """
    _require_columns(df, [performance], "performance")
    _require_columns(df, [resource], "resource")
    if label is not None:
        _require_columns(df, [label], "label")
    p = _column(df, performance)
    _check_performance(p, f"df[{performance!r}]")
    r = _column(df, resource)
    _check_resource(r, f"df[{resource!r}]", "resources are amounts and cannot be negative.")
    if normalize_resource:
        r = normalize(r)
    front = pareto_front(p, r)

    ax = _axes(ax)
    pad = 0.05
    p_lo = max(0.0, float(p.min(initial=1.0)) - pad)
    p_hi = min(1.0, float(p.max(initial=0.0)) + pad)
    r_hi = max(1.0, float(r.max(initial=0.0))) + pad
    gr, gp, gz = _pepr_grid(r_hi, p_lo, max(p_hi, p_lo + pad))
    shade = ax.contourf(gr, gp, gz, levels=12, cmap=_CMAP, alpha=0.35)
    ax.figure.colorbar(shade, ax=ax, label="PePR = P / (1 + R)")
    ax.scatter(r[~front], p[~front], s=30, color="0.35", label="dominated runs", zorder=3)
    order = np.argsort(r[front], kind="stable")
    ax.plot(r[front][order], p[front][order], "-o", color=_FRONT, ms=8, lw=1.8,
            label="Pareto front", zorder=4)
    if label is not None:
        names = df[label].astype(str).to_numpy()
        show = np.ones(len(df), bool) if len(df) <= 20 else front
        for x, y, text in zip(r[show], p[show], names[show], strict=True):
            left = x > 0.7 * r_hi  # keep labels near the right edge inside the Axes
            ax.annotate(text, (x, y), xytext=(-4 if left else 4, 4), textcoords="offset points",
                        ha="right" if left else "left", fontsize=8)
    ax.set_xlim(-pad, r_hi)
    ax.set_ylim(p_lo, max(p_hi, p_lo + pad))
    unit = "min-max normalised" if normalize_resource else "as given"
    ax.set_xlabel(f"{resource} ({unit}), R")
    ax.set_ylabel(f"{performance}, P")
    ax.set_title(_title(f"Pareto front: {performance} vs {resource}", df))
    ax.legend(loc="lower right", fontsize=8)
    return ax


def versus_params(
    df: pd.DataFrame, *, score: str, params: str = "num_params", ax: Any = None
) -> Any:
    """A score against log10 of the parameter count; the at-or-under-median region shaded.

    Short horizontal lines mark the median score of the small (``params <= median``)
    and large models, as compared by :func:`peprkit.metric.compare_sizes`.

    Args:
        df: one row per model.
        score: column to plot (e.g. ``"test_acc"`` or ``"pepr_e"``).
        params: parameter-count column (positive numbers).
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes. The title says "(synthetic data)" when a ``synthetic`` column is true.

    Raises:
        ValueError: no rows, missing columns, non-finite scores, parameter counts <= 0.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from peprkit.examples import example_results
    >>> versus_params(example_results(), score="test_acc").get_xlabel()
    'Number of parameters (log$_{10}$)'
    """
    _require_columns(df, [score], "score")
    _require_columns(df, [params], "params")
    if len(df) == 0:
        raise ValueError("`df` has no rows; pass at least one model.")
    y, n = _column(df, score), _column(df, params)
    _check_finite(y, f"df[{score!r}]")
    _check_resource(n, f"df[{params!r}]", "parameter counts are positive.")
    if (n == 0).any():
        raise ValueError(
            f"`df[{params!r}]` must be > 0 (its log10 is plotted), got "
            f"{_first_bad(n, n == 0)}; drop the models without a parameter count."
        )
    ax = _axes(ax)
    x = np.log10(n)
    cut = float(np.median(n))
    small = n <= cut
    pad = 0.1 * max(float(np.ptp(x)), 1.0)
    ax.axvspan(x.min() - pad, np.log10(cut), color="tab:green", alpha=0.12,
               label=f"at or under median ({_format_count(cut)})")
    ax.axvline(np.log10(cut), color="tab:green", ls="--", lw=1)
    ax.scatter(x, y, s=36, color="tab:blue", zorder=3, label="models")
    for mask, lo, hi, name in ((small, x.min() - pad, np.log10(cut), "small"),
                               (~small, np.log10(cut), x.max() + pad, "large")):
        if mask.any():
            med = float(np.median(y[mask]))
            ax.hlines(med, lo, hi, color="0.3", ls=":", lw=1.5)
            ax.annotate(f"median {name}: {med:.3f}", ((lo + hi) / 2, med), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=8, color="0.3")
    ax.set_xlim(x.min() - pad, x.max() + pad)
    ax.set_xlabel("Number of parameters (log$_{10}$)")
    ax.set_ylabel(score)
    ax.set_title(_title(f"{score} vs model size", df))
    ax.legend(loc="best", fontsize=8)
    return ax


def groups(data: Mapping[str, Any], *, ax: Any = None, ylabel: str = "score") -> Any:
    """Violins of two or more groups with two-sided Mann-Whitney U p-value brackets.

    With more than two groups every group is compared with the first one (the
    reference, e.g. "pretrained" or "100% data"); the brackets are stacked.

    Args:
        data: group name -> values (e.g. ``{"pretrained": a, "scratch": b}``).
        ax: Axes to draw on (a new figure when None).
        ylabel: label of the y axis.

    Returns:
        The Axes.

    Raises:
        ValueError: fewer than two groups, an empty group, non-finite values.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = groups({"pretrained": [0.84, 0.86, 0.88], "scratch": [0.70, 0.72, 0.75]})
    >>> [t.get_text() for t in ax.texts]
    ['p=0.100']
    """
    if not isinstance(data, Mapping) or len(data) < 2:
        raise ValueError(
            f"`data` must be a dict of at least two groups, got {type(data).__name__} "
            f"with {len(data) if isinstance(data, Mapping) else 0} group(s); "
            "pass e.g. {'pretrained': scores_a, 'scratch': scores_b}."
        )
    values = []
    for name, vals in data.items():
        arr = np.asarray(vals, dtype=float).ravel()
        if arr.size == 0 or not np.isfinite(arr).all():
            raise ValueError(
                f"group {name!r} in `data` must hold finite numbers, got {len(arr)} values "
                f"({arr[:5].tolist()}...); drop missing runs and empty groups."
            )
        values.append(arr)
    from scipy.stats import mannwhitneyu

    ax = _axes(ax)
    pos = np.arange(1, len(values) + 1)
    ax.violinplot(values, positions=pos, showmedians=True)
    ax.set_xticks(pos, [f"{name}\n(n={len(v)})" for name, v in zip(data, values, strict=True)])
    top = max(float(v.max()) for v in values)
    span = max(top - min(float(v.min()) for v in values), 0.05)
    step, tick = 0.12 * span, 0.03 * span
    for i in range(1, len(values)):
        p_value = mannwhitneyu(values[0], values[i], alternative="two-sided").pvalue
        y = top + i * step
        ax.plot([pos[0], pos[0], pos[i], pos[i]], [y - tick, y, y, y - tick], color="k", lw=1.2)
        ax.text((pos[0] + pos[i]) / 2, y + tick / 2, _format_p(float(p_value)), ha="center",
                va="bottom")
    ax.set_ylim(top=top + len(values) * step)
    ax.set_ylabel(ylabel)
    ax.set_title(f"Two-sided Mann-Whitney U test vs {next(iter(data))!r}")
    return ax


def curve(
    performance: Any,
    resource: Any,
    *,
    resource_range: tuple[float, float] | None = None,
    steps: Any = None,
    ax: Any = None,
) -> Any:
    """A training run's performance and PePR against normalised resource, peak marked.

    Uses :func:`peprkit.metric.pepr_curve`; the star marks ``P_ePRc*``, the highest PePR
    along the run (:func:`peprkit.metric.pepr_optimum`). With 20 steps or fewer each
    performance point is labelled with its step.

    Args:
        performance: P after each step (e.g. ``history["test_acc"]``).
        resource: resource used so far at each step (e.g. ``history["energy_kwh"]``).
        resource_range: ``(min, max)`` to normalise against (default: the run's own).
        steps: step labels (default 1..n).
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes.

    Raises:
        ValueError: as :func:`peprkit.metric.pepr_curve`.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = curve([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0])
    >>> ax.get_legend_handles_labels()[1][-1]
    'P_ePRc* = 0.600 (step 2)'
    """
    c = pepr_curve(performance, resource, resource_range=resource_range, steps=steps)
    best = pepr_optimum(performance, resource, resource_range=resource_range, steps=steps)
    ax = _axes(ax)
    ax.plot(c["resource_norm"], c["performance"], "-o", color="tab:blue", label="performance, P")
    ax.plot(c["resource_norm"], c["pepr"], "-s", color="tab:orange", label="PePR = P / (1 + R)")
    ax.axvline(best.resource_norm, color=_FRONT, ls=":", lw=1)
    ax.plot([best.resource_norm], [best.pepr], "*", color=_FRONT, ms=16, zorder=4,
            label=f"P_ePRc* = {best.pepr:.3f} (step {best.step})")
    if len(c) <= 20:
        for x, y, step in zip(c["resource_norm"], c["performance"], c["step"], strict=True):
            ax.annotate(str(step), (x, y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=7, color="tab:blue")
    ax.set_xlabel("Normalised resource, R")
    ax.set_ylabel("Score")
    ax.set_title("PePR along a training run")
    ax.legend(loc="best", fontsize=8)
    return ax


def history(
    history: pd.DataFrame,
    columns: str | list[str] = ("train_acc", "val_acc", "test_acc"),
    *,
    ylabel: str | None = None,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Per-epoch curves of a training run's history (one line per column).

    Args:
        history: ``Run.history``, one row per epoch with an ``epoch`` column.
        columns: the column(s) to draw, e.g. ``"energy_kwh"`` or the accuracies.
        ylabel, title: axis label and title (default: the column names).
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes.

    Raises:
        ValueError: a column is missing.

    >>> h = pd.DataFrame({"epoch": [1, 2], "train_acc": [0.6, 0.8], "val_acc": [0.5, 0.7],
    ...                   "test_acc": [0.55, 0.72]})
    >>> [line.get_label() for line in history(h).get_lines()]
    ['train_acc', 'val_acc', 'test_acc']
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    _require_columns(history, ["epoch", *columns], "columns")
    ax = _axes(ax)
    for col in columns:
        ax.plot(history["epoch"], _column(history, col), marker="o", label=col)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or ", ".join(columns))
    ax.set_title(_title(title or ", ".join(columns) + " per epoch", history))
    if len(columns) > 1:
        ax.legend()
    return ax


def bars(
    values: Mapping[str, float] | pd.Series,
    *,
    xlabel: str = "",
    title: str = "",
    ax: Any = None,
) -> Any:
    """Horizontal bars of named values, smallest at the bottom, each labelled with its value.

    Used for carbon intensity or emissions by country, energy by model, and the like.

    Args:
        values: a Series (index = names) or a mapping name -> number; finite values.
        xlabel, title: with the unit in the label, e.g. ``"g CO2eq per kWh"``.
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes.

    Raises:
        ValueError: no values, or a value that is not finite.

    >>> ax = bars({"France": 44, "Poland": 615}, xlabel="g CO2eq per kWh")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['France', 'Poland']
    """
    series = pd.Series(values, dtype=float).sort_values()
    if series.empty:
        raise ValueError("`values` is empty; pass a Series or dict of name -> number.")
    _check_finite(series.to_numpy(), "values")
    ax = _axes(ax)
    bar_container = ax.barh([str(i) for i in series.index], series.to_numpy(), color="tab:green")
    ax.bar_label(bar_container, fmt="%.3g", padding=2, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.margins(x=0.12)
    return ax


def images(
    images: Any,
    labels: Any,
    *,
    class_names: Mapping[int, str] | list[str] | None = None,
    n: int = 16,
    ncols: int = 8,
    title: str | None = None,
    fig: Any = None,
) -> np.ndarray:
    """A grid of the first ``n`` images, each titled with its label.

    An image grid needs one Axes per image, so this helper takes a Figure (``fig=None``
    makes one) and returns the array of Axes.

    Args:
        images: array-like of shape (N, H, W), (N, C, H, W) or (N, H, W, C), uint8 or float.
        labels: N labels (ints, or rows of a multi-label matrix; the first entry is shown).
        class_names: names by class index, e.g. ``data.class_names``.
        n, ncols: how many images, and per row.
        title: figure title.
        fig: a matplotlib Figure to draw in.

    Returns:
        The Axes, as a 2-D numpy array.

    Raises:
        ValueError: ``n`` is not a positive integer or there are no images.

    >>> axes = images(np.zeros((4, 1, 8, 8), dtype="uint8"), [0, 1, 0, 1],
    ...               class_names=["a", "b"], n=4, ncols=2)
    >>> [ax.get_title() for ax in axes.flat]
    ['a', 'b', 'a', 'b']
    """
    import matplotlib.pyplot as plt

    arr = np.asarray(images)
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive integer, got {n!r}; e.g. n=16.")
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise ValueError(
            f"`images` must be a non-empty stack of shape (N, H, W) or (N, C, H, W), got "
            f"shape {arr.shape}; pass e.g. data.train.images."
        )
    if arr.ndim == 4 and arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(0, 2, 3, 1)  # channels last for imshow
    n = min(n, len(arr))
    nrows = -(-n // ncols)
    ncols = min(ncols, n)
    if fig is None:
        fig = plt.figure(figsize=(1.5 * ncols, 1.7 * nrows), layout="constrained")
    axes = np.atleast_2d(fig.subplots(nrows, ncols, squeeze=False))
    labels = np.asarray(labels)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        image = arr[i].squeeze() if arr.ndim == 4 and arr.shape[-1] == 1 else arr[i]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        label = int(np.ravel(labels[i])[0])
        name = class_names[label] if class_names is not None else str(label)
        ax.set_title(str(name)[:18], fontsize=8)
    if title:
        fig.suptitle(title)
    return axes
