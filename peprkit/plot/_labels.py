"""Point labels that overlap neither each other nor the markers, placed without a renderer.

:func:`annotate_points` writes a name next to each point of a scatter (the Pareto plot's
model names); :func:`_label_offsets` chooses where, deterministically, from estimated text
boxes, so a saved figure is the same on every machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def annotate_points(ax: Any, x: np.ndarray, y: np.ndarray, names: list[str], *,
                    right_of: float, points: np.ndarray | None = None,
                    fontsize: float = 8.0) -> None:
    """Write ``names[i]`` next to point ``(x[i], y[i])`` on ``ax``, moved apart where crowded.

    Labels near the right edge (``x > right_of``) go left of their point; a label moved
    away from its default place gets a thin leader line. ``points`` are all markers to
    keep clear of (default: the labelled ones).

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> _, ax = plt.subplots()
    >>> annotate_points(ax, np.full(3, 0.5), np.full(3, 0.5), ["a", "b", "c"], right_of=0.9)
    >>> [(t.get_text(), t.get_horizontalalignment(), t.arrow_patch is not None)
    ...  for t in ax.texts]  # right of the point, left of it, then moved up with a leader
    [('a', 'left', False), ('b', 'right', False), ('c', 'left', True)]
    """
    offsets = _label_offsets(ax, x, y, names, right_of=right_of, points=points,
                             fontsize=fontsize)
    for xi, yi, text, (dx, dy, ha) in zip(x, y, names, offsets, strict=True):
        moved = dy != 3.0  # a label moved away from its point gets a thin leader line
        ax.annotate(text, (xi, yi), xytext=(dx, dy), textcoords="offset points",
                    ha=ha, va="bottom", fontsize=fontsize,
                    arrowprops=dict(arrowstyle="-", lw=0.6, color="0.35",
                                    shrinkA=0, shrinkB=3) if moved else None)


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
