"""Cases as the workbench shows them: queue lists, "my work", and one case in full."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from abusedesk.cases.states import CaseState
from abusedesk.core.errors import NotFound
from abusedesk.storage import case_history
from abusedesk.storage.case_history import HistoryEntry
from abusedesk.storage.tables import Account, Case, Event, QueueRow, Report, Resource, User

ACTIVE = sorted(CaseState.ACTIVE)
MAX_LISTED = 200


@dataclass(frozen=True)
class CaseLine:
    """One case in a list: enough to choose what to work on next."""

    id: int
    account_id: int
    account_name: str
    account_external_id: str
    category_group: str
    status: str
    priority: int
    event_count: int
    reporter_count: int
    last_seen_at: datetime | None
    queue: str | None
    assignee: str | None
    sla_state: str
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    snoozed_until: datetime | None
    snoozed_for_reply: bool


@dataclass(frozen=True)
class AccountPanel:
    """The account a case is about: who they are, what sends for them, their past."""

    id: int
    external_id: str
    name: str
    standing: str
    size_tier: str
    country: str | None
    created_at: datetime
    resources: list[tuple[str, str]]
    resources_total: int
    past_cases: list[CaseLine]


@dataclass(frozen=True)
class EventLine:
    """One event of a case, with its attribution in words."""

    id: int
    report_id: int
    category: str
    service: str
    occurred_at: datetime
    reporter: str | None
    indicators: dict[str, Any]
    attribution_method: str | None
    attribution_confidence: str | None
    attribution_reason: str | None
    report_format: str


@dataclass(frozen=True)
class CaseDetail:
    """One case in full, as the case page shows it."""

    case: CaseLine
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_seen_at: datetime | None
    priority_reason: str | None
    priority_factors: list[dict[str, Any]]
    routing_reason: str | None
    reopen_count: int
    merged_into_id: int | None
    account: AccountPanel
    events: list[EventLine]
    events_total: int
    history: list[HistoryEntry]


def _lines() -> Select[*tuple[Any, ...]]:
    assignee = aliased(User)
    return (
        select(
            Case.id,
            Case.account_id,
            Account.name,
            Account.external_id,
            Case.category_group,
            Case.status,
            Case.priority,
            Case.event_count,
            Case.reporter_count,
            Case.last_seen_at,
            QueueRow.name,
            assignee.username,
            Case.sla_state,
            Case.response_due_at,
            Case.resolution_due_at,
            Case.snoozed_until,
            Case.snoozed_for_reply,
        )
        .join(Account, Account.id == Case.account_id)
        .outerjoin(QueueRow, QueueRow.id == Case.queue_id)
        .outerjoin(assignee, assignee.id == Case.assignee_id)
    )


def queue_cases(
    session: Session,
    queue_id: int,
    *,
    unassigned_only: bool = False,
    limit: int = MAX_LISTED,
) -> list[CaseLine]:
    """Return a queue's open cases, breached first, then by priority and due time."""
    statement = _lines().where(Case.queue_id == queue_id, Case.status.in_(ACTIVE))
    if unassigned_only:
        statement = statement.where(Case.assignee_id.is_(None))
    statement = statement.order_by(
        (Case.sla_state == "breached").desc(),
        Case.priority.desc(),
        Case.response_due_at.asc().nulls_last(),
        Case.id,
    ).limit(limit)
    return [CaseLine(*row) for row in session.execute(statement)]


def assigned_to(session: Session, user_id: int, *, limit: int = MAX_LISTED) -> list[CaseLine]:
    """Return the open cases assigned to a user, most urgent first."""
    statement = (
        _lines()
        .where(Case.assignee_id == user_id, Case.status.in_(ACTIVE))
        .order_by((Case.sla_state == "breached").desc(), Case.priority.desc(), Case.id)
        .limit(limit)
    )
    return [CaseLine(*row) for row in session.execute(statement)]


def breached(session: Session, *, limit: int = MAX_LISTED) -> list[CaseLine]:
    """Return open cases past an SLA target: the lead's view."""
    statement = (
        _lines()
        .where(Case.status.in_(ACTIVE), Case.sla_state == "breached")
        .order_by(Case.resolution_due_at.asc().nulls_last(), Case.id)
        .limit(limit)
    )
    return [CaseLine(*row) for row in session.execute(statement)]


def case_detail(session: Session, case_id: int, *, event_limit: int = 100) -> CaseDetail:
    """Return case *case_id* in full, or raise NotFound."""
    line = session.execute(_lines().where(Case.id == case_id)).first()
    case = session.get(Case, case_id)
    if line is None or case is None:
        raise NotFound(f"no case {case_id}")
    events_total = session.scalar(select(func.count(Event.id)).where(Event.case_id == case_id))
    events = session.execute(
        select(
            Event.id,
            Event.report_id,
            Event.category,
            Event.service,
            Event.occurred_at,
            Event.reporter,
            Event.indicators,
            Event.attribution_method,
            Event.attribution_confidence,
            Event.attribution_reason,
            Event.report_format,
        )
        .where(Event.case_id == case_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(event_limit)
    ).all()
    return CaseDetail(
        case=CaseLine(*line),
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        close_reason=case.close_reason,
        first_response_at=case.first_response_at,
        resolved_at=case.resolved_at,
        first_seen_at=case.first_seen_at,
        priority_reason=case.priority_reason,
        priority_factors=list(case.priority_factors or []),
        routing_reason=case.routing_reason,
        reopen_count=case.reopen_count,
        merged_into_id=case.merged_into_id,
        account=account_panel(session, case.account_id, exclude_case=case_id),
        events=[EventLine(*row) for row in events],
        events_total=int(events_total or 0),
        history=case_history.history(session, case_id),
    )


def account_panel(
    session: Session, account_id: int, *, exclude_case: int | None = None, limit: int = 20
) -> AccountPanel:
    """Return what the case page shows of an account: resources and past cases."""
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound(f"no account {account_id}")
    live = Resource.account_id == account_id, Resource.deleted_at.is_(None)
    resources = session.execute(
        select(Resource.kind, Resource.value).where(*live).order_by(Resource.kind, Resource.value)
        .limit(limit)
    ).all()  # fmt: skip
    total = session.scalar(select(func.count(Resource.id)).where(*live)) or 0
    past = _lines().where(Case.account_id == account_id)
    if exclude_case is not None:
        past = past.where(Case.id != exclude_case)
    past_cases = [
        CaseLine(*row) for row in session.execute(past.order_by(Case.id.desc()).limit(limit))
    ]
    return AccountPanel(
        id=account.id,
        external_id=account.external_id,
        name=account.name,
        standing=account.standing,
        size_tier=account.size_tier,
        country=account.country,
        created_at=account.created_at,
        resources=[(kind, value) for kind, value in resources],
        resources_total=int(total),
        past_cases=past_cases,
    )


def report_of_event(session: Session, event_id: int) -> int:
    """Return the report an event came from, or raise NotFound."""
    report_id = session.scalar(
        select(Report.id).join(Event, Event.report_id == Report.id).where(Event.id == event_id)
    )
    if report_id is None:
        raise NotFound(f"no event {event_id}")
    return int(report_id)
