"""The analytics views: the documented columns on both databases, figures from the tables,
no secrets, and docs/analytics.md describing exactly what the views hold."""

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from abusedesk.bootstrap import Container
from abusedesk.storage.analytics import VIEWS, Dialect, qualified
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case, table_of
from tests.support.access import create_user
from tests.support.analytics import scored_review
from tests.support.workbench import DOMAIN, complaint_case

DOCS = Path(__file__).resolve().parents[2] / "docs" / "analytics.md"


def _rows(container: Container, view_name: str, where: str = "") -> list[dict[str, object]]:
    view = next(v for v in VIEWS if v.name == view_name)
    name = qualified(view, container.engine.dialect.name)
    with read_only(container.sessions) as session:
        result = session.execute(text(f"SELECT * FROM {name} {where}"))  # noqa: S608  # our names
        return [dict(row) for row in result.mappings()]


def test_every_view_has_its_documented_columns_in_order(container: Container) -> None:
    """Each view answers with exactly the columns analytics.py names, in that order."""
    found = {}
    with read_only(container.sessions) as session:
        for view in VIEWS:
            name = qualified(view, container.engine.dialect.name)
            found[view.name] = tuple(session.execute(text(f"SELECT * FROM {name} LIMIT 0")).keys())  # noqa: S608  # our names
    assert found == {view.name: view.column_names for view in VIEWS}


def _documented() -> dict[str, list[str]]:
    """Return the views docs/analytics.md documents and the columns of each one's table."""
    documented: dict[str, list[str]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### `(analytics_[a-z_]+)`", line)
        if heading:
            current = heading.group(1)
            documented[current] = []
            continue
        if line.startswith("## "):
            current = None
        cell = re.match(r"^\| `([a-z_]+)` \|", line)
        if current and cell:
            documented[current].append(cell.group(1))
    return documented


def test_the_data_dictionary_documents_every_view_and_column() -> None:
    """docs/analytics.md has a section per view listing its columns, no more and no fewer."""
    assert _documented() == {view.name: list(view.column_names) for view in VIEWS}


def test_views_show_a_case_and_its_event_without_addresses(container: Container) -> None:
    """A complaint's event and case appear with the reporter's domain only, and the users
    view holds no address or password hash."""
    case_id = complaint_case(container)
    create_user(container, "vera", "analyst_basic")
    events = _rows(container, "analytics_events")
    cases = _rows(container, "analytics_cases")
    users = _rows(container, "analytics_users")
    assert [(e["case_id"], e["category"]) for e in events] == [(case_id, "spam")]
    assert all("@" not in str(value) for e in events for value in e.values())
    assert [(c["case_id"], c["event_count"], c["status"]) for c in cases] == [(case_id, 1, "new")]
    assert [(u["username"], u["role"], u["team"]) for u in users] == [("vera", "analyst_basic", "")]
    assert all("example.net" not in str(v) and "argon2" not in str(v) for v in users[0].values())
    assert DOMAIN not in str(events)


def test_sla_clocks_say_met_and_breached_as_worked_out(container: Container) -> None:
    """Response 30 min into a 60 min target is met; resolution due an hour ago and not done
    is breached; a case with no due times has neither."""
    first = complaint_case(container, serial=1)
    cases = table_of(Case)
    with unit_of_work(container.sessions) as session:
        opened = session.scalar(select(cases.c.opened_at).where(cases.c.id == first))
        assert opened is not None
        session.execute(
            update(cases)
            .where(cases.c.id == first)
            .values(
                response_due_at=opened + timedelta(minutes=60),
                first_response_at=opened + timedelta(minutes=30),
                resolution_due_at=opened - timedelta(hours=1),
                resolved_at=None,
            )
        )
    clocks = _rows(container, "analytics_sla_clocks")
    assert [
        (
            c["case_id"],
            c["response_met"],
            c["response_breached"],
            c["resolution_met"],
            c["resolution_breached"],
        )
        for c in clocks
    ] == [(first, 1, 0, 0, 1)]
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(cases)
            .where(cases.c.id == first)
            .values(
                response_due_at=None,
                resolution_due_at=None,
                first_response_at=opened + timedelta(days=2),
            )
        )
    again = _rows(container, "analytics_sla_clocks")
    assert [(c["response_met"], c["response_breached"], c["resolution_met"]) for c in again] == [
        (None, None, None)
    ]


def test_qa_views_give_a_row_per_review_and_per_criterion(container: Container) -> None:
    """One review of three criteria: one row in analytics_qa_reviews with its flag, three
    in analytics_qa_ratings, and no comment anywhere."""
    case_id = complaint_case(container)
    scored_review(container, case_id)
    reviews = _rows(container, "analytics_qa_reviews")
    ratings = _rows(container, "analytics_qa_ratings", "ORDER BY criterion")
    assert [
        (r["case_id"], r["analyst"], r["reviewer"], r["score"], r["critical_failure"])
        for r in reviews
    ] == [(case_id, "vera", "quinn", 66.7, 1)]
    assert [(r["criterion"], r["rating"]) for r in ratings] == [
        ("evidence", "met"),
        ("notice", "met"),
        ("policy", "not_met"),
    ]
    assert "remark" not in str(reviews + ratings)


def test_the_migrated_views_are_the_modules(container: Container) -> None:
    """The views the migrations left in the database are exactly storage/analytics.py's."""
    dialect = container.engine.dialect.name
    with container.engine.connect() as session:
        if dialect == "postgresql":
            # PostgreSQL keeps a view's query in its own normal form: compare that form with
            # the module's query, planned once as a scratch view in a schema of this test's.
            session.execute(text("CREATE SCHEMA analytics_check"))
            found, wanted = {}, {}
            for view in VIEWS:
                session.execute(
                    text(
                        f"CREATE VIEW analytics_check.{view.name} AS {view.select(Dialect(dialect))}"
                    )
                )
                for schema, into in (("analytics", found), ("analytics_check", wanted)):
                    into[view.name] = session.execute(
                        text("SELECT pg_get_viewdef(CAST(:name AS regclass))"),
                        {"name": f"{schema}.{view.name}"},
                    ).scalar_one()
            session.rollback()
        else:
            rows = session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'view'"))
            found = {str(name): str(sql) for name, sql in rows}
            wanted = {
                view.name: f"CREATE VIEW {view.name} AS {view.select(Dialect(dialect))}"
                for view in VIEWS
            }
    assert found == wanted
