"""Charts drawn on the server as SVG: no script, no fetched asset, every label escaped.

Three shapes cover the monitoring pages: lines over time (rates with their thresholds,
counts per hour), horizontal bars (how many of a kind), and a timeline of intervals
(blocklist listings). Each chart carries its title for screen readers and a ``<title>``
on every mark, so hovering shows the figure; colours come from ``workbench.css``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 200
# Room for the axis labels: left (values), bottom (dates), top (title), right (threshold names).
LEFT, BOTTOM, TOP, RIGHT = 56, 24, 22, 96
BAR_HEIGHT = 18
ROW_HEIGHT = 22
MAX_BARS = 40
MAX_ROWS = 60
LEGEND_ITEM = 96


@dataclass(frozen=True)
class Series:
    """One line: a name and its (time, value) points, in any order."""

    name: str
    points: Sequence[tuple[datetime, float]]


@dataclass(frozen=True)
class Threshold:
    """A level drawn across a line chart, e.g. the policy's review threshold."""

    label: str
    value: float


@dataclass(frozen=True)
class Interval:
    """One bar of a timeline: from *start* to *end* (None: still going)."""

    label: str
    start: datetime
    end: datetime | None
    note: str = ""


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    unit: str = "",
    thresholds: Sequence[Threshold] = (),
    percent: bool = False,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Markup:
    """Return an SVG chart of *series* over time; *percent* shows fractions as percentages."""
    points = [p for s in series for p in s.points]
    if not points:
        return _empty(title, width)
    start = min(at for at, _ in points)
    end = max(at for at, _ in points)
    top = max([value for _, value in points] + [t.value for t in thresholds] + [0.0])
    top = top * 1.1 if top > 0 else 1.0
    plot_w, plot_h = width - LEFT - RIGHT, height - TOP - BOTTOM
    span = (end - start).total_seconds() or 1.0

    def x(at: datetime) -> float:
        return LEFT + plot_w * (at - start).total_seconds() / span

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / top)

    def figure(value: float) -> str:
        return _figure(value, unit=unit, percent=percent)

    parts = [_open(title, width, height)]
    parts.extend(
        f'<line class="chart-grid" x1="{LEFT}" y1="{y(value):.1f}" '
        f'x2="{LEFT + plot_w}" y2="{y(value):.1f}"/>'
        f'<text class="chart-axis" x="{LEFT - 4}" y="{y(value) + 4:.1f}" '
        f'text-anchor="end">{escape(figure(value))}</text>'
        for value in (0.0, top / 2, top)
    )
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text class="chart-axis" x="{x(at):.1f}" y="{height - 6}" '
            f'text-anchor="{anchor}">{escape(_date(at))}</text>'
        )
    for threshold in thresholds:
        level = y(threshold.value)
        parts.append(
            f'<line class="chart-threshold" x1="{LEFT}" y1="{level:.1f}" '
            f'x2="{LEFT + plot_w}" y2="{level:.1f}"/>'
            f'<text class="chart-threshold-label" x="{LEFT + plot_w + 4}" y="{level + 4:.1f}">'
            f"{escape(threshold.label)} {escape(figure(threshold.value))}</text>"
        )
    for index, line in enumerate(series):
        ordered = sorted(line.points)
        if not ordered:
            continue
        path = " ".join(f"{x(at):.1f},{y(value):.1f}" for at, value in ordered)
        parts.append(
            f'<g class="chart-series chart-series-{index % 6}">'
            f"<title>{escape(line.name)}</title>"
            f'<polyline class="chart-line" points="{path}"/>'
        )
        for at, value in ordered:
            parts.append(
                f'<circle class="chart-point" cx="{x(at):.1f}" cy="{y(value):.1f}" r="2">'
                f"<title>{escape(line.name)} {escape(_date(at))}: {escape(figure(value))}"
                "</title></circle>"
            )
        parts.append("</g>")
    parts.append(_legend(series, width))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every text part above is escaped


