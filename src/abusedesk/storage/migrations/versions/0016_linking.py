"""linking: links between accounts through shared indicators

Each run of the linking monitor records itself in ``link_runs``, replaces the links it
found in ``account_links`` (each with the shared values it rests on, as JSON), keeps one
row per cluster in ``account_clusters`` (named by its oldest member, so that it keeps its
id while it lasts; dissolved once no link holds it) and its members in
``cluster_members``.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "link_runs",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("ran_at", _TIME, nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=False),
        sa.Column("indicators", sa.Integer(), nullable=False),
        sa.Column("links", sa.Integer(), nullable=False),
        sa.Column("clusters", sa.Integer(), nullable=False),
        sa.Column("common_values", sa.JSON(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
    )
    op.create_index("ix_link_runs_ran_at", "link_runs", ["ran_at"])
    op.create_table(
        "account_clusters",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("dissolved_at", _TIME, nullable=True),
        sa.UniqueConstraint("key", name="uq_account_clusters_key"),
    )
    op.create_table(
        "cluster_members",
        sa.Column("cluster_id", _BIG_ID, sa.ForeignKey("account_clusters.id"), nullable=False),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.PrimaryKeyConstraint("cluster_id", "account_id", name="pk_cluster_members"),
    )
    op.create_index("ix_cluster_members_account_id", "cluster_members", ["account_id"])
    op.create_table(
        "account_links",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("other_account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("cluster_id", _BIG_ID, sa.ForeignKey("account_clusters.id"), nullable=True),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("first_seen_at", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.UniqueConstraint(
            "account_id", "other_account_id", name="uq_account_links_account_id_other_account_id"
        ),
    )
    op.create_index("ix_account_links_other_account_id", "account_links", ["other_account_id"])
    op.create_index("ix_account_links_cluster_id", "account_links", ["cluster_id"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_account_links_cluster_id", table_name="account_links")
    op.drop_index("ix_account_links_other_account_id", table_name="account_links")
    op.drop_table("account_links")
    op.drop_index("ix_cluster_members_account_id", table_name="cluster_members")
    op.drop_table("cluster_members")
    op.drop_table("account_clusters")
    op.drop_index("ix_link_runs_ran_at", table_name="link_runs")
    op.drop_table("link_runs")
