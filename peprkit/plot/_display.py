"""Plain displays: a run's history, named bars, a grid of images.

Re-exported by :mod:`peprkit.plot`; like every plot there each takes ``ax=None`` (a new
figure when None; :func:`images` takes a Figure) and never calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from peprkit._validation import check_finite, column_values, require_columns
from peprkit.plot._style import axes_or_new, draw_baselines, parse_baselines, titled


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
    lines = parse_baselines(baseline)
    ax = axes_or_new(ax)
    for col in columns:
        ax.plot(history["epoch"], column_values(history, col), marker="o", label=col)
    draw_baselines(ax, lines)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or ", ".join(columns))
    ax.set_title(titled(title or ", ".join(columns) + " per epoch", history, synthetic=synthetic))
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
    ax = axes_or_new(ax)
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
