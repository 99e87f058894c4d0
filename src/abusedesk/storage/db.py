"""Engines and sessions, with the dialect settings abusedesk relies on.

SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` so that
concurrent writers queue instead of failing on a lock upgrade. PostgreSQL URLs
are normalised to the psycopg 3 driver.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# An execution option marking a connection whose transaction only reads.
READ_ONLY = "abusedesk_read_only"


def normalise_url(url: str) -> str:
    """Return *url* with PostgreSQL pointed at psycopg 3, whatever driver was named."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    """Tell whether *url* names a SQLite database."""
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False) -> Engine:
    """Create an engine for *url* with abusedesk's connection settings."""
    url = normalise_url(url)
    if not is_sqlite(url):
        return create_engine(
            url,
            echo=echo,
            pool_pre_ping=True,
            pool_size=10,
            max_overflow=10,
            # Statement parameters hold report bytes and addresses: keep them out of errors and logs.
            hide_parameters=True,
        )

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        hide_parameters=True,
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: a deferred read lock that later upgrades is
        # what makes concurrent SQLite writers fail with "database is locked".
        # Read-only units of work skip it, so pages never wait behind ingestion.
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory entry points use to open one unit of work."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def read_only(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session for reading only; on SQLite it takes no write lock and never waits for one."""
    with factory() as session:
        session.connection(execution_options={READ_ONLY: True})
        try:
            yield session
        finally:
            session.rollback()


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit it if the block succeeds, roll back if it raises."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
