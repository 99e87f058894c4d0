"""signals: signals carry their account, case, severity and ladder step

A monitor's signal now names the account it concerns, how urgent it is and the ladder
step it asks for; applying it records what the rules did in words (``decision``), the
case it opened or joined and the action it proposed. Ending a signal keeps who or what
ended it and why (a delisting ends its listing, an analyst dismisses a false alarm).

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-29 09:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("account_id", _BIG_ID, nullable=True))
        batch.add_column(sa.Column("case_id", _BIG_ID, nullable=True))
        batch.add_column(sa.Column("action_id", _BIG_ID, nullable=True))
        batch.add_column(sa.Column("severity", sa.String(10), nullable=False, server_default="low"))
        batch.add_column(sa.Column("step", sa.String(20), nullable=False, server_default="none"))
        batch.add_column(
            sa.Column("evidence", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch.add_column(sa.Column("decision", sa.Text(), nullable=True))
        batch.add_column(sa.Column("resolved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("resolution", sa.Text(), nullable=True))
        batch.create_foreign_key(
            "fk_signals_account_id_accounts", "accounts", ["account_id"], ["id"]
        )
        batch.create_foreign_key("fk_signals_case_id_cases", "cases", ["case_id"], ["id"])
        batch.create_foreign_key(
            "fk_signals_action_id_enforcement_actions",
            "enforcement_actions",
            ["action_id"],
            ["id"],
        )
        batch.create_index("ix_signals_account_id_raised_at", ["account_id", "raised_at"])
        batch.create_index("ix_signals_case_id", ["case_id"])
        batch.create_index("ix_signals_state_raised_at", ["state", "raised_at"])


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("signals") as batch:
        batch.drop_index("ix_signals_state_raised_at")
        batch.drop_index("ix_signals_case_id")
        batch.drop_index("ix_signals_account_id_raised_at")
        batch.drop_constraint("fk_signals_action_id_enforcement_actions", type_="foreignkey")
        batch.drop_constraint("fk_signals_case_id_cases", type_="foreignkey")
        batch.drop_constraint("fk_signals_account_id_accounts", type_="foreignkey")
        for column in (
            "resolution",
            "resolved_by",
            "decision",
            "evidence",
            "step",
            "severity",
            "action_id",
            "case_id",
            "account_id",
        ):
            batch.drop_column(column)
