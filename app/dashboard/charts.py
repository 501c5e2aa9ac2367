"""Tiny server-side SVG charts: geometry computed here, drawn by a Jinja macro.

No JavaScript and no CDN, so the admin works offline and under the strict CSP; every value
reaches the page through Jinja's autoescaping.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import date

logger = logging.getLogger(__name__)

WIDTH = 640
HEIGHT = 200
PAD_LEFT = 40
PAD_RIGHT = 8
PAD_TOP = 10
PAD_BOTTOM = 24
MONTH_LABEL = "%b %y"  # x-axis label of a monthly chart
MONTH_TITLE = "%b %Y"  # a monthly bar's tooltip


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass
class Chart:
    """Everything the `svg_chart` macro needs."""

    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    points: str = ""  # polyline "x,y x,y" for line charts
    dots: list[Bar] = field(default_factory=list)
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_labels: list[tuple[float, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    empty: bool = True


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    base: float = 10**exponent
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * base:
            return step * base
    return 10 * base


def _nice_top(value: float) -> float:
    """Axis top with four round steps (0, 10, 20, 30, 40 rather than 0, 6.25, ... 25)."""
    return _nice_max(value / 4) * 4


def _axes(chart: Chart, days: list[date], top: float, label_fmt: str = "%d %b", every: int = 5) -> tuple[float, float]:
    plot_w = chart.width - PAD_LEFT - PAD_RIGHT
    plot_h = chart.height - PAD_TOP - PAD_BOTTOM
    for i in range(5):
        value = top * i / 4
        y = PAD_TOP + plot_h - plot_h * i / 4
        label = f"{value:g}" if value < 10000 else f"{value / 1000:g}k"
        chart.y_ticks.append((round(y, 1), label))
    slot = plot_w / max(len(days), 1)
    for i, d in enumerate(days):
        if i % every == 0 or i == len(days) - 1:
            chart.x_labels.append((round(PAD_LEFT + slot * i + slot / 2, 1), d.strftime(label_fmt)))
    return slot, plot_h


def grouped_bars(days: list[date], series: list[tuple[str, str, list[int]]]) -> Chart:
    """Side-by-side bars per day; `series` is (label, css class, values)."""
    chart = Chart(legend=[(label, css) for label, css, _ in series])
    top = _nice_top(max((v for _, _, values in series for v in values), default=0))
    slot, plot_h = _axes(chart, days, top)
    inner = slot * 0.8 / max(len(series), 1)
    for s_index, (label, css, values) in enumerate(series):
        for i, value in enumerate(values):
            h = plot_h * value / top
            x = PAD_LEFT + slot * i + slot * 0.1 + inner * s_index
            chart.bars.append(
                Bar(
                    round(x, 1),
                    round(PAD_TOP + plot_h - h, 1),
                    round(inner, 1),
                    round(h, 1),
                    css,
                    f"{days[i].isoformat()}: {value} {label}",
                )
            )
            if value:
                chart.empty = False
    return chart


def line(days: list[date], values: list[float | None], label: str, unit: str = "", *, monthly: bool = False) -> Chart:
    """A line through the days (or months) that have a value (gaps are skipped, not drawn as zero)."""
    chart = Chart(legend=[(label, "series-line")])
    top = _nice_top(max((v for v in values if v is not None), default=0))
    label_fmt, every = (MONTH_LABEL, 1) if monthly else ("%d %b", 5)
    slot, plot_h = _axes(chart, days, top, label_fmt, every)
    points = []
    for i, value in enumerate(values):
        if value is None:
            continue
        x = PAD_LEFT + slot * i + slot / 2
        y = PAD_TOP + plot_h - plot_h * value / top
        points.append(f"{x:.1f},{y:.1f}")
        when = days[i].strftime(MONTH_TITLE) if monthly else days[i].isoformat()
        chart.dots.append(Bar(round(x, 1), round(y, 1), 3, 3, "series-line", f"{when}: {value:g}{unit}"))
        chart.empty = False
    chart.points = " ".join(points)
    return chart


def stacked_bars(months: list[date], series: list[tuple[str, str, list[int]]]) -> Chart:
    """One bar per month, the series stacked in order; zero segments are not drawn."""
    chart = Chart(legend=[(label, css) for label, css, _ in series])
    totals = [sum(values[i] for _, _, values in series) for i in range(len(months))]
    top = _nice_top(max(totals, default=0))
    slot, plot_h = _axes(chart, months, top, MONTH_LABEL, 1)
    for i, month in enumerate(months):
        base = PAD_TOP + plot_h
        for label, css, values in series:
            if not values[i]:
                continue
            h = plot_h * values[i] / top
            base -= h
            title = f"{month.strftime(MONTH_TITLE)}: {values[i]} {label}"
            chart.bars.append(
                Bar(
                    round(PAD_LEFT + slot * i + slot * 0.15, 1),
                    round(base, 1),
                    round(slot * 0.7, 1),
                    round(h, 1),
                    css,
                    title,
                )
            )
            chart.empty = False
    return chart
