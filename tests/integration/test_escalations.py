"""Escalations as stored: raised, acknowledged, reassigned and ended, moving the case."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.bootstrap import Container
from abusedesk.cases.errors import InvalidEscalation, TransitionNotAllowed
from abusedesk.cases.escalations import EscalationState, EscalationTarget, TargetKind
from abusedesk.cases.routing import Department
from abusedesk.cases.states import CaseState
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, escalations
from abusedesk.storage.case_history import Step
from abusedesk.storage.db import read_only, unit_of_work
from tests.support.casework import (
    MONDAY,
    audit_tags,
    berlin_calendar,
    case_row,
    kinds,
    make_case,
    make_queue,
    make_user,
    new_account,
    restore_defaults,
)

HOUR = timedelta(hours=1)
LEGAL = EscalationTarget(TargetKind.DEPARTMENT, Department.LEGAL)
SECURITY = EscalationTarget(TargetKind.DEPARTMENT, Department.SECURITY)
MANAGER = EscalationTarget(TargetKind.MANAGER, "maria")


@pytest.fixture(autouse=True)
def _defaults(container: Container) -> None:
    """Start every test with the queue and routing version the migration writes."""
    with unit_of_work(container.sessions) as session:
        restore_defaults(session)
        make_user(session, "alice")
        make_user(session, "maria", "lead")
        make_user(session, "lars", "lead")


@pytest.fixture
def case_id(container: Container) -> int:
    """Return an investigating case in the triage queue."""
    with unit_of_work(container.sessions) as session:
        return make_case(
            session, new_account(session), status=CaseState.INVESTIGATING, queue="triage"
        )


def _escalate(
    container: Container,
    case_id: int,
    target: EscalationTarget = LEGAL,
    *,
    within: timedelta = 4 * HOUR,
    at: datetime = MONDAY,
) -> int:
    with unit_of_work(container.sessions) as session:
        return escalations.escalate(
            session,
            case_id,
            target,
            reason="a court order names the account",
            within=within,
            actor="alice",
            now=at,
        )


def _status(container: Container, case_id: int) -> str:
    with read_only(container.sessions) as session:
        return case_row(session, case_id).status


def test_escalating_moves_the_case_and_records_the_step(container: Container, case_id: int) -> None:
    """The first escalation moves the case to escalated; history and audit show both steps."""
    escalation_id = _escalate(container, case_id)
    with read_only(container.sessions) as session:
        (view,) = escalations.case_escalations(session, case_id, now=MONDAY)
        steps = case_history.history(session, case_id)[-2:]
        tags = audit_tags(session, case_id)[-2:]
    assert (view.id, view.state, view.owner, view.raised_by, view.due_at) == (
        escalation_id,
        EscalationState.OPEN,
        None,
        "alice",
        MONDAY + 4 * HOUR,
    )
    assert [(s.kind, s.to_value) for s in steps] == [
        (Step.TRANSITION, CaseState.ESCALATED),
        (Step.ESCALATION, f"escalation {escalation_id} to the legal department: open"),
    ]
    assert (_status(container, case_id), tags) == (
        CaseState.ESCALATED,
        ["case:case:escalate", "case:escalation:raise"],
    )


def test_a_department_with_a_calendar_gets_business_time(
    container: Container, case_id: int
) -> None:
    """Legal works Berlin office hours: four hours from Monday 16:00 Berlin fall due
    Wednesday 12:00 (Tuesday is a holiday); security, without a calendar, around the clock."""
    with unit_of_work(container.sessions) as session:
        make_queue(session, "legal", department=Department.LEGAL, calendar=berlin_calendar())
    raised = MONDAY + 7 * HOUR  # 16:00 in Berlin
    legal = _escalate(container, case_id, LEGAL, at=raised)
    security = _escalate(container, case_id, SECURITY, at=raised)
    with read_only(container.sessions) as session:
        due = {v.id: v.due_at for v in escalations.case_escalations(session, case_id, now=raised)}
    assert (due[legal], due[security]) == (
        datetime(2026, 11, 4, 11, 0, tzinfo=UTC),
        raised + 4 * HOUR,
    )


def test_an_escalation_to_a_manager_is_theirs_at_once(container: Container, case_id: int) -> None:
    """A manager owns an escalation to them from the start; an unknown manager is refused."""
    escalation_id = _escalate(container, case_id, MANAGER)
    with read_only(container.sessions) as session:
        (view,) = escalations.case_escalations(session, case_id, now=MONDAY)
    assert (view.id, view.owner, view.target) == (escalation_id, "maria", MANAGER)
    with pytest.raises(InvalidEscalation, match="'ghost' is not an active user"):
        _escalate(container, case_id, EscalationTarget(TargetKind.MANAGER, "ghost"))


def test_acknowledging_makes_the_acknowledger_the_owner(container: Container, case_id: int) -> None:
    """Whoever acknowledges a department's escalation owns it; it may be given to another."""
    escalation_id = _escalate(container, case_id)
    with unit_of_work(container.sessions) as session:
        escalations.acknowledge(session, escalation_id, actor="lars", now=MONDAY + HOUR)
        owner_after_ack = escalations.case_escalations(session, case_id, now=MONDAY)[0].owner
        escalations.reassign(
            session, escalation_id, "maria", actor="lars", now=MONDAY + HOUR, reason="her area"
        )
    with read_only(container.sessions) as session:
        (view,) = escalations.case_escalations(session, case_id, now=MONDAY)
        last = case_history.history(session, case_id)[-1]
    assert (owner_after_ack, view.state, view.owner, view.acknowledged_at) == (
        "lars",
        EscalationState.ACKNOWLEDGED,
        "maria",
        MONDAY + HOUR,
    )
    assert (last.from_value, last.to_value, last.reason) == (
        f"escalation {escalation_id} owner lars",
        f"escalation {escalation_id} owner maria",
        "her area",
    )


