"""Render an `insights.document.Document` as HTML with the workbench's SVG charts.

The same report reads the same on a page as in its Markdown and PDF exports: headings,
paragraphs, lists, figures, tables with captions, and charts drawn by `web/ui/charts.py`.
Every text is escaped; blank lines in a paragraph start a new ``<p>``, single line breaks
become ``<br>``.
"""

import math
from collections.abc import Iterable

from markupsafe import Markup, escape

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
from abusedesk.web.ui.charts import MAX_BARS, Series, Threshold, bar_chart, line_chart


def document_html(doc: Document, *, header: bool = True) -> Markup:
    """Return *doc* as an ``<article class="document">``.

    With *header* the article opens with the title (``<h1>``), the subtitle and when it
    was generated; a page that prints its own ``<h1>`` passes ``header=False``. Headings
    of level 1 to 3 are ``<h2>`` to ``<h4>``.
    """
    parts = ['<article class="document">']
    if header:
        parts.append(
            f'<header><h1 class="document-title">{escape(doc.title)}</h1>'
            + (f'<p class="document-subtitle">{escape(doc.subtitle)}</p>' if doc.subtitle else "")
            + f'<p class="muted document-generated">Generated '
            f'<time datetime="{escape(doc.generated_at.isoformat())}">'
            f"{escape(doc.generated_at.strftime('%Y-%m-%d %H:%M UTC'))}</time></p></header>"
        )
    parts.extend(block_html(block) for block in doc.blocks)
    parts.append("</article>")
    return Markup("".join(parts))  # noqa: S704  # every part is escaped or built by block_html


def block_html(block: Block) -> Markup:
    """Return one block of a document as HTML."""
    if isinstance(block, Heading):
        level = min(max(block.level, 1), 3) + 1
        return Markup(f"<h{level}>{escape(block.text)}</h{level}>")  # noqa: S704  # escaped
    if isinstance(block, Paragraph):
        return _paragraphs(block.text)
    if isinstance(block, BulletList):
        items = "".join(f"<li>{escape(item)}</li>" for item in block.items)
        return Markup(f"<ul>{items}</ul>")  # noqa: S704  # escaped
    if isinstance(block, Figures):
        return _figures(block)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, LineChart):
        # A value that is not a number (NaN, infinity) cannot be placed: it is left out.
        return line_chart(
            [
                Series(series.name, [(at, v) for at, v in series.points if math.isfinite(v)])
                for series in block.series
            ],
            title=block.title,
            unit=block.unit,
            percent=block.percent,
            thresholds=[
                Threshold(label, value) for label, value in block.thresholds if math.isfinite(value)
            ],
        )
    return _bar_chart(block)


def _paragraphs(text: str) -> Markup:
    chunks: list[list[str]] = [[]]
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            chunks[-1].append(line)
        elif chunks[-1]:
            chunks.append([])
    html = "".join(
        "<p>" + "<br>".join(str(escape(line)) for line in chunk) + "</p>"
        for chunk in chunks
        if chunk
    )
    return Markup(html)  # noqa: S704  # every line is escaped


def _figures(figures: Figures) -> Markup:
    rows = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="figure-value">{escape(value)}</td>'
        f'<td class="muted">{escape(note)}</td></tr>'
        for label, value, note in figures.rows
    )
    return Markup(f'<table class="document-figures"><tbody>{rows}</tbody></table>')  # noqa: S704  # escaped


def _table(table: Table) -> Markup:
    caption = f"<caption>{escape(table.caption)}</caption>" if table.caption else ""
    head = "".join(f'<th scope="col">{escape(column)}</th>' for column in table.columns)
    body = "".join(f"<tr>{_cells(row, len(table.columns))}</tr>" for row in table.rows)
    return Markup(  # noqa: S704  # every cell is escaped
        f'<table class="document-table">{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _cells(row: Iterable[str], width: int) -> str:
    cells = list(row)[:width]
    cells += [""] * (width - len(cells))
    return "".join(f"<td>{escape(cell)}</td>" for cell in cells)


def _bar_chart(chart: BarChart) -> Markup:
    shown = chart.bars[:MAX_BARS]
    drawn = [(label, value) for label, value in shown if math.isfinite(value)]
    parts = [str(bar_chart(drawn, title=chart.title, unit=chart.unit))]
    missing = [label for label, value in shown if not math.isfinite(value)]
    if missing:
        parts.append(f'<p class="muted">No figure for: {escape(", ".join(missing))}.</p>')
    hidden = len(chart.bars) - MAX_BARS
    if hidden > 0:
        parts.append(f'<p class="muted">and {hidden} more</p>')
    return Markup("".join(parts))  # noqa: S704  # the chart is Markup, the rest escaped
