"""PDF export of a Document, checked by rendering its pages and reading their text."""

import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abusedesk.documents.fonts import FontFiles, default_fonts, find_fonts
from abusedesk.documents.pdf import to_pdf
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
from tests.support.pdf import (
    Box,
    char_lefts,
    colour_fraction,
    ink_fraction,
    is_blank,
    pdf_pages,
    pdf_text,
)

AT = datetime(2026, 11, 9, 6, 30, tzinfo=UTC)
DAY0 = datetime(2026, 11, 2, tzinfo=UTC)
UNICODE = default_fonts()
needs_unicode_font = pytest.mark.skipif(UNICODE is None, reason="no DejaVu Sans on this machine")


def doc(*blocks: Block, title: str = "Weekly report") -> Document:
    return Document(title, AT, "Demo provider", tuple(blocks))


def words(text: str) -> str:
    """Collapse pdfium's line breaks and spacing so a test can look for a phrase."""
    return " ".join(text.split())


def rate_chart() -> LineChart:
    return LineChart(
        "Complaint rate",
        (
            ChartSeries("email", tuple((DAY0 + timedelta(days=i), 0.001 * i) for i in range(7))),
            ChartSeries("sms", tuple((DAY0 + timedelta(days=i), 0.004) for i in range(7))),
        ),
        percent=True,
        thresholds=(("review", 0.003),),
    )


def test_a_short_document_is_one_page_with_its_title_text_and_page_number() -> None:
    """Title, subtitle, generated time, body text and 'page 1 of 1' are on the page."""
    data = to_pdf(doc(Heading("Volumes"), Paragraph("Twelve cases were closed.")))
    assert data.startswith(b"%PDF-")
    (text,) = pdf_text(data)
    flat = words(text)
    for phrase in (
        "Weekly report",
        "Demo provider",
        "Generated 2026-11-09 06:30 UTC",
        "Volumes",
        "Twelve cases were closed.",
        "page 1 of 1",
    ):
        assert phrase in flat


def test_a_line_chart_is_drawn_in_colour_with_its_labels() -> None:
    """The chart area has coloured lines; axis dates, legend and threshold are written."""
    data = to_pdf(doc(rate_chart()))
    (page,) = pdf_pages(data, scale=1.5)
    # The chart sits in the upper half under the title block; the lower half stays empty.
    assert colour_fraction(page, Box(top=0.1, bottom=0.45)) > 0.003
    assert is_blank(page, Box(top=0.6, bottom=0.9))
    flat = words(pdf_text(data)[0])
    for phrase in ("Complaint rate", "02 Nov", "08 Nov", "review 0.30%", "email", "sms"):
        assert phrase in flat


def test_a_bar_chart_draws_bars_longest_for_the_largest_value() -> None:
    """Each bar is as long as its value says: the largest spans the plot, half is half."""
    data = to_pdf(doc(BarChart("By service", (("email", 100.0), ("sms", 50.0)))))
    (page,) = pdf_pages(data, scale=2)
    width, height = page.size
    rows = []
    for y in range(int(height * 0.1), int(height * 0.3)):
        blue = [x for x in range(width) if page.getpixel((x, y)) == (74, 120, 181)]
        if blue:
            rows.append(len(blue))
    longest, shortest = max(rows), min(rows)
    assert abs(shortest / longest - 0.5) < 0.02
    assert "email" in words(pdf_text(data)[0])


def test_charts_without_figures_say_so_and_draw_nothing() -> None:
    """An empty chart prints a sentence, no colour."""
    data = to_pdf(doc(LineChart("Rates", ()), BarChart("Volumes", ())))
    (page,) = pdf_pages(data)
    assert colour_fraction(page) == 0.0
    assert words(pdf_text(data)[0]).count("No figures for this period.") == 2


