"""Read what analysts did from the audit trail tables, as `insights.metrics.AnalystFacts`.

Sources: the case history (every step, its actor and time), cases (opening time, due
times, first response), escalations, enforcement actions and their appeals, the focus
heartbeat (`analyst_activity`) and shifts (`analyst_shifts`). The figures themselves are
computed in `abusedesk.insights.metrics`; this module only reads.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from abusedesk.access.model import ANALYST_ADVANCED, ANALYST_BASIC, LEAD
from abusedesk.cases.states import CaseState
from abusedesk.core.clock import as_utc
from abusedesk.insights.metrics import (
    AnalystFacts,
    AnalystFigures,
    AppealOutcome,
    CaseStep,
    Decision,
    Escalated,
    FirstResponse,
    Focus,
    Handled,
    Period,
    analyst_figures,
    combine,
    weeks,
)
from abusedesk.storage.case_history import Step
from abusedesk.storage.tables import (
    AnalystActivity,
    AnalystShift,
    AppealRow,
    Case,
    CaseHistoryEntry,
    EnforcementAction,
    EscalationRow,
    QueueRow,
    User,
)

# The roles whose figures are kept: the ones that work cases.
WORKING_ROLES = (ANALYST_BASIC, ANALYST_ADVANCED, LEAD)
TIER_OF_ROLE = {ANALYST_BASIC: "tier 1", ANALYST_ADVANCED: "tier 2", LEAD: "lead"}
_DONE = (CaseState.RESOLVED, CaseState.CLOSED)
# Looked back before a window so that a step's queue and a case's opening are known.
_QUEUE_STEPS = (Step.ROUTE, Step.TRANSFER)


@dataclass(frozen=True)
class Analyst:
    """Who an analyst is for the figures: name, team, tier (from the role)."""

    username: str
    team: str
    tier: str
    display_name: str


def analysts(session: Session, *, usernames: Sequence[str] | None = None) -> list[Analyst]:
    """Return the active users who work cases (or the named ones), by name."""
    statement = select(User.username, User.team, User.role, User.display_name).order_by(
        User.username
    )
    if usernames is None:
        statement = statement.where(User.role.in_(WORKING_ROLES), User.disabled_at.is_(None))
    else:
        statement = statement.where(User.username.in_(list(usernames)))
    return [
        Analyst(
            row.username, row.team or "", TIER_OF_ROLE.get(row.role, row.role), row.display_name
        )
        for row in session.execute(statement)
    ]


def analyst_facts(
    session: Session, people: Sequence[Analyst], *, start: datetime, end: datetime
) -> list[AnalystFacts]:
    """Return what the audit trail holds about *people* from *start* to *end*."""
    names = [p.username for p in people]
    if not names:
        return []
    steps: dict[str, list[CaseStep]] = {n: [] for n in names}
    decisions: dict[str, list[Decision]] = {n: [] for n in names}
    done: list[tuple[str, int, datetime, str | None]] = []
    for entry in session.execute(
        select(
            CaseHistoryEntry.case_id,
            CaseHistoryEntry.at,
            CaseHistoryEntry.actor,
            CaseHistoryEntry.kind,
            CaseHistoryEntry.to_value,
            CaseHistoryEntry.reason,
        )
        .where(
            CaseHistoryEntry.actor.in_(names),
            CaseHistoryEntry.at >= start,
            CaseHistoryEntry.at < end,
        )
        .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
    ):
        at = as_utc(entry.at)
        steps[entry.actor].append(CaseStep(entry.case_id, at))
        if entry.kind == Step.TRANSITION and entry.to_value in _DONE:
            done.append((entry.actor, entry.case_id, at, entry.to_value))
            decisions[entry.actor].append(Decision(_decision(entry.to_value, entry.reason), at))
    escalated: dict[str, list[Escalated]] = {n: [] for n in names}
    for raised in session.execute(
        select(EscalationRow.case_id, EscalationRow.raised_by, EscalationRow.raised_at).where(
            EscalationRow.raised_by.in_(names),
            EscalationRow.raised_at >= start,
            EscalationRow.raised_at < end,
        )
    ):
        at = as_utc(raised.raised_at)
        escalated[raised.raised_by].append(Escalated(raised.case_id, at))
        decisions[raised.raised_by].append(Decision("escalate", at))
    for proposal in session.execute(
        select(
            EnforcementAction.proposed_by, EnforcementAction.action, EnforcementAction.proposed_at
        ).where(
            EnforcementAction.proposed_by.in_(names),
            EnforcementAction.proposed_at >= start,
            EnforcementAction.proposed_at < end,
            EnforcementAction.reverses_action_id.is_(None),
        )
    ):
        decisions[proposal.proposed_by].append(
            Decision(f"propose {proposal.action}", as_utc(proposal.proposed_at))
        )
    handled = _handled(session, done)
    first = _first_responses(session, names, start=start, end=end)
    appeals: dict[str, list[AppealOutcome]] = {n: [] for n in names}
    for decided in session.execute(
        select(
            EnforcementAction.proposed_by,
            AppealRow.action_id,
            AppealRow.decided_at,
            AppealRow.state,
        )
        .join(EnforcementAction, EnforcementAction.id == AppealRow.action_id)
        .where(
            EnforcementAction.proposed_by.in_(names),
            AppealRow.decided_at >= start,
            AppealRow.decided_at < end,
        )
    ):
        appeals[decided.proposed_by].append(
            AppealOutcome(decided.action_id, as_utc(decided.decided_at), decided.state)
        )
    focus: dict[str, list[Focus]] = {n: [] for n in names}
    for stretch in session.execute(
        select(
            AnalystActivity.username,
            AnalystActivity.case_id,
            AnalystActivity.started_at,
            AnalystActivity.last_seen_at,
        ).where(
            AnalystActivity.username.in_(names),
            AnalystActivity.source == "focus",
            AnalystActivity.last_seen_at >= start,
            AnalystActivity.started_at < end,
        )
    ):
        focus[stretch.username].append(
            Focus(stretch.case_id, as_utc(stretch.started_at), as_utc(stretch.last_seen_at))
        )
    shifts: dict[str, list[Period]] = {n: [] for n in names}
    for period in session.execute(
        select(
            AnalystShift.username, AnalystShift.kind, AnalystShift.starts_at, AnalystShift.ends_at
        ).where(
            AnalystShift.username.in_(names),
            AnalystShift.starts_at < end,
            or_(AnalystShift.ends_at.is_(None), AnalystShift.ends_at > start),
        )
    ):
        shifts[period.username].append(
            Period(
                period.kind,
                as_utc(period.starts_at),
                None if period.ends_at is None else as_utc(period.ends_at),
            )
        )
    return [
        AnalystFacts(
            username=p.username,
            team=p.team,
            tier=p.tier,
            focus=tuple(focus[p.username]),
            steps=tuple(steps[p.username]),
            decisions=tuple(decisions[p.username]),
            handled=tuple(handled.get(p.username, ())),
            first_responses=tuple(first.get(p.username, ())),
            escalated=tuple(escalated[p.username]),
            appeals=tuple(appeals[p.username]),
            periods=tuple(shifts[p.username]),
        )
        for p in people
    ]


def _decision(target: str, reason: str | None) -> str:
    """Return the decision a move to *target* was: resolve, or close as its close reason."""
    if target == CaseState.RESOLVED:
        return "resolve"
    words = reason or ""
    if words.startswith("closed as "):
        return "close as " + words[len("closed as ") :].split(":", 1)[0].strip()
    return "close"


def _handled(
    session: Session, done: list[tuple[str, int, datetime, str | None]]
) -> dict[str, list[Handled]]:
    """Return, per analyst, the cases they resolved or closed with queue, clocks and reopen."""
    case_ids = sorted({case_id for _, case_id, _, _ in done})
    if not case_ids:
        return {}
    cases = {
        row.id: row
        for row in session.execute(
            select(
                Case.id,
                Case.first_response_at,
                Case.response_due_at,
                Case.resolution_due_at,
            ).where(Case.id.in_(case_ids))
        )
    }
    history: dict[int, list[tuple[datetime, str, str | None, str | None]]] = {}
    for row in session.execute(
        select(
            CaseHistoryEntry.case_id,
            CaseHistoryEntry.at,
            CaseHistoryEntry.kind,
            CaseHistoryEntry.from_value,
            CaseHistoryEntry.to_value,
        )
        .where(
            CaseHistoryEntry.case_id.in_(case_ids),
            CaseHistoryEntry.kind.in_((*_QUEUE_STEPS, Step.TRANSITION)),
        )
        .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
    ):
        history.setdefault(row.case_id, []).append(
            (as_utc(row.at), row.kind, row.from_value, row.to_value)
        )
    tiers = {q.name: q.tier for q in session.execute(select(QueueRow.name, QueueRow.tier))}
    found: dict[str, list[Handled]] = {}
    for actor, case_id, at, _ in done:
        case = cases[case_id]
        steps = history.get(case_id, [])
        queue = _queue_at(steps, at)
        reopened = any(
            kind == Step.TRANSITION and when > at and before in _DONE and after not in _DONE
            for when, kind, before, after in steps
        )
        response_met = resolution_met = None
        if queue is not None and case.response_due_at is not None:
            responded = case.first_response_at
            response_met = responded is not None and as_utc(responded) <= as_utc(
                case.response_due_at
            )
        if queue is not None and case.resolution_due_at is not None:
            resolution_met = at <= as_utc(case.resolution_due_at)
        found.setdefault(actor, []).append(
            Handled(
                case_id,
                at,
                queue,
                None if queue is None else tiers.get(queue),
                response_met,
                resolution_met,
                reopened,
            )
        )
    return found


def _queue_at(
    steps: list[tuple[datetime, str, str | None, str | None]], at: datetime
) -> str | None:
    """Return the queue a case was in at *at*, from its route and transfer steps."""
    queue = None
    for when, kind, _, target in steps:
        if when > at:
            break
        if kind in _QUEUE_STEPS and target:
            # A transfer names the department too: "advanced (trust_safety)".
            queue = target.rsplit(" (", 1)[0] if kind == Step.TRANSFER else target
    return queue


def _first_responses(
    session: Session, names: list[str], *, start: datetime, end: datetime
) -> dict[str, list[FirstResponse]]:
    """Return, per analyst, the cases whose first move out of new they made in the window."""
    found: dict[str, list[FirstResponse]] = {}
    rows = session.execute(
        select(
            CaseHistoryEntry.case_id, CaseHistoryEntry.at, CaseHistoryEntry.actor, Case.opened_at
        )
        .join(Case, Case.id == CaseHistoryEntry.case_id)
        .where(
            CaseHistoryEntry.kind == Step.TRANSITION,
            CaseHistoryEntry.from_value == CaseState.NEW,
            CaseHistoryEntry.at >= start,
            CaseHistoryEntry.at < end,
        )
        .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
    )
    seen: set[int] = set()
    for row in rows:
        if row.case_id in seen:
            continue
        seen.add(row.case_id)
        if row.actor in names:
            at = as_utc(row.at)
            found.setdefault(row.actor, []).append(
                FirstResponse(row.case_id, at, max(at - as_utc(row.opened_at), timedelta(0)))
            )
    return found


@dataclass(frozen=True)
class TeamFigures:
    """Everyone's figures over one window, and the groups they roll up to."""

    start: datetime
    end: datetime
    analysts: list[AnalystFigures]
    teams: dict[str, AnalystFigures]
    tiers: dict[str, AnalystFigures]
    everyone: AnalystFigures | None


