"""casework: queues, calendars, routing versions, case clocks and assignment, history,
notes, escalations and saved replies

Every database starts with one queue, ``triage`` (basic tier, trust & safety, around the
clock: first response within 4 hours, resolution within 3 days), and routing version 1
that sends every case there. Cases already open wait in it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 05:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
DEFAULT_QUEUE = "triage"


def _id() -> sa.Column[int]:
    return sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "calendars",
        _id(),
        sa.Column("name", sa.String(80), nullable=False),
        sa.UniqueConstraint("name", name="uq_calendars_name"),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    op.create_table(
        "queues",
        _id(),
        sa.Column("name", sa.String(80), nullable=False),
        sa.UniqueConstraint("name", name="uq_queues_name"),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("department", sa.String(30), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("calendar_id", _BIG_ID, sa.ForeignKey("calendars.id"), nullable=True),
        sa.Column("response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.Column("warning_percent", sa.Integer(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("archived_at", _TIME, nullable=True),
    )
    op.create_table(
        "queue_members",
        sa.Column("queue_id", _BIG_ID, sa.ForeignKey("queues.id"), primary_key=True),
        sa.Column("user_id", _BIG_ID, sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("added_at", _TIME, nullable=False),
    )
    op.create_table(
        "routing_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    with op.batch_alter_table("cases", schema=None) as batch:
        batch.add_column(sa.Column("queue_id", _BIG_ID, nullable=True))
        batch.add_column(sa.Column("assignee_id", _BIG_ID, nullable=True))
        batch.add_column(sa.Column("assigned_at", _TIME, nullable=True))
        batch.add_column(sa.Column("routing_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("routing_reason", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("priority_factors", sa.JSON(), nullable=False, server_default="[]")
        )
        batch.add_column(sa.Column("close_reason", sa.String(30), nullable=True))
        batch.add_column(sa.Column("state_changed_at", _TIME, nullable=True))
        batch.add_column(sa.Column("first_response_at", _TIME, nullable=True))
        batch.add_column(sa.Column("resolved_at", _TIME, nullable=True))
        batch.add_column(sa.Column("response_due_at", _TIME, nullable=True))
        batch.add_column(sa.Column("resolution_due_at", _TIME, nullable=True))
        batch.add_column(sa.Column("sla_state", sa.String(20), nullable=False, server_default="ok"))
        batch.add_column(sa.Column("snoozed_until", _TIME, nullable=True))
        batch.add_column(
            sa.Column("snoozed_for_reply", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("merged_into_id", _BIG_ID, nullable=True))
        batch.create_foreign_key("fk_cases_queue_id_queues", "queues", ["queue_id"], ["id"])
        batch.create_foreign_key("fk_cases_assignee_id_users", "users", ["assignee_id"], ["id"])
        batch.create_foreign_key(
            "fk_cases_merged_into_id_cases", "cases", ["merged_into_id"], ["id"]
        )
        batch.create_index("ix_cases_assignee_id", ["assignee_id"])
        batch.create_index("ix_cases_queue_work", ["queue_id", "status", "assignee_id", "priority"])
    with op.batch_alter_table("cases", schema=None) as batch:
        # The defaults only filled the rows already there; the models set these on insert.
        batch.alter_column("priority_factors", server_default=None)
        batch.alter_column("sla_state", server_default=None)
        batch.alter_column("snoozed_for_reply", server_default=None)
        batch.alter_column("reopen_count", server_default=None)
    op.create_table(
        "case_history",
        _id(),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("from_value", sa.String(200), nullable=True),
        sa.Column("to_value", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_case_history_case_at", "case_history", ["case_id", "at"])
    op.create_table(
        "case_notes",
        _id(),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("mentions", sa.JSON(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])
    op.create_table(
        "escalations",
        _id(),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("target_kind", sa.String(20), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_by", sa.String(200), nullable=False),
        sa.Column("raised_at", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=True),
        sa.Column("acknowledged_at", _TIME, nullable=True),
        sa.Column("closed_at", _TIME, nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
    )
    op.create_index("ix_escalations_case_id", "escalations", ["case_id"])
    op.create_index("ix_escalations_state", "escalations", ["state", "due_at"])
    op.create_table(
        "saved_replies",
        _id(),
        sa.Column("title", sa.String(200), nullable=False),
        sa.UniqueConstraint("title", name="uq_saved_replies_title"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category_group", sa.String(40), nullable=True),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
    )
    _default_queue_and_routing()


def _default_queue_and_routing() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    queues = sa.table(
        "queues",
        sa.column("id"),
        sa.column("name"),
        sa.column("tier"),
        sa.column("department"),
        sa.column("description"),
        sa.column("response_minutes"),
        sa.column("resolution_minutes"),
        sa.column("warning_percent"),
        sa.column("created_at"),
    )
    bind.execute(
        queues.insert().values(
            name=DEFAULT_QUEUE,
            tier="basic",
            department="trust_safety",
            description="Every case no routing rule sends elsewhere.",
            response_minutes=4 * 60,
            resolution_minutes=3 * 24 * 60,
            warning_percent=75,
            created_at=now,
        )
    )
    routing = sa.table(
        "routing_versions",
        sa.column("version"),
        sa.column("definition", sa.JSON),
        sa.column("author"),
        sa.column("note"),
        sa.column("created_at"),
    )
    bind.execute(
        routing.insert().values(
            version=1,
            definition={
                "version": 1,
                "author": "abusedesk",
                "note": "every case to triage",
                "default_queue": DEFAULT_QUEUE,
                "rules": [],
            },
            author="abusedesk",
            note="every case to triage",
            created_at=now,
        )
    )
    queue_id = bind.execute(sa.select(queues.c.id).where(queues.c.name == DEFAULT_QUEUE)).scalar()
    cases = sa.table("cases", sa.column("queue_id"), sa.column("status"))
    bind.execute(cases.update().where(cases.c.status != "closed").values(queue_id=queue_id))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("saved_replies")
    op.drop_index("ix_escalations_state", table_name="escalations")
    op.drop_index("ix_escalations_case_id", table_name="escalations")
    op.drop_table("escalations")
    op.drop_index("ix_case_notes_case_id", table_name="case_notes")
    op.drop_table("case_notes")
    op.drop_index("ix_case_history_case_at", table_name="case_history")
    op.drop_table("case_history")
    with op.batch_alter_table("cases", schema=None) as batch:
        batch.drop_index("ix_cases_queue_work")
        batch.drop_index("ix_cases_assignee_id")
        batch.drop_constraint("fk_cases_merged_into_id_cases", type_="foreignkey")
        batch.drop_constraint("fk_cases_assignee_id_users", type_="foreignkey")
        batch.drop_constraint("fk_cases_queue_id_queues", type_="foreignkey")
        for column in (
            "merged_into_id",
            "reopen_count",
            "snoozed_for_reply",
            "snoozed_until",
            "sla_state",
            "resolution_due_at",
            "response_due_at",
            "resolved_at",
            "first_response_at",
            "state_changed_at",
            "close_reason",
            "priority_factors",
            "routing_reason",
            "routing_version",
            "assigned_at",
            "assignee_id",
            "queue_id",
        ):
            batch.drop_column(column)
    op.drop_table("routing_versions")
    op.drop_table("queue_members")
    op.drop_table("queues")
    op.drop_table("calendars")
