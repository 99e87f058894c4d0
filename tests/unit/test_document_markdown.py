"""Markdown export of a Document: exact layout, and no customer text turned into markup."""

from datetime import UTC, datetime, timedelta

from abusedesk.documents.markdown import to_markdown
from abusedesk.insights.document import (
    BarChart,
    BulletList,
    ChartSeries,
    Document,
    Figures,
    Heading,
    LineChart,
    Paragraph,
    Table,
)

AT = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)


def doc(*blocks: object) -> Document:
    return Document("Weekly report", AT, "", tuple(blocks))  # type: ignore[arg-type]


def body(markdown: str) -> str:
    """Drop the title and generated lines every export starts with."""
    return markdown.split("\n\n", 2)[2]


def test_a_document_is_written_in_the_documented_layout() -> None:
    """Every kind of block comes out exactly as the module's docstring describes."""
    document = Document(
        "Weekly report 2026-11-02",
        AT,
        "Demo provider",
        (
            Heading("Volumes"),
            Paragraph("First line\nsecond line\n\n\n\nNext paragraph"),
            BulletList(("one", "two")),
            Figures((("Cases", "12", "closed"), ("Backlog", "3", ""))),
            Heading("Detail", 2),
            Table("Top accounts", ("Account", "Events"), (("acct-1", "9"), ("acct-2", "4"))),
            LineChart(
                "Complaint rate",
                (
                    ChartSeries("email", ((DAY0, 0.001), (DAY0 + timedelta(days=1), 0.002))),
                    ChartSeries("sms", ((DAY0 + timedelta(days=1), 0.5),)),
                ),
                percent=True,
                thresholds=(("review", 0.003),),
            ),
            BarChart("By service", (("email", 1200.0), ("sms", 2.5)), unit="events"),
        ),
    )
    assert to_markdown(document) == (
        "# Weekly report 2026-11-02\n"
        "\n"
        "Demo provider\n"
        "\n"
        "_Generated 2026-11-09 06:30 UTC_\n"
        "\n"
        "## Volumes\n"
        "\n"
        "First line\n"
        "second line\n"
        "\n"
        "Next paragraph\n"
        "\n"
        "- one\n"
        "- two\n"
        "\n"
        "| Figure | Value | Note |\n"
        "| --- | --- | --- |\n"
        "| Cases | 12 | closed |\n"
        "| Backlog | 3 |  |\n"
        "\n"
        "### Detail\n"
        "\n"
        "**Top accounts**\n"
        "\n"
        "| Account | Events |\n"
        "| --- | --- |\n"
        "| acct-1 | 9 |\n"
        "| acct-2 | 4 |\n"
        "\n"
        "**Complaint rate**\n"
        "\n"
        "| Time | email | sms |\n"
        "| --- | --- | --- |\n"
        "| 2026-11-02 | 0.10% |  |\n"
        "| 2026-11-03 | 0.20% | 50.00% |\n"
        "\n"
        "Thresholds: review 0.30%\n"
        "\n"
        "**By service**\n"
        "\n"
        "| Label | Value |\n"
        "| --- | --- |\n"
        "| email | 1,200 events |\n"
        "| sms | 2.50 events |\n"
    )


def test_hostile_text_is_escaped_and_never_becomes_a_link_image_or_html() -> None:
    """Links, images, raw HTML, entities and emphasis come out as literal text."""
    hostile = (
        "<img src=x onerror=alert(1)> [click](javascript:alert(1)) ![i](http://x/) &amp; *b* `c`"
    )
    out = body(to_markdown(doc(Paragraph(hostile))))
    assert out == (
        "\\<img src=x onerror=alert(1)\\> \\[click\\](javascript:alert(1)) "
        "\\!\\[i\\](http://x/) \\&amp; \\*b\\* \\`c\\`\n"
    )


def test_line_starts_that_would_make_headings_lists_or_quotes_are_escaped() -> None:
    """A customer's line cannot become a heading, a list item, a quote or a rule."""
    text = "# heading\n- item\n+ item\n1. item\n> quote\n---\n    code\n3.5 hours"
    out = body(to_markdown(doc(Paragraph(text))))
    assert out == "\\# heading\n\\- item\n\\+ item\n1\\. item\n\\> quote\n\\---\ncode\n3.5 hours\n"


def test_a_heading_or_item_holding_line_breaks_stays_on_one_line() -> None:
    """A newline in a heading would end it and start a heading the writer did not mean."""
    out = body(to_markdown(doc(Heading("Two\n# lines"), BulletList(("a\n- b",)))))
    assert out == "## Two # lines\n\n- a - b\n"


def test_table_cells_escape_pipes_and_fold_line_breaks() -> None:
    """A pipe or a line break in a cell cannot add a column or end the table."""
    table = Table("", ("Reason", "Count"), (("a | b\nc", "1"), ("short",)))
    out = body(to_markdown(doc(table)))
    assert out == "| Reason | Count |\n| --- | --- |\n| a \\| b c | 1 |\n| short |  |\n"


def test_control_and_bidi_override_characters_are_dropped() -> None:
    """NUL, bell, escape and a right-to-left override do not reach the file."""
    out = body(to_markdown(doc(Paragraph("ab\x00c\x07d\x1b[31m\u202eevil\u202c ok"))))
    assert out == "abcd\\[31mevil ok\n"


def test_right_to_left_text_and_emoji_are_kept_as_written() -> None:
    """Markdown keeps the logical order; the reader's viewer lays it out."""
    out = body(to_markdown(doc(Paragraph("שלום مرحبا 😀 ❤️ 👍🏽"))))
    assert out == "שלום مرحبا 😀 ❤️ 👍🏽\n"


def test_charts_without_points_say_so() -> None:
    """An empty chart is a sentence, not an empty table."""
    out = body(to_markdown(doc(LineChart("Rates", ()), BarChart("Volumes", ()))))
    assert out == (
        "**Rates**\n\n_No figures for this period._\n\n**Volumes**\n\n_No figures for this period._\n"
    )


def test_line_chart_rows_carry_the_time_of_day_when_points_have_one() -> None:
    """Hourly points keep their hour; daily points show the date alone."""
    chart = LineChart(
        "Hourly", (ChartSeries("reports", ((AT, 3.0), (AT + timedelta(hours=1), 4.0))),)
    )
    out = body(to_markdown(doc(chart)))
    assert "| 2026-11-09 06:30 | 3 |\n| 2026-11-09 07:30 | 4 |" in out


def test_a_ten_thousand_row_table_keeps_every_row() -> None:
    """Nothing is cut from a long table."""
    rows = tuple((f"acct-{i}", str(i)) for i in range(10_000))
    out = to_markdown(doc(Table("All", ("Account", "Events"), rows)))
    assert out.count("\n| acct-") == 10_000
    assert out.endswith("| acct-9999 | 9999 |\n")


def test_values_that_are_not_numbers_read_n_a_and_a_table_without_columns_is_left_out() -> None:
    """NaN in a chart is 'n/a'; a table with no columns leaves only its caption."""
    chart = BarChart("Volumes", (("broken", float("nan")),))
    out = body(to_markdown(doc(chart, Table("Empty", (), ()))))
    assert out == "**Volumes**\n\n| Label | Value |\n| --- | --- |\n| broken | n/a |\n\n**Empty**\n"
