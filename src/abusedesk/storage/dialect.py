"""Dialect differences in one place: upserts and per-account locks."""

from typing import Any

from sqlalchemy import FromClause, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: FromClause) -> Any:
    """Return an INSERT for *table* that supports ``on_conflict_*`` on this dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def lock_account(session: Session, account_id: int) -> None:
    """Hold a per-account lock until the transaction ends.

    PostgreSQL takes a transaction-scoped advisory lock; SQLite needs nothing because
    every write transaction already holds the database's single write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(account_id)))
