"""Merge cases into one, and split events off a case into a new one, as stored.

The plans (who survives, which events move, why) come from ``abusedesk.cases.aggregation``;
this module applies them in the caller's transaction under the account's lock, recounts
every case involved from its events, and writes each step to every case's history.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.cases.aggregation import CaseSummary, MergePlan, SplitPlan, plan_merge, plan_split
from abusedesk.cases.errors import MergeNotAllowed, SplitNotAllowed
from abusedesk.cases.escalations import EscalationState
from abusedesk.cases.routing import CaseFacts
from abusedesk.cases.states import CaseState
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history, casework, escalations
from abusedesk.storage.case_history import Step
from abusedesk.storage.cases import refresh_case
from abusedesk.storage.dialect import lock_account
from abusedesk.storage.tables import Account, Case, EscalationRow, Event, table_of

CASES = table_of(Case)
EVENTS = table_of(Event)
MAX_CASES = 50


@dataclass(frozen=True)
class SplitResult:
    """The new case a split opened, the plan behind it, and where routing put it."""

    case_id: int
    plan: SplitPlan
    queue: str


def merge_cases(
    session: Session,
    case_ids: Sequence[int],
    *,
    reason: str,
    actor: str,
    now: datetime,
    survivor_id: int | None = None,
) -> MergePlan:
    """Fold *case_ids* into one case: the survivor keeps every event, the others close.

    The survivor is *survivor_id* or the earliest opened case. The absorbed cases close
    as ``merged`` pointing at the survivor; their active escalations are withdrawn. The
    survivor's counts, first and last seen and priority are recounted from its events.
    """
    if len(case_ids) > MAX_CASES:
        raise MergeNotAllowed(f"merge at most {MAX_CASES} cases at once, not {len(case_ids)}")
    summaries = _summaries(session, case_ids)
    for account_id in sorted({s.account_id for s in summaries}):
        lock_account(session, account_id)
    # Read again under the lock: another transaction may have closed one meanwhile.
    summaries = _summaries(session, case_ids, for_update=True)
    plan = plan_merge(summaries, reason=reason, survivor_id=survivor_id)
    survivor = next(s for s in summaries if s.case_id == plan.survivor_id)
    for absorbed_id in plan.absorbed_ids:
        _withdraw_escalations(session, absorbed_id, plan, actor=actor, now=now)
        session.execute(
            update(EVENTS).where(Event.case_id == absorbed_id).values(case_id=plan.survivor_id)
        )
        casework.move(
            session,
            absorbed_id,
            CaseState.CLOSED,
            actor=actor,
            now=now,
            reason=plan.reason,
            close_reason=plan.close_reason,
        )
        session.execute(
            update(CASES).where(Case.id == absorbed_id).values(merged_into_id=plan.survivor_id)
        )
        refresh_case(session, absorbed_id, _group(summaries, absorbed_id))
        case_history.record(
            session,
            absorbed_id,
            Step.MERGE,
            actor=actor,
            at=now,
            to_value=f"merged into case {plan.survivor_id}",
            reason=plan.explanation,
            tag="case:case:merge",
            after={"merged_into_id": plan.survivor_id},
        )
    refresh_case(session, plan.survivor_id, survivor.category_group)
    case_history.record(
        session,
        plan.survivor_id,
        Step.MERGE,
        actor=actor,
        at=now,
        to_value="absorbed case(s) " + ", ".join(map(str, plan.absorbed_ids)),
        reason=plan.explanation,
        tag="case:case:merge",
        after={"absorbed_ids": list(plan.absorbed_ids)},
    )
    return plan


def split_case(
    session: Session,
    case_id: int,
    event_ids: Sequence[int],
    *,
    category_group: str,
    reason: str,
    actor: str,
    now: datetime,
) -> SplitResult:
    """Move *event_ids* of case *case_id* into a new case of the account in *category_group*.

    Both cases are recounted from their events; the new case is routed by the current
    rules. An account has one open case per category group: when it already has one in
    *category_group*, the split is refused and names that case (merge into it instead).
    """
    (source,) = _summaries(session, [case_id])
    lock_account(session, source.account_id)
    (source,) = _summaries(session, [case_id], for_update=True)
    case_event_ids = list(session.scalars(select(Event.id).where(Event.case_id == case_id)))
    plan = plan_split(
        source, case_event_ids, event_ids, category_group=category_group, reason=reason
    )
    existing = session.scalar(
        select(Case.id).where(
            Case.account_id == plan.account_id,
            Case.category_group == plan.category_group,
            Case.status != CaseState.CLOSED,
        )
    )
    if existing is not None:
        raise SplitNotAllowed(_taken(plan, existing))
    try:
        with session.begin_nested():
            new_id = int(
                session.execute(
                    insert(CASES)
                    .values(
                        account_id=plan.account_id,
                        category_group=plan.category_group,
                        status=plan.new_state,
                        priority=0,
                        event_count=0,
                        reporter_count=0,
                        opened_at=now,
                        state_changed_at=now,
                    )
                    .returning(Case.id)
                ).scalar_one()
            )
    except IntegrityError as exc:
        # Another transaction opened that case after the check above.
        raise SplitNotAllowed(_taken(plan, None)) from exc
    case_history.record(
        session,
        new_id,
        Step.OPEN,
        actor=actor,
        at=now,
        to_value=plan.new_state,
        reason=plan.explanation,
        tag="case:case:open",
        after={
            "account_id": plan.account_id,
            "category_group": plan.category_group,
            "status": plan.new_state,
            "split_from": case_id,
        },
    )
    session.execute(update(EVENTS).where(Event.id.in_(plan.moved_event_ids)).values(case_id=new_id))
    refresh_case(session, case_id, source.category_group)
    refresh_case(session, new_id, plan.category_group)
    for subject, words in (
        (case_id, f"events split off into case {new_id}"),
        (new_id, f"split off case {case_id}"),
    ):
        case_history.record(
            session,
            subject,
            Step.SPLIT,
            actor=actor,
            at=now,
            to_value=words,
            reason=plan.explanation,
            tag="case:case:split",
            after={
                "source_case_id": case_id,
                "new_case_id": new_id,
                "moved_event_ids": list(plan.moved_event_ids),
            },
        )
    decision = casework.route_case(session, new_id, _facts(session, new_id), now=now, actor=actor)
    return SplitResult(new_id, plan, decision.queue)


# --- helpers ------------------------------------------------------------------------


def _summaries(
    session: Session, case_ids: Sequence[int], *, for_update: bool = False
) -> list[CaseSummary]:
    wanted = list(dict.fromkeys(case_ids))
    statement = select(
        Case.id,
        Case.account_id,
        Case.category_group,
        Case.status,
        Case.opened_at,
        Case.event_count,
        Case.first_seen_at,
        Case.last_seen_at,
    ).where(Case.id.in_(wanted))
    if for_update and session.get_bind().dialect.name == "postgresql":
        statement = statement.order_by(Case.id).with_for_update()
    found = {row.id: CaseSummary(*row) for row in session.execute(statement)}
    missing = [case_id for case_id in wanted if case_id not in found]
    if missing:
        raise NotFound(f"no case {', '.join(map(str, missing))}")
    # Repeats are kept so that the plan can name them.
    return [found[case_id] for case_id in case_ids]


def _group(summaries: Sequence[CaseSummary], case_id: int) -> str:
    return next(s.category_group for s in summaries if s.case_id == case_id)


def _withdraw_escalations(
    session: Session, case_id: int, plan: MergePlan, *, actor: str, now: datetime
) -> None:
    active = session.scalars(
        select(EscalationRow.id).where(
            EscalationRow.case_id == case_id,
            EscalationRow.state.in_(sorted(EscalationState.ACTIVE)),
        )
    ).all()
    for escalation_id in active:
        escalations.withdraw(
            session,
            escalation_id,
            note=f"case {case_id} was merged into case {plan.survivor_id}",
            actor=actor,
            now=now,
        )


def _taken(plan: SplitPlan, existing: int | None) -> str:
    which = f"case {existing}" if existing is not None else "a case"
    return (
        f"account {plan.account_id} already has {which} open in {plan.category_group}:"
        " an account has one open case per category group; merge into it instead"
    )


def _facts(session: Session, case_id: int) -> CaseFacts:
    """Return what routing sees of a case, as aggregation gives it for a new case."""
    group, priority, size_tier, attributes = session.execute(
        select(Case.category_group, Case.priority, Account.size_tier, Account.attributes)
        .join(Account, Account.id == Case.account_id)
        .where(Case.id == case_id)
    ).one()
    events = session.execute(
        select(Event.service, Event.reporter).where(Event.case_id == case_id)
    ).all()
    services = Counter(service for service, _ in events)
    reporters = Counter(reporter for _, reporter in events if reporter)
    tags = attributes.get("tags", []) if isinstance(attributes, dict) else []
    return CaseFacts(
        category_group=group,
        service=services.most_common(1)[0][0] if services else None,
        priority=priority,
        account_tier=size_tier,
        account_tags=frozenset(tag for tag in tags if isinstance(tag, str)),
        reporter=reporters.most_common(1)[0][0] if reporters else None,
        source="report",
    )
