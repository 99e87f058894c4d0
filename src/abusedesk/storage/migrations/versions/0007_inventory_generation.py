"""inventory generation: a counter every inventory write bumps, so caches know when to reload

One row, bumped by triggers in the writing transaction whoever writes (imports, the
upsert API, the demo seed, a hand-written statement). PostgreSQL bumps once per
statement, before it runs, so that every inventory writer takes the counter's row lock
before any other: writers queue instead of deadlocking. SQLite has only row triggers;
its writers are serialised anyway. Account updates bump only when the external id
changes: a new standing changes nothing attribution reads.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Table -> the events that bump the generation.
_WATCHED = {
    "accounts": ("INSERT", "DELETE", "UPDATE OF external_id"),
    "ip_pools": ("INSERT", "DELETE", "UPDATE"),
    "resources": ("INSERT", "DELETE", "UPDATE"),
    "resource_keys": ("INSERT", "DELETE", "UPDATE"),
    "ip_allocations": ("INSERT", "DELETE", "UPDATE"),
}
_FUNCTION = "inventory_generation_bump"


def _trigger(table: str, event: str) -> str:
    return f"{table}_{event.split(maxsplit=1)[0].lower()}_bumps_inventory_generation"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "inventory_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inventory_generation")),
    )
    op.execute("INSERT INTO inventory_generation (id, generation) VALUES (1, 0)")
    if op.get_bind().dialect.name == "sqlite":
        for table, events in _WATCHED.items():
            for event in events:
                # The row may be gone (a test truncating every table): put it back first,
                # without INSERT OR IGNORE, which an upsert's conflict clause would override.
                op.execute(
                    f"CREATE TRIGGER {_trigger(table, event)} AFTER {event} ON {table} "  # noqa: S608  # our names
                    "BEGIN "
                    "INSERT INTO inventory_generation (id, generation) SELECT 1, 0 "
                    "WHERE NOT EXISTS (SELECT 1 FROM inventory_generation WHERE id = 1); "
                    "UPDATE inventory_generation SET generation = generation + 1 WHERE id = 1; "
                    "END"
                )
        return
    op.execute(
        f"CREATE FUNCTION {_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608  # our name
        "BEGIN "
        "INSERT INTO inventory_generation (id, generation) VALUES (1, 1) "
        "ON CONFLICT (id) DO UPDATE SET generation = inventory_generation.generation + 1; "
        "RETURN NULL; "
        "END $$"
    )
    for table, events in _WATCHED.items():
        op.execute(
            f"CREATE TRIGGER {table}_bumps_inventory_generation "
            f"BEFORE {' OR '.join(events)} ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {_FUNCTION}()"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for table, events in _WATCHED.items():
            for event in events:
                op.execute(f"DROP TRIGGER IF EXISTS {_trigger(table, event)}")
    else:
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_inventory_generation ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {_FUNCTION}()")
    op.drop_table("inventory_generation")
