"""Incident reviews' plain rules: timeline order, windows, form input, closing."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.insights.document import Figures, LineChart, Paragraph, Table
from abusedesk.insights.reviews import (
    EventBucket,
    FollowUp,
    Review,
    ReviewClosed,
    ReviewInvalid,
    TimelineEntry,
    WindowRules,
    check_close,
    check_text,
    check_title,
    check_window,
    event_entries,
    events_per_hour,
    merge_timeline,
    parse_accounts,
    parse_time,
    review_document,
)

T = datetime(2026, 11, 2, 10, tzinfo=UTC)


def _review(**changes: object) -> Review:
    fields: dict[str, object] = {
        "id": 7,
        "title": "Spike",
        "origin": "period",
        "origin_id": None,
        "account_ids": (1,),
        "accounts": ("4411",),
        "starts_at": T,
        "ends_at": T + timedelta(hours=4),
        "state": "draft",
        "impact": "",
        "root_cause": "",
        "went_well": "",
        "went_badly": "",
        "created_by": "lee",
        "created_at": T,
        "updated_at": T,
        "closed_at": None,
    }
    fields.update(changes)
    return Review(**fields)  # type: ignore[arg-type]


def test_entries_merge_by_time_then_source_then_row() -> None:
    """At one moment events come before signals, signals before case history, and so on."""
    later = TimelineEntry(T + timedelta(minutes=1), "note", "n")
    message = TimelineEntry(T, "message", "m")
    second_action = TimelineEntry(T, "action", "a2", key=9)
    first_action = TimelineEntry(T, "action", "a1", key=3)
    signal = TimelineEntry(T, "signal", "s")
    events = TimelineEntry(T, "events", "e")
    merged = merge_timeline([later, message], [second_action, first_action], [signal, events])
    assert [entry.what for entry in merged] == ["e", "s", "a1", "a2", "m", "n"]


def test_event_buckets_read_as_counts_with_reporters_and_sum_per_hour() -> None:
    """One bucket of 1 event, two of 3 and 2 in the next hour: 1 then 5 per hour."""
    buckets = [
        EventBucket(T, "4411", "spam", "email", 1, 1),
        EventBucket(T + timedelta(hours=1), "4411", "spam", "email", 3, 2),
        EventBucket(T + timedelta(hours=1), "a/b", "phishing", "sms", 2, 1),
    ]
    entries = event_entries(buckets)
    assert [(e.what, e.detail, e.link) for e in entries] == [
        (
            "1 spam event (email) about account 4411",
            "in the hour from 10:00 UTC, from 1 reporter",
            "/accounts/4411",
        ),
        (
            "3 spam events (email) about account 4411",
            "in the hour from 11:00 UTC, from 2 reporters",
            "/accounts/4411",
        ),
        (
            "2 phishing events (sms) about account a/b",
            "in the hour from 11:00 UTC, from 1 reporter",
            "/accounts/a%2Fb",
        ),
    ]
    assert events_per_hour(buckets) == ((T, 1.0), (T + timedelta(hours=1), 5.0))


def test_a_spike_window_runs_from_lead_hours_before_to_follow_hours_after_its_hour() -> None:
    """24 h before 10:00, and 72 h after the end of the hour (11:00)."""
    assert WindowRules(24, 72, 92).around_spike(T) == (
        T - timedelta(hours=24),
        T + timedelta(hours=73),
    )


def test_a_case_window_is_capped_at_max_days_ending_after_the_last_sight() -> None:
    """A case open for a year is reviewed over its last 10 days (follow hours included)."""
    first, last = T - timedelta(days=365), T
    assert WindowRules(24, 48, 10).around_case(first, last) == (
        T + timedelta(hours=48) - timedelta(days=10),
        T + timedelta(hours=48),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-02T10:00", T),
        ("2026-11-02 10:00", T),
        ("2026-11-02T11:00+01:00", T),
        (" 2026-11-02 ", T - timedelta(hours=10)),
    ],
)
def test_form_times_are_read_as_utc(text: str, expected: datetime) -> None:
    """A time without a zone is UTC; one with a zone is moved to UTC."""
    assert parse_time(text, what="start") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give the start"),
        ("tomorrow", "'tomorrow' is not a time"),
        ("2026-13-01", "not a time"),
    ],
)
def test_a_form_time_that_is_not_a_time_is_refused_in_words(text: str, message: str) -> None:
    """Empty and unreadable times are refused with the field's name."""
    with pytest.raises(ReviewInvalid, match=message):
        parse_time(text, what="start")


