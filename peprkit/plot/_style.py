"""What every plot of :mod:`peprkit.plot` shares: its Axes, title, colours, baselines, units.

A plot titles synthetic data so (:func:`titled`, with :func:`peprkit._synthetic.is_synthetic`),
draws the level a model that learned nothing reaches as a labelled line
(:func:`parse_baselines`, :func:`draw_baselines`) and, on a PePR axis, the PePR of that
constant guess, ``majority / (1 + R)`` (:func:`draw_guess_pepr`), says how its resource
numbers were obtained (:func:`source_word`: measured, estimated, illustrative, synthetic...),
draws a model's seeds as one point (:func:`summarise_runs`), and shows a normalised resource
in its own unit on a secondary axis (:func:`column_unit`, :func:`real_unit_axis`).
matplotlib is imported inside the functions that draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from peprkit._synthetic import is_synthetic, number_source
from peprkit._validation import show
from peprkit.metric import pepr

#: Colour map of the PePR shading, and the colour of Pareto fronts and optima.
CMAP = "viridis"
FRONT = "crimson"


def axes_or_new(ax: Any) -> Any:
    """``ax``, or the Axes of a new 6.4 x 4.8 inch figure when it is None."""
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6.4, 4.8), layout="constrained")
    return ax


def pepr_grid(r_max: float, p_lo: float, p_hi: float, n: int = 101):
    """R, P and PePR on an n x n grid covering [0, r_max] x [p_lo, p_hi]."""
    r, p = np.meshgrid(np.linspace(0.0, r_max, n), np.linspace(p_lo, p_hi, n))
    return r, p, pepr(p.ravel(), r.ravel()).reshape(r.shape)


def titled(text: str, df: pd.DataFrame | None = None, *, synthetic: bool = False) -> str:
    """``text``, marked '(synthetic data)' when the data is synthetic."""
    if synthetic or (df is not None and is_synthetic(df)):
        return f"{text} (synthetic data)"
    return text


#: Colour and line style of successive baselines (the majority class first).
_BASELINE_STYLES = (("0.15", "--"), ("tab:purple", ":"), ("tab:brown", "-."), ("0.5", "--"))
#: Units of the kit's column suffixes, for axes that show a resource in its own unit.
_UNITS = (("_kwh", "kWh"), ("_wh", "Wh"), ("_gb", "GB"), ("_mb", "MB"), ("_g", "g CO2eq"),
          ("_s", "s"))


def column_unit(column: str) -> str:
    """The unit a column name carries (``energy_kwh`` -> ``kWh``), else ``''``.

    >>> column_unit("energy_kwh"), column_unit("memory_gb"), column_unit("co2_g"), column_unit("R")
    ('kWh', 'GB', 'g CO2eq', '')
    """
    for suffix, unit in _UNITS:
        if str(column).endswith(suffix):
            return unit
    return ""


def parse_baselines(baseline: Any) -> list[tuple[str, float]]:
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


def draw_baselines(ax: Any, items: list[tuple[str, float]]) -> None:
    """Each baseline as a horizontal line across the Axes, in its own style, named with its
    value in the legend (the lines carry ``gid="baseline"``; callers show a legend)."""
    for i, (name, value) in enumerate(items):
        color, style = _BASELINE_STYLES[i % len(_BASELINE_STYLES)]
        ax.axhline(value, color=color, ls=style, lw=1.3, zorder=2.5, gid="baseline",
                   label=f"{name} ({value:.3f})")


def real_unit_axis(ax: Any, column: str, lo: float, span: float, how: str) -> Any:
    """A secondary x axis on top showing ``R`` in the column's own unit (``lo + R * span``)."""
    if not span > 0:
        return None
    unit = column_unit(column)
    top = ax.secondary_xaxis("top", functions=(lambda r: lo + np.asarray(r) * span,
                                               lambda x: (np.asarray(x) - lo) / span))
    top.set_xlabel(f"{column}" + (f" ({unit}, {how})" if unit else f" ({how})"), fontsize=8)
    top.tick_params(labelsize=7)
    from matplotlib.ticker import FuncFormatter

    top.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))  # no "1e-6" offset
    return top


def format_p(p_value: float) -> str:
    """A p-value as a bracket label: ``p<0.001`` or ``p=0.042``."""
    return "p<0.001" if p_value < 0.001 else f"p={p_value:.3f}"


def format_count(n: float) -> str:
    """A parameter count for a legend: ``24.6M``, or ``9,500`` under 100,000."""
    return f"{n / 1e6:.1f}M" if n >= 1e5 else f"{n:,.0f}"


