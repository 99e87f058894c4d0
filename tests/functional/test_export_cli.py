"""``abusedesk export parquet`` and ``abusedesk analytics grant`` as a user runs them."""

import uuid
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from sqlalchemy import text

from abusedesk.bootstrap import build
from abusedesk.storage.analytics import VIEW_NAMES, VIEWS
from abusedesk.storage.db import make_engine
from tests.functional.cli import run_cli
from tests.support.settings import private_settings
from tests.support.workbench import complaint_case


def _seed(database_url: str, tmp_path: Path) -> int:
    container = build(private_settings(database_url, tmp_path))
    try:
        return complaint_case(container)
    finally:
        container.close()


def test_export_writes_every_view_typed_and_duckdb_reads_it(
    database_url: str, tmp_path: Path
) -> None:
    """Every view becomes a typed Parquet file; DuckDB's recipe counts the case's event."""
    case_id = _seed(database_url, tmp_path)
    out = tmp_path / "analytics"
    done = run_cli("export", "parquet", str(out), database_url=database_url, workdir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.glob("*.parquet")) == sorted(
        f"{name}.parquet" for name in VIEW_NAMES
    )
    for view in VIEWS:
        table = pq.read_table(out / f"{view.name}.parquet")
        assert tuple(table.column_names) == view.column_names
    events = pq.read_table(out / "analytics_events.parquet")
    assert events.column("case_id").to_pylist() == [case_id]
    assert str(events.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    recipe = f"SELECT category, count(*) FROM read_parquet('{out}/analytics_events.parquet')"  # noqa: S608  # a path of the test's own
    found = duckdb.sql(recipe + " GROUP BY ALL").fetchall()
    assert found == [("spam", 1)]


def test_export_of_an_unknown_view_is_refused(database_url: str, tmp_path: Path) -> None:
    """A view name that is not one of the views exits 1 naming the views; nothing is written."""
    done = run_cli(
        "export",
        "parquet",
        str(tmp_path / "x"),
        "--view",
        "users",
        database_url=database_url,
        workdir=tmp_path,
    )
    assert done.returncode == 1
    assert "no such view: users" in done.stderr
    assert not (tmp_path / "x").exists()


def test_grant_sets_up_the_role_or_says_sqlite_needs_none(
    database_url: str, tmp_path: Path
) -> None:
    """On PostgreSQL the role is made and may read a view; on SQLite nothing is needed."""
    role = f"abusedesk_an_{uuid.uuid4().hex[:10]}"
    done = run_cli(
        "analytics",
        "grant",
        database_url=database_url,
        workdir=tmp_path,
        ABUSEDESK_ANALYTICS__ROLE=role,
    )
    assert done.returncode == 0, done.stderr
    if database_url.startswith("sqlite"):
        assert "SQLite needs no role" in done.stdout
        return
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f'SET LOCAL ROLE "{role}"'))
            count = connection.execute(text("SELECT count(*) FROM analytics.analytics_cases"))
            assert count.scalar_one() == 0
        assert f"{role} may log in" in done.stdout
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP OWNED BY "{role}"'))
            connection.execute(text(f'DROP ROLE "{role}"'))
        engine.dispose()
