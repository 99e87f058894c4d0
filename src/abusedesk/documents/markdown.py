"""Write a `Document` as CommonMark with GitHub-style tables.

The layout, so that a reader (or a test) knows what to expect:

- ``# Title``, then the subtitle as a paragraph, then ``_Generated YYYY-MM-DD HH:MM UTC_``.
- A heading of level *n* is ``#`` repeated *n* + 1 times (at most four).
- Paragraph text keeps its lines; blank lines separate paragraphs.
- Bullet lists are ``- item``; figures are a table ``| Figure | Value | Note |``.
- A table is its caption in bold, then a pipe table.
- A line chart is its title in bold, then a table with one row per time and one column per
  series (empty where a series has no point), then its thresholds; a bar chart is its
  title in bold, then a table ``| Label | Value |``. A chart without points says so.

Every text is escaped, so a customer's words never become a link, an image, raw HTML or
a heading: Markdown punctuation is backslash-escaped, control characters are dropped, and
line breaks inside a table cell become spaces.
"""

import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from abusedesk.documents.text import clean, figure, timestamp
from abusedesk.insights.document import (
    BarChart,
    Block,
    BulletList,
    Document,
    Figures,
    Heading,
    LineChart,
    Paragraph,
    Table,
)

# Punctuation that means something anywhere in a line: emphasis, code, links, raw HTML,
# entities, strikethrough, table cells.
_INLINE = re.compile(r"([\\`*_\[\]<>|~&!])")
# What means something only at the start of a line: headings, lists, quotes, rules, setext.
_LINE_START = re.compile(r"^([#+\-=])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
NO_FIGURES = "_No figures for this period._"


def to_markdown(doc: Document) -> str:
    """Return *doc* as Markdown text ending in one newline."""
    parts = [f"# {_inline(doc.title)}"]
    if doc.subtitle:
        parts.append(_text(doc.subtitle))
    parts.append(f"_Generated {timestamp(doc.generated_at)}_")
    parts.extend(_block(block) for block in doc.blocks)
    return "\n\n".join(part for part in parts if part) + "\n"


def _block(block: Block) -> str:
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 3) + 1
        return f"{'#' * level} {_inline(block.text)}"
    if isinstance(block, Paragraph):
        return _text(block.text)
    if isinstance(block, BulletList):
        return "\n".join(f"- {_inline(item)}" for item in block.items)
    if isinstance(block, Figures):
        return _table(("Figure", "Value", "Note"), block.rows)
    if isinstance(block, Table):
        table = _table(block.columns, block.rows)
        caption = f"**{_inline(block.caption)}**" if block.caption else ""
        return "\n\n".join(part for part in (caption, table) if part)
    if isinstance(block, LineChart):
        return _line_chart(block)
    return _bar_chart(block)


def _line_chart(chart: LineChart) -> str:
    title = f"**{_inline(chart.title)}**"
    times = sorted({at for series in chart.series for at, _ in series.points})
    if not times:
        return f"{title}\n\n{NO_FIGURES}"
    values = [dict(series.points) for series in chart.series]
    dates_only = all(at.hour == 0 and at.minute == 0 for at in times)
    rows = [
        (
            _when(at, dates_only=dates_only),
            *(
                figure(points[at], unit=chart.unit, percent=chart.percent) if at in points else ""
                for points in values
            ),
        )
        for at in times
    ]
    parts = [title, _table(("Time", *(series.name for series in chart.series)), rows)]
    if chart.thresholds:
        levels = "; ".join(
            f"{label} {figure(value, unit=chart.unit, percent=chart.percent)}"
            for label, value in chart.thresholds
        )
        parts.append(f"Thresholds: {_inline(levels)}")
    return "\n\n".join(parts)


def _bar_chart(chart: BarChart) -> str:
    title = f"**{_inline(chart.title)}**"
    if not chart.bars:
        return f"{title}\n\n{NO_FIGURES}"
    rows = [(label, figure(value, unit=chart.unit)) for label, value in chart.bars]
    return f"{title}\n\n{_table(('Label', 'Value'), rows)}"


def _table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    if not columns:
        return ""
    lines = [
        _row(columns),
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    width = len(columns)
    for row in rows:
        cells = list(row)[:width]
        cells += [""] * (width - len(cells))
        lines.append(_row(cells))
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(text: str) -> str:
    # Inside a cell only inline punctuation means anything.
    return _INLINE.sub(r"\\\1", " ".join(clean(text, keep_newlines=False).split()))


def _text(text: str) -> str:
    """Escape running text line by line; runs of blank lines become one."""
    lines = clean(text).split("\n")
    escaped = [_line(line) for line in lines]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(escaped)).strip("\n")


def _line(line: str) -> str:
    line = line.rstrip()
    # Four leading spaces would make a code block; indentation carries no meaning here.
    line = line.lstrip()
    line = _INLINE.sub(r"\\\1", line)
    return _ORDERED.sub(r"\1\\\2", _LINE_START.sub(r"\\\1", line))


def _inline(text: str) -> str:
    """Escape a one-line text (a title, an item); line breaks become spaces."""
    return _line(" ".join(clean(text, keep_newlines=False).split()))


def _when(at: datetime, *, dates_only: bool) -> str:
    return at.strftime("%Y-%m-%d") if dates_only else at.strftime("%Y-%m-%d %H:%M")