def test_accounts_are_split_on_commas_and_spaces_once_each() -> None:
    """'4411, 5522 4411' names two accounts; 51 accounts are too many."""
    assert parse_accounts("4411, 5522 4411,,") == ("4411", "5522")
    with pytest.raises(ReviewInvalid, match="at most 50 accounts"):
        parse_accounts(" ".join(str(n) for n in range(51)))


def test_titles_are_trimmed_and_refused_empty_or_too_long() -> None:
    """Whitespace folds to one space; blank and 201 characters are refused."""
    assert check_title("  a \n b\t") == "a b"
    with pytest.raises(ReviewInvalid, match="title"):
        check_title(" \n ")
    with pytest.raises(ReviewInvalid, match="at most 200"):
        check_title("x" * 201)


def test_windows_must_be_forward_zoned_and_short_enough() -> None:
    """Backwards, naive and over-long windows are refused; 92 days exactly is allowed."""
    check_window(T, T + timedelta(days=92), max_days=92)
    for starts, ends, message in (
        (T, T - timedelta(seconds=1), "end after"),
        (T.replace(tzinfo=None), T + timedelta(hours=1), "UTC"),
        (T, T + timedelta(days=92, seconds=1), "at most 92 days"),
    ):
        with pytest.raises(ReviewInvalid, match=message):
            check_window(starts, ends, max_days=92)


def test_a_window_of_every_account_is_shorter_than_one_of_named_accounts() -> None:
    """With no account the bound is every_account_max_hours; with one, max_days."""
    rules = WindowRules(24, 72, 92, every_account_max_hours=100)
    rules.check(T, T + timedelta(hours=100), accounts=0)
    rules.check(T, T + timedelta(days=92), accounts=1)
    with pytest.raises(ReviewInvalid, match="every account covers at most 100 hours"):
        rules.check(T, T + timedelta(hours=100, seconds=1), accounts=0)
    with pytest.raises(ReviewInvalid, match="at most 92 days"):
        rules.check(T, T + timedelta(days=93), accounts=1)


def test_template_text_keeps_its_lines_with_plain_line_ends() -> None:
    """CR LF and lone CR become LF; the ends are trimmed."""
    assert check_text("  a\r\nb\rc  ") == "a\nb\nc"


def test_closing_needs_impact_and_root_cause_and_an_open_review() -> None:
    """Each missing text is named; a closed review cannot close again."""
    with pytest.raises(ReviewInvalid, match="Write the root cause before"):
        check_close(_review(impact="bad"))
    with pytest.raises(ReviewClosed):
        check_close(_review(impact="i", root_cause="r", state="closed"))
    check_close(_review(impact="i", root_cause="r"))


def test_a_follow_up_is_overdue_only_while_open_past_its_due_time() -> None:
    """Open and past due: overdue; done, or without a due time: never."""

    def item(state: str, due: datetime | None) -> FollowUp:
        return FollowUp(1, 7, "x", "ana", due, state, None, None, None, T)

    now = T + timedelta(days=2)
    assert [
        item("open", T).overdue(now),
        item("open", now).overdue(now),
        item("done", T).overdue(now),
        item("open", None).overdue(now),
    ] == [True, False, False, False]


def test_the_document_has_facts_template_follow_ups_chart_and_timeline() -> None:
    """With two hours of events the document draws a chart; a cut source is said."""
    entry = TimelineEntry(T, "note", "note on case #1", actor="ana", detail="hello")
    document = review_document(
        _review(impact="40 complaints"),
        [entry],
        [],
        hourly_events=((T, 3.0), (T + timedelta(hours=1), 1.0)),
        truncated=("events",),
        limit=500,
        generated_at=T,
    )
    kinds = [type(block).__name__ for block in document.blocks]
    tables = [block for block in document.blocks if isinstance(block, Table)]
    paragraphs = [block.text for block in document.blocks if isinstance(block, Paragraph)]
    assert document.title == "Incident review #7: Spike"
    assert isinstance(document.blocks[0], Figures)
    assert kinds.count("LineChart") == 1
    assert any(isinstance(block, LineChart) for block in document.blocks)
    assert tables[-1].rows == (("2026-11-02 10:00", "note", "note on case #1", "ana", "hello"),)
    assert paragraphs[:2] == ["40 complaints", "Not written yet."]
    assert (
        "Only the first 500 entries of each of these sources are shown: events." in paragraphs[-1]
    )
