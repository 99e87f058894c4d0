"""enforcement: policy versions and actions on accounts and resources, with who proposed,
approved and executed each

The default policy (version 1) is written on first use, as ``storage.enforcement``
defines it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "enforcement_policies",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "enforcement_actions",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("resource_id", _BIG_ID, sa.ForeignKey("resources.id"), nullable=True),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("proposed_action", sa.String(30), nullable=False),
        sa.Column("cause", sa.String(80), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("policy_version", sa.Integer(), nullable=False),
        sa.Column("policy_reason", sa.Text(), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("proposed_by", sa.String(200), nullable=False),
        sa.Column("proposed_at", _TIME, nullable=False),
        sa.Column("approved_by", sa.String(200), nullable=True),
        sa.Column("approved_at", _TIME, nullable=True),
        sa.Column("rejected_by", sa.String(200), nullable=True),
        sa.Column("rejected_at", _TIME, nullable=True),
        sa.Column("executed_by", sa.String(200), nullable=True),
        sa.Column("executed_at", _TIME, nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "reverses_action_id", _BIG_ID, sa.ForeignKey("enforcement_actions.id"), nullable=True
        ),
        sa.Column("case_id", _BIG_ID, sa.ForeignKey("cases.id"), nullable=True),
    )
    op.create_index(
        "ix_enforcement_actions_account_state", "enforcement_actions", ["account_id", "state"]
    )
    op.create_index("ix_enforcement_actions_case_id", "enforcement_actions", ["case_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_enforcement_actions_case_id", table_name="enforcement_actions")
    op.drop_index("ix_enforcement_actions_account_state", table_name="enforcement_actions")
    op.drop_table("enforcement_actions")
    op.drop_table("enforcement_policies")
