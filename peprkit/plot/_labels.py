"""Point labels that overlap neither each other nor the markers, and stay inside the Axes.

:func:`annotate_points` writes a name next to each point of a scatter (the Pareto plots'
model names). Where each label goes is decided by :func:`place_labels` from the renderer's
own text extents, every time the figure is drawn (an invisible helper artist runs just
before the labels are drawn), so the placement follows the final layout: a colour bar,
a legend below the Axes, ``tight_layout`` or a larger ``dpi`` all change the spacing of the
points and the labels move with them.

The placement is greedy and deterministic. Labels are taken in order of their point (left
to right, then bottom to top). Each label's candidate boxes lie right of, left of, above
and below its point, then one, two, ... label heights further up or down and half a label
width further out, cheapest (nearest its point) first; it takes the nearest candidate that
lies inside the Axes and overlaps no marker, no legend inside the Axes and no label placed
before it, preferring one that also crosses no line (the plot's lines and range bars of
``zorder >= 2``: fronts, baselines, budgets; not thin connectors drawn below them). A label
away from its point gets a thin leader line. When no candidate is free (more labels than
room), the one with the least overlap is taken, so a label never leaves the Axes but may
touch another.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Gap between a point and its label, half-size of the square kept clear around every
#: marker, and the gap between stacked labels, in points.
PAD_PT, MARK_PT, GAP_PT = 4.5, 3.5, 1.5
#: Rows of candidates above and below a point, and columns further out on each side.
ROWS, COLUMNS = 16, 4


def annotate_points(ax: Any, x: Any, y: Any, names: list[str], *,
                    points: Any = None, fontsize: float = 8.0,
                    color: str = "black") -> list[Any]:
    """Write ``names[i]`` next to point ``(x[i], y[i])`` on ``ax``, moved apart where crowded.

    ``points`` are all markers to keep clear of, as an ``(n, 2)`` array in data
    coordinates (default: the labelled points). The labels are placed now and again
    whenever the figure is drawn (see the module docstring).

    Returns:
        The annotations, in the order of ``names``.

    Raises:
        ValueError: ``x``, ``y`` and ``names`` differ in length.

    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> _, ax = plt.subplots()
    >>> texts = annotate_points(ax, np.full(3, 0.5), np.full(3, 0.5), ["a", "b", "c"])
    >>> [(t.get_text(), t.xyann[0] > 0) for t in texts]  # right, left, then centred above
    [('a', True), ('b', False), ('c', False)]
    >>> crowd = annotate_points(ax, np.full(12, 0.2), np.full(12, 0.2),
    ...                         [f"model {i}" for i in range(12)])
    >>> len({t.xyann for t in crowd}), any(t.arrow_patch.get_visible() for t in crowd)
    (12, True)
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if not len(x) == len(y) == len(names):
        raise ValueError(f"`x`, `y` and `names` must have one entry per point, got {len(x)}, "
                         f"{len(y)} and {len(names)}; pass one name per point.")
    marks = (np.column_stack([x, y]) if points is None
             else np.asarray(points, dtype=float).reshape(-1, 2))
    texts = []
    for xi, yi, name in zip(x, y, names, strict=True):
        text = ax.annotate(str(name), (xi, yi), xytext=(PAD_PT, 0.0), textcoords="offset points",
                           ha="left", va="bottom", fontsize=fontsize, color=color,
                           gid="point-label",
                           arrowprops=dict(arrowstyle="-", lw=0.6, color="0.35", shrinkA=0,
                                           shrinkB=2))
        text.set_in_layout(False)  # kept inside the Axes: the layout need not make room
        text.arrow_patch.set_visible(False)
        texts.append(text)
    if texts:
        placer = _placer_class()(texts, marks)
        ax.add_artist(placer)
        placer.place(_renderer(ax.figure))
    return texts


def _renderer(fig: Any) -> Any:
    canvas = fig.canvas
    return canvas.get_renderer() if hasattr(canvas, "get_renderer") else fig._get_renderer()


_PLACER: list[type] = []


