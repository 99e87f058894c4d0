"""Reputation rates over a representative window, and the sentence that quotes them."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.reputation.rates import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    HourFigures,
    day_words,
    percent,
    representative_rate,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _daily(days_back: int, **figures: int) -> HourFigures:
    return HourFigures(hour=NOW - timedelta(days=days_back, hours=1), **figures)


def test_a_busy_week_is_enough() -> None:
    """With 10,000 eligible messages in the last 7 days, the window stays at 7 days."""
    hours = [_daily(d, fbl_sent=2000, complaints=4) for d in range(7)]
    hours.append(_daily(20, fbl_sent=50_000, complaints=5000))  # outside the week
    rate = representative_rate(COMPLAINT_RATE, hours, NOW)
    assert (rate.days, rate.eligible, rate.count) == (7, 14_000, 28)
    assert rate.value == pytest.approx(28 / 14_000)
    assert rate.representative


def test_a_quiet_account_extends_the_window_until_enough_messages() -> None:
    """1,000 messages a day: the window grows one day at a time until it holds 10,000."""
    hours = [_daily(d, fbl_sent=1000, complaints=1) for d in range(60)]
    rate = representative_rate(COMPLAINT_RATE, hours, NOW)
    assert rate.days == 10
    assert rate.eligible == 10_000
    assert rate.count == 10


def test_the_window_stops_at_ninety_days() -> None:
    """Too few messages even in 90 days: all 90 are used and the rate is not representative."""
    hours = [_daily(d, sent=10, hard_bounces_non_verified=1) for d in range(120)]
    rate = representative_rate(BOUNCE_RATE, hours, NOW)
    assert rate.days == 90
    assert rate.eligible == 900
    assert not rate.representative


def test_the_window_never_starts_before_the_fresh_start() -> None:
    """After a reinstatement only later mail counts, however few messages that is."""
    hours = [_daily(d, fbl_sent=1000, complaints=50) for d in range(30)]
    reinstated = NOW - timedelta(days=3, minutes=30)
    rate = representative_rate(COMPLAINT_RATE, hours, NOW, floor=reinstated)
    assert (rate.eligible, rate.count, rate.days) == (3000, 150, 7)
    assert rate.since is not None
    assert rate.since >= reinstated


def test_each_rate_reads_its_own_eligible_messages() -> None:
    """Complaints count over feedback-loop mail; bounces to unverified addresses over all mail."""
    hours = [_daily(0, sent=20_000, fbl_sent=12_400, complaints=77, hard_bounces_non_verified=620)]
    complaint = representative_rate(COMPLAINT_RATE, hours, NOW)
    bounce = representative_rate(BOUNCE_RATE, hours, NOW)
    assert complaint.value == pytest.approx(77 / 12_400)
    assert bounce.value == pytest.approx(620 / 20_000)


def test_the_sentence_quotes_the_numbers() -> None:
    """The sentence a customer reads: rate, messages, which messages, since when."""
    hours = [HourFigures(hour=datetime(2026, 11, 2, 9, tzinfo=UTC), fbl_sent=12_400, complaints=77)]
    rate = representative_rate(COMPLAINT_RATE, hours, NOW)
    assert rate.sentence() == (
        "complaint rate 0.62% over the last 12,400 messages to feedback-loop domains since 2 Nov"
    )


def test_no_messages_gives_no_rate() -> None:
    """With nothing sent, the rate is unknown and says so rather than claiming 0%."""
    rate = representative_rate(BOUNCE_RATE, [], NOW)
    assert rate.value is None
    assert rate.sentence() == "bounce rate unknown: no messages sent in the last 90 days"


def test_future_hours_are_ignored() -> None:
    """Figures stamped after *now* (clock skew) do not count."""
    hours = [HourFigures(hour=NOW + timedelta(hours=2), sent=50_000, hard_bounces_non_verified=9)]
    assert representative_rate(BOUNCE_RATE, hours, NOW).eligible == 0


def test_unknown_metric_is_refused() -> None:
    """A misspelt rate is an error, not a silent zero."""
    with pytest.raises(ValueError, match="unknown rate"):
        representative_rate("complaints", [], NOW)


@pytest.mark.parametrize(
    ("value", "words"), [(0.0062, "0.62%"), (0.1, "10.00%"), (0.0, "0.00%"), (0.00001, "<0.01%")]
)
def test_percent(value: float, words: str) -> None:
    """Fractions read as percentages with two decimals; tiny ones are not rounded to zero."""
    assert percent(value) == words


def test_day_words_name_the_year_only_when_it_differs() -> None:
    """'2 Nov' this year, '2 Nov 2025' for last year's."""
    assert day_words(datetime(2026, 11, 2, tzinfo=UTC), NOW) == "2 Nov"
    assert day_words(datetime(2025, 11, 2, tzinfo=UTC), NOW) == "2 Nov 2025"
