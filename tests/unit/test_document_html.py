"""HTML rendering of a Document: every block, the workbench's SVG charts, all text escaped."""

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

from abusedesk.insights.document import (
    BarChart,
    Block,
    BulletList,
    ChartSeries,
    Document,
    Figures,
    Heading,
    LineChart,
    Paragraph,
    Table,
)
from abusedesk.web.ui.documents import block_html, document_html
from tests.support.browser import hostile_payloads

AT = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


class Tags(HTMLParser):
    """Collect the start tags of a fragment, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def tags(html: str) -> Tags:
    parser = Tags()
    parser.feed(html)
    return parser


def doc(*blocks: Block) -> Document:
    return Document("Weekly <report>", AT, "Demo & co", tuple(blocks))


def test_the_header_shows_title_subtitle_and_generated_time_escaped() -> None:
    """The title is an h1; its markup-like text is shown, not obeyed."""
    html = str(document_html(doc()))
    assert '<h1 class="document-title">Weekly &lt;report&gt;</h1>' in html
    assert '<p class="document-subtitle">Demo &amp; co</p>' in html
    assert '<time datetime="2026-11-09T06:30:00+00:00">2026-11-09 06:30 UTC</time>' in html


def test_a_page_with_its_own_title_can_leave_the_header_out() -> None:
    """header=False renders the blocks only."""
    html = str(document_html(doc(Heading("Volumes")), header=False))
    assert html == '<article class="document"><h2>Volumes</h2></article>'


def test_each_block_kind_becomes_its_element() -> None:
    """Headings shift down one level; lists, figures, tables and charts have their tags."""
    cases: list[tuple[Block, str]] = [
        (Heading("A", 1), "<h2>A</h2>"),
        (Heading("B", 3), "<h4>B</h4>"),
        (Paragraph("one\ntwo\n\nthree"), "<p>one<br>two</p><p>three</p>"),
        (BulletList(("x", "y")), "<ul><li>x</li><li>y</li></ul>"),
        (
            Figures((("Cases", "12", "closed"),)),
            '<table class="document-figures"><tbody><tr><th scope="row">Cases</th>'
            '<td class="figure-value">12</td><td class="muted">closed</td></tr></tbody></table>',
        ),
        (
            Table("Top", ("Account", "Events"), (("acct-1", "9"), ("short",))),
            '<table class="document-table"><caption>Top</caption><thead><tr>'
            '<th scope="col">Account</th><th scope="col">Events</th></tr></thead><tbody>'
            "<tr><td>acct-1</td><td>9</td></tr><tr><td>short</td><td></td></tr></tbody></table>",
        ),
    ]
    for block, expected in cases:
        assert str(block_html(block)) == expected


def test_charts_are_the_workbench_svg_charts() -> None:
    """A line chart has a polyline per series and its threshold; a bar chart a rect per bar."""
    line = LineChart(
        "Rate",
        (
            ChartSeries("email", ((DAY0, 0.001), (DAY0 + timedelta(days=1), 0.002))),
            ChartSeries("sms", ((DAY0, 0.003),)),
        ),
        percent=True,
        thresholds=(("review", 0.003),),
    )
    parsed = tags(str(block_html(line)))
    assert parsed.tags.count("svg") == 1
    assert parsed.tags.count("polyline") == 2
    assert "review 0.30%" in "".join(parsed.text)
    bars = tags(str(block_html(BarChart("By service", (("email", 3.0), ("sms", 1.0))))))
    assert bars.tags.count("rect") == 2


def test_bars_past_the_chart_limit_are_counted_under_it() -> None:
    """The SVG shows 40 bars; the rest are said in words."""
    chart = BarChart("Many", tuple((f"b{i}", float(i)) for i in range(45)))
    html = str(block_html(chart))
    assert tags(html).tags.count("rect") == 40
    assert html.endswith('<p class="muted">and 5 more</p>')


def test_hostile_text_in_every_block_stays_text() -> None:
    """No payload adds an element: the tags are the same as for harmless text."""
    for payload in hostile_payloads():
        blocks: tuple[Block, ...] = (
            Heading(payload),
            Paragraph(payload),
            BulletList((payload,)),
            Figures(((payload, payload, payload),)),
            Table(payload, (payload,), ((payload,),)),
            LineChart(payload, (ChartSeries(payload, ((DAY0, 1.0),)),)),
            BarChart(payload, ((payload, 1.0),)),
        )
        hostile = Document(payload, AT, payload, blocks)
        harmless = Document("t", AT, "s", tuple(_renamed(block) for block in blocks))
        assert tags(str(document_html(hostile))).tags == tags(str(document_html(harmless))).tags


def _renamed(block: Block) -> Block:
    """Return *block* with its texts replaced by a plain word, keeping its shape."""
    word = "word"
    if isinstance(block, Heading):
        return Heading(word)
    if isinstance(block, Paragraph):
        return Paragraph(word)
    if isinstance(block, BulletList):
        return BulletList((word,))
    if isinstance(block, Figures):
        return Figures(((word, word, word),))
    if isinstance(block, Table):
        return Table(word, (word,), ((word,),))
    if isinstance(block, LineChart):
        return LineChart(word, (ChartSeries(word, ((DAY0, 1.0),)),))
    return BarChart(word, ((word, 1.0),))


def test_values_that_are_not_numbers_are_left_out_of_the_svg_and_named() -> None:
    """NaN and infinity never reach the chart; a bar without a figure is named under it."""
    nan = float("nan")
    line = LineChart(
        "Rate", (ChartSeries("email", ((DAY0, 1.0), (DAY0, nan))),), thresholds=(("t", nan),)
    )
    assert "nan" not in str(block_html(line)).lower()
    bars = str(block_html(BarChart("Volumes", (("ok", 1.0), ("<broken>", nan)))))
    assert tags(bars).tags.count("rect") == 1
    assert bars.endswith('<p class="muted">No figure for: &lt;broken&gt;.</p>')
