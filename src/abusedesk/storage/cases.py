"""Cases as stored: fold an account's new events into cases, counts and priority derived.

Events fold into the account's open case of their category group; a case closed within
the grace period reopens instead of a duplicate opening (``cases.aggregation.decide_fold``).
A new case is routed to its queue by the current routing rules, and its SLA clocks start.
Monitors' signals join cases the same way (`case_for_signal`); a case's open signals add
to its priority.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import distinct, func, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.aggregation import (
    CaseKey,
    CaseStanding,
    FoldDecision,
    FoldOutcome,
    decide_fold,
)
from abusedesk.cases.policy import CaseGroups
from abusedesk.cases.priority import Factor, Priority, PriorityFacts, case_priority
from abusedesk.cases.routing import CaseFacts
from abusedesk.cases.states import CaseState
from abusedesk.monitoring.rules import SEVERITY_POINTS
from abusedesk.storage import case_history, casework
from abusedesk.storage.case_history import Step
from abusedesk.storage.dialect import insert_for, lock_account
from abusedesk.storage.tables import Account, Case, Event, Signal, table_of

EVENTS = table_of(Event)
ACTOR = "system:aggregate"
# A case closed this recently reopens when new events for it arrive.
DEFAULT_REOPEN_GRACE = timedelta(days=7)
DEFAULT_GROUPS = CaseGroups()
# Cases whose earlier outcome counts as an action against the account.
_ACTIONED = (CaseState.ACTIONED, CaseState.RESOLVED)


def fold_account_events(
    session: Session,
    account_id: int,
    *,
    now: datetime,
    grace: timedelta = DEFAULT_REOPEN_GRACE,
    groups: CaseGroups = DEFAULT_GROUPS,
) -> list[int]:
    """Fold the account's unfolded events into cases; return the cases touched.

    Counts are recomputed from the events, never incremented, so running this twice
    (after a crash, or from two workers) gives the same numbers.
    """
    lock_account(session, account_id)
    pending = session.execute(
        select(Event.id, Event.category, Event.service, Event.reporter).where(
            Event.account_id == account_id, Event.aggregated_at.is_(None)
        )
    ).all()
    by_group: dict[str, list[int]] = {}
    for event_id, category, _, _ in pending:
        group = groups.group_of(category)
        if group is not None:
            by_group.setdefault(group, []).append(event_id)

    touched: list[int] = []
    for group, event_ids in sorted(by_group.items()):
        case_id, opened = _case_for(session, account_id, group, now=now, grace=grace)
        _update_events(session, event_ids, case_id=case_id, aggregated_at=now)
        refresh_case(session, case_id, group)
        if opened:
            folded = set(event_ids)
            mine = [(row.service, row.reporter) for row in pending if row.id in folded]
            _route_new_case(session, case_id, group, mine, now=now)
        touched.append(case_id)
    no_casework = [row.id for row in pending if groups.group_of(row.category) is None]
    _update_events(session, no_casework, aggregated_at=now)
    return touched


def accounts_awaiting_aggregation(session: Session, *, before: datetime, limit: int) -> list[int]:
    """Return accounts with attributed events created before *before* and not yet aggregated."""
    return list(
        session.scalars(
            select(Event.account_id)
            .where(
                Event.account_id.is_not(None),
                Event.aggregated_at.is_(None),
                Event.created_at <= before,
            )
            .distinct()
            .limit(limit)
        )
    )


def _update_events(session: Session, event_ids: list[int], **values: object) -> None:
    for start in range(0, len(event_ids), 500):
        session.execute(
            update(EVENTS).where(Event.id.in_(event_ids[start : start + 500])).values(**values)
        )


def refresh_case(session: Session, case_id: int, group: str) -> None:
    """Recompute a case's counts, first/last seen and priority (with its factors)."""
    count, reporters, first, last = session.execute(
        select(
            func.count(Event.id),
            func.count(distinct(Event.reporter)),
            func.min(Event.occurred_at),
            func.max(Event.occurred_at),
        ).where(Event.case_id == case_id)
    ).one()
    account_id = session.scalar(select(Case.account_id).where(Case.id == case_id))
    size_tier, standing = session.execute(
        select(Account.size_tier, Account.standing).where(Account.id == account_id)
    ).one()
    past_actions = session.scalar(
        select(func.count(Case.id)).where(
            Case.account_id == account_id,
            Case.id != case_id,
            (Case.status.in_(_ACTIONED)) | (Case.close_reason == "resolved"),
        )
    )
    ranked = _with_signals(
        session,
        case_id,
        case_priority(
            PriorityFacts(
                category_group=group,
                event_count=count,
                reporter_count=reporters,
                size_tier=size_tier,
                past_actioned_cases=past_actions or 0,
                standing=standing,
            )
        ),
    )
    session.execute(
        update(table_of(Case))
        .where(Case.id == case_id)
        .values(
            event_count=count,
            reporter_count=reporters,
            first_seen_at=first,
            last_seen_at=last,
            priority=ranked.score,
            priority_reason=ranked.reason,
            priority_factors=[
                {"name": f.name, "points": f.points, "words": f.words} for f in ranked.factors
            ],
        )
    )


def _with_signals(session: Session, case_id: int, ranked: Priority) -> Priority:
    """Add the open monitor signals of the case to its priority: the most severe one counts."""
    severities = list(
        session.scalars(
            select(Signal.severity).where(Signal.case_id == case_id, Signal.state == "open")
        )
    )
    if not severities:
        return ranked
    worst = max(severities, key=lambda severity: SEVERITY_POINTS.get(severity, 0))
    points = SEVERITY_POINTS.get(worst, 0)
    factor = Factor(
        "signals", points, f"{len(severities)} open monitor signal(s), the most severe {worst}"
    )
    return Priority(ranked.score + points, (*ranked.factors, factor))


