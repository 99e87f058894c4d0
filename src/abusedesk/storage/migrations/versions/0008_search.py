"""search: events indexed by normalised indicator and by their words (full text)

SQLite keeps the words in an FTS5 table that triggers hold in step with ``event_texts``;
PostgreSQL puts a GIN index over ``to_tsvector('simple', body)``. Events already stored
are indexed here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from abusedesk.search.query import event_text, index_entries

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

_SQLITE_FULL_TEXT = [
    "CREATE VIRTUAL TABLE event_texts_fts USING fts5("
    "body, content='event_texts', content_rowid='event_id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER event_texts_fts_insert AFTER INSERT ON event_texts BEGIN "
    "INSERT INTO event_texts_fts(rowid, body) VALUES (new.event_id, new.body); END",
    "CREATE TRIGGER event_texts_fts_delete AFTER DELETE ON event_texts BEGIN "
    "INSERT INTO event_texts_fts(event_texts_fts, rowid, body) "
    "VALUES ('delete', old.event_id, old.body); END",
    "CREATE TRIGGER event_texts_fts_update AFTER UPDATE ON event_texts BEGIN "
    "INSERT INTO event_texts_fts(event_texts_fts, rowid, body) "
    "VALUES ('delete', old.event_id, old.body); "
    "INSERT INTO event_texts_fts(rowid, body) VALUES (new.event_id, new.body); END",
]
_POSTGRES_FULL_TEXT = (
    "CREATE INDEX ix_event_texts_body ON event_texts USING gin (to_tsvector('simple', body))"
)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "event_indicators",
        sa.Column("event_id", _BIG_ID, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "key", "value"),
    )
    op.create_index("ix_event_indicators_lookup", "event_indicators", ["key", "value"])
    op.create_table(
        "event_texts",
        sa.Column("event_id", _BIG_ID, sa.ForeignKey("events.id"), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FULL_TEXT:
            op.execute(statement)
    else:
        op.execute(_POSTGRES_FULL_TEXT)
    _index_stored_events()


def _index_stored_events() -> None:
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id"),
        sa.column("reporter"),
        sa.column("indicators", sa.JSON),
        sa.column("details", sa.JSON),
    )
    indicators = sa.table(
        "event_indicators", sa.column("event_id"), sa.column("key"), sa.column("value")
    )
    texts = sa.table("event_texts", sa.column("event_id"), sa.column("body"))
    last = 0
    while True:
        rows = bind.execute(
            sa.select(events.c.id, events.c.reporter, events.c.indicators, events.c.details)
            .where(events.c.id > last)
            .order_by(events.c.id)
            .limit(2000)
        ).all()
        if not rows:
            return
        found = [
            {"event_id": row.id, "key": key, "value": value}
            for row in rows
            for key, value in index_entries(row.indicators or {})
        ]
        words = [
            {"event_id": row.id, "body": body}
            for row in rows
            if (body := event_text(row.reporter, row.details or {}))
        ]
        if found:
            bind.execute(indicators.insert(), found)
        if words:
            bind.execute(texts.insert(), words)
        last = rows[-1].id


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS event_texts_fts_{name}")
        op.execute("DROP TABLE IF EXISTS event_texts_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_event_texts_body")
    op.drop_table("event_texts")
    op.drop_index("ix_event_indicators_lookup", table_name="event_indicators")
    op.drop_table("event_indicators")
