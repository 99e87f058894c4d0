"""The procrastinate job engine under test: its PostgreSQL databases, the app on them, raw SQL."""

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.pipeline.queue import apply_schema, conninfo, make_app, sweep_once
from tests.support.databases import fresh_database, postgres_url
from tests.support.settings import private_settings

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
        private_settings(database_url, directory, jobs={"backend": "procrastinate", **jobs})
    )


def sql(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run one statement outside any transaction and return its rows, if it has any."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as connection:
        cursor = connection.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def engine_container(tmp_path: Path) -> Iterator[Container]:
    """Return the application wired to the procrastinate engine on a fresh database."""
    with job_database(tmp_path, job_schema=True) as url:
        built = job_engine_container(url, tmp_path)
        yield built
        built.close()


def worker_sweep(container: Container) -> None:
    """Run the procrastinate worker's periodic sweep once, as the worker does."""
    app = make_app(container.settings.database.url, periodic_sweep=False)

    async def once() -> None:
        async with app.open_async():
            await sweep_once(app, container)

    asyncio.run(once())
