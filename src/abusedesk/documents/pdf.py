"""Write a `Document` as a PDF (A4, fpdf2): text, tables that break across pages, charts.

Charts are drawn with the PDF's own lines and rectangles from the chart's figures (no
image, no plotting library): axes with value and date labels, one coloured line per
series with a legend, dashed thresholds, or one bar per label. Tables repeat their
header on every page they run onto. Every page carries the title and "page N of M".

Text goes through `documents.text.clean` (control and bidi control characters dropped);
a character the font lacks prints as a replacement mark rather than vanishing. Right-to-left
runs are put in visual order line by line (fpdf2's bidi algorithm); letters are joined
(Arabic shaping) only when ``uharfbuzz`` is installed. See `documents.fonts` for the font.
"""

import importlib.util
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from fpdf import FPDF
from fpdf.bidi import BidiParagraph
from fpdf.enums import MethodReturnValue, XPos, YPos

from abusedesk.documents.fonts import FontFiles, default_fonts
from abusedesk.documents.text import clean, clip, figure, short_date, timestamp
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

# Sizes in millimetres and points.
MARGIN = 15.0
LINE = 5.0
SMALL_LINE = 4.2
BODY_SIZE = 10.0
SMALL_SIZE = 8.0
HEADING_SIZES = {1: 14.0, 2: 12.0, 3: 11.0}
CELL_PAD = 1.2
# A cell longer than this many lines is cut, so one row always fits on a page.
MAX_CELL_LINES = 30
CHART_HEIGHT = 62.0
BAR_ROW = 5.5
MAX_BARS = 40
# Keep a heading with at least this much of what follows it.
KEEP_WITH_NEXT = 25.0
# The page-count placeholder; text is cleaned of it so a title cannot forge it.
PAGES_ALIAS = "{document-pages}"

INK = (33, 37, 41)
MUTED = (95, 107, 122)
GRID = (215, 220, 226)
HEADER_FILL = (236, 240, 244)
ACCENT = (181, 71, 8)
BAR = (74, 120, 181)
SERIES = (
    (74, 120, 181),
    (192, 121, 42),
    (59, 138, 90),
    (138, 79, 160),
    (163, 59, 59),
    (92, 107, 122),
)
# Right-to-left bidi classes: text holding one of them needs visual reordering.
_RTL_START = 0x0590
_RTL_END = 0x08FF


def to_pdf(doc: Document, *, fonts: FontFiles | Literal["builtin"] | None = None) -> bytes:
    """Return *doc* as PDF bytes.

    *fonts* None looks a Unicode font up with `documents.fonts.default_fonts()` and falls
    back to the built-in Helvetica (Latin-1 only) when there is none; ``"builtin"`` asks
    for that fallback outright.
    """
    chosen = default_fonts() if fonts is None else fonts
    writer = _Writer(doc, chosen if isinstance(chosen, FontFiles) else None)
    writer.title_block()
    for index, block in enumerate(doc.blocks):
        following = doc.blocks[index + 1] if index + 1 < len(doc.blocks) else None
        writer.block(block, following)
    return bytes(writer.output())


