"""The database schema as SQLAlchemy 2 typed models.

Migrations in ``storage/migrations`` create these tables; a test checks both agree.
Vocabularies that grow (categories, formats, resource kinds) are plain strings.
"""

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from abusedesk.core.clock import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every dialect (SQLite stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Store UTC; refuse naive datetimes silently becoming local time."""
        return None if value is None else as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Return UTC-aware datetimes whatever the dialect gave back."""
        return None if value is None else as_utc(value)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """Read SQLite's ISO text with ``fromisoformat``: about ten times faster than the
        generic parser, on the hot path of every attribution lookup."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | datetime | None) -> datetime | None:
            if value is None:
                return None
            return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)

        return process


# Integer primary keys that are BIGINT on PostgreSQL and ROWID aliases on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base carrying the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


# --- provider inventory -------------------------------------------------------------


class Account(Base):
    """A customer of the provider."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str | None] = mapped_column(String(2))
    size_tier: Mapped[str] = mapped_column(String(20), default="small")
    standing: Mapped[str] = mapped_column(String(30), default="healthy")
    payment_fingerprint: Mapped[str | None] = mapped_column(String(128), index=True)
    created_at: Mapped[datetime]
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set by a reinstatement: the account's rates count only mail sent from then on.
    metrics_since: Mapped[datetime | None]


class IpPool(Base):
    """A set of sending IPs: shared by many accounts, or dedicated to one."""

    __tablename__ = "ip_pools"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # shared | dedicated
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)


