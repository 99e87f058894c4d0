"""Dialect differences in one place: upserts, per-account locks and LIKE patterns."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from abusedesk.storage.tables import Base, table_of


def insert_for(session: Session, model: type[Base]) -> Any:
    """Return an INSERT for *model* that supports ``on_conflict_*`` on this dialect."""
    # The Core table, not the ORM class: the ORM-enabled insert path costs far more.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table_of(model))
    return sqlite.insert(table_of(model))


# The first key of our two-key advisory locks: account ids never meet other lock users.
ACCOUNT_LOCK_SPACE = 0x4144  # "AD"


def lock_account(session: Session, account_id: int) -> None:
    """Hold a per-account lock until the transaction ends.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing because
    every write transaction already holds the database's single write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(func.pg_advisory_xact_lock(ACCOUNT_LOCK_SPACE, account_id & 0x7FFFFFFF))
        )


def escape_like(text: str) -> str:
    """Return *text* for a LIKE pattern with ``escape="\\"``: ``%``, ``_`` and ``\\``
    match themselves, on both databases."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
