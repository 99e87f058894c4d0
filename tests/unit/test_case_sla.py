"""SLA clocks: response and resolution targets in business time, with pauses."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidSlaPolicy, InvalidSpan
from abusedesk.cases.sla import (
    Pause,
    SlaPolicy,
    SlaState,
    due_at,
    merge_pauses,
    pauses_from_history,
    running_time,
    sla_status,
)
from abusedesk.cases.states import CaseState

ALWAYS = BusinessCalendar.always()
POLICY = SlaPolicy("basic", ALWAYS, response=timedelta(hours=1), resolution=timedelta(hours=8))
OFFICE = BusinessCalendar.from_dict(
    {
        "name": "office",
        "timezone": "Europe/London",
        "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
)
OPENED = datetime(2026, 6, 10, 10, tzinfo=UTC)


def hours(value: float) -> datetime:
    """Return the instant *value* hours after the case opened."""
    return OPENED + timedelta(hours=value)


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (0.5, SlaState.OK),
        (0.75, SlaState.DUE_SOON),
        (0.99, SlaState.DUE_SOON),
        (1.0, SlaState.BREACHED),
    ],
)
def test_a_running_response_clock_warns_then_breaches(now: float, state: str) -> None:
    """Due soon from the warning fraction (0.75) on, breached from the due time on."""
    assert sla_status(POLICY, opened_at=OPENED, now=hours(now)).response.state == state


@pytest.mark.parametrize(
    ("responded", "state"), [(0.9, SlaState.MET), (1.0, SlaState.MET), (1.2, SlaState.BREACHED)]
)
def test_a_stopped_clock_is_met_or_breached_for_good(responded: float, state: str) -> None:
    """A response by the due time meets the target; a later one stays breached."""
    status = sla_status(POLICY, opened_at=OPENED, now=hours(5), responded_at=hours(responded))
    assert status.response.state == state


def test_resolution_stops_both_clocks() -> None:
    """A case resolved before any response also stopped the response clock."""
    status = sla_status(POLICY, opened_at=OPENED, now=hours(30), resolved_at=hours(0.5))
    assert (status.response.state, status.resolution.state) == (SlaState.MET, SlaState.MET)


def test_waiting_on_the_customer_is_not_counted() -> None:
    """Two hours waiting on the customer push the due time back by two hours."""
    pause = Pause(hours(1), hours(3), "waiting on customer")
    status = sla_status(
        POLICY, opened_at=OPENED, now=hours(4), responded_at=hours(0.5), pauses=[pause]
    )
    assert (status.resolution.elapsed, status.resolution.due_at, status.resolution.state) == (
        timedelta(hours=2),
        hours(10),
        SlaState.OK,
    )


def test_an_open_pause_has_no_due_time() -> None:
    """While the clock waits with no end in sight, no due time is shown and it reads paused."""
    status = sla_status(POLICY, opened_at=OPENED, now=hours(4), pauses=[Pause(hours(2))])
    assert (status.resolution.due_at, status.resolution.paused, status.resolution.elapsed) == (
        None,
        True,
        timedelta(hours=2),
    )


def test_the_case_state_is_the_most_urgent_clock() -> None:
    """A breached response outweighs a resolution clock that is still fine."""
    assert sla_status(POLICY, opened_at=OPENED, now=hours(2)).state == SlaState.BREACHED


def test_business_hours_push_the_due_time_past_the_weekend() -> None:
    """A case opened Friday 16:00 in London with an 8-hour target is due Monday 16:00 BST."""
    policy = SlaPolicy("office", OFFICE, response=timedelta(hours=2), resolution=timedelta(hours=8))
    friday = datetime(2026, 6, 12, 15, tzinfo=UTC)
    status = sla_status(policy, opened_at=friday, now=datetime(2026, 6, 14, 12, tzinfo=UTC))
    assert (status.resolution.due_at, status.resolution.state, status.response.due_at) == (
        datetime(2026, 6, 15, 15, tzinfo=UTC),
        SlaState.OK,
        datetime(2026, 6, 15, 9, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("response", "resolution", "fraction"),
    [
        (timedelta(0), timedelta(hours=1), 0.5),
        (timedelta(hours=2), timedelta(hours=1), 0.5),
        (timedelta(hours=1), timedelta(hours=2), 1.0),
        (timedelta(hours=1), timedelta(days=400), 0.5),
    ],
)
def test_nonsense_policies_are_refused(
    response: timedelta, resolution: timedelta, fraction: float
) -> None:
    """Zero targets, resolution before response, a fraction of 1, a 400-day target: refused."""
    with pytest.raises(InvalidSlaPolicy):
        SlaPolicy("q", ALWAYS, response, resolution, fraction)


def test_a_pause_cannot_end_before_it_starts() -> None:
    """A backward pause is an error."""
    with pytest.raises(InvalidSpan):
        Pause(hours(2), hours(1))


def test_the_state_history_gives_the_waiting_pauses() -> None:
    """Each stay in waiting_on_customer is a pause; the current one is still open."""
    history = [
        (hours(0), CaseState.NEW),
        (hours(1), CaseState.INVESTIGATING),
        (hours(2), CaseState.WAITING_ON_CUSTOMER),
        (hours(5), CaseState.INVESTIGATING),
        (hours(6), CaseState.WAITING_ON_CUSTOMER),
    ]
    assert [(p.start, p.end) for p in pauses_from_history(history)] == [
        (hours(2), hours(5)),
        (hours(6), None),
    ]


def test_overlapping_pauses_join() -> None:
    """A snooze inside a wait, and an open snooze after, become one open pause."""
    merged = merge_pauses(
        [
            Pause(hours(4), hours(5)),
            Pause(hours(1), hours(4.5)),
            Pause(hours(5), None),
            Pause(hours(9), hours(10)),
        ]
    )
    assert [(p.start, p.end) for p in merged] == [(hours(1), None)]


PAUSES = st.lists(
    st.tuples(st.integers(min_value=0, max_value=200), st.integers(min_value=0, max_value=50)),
    max_size=4,
).map(lambda items: [Pause(hours(a), hours(a + b)) for a, b in items])


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    calendar=st.sampled_from([ALWAYS, OFFICE]),
    target_minutes=st.integers(min_value=1, max_value=60 * 40),
    pauses=PAUSES,
)
def test_the_due_time_is_where_the_unpaused_time_reaches_the_target(
    calendar: BusinessCalendar, target_minutes: int, pauses: list[Pause]
) -> None:
    """At the due time exactly the target has run outside pauses, and a moment before less."""
    target = timedelta(minutes=target_minutes)
    due = due_at(calendar, OPENED, target, pauses)
    assert due is not None
    before = running_time(calendar, OPENED, due - timedelta(microseconds=1), pauses)
    assert (running_time(calendar, OPENED, due, pauses), before < target) == (target, True)