class Resource(Base):
    """Something that sends on an account's behalf (identity, IP, number, mailbox ...)."""

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "value"),
        Index("ix_resources_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(320))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    # Set while an executed resource action (block_domain, suppress_address ...) stands.
    blocked_at: Mapped[datetime | None]
    block_action_id: Mapped[int | None] = mapped_column(BigId)


class ResourceKey(Base):
    """A value that names a resource as reports quote it: what attribution matches on.

    Derived from the resource (its value, DKIM selectors, Feedback-ID ...) whenever the
    inventory writes it; ``attribution.keys`` says which kinds each resource gives.
    """

    __tablename__ = "resource_keys"
    __table_args__ = (
        UniqueConstraint("resource_id", "kind", "value"),
        Index("ix_resource_keys_kind_value", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    value: Mapped[str] = mapped_column(String(320))


class IpAllocation(Base):
    """Which account or pool held an IP during [valid_from, valid_to)."""

    __tablename__ = "ip_allocations"
    # One interval starts at one moment per IP: the inventory's natural key for upserts.
    __table_args__ = (Index("ix_ip_allocations_ip_valid_from", "ip", "valid_from", unique=True),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ip: Mapped[str] = mapped_column(String(45))
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("ip_pools.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]


class InventoryGeneration(Base):
    """One row whose number changes with every write to the inventory attribution reads.

    Triggers on accounts, ip_pools, resources, resource_keys and ip_allocations bump it in
    the writing transaction (migration 0007), so that in-process copies know when to reload.
    """

    __tablename__ = "inventory_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class SendLogEntry(Base):
    """One message the provider sent: the strongest evidence for attribution."""

    __tablename__ = "send_log"
    __table_args__ = (
        Index("ix_send_log_source_ip_sent_at", "source_ip", "sent_at"),
        Index("ix_send_log_recipient_hash_sent_at", "recipient_hash", "sent_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    provider_message_id: Mapped[str] = mapped_column(String(200), unique=True)
    message_id_header: Mapped[str | None] = mapped_column(String(998), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    configuration_set: Mapped[str | None] = mapped_column(String(200))
    source_ip: Mapped[str | None] = mapped_column(String(45))
    mail_from: Mapped[str | None] = mapped_column(String(320))
    recipient_domain: Mapped[str | None] = mapped_column(String(255))
    # SHA-256 of the lowercased recipient address, as events carry it: never the address.
    recipient_hash: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(index=True)


class SendingStat(Base):
    """Hourly sending figures per account (and resource) and destination provider group.

    ``resource_key`` is ``""`` for the account as a whole, else ``"<kind>:<id>"`` for one
    of its resources, ``"pool:<ip_pools.id>"`` for its mail through an IP pool, or
    ``"feedback_id:<value>"`` for one Feedback-ID campaign, so that the unique key works
    on every database (NULLs never collide).
    """

    __tablename__ = "sending_stats"
    __table_args__ = (UniqueConstraint("account_id", "resource_key", "hour", "destination_group"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    resource_key: Mapped[str] = mapped_column(String(240), default="")
    hour: Mapped[datetime]
    destination_group: Mapped[str] = mapped_column(String(40), default="other")
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    hard_bounces: Mapped[int] = mapped_column(default=0)
    hard_bounces_non_verified: Mapped[int] = mapped_column(default=0)
    fbl_sent: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    # Messages that reached a spam trap (fed by the provider; 0 when unknown).
    trap_hits: Mapped[int] = mapped_column(default=0, server_default="0")


# --- reports, events, cases, signals ------------------------------------------------


class Report(Base):
    """One raw artifact as received, with its channel and where it is in the pipeline."""

    __tablename__ = "reports"
    __table_args__ = (
        Index("ix_reports_status_next_attempt_at", "status", "next_attempt_at"),
        # Parser health counts reports by arrival over recent windows.
        Index("ix_reports_received_at", "received_at"),
        # Reports whose raw evidence is still kept: what the retention purge walks.
        Index(
            "ix_reports_raw_retained",
            "received_at",
            sqlite_where=text("raw_purged_at IS NULL"),
            postgresql_where=text("raw_purged_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(20))
    size: Mapped[int]
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    blob_path: Mapped[str | None] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="pending")
    stage: Mapped[str | None] = mapped_column(String(20))
    report_format: Mapped[str | None] = mapped_column(String(40))
    # What the parser says the report is within its format (``Delivery``, ``auto-reply``).
    report_kind: Mapped[str | None] = mapped_column(String(60))
    # The parts the parser could not read; with events, the report is partially parsed.
    parse_warnings: Mapped[list[Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    error_class: Mapped[str | None] = mapped_column(String(200))
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    # When the raw bytes (and the envelope's sender fields) were removed, and why:
    # ``retention`` or ``erasure``. The row, its counts and its events stay.
    raw_purged_at: Mapped[datetime | None]
    raw_purge_reason: Mapped[str | None] = mapped_column(String(20))


class Event(Base):
    """One normalised observation from a report; ``(report_id, seq)`` makes it idempotent."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("report_id", "seq"),
        Index("ix_events_account_id_occurred_at", "account_id", "occurred_at"),
        Index("ix_events_case_id", "case_id"),
        Index("ix_events_aggregated_at", "aggregated_at"),
        # Incident reviews of every account read a window of events by time alone.
        Index("ix_events_occurred_at", "occurred_at"),
        # Only events still waiting for aggregation: the sweeper and the fold read this,
        # and it stays small however many events are stored.
        Index(
            "ix_events_awaiting_aggregation",
            "account_id",
            sqlite_where=text("aggregated_at IS NULL AND account_id IS NOT NULL"),
            postgresql_where=text("aggregated_at IS NULL AND account_id IS NOT NULL"),
        ),
        # The unattributed inbox: small however many events are stored.
        Index(
            "ix_events_unattributed",
            "id",
            sqlite_where=text("attribution_state = 'unattributed'"),
            postgresql_where=text("attribution_state = 'unattributed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"))
    seq: Mapped[int]
    category: Mapped[str] = mapped_column(String(40))
    service: Mapped[str] = mapped_column(String(20))
    report_format: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    reported_at: Mapped[datetime | None]
    reporter: Mapped[str | None] = mapped_column(String(255))
    indicators: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    resource_id: Mapped[int | None] = mapped_column(ForeignKey("resources.id"))
    attribution_method: Mapped[str | None] = mapped_column(String(40))
    attribution_confidence: Mapped[str | None] = mapped_column(String(10))
    attribution_reason: Mapped[str | None] = mapped_column(Text)
    # attributed | unattributed (waits in the inbox) | dismissed (an analyst said: not ours)
    attribution_state: Mapped[str] = mapped_column(String(20), default="unattributed")
    # Candidates, conflicts and the low-confidence suggestion behind the decision.
    attribution_details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    # Set once aggregation has seen the event (folded into a case, or judged no casework).
    aggregated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # Evidence classes removed from indicators and details (``message_body`` ...), and
    # ``erasure``, each with when: ``{"recipient_address": "2026-01-31T00:00:00+00:00"}``.
    purged_classes: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class EventIndicator(Base):
    """An event's indicator, normalised, so that search finds events by exact value."""

    __tablename__ = "event_indicators"
    __table_args__ = (Index("ix_event_indicators_lookup", "key", "value"),)

    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[str] = mapped_column(String(500), primary_key=True)


class EventText(Base):
    """The words an event is found by in free-text search (full-text indexed, see search.py)."""

    __tablename__ = "event_texts"

    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("events.id"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)


class Case(Base):
    """The unit of work: events about one account and category group."""

    __tablename__ = "cases"
    __table_args__ = (
        # One open case per account and category group; closed ones may repeat.
        Index(
            "uq_cases_open_account_category",
            "account_id",
            "category_group",
            unique=True,
            sqlite_where=text("status != 'closed'"),
            postgresql_where=text("status != 'closed'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    category_group: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="new")
    priority: Mapped[int] = mapped_column(default=0)
    priority_reason: Mapped[str | None] = mapped_column(Text)
    event_count: Mapped[int] = mapped_column(default=0)
    reporter_count: Mapped[int] = mapped_column(default=0)
    first_seen_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # --- casework: where the case waits, who holds it, its clocks (see storage/casework.py)
    queue_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("queues.id"))
    assignee_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    assigned_at: Mapped[datetime | None]
    routing_version: Mapped[int | None]
    routing_reason: Mapped[str | None] = mapped_column(Text)
    priority_factors: Mapped[list[Any]] = mapped_column(default=list)
    close_reason: Mapped[str | None] = mapped_column(String(30))
    state_changed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    sla_state: Mapped[str] = mapped_column(String(20), default="ok")
    snoozed_until: Mapped[datetime | None]
    snoozed_for_reply: Mapped[bool] = mapped_column(default=False)
    reopen_count: Mapped[int] = mapped_column(default=0)
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"))


Index("ix_cases_queue_work", Case.queue_id, Case.status, Case.assignee_id, Case.priority)


# --- casework: queues, calendars, routing, history, notes, escalations ----------------


class CalendarRow(Base):
    """A business-hours calendar in its JSON form (``cases.calendars.BusinessCalendar``)."""

    __tablename__ = "calendars"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class QueueRow(Base):
    """Where cases wait: tier, department, SLA targets on a calendar (none: around the clock)."""

    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    tier: Mapped[str] = mapped_column(String(20))
    department: Mapped[str] = mapped_column(String(30))
    description: Mapped[str] = mapped_column(Text, default="")
    calendar_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("calendars.id"))
    response_minutes: Mapped[int]
    resolution_minutes: Mapped[int]
    warning_percent: Mapped[int] = mapped_column(default=75)
    created_at: Mapped[datetime]
    archived_at: Mapped[datetime | None]


class QueueMember(Base):
    """A user who works a queue."""

    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(BigId, ForeignKey("queues.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), primary_key=True)
    added_at: Mapped[datetime]


class RoutingVersion(Base):
    """One version of the routing rules (``cases.routing.RuleSet``); the newest one routes."""

    __tablename__ = "routing_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CaseHistoryEntry(Base):
    """One step in a case's life: a transition, assignment, transfer, snooze, merge ...

    The case page's timeline and the SLA pauses are read from here; the audit log holds
    the same steps, hash-chained, for proof.
    """

    __tablename__ = "case_history"
    __table_args__ = (Index("ix_case_history_case_at", "case_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    from_value: Mapped[str | None] = mapped_column(String(200))
    to_value: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)


class CaseNote(Base):
    """An analyst's note on a case, with the users it mentions."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    author: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    mentions: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]


class EscalationRow(Base):
    """A case escalated to a department or a manager, tracked to its own resolution."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_state", "state", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(20))
    target: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    raised_by: Mapped[str] = mapped_column(String(200))
    raised_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(Text)


class SavedReply(Base):
    """A reply text analysts reuse in notes and notices."""

    __tablename__ = "saved_replies"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200), unique=True)
    body: Mapped[str] = mapped_column(Text)
    category_group: Mapped[str | None] = mapped_column(String(40))
    updated_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


# --- enforcement: policy versions and actions (see storage/enforcement.py) -------------


class EnforcementPolicyRow(Base):
    """One version of the enforcement policy (``enforcement.policy.Policy``); the newest rules."""

    __tablename__ = "enforcement_policies"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class EnforcementAction(Base):
    """An action on an account or one of its resources, from proposal to execution.

    State: proposed, approved, executed, failed, rejected or reversed. The action cites
    the policy version and the evidence it rests on, and who proposed, approved and
    executed it; a reversal is a new action pointing at the one it undoes.
    """

    __tablename__ = "enforcement_actions"
    __table_args__ = (
        Index("ix_enforcement_actions_account_state", "account_id", "state"),
        Index("ix_enforcement_actions_retry", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    resource_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("resources.id"))
    action: Mapped[str] = mapped_column(String(30))
    proposed_action: Mapped[str] = mapped_column(String(30))
    cause: Mapped[str] = mapped_column(String(80))
    state: Mapped[str] = mapped_column(String(20))
    policy_version: Mapped[int]
    policy_reason: Mapped[str] = mapped_column(Text)
    needs_approval: Mapped[bool]
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    proposed_by: Mapped[str] = mapped_column(String(200))
    proposed_at: Mapped[datetime]
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None]
    rejected_by: Mapped[str | None] = mapped_column(String(200))
    rejected_at: Mapped[datetime | None]
    executed_by: Mapped[str | None] = mapped_column(String(200))
    executed_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    reverses_action_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("enforcement_actions.id")
    )
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    # A failed action is tried again from next_attempt_at; dead_at: retries exhausted.
    next_attempt_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    # The connector's idempotency key, random, the same on every attempt of the action.
    call_key: Mapped[str | None] = mapped_column(String(64))


class Suppression(Base):
    """An address an account must not send to again: a complainant or a hard bounce.

    Only the SHA-256 of the lowercased address is kept. ``state`` is pending (waiting for
    the push to the provider), pushed, dead (retries exhausted) or lifted (an
    unsuppress_address action). Rows pushed in one call share ``push_key``.
    """

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("account_id", "address_hash", name="uq_suppressions_account_address"),
        Index("ix_suppressions_state_account", "state", "account_id"),
        Index("ix_suppressions_push_key", "push_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    address_hash: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[int | None] = mapped_column(BigId)
    action_id: Mapped[int | None] = mapped_column(BigId)
    first_seen_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    push_key: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    pushed_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(Text)


class SweepMark(Base):
    """How far a periodic sweep has read (e.g. events seen for suppressions)."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    mark_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


# --- notices: templates and customer messages (see storage/notices.py) -----------------


class NoticeTemplate(Base):
    """One version of a notice template for a kind (action or message) and category."""

    __tablename__ = "notice_templates"
    __table_args__ = (UniqueConstraint("kind", "category", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    # The case's category group, or "" for a template that applies to any.
    category: Mapped[str] = mapped_column(String(40))
    version: Mapped[int]
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CustomerMessage(Base):
    """A message to or from a customer (or a reporter) about a case, threaded per case.

    Outbound messages wait ``pending`` until delivered (``sent``), are retried when
    delivery fails (``failed``) and give up after the last attempt (``dead``); inbound
    ones are ``received``. ``appeal_id`` is a plain number: appeals have their own table.
    """

    __tablename__ = "customer_messages"
    __table_args__ = (
        Index("ix_customer_messages_state_next_attempt_at", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("enforcement_actions.id"))
    appeal_id: Mapped[int | None] = mapped_column(BigId)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    kind: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(10))  # email | portal
    from_address: Mapped[str] = mapped_column(String(320))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    report_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("reports.id"))
    state: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    failure: Mapped[str | None] = mapped_column(Text)
    portal_expires_at: Mapped[datetime | None]
    template_version: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


# --- appeals (see storage/appeals.py) ----------------------------------------------------


class AppealRow(Base):
    """A customer's appeal of one executed action, and the reviewer's decision.

    State: open, upheld, overturned or partial. One appeal per action.
    """

    __tablename__ = "appeals"
    __table_args__ = (
        UniqueConstraint("action_id"),
        Index("ix_appeals_state_due_at", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    action_id: Mapped[int] = mapped_column(BigId, ForeignKey("enforcement_actions.id"))
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customer_messages.id"))
    root_cause: Mapped[str] = mapped_column(Text)
    fix: Mapped[str] = mapped_column(Text)
    prevention: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime]
    due_at: Mapped[datetime]
    reviewer: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str | None] = mapped_column(Text)
    lifted_action_ids: Mapped[list[Any]] = mapped_column(default=list)
    reversal_action_ids: Mapped[list[Any]] = mapped_column(default=list)


class AppealAttachment(Base):
    """A file a customer attached to an appeal, with its checked type, size and hash."""

    __tablename__ = "appeal_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigId, ForeignKey("appeals.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Signal(Base):
    """Something a monitor or health check raised about a subject, with its figures.

    *decision* says in words what the monitoring rules did with it (see
    storage/monitoring.py): the case it opened or joined (*case_id*), the action it
    proposed (*action_id*), or why it only records.
    """

    __tablename__ = "signals"
    __table_args__ = (
        Index("ix_signals_subject", "subject_type", "subject_id"),
        Index("ix_signals_account_id_raised_at", "account_id", "raised_at"),
        Index("ix_signals_case_id", "case_id"),
        Index("ix_signals_state_raised_at", "state", "raised_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20), default="open")
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("enforcement_actions.id"))
    severity: Mapped[str] = mapped_column(String(10), default="low", server_default="low")
    step: Mapped[str] = mapped_column(String(20), default="none", server_default="none")
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(200))
    resolution: Mapped[str | None] = mapped_column(Text)


# --- monitoring: rates (0014) ---


class RateDaily(Base):
    """One day of ``sending_stats`` summed: what the rates read (see storage/rate_monitor.py).

    Kept by the inventory store in the transaction that writes the hourly rows (each
    write adds the difference it makes); ``rate_monitor.rebuild_daily`` recomputes it.
    ``day`` counts days since 1970-01-01 (UTC), so that arrays index it directly.
    """

    __tablename__ = "rate_daily"
    __table_args__ = (
        UniqueConstraint("account_id", "resource_key", "day", "destination_group"),
        # A run reads the last two days, the accounts' rows apart from the parts'.
        Index("ix_rate_daily_day_resource_key", "day", "resource_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    resource_key: Mapped[str] = mapped_column(String(240))
    day: Mapped[int] = mapped_column(Integer)
    destination_group: Mapped[str] = mapped_column(String(40))
    sent: Mapped[int] = mapped_column(BigInteger, default=0)
    hard_bounces_non_verified: Mapped[int] = mapped_column(BigInteger, default=0)
    fbl_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    complaints: Mapped[int] = mapped_column(BigInteger, default=0)
    trap_hits: Mapped[int] = mapped_column(BigInteger, default=0)


class RateStatus(Base):
    """A subject's current status for one metric, since when, and the figures it stood on.

    Subjects: an account, an identity, a configuration set, an IP pool, a Feedback-ID,
    an account's mail to one destination group. ``signal_key`` is the dedupe key of the
    signal the status raised, which its healing resolves.
    """

    __tablename__ = "rate_statuses"
    __table_args__ = (
        UniqueConstraint("subject_type", "subject_id", "metric"),
        Index("ix_rate_statuses_status", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(250))
    label: Mapped[str] = mapped_column(String(320))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    metric: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(30))
    since: Mapped[datetime]
    checked_at: Mapped[datetime]
    acted_on: Mapped[bool] = mapped_column(default=False)
    value: Mapped[float | None]
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    eligible: Mapped[int] = mapped_column(BigInteger, default=0)
    window_since: Mapped[datetime | None]
    days: Mapped[int] = mapped_column(Integer, default=0)
    sentence: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    signal_key: Mapped[str | None] = mapped_column(String(200))


# --- monitoring: blocklists (0015) ---


class BlocklistRun(Base):
    """One pass of the blocklist watch: what it asked, what it found, what failed."""

    __tablename__ = "blocklist_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime]
    # ok | errors (some checks failed) | failed (the run itself did not complete)
    status: Mapped[str] = mapped_column(String(20))
    targets: Mapped[int] = mapped_column(default=0)
    finished_targets: Mapped[int] = mapped_column(default=0)
    queries: Mapped[int] = mapped_column(default=0)
    listed: Mapped[int] = mapped_column(default=0)
    new_listings: Mapped[int] = mapped_column(default=0)
    delistings: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    cap_reached: Mapped[bool] = mapped_column(default=False)
    # The last target (``ip:<address>``) the rotation finished; the next run starts after it.
    cursor: Mapped[str | None] = mapped_column(String(300))
    tallies: Mapped[dict[str, Any]] = mapped_column(default=dict)
    errors: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str] = mapped_column(Text, default="")


class BlocklistListing(Base):
    """One interval of a target (IP or domain) listed on a blocklist; open while not delisted."""

    __tablename__ = "blocklist_listings"
    __table_args__ = (
        Index("ix_blocklist_listings_target", "target_kind", "target"),
        # One open listing per target and list, whatever runs overlap.
        Index(
            "ix_blocklist_listings_open",
            "target_kind",
            "target",
            "blocklist",
            unique=True,
            sqlite_where=text("delisted_at IS NULL"),
            postgresql_where=text("delisted_at IS NULL"),
        ),
        Index("ix_blocklist_listings_delisted_at", "delisted_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(255))
    blocklist: Mapped[str] = mapped_column(String(60))
    zone: Mapped[str] = mapped_column(String(255))
    meanings: Mapped[list[Any]] = mapped_column(default=list)
    answers: Mapped[list[Any]] = mapped_column(default=list)
    # dedicated | shared | unallocated | identity, when first seen
    holding: Mapped[str] = mapped_column(String(20))
    pool: Mapped[str | None] = mapped_column(String(100))
    first_seen_at: Mapped[datetime]
    last_confirmed_at: Mapped[datetime]
    delisted_at: Mapped[datetime | None]


class BlocklistListingAccount(Base):
    """An account a listing names: the IP's holder, or a holder of the listed domain."""

    __tablename__ = "blocklist_listing_accounts"

    listing_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("blocklist_listings.id"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id"), primary_key=True, index=True
    )


# --- monitoring: linking (0016) ---


class LinkRun(Base):
    """One pass of the linking monitor: what it read, found, left out as common, met."""

    __tablename__ = "link_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(index=True)
    accounts: Mapped[int]
    indicators: Mapped[int]
    links: Mapped[int]
    clusters: Mapped[int]
    # The values held by so many accounts that they link nobody: [{kind, value, holders}].
    common_values: Mapped[list[Any]] = mapped_column(default=list)
    # The data it could not read, in words (an account's attributes that are no object ...).
    problems: Mapped[list[Any]] = mapped_column(default=list)


class AccountCluster(Base):
    """Accounts joined by links, named by its oldest member while it lasts."""

    __tablename__ = "account_clusters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    size: Mapped[int]
    score: Mapped[float]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Set when a run finds no link holding the cluster any more.
    dissolved_at: Mapped[datetime | None]


class ClusterMember(Base):
    """An account in a cluster, as the latest run found it."""

    __tablename__ = "cluster_members"

    cluster_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("account_clusters.id"), primary_key=True
    )
    account_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("accounts.id"), primary_key=True, index=True
    )


class AccountLink(Base):
    """Two accounts (``account_id`` < ``other_account_id``) linked by shared values.

    ``evidence`` lists each shared value: kind, value, holders, rarity, weight, sources
    (``account:1``, ``resource:7``, ``event:42``), similarity, counted.
    """

    __tablename__ = "account_links"
    __table_args__ = (UniqueConstraint("account_id", "other_account_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"))
    other_account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("account_clusters.id"), index=True
    )
    score: Mapped[float]
    kinds: Mapped[list[Any]] = mapped_column(default=list)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


# --- monitoring: activity (0017) ---


class MailboxStat(Base):
    """What one hosted mailbox sent in one hour, where it was used from, what came back."""

    __tablename__ = "mailbox_stats"
    __table_args__ = (
        UniqueConstraint("resource_id", "hour"),
        Index("ix_mailbox_stats_hour", "hour"),
        Index("ix_mailbox_stats_account_id_hour", "account_id", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    hour: Mapped[datetime]
    sent: Mapped[int] = mapped_column(default=0)
    recipients: Mapped[int] = mapped_column(default=0)
    bounces: Mapped[int] = mapped_column(default=0)
    complaints: Mapped[int] = mapped_column(default=0)
    fingerprint_hits: Mapped[int] = mapped_column(default=0)
    client_ips: Mapped[list[Any]] = mapped_column(default=list)
    client_countries: Mapped[list[Any]] = mapped_column(default=list)


class SmsStat(Base):
    """What one origination number or sender id sent in one hour to one number range.

    ``converted`` is NULL where the account reports no conversions.
    """

    __tablename__ = "sms_stats"
    __table_args__ = (
        UniqueConstraint("resource_id", "hour", "destination_country", "number_range"),
        Index("ix_sms_stats_hour", "hour"),
        Index("ix_sms_stats_account_id_hour", "account_id", "hour"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id"))
    hour: Mapped[datetime]
    destination_country: Mapped[str] = mapped_column(String(2))
    number_range: Mapped[str] = mapped_column(String(16))
    sent: Mapped[int] = mapped_column(default=0)
    delivered: Mapped[int] = mapped_column(default=0)
    converted: Mapped[int | None]


class ActivityEpisode(Base):
    """A mailbox compromise or SMS pumping episode the activity monitor opened.

    It stays open while the account keeps being flagged; ``baseline_end`` is where its
    baseline stopped when it opened, so the episode's own traffic never becomes usual.
    """

    __tablename__ = "activity_episodes"
    __table_args__ = (
        UniqueConstraint("account_id", "kind", "started_at"),
        Index("ix_activity_episodes_ended_at", "ended_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    kind: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    baseline_end: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    subjects: Mapped[list[Any]] = mapped_column(default=list)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- insights: analyst activity, shifts, QA, reports, reviews, saved queries (0019) ---


class AnalystActivity(Base):
    """A stretch of time an analyst spent on a case: the page in focus, or an action taken.

    The workbench's heartbeat extends ``last_seen_at`` while the case page is visible and
    focused; a gap longer than the idle limit starts a new row. Handle time is read from
    these rows (``insights/metrics.py``), never from open-to-close wall time.
    """

    __tablename__ = "analyst_activity"
    __table_args__ = (
        Index("ix_analyst_activity_username_started_at", "username", "started_at"),
        Index("ix_analyst_activity_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    # focus (the case page was visible and focused) | action (a step taken on the case)
    source: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    pings: Mapped[int] = mapped_column(default=1)


class AnalystShift(Base):
    """A period of an analyst's availability: on shift, or on break, training or meeting.

    Breaks, training and meetings inside a shift are not available time. An open period
    (``ends_at`` empty) is the analyst's current status.
    """

    __tablename__ = "analyst_shifts"
    __table_args__ = (Index("ix_analyst_shifts_username_starts_at", "username", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    # recorded (by the analyst or a lead in the workbench) | imported (from a rota file)
    source: Mapped[str] = mapped_column(String(20))
    recorded_by: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]


class QaScorecard(Base):
    """One version of the QA scorecard for a case type (a category group, "" for any)."""

    __tablename__ = "qa_scorecards"
    __table_args__ = (UniqueConstraint("case_type", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_type: Mapped[str] = mapped_column(String(40))
    version: Mapped[int]
    # Criteria: [{"key", "label", "weight", "critical", "guidance"}] (insights/qa.py).
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class QaSample(Base):
    """A closed case or an executed action picked for quality review: the QA queue.

    ``reason``: random, new_analyst, overturned_appeal, targeted or calibration. A
    calibration sample (``reason`` calibration, ``calibration_id`` its round) is scored by
    several reviewers, each blind to the others.
    """

    __tablename__ = "qa_samples"
    __table_args__ = (
        Index("ix_qa_samples_state_sampled_at", "state", "sampled_at"),
        Index("ix_qa_samples_analyst", "analyst"),
        Index("ix_qa_samples_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"))
    action_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("enforcement_actions.id"))
    analyst: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))
    # waiting | scored | skipped
    state: Mapped[str] = mapped_column(String(20))
    sampled_at: Mapped[datetime]
    sampled_by: Mapped[str] = mapped_column(String(200))
    calibration_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("qa_calibrations.id"))


class QaCalibration(Base):
    """A calibration round: the same samples scored by several reviewers."""

    __tablename__ = "qa_calibrations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    reviewers: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class QaReview(Base):
    """One reviewer's scorecard for one sample, and the analyst's answer to it.

    ``feedback``: sent, acknowledged or disputed; a dispute is settled upheld (the score
    stands) or amended (the score was changed by the one who settled it); calibration: a
    calibration round's score, never sent to the analyst nor counted in their quality.
    """

    __tablename__ = "qa_reviews"
    __table_args__ = (
        UniqueConstraint("sample_id", "reviewer"),
        Index("ix_qa_reviews_analyst_scored_at", "analyst", "scored_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    sample_id: Mapped[int] = mapped_column(BigId, ForeignKey("qa_samples.id"))
    analyst: Mapped[str] = mapped_column(String(200))
    reviewer: Mapped[str] = mapped_column(String(200))
    scorecard_id: Mapped[int] = mapped_column(BigId, ForeignKey("qa_scorecards.id"))
    # {criterion key: {"rating": "met" | "not_met" | "na", "comment": str}}
    ratings: Mapped[dict[str, Any]] = mapped_column(JSON)
    score: Mapped[float]
    critical_failure: Mapped[bool]
    comment: Mapped[str] = mapped_column(Text, default="")
    scored_at: Mapped[datetime]
    feedback: Mapped[str] = mapped_column(String(20))
    acknowledged_at: Mapped[datetime | None]
    dispute_reason: Mapped[str | None] = mapped_column(Text)
    disputed_at: Mapped[datetime | None]
    settled_by: Mapped[str | None] = mapped_column(String(200))
    settled_at: Mapped[datetime | None]
    settlement: Mapped[str | None] = mapped_column(Text)


class WeeklyReport(Base):
    """The leadership report of one week: figures frozen when generated, the lead's summary."""

    __tablename__ = "weekly_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    week_start: Mapped[datetime] = mapped_column(unique=True)
    generated_at: Mapped[datetime]
    generated_by: Mapped[str] = mapped_column(String(200))
    figures: Mapped[dict[str, Any]] = mapped_column(JSON)
    summary: Mapped[str] = mapped_column(Text, default="")
    summary_by: Mapped[str | None] = mapped_column(String(200))
    summary_at: Mapped[datetime | None]


class IncidentReview(Base):
    """An incident or problem review opened from a spike, a case or a period.

    ``origin``: spike (a signal), case or period; the timeline is assembled from events,
    signals, actions and notes in ``starts_at``..``ends_at`` about ``account_ids``.
    """

    __tablename__ = "incident_reviews"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    origin: Mapped[str] = mapped_column(String(20))
    origin_id: Mapped[int | None] = mapped_column(BigInteger)
    account_ids: Mapped[list[Any]] = mapped_column(default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # draft | in_review | closed
    state: Mapped[str] = mapped_column(String(20))
    impact: Mapped[str] = mapped_column(Text, default="")
    root_cause: Mapped[str] = mapped_column(Text, default="")
    went_well: Mapped[str] = mapped_column(Text, default="")
    went_badly: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class ReviewFollowUp(Base):
    """A follow-up item of an incident review, tracked to completion."""

    __tablename__ = "review_followups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    review_id: Mapped[int] = mapped_column(BigId, ForeignKey("incident_reviews.id"), index=True)
    title: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime | None]
    # open | done | dropped
    state: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(Text)
    closed_by: Mapped[str | None] = mapped_column(String(200))
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SavedQuery(Base):
    """A SQL query over the analytics views, saved for the team."""

    __tablename__ = "saved_queries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    sql: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


# --- insights: report rollups (0020) ---


class ReportDailyCount(Base):
    """Events that arrived on one day with one value of one dimension (the weekly report's).

    Dimensions: service, category, format, reporter, provider (the recipient domain,
    grouped into providers when read) and account (its id; "" when unattributed). ``day``
    counts days since 1970-01-01 (UTC) of the report's arrival. Kept by
    ``storage.trends.roll_up``, which adds each new batch of events once.
    """

    __tablename__ = "report_daily_counts"
    __table_args__ = (UniqueConstraint("dimension", "day", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    day: Mapped[int] = mapped_column(Integer)
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(255))
    events: Mapped[int] = mapped_column(BigInteger)


class ReportRollupMark(Base):
    """How far the roll-up has counted events, and the newest event id it saw waiting.

    Events up to ``last_event_id`` are counted. ``seen_event_id`` was the newest id at
    ``seen_at``; it is counted once it has been seen a settling time ago, so that a
    transaction still writing lower ids has committed before they are read.
    """

    __tablename__ = "report_rollup_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    seen_event_id: Mapped[int] = mapped_column(BigInteger)
    seen_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ReportDirtyDay(Base):
    """A day of arrival whose account counts are stale: an event of it counted before was
    attributed (or attributed again) since. The roll-up counts that day's accounts afresh.
    """

    __tablename__ = "report_dirty_days"

    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    marked_at: Mapped[datetime]


# --- access and audit ---------------------------------------------------------------


class User(Base):
    """A person who signs in to the workbench; only an argon2 hash of the password is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(40))
    # The team the user's figures roll up to (insights); empty: no team.
    team: Mapped[str] = mapped_column(String(80), default="", server_default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    password_changed_at: Mapped[datetime | None]
    # Login throttling: failures in the current window, the lock they led to, locks in a row.
    failed_logins: Mapped[int] = mapped_column(default=0)
    failures_started_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    lockouts: Mapped[int] = mapped_column(default=0)


class WebSession(Base):
    """A browser session; its id is the SHA-256 of the cookie's random token."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    client_address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None]


class LoginThrottle(Base):
    """Failed sign-ins from one client address, whichever usernames were tried."""

    __tablename__ = "login_throttles"

    client_address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    lockouts: Mapped[int] = mapped_column(default=0)


class ApiToken(Base):
    """A service token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class AuditEntry(Base):
    """An append-only record of who changed what, when and why."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_subject", "subject_type", "subject_id"),
        # One row per place in a chain: two writers racing for a place fail, never fork.
        Index("ix_audit_log_partition_no_seq", "partition_no", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    tag: Mapped[str] = mapped_column(String(100))
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(200))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str | None] = mapped_column(Text)
    # The hash chain (core/audit_chain.py, docs/audit.md): chain, place, links.
    partition_no: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(Base):
    """Every audit chain's head at a moment, chained to the anchor before (append-only)."""

    __tablename__ = "audit_anchors"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime]
    prev_hash: Mapped[str] = mapped_column(String(64))
    anchor_hash: Mapped[str] = mapped_column(String(64))


class AuditAnchorHead(Base):
    """One chain's head (seq and row hash) as an anchor recorded it (append-only)."""

    __tablename__ = "audit_anchor_heads"

    anchor_seq: Mapped[int] = mapped_column(ForeignKey("audit_anchors.seq"), primary_key=True)
    partition_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))


# --- privacy ------------------------------------------------------------------------


class ErasureRequest(Base):
    """An erasure of one address: who asked, when, why, what was found; never the address,
    only its keyed hash."""

    __tablename__ = "erasure_requests"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime]
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RetentionMark(Base):
    """How far the retention purge has walked the events for one evidence class: every
    event up to ``last_event_id`` has had that class removed."""

    __tablename__ = "retention_marks"

    evidence_class: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


def table_of(model: type[Base]) -> Table:
    """Return the Core table behind *model*: plain statements, no ORM bookkeeping (hot paths)."""
    table = model.__table__
    assert isinstance(table, Table)  # noqa: S101  # every model here maps one table
    return table
