"""The weekly report's pure parts: weeks, spans, spikes, changes, and the document's sections."""

from datetime import UTC, date, datetime

import pytest

from abusedesk.insights.document import BarChart, Heading, LineChart, Paragraph, Table
from abusedesk.insights.trends import (
    Count,
    Durations,
    InvalidWeek,
    Summary,
    SummaryTooLong,
    WeeklyFigures,
    change,
    check_summary,
    contact_spikes,
    durations,
    from_json,
    parse_week,
    to_json,
    weekly_document,
)
from abusedesk.insights.weeks import week_start

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
MONDAY = datetime(2026, 11, 16, tzinfo=UTC)


def _empty(**changes: object) -> WeeklyFigures:
    values: dict[str, object] = {
        "week_start": MONDAY,
        "events": 0,
        "previous_events": 0,
        "by_service": (),
        "by_category": (),
        "by_format": (),
        "by_reporter": (),
        "by_provider": (),
        "trend_weeks": (),
        "service_trend": (),
        "daily_events": (0,) * 7,
        "top_accounts": (),
        "rings": (),
        "cases_opened": 0,
        "cases_closed": 0,
        "backlog_start": 0,
        "backlog_end": 0,
        "daily_backlog": (0,) * 7,
        "first_response": Durations(0, None, None),
        "time_to_action": Durations(0, None, None),
        "sla": (),
        "actions_executed": (),
        "actions_proposed": 0,
        "actions_rejected": 0,
        "appeals_submitted": 0,
        "appeal_outcomes": (),
        "daily_contacts": (0,) * 7,
        "contact_baseline": 0.0,
        "contact_spike_days": (),
        "parser": (),
        "parser_signals": 0,
        "incidents": (),
        "signals": (),
        "voice": (),
        "voice_available": False,
    }
    values.update(changes)
    return WeeklyFigures(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("moment", "monday"),
    [
        (date(2026, 11, 16), MONDAY),
        (date(2026, 11, 22), MONDAY),
        (datetime(2026, 11, 22, 23, 59, 59, tzinfo=UTC), MONDAY),
        (date(2026, 11, 23), datetime(2026, 11, 23, tzinfo=UTC)),
    ],
)
def test_week_starts_on_monday_utc(moment: date, monday: datetime) -> None:
    """Any moment of a week belongs to the Monday 00:00 UTC that starts it."""
    assert week_start(moment) == monday


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", "is not a date"),
        ("2026-02-30", "is not a date"),
        ("16/11/2026", "is not a date"),
        ("1999-12-31", "too long ago"),
        ("2026-11-30", "has not started yet"),
    ],
)
def test_unreadable_old_or_future_weeks_are_refused(text: str, words: str) -> None:
    """A week given as junk, before 2000 or not yet started is refused with a sentence."""
    with pytest.raises(InvalidWeek, match=words):
        parse_week(text, now=NOW)


def test_durations_give_median_and_nearest_rank_90th_percentile() -> None:
    """Ten spans 1..10 minutes: median 5.5, 90th percentile the 9th (nearest rank)."""
    assert durations([float(n) for n in range(10, 0, -1)]) == Durations(10, 5.5, 9.0)
    assert durations([]) == Durations(0, None, None)


def test_contact_spike_needs_the_factor_and_the_minimum() -> None:
    """A day is a spike at factor x the usual day and at least the minimum."""
    # Usual day 3: the threshold is 6; the 5 falls short, the 9 reaches it.
    assert contact_spikes([1, 4, 5, 9, 0, 0, 0], 3.0, factor=2.0, minimum=5) == (3,)
    # Usual day 1: the threshold is 2, but the 4 is under the minimum of 5.
    assert contact_spikes([1, 4, 5, 9, 0, 0, 0], 1.0, factor=2.0, minimum=5) == (2, 3)


def test_change_in_words() -> None:
    """Changes read +25%, -50%, new, or - when both weeks had none."""
    assert [change(5, 4), change(2, 4), change(3, 0), change(0, 0)] == ["+25%", "-50%", "new", "-"]


def test_summary_tidied_and_length_checked() -> None:
    """Line ends are tidied; a summary over 20,000 characters is refused."""
    assert check_summary("  one\r\ntwo\r  ") == "one\ntwo"
    with pytest.raises(SummaryTooLong):
        check_summary("z" * 20_001)


def test_document_opens_with_the_summary_then_every_section_in_order() -> None:
    """The document's level-1 headings come in the report's order, the summary first."""
    figures = _empty(
        by_service=(Count("email", 3, 1),),
        trend_weeks=(MONDAY,),
        service_trend=(),
    )
    doc = weekly_document(figures, summary=Summary("All calm.", "lena", NOW), generated_at=NOW)
    headings = [b.text for b in doc.blocks if isinstance(b, Heading) and b.level == 1]
    assert headings == [
        "Summary",
        "Volumes",
        "Top accounts and rings",
        "Backlog, time to action and SLA",
        "Enforcement and appeals",
        "Customer contacts",
        "Parser health",
        "Notable incidents",
        "Voice of the customer",
    ]
    assert doc.blocks[1] == Paragraph("All calm.")
    assert doc.title == "Weekly report: week of 2026-11-16"
    assert doc.subtitle == "Monday 16 November 2026 to Sunday 22 November 2026 (UTC)"


def test_empty_week_says_so_in_words_and_still_has_its_charts() -> None:
    """A week with nothing in it says so, section by section, and draws its day charts."""
    doc = weekly_document(_empty(), summary=Summary(), generated_at=NOW)
    words = [b.text for b in doc.blocks if isinstance(b, Paragraph)]
    charts = [b for b in doc.blocks if isinstance(b, BarChart | LineChart)]
    tables = [b for b in doc.blocks if isinstance(b, Table)]
    assert "The lead has not written the summary of this week yet." in words
    assert "No attributed events this week." in words
    assert "No incident review and no high-severity signal this week." in words
    assert "No spike in customer contacts this week." in words
    assert len(charts) == 3
    assert tables == []


def test_frozen_figures_of_another_shape_are_refused() -> None:
    """Figures frozen under another version do not read as this one's."""
    data = to_json(_empty())
    assert from_json(data) == _empty()
    with pytest.raises(ValueError, match="version"):
        from_json({**data, "version": 0})
