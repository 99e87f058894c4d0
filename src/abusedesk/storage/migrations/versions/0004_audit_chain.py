"""audit chain: hash-chained audit log in partitions, with anchors

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:00:00.000000
"""

from collections.abc import Sequence

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""


def downgrade() -> None:
    """Revert this revision."""
