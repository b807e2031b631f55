"""Interactive explorers for notebooks: PePR tables and plots that follow a few controls.

The widgets only wire tested functions together: :func:`rank` (built on
:mod:`peprkit.metric`) computes what is shown, :mod:`peprkit.plot` draws it. Where widgets
do not render (a static notebook viewer, a CI run) the notebook still runs; call
:func:`rank` and the plot functions directly for a static view.

ipywidgets (and matplotlib) are imported when a widget is made, never on ``import``.
"""

from __future__ import annotations

import pandas as pd

from peprkit._synthetic import number_source
from peprkit._util import did_you_mean, optional_import
from peprkit._validation import check_number, require_columns
from peprkit.metric import normalize, pareto_front, pepr
from peprkit.schema import PERFORMANCE, RESOURCES

#: PePR variant -> resource column of the sweep schema.
VARIANTS = {key.upper(): column for key, column in RESOURCES.items()}
#: Normalisation choices offered by :func:`explore`.
NORMALISATIONS = ("min-max", "budget")
_PERFORMANCE_COLUMNS = PERFORMANCE


def rank(
    df: pd.DataFrame, *, performance: str = "test_acc", variant: str = "E",
    budget: float | None = None, models: list[str] | tuple[str, ...] | None = None,
    label: str = "model",
) -> pd.DataFrame:
    """Score a set of models with one PePR variant and rank them, best first.

    ``R`` is the resource min-max normalised over the chosen models,
    ``R = (x - min) / (max - min)``, or, with ``budget``, ``R = x / budget`` (over the
    budget gives ``R > 1``); then ``PePR = P / (1 + R)``. ``pareto`` marks the models no
    other model beats on both performance and resource.

    Args:
        df: one row per model (sweep schema or :func:`peprkit.paper.tidy`).
        performance: the column used as ``P`` (values in [0, 1]).
        variant: ``"E"``, ``"C"``, ``"M"`` or ``"T"`` (see :data:`VARIANTS`).
        budget: a fixed resource budget in the resource's units; None for min-max.
        models: names (in ``label``) to keep; None keeps all.
        label: the column naming each model.

    Returns:
        Columns ``label, performance, <resource>, R, pepr, pareto, rank`` (and
        ``synthetic`` when ``df`` has it).

    Raises:
        ValueError: unknown variant or column, a non-positive budget, or no model left.

    Example:
        >>> df = pd.DataFrame({"model": ["a", "b", "c"], "test_acc": [0.9, 0.8, 0.85],
        ...                    "energy_kwh": [3.0, 1.0, 2.0]})
        >>> rank(df)[["model", "pepr", "rank"]]
          model      pepr  rank
        0     b  0.800000     1
        1     c  0.566667     2
        2     a  0.450000     3
    """
    resource = _resource_column(df, variant)
    require_columns(df, [performance], arg="performance")
    require_columns(df, [label], arg="label")
    if budget is not None:
        check_number("budget", budget, low=0, strict=True, expect="a positive number",
                     hint=f"in {resource}'s units")
    table = df if models is None else df[df[label].isin(list(models))]
    if table.empty:
        raise ValueError(
            f"models={models!r} selects no row of the table; pick names from its "
            f"{label!r} column."
        )
    keep = [label, performance, resource, *(["synthetic"] if "synthetic" in table else [])]
    table = table[keep].reset_index(drop=True)
    if budget is None:
        table["R"] = normalize(table[resource].to_numpy(dtype=float))
    else:
        table["R"] = normalize(table[resource].to_numpy(dtype=float), reference=budget)
    table["pepr"] = pepr(table[performance].to_numpy(dtype=float), table["R"].to_numpy())
    table["pareto"] = pareto_front(table[performance].to_numpy(dtype=float),
                                   table["R"].to_numpy())
    table = table.sort_values("pepr", ascending=False, ignore_index=True, kind="stable")
    table["rank"] = range(1, len(table) + 1)
    return table


