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

from peprkit._validation import (
    check_finite,
    check_performance,
    check_resource,
    column_values,
    first_bad,
    require_columns,
    show,
)
from peprkit.metric import (
    normalize,
    pareto_front,
    pepr,
    pepr_curve,
    pepr_optimum,
)

__all__ = ["bars", "curve", "energy_vs_params", "epoch_pareto", "groups", "history", "images",
           "pareto", "profile", "versus_params"]

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


def _is_synthetic(df: pd.DataFrame) -> bool:
    """Whether any row is synthetic: a true ``synthetic`` column, or a ``dataset`` name
    that says so (the stand-ins of :func:`peprkit.data.load_or_synthetic`)."""
    if "synthetic" in df.columns and df["synthetic"].fillna(False).astype(bool).any():
        return True
    return "dataset" in df.columns and bool(
        df["dataset"].astype(str).str.contains("synthetic").any())


def _title(text: str, df: pd.DataFrame | None = None, *, synthetic: bool = False) -> str:
    """``text``, marked '(synthetic data)' when the data is synthetic."""
    if synthetic or (df is not None and _is_synthetic(df)):
        return f"{text} (synthetic data)"
    return text


#: Colour and line style of successive baselines (the majority class first).
_BASELINE_STYLES = (("0.15", "--"), ("tab:purple", ":"), ("tab:brown", "-."), ("0.5", "--"))
#: Units of the kit's column suffixes, for axes that show a resource in its own unit.
_UNITS = (("_kwh", "kWh"), ("_wh", "Wh"), ("_gb", "GB"), ("_mb", "MB"), ("_g", "g CO2eq"),
          ("_s", "s"))


def _unit(column: str) -> str:
    """The unit a column name carries (``energy_kwh`` -> ``kWh``), else ``''``.

    >>> _unit("energy_kwh"), _unit("memory_gb"), _unit("co2_g"), _unit("R")
    ('kWh', 'GB', 'g CO2eq', '')
    """
    for suffix, unit in _UNITS:
        if str(column).endswith(suffix):
            return unit
    return ""


def _baselines(baseline: Any) -> list[tuple[str, float]]:
    """``baseline`` (None, a number, equal numbers such as ``df["majority_acc"]``, or a
    mapping label -> number) as ``[(label, value), ...]``."""
    if baseline is None:
        return []
    items = (list(baseline.items()) if isinstance(baseline, Mapping)
             else [("majority-class baseline", baseline)])
    if not items:
        raise ValueError("`baseline` is an empty mapping; pass a number such as 0.731 or "
                         "{'majority class': 0.731}.")
    out = []
    for name, value in items:
        try:
            values = np.unique(np.asarray(value, dtype=float).ravel())
            shown = show(values.tolist() if values.size > 1 else value)
        except (TypeError, ValueError):
            values, shown = np.array([np.nan]), show(value)
        if values.size != 1 or not np.isfinite(values[0]):
            raise ValueError(
                f"`baseline` must be one finite number per label, got {shown} for "
                f"{name!r}; pass e.g. baseline=results['majority_acc'].iloc[0] or "
                "baseline={'majority class': 0.731} (one number per dataset)."
            )
        out.append((str(name), float(values[0])))
    return out


def _draw_baselines(ax: Any, items: list[tuple[str, float]]) -> None:
    """Each baseline as a horizontal line across the Axes, in its own style, named with its
    value in the legend (the lines carry ``gid="baseline"``; callers show a legend)."""
    for i, (name, value) in enumerate(items):
        color, style = _BASELINE_STYLES[i % len(_BASELINE_STYLES)]
        ax.axhline(value, color=color, ls=style, lw=1.3, zorder=2.5, gid="baseline",
                   label=f"{name} ({value:.3f})")


def _real_unit_axis(ax: Any, column: str, lo: float, span: float, how: str) -> Any:
    """A secondary x axis on top showing ``R`` in the column's own unit (``lo + R * span``)."""
    if not span > 0:
        return None
    unit = _unit(column)
    top = ax.secondary_xaxis("top", functions=(lambda r: lo + np.asarray(r) * span,
                                               lambda x: (np.asarray(x) - lo) / span))
    top.set_xlabel(f"{column}" + (f" ({unit}, {how})" if unit else f" ({how})"), fontsize=8)
    top.tick_params(labelsize=7)
    from matplotlib.ticker import FuncFormatter

    top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))  # no "1e-6" offset
    return top


