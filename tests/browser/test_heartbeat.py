"""The case page's focus heartbeat in a real headless Chromium.

While the page is visible and in focus, workbench.js pings the server every few seconds;
when the page is hidden it sends one last ping and stops; shown again after the idle
gap, it starts a new focus stretch. Hiding is the browser's own visibilitychange event
with ``document.visibilityState`` reading ``hidden``, as a switch of tabs gives it.
"""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request
from sqlalchemy import select

from abusedesk.access.model import ANALYST_BASIC
from abusedesk.bootstrap import build
from abusedesk.config import MetricsSettings
from abusedesk.core.clock import as_utc
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import AnalystActivity
from abusedesk.web.app import create_app
from tests.support.access import PASSWORD, access_settings
from tests.support.browser import HostileContentGuard
from tests.support.web import serving
from tests.support.workbench import Workbench, analyst_in, complaint_case

HEARTBEAT = 5
GAP = 12
_SET_VISIBILITY = """
(state) => {
  Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
  document.dispatchEvent(new Event('visibilitychange'));
}
"""


@pytest.fixture
def bench(database_url: str, tmp_path: Path) -> Iterator[tuple[Workbench, int]]:
    """Serve the workbench with a 5-second heartbeat, one analyst and one case (its id)."""
    settings = access_settings(database_url, tmp_path).model_copy(
        update={"metrics": MetricsSettings(heartbeat_seconds=HEARTBEAT, idle_gap_seconds=GAP)}
    )
    container = build(settings)
    try:
        analyst_in(container, "ana", ANALYST_BASIC, "triage")
        case_id = complaint_case(container)
        with serving(create_app(container)) as base_url:
            yield Workbench(container, base_url), case_id
    finally:
        container.close()


def _stretches(bench: Workbench) -> list[tuple[int, timedelta]]:
    with read_only(bench.container.sessions) as session:
        rows = session.execute(
            select(AnalystActivity.pings, AnalystActivity.started_at, AnalystActivity.last_seen_at)
            .where(AnalystActivity.username == "ana")
            .order_by(AnalystActivity.id)
        ).all()
    return [(row.pings, as_utc(row.last_seen_at) - as_utc(row.started_at)) for row in rows]


def _is_ping(request: Request) -> bool:
    return request.method == "POST" and request.url.endswith("/activity")


def test_the_heartbeat_records_focus_time_and_stops_when_the_page_is_hidden(
    bench: tuple[Workbench, int], page: Page, guard: HostileContentGuard
) -> None:
    """Three pings make one stretch of at least two heartbeats; hidden, one last ping and
    no more; shown again after the idle gap, a second stretch starts."""
    served, case_id = bench
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if _is_ping(request) else None)
    page.goto(f"{served.base_url}/login?next=/queues")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    with page.expect_response(lambda r: _is_ping(r.request)):
        page.goto(f"{served.base_url}/cases/{case_id}")
    for _ in range(2):
        with page.expect_response(lambda r: _is_ping(r.request), timeout=3 * HEARTBEAT * 1000):
            pass
    guard.check("on the case page")
    [(pings, length)] = _stretches(served)
    assert pings >= 3
    assert length >= timedelta(seconds=2 * HEARTBEAT)

    with page.expect_response(lambda r: _is_ping(r.request)):
        page.evaluate(_SET_VISIBILITY, "hidden")
    [(hidden_pings, hidden_length)] = _stretches(served)
    count = len(sent)
    # Two heartbeats and more than the idle gap pass with the page hidden.
    page.wait_for_timeout((GAP + 1) * 1000)
    assert (len(sent), _stretches(served)) == (count, [(hidden_pings, hidden_length)])

    with page.expect_response(lambda r: _is_ping(r.request)):
        page.evaluate(_SET_VISIBILITY, "visible")
    stretches = _stretches(served)
    assert (len(stretches), stretches[0], stretches[1][0]) == (2, (hidden_pings, hidden_length), 1)
