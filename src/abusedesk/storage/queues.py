"""Queues, their calendars and members, and the versioned routing rules, as stored.

The rules themselves (what a queue, a calendar or a rule set may be) live in
``abusedesk.cases``; this module keeps them, audits every change and reads them back.
A routing rule set is never edited in place: saving writes the next version.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.orm import Session

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidQueue, InvalidRuleSet
from abusedesk.cases.routing import Queue, RuleSet
from abusedesk.cases.sla import SlaPolicy
from abusedesk.cases.states import CaseState
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.storage import audit
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import (
    CalendarRow,
    Case,
    QueueMember,
    QueueRow,
    RoutingVersion,
    User,
    table_of,
)

ACTIVE_STATES = sorted(CaseState.ACTIVE)


@dataclass(frozen=True)
class QueueRecord:
    """A stored queue with its SLA targets and calendar name (None: around the clock, UTC)."""

    id: int
    name: str
    tier: str
    department: str
    description: str
    calendar: str | None
    response: timedelta
    resolution: timedelta
    warning_percent: int
    archived: bool


@dataclass(frozen=True)
class QueueLoad:
    """A queue's open work, for the queue list."""

    queue: QueueRecord
    open_cases: int
    unassigned: int
    breached: int
    due_soon: int
    snoozed: int


# --- calendars ----------------------------------------------------------------------


def save_calendar(
    session: Session, calendar: BusinessCalendar, *, actor: str, now: datetime
) -> int:
    """Create or replace the calendar of that name; return its id."""
    definition = calendar.to_dict()
    existing = session.execute(
        select(CalendarRow.id, CalendarRow.definition).where(CalendarRow.name == calendar.name)
    ).first()
    if existing is None:
        calendar_id = session.execute(
            insert(table_of(CalendarRow))
            .values(name=calendar.name, definition=definition, updated_by=actor, updated_at=now)
            .returning(CalendarRow.id)
        ).scalar_one()
        before = None
    else:
        calendar_id, before = existing
        session.execute(
            update(table_of(CalendarRow))
            .where(CalendarRow.id == calendar_id)
            .values(definition=definition, updated_by=actor, updated_at=now)
        )
    audit.record(
        session,
        actor=actor,
        tag="case:calendar:save",
        subject_type="calendar",
        subject_id=calendar.name,
        at=now,
        before=before,
        after=definition,
    )
    return int(calendar_id)


def calendars(session: Session) -> dict[str, BusinessCalendar]:
    """Return every stored calendar by name."""
    rows = session.execute(select(CalendarRow.definition)).scalars()
    loaded = [BusinessCalendar.from_dict(definition) for definition in rows]
    return {calendar.name: calendar for calendar in loaded}


# --- queues -------------------------------------------------------------------------