def explore(
    df: pd.DataFrame, *, performance: str | None = None, variant: str = "E",
    label: str = "model", by: str = "dataset",
):
    """A Pareto plot and a ranked table that update together as you change the controls.

    Controls: the performance column, the PePR variant (E/C/M/T), the normalisation
    (min-max over the chosen models, or a fixed budget given in the resource's units),
    the models, and, when the table holds several datasets/experiments (``by``), which
    one. Everything shown comes from :func:`rank` and :func:`peprkit.plot.pareto`: a model's
    seeds are one point with a range bar, labelled once; labels never overlap and stay inside
    the plot; the x label says how the resource was obtained (measured, estimated,
    synthetic, ...); for ``test_acc`` the majority-class baseline is drawn when ``df`` has a
    ``majority_acc`` column with one value per experiment.

    Args:
        df: one row per model and dataset, in the sweep schema.
        performance: initial performance column (default: the first of test_acc,
            test_auc, val_acc, train_acc present without missing values).
        variant: initial PePR variant.
        label: the column naming each model.
        by: the column separating experiments (ignored when absent or single-valued).

    Returns:
        An ``ipywidgets.interactive``; ``.result`` is the ranked table shown, and
        ``.figure`` the last figure drawn. Display it as the last line of a cell.

    Raises:
        ValueError: no usable performance or resource column, or an unknown one.

    Example:
        >>> from peprkit.examples import example_results
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter, figures print
        ...     w = explore(example_results())
        ...     w.children[1].value = "T"  # the PePR- buttons: rank by training time
        >>> w.result["model"].iloc[0]
        'mobilenetv3_small_100'
    """
    widgets = optional_import("ipywidgets", extra="notebooks")
    perf_options = [c for c in _PERFORMANCE_COLUMNS if c in df.columns and df[c].notna().all()]
    if performance is not None:
        require_columns(df, [performance], arg="performance")
        perf_options = [performance, *[c for c in perf_options if c != performance]]
    if not perf_options:
        raise ValueError(
            f"df has none of the performance columns {list(_PERFORMANCE_COLUMNS)}; pass "
            "performance='<your column>'."
        )
    variants = [v for v, column in VARIANTS.items() if column in df.columns]
    _resource_column(df, variant)
    require_columns(df, [label], arg="label")
    groups = list(pd.unique(df[by])) if by in df.columns else []

    variant_w = widgets.ToggleButtons(options=variants, value=variant, description="PePR-")
    budget_w = widgets.FloatText(value=_default_budget(df, variant, by, groups),
                                 description="budget")
    group_w = widgets.Dropdown(options=groups or [None], value=(groups or [None])[0],
                               description=by, disabled=len(groups) <= 1)
    names = sorted(map(str, pd.unique(df[label])))
    models_w = widgets.SelectMultiple(options=names, value=tuple(names), description="models",
                                      rows=min(8, len(names)))

    def _reset_budget(change) -> None:
        budget_w.value = _default_budget(df, variant_w.value, by, groups, group_w.value)

    variant_w.observe(_reset_budget, names="value")
    group_w.observe(_reset_budget, names="value")

    def show(performance, variant, normalisation, budget, models, group):
        from IPython.display import display

        plt = optional_import("matplotlib.pyplot", extra="notebooks", package="matplotlib")
        from peprkit import plot

        subset = df if group is None else df[df[by] == group]
        subset = subset[subset[label].astype(str).isin(models)]
        table = rank(subset, performance=performance, variant=variant, label=label,
                     budget=budget if normalisation == "budget" else None)
        word = number_source(subset, VARIANTS[variant])
        fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        plot.pareto(table, performance=performance, resource="R", label=label,
                    normalize_resource=False, baseline=_majority(subset, performance),
                    source=word, ax=ax)
        ax.set_xlabel(f"normalised {VARIANTS[variant]} ({normalisation}; {word}), R")
        if group is not None:
            ax.set_title(f"{ax.get_title()}\n{by} = {group}", fontsize=10)
        display(fig)
        plt.close(fig)
        _remember(state, fig)
        return table

    state: dict = {}
    controls = widgets.interactive(
        show,
        {"auto_display": True},
        performance=widgets.Dropdown(options=perf_options, value=perf_options[0],
                                     description="performance"),
        variant=variant_w,
        normalisation=widgets.ToggleButtons(options=NORMALISATIONS, value="min-max",
                                            description="normalise"),
        budget=budget_w,
        models=models_w,
        group=group_w,
    )
    return _finish(controls, show, state)


