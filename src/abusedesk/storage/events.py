"""Events as stored: written idempotently per (report, sequence number)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_
from sqlalchemy.orm import Session

from abusedesk.attribution.model import Attribution, AttributionState, Method
from abusedesk.parsing.model import EventDraft
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.search import index_event_rows
from abusedesk.storage.tables import Event, table_of


@dataclass(frozen=True)
class EventRecord:
    """An event draft ready to store: attributed or not."""

    seq: int
    draft: EventDraft
    occurred_at: datetime
    attribution: Attribution


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
        table = table_of(Event)
        # An analyst's decision (a manual attribution, a dismissal) outlives reprocessing.
        decided = or_(
            table.c.attribution_method == Method.MANUAL,
            table.c.attribution_state == AttributionState.DISMISSED,
        )
        updatable = {
            name: case((decided, table.c[name]), else_=insert.excluded[name])
            if name in _ATTRIBUTION_COLUMNS
            else insert.excluded[name]
            for name in rows[0]
            if name not in ("report_id", "seq", "created_at")
        }
        statement = insert.on_conflict_do_update(
            index_elements=["report_id", "seq"], set_=updatable
        )
        _UPSERTS[dialect] = statement
    session.execute(statement, list(rows))
    index_event_rows(session, rows)


_ATTRIBUTION_COLUMNS = frozenset(
    {
        "account_id",
        "resource_id",
        "attribution_method",
        "attribution_confidence",
        "attribution_reason",
        "attribution_state",
        "attribution_details",
    }
)

# Building the upsert (its "excluded" columns) costs more than running it: build it once.
_UPSERTS: dict[str, Any] = {}


def _row(report_id: int, report_format: str, record: EventRecord, now: datetime) -> dict[str, Any]:
    draft = record.draft
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
        **attribution_columns(record.attribution),
        "created_at": now,
    }


def attribution_columns(attribution: Attribution) -> dict[str, Any]:
    """Return the event columns that record *attribution*.

    Only a settled (high or medium) attribution puts the event on the account; a low one
    leaves it in the unattributed inbox with the best guess as a suggestion.
    """
    details: dict[str, Any] = {
        "candidates": [c.as_dict() for c in attribution.candidates],
        "conflicts": list(attribution.conflicts),
    }
    if attribution.settled:
        account_id, resource_id = attribution.account_id, attribution.resource_id
        state = AttributionState.ATTRIBUTED
    else:
        account_id = resource_id = None
        state = AttributionState.UNATTRIBUTED
        if attribution.account_id is not None:
            details["suggested"] = {
                "account_id": attribution.account_id,
                "resource_id": attribution.resource_id,
            }
    return {
        "account_id": account_id,
        "resource_id": resource_id,
        "attribution_method": attribution.method,
        "attribution_confidence": attribution.confidence,
        "attribution_reason": attribution.reason,
        "attribution_state": state,
        "attribution_details": details,
    }