def test_reassigning_to_someone_unknown_is_refused(container: Container, case_id: int) -> None:
    """An escalation cannot be given to a name that is not an active user."""
    escalation_id = _escalate(container, case_id)
    with unit_of_work(container.sessions) as session, pytest.raises(InvalidEscalation):
        escalations.reassign(session, escalation_id, "ghost", actor="lars", now=MONDAY)


def test_ending_an_escalation_needs_a_note_and_the_right_state(
    container: Container, case_id: int
) -> None:
    """Resolving needs a note, and an open escalation must be acknowledged before it is resolved."""
    escalation_id = _escalate(container, case_id)
    with unit_of_work(container.sessions) as session:
        with pytest.raises(TransitionNotAllowed, match="from open to resolved"):
            escalations.resolve(session, escalation_id, note="done", actor="lars", now=MONDAY)
        escalations.acknowledge(session, escalation_id, actor="lars", now=MONDAY)
        with pytest.raises(InvalidEscalation, match="say why"):
            escalations.resolve(session, escalation_id, note="  ", actor="lars", now=MONDAY)
    assert _status(container, case_id) == CaseState.ESCALATED


def test_the_case_returns_to_investigating_when_its_last_escalation_ends(
    container: Container, case_id: int
) -> None:
    """With two escalations, declining one keeps the case escalated; ending both returns it."""
    first = _escalate(container, case_id, LEGAL)
    second = _escalate(container, case_id, MANAGER)
    with unit_of_work(container.sessions) as session:
        escalations.decline(session, first, note="not a legal matter", actor="lars", now=MONDAY)
    middle = _status(container, case_id)
    with unit_of_work(container.sessions) as session:
        escalations.acknowledge(session, second, actor="maria", now=MONDAY + HOUR)
        escalations.resolve(
            session, second, note="approved the suspension", actor="maria", now=MONDAY + 2 * HOUR
        )
    with read_only(container.sessions) as session:
        views = escalations.case_escalations(session, case_id, now=MONDAY)
        steps = case_history.history(session, case_id)
    assert (middle, _status(container, case_id)) == (CaseState.ESCALATED, CaseState.INVESTIGATING)
    assert [(v.state, v.outcome) for v in views] == [
        (EscalationState.DECLINED, "not a legal matter"),
        (EscalationState.RESOLVED, "approved the suspension"),
    ]
    transitions = [s.to_value for s in steps if s.kind == Step.TRANSITION]
    assert transitions == [CaseState.ESCALATED, CaseState.INVESTIGATING]


