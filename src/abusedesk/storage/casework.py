"""The work on cases as stored: routing, pulling the next case, moving, transferring,
closing, snoozing, and keeping each case's SLA clocks current.

The rules (allowed transitions, routing, SLA maths, snoozes) are ``abusedesk.cases``;
every step here checks them, writes the case, and records the step in the case's history
and the audit log (`case_history.record`) in the caller's transaction.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.errors import ReasonRequired, TransitionNotAllowed
from abusedesk.cases.followups import Snooze
from abusedesk.cases.routing import CaseFacts, RoutingDecision, route
from abusedesk.cases.sla import Pause, SlaState, pauses_from_history, sla_status
from abusedesk.cases.states import (
    CaseState,
    CloseReason,
    SlaClock,
    Transition,
    plan_transition,
    sla_clock,
)
from abusedesk.core.clock import as_utc
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import case_history
from abusedesk.storage.case_history import Step
from abusedesk.storage.queues import (
    current_rules,
    queue_by_id,
    queue_by_name,
    queues_of,
    sla_policy,
)
from abusedesk.storage.signals import raise_signal
from abusedesk.storage.tables import Case, User, table_of

CASES = table_of(Case)
# Cases an analyst can pull: work waits on the team, not on the customer or another team.
PULLABLE = (CaseState.NEW, CaseState.TRIAGED, CaseState.INVESTIGATING, CaseState.ACTIONED)
ACTIVE = sorted(CaseState.ACTIVE)
_ENDS_SNOOZE = frozenset({CaseState.RESOLVED, CaseState.CLOSED})
MAX_REASON = 2000


class CaseTaken(AbuseDeskError):
    """Raise when a case is assigned to someone else and the caller did not say to take it."""


class NoQueues(AbuseDeskError):
    """Raise when an analyst pulls work but is a member of no queue."""


@dataclass(frozen=True)
class Pulled:
    """The case the next-case pull gave an analyst, and the queue it came from."""

    case_id: int
    queue: str


# --- routing ------------------------------------------------------------------------


def route_case(
    session: Session, case_id: int, facts: CaseFacts, *, now: datetime, actor: str
) -> RoutingDecision:
    """Put case *case_id* in the queue the current routing rules choose, and say why."""
    decision = route(facts, current_rules(session))
    queue = queue_by_name(session, decision.queue)
    explanation = decision.explanation
    if queue.archived:
        default = queue_by_name(session, current_rules(session).default_queue)
        explanation += f"; {queue.name} is archived, so the default queue {default.name} takes it"
        queue = default
    previous = _case(session, case_id).queue_id
    session.execute(
        update(CASES)
        .where(Case.id == case_id)
        .values(queue_id=queue.id, routing_version=decision.version, routing_reason=explanation)
    )
    case_history.record(
        session,
        case_id,
        Step.ROUTE,
        actor=actor,
        at=now,
        from_value=None if previous is None else queue_by_id(session, previous).name,
        to_value=queue.name,
        reason=explanation,
    )
    refresh_sla(session, case_id, now=now)
    return decision


# --- the next case, assignment, transfer --------------------------------------------


def pull_next(session: Session, username: str, *, now: datetime) -> Pulled | None:
    """Assign the most urgent unassigned case of the analyst's queues to them.

    Most urgent: a breached clock first, then higher priority, then the earlier due time.
    Two analysts pulling at once never get the same case: PostgreSQL skips rows another
    transaction has locked, and the assignment only lands on a case still unassigned.
    """
    user_id = _user_id(session, username)
    queue_ids = queues_of(session, user_id)
    if not queue_ids:
        raise NoQueues(f"{username} is a member of no queue; ask a lead to add them to one")
    postgres = session.get_bind().dialect.name == "postgresql"
    candidates = (
        select(Case.id, Case.queue_id)
        .where(
            Case.queue_id.in_(queue_ids),
            Case.status.in_(PULLABLE),
            Case.assignee_id.is_(None),
            Case.snoozed_for_reply.is_(False),
            or_(Case.snoozed_until.is_(None), Case.snoozed_until <= now),
        )
        .order_by(
            (Case.sla_state == SlaState.BREACHED).desc(),
            Case.priority.desc(),
            Case.response_due_at.asc().nulls_last(),
            Case.id,
        )
        .limit(1)
    )
    if postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=CASES)
    for _ in range(5):
        found = session.execute(candidates).first()
        if found is None:
            return None
        case_id, queue_id = found
        assert queue_id is not None  # noqa: S101  # the candidates are cases in a queue
        taken = session.execute(
            update(CASES)
            .where(Case.id == case_id, Case.assignee_id.is_(None))
            .values(assignee_id=user_id, assigned_at=now)
            .returning(Case.id)
        ).scalar()
        if taken is not None:
            case_history.record(
                session,
                case_id,
                Step.ASSIGN,
                actor=username,
                at=now,
                to_value=username,
                reason="pulled as the next case",
            )
            _start_work(session, case_id, actor=username, now=now)
            return Pulled(case_id, queue_by_id(session, queue_id).name)
    return None


def assign(
    session: Session,
    case_id: int,
    assignee: str | None,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    take_over: bool = False,
) -> None:
    """Assign case *case_id* to *assignee* (None: back to the queue).

    A case someone else holds is only taken over when *take_over* says so, with a reason.
    """
    case = _case(session, case_id)
    current = _username(session, case.assignee_id)
    if current == assignee:
        return
    if current is not None and assignee is not None and current != actor and not take_over:
        raise CaseTaken(f"case {case_id} is assigned to {current}; take it over with a reason")
    if take_over and not (reason or "").strip():
        raise ReasonRequired("taking over another analyst's case needs a reason")
    user_id = None if assignee is None else _user_id(session, assignee)
    session.execute(
        update(CASES)
        .where(Case.id == case_id)
        .values(assignee_id=user_id, assigned_at=None if user_id is None else now)
    )
    case_history.record(
        session,
        case_id,
        Step.ASSIGN,
        actor=actor,
        at=now,
        from_value=current,
        to_value=assignee,
        reason=reason or ("released to the queue" if assignee is None else None),
    )
    if assignee is not None:
        _start_work(session, case_id, actor=actor, now=now)


def _start_work(session: Session, case_id: int, *, actor: str, now: datetime) -> None:
    """A new case someone takes is being investigated: that is the team's first response."""
    if _case(session, case_id).status == CaseState.NEW:
        move(session, case_id, CaseState.INVESTIGATING, actor=actor, now=now, reason="taken up")


