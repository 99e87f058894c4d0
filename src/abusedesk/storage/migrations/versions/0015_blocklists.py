"""blocklists: blocklist listings of our IP space and customers' domains, and each check run

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "blocklist_runs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("targets", sa.Integer(), nullable=False),
        sa.Column("finished_targets", sa.Integer(), nullable=False),
        sa.Column("queries", sa.Integer(), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.Column("new_listings", sa.Integer(), nullable=False),
        sa.Column("delistings", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("cap_reached", sa.Boolean(), nullable=False),
        sa.Column("cursor", sa.String(300), nullable=True),
        sa.Column("tallies", sa.JSON(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_blocklist_runs_started_at", "blocklist_runs", ["started_at"])
    op.create_table(
        "blocklist_listings",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("target_kind", sa.String(10), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("blocklist", sa.String(60), nullable=False),
        sa.Column("zone", sa.String(255), nullable=False),
        sa.Column("meanings", sa.JSON(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("holding", sa.String(20), nullable=False),
        sa.Column("pool", sa.String(100), nullable=True),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_confirmed_at", _TIME, nullable=False),
        sa.Column("delisted_at", _TIME, nullable=True),
    )
    op.create_index("ix_blocklist_listings_target", "blocklist_listings", ["target_kind", "target"])
    op.create_index(
        "ix_blocklist_listings_open",
        "blocklist_listings",
        ["target_kind", "target", "blocklist"],
        unique=True,
        sqlite_where=sa.text("delisted_at IS NULL"),
        postgresql_where=sa.text("delisted_at IS NULL"),
    )
    op.create_index("ix_blocklist_listings_delisted_at", "blocklist_listings", ["delisted_at"])
    op.create_table(
        "blocklist_listing_accounts",
        sa.Column(
            "listing_id",
            _BIG_ID,
            sa.ForeignKey("blocklist_listings.id"),
            primary_key=True,
        ),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), primary_key=True),
    )
    op.create_index(
        "ix_blocklist_listing_accounts_account_id",
        "blocklist_listing_accounts",
        ["account_id"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(
        "ix_blocklist_listing_accounts_account_id", table_name="blocklist_listing_accounts"
    )
    op.drop_table("blocklist_listing_accounts")
    op.drop_index("ix_blocklist_listings_delisted_at", table_name="blocklist_listings")
    op.drop_index("ix_blocklist_listings_open", table_name="blocklist_listings")
    op.drop_index("ix_blocklist_listings_target", table_name="blocklist_listings")
    op.drop_table("blocklist_listings")
    op.drop_index("ix_blocklist_runs_started_at", table_name="blocklist_runs")
    op.drop_table("blocklist_runs")
