"""appeals: appeals and their attachments

A customer appeals one executed action from the portal; the appeal keeps the customer's
account of root cause, fix and prevention, its due time in the appeals queue, and the
reviewer's decision with the actions it lifted and the reversals it ran. Attachments are
kept in the database, with their checked type, size and SHA-256.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "appeals",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("action_id", _BIG_ID, sa.ForeignKey("enforcement_actions.id"), nullable=False),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("message_id", _BIG_ID, sa.ForeignKey("customer_messages.id"), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=False),
        sa.Column("fix", sa.Text(), nullable=False),
        sa.Column("prevention", sa.Text(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("submitted_at", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=True),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("lifted_action_ids", sa.JSON(), nullable=False),
        sa.Column("reversal_action_ids", sa.JSON(), nullable=False),
        sa.UniqueConstraint("action_id", name="uq_appeals_action_id"),
    )
    op.create_index("ix_appeals_state_due_at", "appeals", ["state", "due_at"])
    op.create_index("ix_appeals_case_id", "appeals", ["case_id"])
    op.create_table(
        "appeal_attachments",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("appeal_id", _BIG_ID, sa.ForeignKey("appeals.id"), nullable=False),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_appeal_attachments_appeal_id", "appeal_attachments", ["appeal_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_appeal_attachments_appeal_id", table_name="appeal_attachments")
    op.drop_table("appeal_attachments")
    op.drop_index("ix_appeals_case_id", table_name="appeals")
    op.drop_index("ix_appeals_state_due_at", table_name="appeals")
    op.drop_table("appeals")
