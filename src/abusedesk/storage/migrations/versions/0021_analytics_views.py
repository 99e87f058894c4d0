"""insights: the analytics views

The documented views analysts query from the SQL console, the Parquet export and DuckDB:
``analytics_events``, ``analytics_cases``, ``analytics_actions`` and the rest (see
docs/analytics.md). On PostgreSQL they live in the schema ``analytics``; on SQLite in the
main schema. The definitions are those of ``abusedesk.storage.analytics`` at this
revision: a later revision that changes a view replaces it there and here keeps a copy of
the definitions it replaced. A later revision that rebuilds a table beneath a view on
SQLite (batch mode copies and renames it) drops the views first and creates them after.

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

from abusedesk.storage.analytics import create_views, drop_views

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    create_views(op.get_bind())


def downgrade() -> None:
    """Revert this revision."""
    drop_views(op.get_bind())
