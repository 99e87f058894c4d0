"""The SQL console over real HTTP: results, refusals, CSV, saved queries, the audit, access."""

import csv
import io
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from abusedesk.storage.db import read_only
from tests.support.access import create_user
from tests.support.analytics import analytics_role
from tests.support.enforcement_pages import signed_in
from tests.support.workbench import Workbench, complaint_case


@pytest.fixture
def console_bench(bench: Workbench) -> Iterator[Workbench]:
    """The served workbench with one complaint's case, users, and the console's role."""
    complaint_case(bench.container)
    create_user(bench.container, "tia", "analyst_advanced")
    create_user(bench.container, "ada", "analyst_advanced")
    create_user(bench.container, "lee", "lead")
    create_user(bench.container, "bob", "analyst_basic")
    with analytics_role(bench.container):
        yield bench


def _audited(bench: Workbench) -> list[tuple[str, str, str]]:
    with read_only(bench.container.sessions) as session:
        rows = session.execute(
            text("SELECT actor, tag, reason FROM audit_log WHERE tag LIKE 'sql:%' ORDER BY id")
        ).all()
    return [(r[0], r[1], r[2] or "") for r in rows]


def test_a_query_shows_its_rows_and_is_audited(console_bench: Workbench) -> None:
    """An advanced analyst counts events per category; the page shows the figure and the
    run is in the audit log and in the page's history."""
    with signed_in(console_bench.base_url, "tia") as (client, token):
        page = client.post(
            "/sql/run",
            data={
                "csrf_token": token,
                "sql": "SELECT category, count(*) AS n FROM analytics_events GROUP BY category",
            },
        )
        again = client.get("/sql")
    assert page.status_code == 200
    assert "<td>spam</td><td>1</td>" in page.text
    assert _audited(console_bench) == [("tia", "sql:query:run", "")]
    assert "GROUP BY category" in again.text


def test_a_hostile_query_is_refused_on_the_page_and_audited(console_bench: Workbench) -> None:
    """Reading the users table directly is refused with a sentence; the refusal is audited."""
    with signed_in(console_bench.base_url, "tia") as (client, token):
        page = client.post(
            "/sql/run", data={"csrf_token": token, "sql": "SELECT password_hash FROM users"}
        )
    assert page.status_code == 400
    assert "analytics views" in page.text
    assert "argon2" not in page.text
    [(actor, tag, reason)] = _audited(console_bench)
    assert (actor, tag, "analytics views" in reason) == ("tia", "sql:query:run", True)


def test_csv_download_holds_the_rows_with_formulas_defused(console_bench: Workbench) -> None:
    """The CSV has the header and rows; a cell that looks like a formula gets an apostrophe."""
    with signed_in(console_bench.base_url, "tia") as (client, token):
        answer = client.post(
            "/sql/csv",
            data={
                "csrf_token": token,
                "sql": "SELECT '=1+1' AS trick, count(*) AS n FROM analytics_cases",
            },
        )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    assert list(csv.reader(io.StringIO(answer.text))) == [["trick", "n"], ["'=1+1", "1"]]


def test_only_sql_query_holders_reach_the_console(console_bench: Workbench) -> None:
    """A basic analyst gets 403 on the page and on running a query."""
    with signed_in(console_bench.base_url, "bob") as (client, token):
        page = client.get("/sql")
        run = client.post("/sql/run", data={"csrf_token": token, "sql": "SELECT 1"})
    assert (page.status_code, run.status_code) == (403, 403)
    assert _audited(console_bench) == []


def test_saved_queries_are_shared_and_kept_by_author_or_lead(console_bench: Workbench) -> None:
    """tia saves a query; ada sees it but may not delete it; the lead may. All audited."""
    sql = "SELECT count(*) FROM analytics_cases"
    with signed_in(console_bench.base_url, "tia") as (client, token):
        saved = client.post(
            "/sql/saved",
            data={"csrf_token": token, "name": "Open cases", "description": "", "sql": sql},
        )
        clash = client.post(
            "/sql/saved",
            data={"csrf_token": token, "name": "open  CASES", "description": "", "sql": sql},
        )
    assert saved.status_code == 303
    assert clash.status_code == 409
    with read_only(console_bench.container.sessions) as session:
        query_id = session.execute(text("SELECT id FROM saved_queries")).scalar_one()
    with signed_in(console_bench.base_url, "ada") as (client, token):
        listed = client.get(f"/sql?saved={query_id}")
        refused = client.post(f"/sql/saved/{query_id}/delete", data={"csrf_token": token})
    assert "Open cases" in listed.text
    assert sql in listed.text
    assert refused.status_code == 409
    assert "only its author (tia) or a lead" in refused.text
    with signed_in(console_bench.base_url, "lee") as (client, token):
        deleted = client.post(f"/sql/saved/{query_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert [tag for _, tag, _ in _audited(console_bench)] == [
        "sql:saved_query:create",
        "sql:saved_query:delete",
    ]


def test_hostile_cells_are_escaped_and_truncation_is_said(console_bench: Workbench) -> None:
    """Markup in a result is shown as text; more rows than the limit are cut and said so."""
    console_bench.container.settings.analytics.row_limit = 2
    with signed_in(console_bench.base_url, "tia") as (client, token):
        page = client.post(
            "/sql/run",
            data={
                "csrf_token": token,
                "sql": "SELECT '<script>alert(1)</script>' AS x FROM analytics_events "
                "UNION ALL SELECT 'b' UNION ALL SELECT 'c'",
            },
        )
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "more rows were left out" in page.text
