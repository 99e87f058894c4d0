"""Cases as stored: fold an account's new events into open cases, counts derived."""

from datetime import datetime

from sqlalchemy import distinct, func, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.policy import category_group, priority
from abusedesk.storage import audit
from abusedesk.storage.dialect import insert_for, lock_account
from abusedesk.storage.tables import Case, Event, table_of

EVENTS = table_of(Event)

CLOSED = "closed"


def fold_account_events(session: Session, account_id: int, *, now: datetime) -> list[int]:
    """Attach the account's unfolded events to its open cases; return the cases touched.

    Counts are recomputed from the events, never incremented, so running this twice
    (after a crash, or from two workers) gives the same numbers.
    """
    lock_account(session, account_id)
    pending = session.execute(
        select(Event.id, Event.category).where(
            Event.account_id == account_id, Event.aggregated_at.is_(None)
        )
    ).all()
    by_group: dict[str, list[int]] = {}
    for event_id, category in pending:
        group = category_group(category)
        if group is not None:
            by_group.setdefault(group, []).append(event_id)

    touched: list[int] = []
    for group, event_ids in sorted(by_group.items()):
        case_id = _open_case(session, account_id, group, now=now)
        _update_events(session, event_ids, case_id=case_id, aggregated_at=now)
        refresh_case(session, case_id, group)
        touched.append(case_id)
    no_casework = [event_id for event_id, category in pending if category_group(category) is None]
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
    """Recompute a case's counts, first/last seen and priority from its events."""
    count, reporters, first, last = session.execute(
        select(
            func.count(Event.id),
            func.count(distinct(Event.reporter)),
            func.min(Event.occurred_at),
            func.max(Event.occurred_at),
        ).where(Event.case_id == case_id)
    ).one()
    score, reason = priority(group, count, reporters)
    session.execute(
        update(table_of(Case))
        .where(Case.id == case_id)
        .values(
            event_count=count,
            reporter_count=reporters,
            first_seen_at=first,
            last_seen_at=last,
            priority=score,
            priority_reason=reason,
        )
    )


def _open_case(session: Session, account_id: int, group: str, *, now: datetime) -> int:
    def find() -> int | None:
        return session.scalar(
            select(Case.id).where(
                Case.account_id == account_id, Case.category_group == group, Case.status != CLOSED
            )
        )

    existing = find()
    if existing is not None:
        return existing
    statement = (
        insert_for(session, Case)
        .values(
            account_id=account_id,
            category_group=group,
            status="new",
            priority=0,
            event_count=0,
            reporter_count=0,
            opened_at=now,
        )
        .on_conflict_do_nothing()
        .returning(Case.id)
    )
    case_id: int | None = session.execute(statement).scalar()
    if case_id is None:
        # Opened concurrently by another worker: use theirs.
        found = find()
        assert found is not None, "the open case vanished within the transaction"  # noqa: S101  # an invariant, not input validation
        return found
    audit.record(
        session,
        actor="system:aggregate",
        tag="case:case:open",
        subject_type="case",
        subject_id=case_id,
        at=now,
        after={"account_id": account_id, "category_group": group, "status": "new"},
        reason=f"first {group} event for account {account_id} with no open case",
    )
    return case_id