def profile_slider(*, performance: float = 0.8, resource: float = 0.3):
    """A point on the PePR profile that moves as you drag performance and resource.

    The background is :func:`peprkit.plot.profile`; the point sits at (``R``, ``P``) and
    the title shows ``PePR = P / (1 + R)`` there.

    Args:
        performance: initial ``P`` in [0, 1].
        resource: initial normalised resource ``R`` in [0, 1].

    Returns:
        An ``ipywidgets.interactive``; ``.result`` is the PePR score at the point.

    Raises:
        ValueError: an initial value outside [0, 1].

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stdout(io.StringIO()):  # outside Jupyter, figures print
        ...     w = profile_slider(performance=0.8, resource=0.0)
        ...     w.children[1].value = 1.0  # drag R to 1
        >>> round(w.result, 3)
        0.4
    """
    for name, value in (("performance", performance), ("resource", resource)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}={value!r} must lie in [0, 1].")
    widgets = optional_import("ipywidgets", extra="notebooks")

    def show(performance, resource):
        from IPython.display import display

        plt = optional_import("matplotlib.pyplot", extra="notebooks", package="matplotlib")
        from peprkit import plot

        score = float(pepr(performance, resource))
        fig, ax = plt.subplots(figsize=(5, 4))
        plot.profile(ax=ax)
        ax.scatter([resource], [performance], s=120, c="red", edgecolors="white", zorder=5)
        ax.set_title(f"PePR = {performance:.2f} / (1 + {resource:.2f}) = {score:.3f}")
        display(fig)
        plt.close(fig)
        _remember(state, fig)
        return score

    slider = dict(min=0.0, max=1.0, step=0.01, continuous_update=False)
    state: dict = {}
    controls = widgets.interactive(
        show,
        performance=widgets.FloatSlider(value=performance, description="P", **slider),
        resource=widgets.FloatSlider(value=resource, description="R", **slider),
    )
    return _finish(controls, show, state)


def _majority(df: pd.DataFrame, performance: str) -> float | None:
    """The one majority-class accuracy of ``df`` when ``performance`` is an accuracy it
    applies to (``test_acc``), else None."""
    if performance != "test_acc" or "majority_acc" not in df.columns:
        return None
    values = df["majority_acc"].dropna().unique()
    return float(values[0]) if len(values) == 1 else None


def _remember(state: dict, fig) -> None:
    state["figure"] = fig
    if "widget" in state:
        state["widget"].figure = fig


def _finish(controls, show, state: dict):
    """Expose ``.figure``; surface an error of the first draw (ipywidgets only logs it)."""
    if controls.result is None:
        show(**controls.kwargs)
    controls.figure = state.get("figure")
    state["widget"] = controls
    return controls


def _resource_column(df: pd.DataFrame, variant: str) -> str:
    if variant not in VARIANTS:
        raise ValueError(
            f"variant={variant!r} is not a PePR variant; use one of {list(VARIANTS)}."
            f"{did_you_mean(str(variant).upper(), VARIANTS)}"
        )
    column = VARIANTS[variant]
    if column not in df.columns:
        raise ValueError(
            f"variant={variant!r} needs the column {column!r}, which df lacks; pick another "
            f"variant or add the column (sweep schema)."
        )
    return column


def _default_budget(df, variant, by, groups, group=None) -> float:
    """The largest resource value of the current experiment: a budget every model meets."""
    subset = df if not groups else df[df[by] == (group if group is not None else groups[0])]
    return float(subset[VARIANTS[variant]].max())
