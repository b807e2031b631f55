"""The PePR paper's plots: profile, Pareto front, score vs size, group violins, curves.

Every function takes ``ax=None`` (a new figure is made when it is None), draws on that
Axes and returns it; none calls ``plt.show()``. matplotlib and scipy are imported inside
the functions, so ``import peprkit.plot`` stays light. Plots draw what
:mod:`peprkit.metric` computes; they compute no score of their own.

The PePR plots live here (:func:`profile`, :func:`pareto`, :func:`curve`, :func:`groups`,
:func:`epoch_pareto`); the size plots (:func:`versus_params`, :func:`energy_vs_params`) in
``_by_size``, the plain displays (:func:`history`, :func:`bars`, :func:`images`) in
``_display``, point-label placement in ``_labels`` and what all share (titles, baselines,
units) in ``_style``. Every public name is importable from ``peprkit.plot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from peprkit._synthetic import label_columns
from peprkit._validation import (
    check_performance,
    check_resource,
    column_values,
    require_columns,
)
from peprkit.metric import (
    normalize,
    pareto_front,
    pepr_curve,
    pepr_optimum,
    smallest_p_value,
)
from peprkit.plot._by_size import energy_vs_params, versus_params
from peprkit.plot._display import bars, history, images
from peprkit.plot._labels import annotate_points
from peprkit.plot._style import (
    CMAP,
    FRONT,
    axes_or_new,
    column_unit,
    draw_baselines,
    draw_guess_pepr,
    draw_ranges,
    format_p,
    guess_levels,
    parse_baselines,
    pepr_grid,
    real_unit_axis,
    source_word,
    summarise_runs,
    titled,
)

__all__ = ["bars", "curve", "energy_vs_params", "epoch_pareto", "groups", "history", "images",
           "pareto", "profile", "versus_params"]


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
    ax = axes_or_new(ax)
    r, p, z = pepr_grid(1.0, 0.0, 1.0)
    filled = ax.contourf(r, p, z, levels=levels, cmap=CMAP)
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
    source: Any = None,
    summarise: bool = True,
    ax: Any = None,
) -> Any:
    """Performance against normalised resource with the Pareto front highlighted.

    The background is shaded by the PePR value ``P / (1 + R)`` of each position; the
    Pareto-optimal points (no other point is both better and cheaper, see
    :func:`peprkit.metric.pareto_front`) are drawn larger and joined in order of R.
    When R is normalised, a secondary x axis on top shows the resource in its own unit
    (kWh, GB, ...), read from the column name. The axis labels say how the resource was
    obtained (measured, estimated, illustrative, synthetic, ...; see ``source``).

    Runs that share a ``label`` (a model's seeds) are drawn as one point, their mean P and
    mean R, with bars spanning their range, and labelled once; the front is that of the
    models. Labels never overlap each other or a marker and stay inside the Axes
    (:mod:`peprkit.plot._labels`).

    Args:
        df: one row per run (use one dataset at a time: R is min-max normalised over
            the rows given).
        performance: column with P in [0, 1].
        resource: resource column (raw units; normalised here unless
            ``normalize_resource=False``, e.g. for an ``..._norm`` column).
        label: optional column naming the models, written next to their points (all of
            them when there are 20 models or fewer, otherwise the Pareto-optimal ones).
        normalize_resource: min-max normalise ``df[resource]`` first (over the runs).
        reference: a fixed budget in the resource's unit: ``R = resource / reference``
            (:func:`peprkit.metric.normalize`) instead of min-max; ``R = 1`` is the budget.
        baseline: P of a model that learned nothing, drawn as a labelled horizontal
            line: a number (e.g. the ``majority_acc`` of the dataset), or a mapping
            label -> number for several.
        synthetic: the runs used synthetic data (the title says so; also when a
            ``synthetic`` column is true or a ``dataset`` name says "synthetic").
        source: how the resource numbers were obtained, for the axis labels: a word
            (``"measured"``, ``"estimated"``, ``"illustrative"``, ...); default: read from
            the source-label columns of ``df`` (:func:`peprkit._synthetic.number_source`).
        summarise: draw runs sharing a ``label`` as one mean point with range bars
            (False: one point per run).
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
    >>> ax.get_xlabel()  # the example table's numbers are not measured
    'energy_kwh (min-max normalised; synthetic), R'
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
    lines = parse_baselines(baseline)
    word = source_word(df, resource, source)
    if reference is not None:
        r = normalize(raw, reference=reference)
        unit = f"per budget of {reference:.3g} {column_unit(resource)}".rstrip()
        real = (0.0, float(reference), f"top axis: {word}")
    elif normalize_resource:
        r = normalize(raw)
        unit = "min-max normalised"
        lo = float(raw.min(initial=np.inf)) if raw.size else 0.0
        real = (lo, float(raw.max(initial=0.0)) - lo if raw.size else 0.0,
                f"top axis: {word}")
    else:
        r, unit, real = raw, "as given", None
    names = df[label].astype(str).to_numpy() if label is not None else None
    counts = np.ones(len(p), dtype=int)
    pm, rm, ranges = p, r, None
    if names is not None and summarise and len(set(names)) < len(names):
        names, counts, [(pm, p_lo, p_hi), (rm, r_lo, r_hi)] = summarise_runs(names, p, r)
        ranges = ((r_lo, r_hi), (p_lo, p_hi))
    front = pareto_front(pm, rm)

    ax = axes_or_new(ax)
    pad = 0.05
    low = min([float(p.min(initial=1.0))] + [v for _, v in lines])
    high = max([float(p.max(initial=0.0))] + [v for _, v in lines])
    p_lo_ax = max(0.0, low - pad)
    p_hi_ax = min(1.0, high + pad)
    r_hi = max(1.0, float(r.max(initial=0.0))) + pad
    gr, gp, gz = pepr_grid(r_hi, p_lo_ax, max(p_hi_ax, p_lo_ax + pad))
    shade = ax.contourf(gr, gp, gz, levels=12, cmap=CMAP, alpha=0.35)
    ax.figure.colorbar(shade, ax=ax, label="PePR = P / (1 + R)")
    what = "dominated models (mean over runs)" if ranges else "dominated runs"
    ax.scatter(rm[~front], pm[~front], s=30, color="0.35", label=what, zorder=3)
    order = np.argsort(rm[front], kind="stable")
    ax.plot(rm[front][order], pm[front][order], "-o", color=FRONT, ms=8, lw=1.8,
            label="Pareto front", zorder=4)
    if ranges:
        draw_ranges(ax, rm, pm, *ranges, counts=counts)
    draw_baselines(ax, lines)
    ax.set_xlim(-pad, r_hi)
    ax.set_ylim(p_lo_ax, max(p_hi_ax, p_lo_ax + pad))
    if names is not None:
        shown = np.ones(len(pm), bool) if len(pm) <= 20 else front
        annotate_points(ax, rm[shown], pm[shown], [str(t) for t in names[shown]],
                        points=np.column_stack([rm, pm]))
    if real is not None:
        real_unit_axis(ax, resource, *real)
    ax.set_xlabel(f"{resource} ({unit}; {word}), R")
    ax.set_ylabel(f"{performance}, P")
    ax.set_title(titled(f"Pareto front: {performance} vs {resource}", df, synthetic=synthetic))
    # below the Axes: the PePR shading fills the plot, so no place inside is free of it
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8,
              frameon=False)
    return ax