def transfer(
    session: Session, case_id: int, queue_name: str, *, actor: str, now: datetime, reason: str
) -> None:
    """Move case *case_id* to another queue (and so perhaps department), with a reason.

    The case goes back to the new queue unassigned; its clocks keep their start and take
    the new queue's targets and calendar.
    """
    text = _reason(reason, "a transfer")
    case = _case(session, case_id)
    target = queue_by_name(session, queue_name)
    if target.archived:
        raise NotFound(f"queue {queue_name} is archived")
    source = None if case.queue_id is None else queue_by_id(session, case.queue_id)
    if source is not None and source.id == target.id:
        return
    session.execute(
        update(CASES)
        .where(Case.id == case_id)
        .values(queue_id=target.id, assignee_id=None, assigned_at=None)
    )
    case_history.record(
        session,
        case_id,
        Step.TRANSFER,
        actor=actor,
        at=now,
        from_value=None if source is None else f"{source.name} ({source.department})",
        to_value=f"{target.name} ({target.department})",
        reason=text,
    )
    refresh_sla(session, case_id, now=now)


# --- moving through the states ------------------------------------------------------


def move(
    session: Session,
    case_id: int,
    target: str,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    close_reason: str | None = None,
) -> Transition:
    """Move case *case_id* to state *target*, as the transition table allows.

    The first move out of ``new`` is the team's first response. Resolving or closing
    stops the clocks and ends a snooze; reopening starts them again.
    """
    case = _case(session, case_id, for_update=True)
    plan = plan_transition(case.status, target, close_reason=close_reason)
    values: dict[str, Any] = {"status": target, "state_changed_at": now}
    if case.first_response_at is None:
        values["first_response_at"] = now
    if target == CaseState.RESOLVED:
        values["resolved_at"] = now
    if target == CaseState.CLOSED:
        values.update(closed_at=now, close_reason=plan.close_reason)
        values["resolved_at"] = case.resolved_at or now
    if target in (CaseState.RESOLVED, CaseState.CLOSED):
        values.update(snoozed_until=None, snoozed_for_reply=False)
    if plan.is_reopen:
        values.update(
            closed_at=None, close_reason=None, resolved_at=None, reopen_count=case.reopen_count + 1
        )
    session.execute(update(CASES).where(Case.id == case_id).values(**values))
    case_history.record(
        session,
        case_id,
        Step.TRANSITION,
        actor=actor,
        at=now,
        from_value=case.status,
        to_value=target,
        reason=_joined(reason, plan.close_reason),
        tag=plan.audit_tag,
    )
    refresh_sla(session, case_id, now=now)
    return plan