def _placer_class() -> type:
    """The helper artist (made once, as matplotlib is imported only when a plot is drawn)."""
    if _PLACER:
        return _PLACER[0]
    from matplotlib.artist import Artist

    class LabelPlacer(Artist):
        """Draws nothing; places its labels from the renderer just before they are drawn."""

        zorder = 2.9  # below the labels (Text: 3), so it runs first

        def __init__(self, texts: list[Any], marks: np.ndarray) -> None:
            super().__init__()
            self.texts, self.marks = texts, marks
            self.set_in_layout(False)

        def place(self, renderer: Any) -> None:
            place_labels(self.texts, self.marks, renderer)

        def draw(self, renderer: Any) -> None:
            if self.get_visible():
                self.place(renderer)
            self.stale = False

    _PLACER.append(LabelPlacer)
    return LabelPlacer


def _candidates(px: float, py: float, w: float, h: float, pad: float,
                gap: float) -> np.ndarray:
    """Boxes ``(x0, y0, x1, y1)`` for a ``w x h`` label of the point ``(px, py)``, nearest
    first: beside the point at its height, then ``ROWS`` label heights up and down, in the
    columns right, left, centred and ``COLUMNS`` half-widths further out."""
    steps = np.r_[0, np.column_stack([np.arange(1, ROWS + 1), -np.arange(1, ROWS + 1)]).ravel()]
    rows = py - h / 2 + steps * (h + gap)
    cols = [px + pad, px - pad - w, px - w / 2]
    for j in range(1, COLUMNS + 1):
        cols += [px + pad + j * w / 2, px - pad - w - j * w / 2]
    x0, y0 = np.meshgrid(np.asarray(cols), rows)
    boxes = np.column_stack([x0.ravel(), y0.ravel(), x0.ravel() + w, y0.ravel() + h])
    dx = np.maximum.reduce([boxes[:, 0] - px, np.zeros(len(boxes)), px - boxes[:, 2]])
    dy = np.maximum.reduce([boxes[:, 1] - py, np.zeros(len(boxes)), py - boxes[:, 3]])
    order = np.lexsort((np.arange(len(boxes)), np.round(np.hypot(dx, dy), 2)))
    return boxes[order]


