"""The procrastinate job engine under test: its PostgreSQL databases, the app on them, raw SQL."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.pipeline.queue import apply_schema, conninfo
from tests.support.databases import fresh_database, postgres_url

NEEDS_POSTGRES = "needs PostgreSQL: set ABUSEDESK_TEST_DATABASE_URL (CI always does)"


@contextmanager
def job_database(directory: Path, *, job_schema: bool) -> Iterator[str]:
    """Yield a fresh migrated PostgreSQL database, with procrastinate's schema if *job_schema*.

    Skip the test when no PostgreSQL server is configured.
    """
    if postgres_url() is None:
        pytest.skip(NEEDS_POSTGRES)
    with fresh_database("postgresql", directory) as url:
        if job_schema:
            apply_schema(url)
        yield url


def job_engine_container(database_url: str, directory: Path, **jobs: Any) -> Container:
    """Return the application wired to the procrastinate engine, its evidence under *directory*."""
    return build(
        Settings(
            database={"url": database_url},
            storage={"evidence_dir": directory / "evidence"},
            smtp={"enabled": False},
            notices={"keys_file": directory / "keys.json", "outbox_dir": directory / "outbox"},
            jobs={"backend": "procrastinate", **jobs},
        )
    )


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement outside any transaction and return its rows, if it has any."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        cursor = connection.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []
