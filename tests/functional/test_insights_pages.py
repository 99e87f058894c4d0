"""The insights pages and the focus heartbeat over real HTTP, after the scripted day.

The figures are those worked out by hand in tests/integration/test_analyst_metrics.py.
"""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from abusedesk.insights.metrics import DEFINITIONS, HEADLINE
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import AnalystActivity, AnalystShift, AuditEntry
from tests.support.access import create_user, csrf_of, sign_in
from tests.support.analysts import ROLES, play_scripted_day
from tests.support.workbench import Workbench, served_workbench

WEEK = "2026-11-02"


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Workbench, list[int]]]:
    """Serve the workbench after the scripted day; return it and the day's cases."""
    with served_workbench(database_url, tmp_path) as bench:
        for username, role in ROLES.items():
            create_user(bench.container, username, role)
        create_user(bench.container, "audrey", "auditor")
        worked = play_scripted_day(bench.container, make_users=False)
        yield bench, worked


@contextmanager
def _client(base_url: str, username: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client


def _row(html: str, table_id: str, name: str) -> list[str]:
    """Return the cell texts of the row named *name* in table *table_id*."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table is not None, f"no table {table_id}"
    row = re.search(rf'<tr data-name="{re.escape(name)}">(.*?)</tr>', table.group(0), re.S)
    assert row is not None, f"no row {name} in {table_id}"
    cells = re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]


def test_the_hub_shows_each_analysts_figures_of_the_week(
    site: tuple[Workbench, list[int]],
) -> None:
    """The lead's table: basic handled 4 cases in 1.35 h of 6.5 h available."""
    bench, _ = site
    with _client(bench.base_url, "lead") as client:
        page = client.get(f"/insights?week={WEEK}")
    assert page.status_code == 200
    assert _row(page.text, "analyst-figures", "basic") == [
        "basic", "emea", "tier 1", "4", "1.35 h", "20.2 min", "165.0 min", "75%", "50%",
        "0%", "100%", "6.50 h", "20.8%",
    ]  # fmt: skip
    assert _row(page.text, "team-figures", "emea")[1:3] == ["5", "2.68 h"]
    assert page.text.count('<svg class="chart"') >= 3


def test_every_figure_links_to_its_definition(site: tuple[Workbench, list[int]]) -> None:
    """Each column head and cell links to an anchor the definitions page has."""
    bench, _ = site
    with _client(bench.base_url, "lead") as client:
        hub = client.get(f"/insights?week={WEEK}").text
        definitions = client.get("/insights/definitions").text
    linked = set(re.findall(r'href="/insights/definitions#([a-z_]+)"', hub))
    anchors = set(re.findall(r'<dt id="([a-z_]+)"', definitions))
    assert linked == set(HEADLINE)
    assert anchors == {d.key for d in DEFINITIONS}


def test_an_analyst_sees_their_own_figures_against_the_team_median(
    site: tuple[Workbench, list[int]],
) -> None:
    """basic's page: 4 cases handled against a median of 1, 1.35 h against 1.13 h."""
    bench, _ = site
    with _client(bench.base_url, "basic") as client:
        page = client.get(f"/insights/me?week={WEEK}")
    rows = dict(re.findall(r'<tr data-key="([a-z_]+)">(.*?)</tr>', page.text, re.S))
    text = {k: " ".join(re.sub(r"<[^>]+>", " ", v).split()) for k, v in rows.items()}
    assert page.status_code == 200
    assert text["cases_handled"] == "Cases handled 4 1"
    assert text["handling_time"] == "Handling time 1.35 h 1.13 h"
    assert text["utilisation"] == "Utilisation 20.8% 15.1%"
    assert "close as false_positive: 1" in page.text


def test_analysts_see_only_their_own_figures(site: tuple[Workbench, list[int]]) -> None:
    """An analyst gets 403 for the hub and the analysts' pages (theirs is /insights/me);
    a lead may see them."""
    bench, _ = site
    with _client(bench.base_url, "basic") as client:
        refused = [
            client.get("/insights").status_code,
            client.get("/insights/analysts/lead").status_code,
            client.get("/insights/analysts/basic").status_code,
        ]
    with _client(bench.base_url, "lead") as client:
        allowed = client.get(f"/insights/analysts/basic?week={WEEK}").status_code
        missing = client.get("/insights/analysts/nobody%3Cb%3E").status_code
    assert (refused, allowed, missing) == ([403, 403, 403], 200, 404)


def test_a_bad_week_is_explained_not_a_failure(site: tuple[Workbench, list[int]]) -> None:
    """A week that is not a date shows this week with a sentence saying so."""
    bench, _ = site
    with _client(bench.base_url, "lead") as client:
        page = client.get("/insights", params={"week": "<script>x</script>"})
    assert page.status_code == 200
    assert "is not a date like 2026-11-02" in page.text
    assert "<script>x" not in page.text


def test_the_heartbeat_extends_one_focus_stretch_and_needs_the_csrf_header(
    site: tuple[Workbench, list[int]],
) -> None:
    """Two pings make one stretch of two pings; no CSRF header, an unknown case or a role
    that does not work cases are refused."""
    bench, worked = site
    case_id = worked[5]
    with _client(bench.base_url, "basic") as client:
        token = csrf_of(client)
        headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
        first = client.post(f"/cases/{case_id}/activity", headers=headers, content="{}")
        second = client.post(f"/cases/{case_id}/activity", headers=headers, content="{}")
        forged = client.post(f"/cases/{case_id}/activity", content="{}")
        unknown = client.post("/cases/999999/activity", headers=headers, content="{}")
    with _client(bench.base_url, "audrey") as client:
        auditor = client.post(
            f"/cases/{case_id}/activity",
            headers={"X-CSRF-Token": csrf_of(client)},
            content="{}",
        )
    assert (first.json(), second.status_code) == ({"recorded": True, "next_seconds": 30}, 200)
    assert (forged.status_code, unknown.status_code, auditor.status_code) == (403, 404, 403)
    with read_only(bench.container.sessions) as session:
        stretches = session.scalars(
            select(AnalystActivity.pings).where(
                AnalystActivity.case_id == case_id, AnalystActivity.username == "basic"
            )
        ).all()
        pings = sorted(stretches)
    # The scripted day left one stretch of basic on the case (11:00-11:10, 21 pings).
    assert pings == [2, 21]


def test_an_analyst_records_a_break_and_a_lead_ends_it(
    site: tuple[Workbench, list[int]],
) -> None:
    """basic goes on break (a shift opens first); the lead sets basic off; both audited."""
    bench, _ = site
    with _client(bench.base_url, "basic") as client:
        token = csrf_of(client)
        posted = client.post(
            "/insights/shifts/status", data={"status": "break", "csrf_token": token}
        )
        page = client.get("/insights/shifts")
        other = client.post(
            "/insights/shifts/status",
            data={"status": "off", "username": "lead", "csrf_token": token},
        )
    with _client(bench.base_url, "lead") as client:
        token = csrf_of(client)
        ended = client.post(
            "/insights/shifts/status",
            data={"status": "off", "username": "basic", "csrf_token": token},
        )
        hostile = client.post(
            "/insights/shifts/status",
            data={"status": "off", "username": "basic\x00';--", "csrf_token": token},
        )
    assert (posted.status_code, other.status_code, ended.status_code) == (303, 403, 303)
    assert (hostile.status_code, "no active user named" in hostile.text) == (400, True)
    assert '<strong id="my-status">break</strong>' in page.text
    with read_only(bench.container.sessions) as session:
        recorded = session.execute(
            select(AnalystShift.kind, AnalystShift.ends_at.is_(None), AnalystShift.recorded_by)
            .where(AnalystShift.username == "basic", AnalystShift.source == "recorded")
            .where(AnalystShift.note == "")
            .order_by(AnalystShift.id.desc())
            .limit(2)
        ).all()
        tags = session.scalars(
            select(AuditEntry.tag).where(AuditEntry.subject_type == "analyst_shift")
        ).all()
    assert sorted((kind, still_open, by) for kind, still_open, by in recorded) == [
        ("break", False, "basic"),
        ("shift", False, "basic"),
    ]
    assert tags.count("insights:shift:end") == 2


def test_a_period_with_bad_times_is_refused_with_a_sentence(
    site: tuple[Workbench, list[int]],
) -> None:
    """A period that ends before it starts, or a time that is not one, is explained (400)."""
    bench, _ = site
    with _client(bench.base_url, "basic") as client:
        token = csrf_of(client)
        backwards = client.post(
            "/insights/shifts/periods",
            data={
                "kind": "shift",
                "starts_at": "2026-11-03T16:00",
                "ends_at": "2026-11-03T08:00",
                "csrf_token": token,
            },
        )
        garbage = client.post(
            "/insights/shifts/periods",
            data={"kind": "nap", "starts_at": "soon", "ends_at": "later", "csrf_token": token},
        )
        good = client.post(
            "/insights/shifts/periods",
            data={
                "kind": "training",
                "starts_at": "2026-11-03T09:00",
                "ends_at": "2026-11-03T10:00",
                "csrf_token": token,
            },
        )
    assert (backwards.status_code, garbage.status_code, good.status_code) == (400, 400, 303)
    assert "the period ends before it starts" in backwards.text
    assert "is not a date and time" in garbage.text