def figures(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    action_span: timedelta,
    usernames: Sequence[str] | None = None,
) -> TeamFigures:
    """Return the figures of every analyst (or the named ones) for *start*..*end*, with
    their teams' and tiers' and everyone's."""
    people = analysts(session, usernames=usernames)
    facts = analyst_facts(session, people, start=start, end=end)
    each = [
        analyst_figures(f, start=start, end=end, now=now, action_span=action_span) for f in facts
    ]
    return group(each, start=start, end=end)


def group(each: list[AnalystFigures], *, start: datetime, end: datetime) -> TeamFigures:
    """Return *each* with the figures of its teams, tiers and everyone."""
    teams: dict[str, list[AnalystFigures]] = {}
    tiers: dict[str, list[AnalystFigures]] = {}
    for one in each:
        teams.setdefault(one.team or "no team", []).append(one)
        tiers.setdefault(one.tier, []).append(one)
    return TeamFigures(
        start=start,
        end=end,
        analysts=each,
        teams={name: combine(name, members, team=name) for name, members in sorted(teams.items())},
        tiers={name: combine(name, members, tier=name) for name, members in sorted(tiers.items())},
        everyone=combine("everyone", each) if each else None,
    )


def weekly(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    action_span: timedelta,
    usernames: Sequence[str] | None = None,
) -> list[TeamFigures]:
    """Return the figures of each week (Monday to Monday, UTC) overlapping *start*..*end*."""
    spans = weeks(start, end)
    if not spans:
        return []
    people = analysts(session, usernames=usernames)
    facts = analyst_facts(session, people, start=spans[0][0], end=spans[-1][1])
    return [
        group(
            [analyst_figures(f, start=a, end=b, now=now, action_span=action_span) for f in facts],
            start=a,
            end=b,
        )
        for a, b in spans
    ]