@dataclass(frozen=True)
class SignalCase:
    """The case a monitor's signal went to, whether it opened or reopened, and why in words."""

    case_id: int
    opened: bool
    reopened: bool
    reason: str


def case_for_signal(
    session: Session,
    account_id: int,
    group: str,
    *,
    now: datetime,
    grace: timedelta = DEFAULT_REOPEN_GRACE,
    actor: str = ACTOR,
) -> SignalCase:
    """Return the account's case of *group* a monitor's signal joins, as events would.

    The open case takes it; a case resolved, or closed within *grace*, reopens; otherwise
    a new case opens (route it with `route_signal_case` once its priority is known).
    """
    lock_account(session, account_id)
    decision = _decide(session, account_id, group, now=now, grace=grace)
    case_id, opened = _apply_fold(session, account_id, group, decision, now=now, actor=actor)
    return SignalCase(
        case_id,
        opened=opened,
        reopened=decision.outcome == FoldOutcome.REOPEN,
        reason=decision.reason,
    )


def route_signal_case(
    session: Session, case_id: int, group: str, *, source: str, now: datetime
) -> None:
    """Route a case a monitor's signal opened; *source* is ``monitor:<kind>`` for the rules."""
    _route_new_case(session, case_id, group, [], now=now, source=source)


def _decide(
    session: Session, account_id: int, group: str, *, now: datetime, grace: timedelta
) -> FoldDecision:
    standings = [
        CaseStanding(case_id, state, closed_at, close_reason)
        for case_id, state, closed_at, close_reason in session.execute(
            select(Case.id, Case.status, Case.closed_at, Case.close_reason)
            .where(Case.account_id == account_id, Case.category_group == group)
            .order_by(Case.id.desc())
            .limit(20)
        )
    ]
    key = CaseKey((("account", str(account_id)), ("category_group", group)))
    return decide_fold(key, standings, now=now, grace=grace)


def _case_for(
    session: Session, account_id: int, group: str, *, now: datetime, grace: timedelta
) -> tuple[int, bool]:
    """Return the case new events of the group go to, and whether it was opened just now."""
    decision = _decide(session, account_id, group, now=now, grace=grace)
    return _apply_fold(session, account_id, group, decision, now=now)


def _apply_fold(
    session: Session,
    account_id: int,
    group: str,
    decision: FoldDecision,
    *,
    now: datetime,
    actor: str = ACTOR,
) -> tuple[int, bool]:
    if decision.outcome == FoldOutcome.ATTACH and decision.case_id is not None:
        return decision.case_id, False
    if decision.outcome == FoldOutcome.REOPEN and decision.case_id is not None:
        target = decision.reopen_to or CaseState.TRIAGED
        casework.move(
            session, decision.case_id, target, actor=actor, now=now, reason=decision.reason
        )
        return decision.case_id, False
    return _open_case(session, account_id, group, now=now, reason=decision.reason, actor=actor)


def _open_case(
    session: Session, account_id: int, group: str, *, now: datetime, reason: str, actor: str = ACTOR
) -> tuple[int, bool]:
    statement = (
        insert_for(session, Case)
        .values(
            account_id=account_id,
            category_group=group,
            status=CaseState.NEW,
            priority=0,
            event_count=0,
            reporter_count=0,
            opened_at=now,
            state_changed_at=now,
            priority_factors=[],
            sla_state="ok",
            snoozed_for_reply=False,
            reopen_count=0,
        )
        .on_conflict_do_nothing()
        .returning(Case.id)
    )
    case_id: int | None = session.execute(statement).scalar()
    if case_id is None:
        # Opened concurrently by another worker: use theirs.
        found = session.scalar(
            select(Case.id).where(
                Case.account_id == account_id,
                Case.category_group == group,
                Case.status != CaseState.CLOSED,
            )
        )
        assert found is not None, "the open case vanished within the transaction"  # noqa: S101  # an invariant, not input validation
        return found, False
    case_history.record(
        session,
        case_id,
        Step.OPEN,
        actor=actor,
        at=now,
        to_value=CaseState.NEW,
        reason=reason,
        tag="case:case:open",
        after={"account_id": account_id, "category_group": group, "status": CaseState.NEW},
    )
    return case_id, True


def _route_new_case(
    session: Session,
    case_id: int,
    group: str,
    events: list[tuple[str, str | None]],
    *,
    now: datetime,
    source: str = "report",
) -> None:
    priority, attributes, size_tier = session.execute(
        select(Case.priority, Account.attributes, Account.size_tier)
        .join(Account, Account.id == Case.account_id)
        .where(Case.id == case_id)
    ).one()
    services = Counter(service for service, _ in events)
    reporters = Counter(reporter for _, reporter in events if reporter)
    tags = attributes.get("tags", []) if isinstance(attributes, dict) else []
    facts = CaseFacts(
        category_group=group,
        service=services.most_common(1)[0][0] if services else None,
        priority=priority,
        account_tier=size_tier,
        account_tags=frozenset(str(t) for t in tags if isinstance(t, str)),
        reporter=reporters.most_common(1)[0][0] if reporters else None,
        source=source,
    )
    casework.route_case(session, case_id, facts, now=now, actor="system:routing")
