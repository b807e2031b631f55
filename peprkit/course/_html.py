"""Self-contained HTML for the course tools: Jinja2 with autoescape, safe Markdown, SVG charts.

Every page the course tools write (student reports, the instructor's index, manual-marking
pages, the similarity report) is rendered by :func:`render` from a template in
``peprkit/course/_templates/`` with autoescaping on, and carries a Content-Security-Policy
that forbids scripts, frames and any network request (styles inline, images as ``data:``
only): a page works offline, and text a student wrote cannot run even if escaping failed.

Student text is rendered by :func:`markdown_html`: with ``markdown-it-py`` (when installed)
as CommonMark with raw HTML disabled (``<script>`` shows as text), links limited to
http(s)/mailto, and images replaced by their alt text (an image would be a network
request); without it, escaped text with paragraphs kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from peprkit._util import optional_import

TEMPLATES = Path(__file__).parent / "_templates"
#: No script, no frame, no request: styles inline, images as data: URIs.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "form-action 'none'; base-uri 'none'")


@lru_cache(maxsize=1)
def _env():
    jinja2 = optional_import("jinja2", extra="instructor", package="Jinja2")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.globals["CSP"] = CSP
    env.filters["num"] = number
    return env


def render(template: str, **context) -> str:
    """The page ``template`` (a file in ``_templates/``) filled with ``context``."""
    return _env().get_template(template).render(**context)


def number(value: object, digits: int = 2) -> str:
    """A point value for people: ``2``, ``1.5``, ``0.33``; ``–`` when missing.

    >>> number(2.0), number(1.5), number(1 / 3), number(float("nan"))
    ('2', '1.5', '0.33', '–')
    """
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if v != v:
        return "–"
    return f"{round(v, digits):g}"


def _plain(text: str) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join("<p>" + html.escape(p).replace("\n", "<br>") + "</p>" for p in paragraphs)


@lru_cache(maxsize=1)
def _markdown():
    try:
        from markdown_it import MarkdownIt
    except ImportError:
        return None
    md = MarkdownIt("commonmark", {"html": False, "linkify": False})
    md.validateLink = lambda url: bool(re.match(r"(https?:|mailto:|#)", url.strip(), re.I))

    def image(renderer, tokens, idx, options, env):  # an image is a request: show its alt
        return html.escape("[image: " + (tokens[idx].content or "no description") + "]")

    md.add_render_rule("image", image)
    return md


def markdown_html(text: str) -> str:
    """Student Markdown as HTML that cannot run anything (see the module's docstring).

    >>> markdown_html("<script>x()</script> **bold**")
    '<p>&lt;script&gt;x()&lt;/script&gt; <strong>bold</strong></p>\\n'
    """
    md = _markdown()
    return _plain(str(text)) if md is None else md.render(str(text))


def bar_svg(labels: Sequence[str], values: Sequence[float], *, vmax: float = 1.0,
            unit: str = "", width: int = 520) -> str:
    """A horizontal bar chart as inline SVG (escaped labels, one bar per value)."""
    row, left = 22, 150
    height = row * max(len(labels), 1) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'role="img">']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        v = 0.0 if value != value else max(0.0, float(value))
        w = (width - left - 70) * (v / vmax if vmax > 0 else 0.0)
        y = 5 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" font-size="12">'
                     f"{html.escape(str(label))}</text>")
        parts.append(f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" '
                     'fill="#4c72b0"/>')
        parts.append(f'<text x="{left + w + 4:.1f}" y="{y + 14}" font-size="12">'
                     f"{html.escape(number(value))}{html.escape(unit)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def histogram_svg(values: Sequence[float], *, bins: int = 10, vmax: float | None = None,
                  width: int = 520, height: int = 180) -> str:
    """A histogram of ``values`` (0..vmax) as inline SVG, counts above the bars."""
    vals = [float(v) for v in values if v == v]
    top = vmax if vmax else max(vals + [1.0])
    counts = [0] * bins
    for v in vals:
        counts[min(bins - 1, max(0, int(v / top * bins)))] += 1
    most = max(counts + [1])
    bw = (width - 40) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" '
             'role="img">']
    for i, c in enumerate(counts):
        h = (height - 20) * c / most
        x = 20 + i * bw
        parts.append(f'<rect x="{x + 1:.1f}" y="{height - h:.1f}" width="{bw - 2:.1f}" '
                     f'height="{h:.1f}" fill="#55a868"/>')
        if c:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - h - 3:.1f}" '
                         f'text-anchor="middle" font-size="11">{c}</text>')
        parts.append(f'<text x="{x + bw / 2:.1f}" y="{height + 14}" text-anchor="middle" '
                     f'font-size="10">{number(top * i / bins, 1)}–'
                     f'{number(top * (i + 1) / bins, 1)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def safe_name(text: str) -> str:
    """A file name for ``text`` (a student id): letters, digits, ``._-`` kept, the rest
    ``_``, with a short hash of the id when anything was replaced (no two ids collide).

    >>> safe_name("ann"), safe_name("Bob Smith")
    ('ann', 'Bob_Smith-7e3d89')
    """
    import hashlib

    name = re.sub(r"[^A-Za-z0-9._-]", "_", text).strip("._") or "student"
    if name != text:
        name = f"{name[:80]}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"
    return name