def source_word(df: pd.DataFrame | None, column: str, source: Any = None) -> str:
    """How the numbers of ``column`` were obtained, in one word for an axis label.

    ``source`` when it is a string (e.g. ``"measured"``, ``"estimated"``, ``"illustrative"``);
    read from ``source`` when it is a table (e.g. the history a resource Series came from),
    else from ``df`` (:func:`peprkit._synthetic.number_source`); ``"source not recorded"``
    without either.

    >>> import pandas as pd
    >>> source_word(pd.DataFrame({"energy_kwh": [1.0], "synthetic": True}), "energy_kwh")
    'synthetic'
    >>> source_word(None, "energy_kwh", "illustrative")
    'illustrative'
    """
    if isinstance(source, str):
        return source
    table = source if source is not None else df
    if table is None:
        return "source not recorded"
    if not hasattr(table, "columns"):
        raise ValueError(f"`source` must be a word such as 'measured' or the table the numbers "
                         f"came from, got {type(source).__name__}; pass e.g. source=history.")
    return number_source(table, column)


#: Baseline names that are the score of a guess (whose PePR is drawn on PePR axes).
_GUESS_WORDS = ("majority", "chance", "guess", "baseline")


def guess_levels(items: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The baselines that are a constant guess's score (named majority, chance, guess or
    baseline), not targets."""
    return [(n, v) for n, v in items if any(w in n.lower() for w in _GUESS_WORDS)]


def draw_guess_pepr(ax: Any, items: list[tuple[str, float]], r: Any = None) -> None:
    """The PePR of a constant guess, ``PePR = m / (1 + R)`` for each guess level ``m``.

    With ``r`` (R values along the x axis) a dotted curve over them; without, a band from
    ``m / 2`` (R = 1) to ``m`` (R = 0), for axes whose x is not R (model size, groups). The
    artists carry ``gid="guess-pepr"`` and a legend label with the formula.
    """
    for i, (_, m) in enumerate(guess_levels(items)):
        color = _BASELINE_STYLES[i % len(_BASELINE_STYLES)][0]
        if r is None:
            ax.axhspan(m / 2, m, color=color, alpha=0.10, lw=0, zorder=1, gid="guess-pepr",
                       label=f"constant guess's PePR = {m:.3f} / (1 + R): "
                             f"{m / 2:.3f} to {m:.3f}")
        else:
            grid = np.linspace(float(np.min(r)), float(np.max(r)), 101)
            ax.plot(grid, m / (1.0 + grid), color=color, ls=(0, (1, 2)), lw=1.4, zorder=2.5,
                    gid="guess-pepr", label=f"constant guess's PePR = {m:.3f} / (1 + R)")


def summarise_runs(names: np.ndarray, *columns: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                      list[tuple]]:
    """One point per name: the names (first-appearance order), their run counts and, per
    column, ``(mean, min, max)`` over the name's runs.

    >>> names, counts, [(mean, lo, hi)] = summarise_runs(
    ...     np.array(["a", "b", "a"]), np.array([1.0, 5.0, 3.0]))
    >>> names.tolist(), counts.tolist(), mean.tolist(), lo.tolist(), hi.tolist()
    (['a', 'b'], [2, 1], [2.0, 5.0], [1.0, 5.0], [3.0, 5.0])
    """
    unique, first, inverse, counts = np.unique(names, return_index=True, return_inverse=True,
                                               return_counts=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    inverse = rank[inverse.ravel()]
    out = []
    for values in columns:
        sums = np.bincount(inverse, weights=values, minlength=len(order))
        lo = np.full(len(order), np.inf)
        hi = np.full(len(order), -np.inf)
        np.minimum.at(lo, inverse, values)
        np.maximum.at(hi, inverse, values)
        out.append((sums / counts[order], lo, hi))
    return unique[order], counts[order], out


def draw_ranges(ax: Any, x: Any, y: Any, xr: Any = None, yr: Any = None, *,
                counts: np.ndarray, color: str = "0.45") -> None:
    """Bars spanning each point's range over its runs (``xr``/``yr`` = ``(lo, hi)``), for the
    points summarising more than one run; one legend entry, "range over seeds"."""
    many = counts > 1
    if not many.any():
        return
    err = {}
    for key, rng, centre in (("xerr", xr, x), ("yerr", yr, y)):
        if rng is not None:
            lo, hi = rng
            err[key] = np.vstack([(centre - lo)[many], (hi - centre)[many]])
    runs = sorted(set(counts[many].tolist()))
    what = f"{runs[0]} runs" if len(runs) == 1 else f"{runs[0]}-{runs[-1]} runs"
    ax.errorbar(x[many], y[many], fmt="none", ecolor=color, elinewidth=1.0, capsize=2,
                zorder=2.8, label=f"range over a model's {what} (seeds)", **err)
