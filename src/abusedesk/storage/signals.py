"""Signals as stored: raised once per dedupe key, resolved with a time, who and why.

Monitors' signals carry the account they concern, a severity, the ladder step they ask
for and, once applied (storage/monitoring.py), the decision in words with the case and
action it led to. Health checks (parser drops, SLA breaches) raise plain signals.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from abusedesk.storage.dialect import escape_like, insert_for
from abusedesk.storage.tables import Account, Signal

OPEN: Final = "open"
RESOLVED: Final = "resolved"
STATES: Final = (OPEN, RESOLVED)
MAX_LIST: Final = 500


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
    account_id: int | None = None
    account_external_id: str | None = None
    case_id: int | None = None
    action_id: int | None = None
    severity: str = "low"
    step: str = "none"
    evidence: dict[str, Any] = field(default_factory=dict)
    decision: str | None = None
    dedupe_key: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None

    @property
    def monitor(self) -> str:
        """Return the monitor that raised the signal: the part of the kind before the dot."""
        return self.kind.split(".", 1)[0]


def raise_signal(
    session: Session,
    *,
    kind: str,
    subject_type: str,
    subject_id: str,
    reason: str,
    figures: Mapping[str, Any],
    at: datetime,
    dedupe_key: str | None = None,
    account_id: int | None = None,
    severity: str = "low",
    step: str = "none",
    evidence: Mapping[str, Any] | None = None,
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
            figures=dict(figures),
            reason=reason,
            state=OPEN,
            dedupe_key=dedupe_key,
            raised_at=at,
            account_id=account_id,
            severity=severity,
            step=step,
            evidence=dict(evidence or {}),
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Signal.id)
    )
    signal_id: int | None = session.execute(statement).scalar()
    return signal_id


def resolve_signal(
    session: Session,
    signal_id: int,
    *,
    at: datetime,
    by: str | None = None,
    resolution: str | None = None,
) -> bool:
    """Mark a signal resolved, saying who or what ended it and why; return whether it was open."""
    ended = session.execute(
        update(Signal)
        .where(Signal.id == signal_id, Signal.state == OPEN)
        .values(state=RESOLVED, resolved_at=at, resolved_by=by, resolution=resolution)
        .returning(Signal.id)
    ).first()
    return ended is not None


def record_decision(
    session: Session,
    signal_id: int,
    decision: str,
    *,
    case_id: int | None = None,
    action_id: int | None = None,
) -> None:
    """Keep what the rules did with a signal: the words, the case and the action."""
    session.execute(
        update(Signal)
        .where(Signal.id == signal_id)
        .values(decision=decision, case_id=case_id, action_id=action_id)
    )


def signal_id_by_key(session: Session, dedupe_key: str) -> int | None:
    """Return the id of the signal raised under *dedupe_key*, or None."""
    found: int | None = session.scalar(select(Signal.id).where(Signal.dedupe_key == dedupe_key))
    return found


def open_signals(session: Session, *, subject_type: str | None = None) -> list[SignalView]:
    """Return open signals, newest first, optionally for one kind of subject."""
    return find_signals(session, state=OPEN, subject_type=subject_type, limit=None)


def find_signals(
    session: Session,
    *,
    state: str | None = None,
    subject_type: str | None = None,
    kinds: Sequence[str] = (),
    monitor: str | None = None,
    severity: str | None = None,
    account_id: int | None = None,
    case_id: int | None = None,
    since: datetime | None = None,
    limit: int | None = MAX_LIST,
) -> list[SignalView]:
    """Return signals matching every filter given, newest first (at most *limit*)."""
    query = (
        select(Signal, Account.external_id)
        .outerjoin(Account, Account.id == Signal.account_id)
        .order_by(Signal.raised_at.desc(), Signal.id.desc())
    )
    if state is not None:
        query = query.where(Signal.state == state)
    if subject_type is not None:
        query = query.where(Signal.subject_type == subject_type)
    if kinds:
        query = query.where(Signal.kind.in_(list(kinds)))
    if monitor is not None:
        query = query.where(Signal.kind.like(f"{escape_like(monitor)}.%", escape="\\"))
    if severity is not None:
        query = query.where(Signal.severity == severity)
    if account_id is not None:
        query = query.where(Signal.account_id == account_id)
    if case_id is not None:
        query = query.where(Signal.case_id == case_id)
    if since is not None:
        query = query.where(Signal.raised_at >= since)
    if limit is not None:
        query = query.limit(limit)
    return [_view(row, external_id) for row, external_id in session.execute(query)]


def count_open_by_kind(session: Session) -> dict[str, int]:
    """Return how many signals are open, per kind."""
    rows = session.execute(
        select(Signal.kind, func.count(Signal.id)).where(Signal.state == OPEN).group_by(Signal.kind)
    )
    return {kind: int(count) for kind, count in rows}


def _view(row: Signal, external_id: str | None) -> SignalView:
    return SignalView(
        signal_id=row.id,
        kind=row.kind,
        subject_type=row.subject_type,
        subject_id=row.subject_id,
        figures=row.figures,
        reason=row.reason,
        state=row.state,
        raised_at=row.raised_at,
        account_id=row.account_id,
        account_external_id=external_id,
        case_id=row.case_id,
        action_id=row.action_id,
        severity=row.severity,
        step=row.step,
        evidence=row.evidence or {},
        decision=row.decision,
        dedupe_key=row.dedupe_key,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution=row.resolution,
    )
