"""Load a generated demo provider into the inventory through the inventory store.

Only what a real provider's inventory would hold is written: accounts, pools, resources
(with their lookup keys), IP allocations, the send log (recipients hashed, never stored)
and sending figures. What each account really is stays with the generator and its
ground-truth file. Loading goes through the same idempotent upserts as an import, so
loading the same provider twice changes nothing.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from abusedesk.access.model import ADMIN, ANALYST_ADVANCED, ANALYST_BASIC, AUDITOR, LEAD, QA, User
from abusedesk.access.policy import PasswordHashing
from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.routing import Queue
from abusedesk.core.errors import AbuseDeskError
from abusedesk.demo.model import DemoProvider, DemoResource, Traffic
from abusedesk.inventory.model import (
    AccountRecord,
    AllocationRecord,
    NumberedRecord,
    PoolRecord,
    Record,
    ResourceRecord,
    ResourceRef,
    SendingStatRecord,
    SendLogRecord,
    Table,
)
from abusedesk.inventory.rows import recipient_hash
from abusedesk.storage import case_notes, queues
from abusedesk.storage.activity import seed_activity
from abusedesk.storage.inventory_store import CHUNK_SIZE, upsert_records
from abusedesk.storage.queues import DEFAULT_QUEUE
from abusedesk.storage.tables import Account
from abusedesk.storage.users import SqlUserRepository


class SeedRejected(AbuseDeskError):
    """Raise when the inventory refuses rows of a generated provider (a generator bug)."""


def has_accounts(session: Session) -> bool:
    """Tell whether the inventory holds any account at all."""
    return session.scalar(select(Account.id).limit(1)) is not None


def seed_provider(
    session: Session, provider: DemoProvider, traffic: Traffic, *, chunk_size: int = CHUNK_SIZE
) -> dict[str, int]:
    """Write the provider's inventory and traffic; return the rows written per table.

    The caller owns the transaction.
    """
    accounts = [
        AccountRecord(
            external_id=a.external_id,
            name=a.name,
            created_at=a.created_at,
            contact_email=a.contact_email,
            country=a.country,
            size_tier=a.size_tier,
            payment_fingerprint=a.payment_fingerprint,
            attributes=dict(a.attributes),
        )
        for a in provider.accounts
    ]
    pools = [PoolRecord(p.name, p.kind, p.account) for p in provider.pools]
    resources = [
        ResourceRecord(
            account=a.external_id,
            kind=r.kind,
            value=r.value,
            created_at=r.created_at,
            deleted_at=r.deleted_at,
            attributes=dict(r.attributes),
        )
        for a in provider.accounts
        for r in a.resources
    ]
    allocations = [
        AllocationRecord(a.ip, a.valid_from, a.valid_to, a.pool, a.account)
        for a in provider.allocations
    ]
    send_log = [
        SendLogRecord(
            provider_message_id=m.provider_message_id,
            account=m.account,
            sent_at=m.sent_at,
            resource=_ref(m.sender.resource),
            message_id_header=m.message_id_header,
            configuration_set=m.configuration_set,
            source_ip=m.source_ip,
            mail_from=m.mail_from,
            recipient_domain=m.recipient_domain,
            recipient_hash=recipient_hash(m.recipient),
        )
        for m in traffic.messages
    ]
    stats = [
        SendingStatRecord(
            account=s.account,
            hour=s.hour,
            resource=None if s.resource is None else _ref(s.resource),
            destination_group=s.destination_group,
            sent=s.sent,
            delivered=s.delivered,
            hard_bounces=s.hard_bounces,
            hard_bounces_non_verified=s.hard_bounces_non_verified,
            fbl_sent=s.fbl_sent,
            complaints=s.complaints,
            trap_hits=s.trap_hits,
            pool=s.pool,
            feedback_id=s.feedback_id,
        )
        for s in traffic.stats
    ]
    tables: list[tuple[str, Sequence[Record]]] = [
        (Table.ACCOUNTS, accounts),
        (Table.IP_POOLS, pools),
        (Table.RESOURCES, resources),
        (Table.IP_ALLOCATIONS, allocations),
        (Table.SEND_LOG, send_log),
        (Table.SENDING_STATS, stats),
    ]
    for table, records in tables:
        numbered = [NumberedRecord(n, record) for n, record in enumerate(records, start=1)]
        outcome = upsert_records(session, table, numbered, chunk_size=chunk_size)
        if outcome.errors:
            first = outcome.errors[0]
            raise SeedRejected(
                f"{len(outcome.errors)} generated {table} rows were refused; "
                f"row {first.line}: {first.field}: {first.message}"
            )
    counts = {table: len(records) for table, records in tables}
    counts.update(seed_activity(session, provider, traffic))
    return counts


def _ref(resource: DemoResource) -> ResourceRef:
    return ResourceRef(resource.kind, resource.value)


# One demo user per role that signs in; the service role is held by API tokens instead.
DEMO_USERS: tuple[tuple[str, str, str], ...] = (
    ("basic", ANALYST_BASIC, "Demo analyst (basic)"),
    ("advanced", ANALYST_ADVANCED, "Demo analyst (advanced)"),
    ("lead", LEAD, "Demo lead"),
    ("qa", QA, "Demo QA reviewer"),
    ("admin", ADMIN, "Demo admin"),
    ("auditor", AUDITOR, "Demo auditor"),
)


def seed_users(
    session: Session,
    *,
    password: str,
    hashing: PasswordHashing,
    min_password_length: int,
    now: datetime,
) -> list[User]:
    """Create the demo users that do not exist yet, all with *password*; return the new ones.

    The caller owns the transaction.
    """
    users = SqlUserRepository()
    existing = {user.username for user in users.list_users(session)}
    return [
        users.create(
            session,
            username=username,
            display_name=display_name,
            email="",
            role=role,
            password=password,
            hashing=hashing,
            min_password_length=min_password_length,
            actor="demo",
            now=now,
        )
        for username, role, display_name in DEMO_USERS
        if username not in existing
    ]


# The demo desk: a calendar, the queues a small team runs, routing between them, members
# and a few saved replies. Written once, when the database has only the default queue.
DEMO_CALENDAR = {
    "name": "office",
    "timezone": "Europe/Berlin",
    "hours": {day: ["08:00-18:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": [
        {"date": "2026-12-24", "hours": ["08:00-12:00"], "name": "Christmas Eve"},
        {"date": "2026-12-25", "hours": [], "name": "Christmas Day"},
        {"date": "2027-01-01", "hours": [], "name": "New Year's Day"},
    ],
}
# name, tier, department, response hours, resolution hours, calendar, members
DEMO_QUEUES = (
    ("advanced", "advanced", "trust_safety", 8, 40, "office", ("advanced", "lead")),
    ("appeals", "advanced", "appeals", 8, 40, "office", ("advanced", "lead")),
    ("security", "advanced", "security", 2, 24, None, ("lead",)),
    ("legal", "advanced", "legal", 16, 80, "office", ("lead",)),
)
DEMO_TRIAGE_MEMBERS = ("basic", "advanced", "lead")
DEMO_RULES = {
    "note": "phishing and malware need an advanced analyst",
    "default_queue": DEFAULT_QUEUE,
    "rules": [
        {
            "name": "phishing and malware",
            "queue": "advanced",
            "when": [{"field": "category_group", "op": "in", "value": ["phishing", "malware"]}],
        }
    ],
}
DEMO_REPLIES = (
    (
        "Asked for opt-in records",
        "We asked the customer for the opt-in records of the addresses that complained.",
        "spam",
    ),
    (
        "Phishing pages reported to the host",
        "The landing pages were reported to their hosting provider and the registrar.",
        "phishing",
    ),
    ("No action: not our customer", "The reported mail did not pass through our service.", None),
)


def seed_casework(session: Session, *, now: datetime) -> bool:
    """Set up the demo desk's queues, routing, members and saved replies; False if done."""
    known = {queue.name for queue in queues.queues(session, include_archived=True)}
    if "advanced" in known:
        return False
    queues.save_calendar(session, BusinessCalendar.from_dict(DEMO_CALENDAR), actor="demo", now=now)
    for name, tier, department, response, resolution, calendar, _ in DEMO_QUEUES:
        queues.save_queue(
            session,
            Queue(name, tier, department),
            response=timedelta(hours=response),
            resolution=timedelta(hours=resolution),
            calendar=calendar,
            actor="demo",
            now=now,
        )
    queues.current_rules(session)  # the default version 1, if this database lacks it
    queues.save_rules(session, DEMO_RULES, actor="demo", now=now)
    present = {user.username for user in SqlUserRepository().list_users(session)}
    members = [(DEFAULT_QUEUE, DEMO_TRIAGE_MEMBERS)] + [(q[0], q[6]) for q in DEMO_QUEUES]
    for name, usernames in members:
        chosen = [u for u in usernames if u in present]
        queues.set_members(session, name, chosen, actor="demo", now=now)
    for title, body, group in DEMO_REPLIES:
        case_notes.create_saved_reply(
            session, title, body, category_group=group, actor="demo", now=now
        )
    return True
