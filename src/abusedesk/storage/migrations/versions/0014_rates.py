"""rates: sending figures per configuration set, IP pool and Feedback-ID, spam-trap hits, rate statuses

``sending_stats`` gains ``trap_hits`` and a longer ``resource_key`` (which may now name an
IP pool or a Feedback-ID); ``rate_daily`` holds its daily sums, filled here from the rows
already stored; ``rate_statuses`` keeps each subject's status per metric and since when.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)

# Days since 1970-01-01 of an hour, per dialect (as storage.rate_monitor computes it).
_DAY = {
    "sqlite": "CAST(julianday(date(hour)) - 2440587.5 AS INTEGER)",
    "postgresql": "(CAST(hour AT TIME ZONE 'UTC' AS date) - DATE '1970-01-01')",
}


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("sending_stats", schema=None) as batch_op:
        batch_op.alter_column(
            "resource_key", existing_type=sa.String(length=80), type_=sa.String(length=240)
        )
        batch_op.add_column(
            sa.Column("trap_hits", sa.Integer(), server_default="0", nullable=False)
        )
    op.create_table(
        "rate_daily",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("account_id", _BIG_ID, nullable=False),
        sa.Column("resource_key", sa.String(length=240), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("destination_group", sa.String(length=40), nullable=False),
        sa.Column("sent", sa.BigInteger(), nullable=False),
        sa.Column("hard_bounces_non_verified", sa.BigInteger(), nullable=False),
        sa.Column("fbl_sent", sa.BigInteger(), nullable=False),
        sa.Column("complaints", sa.BigInteger(), nullable=False),
        sa.Column("trap_hits", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rate_daily_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_daily")),
        sa.UniqueConstraint(
            "account_id",
            "resource_key",
            "day",
            "destination_group",
            name=op.f("uq_rate_daily_account_id_resource_key_day_destination_group"),
        ),
    )
    op.create_index(
        "ix_rate_daily_day_resource_key", "rate_daily", ["day", "resource_key"], unique=False
    )
    op.create_table(
        "rate_statuses",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=250), nullable=False),
        sa.Column("label", sa.String(length=320), nullable=False),
        sa.Column("account_id", _BIG_ID, nullable=True),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("since", _TIME, nullable=False),
        sa.Column("checked_at", _TIME, nullable=False),
        sa.Column("acted_on", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Double(), nullable=True),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("eligible", sa.BigInteger(), nullable=False),
        sa.Column("window_since", _TIME, nullable=True),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("sentence", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("signal_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_rate_statuses_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_statuses")),
        sa.UniqueConstraint(
            "subject_type",
            "subject_id",
            "metric",
            name=op.f("uq_rate_statuses_subject_type_subject_id_metric"),
        ),
    )
    op.create_index("ix_rate_statuses_status", "rate_statuses", ["status"], unique=False)
    op.create_index(
        op.f("ix_rate_statuses_account_id"), "rate_statuses", ["account_id"], unique=False
    )
    day = _DAY[op.get_bind().dialect.name]
    op.execute(
        "INSERT INTO rate_daily (account_id, resource_key, day, destination_group, sent,"  # noqa: S608  # our expression
        " hard_bounces_non_verified, fbl_sent, complaints, trap_hits)"
        f" SELECT account_id, resource_key, {day}, destination_group, SUM(sent),"
        " SUM(hard_bounces_non_verified), SUM(fbl_sent), SUM(complaints), SUM(trap_hits)"
        f" FROM sending_stats GROUP BY account_id, resource_key, {day}, destination_group"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_rate_statuses_account_id"), table_name="rate_statuses")
    op.drop_index("ix_rate_statuses_status", table_name="rate_statuses")
    op.drop_table("rate_statuses")
    op.drop_index("ix_rate_daily_day_resource_key", table_name="rate_daily")
    op.drop_table("rate_daily")
    # Rows naming a pool or a Feedback-ID have no place in the older table.
    op.execute(
        "DELETE FROM sending_stats WHERE resource_key LIKE 'pool:%'"
        " OR resource_key LIKE 'feedback_id:%'"
    )
    with op.batch_alter_table("sending_stats", schema=None) as batch_op:
        batch_op.drop_column("trap_hits")
        batch_op.alter_column(
            "resource_key", existing_type=sa.String(length=240), type_=sa.String(length=80)
        )