def test_a_table_runs_onto_more_pages_repeating_its_header() -> None:
    """300 rows take several pages; each page starts its part of the table with the header."""
    rows = tuple((f"acct-{i:03d}", str(i)) for i in range(300))
    data = to_pdf(doc(Table("Top accounts", ("Account", "Events"), rows)))
    texts = [words(text) for text in pdf_text(data)]
    assert len(texts) >= 5
    for number, text in enumerate(texts, start=1):
        assert "Account Events" in text
        assert f"page {number} of {len(texts)}" in text
    everything = " ".join(texts)
    assert all(f"acct-{i:03d} {i}" in everything for i in range(300))


def test_a_ten_thousand_row_table_is_written_whole() -> None:
    """The largest table a report may hold comes out complete, no page blank."""
    rows = tuple((str(i), f"acct-{i:05d}", "words " * (i % 7)) for i in range(10_000))
    data = to_pdf(doc(Table("All", ("Row", "Account", "Note"), rows)))
    texts = pdf_text(data)
    assert len(texts) > 100
    assert "9999 acct-09999" in words(texts[-1])
    assert sum(words(text).count("acct-") for text in texts) == 10_000
    pages = pdf_pages(data, scale=0.3)
    assert not any(is_blank(page) for page in pages)


def test_a_word_longer_than_the_page_is_broken_not_cut() -> None:
    """A 2,000-character token wraps over many lines and every character is printed."""
    token = "".join(chr(ord("a") + i % 26) for i in range(2000))
    data = to_pdf(doc(Paragraph(token), Table("", ("Value",), ((token * 4,),))))
    text = "".join(pdf_text(data)).replace("\r", "").replace("\n", "")
    assert token in text
    # The table cell holds at most 30 lines, the last one an ellipsis.
    assert text.count("…") == 1


def test_a_huge_cell_is_cut_so_its_row_fits_on_one_page() -> None:
    """A cell of 5,000 words cannot make a row taller than a page."""
    data = to_pdf(doc(Table("", ("Reason", "Count"), (("word " * 5000, "1"), ("next", "2")))))
    flat = words(" ".join(pdf_text(data)))
    assert "next 2" in flat
    assert len(pdf_text(data)) <= 2


def test_control_characters_and_page_alias_in_text_are_harmless() -> None:
    """NUL and escape codes vanish; a title holding the page-count alias prints as text."""
    data = to_pdf(
        doc(Paragraph("a\x00b\x1b[2Jc {nb} {document-pages}"), title="Title {document-pages}")
    )
    flat = words(pdf_text(data)[0])
    assert "ab[2Jc {nb}" in flat
    assert "page 1 of 1" in flat
    assert "Title" in flat


@needs_unicode_font
def test_unicode_text_is_printed_with_the_unicode_font() -> None:
    """Accents, Greek, Cyrillic, symbols and DejaVu's emoji come out as written."""
    phrase = "Überprüfung café Ελλάδα Привет € → ✓ 😀"
    flat = words(pdf_text(to_pdf(doc(Paragraph(phrase))))[0])
    assert phrase in flat


@needs_unicode_font
def test_a_character_the_font_lacks_prints_a_replacement_mark() -> None:
    """CJK (not in DejaVu Sans) shows as U+FFFD, never as nothing."""
    flat = words(pdf_text(to_pdf(doc(Paragraph("ok 中文 ok"))))[0])
    assert "ok \ufffd\ufffd ok" in flat


@needs_unicode_font
@pytest.mark.skipif(
    importlib.util.find_spec("uharfbuzz") is not None, reason="shaping engine orders RTL itself"
)
def test_right_to_left_words_are_put_in_reading_order() -> None:
    """Hebrew is drawn right to left inside a left-to-right sentence: its first letter rightmost."""
    data = to_pdf(doc(Paragraph("Customer wrote שלום today")))
    lefts = dict(char_lefts(data))
    shin, lamed, vav, final_mem = "\u05e9", "\u05dc", "\u05d5", "\u05dd"
    assert lefts[shin] > lefts[lamed] > lefts[vav] > lefts[final_mem]
    # pdfium reads the letters back in logical order.
    assert "Customer wrote שלום today" in words(pdf_text(data)[0])


