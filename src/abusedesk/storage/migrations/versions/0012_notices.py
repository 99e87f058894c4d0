"""notices: notice templates and customer messages

Templates are versioned per kind (an action such as ``pause``, or ``appeal_received``,
``appeal_decision``, ``reporter_ack``) and category (``''`` for any); the built-in
templates live in code and apply until an admin saves a version. Customer messages hold
every notice sent and every reply received, threaded per case.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "notice_templates",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint(
            "kind", "category", "version", name="uq_notice_templates_kind_category_version"
        ),
    )
    op.create_table(
        "customer_messages",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("action_id", _BIG_ID, sa.ForeignKey("enforcement_actions.id"), nullable=True),
        sa.Column("appeal_id", _BIG_ID, nullable=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=False),
        sa.Column("to_address", sa.String(320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(250), nullable=False),
        sa.Column("in_reply_to", sa.String(998), nullable=True),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("report_id", _BIG_ID, sa.ForeignKey("reports.id"), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("portal_expires_at", _TIME, nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.UniqueConstraint("message_id", name="uq_customer_messages_message_id"),
    )
    op.create_index("ix_customer_messages_case_id", "customer_messages", ["case_id"])
    op.create_index(
        "ix_customer_messages_state_next_attempt_at",
        "customer_messages",
        ["state", "next_attempt_at"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_customer_messages_state_next_attempt_at", table_name="customer_messages")
    op.drop_index("ix_customer_messages_case_id", table_name="customer_messages")
    op.drop_table("customer_messages")
    op.drop_table("notice_templates")
