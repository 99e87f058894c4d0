"""The compromise check: a mailbox unlike itself in two ways, one more than sending more."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from abusedesk.anomalies.mailbox import (
    MailboxPolicy,
    MailboxReason,
    account_reason,
    assess_mailbox,
    assess_mailboxes,
    by_account,
)
from abusedesk.anomalies.model import MailboxHour, MailboxTotals, mailbox_totals

POLICY = MailboxPolicy()
HOME = frozenset({"2001:db8:c001::1"})
# Four weeks of an ordinary mailbox: 40 messages a day from one IP at home.
USUAL = MailboxTotals(
    hours=28 * 24,
    sent=28 * 40,
    recipients=28 * 30,
    bounces=10,
    complaints=0,
    fingerprint_hits=0,
    client_ips=HOME,
    client_countries=frozenset({"DE"}),
)


# One ordinary day of it.
DAY = MailboxTotals(
    hours=24, sent=40, recipients=30, client_ips=HOME, client_countries=frozenset({"DE"})
)


def _day(**figures: Any) -> MailboxTotals:
    return replace(DAY, **figures)


def test_a_usual_day_raises_nothing() -> None:
    """A mailbox sending as it always does is not compromised."""
    assert assess_mailbox("ac-1", "ann@org.example", USUAL, _day(), POLICY) is None


def test_a_flood_from_abroad_with_spam_is_a_compromise() -> None:
    """A flood to new recipients from a new country, matching spam, gives every reason."""
    window = _day(
        sent=8_000,
        recipients=7_900,
        bounces=1_400,
        complaints=60,
        fingerprint_hits=300,
        client_ips=frozenset({"2001:db8:c9::7", "2001:db8:c9::8"}),
        client_countries=frozenset({"NG"}),
    )

    verdict = assess_mailbox("ac-1", "ann@org.example", USUAL, window, POLICY)

    assert verdict is not None
    assert set(verdict.codes) == {
        MailboxReason.VOLUME,
        MailboxReason.RECIPIENTS,
        MailboxReason.NEW_LOCATION,
        MailboxReason.BOUNCES,
        MailboxReason.COMPLAINTS,
        MailboxReason.FINGERPRINTS,
    }


def test_an_announcement_alone_is_not_a_compromise() -> None:
    """Sending much more to many people, from home, with nothing coming back, is honest."""
    window = _day(sent=400, recipients=390, bounces=6)

    assert assess_mailbox("ac-1", "ann@org.example", USUAL, window, POLICY) is None


def test_a_trip_abroad_alone_is_not_a_compromise() -> None:
    """Being used from a new country while sending as usual is one reason only."""
    window = _day(client_ips=frozenset({"2001:db8:c9::1"}), client_countries=frozenset({"PT"}))

    assert assess_mailbox("ac-1", "ann@org.example", USUAL, window, POLICY) is None


def test_sending_more_while_bouncing_is_a_compromise() -> None:
    """A volume jump whose mail bounces is two reasons, one of them corroborating."""
    window = _day(sent=900, recipients=60, bounces=160)

    verdict = assess_mailbox("ac-1", "ann@org.example", USUAL, window, POLICY)

    assert verdict is not None
    assert verdict.codes == (MailboxReason.VOLUME, MailboxReason.BOUNCES)


def test_a_new_mailbox_has_no_usual_places() -> None:
    """Without enough history every place is new, so no new-location reason is given."""
    young = MailboxTotals(hours=10, sent=10, recipients=8, client_ips=HOME)
    window = _day(client_ips=frozenset({"2001:db8:c9::1"}), client_countries=frozenset({"PT"}))

    verdict = assess_mailbox("ac-1", "ann@org.example", young, window, POLICY)

    assert verdict is None


def test_quiet_mailboxes_have_a_floor() -> None:
    """A mailbox that usually sends 2 a day is not flagged for sending 60 from a new IP set."""
    quiet = MailboxTotals(hours=28 * 24, sent=56, recipients=50, client_ips=HOME)
    window = _day(
        sent=60,
        recipients=55,
        client_ips=frozenset({"2001:db8:c9::1", "2001:db8:c9::2", "2001:db8:c9::3"}),
    )

    assert assess_mailbox("ac-1", "ann@org.example", quiet, window, POLICY) is None


def test_verdicts_group_by_account_and_read_as_one_sentence() -> None:
    """Two flooded mailboxes of one organisation give one account entry naming both."""
    flood = _day(sent=5_000, recipients=5_000, fingerprint_hits=40)
    windows = {("ac-1", "b@org.example"): flood, ("ac-1", "a@org.example"): flood}
    baselines = dict.fromkeys(windows, USUAL)

    grouped = by_account(assess_mailboxes(baselines, windows, POLICY))

    assert [v.mailbox for v in grouped["ac-1"]] == ["a@org.example", "b@org.example"]
    assert account_reason(grouped["ac-1"]).startswith(
        "2 hosted mailboxes (a@org.example, b@org.example) sending unlike themselves"
    )


def test_totals_sum_hours_and_count_a_baseline_from_its_first_hour() -> None:
    """A baseline starts at the mailbox's first hour; a window spans the whole period."""
    start = datetime(2026, 3, 1, tzinfo=UTC)
    hours = [
        MailboxHour(
            "ac-1", "a@org.example", start + timedelta(hours=h), 5, 4, 1, 0, 0, ("ip1",), ("DE",)
        )
        for h in (10, 11)
    ]

    baseline = mailbox_totals(hours, start, start + timedelta(hours=20), since_first=True)
    window = mailbox_totals(hours, start, start + timedelta(hours=20), since_first=False)

    assert baseline[("ac-1", "a@org.example")] == MailboxTotals(
        hours=10,
        sent=10,
        recipients=8,
        bounces=2,
        client_ips=frozenset({"ip1"}),
        client_countries=frozenset({"DE"}),
    )
    assert window[("ac-1", "a@org.example")].hours == 20


def test_impossible_figures_are_named() -> None:
    """A row with more bounces than messages, a naive hour and a bad country says so."""
    row = MailboxHour(
        "ac-1",
        "a@org.example",
        # A naive, half-past hour: what a careless loader would write.
        datetime(2026, 3, 1, 10, 30),  # noqa: DTZ001
        5,
        4,
        bounces=9,
        client_countries=("Germany",),
    )

    assert row.problems() == [
        "hour 2026-03-01T10:30:00 has no time zone",
        "bounces (9) exceed messages sent (5)",
        "client countries ['Germany'] are not ISO codes",
    ]
