"""privacy: retention of evidence classes, purge marks and erasure requests

Reports record when their raw evidence was removed and why; events record which
evidence classes were removed from them. Erasure requests keep who asked, when, why
and what was found, with the address only as a keyed hash. Retention marks say how far
the purge has walked the events for each class.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RETAINED = sa.text("raw_purged_at IS NULL")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("raw_purged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("raw_purge_reason", sa.String(length=20), nullable=True))
    op.create_index(
        "ix_reports_raw_retained",
        "reports",
        ["received_at"],
        sqlite_where=_RETAINED,
        postgresql_where=_RETAINED,
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_classes", sa.JSON(), nullable=True))
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index(op.f("ix_erasure_requests_address_hash"), "erasure_requests", ["address_hash"])
    op.create_table(
        "retention_marks",
        sa.Column("evidence_class", sa.String(length=40), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("evidence_class", name=op.f("pk_retention_marks")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("retention_marks")
    op.drop_index(op.f("ix_erasure_requests_address_hash"), table_name="erasure_requests")
    op.drop_table("erasure_requests")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("purged_classes")
    op.drop_index("ix_reports_raw_retained", table_name="reports")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_column("raw_purge_reason")
        batch_op.drop_column("raw_purged_at")