def _label_offsets(ax: Any, x: np.ndarray, y: np.ndarray, names: list[str], *,
                   right_of: float, points: np.ndarray | None = None,
                   fontsize: float = 8.0) -> list[tuple[float, float, str]]:
    """Offsets ``(dx, dy, ha)`` in points so that point labels overlap neither each other
    nor the markers.

    Deterministic: labels are placed in order of x then y; each takes the first free place
    among: above-right of its point (above-left near the right edge), the other side,
    then one, two, ... label heights above or below on either side. A label's box is
    estimated from its length (0.62 font sizes per character) and markers are 8-point
    squares, so the result does not depend on a renderer.
    """
    to_pt = 72.0 / ax.figure.dpi
    anchors = ax.transData.transform(np.column_stack([x, y])) * to_pt
    marks = anchors if points is None else ax.transData.transform(points) * to_pt
    placed = [(mx - 4.0, my - 4.0, mx + 4.0, my + 4.0) for mx, my in marks]
    frame = ax.get_window_extent()
    left_edge, right_edge = frame.x0 * to_pt, frame.x1 * to_pt
    height, margin = 1.3 * fontsize, 1.5
    out: list[tuple[float, float, str]] = [(0.0, 0.0, "left")] * len(names)
    for i in np.lexsort((y, x)):
        first_left = bool(x[i] > right_of)  # keep labels near the right edge inside the Axes
        width = 0.62 * fontsize * len(names[i])
        ax_pt, ay_pt = anchors[i]
        choice = None
        for k in range(0, 13):
            step = (k + 1) // 2 * (1 if k % 2 else -1) if k else 0
            dy = 3.0 + step * (height + margin)
            for left in (first_left, not first_left):
                dx = -4.0 if left else 4.0
                x0 = ax_pt + dx - (width if left else 0.0)
                box = (x0, ay_pt + dy, x0 + width, ay_pt + dy + height)
                inside = left_edge <= box[0] and box[2] <= right_edge
                if inside and not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3]
                                      and b[1] < box[3] for b in placed):
                    choice = (box, (dx, dy, "right" if left else "left"))
                    break
            if choice:
                break
        if choice is None:  # crowded beyond 6 label heights: keep the default place
            dx = -4.0 if first_left else 4.0
            x0 = ax_pt + dx - (width if first_left else 0.0)
            choice = ((x0, ay_pt + 3.0, x0 + width, ay_pt + 3.0 + height),
                      (dx, 3.0, "right" if first_left else "left"))
        placed.append(choice[0])
        out[i] = choice[1]
    return out


def _format_p(p_value: float) -> str:
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def _format_count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,.0f}"


