"""Events as stored: written idempotently per (report, sequence number)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from abusedesk.attribution.model import Attribution
from abusedesk.parsing.model import EventDraft
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import Event


@dataclass(frozen=True)
class EventRecord:
    """An event draft ready to store: attributed or not."""

    seq: int
    draft: EventDraft
    occurred_at: datetime
    attribution: Attribution | None


def upsert_events(
    session: Session,
    report_id: int,
    report_format: str,
    records: Sequence[EventRecord],
    *,
    now: datetime,
) -> None:
    """Write a report's events; processing the report again overwrites, never duplicates.

    An event already folded into a case keeps its case.
    """
    upsert_event_rows(session, event_rows(report_id, report_format, records, now=now))


def event_rows(
    report_id: int, report_format: str, records: Sequence[EventRecord], *, now: datetime
) -> list[dict[str, Any]]:
    """Return the table rows of a report's events, for ``upsert_event_rows``."""
    return [_row(report_id, report_format, record, now) for record in records]


def upsert_event_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Write event rows of any number of reports in one statement (idempotent, see above)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get(dialect)
    if statement is None:
        insert = insert_for(session, Event)
        updatable = {
            name: insert.excluded[name]
            for name in rows[0]
            if name not in ("report_id", "seq", "created_at")
        }
        statement = insert.on_conflict_do_update(
            index_elements=["report_id", "seq"], set_=updatable
        )
        _UPSERTS[dialect] = statement
    session.execute(statement, list(rows))


# Building the upsert (its "excluded" columns) costs more than running it: build it once.
_UPSERTS: dict[str, Any] = {}


def _row(report_id: int, report_format: str, record: EventRecord, now: datetime) -> dict[str, Any]:
    draft, attribution = record.draft, record.attribution
    return {
        "report_id": report_id,
        "seq": record.seq,
        "category": draft.category,
        "service": draft.service,
        "report_format": report_format,
        "occurred_at": record.occurred_at,
        "reported_at": draft.reported_at,
        "reporter": draft.reporter,
        "indicators": {k: list(v) for k, v in draft.indicators.items()},
        "details": dict(draft.details),
        "account_id": attribution.account_id if attribution else None,
        "resource_id": attribution.resource_id if attribution else None,
        "attribution_method": attribution.method if attribution else None,
        "attribution_confidence": attribution.confidence if attribution else None,
        "attribution_reason": attribution.reason if attribution else None,
        "created_at": now,
    }
