"""The audit log under test: writing rows, and tampering with them as an intruder would."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.storage import audit
from abusedesk.storage.db import unit_of_work

APPEND_ONLY_TABLES = ("audit_log", "audit_anchors", "audit_anchor_heads")


def write(factory: sessionmaker[Session], subject: str, n: int = 0, **extra: Any) -> None:
    """Record one audit row about *subject* ('type:id') in its own transaction."""
    subject_type, _, subject_id = subject.partition(":")
    with unit_of_work(factory) as session:
        audit.record(
            session,
            actor="analyst:7",
            tag="case:state:change",
            subject_type=subject_type,
            subject_id=subject_id,
            at=utcnow(),
            before={"state": "new", "n": n},
            after={"state": "triaged", "n": n + 1},
            reason="checked the evidence",
            **extra,
        )


def seed(factory: sessionmaker[Session], subjects: int = 4, rows_each: int = 4) -> None:
    """Write *rows_each* rows for each of *subjects* cases, interleaved."""
    for n in range(rows_each):
        for case in range(1, subjects + 1):
            write(factory, f"case:{case}", n)


def _triggers(dialect: str, table: str) -> tuple[list[str], list[str]]:
    """Return the statements that drop and re-create *table*'s append-only triggers."""
    if dialect == "sqlite":
        verbs = ("update", "delete")
        return (
            [f"DROP TRIGGER {table}_no_{v}" for v in verbs],
            [
                f"CREATE TRIGGER {table}_no_{v} BEFORE {v.upper()} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                for v in verbs
            ],
        )
    function = "audit_log_append_only" if table == "audit_log" else "audit_anchor_append_only"
    return (
        [f"DROP TRIGGER {table}_append_only ON {table}"],
        [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {function}()"
        ],
    )


@contextmanager
def tampering(engine: Engine) -> Iterator[Connection]:
    """Yield a connection with the append-only triggers dropped, as an intruder would.

    The triggers come back at the end, in the same transaction: the PostgreSQL test
    database is shared by the tests that follow.
    """
    with engine.begin() as connection:
        plans = [_triggers(engine.dialect.name, t) for t in APPEND_ONLY_TABLES]
        for drops, _ in plans:
            for statement in drops:
                connection.execute(text(statement))
        yield connection
        for _, creates in plans:
            for statement in creates:
                connection.execute(text(statement))
