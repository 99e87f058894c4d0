"""Escalations as stored: raised on a case, acknowledged, reassigned and ended, all audited.

The rules (targets, states, due times) are ``abusedesk.cases.escalations``. A case moves
to ``escalated`` when its first active escalation opens and back to ``investigating`` when
its last one ends (through `casework.move`); every step is written to the case's history
and the audit log in the caller's transaction.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, insert, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidEscalation
from abusedesk.cases.escalations import (
    Escalation,
    EscalationState,
    EscalationTarget,
    TargetKind,
    raise_escalation,
)
from abusedesk.cases.states import CaseState
from abusedesk.core.clock import as_utc
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, casework
from abusedesk.storage.case_history import Step
from abusedesk.storage.queues import calendars, queue_by_id, queues
from abusedesk.storage.tables import EscalationRow, User, table_of

ESCALATIONS = table_of(EscalationRow)
ACTIVE = sorted(EscalationState.ACTIVE)
MAX_TEXT = 4000


@dataclass(frozen=True)
class EscalationView:
    """A stored escalation as the case page and the open escalations view show it."""

    id: int
    case_id: int
    target: EscalationTarget
    state: str
    owner: str | None
    reason: str
    raised_by: str
    raised_at: datetime
    due_at: datetime | None
    acknowledged_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    overdue: bool

    @property
    def is_active(self) -> bool:
        """Tell whether the escalation still waits on its receiver."""
        return self.state in EscalationState.ACTIVE


def escalation_calendar(
    session: Session, target: EscalationTarget, queue_id: int | None
) -> BusinessCalendar:
    """Return the calendar an escalation's due time runs on.

    A department works the calendar of its first queue (by name) that has one, else
    around the clock; a manager works the calendar of the case's queue (*queue_id*), else
    around the clock.
    """
    by_name = calendars(session)
    if target.kind == TargetKind.DEPARTMENT:
        for queue in queues(session):
            if queue.department == target.name and queue.calendar is not None:
                return by_name[queue.calendar]
        return BusinessCalendar.always()
    if queue_id is not None:
        calendar_name = queue_by_id(session, queue_id).calendar
        if calendar_name is not None:
            return by_name[calendar_name]
    return BusinessCalendar.always()


def escalate(
    session: Session,
    case_id: int,
    target: EscalationTarget,
    *,
    reason: str,
    within: timedelta,
    actor: str,
    now: datetime,
) -> int:
    """Raise an escalation of case *case_id* to *target*, due *within* business time.

    A manager must be an active user, and owns the escalation at once. The case moves
    to ``escalated`` unless it is there already; a case that may not (resolved, closed)
    refuses the escalation. Return the escalation's id.
    """
    case_row = casework.lock_case(session, case_id)
    if target.kind == TargetKind.MANAGER:
        _active_user(session, target.name, "the manager")
    planned = raise_escalation(
        case_id,
        target,
        reason=reason[:MAX_TEXT],
        raised_by=actor,
        raised_at=now,
        calendar=escalation_calendar(session, target, case_row.queue_id),
        within=within,
    )
    if case_row.status != CaseState.ESCALATED:
        casework.move(
            session,
            case_id,
            CaseState.ESCALATED,
            actor=actor,
            now=now,
            reason=f"escalated to {target.describe()}",
        )
    escalation_id = int(
        session.execute(
            insert(ESCALATIONS)
            .values(
                case_id=case_id,
                target_kind=target.kind,
                target=target.name,
                state=planned.state,
                owner=planned.owner,
                reason=planned.reason,
                raised_by=planned.raised_by,
                raised_at=planned.raised_at,
                due_at=planned.due_at,
            )
            .returning(EscalationRow.id)
        ).scalar_one()
    )
    case_history.record(
        session,
        case_id,
        Step.ESCALATION,
        actor=actor,
        at=now,
        to_value=f"escalation {escalation_id} to {target.describe()}: open",
        reason=planned.reason,
        tag="case:escalation:raise",
        after={
            "escalation_id": escalation_id,
            "target_kind": target.kind,
            "target": target.name,
            "owner": planned.owner,
            "due_at": planned.due_at.isoformat(),
        },
    )
    return escalation_id


def acknowledge(session: Session, escalation_id: int, *, actor: str, now: datetime) -> None:
    """Acknowledge an open escalation; *actor* becomes its owner unless it has one."""
    _change(session, escalation_id, EscalationState.ACKNOWLEDGED, actor=actor, now=now)


def resolve(session: Session, escalation_id: int, *, note: str, actor: str, now: datetime) -> None:
    """End an acknowledged escalation as done, with its outcome in *note*."""
    _change(session, escalation_id, EscalationState.RESOLVED, actor=actor, now=now, note=note)


def decline(session: Session, escalation_id: int, *, note: str, actor: str, now: datetime) -> None:
    """End an escalation the receiver will not take, saying why in *note*."""
    _change(session, escalation_id, EscalationState.DECLINED, actor=actor, now=now, note=note)


def withdraw(session: Session, escalation_id: int, *, note: str, actor: str, now: datetime) -> None:
    """End an escalation the case no longer needs, saying why in *note*."""
    _change(session, escalation_id, EscalationState.WITHDRAWN, actor=actor, now=now, note=note)


def reassign(
    session: Session,
    escalation_id: int,
    owner: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Give an active escalation to another owner, who must be an active user."""
    row = _row(session, escalation_id, for_update=True)
    current = _domain(row, now)
    changed = current.assign(owner)
    _active_user(session, changed.owner or "", "the new owner")
    if changed.owner == current.owner:
        return
    session.execute(
        update(ESCALATIONS).where(EscalationRow.id == escalation_id).values(owner=changed.owner)
    )
    case_history.record(
        session,
        row.case_id,
        Step.ESCALATION,
        actor=actor,
        at=now,
        from_value=f"escalation {escalation_id} owner {current.owner or 'none'}",
        to_value=f"escalation {escalation_id} owner {changed.owner}",
        reason=reason,
        tag="case:escalation:reassign",
        before={"escalation_id": escalation_id, "owner": current.owner},
        after={"escalation_id": escalation_id, "owner": changed.owner},
    )