def test_withdrawing_the_only_escalation_returns_the_case(
    container: Container, case_id: int
) -> None:
    """A withdrawn escalation ends with its reason, and the case is worked again."""
    escalation_id = _escalate(container, case_id)
    with unit_of_work(container.sessions) as session:
        escalations.withdraw(
            session, escalation_id, note="the customer fixed it", actor="alice", now=MONDAY
        )
    with read_only(container.sessions) as session:
        tags = audit_tags(session, case_id)
    assert _status(container, case_id) == CaseState.INVESTIGATING
    assert tags[-2:] == ["case:escalation:withdraw", "case:case:investigate"]


def test_open_escalations_list_overdue_first_then_by_due_time(container: Container) -> None:
    """The view shows active escalations only, overdue ones first, each flagged."""
    with unit_of_work(container.sessions) as session:
        account = new_account(session)
        cases = [
            make_case(session, account, f"g{n}", status=CaseState.INVESTIGATING) for n in range(4)
        ]
    later = _escalate(container, cases[0], within=10 * HOUR)
    overdue_late = _escalate(container, cases[1], within=2 * HOUR)
    overdue_early = _escalate(container, cases[2], within=HOUR)
    ended = _escalate(container, cases[3], within=HOUR)
    with unit_of_work(container.sessions) as session:
        escalations.withdraw(session, ended, note="not needed", actor="alice", now=MONDAY)
    now = MONDAY + 3 * HOUR
    with read_only(container.sessions) as session:
        views = escalations.open_escalations(session, now=now)
        mine = escalations.open_escalations(session, now=now, target=MANAGER)
    assert [(v.id, v.overdue) for v in views] == [
        (overdue_early, True),
        (overdue_late, True),
        (later, False),
    ]
    assert mine == []


def test_a_closed_case_cannot_be_escalated(container: Container) -> None:
    """Escalating a closed case is refused and leaves no escalation behind."""
    with unit_of_work(container.sessions) as session:
        closed = make_case(session, new_account(session), status=CaseState.CLOSED)
    with pytest.raises(TransitionNotAllowed, match="from closed to escalated"):
        _escalate(container, closed)
    with read_only(container.sessions) as session:
        assert (
            escalations.case_escalations(session, closed, now=MONDAY),
            kinds(session, closed),
        ) == (
            [],
            [Step.OPEN],
        )


def test_escalation_needs_a_reason_and_a_sane_response_time(
    container: Container, case_id: int
) -> None:
    """An escalation without words, or due in no time, is refused."""
    with unit_of_work(container.sessions) as session:
        with pytest.raises(InvalidEscalation, match="say why"):
            escalations.escalate(
                session, case_id, LEGAL, reason=" ", within=HOUR, actor="alice", now=MONDAY
            )
        with pytest.raises(InvalidEscalation, match="response time"):
            escalations.escalate(
                session, case_id, LEGAL, reason="x", within=timedelta(0), actor="alice", now=MONDAY
            )


def test_an_unknown_escalation_is_not_found(container: Container) -> None:
    """Acknowledging an escalation that does not exist says so."""
    with unit_of_work(container.sessions) as session, pytest.raises(NotFound):
        escalations.acknowledge(session, 424242, actor="lars", now=MONDAY)


def test_two_escalations_ending_at_once_return_the_case_once(
    container: Container, case_id: int
) -> None:
    """Two people ending the case's two escalations at the same moment, each in their own
    transaction, leave the case investigating with one transition back."""
    first = _escalate(container, case_id, LEGAL)
    second = _escalate(container, case_id, SECURITY)
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def end(escalation_id: int, actor: str) -> None:
        try:
            start.wait(timeout=30)
            with unit_of_work(container.sessions) as session:
                escalations.withdraw(
                    session, escalation_id, note="not needed", actor=actor, now=MONDAY + HOUR
                )
        except BaseException as problem:  # handed back to the test below
            errors.append(problem)

    threads = [
        threading.Thread(target=end, args=(first, "alice")),
        threading.Thread(target=end, args=(second, "lars")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with read_only(container.sessions) as session:
        steps = case_history.history(session, case_id)
    back = [s for s in steps if s.kind == Step.TRANSITION and s.to_value == CaseState.INVESTIGATING]
    assert (errors, _status(container, case_id), len(back)) == ([], CaseState.INVESTIGATING, 1)
