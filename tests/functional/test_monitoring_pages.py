"""The monitoring dashboard, an account's page and the case page's signals over real HTTP."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from abusedesk.bootstrap import Container, build
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.signals import find_signals
from tests.factories.inventory import make_account
from tests.support.access import access_settings, create_user, csrf_of, sign_in
from tests.support.monitoring import apply, monitoring_site, rate_draft, seeded_monitoring


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[tuple[Container, str]]:
    """Serve the workbench with its monitoring pages."""
    container = build(access_settings(database_url, tmp_path))
    try:
        with monitoring_site(container) as base_url:
            yield container, base_url
    finally:
        container.close()


@contextmanager
def _client(base_url: str, username: str = "ana") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client


def _rows(html: str, table_id: str) -> list[str]:
    """Return the text of each row of the table *table_id*'s body, tags stripped."""
    found = re.search(rf'<table id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert found is not None, f"no table {table_id}"
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", found.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in rows]


def test_the_dashboard_shows_open_signals_worst_rates_first(
    site: tuple[Container, str],
) -> None:
    """Both accounts under review list in the worst rates, 0.40% above 0.15%, with charts."""
    container, base_url = site
    seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        page = client.get("/monitoring")
    worst = _rows(page.text, "worst-rates")
    assert page.status_code == 200
    accounts = [row.split() for row in worst if row.split()[1] == "account"]
    assert [(words[0], words[7]) for words in accounts] == [("4411", "0.40%"), ("5522", "0.15%")]
    assert len(_rows(page.text, "signal-list")) == 6
    assert page.text.count('<svg class="chart"') >= 4


def test_the_dashboard_filters_signals_by_monitor_severity_and_account(
    site: tuple[Container, str],
) -> None:
    """Blocklists only, then high severity only (the shared-pool listing), then one account's."""
    container, base_url = site
    seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        listings = _rows(client.get("/monitoring?monitor=blocklists").text, "signal-list")
        high = _rows(client.get("/monitoring?severity=high").text, "signal-list")
        mine = _rows(client.get("/monitoring?account=5522").text, "signal-list")
        nobody = client.get("/monitoring?account=nobody").text
    assert [("blocklist.listed" in row) for row in listings] == [True, True]
    assert [("198.51.100.7" in row) for row in high] == [True]
    assert [(row.split()[2], "5522" in row) for row in mine] == [("rate.under_review", True)] * 2
    assert "No account nobody." in nobody


def test_the_account_page_shows_signals_cases_and_the_proposed_review(
    site: tuple[Container, str],
) -> None:
    """Account 4411's page lists its signals, its reputation case and the proposed review."""
    container, base_url = site
    ids = seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        page = client.get("/accounts/4411")
    signals = _rows(page.text, "account-signal-list")
    assert page.status_code == 200
    assert sorted(row.split()[2] for row in signals) == [
        "blocklist.listed",
        "rate.under_review",
        "rate.under_review",
    ]
    assert f'href="/cases/{ids["case_id"]}"' in page.text
    assert [row.split()[1:4] for row in _rows(page.text, "account-action-list")] == [
        ["review", "proposed", "complaint_rate"]
    ]


def test_an_unknown_account_is_not_found(site: tuple[Container, str]) -> None:
    """No account, no page."""
    container, base_url = site
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        assert client.get("/accounts/does-not-exist").status_code == 404


def test_the_case_page_shows_the_signals_that_joined_the_case(
    site: tuple[Container, str],
) -> None:
    """The reputation case's page lists the rate and listing signals with what the rules did."""
    container, base_url = site
    ids = seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        page = client.get(f"/cases/{ids['case_id']}")
    rows = _rows(page.text, "case-signal-list")
    assert sorted(row.split()[2] for row in rows) == [
        "blocklist.listed",
        "rate.under_review",
        "rate.under_review",
    ]
    assert "Rules send rate.under_review to the account&#39;s reputation case." in page.text


def test_the_pages_need_a_sign_in(site: tuple[Container, str]) -> None:
    """Without a session the pages send the visitor to sign in."""
    _, base_url = site
    with httpx.Client(base_url=base_url) as client:
        answers = [client.get(path).status_code for path in ("/monitoring", "/accounts/4411")]
    assert answers == [303, 303]


def _open_signal_ids(container: Container, account_id: int) -> list[int]:
    with read_only(container.sessions) as session:
        return [s.signal_id for s in find_signals(session, account_id=account_id, state="open")]


def test_an_analyst_ends_a_signal_with_a_reason_and_returns_to_the_page(
    site: tuple[Container, str],
) -> None:
    """The end form resolves the signal by the analyst, then shows the account page again."""
    container, base_url = site
    ids = seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    signal_id = _open_signal_ids(container, ids["account_id"])[0]
    with _client(base_url) as client:
        ended = client.post(
            f"/signals/{signal_id}/end",
            data={
                "reason": "the listing was a test entry",
                "back": "/accounts/4411",
                "csrf_token": csrf_of(client),
            },
        )
        again = client.post(
            f"/signals/{signal_id}/end",
            data={
                "reason": "twice",
                "back": "https://elsewhere.example/",
                "csrf_token": csrf_of(client),
            },
        )
        page = client.get(ended.headers["location"])
    with read_only(container.sessions) as session:
        [signal] = [s for s in find_signals(session) if s.signal_id == signal_id]
    assert (ended.status_code, ended.headers["location"]) == (303, "/accounts/4411?done=ended")
    assert again.headers["location"] == "/monitoring?refused=already"
    assert (signal.state, signal.resolved_by, signal.resolution) == (
        "resolved",
        "ana",
        "the listing was a test entry",
    )
    assert "The signal is ended." in page.text
    assert signal_id not in _open_signal_ids(container, ids["account_id"])


def test_ending_a_signal_needs_a_reason(site: tuple[Container, str]) -> None:
    """An empty reason is refused; the signal stays open."""
    container, base_url = site
    ids = seeded_monitoring(container)
    create_user(container, "ana", "analyst_basic")
    signal_id = _open_signal_ids(container, ids["account_id"])[0]
    with _client(base_url) as client:
        refused = client.post(
            f"/signals/{signal_id}/end",
            data={
                "reason": " ",
                "back": "/monitoring?monitor=rates",
                "csrf_token": csrf_of(client),
            },
        )
        page = client.get(refused.headers["location"])
    assert refused.headers["location"] == "/monitoring?monitor=rates&refused=reason"
    assert "Say why the signal ends." in page.text
    assert signal_id in _open_signal_ids(container, ids["account_id"])


def test_an_account_whose_id_holds_a_slash_a_hash_and_a_question_mark_is_linked(
    site: tuple[Container, str],
) -> None:
    """The dashboard's link to account "eu/7#a?b=1" is quoted and leads to its page."""
    container, base_url = site
    odd = "eu/7#a?b=1"
    with unit_of_work(container.sessions) as session:
        account_id, _ = make_account(session, odd, domain="odd.example")
    apply(container, [rate_draft(account_id)])
    create_user(container, "ana", "analyst_basic")
    with _client(base_url) as client:
        dashboard = client.get("/monitoring")
        href = re.search(r'href="(/accounts/eu[^"]*)"', dashboard.text)
        assert href is not None
        page = client.get(href.group(1))
    assert href.group(1) == "/accounts/eu/7%23a%3Fb%3D1"
    assert page.status_code == 200
    assert "rate.under_review" in " ".join(_rows(page.text, "account-signal-list"))