class _Writer(FPDF):
    """An FPDF that knows the document's look: footer, fonts, blocks."""

    def __init__(self, doc: Document, fonts: FontFiles | None) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document = doc
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(auto=True, margin=MARGIN + 5)
        self.alias_nb_pages(PAGES_ALIAS)
        self.set_creator("abusedesk")
        self.unicode_font = fonts is not None
        if fonts is not None:
            self.add_font(fonts.family, "", str(fonts.regular))
            self.add_font(fonts.family, "B", str(fonts.bold))
            self.add_font(fonts.family, "I", str(fonts.italic))
            self.body_family = fonts.family
            if importlib.util.find_spec("uharfbuzz") is not None:
                self.set_text_shaping(use_shaping_engine=True)
        else:
            self.body_family = "helvetica"
        self.shaped = self.text_shaping is not None
        self.set_title(self._plain(doc.title))
        self.add_page()

    # Page furniture.

    def footer(self) -> None:
        """Print the title and the page number at the foot of every page."""
        self.set_y(-MARGIN)
        self._font("", SMALL_SIZE)
        self.set_text_color(*MUTED)
        title = clip(self._plain(self.document.title), 80)
        self.cell(self.epw * 0.7, SMALL_LINE, self._visual(title), align="L", new_x=XPos.RIGHT)
        self.cell(
            self.epw * 0.3,
            SMALL_LINE,
            f"page {self.page_no()} of {PAGES_ALIAS}",
            align="R",
        )
        self.set_text_color(*INK)

    def title_block(self) -> None:
        """Print the title, the subtitle and when the document was generated."""
        self._text(self.document.title, size=18, style="B", line=8)
        if self.document.subtitle:
            self._text(self.document.subtitle, size=11, line=6)
        self.set_text_color(*MUTED)
        self._text(f"Generated {timestamp(self.document.generated_at)}", size=SMALL_SIZE, line=5)
        self.set_text_color(*INK)
        self.ln(3)

    # Blocks.

    def block(self, block: Block, following: Block | None = None) -> None:
        """Print one block of the document; a heading keeps the start of *following* with it."""
        if isinstance(block, Heading):
            self._heading(block, _start_height(following))
        elif isinstance(block, Paragraph):
            for part in _paragraphs(block.text):
                self._text(part, size=BODY_SIZE, line=LINE)
                self.ln(2)
        elif isinstance(block, BulletList):
            for item in block.items:
                self._text(item, size=BODY_SIZE, line=LINE, bullet=True)
            self.ln(2)
        elif isinstance(block, Figures):
            self._figures(block)
        elif isinstance(block, Table):
            self._table(block.caption, block.columns, block.rows)
        elif isinstance(block, LineChart):
            self._line_chart(block)
        else:
            self._bar_chart(block)

    def _heading(self, heading: Heading, following: float) -> None:
        level = min(max(heading.level, 1), 3)
        size = HEADING_SIZES[level]
        # The heading's own lines and spacing, plus what must follow it.
        self._room_for(size * 0.5 + 8 + following)
        self.ln(2 if level > 1 else 4)
        self._text(heading.text, size=size, style="B", line=size * 0.5)
        self.ln(1)

    def _figures(self, figures: Figures) -> None:
        with_notes = any(note for _, _, note in figures.rows)
        columns: tuple[str, ...] = (
            ("Figure", "Value", "Note") if with_notes else ("Figure", "Value")
        )
        rows = [row if with_notes else row[:2] for row in figures.rows]
        self._table("", columns, rows, bold_column=1)

    # Text.

    def _text(
        self,
        text: str,
        *,
        size: float,
        line: float,
        style: str = "",
        bullet: bool = False,
    ) -> None:
        """Print *text* wrapped to the page width, one `cell` per line."""
        self._font(style, size)
        indent = 5.0 if bullet else 0.0
        width = self.epw - indent
        for number, part in enumerate(self._lines(text, width)):
            if self.will_page_break(line):
                self.add_page()
            if bullet and number == 0:
                self.set_x(self.l_margin)
                self.cell(indent, line, "•" if self.unicode_font else "-")
            self.set_x(self.l_margin + indent)
            self.cell(width, line, self._visual(part), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _lines(self, text: str, width: float) -> list[str]:
        """Split *text* into the lines that fit *width* in the current font."""
        lines: list[str] = []
        for source in self._plain(text).split("\n"):
            if not source.strip():
                lines.append("")
            elif self.get_string_width(source) <= width:
                lines.append(source)
            else:
                wrapped = self.multi_cell(
                    width, LINE, source, dry_run=True, output=MethodReturnValue.LINES
                )
                # Asked for LINES, multi_cell returns the list of lines.
                if isinstance(wrapped, list):
                    lines.extend(str(part) for part in wrapped)
        return lines

    def _plain(self, text: str) -> str:
        """Return *text* cleaned and limited to what the font can draw."""
        text = clean(text).replace(PAGES_ALIAS, "")
        if not self.unicode_font:
            return text.encode("latin-1", "replace").decode("latin-1")
        font = self.current_font
        cmap = getattr(font, "cmap", None) if font is not None else None
        if not cmap:
            return text
        return "".join(
            char if char == "\n" or ord(char) in cmap or char == "\u200d" else "\ufffd"
            for char in text
        )

    def _visual(self, line: str) -> str:
        """Put right-to-left runs of one line in the order they are read on paper."""
        if self.shaped or not any(_RTL_START <= ord(char) <= _RTL_END for char in line):
            return line
        return BidiParagraph(text=line).get_reordered_string()

    def _fit(self, text: str, width: float) -> str:
        """Return *text*, cut with an ellipsis if it is wider than *width*."""
        if self.get_string_width(text) <= width:
            return text
        mark = "…" if self.unicode_font else "..."
        # A label is at most a few dozen characters wide; cut hostile lengths first.
        text = text[:200]
        while text and self.get_string_width(text + mark) > width:
            text = text[:-1]
        return text + mark

    def _font(self, style: str, size: float) -> None:
        self.set_font(self.body_family, style, size)

    def _room_for(self, height: float) -> None:
        if self.will_page_break(height):
            self.add_page()

    # Tables.

    def _table(
        self,
        caption: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        bold_column: int | None = None,
    ) -> None:
        """Print a table; rows never split, the header repeats on each new page."""
        if not columns:
            return
        self._font("", BODY_SIZE - 1)
        widths = self._column_widths(columns, rows)
        if caption:
            self._room_for(KEEP_WITH_NEXT)
            self._text(caption, size=BODY_SIZE, style="B", line=LINE)
        header = self._row_lines(columns, widths, style="B")
        self._room_for(self._row_height(header) + SMALL_LINE * 2)
        self._draw_row(header, widths, style="B", fill=True)
        for row in rows:
            cells = list(row)[: len(columns)]
            cells += [""] * (len(columns) - len(cells))
            lines = self._row_lines(cells, widths)
            if self.will_page_break(self._row_height(lines)):
                self.add_page()
                self._draw_row(header, widths, style="B", fill=True)
            self._draw_row(lines, widths, bold_column=bold_column)
        self.ln(3)

    def _column_widths(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[float]:
        """Share the page width by how long each column's texts are (first 200 rows)."""
        wants = []
        for index, name in enumerate(columns):
            texts = [name] + [row[index] for row in rows[:200] if index < len(row)]
            longest = max(self.get_string_width(self._plain(t).split("\n")[0]) for t in texts)
            wants.append(min(max(longest + 2 * CELL_PAD, 14.0), 90.0))
        total = sum(wants)
        return [self.epw * want / total for want in wants]

    def _row_lines(
        self, cells: Sequence[str], widths: Sequence[float], *, style: str = ""
    ) -> list[list[str]]:
        self._font(style, BODY_SIZE - 1)
        result = []
        for cell, width in zip(cells, widths, strict=True):
            lines = self._lines(cell, width - 2 * CELL_PAD) or [""]
            if len(lines) > MAX_CELL_LINES:
                lines = [*lines[: MAX_CELL_LINES - 1], "…" if self.unicode_font else "..."]
            result.append(lines)
        return result

    @staticmethod
    def _row_height(lines: Sequence[Sequence[str]]) -> float:
        return max(len(cell) for cell in lines) * SMALL_LINE + 2 * CELL_PAD

    def _draw_row(
        self,
        lines: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        style: str = "",
        fill: bool = False,
        bold_column: int | None = None,
    ) -> None:
        height = self._row_height(lines)
        top = self.get_y()
        x = self.l_margin
        self.set_draw_color(*GRID)
        self.set_fill_color(*HEADER_FILL)
        for index, (cell, width) in enumerate(zip(lines, widths, strict=True)):
            self.rect(x, top, width, height, style="DF" if fill else "D")
            self._font("B" if index == bold_column else style, BODY_SIZE - 1)
            for number, text in enumerate(cell):
                self.set_xy(x + CELL_PAD, top + CELL_PAD + number * SMALL_LINE)
                self.cell(width - 2 * CELL_PAD, SMALL_LINE, self._visual(text))
            x += width
        self.set_xy(self.l_margin, top + height)

    # Charts.

    def _chart_title(self, title: str, height: float) -> None:
        self._room_for(_chart_room(height))
        self.ln(1)
        self._text(title, size=BODY_SIZE, style="B", line=LINE)

    def _no_figures(self) -> None:
        self.set_text_color(*MUTED)
        self._text("No figures for this period.", size=SMALL_SIZE + 1, line=LINE, style="I")
        self.set_text_color(*INK)
        self.ln(2)

    def _line_chart(self, chart: LineChart) -> None:
        # A value that is not a number (NaN, infinity) cannot be placed: it is left out.
        lines = [
            (series.name, sorted((at, v) for at, v in series.points if math.isfinite(v)))
            for series in chart.series
        ]
        thresholds = [(name, v) for name, v in chart.thresholds if math.isfinite(v)]
        points = [point for _, line in lines for point in line]
        self._chart_title(chart.title, CHART_HEIGHT + 10 if points else LINE)
        if not points:
            self._no_figures()
            return
        start = min(at for at, _ in points)
        end = max(at for at, _ in points)
        values = [value for _, value in points] + [value for _, value in thresholds]
        low = min([*values, 0.0])
        high = max([*values, 0.0])
        high = _nice(high * 1.05) if high > 0 else (1.0 if low == 0 else 0.0)
        low = -_nice(-low * 1.05) if low < 0 else 0.0
        span_y = (high - low) or 1.0
        span_x = (end - start).total_seconds()
        left = self.l_margin + 20.0
        right = self.l_margin + self.epw - (34.0 if thresholds else 4.0)
        top = self.get_y() + 2
        bottom = top + CHART_HEIGHT - 10

        def x(at: datetime) -> float:
            if span_x == 0:
                return (left + right) / 2
            return left + (right - left) * (at - start).total_seconds() / span_x

        def y(value: float) -> float:
            return bottom - (bottom - top) * (value - low) / span_y

        def label(value: float) -> str:
            return figure(value, unit=chart.unit, percent=chart.percent)

        self._font("", SMALL_SIZE - 1)
        self.set_line_width(0.2)
        self.set_draw_color(*GRID)
        self.set_text_color(*MUTED)
        for value in sorted({low, (low + high) / 2, high, 0.0}):
            self.line(left, y(value), right, y(value))
            self._label(left - 1.5, y(value), self._plain(label(value)), align="R")
        self.set_draw_color(*MUTED)
        self.line(left, top, left, bottom)
        self.line(left, bottom, right, bottom)
        dates = [start] if span_x == 0 else [start, start + (end - start) / 2, end]
        # Over days and weeks the middle of the axis falls at some hour; it reads as a day.
        days_only = end - start >= timedelta(days=2)
        for at in dates:
            align = (
                "C" if len(dates) == 1 or at not in (start, end) else "L" if at == start else "R"
            )
            text = at.strftime("%d %b") if days_only else short_date(at)
            self._label(x(at), bottom + 3, text, align=align)
        for name, value in thresholds:
            self.set_draw_color(*ACCENT)
            self.set_text_color(*ACCENT)
            with self.local_context():
                self.set_dash_pattern(dash=1.5, gap=1.2)
                self.line(left, y(value), right, y(value))
            text = clip(self._plain(f"{name} {label(value)}"), 24)
            self._label(right + 1.5, y(value), self._visual(text), align="L")
        self.set_line_width(0.5)
        for index, (_, ordered) in enumerate(lines):
            colour = SERIES[index % len(SERIES)]
            self.set_draw_color(*colour)
            self.set_fill_color(*colour)
            if len(ordered) > 1:
                self.polyline([(x(at), y(value)) for at, value in ordered])
            for at, value in ordered:
                self.circle(x(at), y(value), 0.6, style="F")
        self.set_line_width(0.2)
        self.set_y(bottom + 6)
        self._legend([name for name, _ in lines])
        self.set_text_color(*INK)
        self.set_draw_color(*INK)
        self.ln(3)

    def _label(self, x: float, y: float, text: str, *, align: str) -> None:
        """Print a small label whose vertical middle is at *y*, aligned at *x*."""
        width = self.get_string_width(text) + 1
        start = {"R": x - width, "C": x - width / 2}.get(align, x)
        self.set_xy(start, y - 1.5)
        self.cell(width, 3, text, align="C")

    def _legend(self, names: Sequence[str]) -> None:
        if len(names) < 2:
            return
        self._font("", SMALL_SIZE)
        self.set_text_color(*INK)
        x = self.l_margin + 20.0
        y = self.get_y()
        for index, name in enumerate(names):
            text = self._visual(clip(self._plain(name), 30))
            width = 6 + self.get_string_width(text) + 4
            if x + width > self.l_margin + self.epw:
                x = self.l_margin + 20.0
                y += SMALL_LINE
            colour = SERIES[index % len(SERIES)]
            self.set_fill_color(*colour)
            self.rect(x, y + 1, 4, 2.2, style="F")
            self.set_xy(x + 5, y)
            self.cell(width - 5, SMALL_LINE, text)
            x += width
        self.set_xy(self.l_margin, y + SMALL_LINE)

    def _bar_chart(self, chart: BarChart) -> None:
        shown = list(chart.bars[:MAX_BARS])
        self._chart_title(chart.title, BAR_ROW * min(len(shown), 12) + 4 if shown else LINE)
        if not shown:
            self._no_figures()
            return
        label_width = 55.0
        value_width = 26.0
        plot = self.epw - label_width - value_width
        # A value that is not a number (NaN, infinity) gets no bar and reads "n/a".
        most = max([value for _, value in shown if math.isfinite(value)] + [0.0]) or 1.0
        self._font("", SMALL_SIZE)
        for name, value in shown:
            if self.will_page_break(BAR_ROW):
                self.add_page()
            top = self.get_y()
            text = self._fit(self._plain(name).replace("\n", " "), label_width - 3)
            self.set_text_color(*INK)
            self.set_xy(self.l_margin, top)
            self.cell(label_width - 2, BAR_ROW, self._visual(text), align="R")
            length = plot * max(value, 0.0) / most if math.isfinite(value) and most > 0 else 0.0
            self.set_fill_color(*BAR)
            if length > 0:
                self.rect(self.l_margin + label_width, top + 1, length, BAR_ROW - 2, style="F")
            self.set_xy(self.l_margin + label_width + length + 1, top)
            self.cell(value_width, BAR_ROW, self._plain(figure(value, unit=chart.unit)))
            self.set_xy(self.l_margin, top + BAR_ROW)
        if len(chart.bars) > MAX_BARS:
            self.set_text_color(*MUTED)
            self._text(f"and {len(chart.bars) - MAX_BARS} more", size=SMALL_SIZE, line=LINE)
        self.set_text_color(*INK)
        self.ln(3)


def _start_height(block: Block | None) -> float:
    """Return the room *block* asks for before it starts, so its heading stays with it (mm)."""
    if block is None or isinstance(block, Heading):
        return LINE
    if isinstance(block, Paragraph | BulletList):
        return 2 * LINE
    if isinstance(block, Table) and block.caption:
        return KEEP_WITH_NEXT
    if isinstance(block, Figures | Table):
        # The header and two rows of one line, and a millimetre to spare.
        return 3 * SMALL_LINE + 2 * CELL_PAD + 1
    if isinstance(block, LineChart):
        has_points = any(series.points for series in block.series)
        return _chart_room(CHART_HEIGHT + 10 if has_points else LINE)
    return _chart_room(BAR_ROW * min(len(block.bars), 12) + 4 if block.bars else LINE)


def _chart_room(height: float) -> float:
    """Return the room a chart of *height* asks for: its title and a little air too."""
    return height + LINE + 4


def _nice(value: float) -> float:
    """Return the smallest of 1, 2, 2.5, 5 or 10 times a power of ten not below *value*."""
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if step * power >= value * (1 - 1e-9):
            return step * power
    return 10 * power


def _paragraphs(text: str) -> list[str]:
    """Split running text on blank lines into paragraphs."""
    parts: list[str] = []
    current: list[str] = []
    for line in clean(text).split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            parts.append("\n".join(current))
            current = []
    if current:
        parts.append("\n".join(current))
    return parts
