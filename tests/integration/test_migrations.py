"""The migrations build exactly the schema the models describe, on every backend."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from abusedesk.core.clock import utcnow
from abusedesk.storage.db import make_engine
from abusedesk.storage.migrate import current_revision, downgrade, head_revision, upgrade
from abusedesk.storage.search import include_in_schema_comparison
from abusedesk.storage.tables import Base


def test_migrated_database_matches_models(database_url: str) -> None:
    """Autogenerate finds no difference between the migrated schema and the models."""
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "include_name": include_in_schema_comparison},
        )
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


def test_reports_of_unknown_format_move_to_their_own_status_and_back(database_url: str) -> None:
    """0002 moves unknown-format reports out of quarantine; downgrading puts them back."""
    engine = make_engine(database_url)
    downgrade(engine, "0001")
    with engine.begin() as connection:
        for n, (status, last_error) in enumerate(
            [
                ("quarantined", "unknown_format: no parser recognises this report"),
                ("quarantined", "malformed: broken"),
                ("done", None),
            ]
        ):
            connection.execute(
                text(
                    "INSERT INTO reports (sha256, channel, size, envelope, received_at, status,"
                    " stage, attempts, next_attempt_at, last_error) VALUES (:sha, 'test', 1,"
                    " '{}', :at, :status, 'parse', 1, :at, :last_error)"
                ),
                {"sha": f"{n:064d}", "at": utcnow(), "status": status, "last_error": last_error},
            )
    upgrade(engine)
    upgraded = _statuses(engine)
    downgrade(engine, "0001")
    downgraded = _statuses(engine)
    upgrade(engine)
    engine.dispose()
    assert (upgraded, downgraded) == (
        ["unknown_format", "quarantined", "done"],
        ["quarantined", "quarantined", "done"],
    )


def _statuses(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT status FROM reports ORDER BY id")))


def test_resources_stored_before_0003_get_their_lookup_keys(database_url: str) -> None:
    """0003 derives the keys of existing resources, so attribution finds them at once."""
    engine = make_engine(database_url)
    downgrade(engine, "0002")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO accounts (id, external_id, name, size_tier, standing, created_at,"
                " attributes) VALUES (1, 'a1', 'A', 'small', 'healthy', :at, '{}')"
            ),
            {"at": utcnow()},
        )
        connection.execute(
            text(
                "INSERT INTO resources (id, account_id, kind, value, attributes, created_at)"
                " VALUES (1, 1, 'identity_domain', 'shop.example',"
                ' \'{"dkim_selectors": ["s1"]}\', :at)'
            ),
            {"at": utcnow()},
        )
    upgrade(engine)
    with engine.connect() as connection:
        keys = connection.execute(
            text("SELECT kind, value FROM resource_keys WHERE resource_id = 1 ORDER BY kind")
        ).all()
    engine.dispose()
    assert [tuple(k) for k in keys] == [
        ("dkim", "s1._domainkey.shop.example"),
        ("domain", "shop.example"),
    ]
