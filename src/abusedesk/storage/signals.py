"""Signals as stored: raised once per dedupe key, resolved with a time."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import Signal


@dataclass(frozen=True)
class SignalView:
    """A raised signal as readers see it."""

    signal_id: int
    kind: str
    subject_type: str
    subject_id: str
    figures: dict[str, Any]
    reason: str
    state: str
    raised_at: datetime


def raise_signal(
    session: Session,
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    reason: str,
    figures: dict[str, Any],
    at: datetime,
    dedupe_key: str | None = None,
) -> int | None:
    """Record a signal; with a dedupe key, raising the same one again does nothing.

    Return the new signal's id, or None when the dedupe key was already used.
    """
    statement = (
        insert_for(session, Signal)
        .values(
            kind=kind,
            subject_type=subject_type,
            subject_id=subject_id,
            figures=figures,
            reason=reason,
            state="open",
            dedupe_key=dedupe_key,
            raised_at=at,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Signal.id)
    )
    signal_id: int | None = session.execute(statement).scalar()
    return signal_id


def resolve_signal(session: Session, signal_id: int, *, at: datetime) -> None:
    """Mark a signal resolved."""
    session.execute(
        update(Signal).where(Signal.id == signal_id).values(state="resolved", resolved_at=at)
    )


def open_signals(session: Session, *, subject_type: str | None = None) -> list[SignalView]:
    """Return open signals, newest first, optionally for one kind of subject."""
    query = select(Signal).where(Signal.state == "open").order_by(Signal.raised_at.desc())
    if subject_type is not None:
        query = query.where(Signal.subject_type == subject_type)
    return [
        SignalView(
            s.id, s.kind, s.subject_type, s.subject_id, s.figures, s.reason, s.state, s.raised_at
        )
        for s in session.scalars(query)
    ]
