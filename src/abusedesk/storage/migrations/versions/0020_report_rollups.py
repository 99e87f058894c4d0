"""insights: report rollups

``report_daily_counts`` holds events counted per day of arrival and per value of one
dimension (service, category, format, reporter, recipient domain, account), kept up to
date incrementally by the weekly reports' tender (``storage/trends.py``);
``report_rollup_marks`` keeps how far that roll-up has read the events;
``report_dirty_days`` the days whose account counts an attribution made since has made
stale. The counts start empty: the first roll-up reads the events already stored, in
batches.

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "report_daily_counts",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_report_daily_counts")),
        sa.UniqueConstraint(
            "dimension", "day", "value", name=op.f("uq_report_daily_counts_dimension_day_value")
        ),
    )
    op.create_table(
        "report_rollup_marks",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_event_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", _TIME, nullable=True),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_report_rollup_marks")),
    )
    op.create_table(
        "report_dirty_days",
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("marked_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_report_dirty_days")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("report_dirty_days")
    op.drop_table("report_rollup_marks")
    op.drop_table("report_daily_counts")
