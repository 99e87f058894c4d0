"""parse outcomes on reports: kind, warnings, the unknown-format inbox, an arrival index;
when each event was reported

Reports that no parser recognised were quarantined with the reason ``unknown_format``;
they move to their own status, ``unknown_format``, and back again on downgrade.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("report_kind", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("parse_warnings", sa.JSON(), nullable=True))
        batch_op.create_index("ix_reports_received_at", ["received_at"], unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE reports SET status = 'unknown_format'"
        " WHERE status = 'quarantined' AND stage = 'parse' AND last_error LIKE 'unknown_format:%'"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.execute("UPDATE reports SET status = 'quarantined' WHERE status = 'unknown_format'")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_received_at")
        batch_op.drop_column("parse_warnings")
        batch_op.drop_column("report_kind")