def profile(*, ax: Any = None, levels: int = 10) -> Any:
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
    reference: float | None = None,
    baseline: Any = None,
    synthetic: bool = False,
    ax: Any = None,
) -> Any:
    """Performance against normalised resource with the Pareto front highlighted.

    The background is shaded by the PePR value ``P / (1 + R)`` of each position; the
    Pareto-optimal runs (no other run is both better and cheaper, see
    :func:`peprkit.metric.pareto_front`) are drawn larger and joined in order of R.
    When R is normalised, a secondary x axis on top shows the resource in its own unit
    (kWh, GB, ...), read from the column name.

    Args:
        df: one row per run (use one dataset at a time: R is min-max normalised over
            the rows given).
        performance: column with P in [0, 1].
        resource: resource column (raw units; normalised here unless
            ``normalize_resource=False``, e.g. for an ``..._norm`` column).
        label: optional column to write next to the points (all points when there are
            20 or fewer, otherwise only the Pareto-optimal ones); labels of nearby points
            are moved apart so that they do not overlap.
        normalize_resource: min-max normalise ``df[resource]`` first.
        reference: a fixed budget in the resource's unit: ``R = resource / reference``
            (:func:`peprkit.metric.normalize`) instead of min-max; ``R = 1`` is the budget.
        baseline: P of a model that learned nothing, drawn as a labelled horizontal
            line: a number (e.g. the ``majority_acc`` of the dataset), or a mapping
            label -> number for several.
        synthetic: the runs used synthetic data (the title says so; also when a
            ``synthetic`` column is true or a ``dataset`` name says "synthetic").
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes. The title says "(synthetic data)" when the data is synthetic.

    Raises:
        ValueError: missing columns, P outside [0, 1], bad resource values, a bad
            ``reference`` or ``baseline``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> from peprkit.examples import example_results
    >>> ax = pareto(example_results(), performance="test_acc", resource="energy_kwh",
    ...             baseline=0.731)
    >>> ax.get_title()
    'Pareto front: test_acc vs energy_kwh (synthetic data)'
    >>> ax.get_legend_handles_labels()[1][-1]
    'majority-class baseline (0.731)'
    """
    require_columns(df, [performance], arg="performance")
    require_columns(df, [resource], arg="resource")
    if label is not None:
        require_columns(df, [label], arg="label")
    p = column_values(df, performance)
    check_performance(p, f"df[{performance!r}]")
    raw = column_values(df, resource)
    check_resource(raw, f"df[{resource!r}]", "resources are amounts and cannot be negative.")
    lines = _baselines(baseline)
    if reference is not None:
        r = normalize(raw, reference=reference)
        unit = f"per budget of {reference:.3g} {_unit(resource)}".rstrip()
        real = (0.0, float(reference), "top axis: as measured")
    elif normalize_resource:
        r = normalize(raw)
        unit = "min-max normalised"
        lo = float(raw.min(initial=np.inf)) if raw.size else 0.0
        real = (lo, float(raw.max(initial=0.0)) - lo if raw.size else 0.0,
                "top axis: as measured")
    else:
        r, unit, real = raw, "as given", None
    front = pareto_front(p, r)

    ax = _axes(ax)
    pad = 0.05
    low = min([float(p.min(initial=1.0))] + [v for _, v in lines])
    high = max([float(p.max(initial=0.0))] + [v for _, v in lines])
    p_lo = max(0.0, low - pad)
    p_hi = min(1.0, high + pad)
    r_hi = max(1.0, float(r.max(initial=0.0))) + pad
    gr, gp, gz = _pepr_grid(r_hi, p_lo, max(p_hi, p_lo + pad))
    shade = ax.contourf(gr, gp, gz, levels=12, cmap=_CMAP, alpha=0.35)
    ax.figure.colorbar(shade, ax=ax, label="PePR = P / (1 + R)")
    ax.scatter(r[~front], p[~front], s=30, color="0.35", label="dominated runs", zorder=3)
    order = np.argsort(r[front], kind="stable")
    ax.plot(r[front][order], p[front][order], "-o", color=_FRONT, ms=8, lw=1.8,
            label="Pareto front", zorder=4)
    _draw_baselines(ax, lines)
    ax.set_xlim(-pad, r_hi)
    ax.set_ylim(p_lo, max(p_hi, p_lo + pad))
    if label is not None:
        names = df[label].astype(str).to_numpy()
        show = np.ones(len(df), bool) if len(df) <= 20 else front
        xs, ys, texts = r[show], p[show], [str(t) for t in names[show]]
        offsets = _label_offsets(ax, xs, ys, texts, right_of=0.7 * r_hi,
                                 points=np.column_stack([r, p]))
        for x, y, text, (dx, dy, ha) in zip(xs, ys, texts, offsets, strict=True):
            moved = dy != 3.0  # a label moved away from its point gets a thin leader line
            ax.annotate(text, (x, y), xytext=(dx, dy), textcoords="offset points",
                        ha=ha, va="bottom", fontsize=8,
                        arrowprops=dict(arrowstyle="-", lw=0.6, color="0.35",
                                        shrinkA=0, shrinkB=3) if moved else None)
    if real is not None:
        _real_unit_axis(ax, resource, *real)
    ax.set_xlabel(f"{resource} ({unit}), R")
    ax.set_ylabel(f"{performance}, P")
    ax.set_title(_title(f"Pareto front: {performance} vs {resource}", df, synthetic=synthetic))
    # below the Axes: the PePR shading fills the plot, so no place inside is free of it
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8,
              frameon=False)
    return ax


