"""A case's history: every step written twice, to the timeline and to the audit log.

``case_history`` is what the case page's timeline and the SLA pauses read; the audit log
keeps the same step hash-chained as proof. Every writer of casework goes through `record`.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from abusedesk.storage import audit
from abusedesk.storage.tables import CaseHistoryEntry, table_of

MAX_VALUE = 200


class Step:
    """Kinds of history entry."""

    OPEN = "open"
    TRANSITION = "transition"
    ROUTE = "route"
    ASSIGN = "assign"
    TRANSFER = "transfer"
    NOTE = "note"
    SNOOZE = "snooze"
    WAKE = "wake"
    ESCALATION = "escalation"
    MERGE = "merge"
    SPLIT = "split"
    PRIORITY = "priority"
    SLA = "sla"


@dataclass(frozen=True)
class HistoryEntry:
    """One step of a case as the timeline shows it."""

    at: datetime
    actor: str
    kind: str
    from_value: str | None
    to_value: str | None
    reason: str | None


def record(
    session: Session,
    case_id: int,
    kind: str,
    *,
    actor: str,
    at: datetime,
    from_value: object = None,
    to_value: object = None,
    reason: str | None = None,
    tag: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Write one step of case *case_id* to its history and to the audit log.

    *tag* defaults to ``case:case:<kind>``; *before*/*after* default to the values.
    """
    session.execute(
        insert(table_of(CaseHistoryEntry)).values(
            case_id=case_id,
            at=at,
            actor=actor,
            kind=kind,
            from_value=_short(from_value),
            to_value=_short(to_value),
            reason=reason,
        )
    )
    audit.record(
        session,
        actor=actor,
        tag=tag or f"case:case:{kind}",
        subject_type="case",
        subject_id=case_id,
        at=at,
        before=before if before is not None else _values(from_value),
        after=after if after is not None else _values(to_value),
        reason=reason,
    )


def history(session: Session, case_id: int) -> list[HistoryEntry]:
    """Return the steps of case *case_id*, oldest first."""
    rows = session.execute(
        select(
            CaseHistoryEntry.at,
            CaseHistoryEntry.actor,
            CaseHistoryEntry.kind,
            CaseHistoryEntry.from_value,
            CaseHistoryEntry.to_value,
            CaseHistoryEntry.reason,
        )
        .where(CaseHistoryEntry.case_id == case_id)
        .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
    ).all()
    return [HistoryEntry(*row) for row in rows]


def state_history(entries: Sequence[HistoryEntry]) -> list[tuple[datetime, str]]:
    """Return (entered at, state) pairs from the open and transition steps, in order."""
    return [
        (entry.at, entry.to_value)
        for entry in entries
        if entry.kind in (Step.OPEN, Step.TRANSITION) and entry.to_value is not None
    ]


def _short(value: object) -> str | None:
    return None if value is None else str(value)[:MAX_VALUE]


def _values(value: object) -> dict[str, Any] | None:
    return None if value is None else {"value": value}