def save_queue(
    session: Session,
    queue: Queue,
    *,
    response: timedelta,
    resolution: timedelta,
    calendar: str | None = None,
    description: str = "",
    warning_percent: int = 75,
    actor: str,
    now: datetime,
) -> int:
    """Create or update the queue of that name with its SLA targets; return its id."""
    calendar_id = None
    if calendar is not None:
        calendar_id = session.scalar(select(CalendarRow.id).where(CalendarRow.name == calendar))
        if calendar_id is None:
            raise InvalidQueue(f"queue {queue.name}: no calendar named {calendar!r}")
    # Checked as the SLA policy would: positive targets, resolution not before response.
    SlaPolicy(
        queue.name,
        BusinessCalendar.always(),
        response,
        resolution,
        warning_percent / 100 if 0 < warning_percent < 100 else 0,
    )
    values: dict[str, Any] = {
        "tier": queue.tier,
        "department": queue.department,
        "description": description,
        "calendar_id": calendar_id,
        "response_minutes": int(response.total_seconds() // 60),
        "resolution_minutes": int(resolution.total_seconds() // 60),
        "warning_percent": warning_percent,
        "archived_at": None,
    }
    existing = session.scalar(select(QueueRow.id).where(QueueRow.name == queue.name))
    if existing is None:
        queue_id = session.execute(
            insert(table_of(QueueRow))
            .values(name=queue.name, created_at=now, **values)
            .returning(QueueRow.id)
        ).scalar_one()
    else:
        queue_id = existing
        session.execute(update(table_of(QueueRow)).where(QueueRow.id == queue_id).values(**values))
    audit.record(
        session,
        actor=actor,
        tag="case:queue:save",
        subject_type="queue",
        subject_id=queue.name,
        at=now,
        after={**values, "name": queue.name, "calendar": calendar},
    )
    return int(queue_id)


def queues(session: Session, *, include_archived: bool = False) -> list[QueueRecord]:
    """Return the queues by name."""
    statement = (
        select(QueueRow, CalendarRow.name)
        .outerjoin(CalendarRow, CalendarRow.id == QueueRow.calendar_id)
        .order_by(QueueRow.name)
    )
    if not include_archived:
        statement = statement.where(QueueRow.archived_at.is_(None))
    return [_record(row, calendar) for row, calendar in session.execute(statement)]


def queue_by_name(session: Session, name: str) -> QueueRecord:
    """Return the queue called *name*, or raise NotFound."""
    for record in queues(session, include_archived=True):
        if record.name == name:
            return record
    raise NotFound(f"no queue named {name!r}")


def queue_by_id(session: Session, queue_id: int) -> QueueRecord:
    """Return the queue with *queue_id*, or raise NotFound."""
    found = session.execute(
        select(QueueRow, CalendarRow.name)
        .outerjoin(CalendarRow, CalendarRow.id == QueueRow.calendar_id)
        .where(QueueRow.id == queue_id)
    ).first()
    if found is None:
        raise NotFound(f"no queue {queue_id}")
    return _record(*found)


def _record(row: QueueRow, calendar: str | None) -> QueueRecord:
    return QueueRecord(
        id=row.id,
        name=row.name,
        tier=row.tier,
        department=row.department,
        description=row.description,
        calendar=calendar,
        response=timedelta(minutes=row.response_minutes),
        resolution=timedelta(minutes=row.resolution_minutes),
        warning_percent=row.warning_percent,
        archived=row.archived_at is not None,
    )


def sla_policy(session: Session, queue: QueueRecord) -> SlaPolicy:
    """Return the SLA policy of *queue*: its targets on its calendar (or around the clock)."""
    calendar = BusinessCalendar.always()
    if queue.calendar is not None:
        calendar = calendars(session)[queue.calendar]
    return SlaPolicy(
        queue.name, calendar, queue.response, queue.resolution, queue.warning_percent / 100
    )


def queue_loads(session: Session, *, now: datetime) -> list[QueueLoad]:
    """Return every queue with its count of open, unassigned, breached and snoozed cases."""
    active = Case.status.in_(ACTIVE_STATES)
    counted = (
        select(
            Case.queue_id,
            func.count().label("open_cases"),
            func.count().filter(Case.assignee_id.is_(None)).label("unassigned"),
            func.count().filter(Case.sla_state == "breached").label("breached"),
            func.count().filter(Case.sla_state == "due_soon").label("due_soon"),
            func.count()
            .filter(or_(Case.snoozed_until > now, Case.snoozed_for_reply.is_(True)))
            .label("snoozed"),
        )
        .where(active)
        .group_by(Case.queue_id)
    )
    counts = {row.queue_id: row for row in session.execute(counted)}
    loads = []
    for queue in queues(session):
        row = counts.get(queue.id)
        loads.append(
            QueueLoad(
                queue,
                open_cases=row.open_cases if row else 0,
                unassigned=row.unassigned if row else 0,
                breached=row.breached if row else 0,
                due_soon=row.due_soon if row else 0,
                snoozed=row.snoozed if row else 0,
            )
        )
    return loads


# --- members ------------------------------------------------------------------------


def set_members(
    session: Session, queue_name: str, usernames: list[str], *, actor: str, now: datetime
) -> None:
    """Make exactly *usernames* the members of the queue."""
    queue = queue_by_name(session, queue_name)
    users = dict(
        session.execute(select(User.username, User.id).where(User.username.in_(usernames))).all()
    )
    unknown = sorted(set(usernames) - set(users))
    if unknown:
        raise InvalidQueue(f"queue {queue_name}: no users named {', '.join(unknown)}")
    before = sorted(member_names(session, queue.id))
    members = table_of(QueueMember)
    session.execute(members.delete().where(QueueMember.queue_id == queue.id))
    if users:
        session.execute(
            insert(members),
            [{"queue_id": queue.id, "user_id": uid, "added_at": now} for uid in users.values()],
        )
    audit.record(
        session,
        actor=actor,
        tag="case:queue:members",
        subject_type="queue",
        subject_id=queue_name,
        at=now,
        before={"members": before},
        after={"members": sorted(users)},
    )


def member_names(session: Session, queue_id: int) -> list[str]:
    """Return the usernames of the queue's members."""
    return list(
        session.scalars(
            select(User.username)
            .join(QueueMember, QueueMember.user_id == User.id)
            .where(QueueMember.queue_id == queue_id)
            .order_by(User.username)
        )
    )


def queues_of(session: Session, user_id: int) -> list[int]:
    """Return the ids of the queues *user_id* works."""
    return list(session.scalars(select(QueueMember.queue_id).where(QueueMember.user_id == user_id)))


# --- routing ------------------------------------------------------------------------


# What a database without any routing starts with (migration 0009 writes the same).
DEFAULT_QUEUE = "triage"
_DEFAULT_RULES = {
    "version": 1,
    "author": "abusedesk",
    "note": "every case to triage",
    "default_queue": DEFAULT_QUEUE,
    "rules": [],
}


def current_rules(session: Session) -> RuleSet:
    """Return the newest routing rule set (installing the default one if there is none)."""
    definition = session.scalar(
        select(RoutingVersion.definition).order_by(RoutingVersion.version.desc()).limit(1)
    )
    if definition is None:
        definition = install_defaults(session)
    return RuleSet.from_dict(definition)


def install_defaults(session: Session) -> dict[str, Any]:
    """Write the default queue and routing version 1 unless they exist; return the rules."""
    now = utcnow()
    session.execute(
        insert_for(session, QueueRow)
        .values(
            name=DEFAULT_QUEUE,
            tier="basic",
            department="trust_safety",
            description="Every case no routing rule sends elsewhere.",
            response_minutes=4 * 60,
            resolution_minutes=3 * 24 * 60,
            warning_percent=75,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    session.execute(
        insert_for(session, RoutingVersion)
        .values(
            version=1,
            definition=_DEFAULT_RULES,
            author="abusedesk",
            note=_DEFAULT_RULES["note"],
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return _DEFAULT_RULES


def save_rules(session: Session, data: dict[str, Any], *, actor: str, now: datetime) -> RuleSet:
    """Validate *data* as the next routing version and store it; return the new rule set.

    The version is always the next one: an edit made from an older version is refused
    rather than silently overwriting a newer one.
    """
    current = current_rules(session)
    names = [queue.name for queue in queues(session)]
    proposed = {**data, "author": actor, "version": current.version + 1}
    given = data.get("version")
    if given is not None and given != current.version + 1:
        raise InvalidRuleSet(
            [f"version: the rules changed meanwhile (now version {current.version}); reload them"]
        )
    rules = RuleSet.from_dict(proposed, queues=names)
    if not rules.note.strip():
        raise InvalidRuleSet(["note: say what this version changes"])
    session.execute(
        insert(table_of(RoutingVersion)).values(
            version=rules.version,
            definition=rules.to_dict(),
            author=actor,
            note=rules.note,
            created_at=now,
        )
    )
    audit.record(
        session,
        actor=actor,
        tag="case:routing:save",
        subject_type="routing",
        subject_id=rules.version,
        at=now,
        before=current.to_dict(),
        after=rules.to_dict(),
        reason=rules.note,
    )
    return rules


@dataclass(frozen=True)
class SavedRules:
    """One stored routing version and when it was saved."""

    rules: RuleSet
    saved_at: datetime


def rule_versions(session: Session, *, limit: int = 50) -> list[SavedRules]:
    """Return the newest routing versions, newest first."""
    rows = session.execute(
        select(RoutingVersion.definition, RoutingVersion.created_at)
        .order_by(RoutingVersion.version.desc())
        .limit(limit)
    )
    return [SavedRules(RuleSet.from_dict(definition), at) for definition, at in rows]
