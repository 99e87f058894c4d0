"""Escalations: targets, their own states, owners and due times on a calendar."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidEscalation, TransitionNotAllowed, UnknownState
from abusedesk.cases.escalations import (
    ESCALATION_TRANSITIONS,
    Escalation,
    EscalationState,
    EscalationTarget,
    TargetKind,
    check_escalation_transition,
    raise_escalation,
)

LEGAL = EscalationTarget(TargetKind.DEPARTMENT, "legal")
OFFICE = BusinessCalendar.from_dict(
    {
        "name": "legal",
        "timezone": "UTC",
        "hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
    }
)
FRIDAY = datetime(2026, 6, 12, 15, tzinfo=UTC)


def escalation(target: EscalationTarget = LEGAL) -> Escalation:
    """Return an escalation raised on Friday at 15:00 UTC, due in four business hours."""
    return raise_escalation(
        42,
        target,
        reason="court order named",
        raised_by="ana",
        raised_at=FRIDAY,
        calendar=OFFICE,
        within=timedelta(hours=4),
    )


def test_the_due_time_follows_the_receivers_calendar() -> None:
    """Four business hours from Friday 15:00 end Monday 11:00; a department has no owner yet."""
    opened = escalation()
    assert (opened.due_at, opened.state, opened.owner) == (
        datetime(2026, 6, 15, 11, tzinfo=UTC),
        EscalationState.OPEN,
        None,
    )


def test_a_manager_owns_an_escalation_to_them() -> None:
    """Escalating to a manager makes them the owner at once."""
    assert escalation(EscalationTarget(TargetKind.MANAGER, "lead.sam")).owner == "lead.sam"


def test_acknowledging_makes_the_acknowledger_the_owner() -> None:
    """Whoever acknowledges a department's escalation owns it."""
    moved = escalation().move(EscalationState.ACKNOWLEDGED, at=FRIDAY, by="lex")
    assert (moved.state, moved.owner) == (EscalationState.ACKNOWLEDGED, "lex")


def test_resolving_records_the_outcome_and_ends_it() -> None:
    """A resolved escalation keeps its outcome, end time, and is no longer overdue."""
    done = (
        escalation()
        .move(EscalationState.ACKNOWLEDGED, at=FRIDAY, by="lex")
        .move(
            EscalationState.RESOLVED,
            at=FRIDAY + timedelta(days=5),
            by="lex",
            note="order complied with",
        )
    )
    assert (done.outcome, done.ended_at, done.is_overdue(FRIDAY + timedelta(days=30))) == (
        "order complied with",
        FRIDAY + timedelta(days=5),
        False,
    )


def test_an_active_escalation_is_overdue_from_its_due_time() -> None:
    """Overdue starts at the due instant."""
    opened = escalation()
    assert (
        opened.is_overdue(opened.due_at - timedelta(seconds=1)),
        opened.is_overdue(opened.due_at),
    ) == (
        False,
        True,
    )


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (EscalationState.OPEN, EscalationState.RESOLVED),
        (EscalationState.RESOLVED, EscalationState.OPEN),
        (EscalationState.DECLINED, EscalationState.ACKNOWLEDGED),
    ],
)
def test_escalation_moves_outside_the_table_are_refused(current: str, target: str) -> None:
    """It must be acknowledged before it is resolved, and ended ones stay ended."""
    with pytest.raises(TransitionNotAllowed):
        check_escalation_transition(current, target)


def test_an_unknown_escalation_state_is_named() -> None:
    """A misspelt state raises UnknownState."""
    with pytest.raises(UnknownState):
        check_escalation_transition(EscalationState.OPEN, "done")


@pytest.mark.parametrize("target", [EscalationState.DECLINED, EscalationState.WITHDRAWN])
def test_declining_or_withdrawing_needs_a_reason(target: str) -> None:
    """Ending an escalation without a word is refused."""
    with pytest.raises(InvalidEscalation):
        escalation().move(target, at=FRIDAY, by="lex", note="")


@pytest.mark.parametrize(
    ("kind", "name"),
    [(TargetKind.DEPARTMENT, "marketing"), (TargetKind.MANAGER, " "), ("team", "x")],
)
def test_unknown_targets_are_refused(kind: str, name: str) -> None:
    """An unknown department, a nameless manager or another kind of target is refused."""
    with pytest.raises(InvalidEscalation):
        EscalationTarget(kind, name)


def test_an_escalation_needs_a_reason() -> None:
    """Raising one without saying why is refused."""
    with pytest.raises(InvalidEscalation):
        raise_escalation(
            1,
            LEGAL,
            reason="",
            raised_by="ana",
            raised_at=FRIDAY,
            calendar=OFFICE,
            within=timedelta(hours=1),
        )


def test_the_owner_of_an_ended_escalation_cannot_change() -> None:
    """Reassigning works while it is active and is refused afterwards."""
    active = escalation().assign("lex")
    ended = active.move(EscalationState.WITHDRAWN, at=FRIDAY, by="ana", note="resolved on the case")
    with pytest.raises(InvalidEscalation):
        ended.assign("kim")
    assert active.owner == "lex"


@pytest.mark.parametrize("within", [timedelta(0), timedelta(days=400)])
def test_an_escalation_needs_a_sensible_response_time(within: timedelta) -> None:
    """No time at all, or more than a year, is refused."""
    with pytest.raises(InvalidEscalation):
        raise_escalation(
            1, LEGAL, reason="r", raised_by="ana", raised_at=FRIDAY, calendar=OFFICE, within=within
        )


def test_the_documented_escalation_table_is_the_table_in_the_code() -> None:
    """docs/cases.md shows exactly the escalation moves the code allows."""
    text = (Path(__file__).parents[2] / "docs" / "cases.md").read_text(encoding="utf-8")
    section = text.split("## Escalations")[1].split("| from | may move to |")[1].split("\n\n")[0]
    documented = {}
    for line in section.splitlines()[2:]:
        states, targets = (cell.strip() for cell in line.strip("|").split("|"))
        moves = set() if targets == "(ended)" else {t.strip(" `") for t in targets.split(",")}
        for state in states.split(","):
            documented[state.strip(" `")] = moves
    assert documented == {s: set(t) for s, t in ESCALATION_TRANSITIONS.items()}