def versus_params(
    df: pd.DataFrame,
    *,
    score: str,
    params: str = "num_params",
    threshold: float | str = "median",
    threshold_note: str = "threshold given",
    baseline: Any = None,
    ax: Any = None,
) -> Any:
    """A score against log10 of the parameter count; the small-model region shaded.

    Models with ``params <= threshold`` are small (the region shaded green), as compared
    by :func:`peprkit.metric.compare_sizes`; short horizontal lines mark the median score
    of the small and of the large models. The legend says where the split is and why.

    Args:
        df: one row per model.
        score: column to plot (e.g. ``"test_acc"`` or ``"pepr_e"``).
        params: parameter-count column (positive numbers).
        threshold: ``"median"`` (of ``df[params]``) or a parameter count, e.g. the
            paper's ``24.6e6``.
        threshold_note: where a numeric threshold comes from, said in the legend, e.g.
            ``"the paper's split"``.
        baseline: the score of a model that learned nothing, drawn as a labelled
            horizontal line (a number, or a mapping label -> number); for accuracy, the
            dataset's ``majority_acc``.
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
    y, n = column_values(df, score), column_values(df, params)
    check_finite(y, f"df[{score!r}]")
    check_resource(n, f"df[{params!r}]", "parameter counts are positive.")
    if (n == 0).any():
        raise ValueError(
            f"`df[{params!r}]` must be > 0 (its log10 is plotted), got "
            f"{first_bad(n, n == 0)}; drop the models without a parameter count."
        )
    if isinstance(threshold, str) and threshold == "median":
        cut, why = float(np.median(n)), "the median of these models"
    elif (isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool)
          and np.isfinite(threshold) and threshold > 0):
        cut, why = float(threshold), str(threshold_note)
    else:
        raise ValueError(f"threshold={show(threshold)} must be 'median' or a positive "
                         "parameter count; pass e.g. threshold=24.6e6 (the paper's split).")
    lines = _baselines(baseline)
    ax = _axes(ax)
    x = np.log10(n)
    small = n <= cut
    lo_x, hi_x = min(x.min(), np.log10(cut)), max(x.max(), np.log10(cut))
    pad = 0.1 * max(float(hi_x - lo_x), 1.0)
    name = "median" if why.startswith("the median") else _format_count(cut)
    label = (f"small: at or under median ({_format_count(cut)})" if name == "median"
             else f"small: at or under {name} parameters ({why})")
    ax.axvspan(lo_x - pad, np.log10(cut), color="tab:green", alpha=0.12, label=label)
    ax.axvline(np.log10(cut), color="tab:green", ls="--", lw=1)
    ax.scatter(x, y, s=36, color="tab:blue", zorder=3, label="models")
    for mask, lo, hi, group in ((small, lo_x - pad, np.log10(cut), "small"),
                                (~small, np.log10(cut), hi_x + pad, "large")):
        if mask.any():
            med = float(np.median(y[mask]))
            ax.hlines(med, lo, hi, color="0.3", ls=":", lw=1.5)
            ax.annotate(f"median {group}: {med:.3f}", ((lo + hi) / 2, med), xytext=(0, 4),
                        textcoords="offset points", ha="center", fontsize=8, color="0.3")
    _draw_baselines(ax, lines)
    ax.set_xlim(lo_x - pad, hi_x + pad)
    ax.set_xlabel("Number of parameters (log$_{10}$)")
    ax.set_ylabel(score)
    ax.set_title(_title(f"{score} vs model size", df))
    ax.legend(loc="best", fontsize=8)
    return ax


def groups(
    data: Mapping[str, Any],
    *,
    ylabel: str = "score",
    baseline: Any = None,
    synthetic: bool = False,
    ax: Any = None,
) -> Any:
    """Violins of two or more groups with two-sided Mann-Whitney U p-value brackets.

    With more than two groups every group is compared with the first one (the
    reference, e.g. "pretrained" or "100% data"); the brackets are stacked.

    Args:
        data: group name -> values (e.g. ``{"pretrained": a, "scratch": b}``).
        ax: Axes to draw on (a new figure when None).
        ylabel: label of the y axis.
        baseline: the score of a model that learned nothing (a number, e.g. the
            dataset's ``majority_acc``, or a mapping label -> number), drawn as a
            labelled horizontal line.
        synthetic: the scores come from synthetic data (the title says so).

    Returns:
        The Axes.

    Raises:
        ValueError: fewer than two groups, an empty group, non-finite values, a bad
            ``baseline``.

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
    lines = _baselines(baseline)
    from scipy.stats import mannwhitneyu

    ax = _axes(ax)
    pos = np.arange(1, len(values) + 1)
    ax.violinplot(values, positions=pos, showmedians=True)
    ax.set_xticks(pos, [f"{name}\n(n={len(v)})" for name, v in zip(data, values, strict=True)])
    _draw_baselines(ax, lines)
    top = max([float(v.max()) for v in values] + [v for _, v in lines])
    span = max(top - min([float(v.min()) for v in values] + [v for _, v in lines]), 0.05)
    step, tick = 0.12 * span, 0.03 * span
    for i in range(1, len(values)):
        p_value = mannwhitneyu(values[0], values[i], alternative="two-sided").pvalue
        y = top + i * step
        ax.plot([pos[0], pos[0], pos[i], pos[i]], [y - tick, y, y, y - tick], color="k", lw=1.2)
        ax.text((pos[0] + pos[i]) / 2, y + tick / 2, _format_p(float(p_value)), ha="center",
                va="bottom")
    ax.set_ylim(top=top + len(values) * step)
    ax.set_ylabel(ylabel)
    ax.set_title(_title(f"Two-sided Mann-Whitney U test vs {next(iter(data))!r}",
                        synthetic=synthetic))
    if lines:
        ax.legend(loc="lower right", fontsize=8)
    return ax


def curve(
    performance: Any,
    resource: Any,
    *,
    resource_range: tuple[float, float] | None = None,
    reference: float | None = None,
    steps: Any = None,
    baseline: Any = None,
    synthetic: bool = False,
    ax: Any = None,
) -> Any:
    """A training run's performance and PePR against normalised resource, peak marked.

    Uses :func:`peprkit.metric.pepr_curve`; the star marks ``P_ePRc*``, the highest PePR
    along the run (:func:`peprkit.metric.pepr_optimum`). With 20 steps or fewer each
    performance point is labelled with its step. A secondary x axis on top shows the
    resource in its own unit when ``resource`` is a named Series (e.g.
    ``history["energy_kwh"]``).

    Args:
        performance: P after each step (e.g. ``history["val_acc"]``).
        resource: resource used so far at each step (e.g. ``history["energy_kwh"]``).
        resource_range: ``(min, max)`` to normalise against (default: the run's own).
        reference: a fixed budget in the resource's unit instead: ``R = resource /
            reference`` (R may exceed 1), so the peak does not depend on where the run
            stopped.
        steps: step labels (default 1..n).
        baseline: P of a model that learned nothing (a number, e.g. the dataset's
            ``majority_acc``, or a mapping label -> number), drawn as a labelled line.
        synthetic: the run used synthetic data (the title says so).
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes.

    Raises:
        ValueError: as :func:`peprkit.metric.pepr_curve`; both ``resource_range`` and
            ``reference``; a bad ``reference`` or ``baseline``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = curve([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0])
    >>> ax.get_legend_handles_labels()[1][-1]
    'P_ePRc* = 0.600 (step 2)'
    >>> ax = curve([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0], reference=40.0)
    >>> ax.get_legend_handles_labels()[1][-1]
    'P_ePRc* = 0.781 (step 3)'
    """
    if reference is not None and resource_range is not None:
        raise ValueError(f"pass resource_range={resource_range!r} or reference={reference!r}, "
                         "not both: a fixed reference means R = resource / reference.")
    lines = _baselines(baseline)
    name = getattr(resource, "name", None)
    p_name = getattr(performance, "name", None) or "performance"
    if reference is not None:
        r_arr = np.asarray(resource, dtype=float)
        r_norm = normalize(r_arr, reference=reference)
        top = max(float(reference), float(np.max(r_arr, initial=0.0)))
        c = pepr_curve(performance, resource, resource_range=(0.0, top), steps=steps)
        c["resource_norm"] = r_norm  # R = resource / reference, > 1 past the reference
        c["pepr"] = pepr(c["performance"].to_numpy(), r_norm)
        i = int(np.argmax(c["pepr"].to_numpy()))
        peak = (float(r_norm[i]), float(c["pepr"].iloc[i]), c["step"].iloc[i])
        real = (0.0, float(reference))
        xlabel = f"{name or 'resource'} / reference of {reference:.3g} {_unit(name or '')}"
    else:
        c = pepr_curve(performance, resource, resource_range=resource_range, steps=steps)
        best = pepr_optimum(performance, resource, resource_range=resource_range, steps=steps)
        peak = (best.resource_norm, best.pepr, best.step)
        r = np.asarray(resource, dtype=float)
        lo, hi = resource_range if resource_range is not None else (r.min(), r.max())
        real = (float(lo), float(hi) - float(lo))
        xlabel = "Normalised resource, R"
    ax = _axes(ax)
    ax.margins(y=0.1)  # room for the step labels above the points
    ax.plot(c["resource_norm"], c["performance"], "-o", color="tab:blue", label=f"{p_name}, P")
    ax.plot(c["resource_norm"], c["pepr"], "-s", color="tab:orange", label="PePR = P / (1 + R)")
    _draw_baselines(ax, lines)
    ax.axvline(peak[0], color=_FRONT, ls=":", lw=1)
    ax.plot([peak[0]], [peak[1]], "*", color=_FRONT, ms=16, zorder=4,
            label=f"P_ePRc* = {peak[1]:.3f} (step {peak[2]})")
    if len(c) <= 20:
        for x, y, step in zip(c["resource_norm"], c["performance"], c["step"], strict=True):
            ax.annotate(str(step), (x, y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=7, color="tab:blue")
    if name:
        _real_unit_axis(ax, str(name), *real, "top axis: as measured")
    if reference is not None:
        ax.set_xlim(left=0.0)  # every epoch is charged from zero energy
    ax.set_xlabel(xlabel.rstrip() + (", R" if reference is not None else ""))
    ax.set_ylabel("Score")
    ax.set_title(_title("PePR along a training run", synthetic=synthetic))
    ax.legend(loc="best", fontsize=8)
    return ax


def history(
    history: pd.DataFrame,
    columns: str | list[str] = ("train_acc", "val_acc", "test_acc"),
    *,
    ylabel: str | None = None,
    title: str | None = None,
    baseline: Any = None,
    synthetic: bool = False,
    ax: Any = None,
) -> Any:
    """Per-epoch curves of a training run's history (one line per column).

    Args:
        history: ``Run.history``, one row per epoch with an ``epoch`` column.
        columns: the column(s) to draw, e.g. ``"energy_kwh"`` or the accuracies.
        ylabel, title: axis label and title (default: the column names).
        baseline: a reference level drawn as a labelled horizontal line: a number
            (for accuracies, the dataset's ``majority_acc``), or a mapping label ->
            number, e.g. ``{"majority class": 0.731, "target": 0.82}``.
        synthetic: the run used synthetic data (the title says so; also when the
            history has a true ``synthetic`` column).
        ax: Axes to draw on; a new figure when None.

    Returns:
        The Axes.

    Raises:
        ValueError: a column is missing, a bad ``baseline``.

    >>> h = pd.DataFrame({"epoch": [1, 2], "train_acc": [0.6, 0.8], "val_acc": [0.5, 0.7],
    ...                   "test_acc": [0.55, 0.72]})
    >>> [line.get_label() for line in history(h).get_lines()]
    ['train_acc', 'val_acc', 'test_acc']
    >>> history(h, "val_acc", baseline=0.731).get_legend_handles_labels()[1]
    ['val_acc', 'majority-class baseline (0.731)']
    """
    columns = [columns] if isinstance(columns, str) else list(columns)
    require_columns(history, ["epoch", *columns], arg="columns")
    lines = _baselines(baseline)
    ax = _axes(ax)
    for col in columns:
        ax.plot(history["epoch"], column_values(history, col), marker="o", label=col)
    _draw_baselines(ax, lines)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or ", ".join(columns))
    ax.set_title(_title(title or ", ".join(columns) + " per epoch", history, synthetic=synthetic))
    if len(columns) > 1 or lines:
        ax.legend(fontsize=8)
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
    check_finite(series.to_numpy(), "values")
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


# --- the paper's Figures 2c and 4a -----------------------------------------------------


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
    e, n = column_values(df, energy), column_values(df, params)
    check_resource(e, f"df[{energy!r}]", "energy is an amount and cannot be negative.")
    check_resource(n, f"df[{params!r}]", "parameter counts are positive.")
    if (n == 0).any():
        raise ValueError(f"`df[{params!r}]` must be > 0 (its log10 is plotted), got "
                         f"{first_bad(n, n == 0)}; drop the models without a parameter count.")
    if isinstance(threshold, str) and threshold == "median":
        cut, label = float(np.median(n)), f"median: {_format_count(float(np.median(n)))} parameters"
    elif (isinstance(threshold, (int, float, np.number)) and not isinstance(threshold, bool)
          and np.isfinite(threshold) and threshold > 0):
        cut, label = float(threshold), f"split at {_format_count(float(threshold))} parameters"
    else:
        raise ValueError(f"threshold={threshold!r} must be 'median' or a positive parameter "
                         "count; pass e.g. threshold=24.6e6 (the paper's median).")
    y = e / e.max() if relative and e.max() > 0 else e
    x = np.log10(n)
    ax = _axes(ax)
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
    unit = _unit(energy) or "as given"
    ax.set_ylabel(f"{energy} / largest" if relative else f"{energy} ({unit})")
    ax.set_title(_title("Energy against model size", df))
    ax.legend(loc="upper left", fontsize=8)
    return ax


def epoch_pareto(
    df: pd.DataFrame,
    *,
    performance: str = "test_acc",
    resource: str = "energy_kwh",
    model: str = "model",
    epoch: str = "epoch",
    label_front: bool = True,
    ax: Any = None,
) -> Any:
    """Every model after every epoch on one performance-resource plane, Pareto points marked.

    The paper's Figure 4a: one point per (model, epoch), with the resource used *so far*
    min-max normalised over all points; thin lines join a model's epochs; the
    Pareto-optimal points (no other model-epoch is both better and cheaper) are drawn in
    red and labelled ``model@epoch``. Feed it :func:`peprkit.paper.epoch_points` (the
    authors' data, energy per epoch estimated) or a sweep's per-epoch histories
    (measured). When an ``energy_source`` column says ``estimated``, the title says so.

    Args:
        df: one row per model and epoch, the resource cumulative.
        performance: P in [0, 1]; resource: raw units, normalised here.
        model, epoch: the columns naming the model and the epoch.
        label_front: write ``model@epoch`` next to the Pareto points.
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes.

    Raises:
        ValueError: missing columns, P outside [0, 1], bad resource values.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> df = pd.DataFrame({"model": ["a", "a", "b", "b"], "epoch": [1, 2, 1, 2],
    ...                    "test_acc": [0.6, 0.7, 0.65, 0.9], "energy_kwh": [1, 2, 3, 6]})
    >>> ax = epoch_pareto(df)
    >>> sorted(t.get_text() for t in ax.texts)
    ['a@1', 'a@2', 'b@2']
    """
    for arg, col in (("performance", performance), ("resource", resource), ("model", model),
                     ("epoch", epoch)):
        require_columns(df, [col], arg=arg)
    if len(df) == 0:
        raise ValueError("`df` has no rows; pass one row per model and epoch.")
    p = column_values(df, performance)
    check_performance(p, f"df[{performance!r}]")
    r = column_values(df, resource)
    check_resource(r, f"df[{resource!r}]", "resources are amounts and cannot be negative.")
    r = normalize(r)
    front = pareto_front(p, r)
    ax = _axes(ax)
    names = df[model].astype(str).to_numpy()
    epochs = df[epoch].to_numpy()
    for name in dict.fromkeys(names):
        mine = np.where(names == name)[0]
        mine = mine[np.argsort(epochs[mine], kind="stable")]
        ax.plot(r[mine], p[mine], "-", color="0.75", lw=0.6, zorder=1)
    ax.scatter(r[~front], p[~front], s=14, color="tab:blue", alpha=0.6, zorder=2,
               label="model after an epoch")
    order = np.argsort(r[front], kind="stable")
    ax.plot(r[front][order], p[front][order], "-o", color=_FRONT, ms=7, lw=1.5, zorder=3,
            label="Pareto front")
    if label_front:
        for x, y, name, k in zip(r[front], p[front], names[front], epochs[front], strict=True):
            ax.annotate(f"{name}@{k}", (x, y), xytext=(4, 4), textcoords="offset points",
                        fontsize=7)
    estimated = ("energy_source" in df.columns and
                 df["energy_source"].astype(str).str.startswith("estimated").any())
    ax.set_xlabel(f"{resource} so far (min-max normalised over all points), R")
    ax.set_ylabel(f"{performance}, P")
    title = f"{performance} vs {resource}, one point per model and epoch"
    if estimated:
        title += "\n(per-epoch energy estimated, see energy_source)"
    ax.set_title(_title(title, df))
    ax.legend(loc="lower right", fontsize=8)
    return ax
