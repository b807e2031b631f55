"""What every plot of :mod:`peprkit.plot` shares: its Axes, title, colours, baselines, units.

A plot titles synthetic data so (:func:`titled`, with :func:`peprkit._synthetic.is_synthetic`),
draws the level a model that learned nothing reaches as a labelled line
(:func:`parse_baselines`, :func:`draw_baselines`), and shows a normalised resource in its own
unit on a secondary axis (:func:`column_unit`, :func:`real_unit_axis`). matplotlib is imported
inside the functions that draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from peprkit._synthetic import is_synthetic
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
