"""Read a report's events as the API shows them: what was observed and whom it names."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.storage.tables import Event


@dataclass(frozen=True)
class EventView:
    """One stored event with its attribution and case, without the parser's details."""

    id: int
    seq: int
    category: str
    service: str
    occurred_at: datetime
    reported_at: datetime | None
    reporter: str | None
    indicators: dict[str, Any]
    account_id: int | None
    resource_id: int | None
    attribution_method: str | None
    attribution_confidence: str | None
    attribution_reason: str | None
    attribution_state: str
    attribution_details: dict[str, Any]
    case_id: int | None


@dataclass(frozen=True)
class ReportEvents:
    """A report's events in sequence order, up to a limit, and how many there are in all."""

    total: int
    events: list[EventView]


# In EventView's field order.
_VIEW_COLUMNS = (
    Event.id,
    Event.seq,
    Event.category,
    Event.service,
    Event.occurred_at,
    Event.reported_at,
    Event.reporter,
    Event.indicators,
    Event.account_id,
    Event.resource_id,
    Event.attribution_method,
    Event.attribution_confidence,
    Event.attribution_reason,
    Event.attribution_state,
    Event.attribution_details,
    Event.case_id,
)


def events_of_report(session: Session, report_id: int, *, limit: int) -> ReportEvents:
    """Return the first *limit* events of a report by sequence number, and their total."""
    total = session.scalar(select(func.count(Event.id)).where(Event.report_id == report_id)) or 0
    rows = session.execute(
        select(*_VIEW_COLUMNS).where(Event.report_id == report_id).order_by(Event.seq).limit(limit)
    )
    return ReportEvents(total=int(total), events=[EventView(*row) for row in rows])
