"""activity: hourly SMS and hosted-mailbox activity figures

``mailbox_stats`` holds what each hosted mailbox sent per hour (messages, distinct
recipients, the client IPs and countries it was used from, bounces, complaints, hits on
known spam fingerprints); ``sms_stats`` what each origination number or sender id sent
per hour, destination country and number range (sent, delivered, converted where the
account reports conversions). ``activity_episodes`` keeps the compromise and pumping
episodes the activity monitor has opened, so one episode raises one signal.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "mailbox_stats",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("resource_id", _BIG_ID, sa.ForeignKey("resources.id"), nullable=False),
        sa.Column("hour", _TIME, nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("complaints", sa.Integer(), nullable=False),
        sa.Column("fingerprint_hits", sa.Integer(), nullable=False),
        sa.Column("client_ips", sa.JSON(), nullable=False),
        sa.Column("client_countries", sa.JSON(), nullable=False),
        sa.UniqueConstraint("resource_id", "hour", name="uq_mailbox_stats_resource_id_hour"),
    )
    op.create_index("ix_mailbox_stats_hour", "mailbox_stats", ["hour"])
    op.create_index("ix_mailbox_stats_account_id_hour", "mailbox_stats", ["account_id", "hour"])
    op.create_table(
        "sms_stats",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("resource_id", _BIG_ID, sa.ForeignKey("resources.id"), nullable=False),
        sa.Column("hour", _TIME, nullable=False),
        sa.Column("destination_country", sa.String(2), nullable=False),
        sa.Column("number_range", sa.String(16), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("converted", sa.Integer(), nullable=True),
        sa.UniqueConstraint(
            "resource_id",
            "hour",
            "destination_country",
            "number_range",
            name="uq_sms_stats_resource_id_hour_destination_country_number_range",
        ),
    )
    op.create_index("ix_sms_stats_hour", "sms_stats", ["hour"])
    op.create_index("ix_sms_stats_account_id_hour", "sms_stats", ["account_id", "hour"])
    op.create_table(
        "activity_episodes",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("account_id", _BIG_ID, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("baseline_end", _TIME, nullable=False),
        sa.Column("last_seen_at", _TIME, nullable=False),
        sa.Column("ended_at", _TIME, nullable=True),
        sa.Column("subjects", sa.JSON(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.UniqueConstraint(
            "account_id",
            "kind",
            "started_at",
            name="uq_activity_episodes_account_id_kind_started_at",
        ),
    )
    op.create_index("ix_activity_episodes_ended_at", "activity_episodes", ["ended_at"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_activity_episodes_ended_at", table_name="activity_episodes")
    op.drop_table("activity_episodes")
    op.drop_index("ix_sms_stats_account_id_hour", table_name="sms_stats")
    op.drop_index("ix_sms_stats_hour", table_name="sms_stats")
    op.drop_table("sms_stats")
    op.drop_index("ix_mailbox_stats_account_id_hour", table_name="mailbox_stats")
    op.drop_index("ix_mailbox_stats_hour", table_name="mailbox_stats")
    op.drop_table("mailbox_stats")
