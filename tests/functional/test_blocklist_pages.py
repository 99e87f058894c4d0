"""``/monitoring/blocklists`` over real HTTP: listings now, a target's history, the last run."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from abusedesk.bootstrap import Container, build
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.web.app import create_app
from abusedesk.web.ui import blocklists as blocklist_pages
from tests.support.access import access_settings, create_user, sign_in
from tests.support.blocklists import MOVED_AT, make_inventory, watch_settings
from tests.support.dns import (
    DEDICATED_IP,
    DEDICATED_IPV6,
    SHARED_IP,
    ZEN,
    FixtureDns,
    dns_server,
    ip_name,
    scenario_zones,
)
from tests.support.web import serving

PAGE = blocklist_pages.PAGE
NOW = MOVED_AT - timedelta(days=2)


@dataclass(frozen=True)
class Served:
    """The served workbench, its container and the DNS server its watch asks."""

    container: Container
    base_url: str
    dns: FixtureDns


def _app(container: Container) -> FastAPI:
    """Return the app, with the blocklist page whether or not the app registers it yet."""
    app = create_app(container)
    if not any(getattr(route, "path", None) == PAGE for route in app.routes):
        app.include_router(blocklist_pages.router)
    return app


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    container = build(access_settings(database_url, tmp_path))
    try:
        with dns_server(scenario_zones()) as dns, serving(_app(container)) as base_url:
            make_inventory(container.sessions)
            create_user(container, "ana", "analyst_basic")
            yield Served(container, base_url, dns)
    finally:
        container.close()


@contextmanager
def _signed_in(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url) as client:
        assert sign_in(client, "ana").status_code == 303
        yield client


def _rows(page: httpx.Response, table_id: str) -> list[str]:
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', page.text, re.S)
    assert table is not None, f"no table {table_id}"
    return re.findall(r"<tr[^>]*>(.*?)</tr>", table.group(0), re.S)[1:]


def test_the_page_needs_a_sign_in(served: Served) -> None:
    """Someone not signed in is sent to the sign-in form."""
    with httpx.Client(base_url=served.base_url) as client:
        answer = client.get(PAGE)
    assert (answer.status_code, answer.headers["location"].startswith("/login")) == (303, True)


def test_the_page_lists_what_is_listed_now_with_its_holders(served: Served) -> None:
    """Each open listing is a row; the shared IP is an incident, accounts are linked."""
    BlocklistMonitor(watch_settings(served.dns)).run(served.container.sessions, NOW)
    with _signed_in(served) as client:
        page = client.get(PAGE)
    rows = _rows(page, "current-listings")
    shared = next(row for row in rows if f">{SHARED_IP}<" in row)
    dedicated = next(row for row in rows if f">{DEDICATED_IP}<" in row)
    assert (
        page.status_code,
        len(rows),
        "shared pool shared-1" in shared and "incident" in shared,
        'href="/accounts/4411"' in dedicated,
        page.headers["cache-control"],
    ) == (200, 6, True, True, "no-store")


def test_the_page_shows_the_last_runs_errors(served: Served) -> None:
    """Refusals, "public resolver" and "excessive volume" show as errors of the run."""
    BlocklistMonitor(watch_settings(served.dns)).run(served.container.sessions, NOW)
    with _signed_in(served) as client:
        page = client.get(PAGE)
    errors = " ".join(_rows(page, "run-errors"))
    assert (
        "excessive volume" in errors,
        "public or unattributable resolver" in errors,
        "REFUSED" in errors,
        "timeout" in errors,
    ) == (True, True, True, True)


def test_a_targets_history_shows_each_interval_on_a_timeline(served: Served) -> None:
    """Listed, delisted, listed again: two intervals of that target, and no other target's."""
    monitor = BlocklistMonitor(watch_settings(served.dns, max_cache_seconds=0))
    monitor.run(served.container.sessions, NOW)
    served.dns.zones.remove(ip_name(DEDICATED_IP, ZEN))
    monitor.run(served.container.sessions, NOW + timedelta(days=1))
    served.dns.zones.add(ip_name(DEDICATED_IP, ZEN), "127.0.0.2")
    monitor.run(served.container.sessions, MOVED_AT + timedelta(hours=1))
    with _signed_in(served) as client:
        page = client.get(PAGE, params={"target": DEDICATED_IP})
    rows = _rows(page, "listing-history")
    chart = re.search(r'<svg class="chart".*?</svg>', page.text, re.S)
    assert chart is not None
    assert (
        len(rows),
        all(DEDICATED_IP in row for row in rows),
        chart.group(0).count("chart-interval-open"),
        chart.group(0).count("chart-interval-closed"),
    ) == (2, True, 1, 1)


def test_an_ipv6_target_is_found_however_it_is_written(served: Served) -> None:
    """The long form of the IPv6 address finds the listing stored in compressed form."""
    BlocklistMonitor(watch_settings(served.dns)).run(served.container.sessions, NOW)
    with _signed_in(served) as client:
        page = client.get(PAGE, params={"target": "2001:0DB8:0000::0010"})
    rows = _rows(page, "listing-history")
    assert [DEDICATED_IPV6 in row for row in rows] == [True]


def test_a_target_that_is_no_ip_or_domain_is_explained(served: Served) -> None:
    """Typing a URL says what to type instead; the page still shows the rest."""
    with _signed_in(served) as client:
        page = client.get(PAGE, params={"target": "http://<b>x</b>/"})
    assert (page.status_code, 'class="problem"' in page.text, "<b>x</b>" in page.text) == (
        200,
        True,
        False,
    )


def test_before_any_run_the_page_says_checks_are_off_unless_configured(served: Served) -> None:
    """No run yet: the page says so and how to switch the checks on."""
    with _signed_in(served) as client:
        page = client.get(PAGE)
    assert (
        "No check has run yet" in page.text,
        _rows(page, "current-listings")[0].count("Nothing of ours"),
    ) == (
        True,
        1,
    )
