"""The append-only audit log: who changed what, when and why."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from abusedesk.storage.tables import AuditEntry


def record(
    session: Session,
    *,
    actor: str,
    tag: str,
    subject_type: str,
    subject_id: object,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction."""
    session.execute(
        insert(AuditEntry).values(
            occurred_at=at,
            actor=actor,
            tag=tag,
            subject_type=subject_type,
            subject_id=str(subject_id),
            before=before,
            after=after,
            reason=reason,
        )
    )