def bar_chart(bars: Sequence[tuple[str, float]], *, title: str, unit: str = "") -> Markup:
    """Return horizontal bars, one per (label, value), the longest scaled to the width."""
    shown = list(bars)[:MAX_BARS]
    if not shown:
        return _empty(title, WIDTH)
    height = TOP + BAR_HEIGHT * len(shown) + 8
    label_w = 160
    plot_w = WIDTH - label_w - 80
    top = max(value for _, value in shown) or 1.0
    parts = [_open(title, WIDTH, height)]
    for row, (label, value) in enumerate(shown):
        y = TOP + row * BAR_HEIGHT
        length = plot_w * max(value, 0.0) / top
        parts.append(
            f'<text class="chart-axis" x="{label_w - 6}" y="{y + 12}" text-anchor="end">'
            f"{escape(_clip(label))}</text>"
            f'<rect class="chart-bar" x="{label_w}" y="{y + 2}" width="{length:.1f}" '
            f'height="{BAR_HEIGHT - 4}"><title>{escape(label)}: {escape(_figure(value, unit=unit))}'
            "</title></rect>"
            f'<text class="chart-value" x="{label_w + length + 4:.1f}" y="{y + 12}">'
            f"{escape(_figure(value, unit=unit))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every text part above is escaped


def timeline(rows: Sequence[Interval], *, start: datetime, end: datetime, title: str) -> Markup:
    """Return one bar per interval between *start* and *end*; an open one runs to *end*."""
    shown = [r for r in rows if (r.end is None or r.end >= start) and r.start <= end][:MAX_ROWS]
    if not shown or end <= start:
        return _empty(title, WIDTH)
    label_w = 200
    plot_w = WIDTH - label_w - 12
    height = TOP + ROW_HEIGHT * len(shown) + BOTTOM
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        clamped = min(max(at, start), end)
        return label_w + plot_w * (clamped - start).total_seconds() / span

    parts = [_open(title, WIDTH, height)]
    for row, interval in enumerate(shown):
        y = TOP + row * ROW_HEIGHT
        left, right = x(interval.start), x(interval.end or end)
        state = "open" if interval.end is None else "closed"
        until = _date(interval.end) if interval.end else "now"
        words = f"{interval.label}: {_date(interval.start)} to {until}"
        if interval.note:
            words += f" ({interval.note})"
        parts.append(
            f'<text class="chart-axis" x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(_clip(interval.label, 30))}</text>"
            f'<rect class="chart-interval chart-interval-{state}" x="{left:.1f}" y="{y + 3}" '
            f'width="{max(right - left, 2.0):.1f}" height="{ROW_HEIGHT - 6}">'
            f"<title>{escape(words)}</title></rect>"
        )
    for at, anchor in ((start, "start"), (end, "end")):
        parts.append(
            f'<text class="chart-axis" x="{x(at):.1f}" y="{height - 6}" '
            f'text-anchor="{anchor}">{escape(_date(at))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every text part above is escaped


def _open(title: str, width: int, height: int) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<text class="chart-title" x="4" y="14">{escape(title)}</text>'
    )


def _empty(title: str, width: int) -> Markup:
    return Markup(  # noqa: S704  # the title is escaped
        _open(title, width, 48)
        + '<text class="chart-empty" x="4" y="36">No figures for this period.</text></svg>'
    )


def _legend(series: Sequence[Series], width: int) -> str:
    """Name each line in the title row, right of the title, clear of the threshold labels."""
    if len(series) < 2:
        return ""
    items = []
    for index, line in enumerate(series):
        x = width // 2 + index * LEGEND_ITEM
        items.append(
            f'<g class="chart-series chart-series-{index % 6}">'
            f'<line class="chart-line" x1="{x}" y1="10" x2="{x + 12}" y2="10"/>'
            f'<text class="chart-legend" x="{x + 16}" y="14">{escape(_clip(line.name, 12))}</text>'
            "</g>"
        )
    return "".join(items)


def _figure(value: float, *, unit: str = "", percent: bool = False) -> str:
    if percent:
        return f"{value * 100:.2f}%"
    text = f"{value:,.0f}" if value == int(value) or abs(value) >= 100 else f"{value:,.2f}"
    return f"{text} {unit}".strip()


def _date(at: datetime) -> str:
    return at.strftime("%d %b %H:%M") if at.hour or at.minute else at.strftime("%d %b")


def _clip(text: str, limit: int = 24) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