def groups(
    data: Mapping[str, Any],
    *,
    ylabel: str = "score",
    baseline: Any = None,
    pepr: bool = False,
    synthetic: bool = False,
    ax: Any = None,
) -> Any:
    """Violins of two or more groups with two-sided Mann-Whitney U p-value brackets.

    With more than two groups every group is compared with the first one (the
    reference, e.g. "pretrained" or "100% data"); the brackets are stacked. Give one value
    per model (average a model's seeds first: seeds are not independent models). Each
    bracket says the smallest p-value its group sizes allow when that is above 0.001
    (:func:`peprkit.metric.smallest_p_value`): with 3 + 3 models p never falls below 0.1.

    Args:
        data: group name -> values (e.g. ``{"pretrained": a, "scratch": b}``).
        ax: Axes to draw on (a new figure when None).
        ylabel: label of the y axis.
        baseline: the score of a model that learned nothing (a number, e.g. the
            dataset's ``majority_acc``, or a mapping label -> number), drawn as a
            labelled horizontal line.
        pepr: the values are PePR scores: the baseline is drawn as the band of a constant
            guess's PePR, ``majority / (1 + R)`` for R in [0, 1], not as a line.
        synthetic: the scores come from synthetic data (the title says so).

    Returns:
        The Axes.

    Raises:
        ValueError: fewer than two groups, an empty group, non-finite values, a bad
            ``baseline``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = groups({"pretrained": [0.84, 0.86, 0.88], "scratch": [0.70, 0.72, 0.75]})
    >>> [t.get_text() for t in ax.texts]
    ['p=0.100 (n=3+3: p >= 0.1 at best)']
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
    lines = parse_baselines(baseline)
    from scipy.stats import mannwhitneyu

    ax = axes_or_new(ax)
    pos = np.arange(1, len(values) + 1)
    ax.violinplot(values, positions=pos, showmedians=True)
    ax.set_xticks(pos, [f"{name}\n(n={len(v)})" for name, v in zip(data, values, strict=True)])
    if pepr:
        draw_guess_pepr(ax, lines)
        draw_baselines(ax, [item for item in lines if item not in guess_levels(lines)])
    else:
        draw_baselines(ax, lines)
    top = max([float(v.max()) for v in values] + [v for _, v in lines])
    span = max(top - min([float(v.min()) for v in values] + [v for _, v in lines]), 0.05)
    step, tick = 0.12 * span, 0.03 * span
    for i in range(1, len(values)):
        p_value = mannwhitneyu(values[0], values[i], alternative="two-sided").pvalue
        least = smallest_p_value(len(values[0]), len(values[i]))
        note = (f" (n={len(values[0])}+{len(values[i])}: p >= {least:.2g} at best)"
                if least > 0.001 else "")
        y = top + i * step
        ax.plot([pos[0], pos[0], pos[i], pos[i]], [y - tick, y, y, y - tick], color="k", lw=1.2)
        ax.text((pos[0] + pos[i]) / 2, y + tick / 2, format_p(float(p_value)) + note,
                ha="center", va="bottom", fontsize=9)
    ax.set_ylim(top=top + len(values) * step)
    ax.set_ylabel(ylabel)
    ax.set_title(titled(f"Two-sided Mann-Whitney U test vs {next(iter(data))!r}",
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
    source: Any = None,
    ax: Any = None,
) -> Any:
    """A training run's performance and PePR against normalised resource, peak marked.

    Draws what :func:`peprkit.metric.pepr_curve` computes; the star marks ``P_ePRc*``, the
    highest PePR along the run (:func:`peprkit.metric.pepr_optimum`). With 20 steps or fewer each
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
            ``majority_acc``, or a mapping label -> number), drawn as a labelled line;
            beside it, the PePR that constant guess would score at each R,
            ``majority / (1 + R)``, as a dotted curve (for the baselines named majority,
            chance, guess or baseline; not for targets).
        synthetic: the run used synthetic data (the title says so).
        source: how the resource was obtained, for the top axis: a word
            (``"measured"``, ``"estimated"``, ...) or the history the Series came from
            (its source-label columns are read); default "source not recorded", or
            "synthetic" with ``synthetic=True``.
        ax: Axes to draw on (a new figure when None).

    Returns:
        The Axes.

    Raises:
        ValueError: as :func:`peprkit.metric.pepr_curve`; both ``resource_range`` and
            ``reference``; a bad ``reference``, ``baseline`` or ``source``.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> ax = curve([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0])
    >>> ax.get_legend_handles_labels()[1][-1]
    'P_ePRc* = 0.600 (step 2)'
    >>> ax = curve([0.5, 0.8, 0.84, 0.85], [1.0, 2.0, 3.0, 4.0], reference=40.0)
    >>> ax.get_legend_handles_labels()[1][-1]
    'P_ePRc* = 0.781 (step 3)'
    """
    scale = dict(resource_range=resource_range, reference=reference, steps=steps)
    c = pepr_curve(performance, resource, **scale)
    best = pepr_optimum(performance, resource, **scale)
    peak = (best.resource_norm, best.pepr, best.step)
    lines = parse_baselines(baseline)
    name = getattr(resource, "name", None)
    p_name = getattr(performance, "name", None) or "performance"
    if reference is not None:  # R = resource / reference, > 1 past the reference
        real = (0.0, float(reference))
        xlabel = f"{name or 'resource'} / reference of {reference:.3g} {column_unit(name or '')}"
    else:
        r = c["resource"]
        lo, hi = resource_range if resource_range is not None else (r.min(), r.max())
        real = (float(lo), float(hi) - float(lo))
        xlabel = "Normalised resource, R"
    ax = axes_or_new(ax)
    ax.margins(y=0.1)  # room for the step labels above the points
    ax.plot(c["resource_norm"], c["performance"], "-o", color="tab:blue", label=f"{p_name}, P")
    ax.plot(c["resource_norm"], c["pepr"], "-s", color="tab:orange", label="PePR = P / (1 + R)")
    draw_baselines(ax, lines)
    r_axis = c["resource_norm"].to_numpy()
    draw_guess_pepr(ax, lines, r=np.r_[0.0, r_axis] if reference is not None else r_axis)
    ax.axvline(peak[0], color=FRONT, ls=":", lw=1)
    ax.plot([peak[0]], [peak[1]], "*", color=FRONT, ms=16, zorder=4,
            label=f"P_ePRc* = {peak[1]:.3f} (step {peak[2]})")
    if len(c) <= 20:
        for x, y, step in zip(c["resource_norm"], c["performance"], c["step"], strict=True):
            ax.annotate(str(step), (x, y), xytext=(0, 6), textcoords="offset points",
                        ha="center", fontsize=7, color="tab:blue")
    if name:
        if source is None and synthetic:
            source = "synthetic"
        word = source_word(None, str(name), source)
        real_unit_axis(ax, str(name), *real, f"top axis: {word}")
    if reference is not None:
        ax.set_xlim(left=0.0)  # every epoch is charged from zero energy
    ax.set_xlabel(xlabel.rstrip() + (", R" if reference is not None else ""))
    ax.set_ylabel("Score")
    ax.set_title(titled("PePR along a training run", synthetic=synthetic))
    ax.legend(loc="best", fontsize=8)
    return ax


def epoch_pareto(
    df: pd.DataFrame,
    *,
    performance: str = "test_acc",
    resource: str = "energy_kwh",
    model: str = "model",
    epoch: str = "epoch",
    label_front: bool = True,
    source: Any = None,
    ax: Any = None,
) -> Any:
    """Every model after every epoch on one performance-resource plane, Pareto points marked.

    The paper's Figure 4a: one point per (model, epoch), with the resource used *so far*
    min-max normalised over all points; thin lines join a model's epochs; the
    Pareto-optimal points (no other model-epoch is both better and cheaper) are drawn in
    red and labelled ``model@epoch`` (labels placed apart, inside the Axes). Feed it
    :func:`peprkit.paper.epoch_points` (the authors' data, energy per epoch estimated) or
    a sweep's per-epoch histories (measured). The x label says how the resource was
    obtained (its source-label columns, e.g. ``energy_source``); when that is estimated,
    the title says so too.

    Args:
        df: one row per model and epoch, the resource cumulative.
        performance: P in [0, 1]; resource: raw units, normalised here.
        model, epoch: the columns naming the model and the epoch.
        label_front: write ``model@epoch`` next to the Pareto points.
        source: how the resource was obtained (a word such as ``"measured"``); default:
            read from the source-label columns of ``df``.
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
    ax = axes_or_new(ax)
    names = df[model].astype(str).to_numpy()
    epochs = df[epoch].to_numpy()
    for name in dict.fromkeys(names):
        mine = np.where(names == name)[0]
        mine = mine[np.argsort(epochs[mine], kind="stable")]
        ax.plot(r[mine], p[mine], "-", color="0.75", lw=0.6, zorder=1)
    ax.scatter(r[~front], p[~front], s=14, color="tab:blue", alpha=0.6, zorder=2,
               label="model after an epoch")
    order = np.argsort(r[front], kind="stable")
    ax.plot(r[front][order], p[front][order], "-o", color=FRONT, ms=7, lw=1.5, zorder=3,
            label="Pareto front")
    word = source_word(df, resource, source)
    ax.set_xlabel(f"{resource} so far (min-max normalised over all points; {word}), R")
    ax.set_ylabel(f"{performance}, P")
    title = f"{performance} vs {resource}, one point per model and epoch"
    if "estimated" in word:
        cols = ", ".join(label_columns(df, resource)) or "its source column"
        title += f"\n(per-epoch {resource.split('_')[0]} estimated, see {cols})"
    ax.set_title(titled(title, df))
    ax.legend(loc="lower right", fontsize=8)
    if label_front:  # after the legend, which the labels keep clear of
        annotate_points(ax, r[front], p[front],
                        [f"{n}@{k}" for n, k in zip(names[front], epochs[front], strict=True)],
                        points=np.column_stack([r, p]), fontsize=7)
    return ax
