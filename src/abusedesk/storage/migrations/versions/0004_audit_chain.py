"""audit chain: hash-chained audit log in partitions, with anchors

Rows already in the audit log are chained in id order, over the default partition
count, so that ``abusedesk audit verify`` passes right after the upgrade. The
append-only triggers are taken off while the chain columns are filled, then put back
(SQLite's batch mode rebuilds the table, which drops them anyway), and the anchor
tables get triggers of their own.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from abusedesk.core.audit_chain import (
    DEFAULT_PARTITIONS,
    AuditRow,
    chain_link,
    partition_of,
    row_hash,
)
from abusedesk.core.clock import as_utc

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5_000
_ANCHOR_TABLES = ("audit_anchors", "audit_anchor_heads")


def upgrade() -> None:
    """Apply this revision."""
    _drop_audit_log_trigger()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partition_no", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
    _chain_existing_rows()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("partition_no", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_audit_log_partition_no_seq", ["partition_no", "seq"], unique=True)
    _create_audit_log_trigger()

    op.create_table(
        "audit_anchors",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("anchor_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_anchors")),
    )
    op.create_table(
        "audit_anchor_heads",
        sa.Column("anchor_seq", sa.BigInteger(), nullable=False),
        sa.Column("partition_no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["anchor_seq"],
            ["audit_anchors.seq"],
            name=op.f("fk_audit_anchor_heads_anchor_seq_audit_anchors"),
        ),
        sa.PrimaryKeyConstraint("anchor_seq", "partition_no", name=op.f("pk_audit_anchor_heads")),
    )
    _create_anchor_triggers()


def _chain_existing_rows() -> None:
    """Chain the rows already stored, in id order, each in its subject's partition."""
    connection = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("id", sa.BigInteger()),
        sa.column("occurred_at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("tag", sa.String()),
        sa.column("subject_type", sa.String()),
        sa.column("subject_id", sa.String()),
        sa.column("before", sa.JSON()),
        sa.column("after", sa.JSON()),
        sa.column("reason", sa.Text()),
        sa.column("partition_no", sa.Integer()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("row_hash", sa.String()),
    )
    heads: dict[int, tuple[int, str]] = {}
    last_id = 0
    update = (
        sa.update(log)
        .where(log.c.id == sa.bindparam("row_id"))
        .values(
            partition_no=sa.bindparam("p"),
            seq=sa.bindparam("s"),
            prev_hash=sa.bindparam("ph"),
            row_hash=sa.bindparam("h"),
        )
    )
    while True:
        batch = connection.execute(
            sa.select(
                log.c.id,
                log.c.occurred_at,
                log.c.actor,
                log.c.tag,
                log.c.subject_type,
                log.c.subject_id,
                log.c.before,
                log.c.after,
                log.c.reason,
            )
            .where(log.c.id > last_id)
            .order_by(log.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        changes = []
        for id_, at, actor, tag, subject_type, subject_id, before, after, reason in batch:
            partition = partition_of(subject_type, subject_id, DEFAULT_PARTITIONS)
            seq, prev_hash = chain_link(heads.get(partition))
            row = AuditRow(
                id_,
                partition,
                seq,
                as_utc(at),
                actor,
                tag,
                subject_type,
                subject_id,
                before,
                after,
                reason,
                prev_hash,
                "",
            )
            digest = row_hash(row)
            heads[partition] = (seq, digest)
            changes.append({"row_id": id_, "p": partition, "s": seq, "ph": prev_hash, "h": digest})
        connection.execute(update, changes)
        last_id = batch[-1][0]


def _drop_audit_log_trigger() -> None:
    # The triggers (and PostgreSQL's function) of revision 0001.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")


def _create_audit_log_trigger() -> None:
    # Exactly as revision 0001 made them; PostgreSQL's function outlived the trigger.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )
        return
    op.execute(
        "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
    )


def _create_anchor_triggers() -> None:
    """Refuse UPDATE and DELETE on the anchor tables at the database itself."""
    if op.get_bind().dialect.name == "sqlite":
        for table in _ANCHOR_TABLES:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        return
    op.execute(
        "CREATE FUNCTION audit_anchor_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
    )
    for table in _ANCHOR_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_anchor_append_only()"
        )


def downgrade() -> None:
    """Revert this revision."""
    # Dropping the tables drops their triggers; the function goes by itself.
    op.drop_table("audit_anchor_heads")
    op.drop_table("audit_anchors")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_anchor_append_only()")
    _drop_audit_log_trigger()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_partition_no_seq")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("partition_no")
    _create_audit_log_trigger()