def test_without_a_unicode_font_text_falls_back_to_latin_1() -> None:
    """The built-in font prints Latin-1 as is and a question mark for anything else."""
    data = to_pdf(doc(Paragraph("café naïve Привет 😀"), rate_chart()), fonts="builtin")
    flat = words(pdf_text(data)[0])
    assert "café naïve ?????? ?" in flat
    (page,) = pdf_pages(data)
    assert colour_fraction(page) > 0.001


def test_find_fonts_prefers_a_named_directory(tmp_path: Path) -> None:
    """A directory the caller names wins; bold and italic fall back to the regular file."""
    (tmp_path / "DejaVuSans.ttf").write_bytes(b"not read here")
    assert find_fonts([tmp_path]) == FontFiles(
        regular=tmp_path / "DejaVuSans.ttf",
        bold=tmp_path / "DejaVuSans.ttf",
        italic=tmp_path / "DejaVuSans.ttf",
    )


def test_every_block_kind_together_renders_pages_with_ink() -> None:
    """A full report: no page is blank, the figures and bullets are on it."""
    data = to_pdf(
        doc(
            Heading("Summary"),
            Paragraph("One.\n\nTwo."),
            BulletList(("first item", "second item")),
            Figures((("Cases", "12", "closed this week"), ("Backlog", "3", ""))),
            rate_chart(),
            BarChart("By service", (("email", 10.0),)),
            Heading("Detail", 2),
            Table("Accounts", ("Account",), (("acct-1",),)),
        )
    )
    pages = pdf_pages(data)
    assert all(ink_fraction(page) > 0.005 for page in pages)
    flat = words(" ".join(pdf_text(data)))
    for phrase in ("first item", "Cases 12 closed this week", "Backlog 3", "Account acct-1"):
        assert phrase in flat


def test_values_that_are_not_numbers_are_left_out_of_charts() -> None:
    """NaN and infinity draw no point or bar and read n/a; the finite ones still draw."""
    nan, inf = float("nan"), float("inf")
    chart = LineChart(
        "Rates",
        (ChartSeries("email", ((DAY0, 1.0), (DAY0 + timedelta(days=1), nan), (DAY0, inf))),),
        thresholds=(("broken", nan),),
    )
    bars = BarChart("Volumes", (("ok", 2.0), ("nan", nan), ("inf", inf)))
    data = to_pdf(doc(chart, bars))
    flat = words(pdf_text(data)[0])
    assert "nan n/a" in flat
    assert "inf n/a" in flat
    assert "broken" not in flat
    (page,) = pdf_pages(data)
    assert colour_fraction(page) > 0.001


@pytest.mark.parametrize(
    "following",
    [
        Table("Top accounts", ("Account", "Events"), (("acct-1", "9"), ("acct-2", "4"))),
        Figures((("Cases", "12", ""), ("Backlog", "3", ""))),
        BarChart("By service", (("email", 3.0), ("sms", 1.0))),
    ],
    ids=["table", "figures", "bars"],
)
def test_a_heading_is_never_left_alone_at_the_foot_of_a_page(following: Block) -> None:
    """Whatever length the text before it, the heading shares its page with what follows."""
    first_words = {Table: "Top accounts", Figures: "Cases", BarChart: "By service"}
    for lines in range(30, 48):
        filler = Paragraph("\n".join(f"line {n}" for n in range(lines)))
        data = to_pdf(doc(filler, Heading("Detail"), following))
        pages = [words(text) for text in pdf_text(data)]
        (heading_page,) = [n for n, text in enumerate(pages) if "Detail" in text]
        assert first_words[type(following)] in pages[heading_page], lines
