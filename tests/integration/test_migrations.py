"""The migrations build exactly the schema the models describe, on every backend."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from abusedesk.storage.db import make_engine
from abusedesk.storage.migrate import current_revision, downgrade, head_revision, upgrade
from abusedesk.storage.tables import Base


def test_migrated_database_matches_models(database_url: str) -> None:
    """Autogenerate finds no difference between the migrated schema and the models."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert differences == []


def test_database_is_at_head(database_url: str) -> None:
    """A fresh upgrade leaves the database at the newest revision."""
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_downgrade_to_empty_and_upgrade_again(database_url: str) -> None:
    """Every migration reverses cleanly: down to nothing and back up to head."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    emptied = current_revision(engine)
    upgrade(engine)
    assert (emptied, current_revision(engine)) == (None, head_revision())
    engine.dispose()
