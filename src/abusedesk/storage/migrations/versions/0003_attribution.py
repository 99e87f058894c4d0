"""attribution: resource keys, send-log recipient and IP indexes, the unattributed inbox

Resources already stored get their lookup keys; events already stored count as
attributed when they have an account, else they wait in the unattributed inbox. An IP
allocation is identified by its IP and start, so that imports can upsert it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from abusedesk.attribution.keys import resource_keys

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UNATTRIBUTED = sa.text("attribution_state = 'unattributed'")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "resource_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "resource_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "account_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_resource_keys_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_resource_keys_resource_id_resources")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_keys")),
        sa.UniqueConstraint(
            "resource_id", "kind", "value", name=op.f("uq_resource_keys_resource_id_kind_value")
        ),
    )
    with op.batch_alter_table("resource_keys", schema=None) as batch_op:
        batch_op.create_index("ix_resource_keys_kind_value", ["kind", "value"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_resource_keys_account_id"), ["account_id"], unique=False
        )
    _write_resource_keys()
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_ip_allocations_ip_valid_from")
        batch_op.create_index("ix_ip_allocations_ip_valid_from", ["ip", "valid_from"], unique=True)
    with op.batch_alter_table("send_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_send_log_source_ip_sent_at", ["source_ip", "sent_at"])
        batch_op.create_index("ix_send_log_recipient_hash_sent_at", ["recipient_hash", "sent_at"])
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "attribution_state",
                sa.String(length=20),
                nullable=False,
                server_default="unattributed",
            )
        )
        batch_op.add_column(
            sa.Column("attribution_details", sa.JSON(), nullable=False, server_default="{}")
        )
    op.execute("UPDATE events SET attribution_state = 'attributed' WHERE account_id IS NOT NULL")
    op.create_index(
        "ix_events_unattributed",
        "events",
        ["id"],
        sqlite_where=_UNATTRIBUTED,
        postgresql_where=_UNATTRIBUTED,
    )


def _write_resource_keys() -> None:
    """Derive the lookup keys of the resources already stored."""
    connection = op.get_bind()
    resources = sa.table(
        "resources",
        sa.column("id"),
        sa.column("account_id"),
        sa.column("kind"),
        sa.column("value"),
        sa.column("attributes", sa.JSON()),
    )
    keys = sa.table(
        "resource_keys",
        sa.column("resource_id"),
        sa.column("account_id"),
        sa.column("kind"),
        sa.column("value"),
    )
    rows = [
        {"resource_id": id_, "account_id": account_id, "kind": key_kind, "value": key_value}
        for id_, account_id, kind, value, attributes in connection.execute(sa.select(resources))
        for key_kind, key_value in resource_keys(kind, value, attributes or {})
    ]
    for start in range(0, len(rows), 5_000):
        connection.execute(sa.insert(keys), rows[start : start + 5_000])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_events_unattributed", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("attribution_details")
        batch_op.drop_column("attribution_state")
    with op.batch_alter_table("ip_allocations", schema=None) as batch_op:
        batch_op.drop_index("ix_ip_allocations_ip_valid_from")
        batch_op.create_index("ix_ip_allocations_ip_valid_from", ["ip", "valid_from"], unique=False)
    with op.batch_alter_table("send_log", schema=None) as batch_op:
        batch_op.drop_index("ix_send_log_recipient_hash_sent_at")
        batch_op.drop_index("ix_send_log_source_ip_sent_at")
        batch_op.drop_column("recipient_hash")
    with op.batch_alter_table("resource_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_keys_account_id"))
        batch_op.drop_index("ix_resource_keys_kind_value")
    op.drop_table("resource_keys")
