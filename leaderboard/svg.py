"""Inline SVG charts for the HTML leaderboard, written as text (no JavaScript, no library).

`scatter_chart` draws one point per record: x = wall seconds (log scale when the values span
more than a factor LOG_SPAN), y = the primary metric, one colour per series (model) with a
legend. `interval_chart` draws a mean ± std per category (the sharing comparison's kinds).
Every text is escaped with `html.escape`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 680, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 190, 20, 48  # margins; the legend lives in the right one
LOG_SPAN = 20.0
LEGEND_CHARS = 30  # longer series names are cut (with "…") to fit the margin; the full name is a tooltip
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac")


@dataclass(frozen=True)
class Point:
    """One record on a chart: its series (legend entry), x, y and a tooltip."""

    series: str
    x: float
    y: float
    tooltip: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (steps of 1, 2, 2.5 or 5 × 10^k) covering [low, high]."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    return [round(i * step, 12) for i in range(first, math.floor(high / step + 1e-9) + 1)]


def _linear_domain(values: Sequence[float]) -> tuple[float, float]:
    """Data range with 8% padding; a single value gets a range around it."""
    low, high = min(values), max(values)
    span = high - low or max(abs(high) * 0.1, 0.01)
    return low - 0.08 * span, high + 0.08 * span


def _x_axis(values: Sequence[float]) -> tuple[Callable[[float], float], list[float], bool]:
    """(value -> 0..1 position, tick values, log scale?) for wall seconds."""
    low, high = min(values), max(values)
    if low > 0 and high / low > LOG_SPAN:
        lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
        ticks = [10.0 ** k for k in range(lo, hi + 1)]
        return (lambda v: (math.log10(v) - lo) / (hi - lo)), ticks, True
    lo, hi = _linear_domain(values)
    lo = max(lo, 0.0) if low >= 0 else lo
    ticks = [t for t in nice_ticks(lo, hi) if lo <= t <= hi]
    return (lambda v: (v - lo) / (hi - lo)), ticks, False


def _legend(series: list[str]) -> list[str]:
    """Legend entries: a dot and the series name, one per line, in the right margin."""
    parts = []
    for i, name in enumerate(series):
        y = TOP + 14 + 20 * i
        shown = name if len(name) <= LEGEND_CHARS else name[:LEGEND_CHARS - 1] + "…"
        parts.append(f'<circle cx="{WIDTH - RIGHT + 20}" cy="{y}" r="5" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{WIDTH - RIGHT + 32}" y="{y + 4}">{escape(shown)}<title>{escape(name)}</title></text>')
    return parts


def scatter_chart(points: Sequence[Point], title: str, y_label: str,
                  y_format: Callable[[float], str]) -> str:
    """An `<svg>` element: points coloured by series, axes with ticks, a legend and a title."""
    if not points:
        raise ValueError("scatter_chart needs at least one point")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    to_x, x_ticks, log_x = _x_axis([p.x for p in points])
    y_lo, y_hi = _linear_domain([p.y for p in points])

    def px(v: float) -> float:
        return round(LEFT + to_x(v) * plot_w, 2)

    def py(v: float) -> float:
        return round(TOP + (1 - (v - y_lo) / (y_hi - y_lo)) * plot_h, 2)

    series = sorted({p.series for p in points})
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for tick in [t for t in nice_ticks(y_lo, y_hi) if y_lo <= t <= y_hi]:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(tick)}" y2="{py(tick)}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{py(tick) + 4}" text-anchor="end">{escape(y_format(tick))}</text>')
    for tick in x_ticks:
        parts.append(f'<line x1="{px(tick)}" x2="{px(tick)}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>'
                     f'<text x="{px(tick)}" y="{TOP + plot_h + 16}" text-anchor="middle">{tick:g}</text>')
    for p in points:
        parts.append(f'<circle cx="{px(p.x)}" cy="{py(p.y)}" r="5" fill="{colour[p.series]}" class="point">'
                     f'<title>{escape(p.tooltip)}</title></circle>')
    x_label = "wall seconds (log scale)" if log_x else "wall seconds"
    parts += [
        f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 10}" text-anchor="middle">{x_label}</text>',
        f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f'{escape(y_label)}</text>',
        *_legend(series),
    ]
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>{"".join(parts)}</svg>')


@dataclass(frozen=True)
class Interval:
    """One category on an interval chart: its label, mean, std (None: no error bar) and a tooltip."""

    label: str
    mean: float
    std: float | None
    tooltip: str


def interval_chart(items: Sequence[Interval], title: str, y_label: str, y_format: Callable[[float], str]) -> str:
    """An `<svg>` element: a dot at each category's mean with a ± std error bar, categories along x."""
    if not items:
        raise ValueError("interval_chart needs at least one item")
    plot_w, plot_h = WIDTH - LEFT - 20, HEIGHT - TOP - BOTTOM
    y_lo, y_hi = _linear_domain([v for i in items for v in (i.mean - (i.std or 0.0), i.mean + (i.std or 0.0))])

    def py(v: float) -> float:
        return round(TOP + (1 - (v - y_lo) / (y_hi - y_lo)) * plot_h, 2)

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="plot"/>']
    for tick in [t for t in nice_ticks(y_lo, y_hi) if y_lo <= t <= y_hi]:
        parts.append(f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{py(tick)}" y2="{py(tick)}" class="grid"/>'
                     f'<text x="{LEFT - 6}" y="{py(tick) + 4}" text-anchor="end">{escape(y_format(tick))}</text>')
    for index, item in enumerate(items):
        x, colour = round(LEFT + (index + 0.5) * plot_w / len(items), 2), PALETTE[index % len(PALETTE)]
        if item.std is not None:
            low, high = py(item.mean - item.std), py(item.mean + item.std)
            parts.append(f'<path d="M{x - 6} {low}H{x + 6}M{x} {low}V{high}M{x - 6} {high}H{x + 6}" '
                         f'stroke="{colour}" stroke-width="2" fill="none" class="error"/>')
        parts.append(f'<circle cx="{x}" cy="{py(item.mean)}" r="6" fill="{colour}" class="point">'
                     f'<title>{escape(item.tooltip)}</title></circle>'
                     f'<text x="{x}" y="{TOP + plot_h + 16}" text-anchor="middle">{escape(item.label)}</text>')
    parts.append(f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">'
                 f'{escape(y_label)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>{"".join(parts)}</svg>')