@dataclass(frozen=True)
class BulkOutcome:
    """What happened to one case of a bulk close."""

    case_id: int
    closed: bool
    problem: str | None = None


def bulk_close(
    session: Session,
    case_ids: Sequence[int],
    close_reason: str,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> list[BulkOutcome]:
    """Close many cases at once as duplicate, false positive or no action, with a reason.

    A case that cannot be closed (already closed, unknown) is reported, not fatal.
    """
    text = _reason(reason, "a bulk close")
    if close_reason not in CloseReason.BULK:
        raise TransitionNotAllowed(
            "case", "any", f"closed as {close_reason}", frozenset(CloseReason.BULK)
        )
    outcomes = []
    for case_id in dict.fromkeys(case_ids):
        try:
            move(
                session,
                case_id,
                CaseState.CLOSED,
                actor=actor,
                now=now,
                reason=text,
                close_reason=close_reason,
            )
        except (AbuseDeskError, NotFound) as problem:
            outcomes.append(BulkOutcome(case_id, closed=False, problem=str(problem)))
        else:
            outcomes.append(BulkOutcome(case_id, closed=True))
    return outcomes


# --- follow-ups ---------------------------------------------------------------------


def snooze(
    session: Session,
    case_id: int,
    *,
    until: datetime | None,
    until_reply: bool,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Take case *case_id* out of the working view until *until* or a customer reply."""
    follow_up = Snooze(set_at=now, set_by=actor, until=until, until_reply=until_reply)
    case = _case(session, case_id)
    if case.status not in CaseState.ACTIVE:
        raise TransitionNotAllowed("case", case.status, "snoozed", frozenset(CaseState.ACTIVE))
    session.execute(
        update(CASES)
        .where(Case.id == case_id)
        .values(snoozed_until=follow_up.until, snoozed_for_reply=follow_up.until_reply)
    )
    case_history.record(
        session,
        case_id,
        Step.SNOOZE,
        actor=actor,
        at=now,
        to_value=_snooze_words(follow_up),
        reason=reason,
    )
    refresh_sla(session, case_id, now=now)


def wake(session: Session, case_id: int, *, actor: str, now: datetime, reason: str) -> None:
    """End the snooze of case *case_id* (its time came, the customer replied, or by hand)."""
    case = _case(session, case_id)
    if case.snoozed_until is None and not case.snoozed_for_reply:
        return
    session.execute(
        update(CASES).where(Case.id == case_id).values(snoozed_until=None, snoozed_for_reply=False)
    )
    case_history.record(session, case_id, Step.WAKE, actor=actor, at=now, reason=reason)
    refresh_sla(session, case_id, now=now)


def customer_replied(session: Session, case_id: int, *, now: datetime) -> None:
    """Record a customer's reply on a case: a snooze waiting for it ends."""
    case = _case(session, case_id)
    if case.snoozed_for_reply:
        wake(session, case_id, actor="system:followup", now=now, reason="the customer replied")


def wake_due(session: Session, *, now: datetime, limit: int = 500) -> list[int]:
    """Wake every snoozed case whose time has come; return their ids."""
    due = list(
        session.scalars(
            select(Case.id)
            .where(Case.snoozed_until.is_not(None), Case.snoozed_until <= now)
            .order_by(Case.snoozed_until)
            .limit(limit)
        )
    )
    for case_id in due:
        wake(session, case_id, actor="system:followup", now=now, reason="the snooze time came")
    return due


def _snooze_words(follow_up: Snooze) -> str:
    parts = []
    if follow_up.until is not None:
        parts.append(f"until {as_utc(follow_up.until):%Y-%m-%d %H:%M} UTC")
    if follow_up.until_reply:
        parts.append("until the customer replies")
    return " or ".join(parts)


# --- SLA clocks ---------------------------------------------------------------------


def pauses(session: Session, case_id: int) -> list[Pause]:
    """Return the intervals the case's clocks did not run: waiting on the customer, snoozed,
    and resolved or closed before a reopen."""
    entries = case_history.history(session, case_id)
    states = case_history.state_history(entries)
    found = list(pauses_from_history(states))
    # Time spent resolved or closed does not count once the case is reopened.
    for (entered, state), (left, _) in pairwise(states):
        if sla_clock(state) == SlaClock.STOPPED:
            found.append(Pause(entered, left, state))
    snoozed_at: datetime | None = None
    for entry in entries:
        # Resolving or closing ends a snooze without a wake step (see `move`).
        ends_snooze = entry.kind == Step.WAKE or (
            entry.kind == Step.TRANSITION and entry.to_value in _ENDS_SNOOZE
        )
        if entry.kind == Step.SNOOZE and snoozed_at is None:
            snoozed_at = entry.at
        elif ends_snooze and snoozed_at is not None:
            found.append(Pause(snoozed_at, entry.at, "snoozed"))
            snoozed_at = None
    if snoozed_at is not None:
        case = _case(session, case_id)
        found.append(Pause(snoozed_at, case.snoozed_until, "snoozed"))
    return found


def refresh_sla(session: Session, case_id: int, *, now: datetime) -> str:
    """Recompute the case's due times and SLA state; return the state.

    An active case found breached for the first time raises its ``sla_breach`` signal
    and records the breach in its history, whichever step noticed it.
    """
    case = _case(session, case_id)
    if case.queue_id is None:
        return case.sla_state
    queue = queue_by_id(session, case.queue_id)
    policy = sla_policy(session, queue)
    status = sla_status(
        policy,
        opened_at=case.opened_at,
        now=max(as_utc(now), as_utc(case.opened_at)),
        responded_at=case.first_response_at,
        resolved_at=case.resolved_at,
        pauses=pauses(session, case_id),
    )
    session.execute(
        update(CASES)
        .where(Case.id == case_id)
        .values(
            response_due_at=status.response.due_at,
            resolution_due_at=status.resolution.due_at,
            sla_state=status.state,
        )
    )
    if (
        status.state == SlaState.BREACHED
        and case.sla_state != SlaState.BREACHED
        and case.status in CaseState.ACTIVE
    ):
        _breached(session, case_id, queue.name, before=case.sla_state, now=now)
    return status.state


def _breached(session: Session, case_id: int, queue: str, *, before: str, now: datetime) -> None:
    raise_signal(
        session,
        kind="sla_breach",
        subject_type="case",
        subject_id=str(case_id),
        reason=f"case {case_id} in queue {queue} is past its SLA target",
        figures={"queue": queue},
        at=now,
        dedupe_key=f"sla_breach:{case_id}:{now:%Y%m%d}",
    )
    case_history.record(
        session,
        case_id,
        Step.SLA,
        actor="system:sla",
        at=now,
        from_value=before,
        to_value=SlaState.BREACHED,
        reason="an SLA target passed; the case shows in the lead's view",
    )


def sweep_sla(session: Session, *, now: datetime, limit: int = 1000) -> list[int]:
    """Re-read the clocks of open cases past a due time; raise a signal per breach.

    Return the cases that breached in this sweep. A breach shows in the lead's view (cases
    whose ``sla_state`` is breached) and raises one ``sla_breach`` signal per case and day
    (see `refresh_sla`).
    """
    watched = session.execute(
        select(Case.id, Case.sla_state)
        .where(
            Case.status.in_(ACTIVE),
            Case.sla_state != SlaState.BREACHED,
            or_(
                and_(Case.first_response_at.is_(None), Case.response_due_at <= now),
                and_(Case.resolved_at.is_(None), Case.resolution_due_at <= now),
            ),
        )
        .order_by(Case.resolution_due_at)
        .limit(limit)
    ).all()
    breached = []
    for case_id, before in watched:
        state = refresh_sla(session, case_id, now=now)
        if state == SlaState.BREACHED and before != SlaState.BREACHED:
            breached.append(case_id)
    return breached


# --- helpers ------------------------------------------------------------------------


def lock_case(session: Session, case_id: int) -> Case:
    """Return case *case_id*, locked until the transaction ends (PostgreSQL; SQLite
    serialises writers anyway), or raise NotFound."""
    return _case(session, case_id, for_update=True)


def _case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    # Casework writes with Core UPDATEs: reload the row's current values in the same query.
    statement = select(Case).where(Case.id == case_id).execution_options(populate_existing=True)
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    case = session.execute(statement).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no case {case_id}")
    return case


def _user_id(session: Session, username: str) -> int:
    user_id = session.scalar(
        select(User.id).where(User.username == username, User.disabled_at.is_(None))
    )
    if user_id is None:
        raise NotFound(f"no active user named {username!r}")
    return int(user_id)


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == user_id))


def _reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ReasonRequired(f"{what} needs a reason in words")
    return text[:MAX_REASON]


def _joined(reason: str | None, close_reason: str | None) -> str | None:
    parts = [p for p in (close_reason and f"closed as {close_reason}", reason) if p]
    return ": ".join(parts) or None
