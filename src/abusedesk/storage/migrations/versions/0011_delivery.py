"""delivery: connector retries, dead letters and suppression lists

Actions get ``next_attempt_at`` (when the sweep tries a failed action again),
``dead_at`` (retries exhausted: listed in the dead letters, never executed) and
``call_key`` (the connector's random idempotency key). Accounts get
``metrics_since`` (a reinstatement restarts the metrics window); resources get
``blocked_at`` and ``block_action_id`` (a resource action executed through the
connector). ``suppressions`` keeps the hashed complainant and hard-bounced addresses per
account and their push to the provider; ``sweep_marks`` keeps how far a sweep has read.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("enforcement_actions") as batch:
        batch.add_column(sa.Column("next_attempt_at", _TIME, nullable=True))
        batch.add_column(sa.Column("dead_at", _TIME, nullable=True))
        batch.add_column(sa.Column("call_key", sa.String(64), nullable=True))
    op.create_index(
        "ix_enforcement_actions_retry",
        "enforcement_actions",
        ["state", "next_attempt_at"],
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("metrics_since", _TIME, nullable=True))
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("blocked_at", _TIME, nullable=True))
        batch.add_column(sa.Column("block_action_id", _BIG_ID, nullable=True))
    op.create_index("ix_events_aggregated_at", "events", ["aggregated_at"])
    op.create_table(
        "suppressions",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("address_hash", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("event_id", _BIG_ID, nullable=True),
        sa.Column("action_id", _BIG_ID, nullable=True),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("push_key", sa.String(80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("pushed_at", _TIME, nullable=True),
        sa.Column("dead_at", _TIME, nullable=True),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.UniqueConstraint("account_id", "address_hash", name="uq_suppressions_account_address"),
    )
    op.create_index("ix_suppressions_state_account", "suppressions", ["state", "account_id"])
    op.create_index("ix_suppressions_push_key", "suppressions", ["push_key"])
    op.create_table(
        "sweep_marks",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("mark_at", _TIME, nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("sweep_marks")
    op.drop_index("ix_suppressions_push_key", table_name="suppressions")
    op.drop_index("ix_suppressions_state_account", table_name="suppressions")
    op.drop_table("suppressions")
    op.drop_index("ix_events_aggregated_at", table_name="events")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("block_action_id")
        batch.drop_column("blocked_at")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("metrics_since")
    op.drop_index("ix_enforcement_actions_retry", table_name="enforcement_actions")
    with op.batch_alter_table("enforcement_actions") as batch:
        batch.drop_column("call_key")
        batch.drop_column("dead_at")
        batch.drop_column("next_attempt_at")
