"""Build casework for tests: users, queues, calendars and cases in a chosen state.

Cases made here are inserted as rows (pure casework); tests that need real events get
them through the pipeline (`tests.support.unattributed.ingest` with `arf_report`).
"""

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from abusedesk.access.model import ANALYST_BASIC
from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.routing import Department, Queue, Tier
from abusedesk.storage import case_history, casework, queues
from abusedesk.storage.case_history import Step
from abusedesk.storage.tables import (
    AuditEntry,
    Case,
    QueueRow,
    RoutingVersion,
    Signal,
    User,
    table_of,
)
from tests.factories.inventory import make_account

# Monday 2 November 2026, 08:00 UTC: 09:00 in Berlin (CET, no daylight saving).
MONDAY = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
# Tuesday 3 November 2026 is a holiday in the business calendar below.
HOLIDAY = date(2026, 11, 3)
BERLIN = "berlin-office"


def restore_defaults(session: Session) -> None:
    """Put back what migration 0009 gives every database: queue triage and routing version 1.

    The PostgreSQL test database is emptied with TRUNCATE between tests, which also
    removes the rows the migration wrote.
    """
    if session.scalar(select(QueueRow.id).where(QueueRow.name == "triage")) is None:
        session.execute(
            insert(table_of(QueueRow)).values(
                name="triage",
                tier=Tier.BASIC,
                department=Department.TRUST_SAFETY,
                description="Every case no routing rule sends elsewhere.",
                response_minutes=4 * 60,
                resolution_minutes=3 * 24 * 60,
                warning_percent=75,
                created_at=MONDAY - timedelta(days=30),
            )
        )
    if session.scalar(select(RoutingVersion.version)) is None:
        first = {
            "version": 1,
            "author": "abusedesk",
            "note": "every case to triage",
            "default_queue": "triage",
            "rules": [],
        }
        session.execute(
            insert(table_of(RoutingVersion)).values(
                version=1,
                definition=first,
                author="abusedesk",
                note=first["note"],
                created_at=MONDAY - timedelta(days=30),
            )
        )


def make_user(session: Session, username: str, role: str = ANALYST_BASIC) -> int:
    """Insert an active user (no usable password: casework needs none); return the id."""
    return int(
        session.execute(
            insert(table_of(User))
            .values(
                username=username,
                display_name=username.title(),
                email=f"{username}@abusedesk.example",
                role=role,
                password_hash="!",
                created_at=MONDAY - timedelta(days=30),
                failed_logins=0,
                lockouts=0,
            )
            .returning(User.id)
        ).scalar_one()
    )


def new_account(session: Session, n: int = 1) -> int:
    """Insert account number *n* with a domain of its own; return its id."""
    account_id, _ = make_account(session, f"acct-{n}", domain=f"customer{n}.example.com")
    return account_id


def berlin_calendar() -> BusinessCalendar:
    """Return a Mon-Fri 09:00-17:00 Europe/Berlin calendar with `HOLIDAY` closed."""
    weekday = ["09:00-17:00"]
    return BusinessCalendar.from_dict(
        {
            "name": BERLIN,
            "timezone": "Europe/Berlin",
            "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), weekday),
            "holidays": [{"date": HOLIDAY.isoformat(), "name": "office closed"}],
        }
    )


def make_queue(
    session: Session,
    name: str,
    *,
    tier: str = Tier.BASIC,
    department: str = Department.TRUST_SAFETY,
    response: timedelta = timedelta(hours=4),
    resolution: timedelta = timedelta(days=3),
    calendar: BusinessCalendar | None = None,
    members: tuple[str, ...] = (),
) -> int:
    """Create a queue (and its calendar) with *members*; return its id."""
    if calendar is not None:
        queues.save_calendar(session, calendar, actor="admin", now=MONDAY)
    queue_id = queues.save_queue(
        session,
        Queue(name, tier, department),
        response=response,
        resolution=resolution,
        calendar=None if calendar is None else calendar.name,
        actor="admin",
        now=MONDAY,
    )
    if members:
        queues.set_members(session, name, list(members), actor="admin", now=MONDAY)
    return queue_id


def make_case(
    session: Session,
    account_id: int,
    group: str = "spam",
    *,
    opened_at: datetime = MONDAY,
    status: str = "new",
    priority: int = 0,
    queue: str | None = None,
) -> int:
    """Insert a case in *status* (opened at *opened_at*), in *queue* with its clocks set."""
    case_id = int(
        session.execute(
            insert(table_of(Case))
            .values(
                account_id=account_id,
                category_group=group,
                status=status,
                priority=priority,
                event_count=0,
                reporter_count=0,
                opened_at=opened_at,
                state_changed_at=opened_at,
                closed_at=opened_at if status == "closed" else None,
                close_reason="no_action" if status == "closed" else None,
                resolved_at=opened_at if status in ("resolved", "closed") else None,
            )
            .returning(Case.id)
        ).scalar_one()
    )
    case_history.record(
        session, case_id, Step.OPEN, actor="system:test", at=opened_at, to_value=status
    )
    if queue is not None:
        queue_id = queues.queue_by_name(session, queue).id
        session.execute(update(table_of(Case)).where(Case.id == case_id).values(queue_id=queue_id))
        casework.refresh_sla(session, case_id, now=opened_at)
    return case_id


def case_row(session: Session, case_id: int) -> Case:
    """Return case *case_id* as stored now, detached: it stays readable after the session."""
    case = session.get(Case, case_id)
    assert case is not None
    session.refresh(case)
    session.expunge(case)
    return case


def kinds(session: Session, case_id: int) -> list[str]:
    """Return the kinds of the case's history steps, oldest first."""
    return [entry.kind for entry in case_history.history(session, case_id)]


def audit_trail(
    session: Session, subject_type: str, subject_id: int | str
) -> list[tuple[str, str]]:
    """Return the audit rows about one subject as (tag, actor), oldest first."""
    rows = session.execute(
        select(AuditEntry.tag, AuditEntry.actor)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
        .order_by(AuditEntry.id)
    ).all()
    return [(row.tag, row.actor) for row in rows]


def subject_tags(session: Session, subject_type: str, subject_id: int | str) -> list[str]:
    """Return the audit tags recorded about one subject (``case``, ``appeal``, …), oldest first."""
    return [tag for tag, _ in audit_trail(session, subject_type, subject_id)]


def audit_tags(session: Session, case_id: int) -> list[str]:
    """Return the audit tags recorded about case *case_id*, oldest first."""
    return subject_tags(session, "case", case_id)


def signals_about(session: Session, kind: str) -> list[str]:
    """Return the subject ids of the signals of *kind*, in the order raised."""
    return list(
        session.scalars(select(Signal.subject_id).where(Signal.kind == kind).order_by(Signal.id))
    )
