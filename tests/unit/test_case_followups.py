"""Follow-ups: a snoozed case comes back at its time or on the customer's reply."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.cases.errors import InvalidSnooze
from abusedesk.cases.followups import Snooze, Wake, wake

SET = datetime(2026, 6, 10, 9, tzinfo=UTC)


def later(hours: float) -> datetime:
    """Return the instant *hours* after the snooze was set."""
    return SET + timedelta(hours=hours)


def test_a_timed_snooze_wakes_at_its_time() -> None:
    """Before the time nothing happens; from it on, the case is back."""
    snooze = Snooze(SET, "ana", until=later(24))
    woken = wake(snooze, now=later(25))
    assert (wake(snooze, now=later(23)), woken.at if woken else None) == (None, later(24))


def test_a_reply_wakes_a_snooze_waiting_for_one() -> None:
    """The first reply after the snooze was set brings the case back; earlier ones do not."""
    snooze = Snooze(SET, "ana", until_reply=True)
    woken = wake(snooze, now=later(10), replies=[later(-1), later(6), later(3)])
    assert woken == Wake(later(3), "the customer replied")


def test_whichever_comes_first_wakes_it() -> None:
    """With a time and a reply, the earlier one decides."""
    snooze = Snooze(SET, "ana", until=later(5), until_reply=True)
    woken = wake(snooze, now=later(10), replies=[later(7)])
    assert woken == Wake(later(5), "the snooze time was reached")


def test_replies_are_ignored_by_a_timed_snooze() -> None:
    """A snooze that does not wait for a reply sleeps through one."""
    assert wake(Snooze(SET, "ana", until=later(5)), now=later(4), replies=[later(1)]) is None


def test_a_reply_after_now_does_not_count_yet() -> None:
    """A reply dated in the future of *now* does not wake the case early."""
    assert wake(Snooze(SET, "ana", until_reply=True), now=later(2), replies=[later(3)]) is None


def test_a_snooze_needs_something_to_wake_it() -> None:
    """Neither a time nor a reply to wait for is refused."""
    with pytest.raises(InvalidSnooze):
        Snooze(SET, "ana")


def test_a_snooze_must_end_after_it_starts() -> None:
    """A wake time in the past is refused."""
    with pytest.raises(InvalidSnooze):
        Snooze(SET, "ana", until=later(-1))


def test_the_pause_lasts_until_the_snooze_ends() -> None:
    """A timed snooze pauses the SLA to its time; one waiting for a reply stays open until woken."""
    timed = Snooze(SET, "ana", until=later(5)).pause()
    waiting = Snooze(SET, "ana", until_reply=True).pause()
    woken = Snooze(SET, "ana", until_reply=True).pause(woke_at=later(2))
    assert [(p.start, p.end) for p in (timed, waiting, woken)] == [
        (SET, later(5)),
        (SET, None),
        (SET, later(2)),
    ]
