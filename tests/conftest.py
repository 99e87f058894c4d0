"""Fixtures shared by every test: settings, a migrated database per test, the container."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.storage.db import make_engine
from abusedesk.storage.queues import install_defaults
from abusedesk.storage.tables import Base
from tests.support.databases import backends, copy_sqlite, fresh_database
from tests.support.settings import private_settings

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Migrate one database per backend once per run; tests start from copies or truncation."""
    directory = tmp_path_factory.mktemp("templates")
    with fresh_database("sqlite", directory) as sqlite_url:
        urls = {"sqlite": sqlite_url}
        if "postgresql" in backends():
            with fresh_database("postgresql", directory) as pg_url:
                urls["postgresql"] = pg_url
                yield urls
        else:
            yield urls


@pytest.fixture(params=backends())
def database_url(
    request: pytest.FixtureRequest, migrated_templates: dict[str, str], tmp_path: Path
) -> str:
    """Return the URL of an empty, migrated database of each backend in turn."""
    backend: str = request.param
    if backend == "sqlite":
        return copy_sqlite(migrated_templates["sqlite"], tmp_path / "abusedesk.db")
    url = migrated_templates["postgresql"]
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        # The audit log refuses DELETE, but TRUNCATE is a table-level reset for tests.
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with Session(engine) as session, session.begin():
        # What the migrations write besides the schema, as a fresh database has it.
        install_defaults(session)
    engine.dispose()
    return url


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Return settings pointing at the test database and a private evidence folder."""
    return private_settings(database_url, tmp_path, storage={"inline_max_bytes": 64 * 1024})


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    """Return the wired application for the test database."""
    built = build(settings)
    yield built
    built.close()


@pytest.fixture
def corpus() -> Path:
    """Return the real-world corpus folder, or skip with the reason when it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"the real-world corpus is not at {CORPUS}")
    return CORPUS
