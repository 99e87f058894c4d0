"""Test databases: a migrated SQLite file per test, and fresh PostgreSQL databases."""

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from abusedesk.storage.db import make_engine, normalise_url
from abusedesk.storage.migrate import upgrade

POSTGRES_URL_VARIABLE = "ABUSEDESK_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    """Return the PostgreSQL server URL tests may use, or None when it is not set."""
    return os.environ.get(POSTGRES_URL_VARIABLE) or None


def backends() -> list[str]:
    """Return the database backends this run covers: SQLite always, PostgreSQL when set."""
    return ["sqlite", "postgresql"] if postgres_url() else ["sqlite"]


def _admin_conninfo(url: str) -> str:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def create_postgres_database(prefix: str = "abusedesk_t") -> str:
    """Create an empty PostgreSQL database next to the configured one; return its URL."""
    base = postgres_url()
    if base is None:
        raise RuntimeError(f"{POSTGRES_URL_VARIABLE} is not set")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return normalise_url(make_url(base).set(database=name).render_as_string(hide_password=False))


def drop_postgres_database(url: str) -> None:
    """Drop a database made by create_postgres_database, ending its connections."""
    base = postgres_url()
    if base is None:
        return
    name = make_url(url).database
    with psycopg.connect(_admin_conninfo(base), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """Yield the URL of a new, fully migrated database of *backend*; drop it afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / f'abusedesk-{uuid.uuid4().hex[:8]}.db'}"
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
        return
    url = create_postgres_database()
    try:
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        yield url
    finally:
        drop_postgres_database(url)


def copy_sqlite(template_url: str, target: Path) -> str:
    """Copy a migrated SQLite database file and return the copy's URL."""
    source = Path(make_url(template_url).database or "")
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def wait_for_a_lock_waiter(engine: Engine, *, seconds: float = 60) -> bool:
    """Poll PostgreSQL until a transaction of *engine*'s database waits for another's lock.

    Return False if none waited within *seconds*. Tests of two writers racing use it to
    know the second one is queued behind the first before letting the first commit.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a USING (pid)"
                    " WHERE NOT l.granted AND a.datname = current_database()"
                )
            )
        if waiting:
            return True
        time.sleep(0.05)
    return False
