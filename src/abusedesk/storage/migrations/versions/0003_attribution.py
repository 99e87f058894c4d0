"""attribution: resource keys, send-log recipient and IP indexes, the unattributed inbox

Events already stored count as attributed when they have an account, else they wait in
the unattributed inbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 00:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

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


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_events_unattributed", table_name="events")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("attribution_details")
        batch_op.drop_column("attribution_state")
    with op.batch_alter_table("send_log", schema=None) as batch_op:
        batch_op.drop_index("ix_send_log_recipient_hash_sent_at")
        batch_op.drop_index("ix_send_log_source_ip_sent_at")
        batch_op.drop_column("recipient_hash")
    with op.batch_alter_table("resource_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resource_keys_account_id"))
        batch_op.drop_index("ix_resource_keys_kind_value")
    op.drop_table("resource_keys")