def case_escalations(session: Session, case_id: int, *, now: datetime) -> list[EscalationView]:
    """Return every escalation of case *case_id*, oldest first."""
    rows = session.execute(
        select(ESCALATIONS)
        .where(EscalationRow.case_id == case_id)
        .order_by(EscalationRow.raised_at, EscalationRow.id)
    )
    return [_view(row, now) for row in rows]


def open_escalations(
    session: Session,
    *,
    now: datetime,
    target: EscalationTarget | None = None,
    owner: str | None = None,
    limit: int = 200,
) -> list[EscalationView]:
    """Return the active escalations, overdue ones first, then by due time.

    *target* keeps those to one department or manager; *owner* those one person holds.
    """
    # The overdue ones are those due earliest, so due-time order puts them first.
    statement = (
        select(ESCALATIONS)
        .where(EscalationRow.state.in_(ACTIVE))
        .order_by(EscalationRow.due_at, EscalationRow.id)
        .limit(limit)
    )
    if target is not None:
        statement = statement.where(
            EscalationRow.target_kind == target.kind, EscalationRow.target == target.name
        )
    if owner is not None:
        statement = statement.where(EscalationRow.owner == owner)
    return [_view(row, now) for row in session.execute(statement)]


def count_active(session: Session, case_id: int) -> int:
    """Return how many escalations of case *case_id* are still active."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(EscalationRow)
            .where(EscalationRow.case_id == case_id, EscalationRow.state.in_(ACTIVE))
        )
        or 0
    )


# --- helpers ------------------------------------------------------------------------


def _change(
    session: Session,
    escalation_id: int,
    state: str,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
) -> None:
    case_id = _row(session, escalation_id).case_id
    # The case is locked before the escalation, as `escalate` does, so that two
    # escalations of one case ending at once agree on which one was the last.
    case_row = casework.lock_case(session, case_id)
    row = _row(session, escalation_id, for_update=True)
    current = _domain(row, now)
    moved = current.move(state, at=now, by=actor, note=(note or "")[:MAX_TEXT])
    values: dict[str, object] = {"state": moved.state, "owner": moved.owner}
    if state == EscalationState.ACKNOWLEDGED:
        values["acknowledged_at"] = now
    else:
        values.update(closed_at=moved.ended_at, outcome=moved.outcome)
    session.execute(update(ESCALATIONS).where(EscalationRow.id == escalation_id).values(**values))
    verb = {
        EscalationState.ACKNOWLEDGED: "acknowledge",
        EscalationState.RESOLVED: "resolve",
        EscalationState.DECLINED: "decline",
        EscalationState.WITHDRAWN: "withdraw",
    }[state]
    case_history.record(
        session,
        row.case_id,
        Step.ESCALATION,
        actor=actor,
        at=now,
        from_value=f"escalation {escalation_id}: {current.state}",
        to_value=f"escalation {escalation_id}: {moved.state}",
        reason=moved.outcome or None,
        tag=f"case:escalation:{verb}",
        before={"escalation_id": escalation_id, "state": current.state, "owner": current.owner},
        after={"escalation_id": escalation_id, "state": moved.state, "owner": moved.owner},
    )
    if (
        not moved.is_active
        and case_row.status == CaseState.ESCALATED
        and count_active(session, row.case_id) == 0
    ):
        casework.move(
            session,
            row.case_id,
            CaseState.INVESTIGATING,
            actor=actor,
            now=now,
            reason=f"its last escalation ended ({moved.state})",
        )


def _row(session: Session, escalation_id: int, *, for_update: bool = False) -> Row[Any]:
    statement = select(ESCALATIONS).where(EscalationRow.id == escalation_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    row = session.execute(statement).one_or_none()
    if row is None:
        raise NotFound(f"no escalation {escalation_id}")
    return row


def _domain(row: Row[Any], now: datetime) -> Escalation:
    return Escalation(
        case_id=row.case_id,
        target=EscalationTarget(row.target_kind, row.target),
        reason=row.reason,
        raised_by=row.raised_by,
        raised_at=row.raised_at,
        due_at=row.due_at if row.due_at is not None else as_utc(now),
        state=row.state,
        owner=row.owner,
        outcome=row.outcome,
        ended_at=row.closed_at,
    )


def _view(row: Row[Any], now: datetime) -> EscalationView:
    active = row.state in EscalationState.ACTIVE
    return EscalationView(
        id=row.id,
        case_id=row.case_id,
        target=EscalationTarget(row.target_kind, row.target),
        state=row.state,
        owner=row.owner,
        reason=row.reason,
        raised_by=row.raised_by,
        raised_at=row.raised_at,
        due_at=row.due_at,
        acknowledged_at=row.acknowledged_at,
        closed_at=row.closed_at,
        outcome=row.outcome,
        overdue=active and row.due_at is not None and as_utc(now) >= row.due_at,
    )


def _active_user(session: Session, username: str, what: str) -> None:
    found = session.scalar(
        select(User.id).where(User.username == username.strip(), User.disabled_at.is_(None))
    )
    if found is None:
        raise InvalidEscalation(f"{what} {username!r} is not an active user")
