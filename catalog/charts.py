"""Bar charts drawn on the server as inline SVG: no script, readable in both themes (colours come from the CSS),
summarised for screen readers (role=img with a title and a description) and always followed by a table."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 72, 8, 12, 28  # room for the value axis on the left, the dates below
# The same chart drawn for a phone: the wide one, shrunk to a phone's 300 pixels, had 6-pixel labels, and made wider
# than the screen it scrolled sideways and showed either its scale or its latest days, never both. This one is drawn
# at about a phone's size (its labels near their 12 pixels) and shows the whole period at once.
NARROW_WIDTH = 320


@dataclass(frozen=True)
class Bar:
    x: str
    y: str
    width: str
    height: str
    label: str  # shown on hover (an SVG <title>); the table below says the same to everyone


@dataclass(frozen=True)
class AxisLabel:
    x: str
    y: str
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class BarChart:
    title: str
    summary: str
    bars: list[Bar]
    grid: list[str]  # y of each horizontal grid line
    value_labels: list[AxisLabel]
    day_labels: list[AxisLabel]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    baseline: str = str(HEIGHT - BOTTOM)
    narrow: BarChart | None = None  # the same chart drawn for a phone


def nice_ceiling(value: float) -> float:
    """The round number (1, 2, 2.5 or 5 times a power of ten) at or above `value`, for the top of the axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%b}"


def bar_chart(
    *,
    title: str,
    points: list[tuple[dt.date, float]],
    format_value: Callable[[float], str],
    width: int = WIDTH,
    narrow: bool = False,
) -> BarChart:
    """One bar per day; the value axis runs from zero to a round number above the highest day. With `narrow`, the
    chart carries its phone-sized drawing too (`.narrow`, NARROW_WIDTH wide), which the page shows on a narrow
    screen instead."""
    top = nice_ceiling(max((value for _, value in points), default=0))
    plot_width, plot_height = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / max(len(points), 1)
    bar_width = max(slot * 0.75, 1.0)
    bars = []
    for index, (day, value) in enumerate(points):
        height = plot_height * value / top
        if 0 < height < 1:
            height = 1.0  # a day with some use stays visible
        bars.append(
            Bar(
                x=_number(LEFT + index * slot + (slot - bar_width) / 2),
                y=_number(TOP + plot_height - height),
                width=_number(bar_width),
                height=_number(height),
                label=f"{_day(day)}: {format_value(value)}",
            )
        )
    grid, value_labels = [], []
    for fraction in (0, 0.5, 1):
        y = _number(TOP + plot_height * (1 - fraction))
        grid.append(y)
        value_labels.append(
            AxisLabel(x=str(LEFT - 6), y=_number(float(y) + 4), text=format_value(top * fraction), anchor="end")
        )
    day_labels = []
    if points:
        shown = sorted({0, len(points) // 2, len(points) - 1})
        for index in shown:
            anchor = "start" if index == 0 and len(points) > 1 else "end" if index == len(points) - 1 else "middle"
            x = LEFT + index * slot + (0 if anchor == "start" else slot if anchor == "end" else slot / 2)
            day_labels.append(AxisLabel(x=_number(x), y=str(HEIGHT - 8), text=_day(points[index][0]), anchor=anchor))
    return BarChart(
        title=title,
        summary=_summary(points, format_value),
        bars=bars,
        grid=grid,
        value_labels=value_labels,
        day_labels=day_labels,
        width=width,
        right=width - RIGHT,
        narrow=bar_chart(title=title, points=points, format_value=format_value, width=NARROW_WIDTH) if narrow else None,
    )


def _summary(points: list[tuple[dt.date, float]], format_value: Callable[[float], str]) -> str:
    if not points:
        return "No days to show."
    total = sum(value for _, value in points)
    span = f"{_day(points[0][0])} to {_day(points[-1][0])}"
    if not total:
        return f"{span}: nothing used."
    peak_day, peak = max(points, key=lambda point: (point[1], point[0]))
    active = sum(1 for _, value in points if value)
    return (
        f"{span}: {format_value(total)} in all, over {active} of {len(points)} days; "
        f"the most on {_day(peak_day)} ({format_value(peak)})."
    )
