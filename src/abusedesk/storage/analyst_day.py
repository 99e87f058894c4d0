"""Play a scripted day of analyst activity (`abusedesk.demo.analysts`) on stored cases.

Every step goes through the storage functions the workbench's own pages call (casework,
notes, escalations, enforcement, appeals, the focus heartbeat and shifts), with the
step's time as the clock, so the day leaves the audit trail real work leaves. The
caller owns the transaction.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.cases.escalations import EscalationTarget, TargetKind
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.demo.analysts import AnalystDay, Do, ScriptStep
from abusedesk.storage import (
    analyst_activity,
    appeals,
    case_notes,
    casework,
    enforcement,
    escalations,
)
from abusedesk.storage.appeals import AttachmentLimits
from abusedesk.storage.enforcement import ActionState, Connector
from abusedesk.storage.tables import AppealRow, Case, EnforcementAction, Event

# An appeal in the day carries no files.
_NO_FILES = AttachmentLimits(max_count=0, max_bytes=0, types=frozenset())


class DayNotPlayable(AbuseDeskError):
    """Raise when the database lacks what the scripted day needs (cases, analysts)."""


def unfolded_accounts(session: Session) -> list[int]:
    """Return the accounts with events not yet folded into cases, in order."""
    return sorted(
        set(
            session.scalars(
                select(Event.account_id).where(
                    Event.account_id.is_not(None), Event.aggregated_at.is_(None)
                )
            )
        )
    )


def day_cases(session: Session, day: AnalystDay) -> list[int]:
    """Return the cases the day works: the oldest new ones in a queue, as many as it needs."""
    found = list(
        session.scalars(
            select(Case.id)
            .where(Case.status == "new", Case.queue_id.is_not(None))
            .order_by(Case.id)
            .limit(day.cases)
        )
    )
    if len(found) < day.cases:
        raise DayNotPlayable(
            f"the day needs {day.cases} new cases in a queue; the database has {len(found)}"
        )
    return found


def play(
    session: Session,
    day: AnalystDay,
    *,
    start: datetime,
    cases: Sequence[int],
    connector: Connector,
    heartbeat: timedelta,
    gap: timedelta,
) -> None:
    """Play *day* from *start* on *cases* (the day's case 0, 1, ...)."""
    if len(cases) < day.cases:
        raise DayNotPlayable(f"the day needs {day.cases} cases; {len(cases)} given")
    for username, team in day.analysts:
        try:
            analyst_activity.set_team(session, username, team, actor="demo", now=start)
        except NotFound as missing:
            raise DayNotPlayable(f"the day's analyst {username} does not exist") from missing
    ordered = sorted(enumerate(day.steps), key=lambda pair: (pair[1].at, pair[0]))
    for _, step in ordered:
        _play(
            session,
            step,
            start=start,
            cases=cases,
            connector=connector,
            heartbeat=heartbeat,
            gap=gap,
        )


def _play(
    session: Session,
    step: ScriptStep,
    *,
    start: datetime,
    cases: Sequence[int],
    connector: Connector,
    heartbeat: timedelta,
    gap: timedelta,
) -> None:
    at = start + step.at
    until = None if step.until is None else start + step.until
    case_id = None if step.case is None else cases[step.case]
    who = step.analyst
    if step.do == Do.PERIOD:
        assert until is not None  # noqa: S101  # a period always has an end in the script
        analyst_activity.add_period(session, who, step.value, at, until, actor=who, now=at)
        return
    if case_id is None:
        raise DayNotPlayable(f"step {step.do} at {at:%H:%M} names no case")
    if step.do == Do.FOCUS:
        assert until is not None  # noqa: S101  # a focus stretch always has an end
        ping_at = at
        while ping_at <= until:
            analyst_activity.ping(session, who, case_id, now=ping_at, gap=gap)
            ping_at += heartbeat
        if ping_at - heartbeat < until:
            analyst_activity.ping(session, who, case_id, now=until, gap=gap)
    elif step.do == Do.TAKE:
        casework.assign(session, case_id, who, actor=who, now=at)
    elif step.do == Do.NOTE:
        case_notes.add_note(session, case_id, step.value, author=who, now=at)
    elif step.do == Do.MOVE:
        casework.move(
            session,
            case_id,
            step.value,
            actor=who,
            now=at,
            reason=step.reason or None,
            close_reason=step.close_reason,
        )
    elif step.do == Do.ESCALATE:
        escalations.escalate(
            session,
            case_id,
            EscalationTarget(TargetKind.DEPARTMENT, step.value),
            reason=step.reason,
            within=timedelta(hours=8),
            actor=who,
            now=at,
        )
    elif step.do == Do.PROPOSE:
        _propose(session, case_id, step.value, who=who, at=at, connector=connector)
    elif step.do == Do.APPROVE:
        action_id = _action_of(session, case_id, ActionState.PROPOSED)
        enforcement.approve(session, action_id, approver=who, now=at)
        enforcement.execute(session, action_id, connector, actor=who, now=at)
    elif step.do == Do.APPEAL:
        appeals.submit_appeal(
            session,
            _action_of(session, case_id, ActionState.EXECUTED),
            root_cause="A partner imported an old list into our account by mistake.",
            fix="We removed the list and every address that was on it.",
            prevention="Imports now need double opt-in confirmation.",
            uploads=(),
            limits=_NO_FILES,
            now=at,
        )
    elif step.do == Do.DECIDE:
        appeal_id = session.scalar(
            select(AppealRow.id).where(AppealRow.case_id == case_id, AppealRow.state == "open")
        )
        if appeal_id is None:
            raise DayNotPlayable(f"case {case_id} has no open appeal to decide")
        appeals.decide_appeal(
            session,
            int(appeal_id),
            decision=step.value,
            reason=step.reason,
            reviewer=who,
            connector=connector,
            now=at,
        )
    else:
        raise DayNotPlayable(f"unknown step {step.do!r}")


def _propose(
    session: Session, case_id: int, action: str, *, who: str, at: datetime, connector: Connector
) -> None:
    account_id = session.scalar(select(Case.account_id).where(Case.id == case_id))
    if account_id is None:
        raise NotFound(f"no case {case_id}")
    record = enforcement.propose(
        session,
        int(account_id),
        action,
        cause="complaint_rate",
        reason=f"{action} proposed from case {case_id}: complaints on a bought list",
        evidence={"case_ids": [case_id]},
        actor=who,
        now=at,
        case_id=case_id,
    )
    if not record.needs_approval:
        enforcement.execute(session, record.id, connector, actor=who, now=at)


def _action_of(session: Session, case_id: int, state: str) -> int:
    action_id = session.scalar(
        select(EnforcementAction.id)
        .where(EnforcementAction.case_id == case_id, EnforcementAction.state == state)
        .order_by(EnforcementAction.id.desc())
        .limit(1)
    )
    if action_id is None:
        raise DayNotPlayable(f"case {case_id} has no {state} action")
    return int(action_id)