def _overlap(boxes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Total area of each of ``boxes`` covered by ``others`` (both ``(n, 4)``)."""
    if not len(others):
        return np.zeros(len(boxes))
    w = (np.minimum(boxes[:, None, 2], others[None, :, 2])
         - np.maximum(boxes[:, None, 0], others[None, :, 0]))
    h = (np.minimum(boxes[:, None, 3], others[None, :, 3])
         - np.maximum(boxes[:, None, 1], others[None, :, 1]))
    return (np.clip(w, 0, None) * np.clip(h, 0, None)).sum(axis=1)


def place_labels(texts: list[Any], marks: np.ndarray, renderer: Any) -> None:
    """Move each annotation of ``texts`` (``ha="left"``, ``va="bottom"``, offset in points
    from its point) to the nearest free place: inside its Axes, clear of every marker in
    ``marks`` (data coordinates), of a legend drawn inside the Axes and of the labels placed
    before it. Shows a label's leader line when it sits away from its point."""
    from matplotlib.text import Text

    if not texts:
        return
    ax = texts[0].axes
    px_per_pt = ax.figure.dpi / 72.0
    pad, gap, mark = PAD_PT * px_per_pt, GAP_PT * px_per_pt, MARK_PT * px_per_pt
    frame = ax.bbox
    x_lo, y_lo, x_hi, y_hi = frame.x0 + 1, frame.y0 + 1, frame.x1 - 1, frame.y1 - 1
    anchors = ax.transData.transform(np.array([t.xy for t in texts], dtype=float))
    marks_px = ax.transData.transform(marks) if len(marks) else np.zeros((0, 2))
    marks_px = marks_px[np.isfinite(marks_px).all(axis=1)]
    placed = [np.column_stack([marks_px - mark, marks_px + mark])]
    legend = ax.get_legend()
    if legend is not None and legend.get_visible():
        box = legend.get_window_extent(renderer)
        if box.overlaps(frame):
            placed.append(np.array([[box.x0, box.y0, box.x1, box.y1]]))
    obstacles = np.vstack(placed)
    soft = _line_boxes(ax, 1.0 * px_per_pt)
    sizes = []
    for text in texts:
        text.update_positions(renderer)
        box = Text.get_window_extent(text, renderer)
        sizes.append((box.width, box.height))
    for i in np.lexsort((anchors[:, 1], anchors[:, 0])):
        text, (w, h), (px, py) = texts[i], sizes[i], anchors[i]
        if not (np.isfinite(px) and np.isfinite(py)) or not text.get_text():
            continue
        boxes = _candidates(px, py, w, h, pad, gap)
        inside = ((boxes[:, 0] >= x_lo) & (boxes[:, 1] >= y_lo) & (boxes[:, 2] <= x_hi)
                  & (boxes[:, 3] <= y_hi))
        if inside.any():
            boxes = boxes[inside]
            cover = _overlap(boxes, obstacles)
            crossed = _overlap(boxes, soft) > 1e-9
            free = np.flatnonzero(cover <= 1e-9)
            clear = free[~crossed[free]]
            box = boxes[clear[0] if len(clear) else free[0] if len(free)
                        else int(np.argmin(cover))]
        else:  # wider or taller than the Axes: beside the point, pushed inside
            x0 = min(max(px + pad, x_lo), max(x_hi - w, x_lo))
            y0 = min(max(py - h / 2, y_lo), max(y_hi - h, y_lo))
            box = np.array([x0, y0, x0 + w, y0 + h])
        obstacles = np.vstack([obstacles, box[None, :]])
        dist = np.hypot(max(box[0] - px, 0.0, px - box[2]), max(box[1] - py, 0.0, py - box[3]))
        _quietly(text, ((box[0] - px) / px_per_pt, (box[1] - py) / px_per_pt),
                 leader=bool(dist > pad + 0.75 * h))


def _line_boxes(ax: Any, half: float) -> np.ndarray:
    """Small squares (half-size ``half`` px) every ``half`` px along the Axes' lines and line
    collections of ``zorder >= 2``, in display coordinates, clipped to the Axes."""
    from matplotlib.collections import LineCollection

    paths = []
    for line in ax.lines:
        if line.get_visible() and line.get_zorder() >= 2 and line.get_linestyle() != "None":
            paths.append(line.get_transform().transform(np.asarray(line.get_xydata(), float)))
    for coll in ax.collections:
        if (isinstance(coll, LineCollection) and coll.get_visible()
                and coll.get_zorder() >= 2):
            to_px = coll.get_transform()
            paths += [to_px.transform(np.asarray(seg, float)) for seg in coll.get_segments()]
    frame = ax.bbox
    dots = []
    for xy in paths:
        xy = xy[np.isfinite(xy).all(axis=1)]
        for a, b in zip(xy[:-1], xy[1:], strict=True):
            a = np.clip(a, [frame.x0, frame.y0], [frame.x1, frame.y1])
            b = np.clip(b, [frame.x0, frame.y0], [frame.x1, frame.y1])
            k = int(np.ceil(np.hypot(*(b - a)) / half)) + 1
            if k > 10_000:  # pragma: no cover - a line far longer than any Axes
                continue
            t = np.linspace(0.0, 1.0, k)[:, None]
            dots.append(a + t * (b - a))
    if not dots:
        return np.zeros((0, 4))
    pts = np.unique(np.round(np.vstack(dots), 1), axis=0)
    return np.column_stack([pts - half, pts + half])


def _quietly(text: Any, offset: tuple[float, float], *, leader: bool) -> None:
    """Set a label's offset and leader without marking the figure stale (which would ask an
    interactive backend to draw again, and so place again, without end)."""
    callback, text.stale_callback = text.stale_callback, None
    try:
        text.xyann = (float(offset[0]), float(offset[1]))
        text.arrow_patch.set_visible(leader)
    finally:
        text.stale_callback = callback
