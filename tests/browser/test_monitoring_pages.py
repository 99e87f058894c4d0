"""An analyst reads the monitoring dashboard and an account's page in a real headless Chromium."""

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind
from tests.support.access import PASSWORD, create_user
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.monitoring import apply, monitoring_site, seeded_monitoring


@pytest.fixture
def site(container: Container) -> Iterator[str]:
    """Serve the app with its monitoring pages on 127.0.0.1."""
    with monitoring_site(container) as base_url:
        yield base_url


def _sign_in(page: Page, site: str, path: str) -> None:
    page.goto(f"{site}{path}")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{path}")


def _hostile_spike(container: Container, account_id: int) -> None:
    """A spike whose reason and figures carry markup, as a reporter-fed series could."""
    payload = " ".join(hostile_payloads()[:6])[:1500]
    now = utcnow()
    apply(
        container,
        [
            SignalDraft(
                kind=SignalKind.SPIKE,
                subject_type="reporter",
                subject_id=payload[:200],
                reason=f"complaints jumped from 2 to 40 an hour {payload}",
                figures={"category": "spam", "note": payload, "count": 40},
                at=now,
                dedupe_key="spike.jump:hostile",
                account_id=account_id,
                severity=Severity.MEDIUM,
            )
        ],
        now=now,
    )


def test_an_analyst_reads_the_dashboard_filters_it_and_opens_an_account(
    container: Container, site: str, page: Page
) -> None:
    """Dashboard with charts, a monitor filter, then 4411's page from the worst rates."""
    guard = HostileContentGuard(page)
    ids = seeded_monitoring(container)
    _hostile_spike(container, ids["account_id"])
    create_user(container, "ana", "analyst_basic")

    _sign_in(page, site, "/monitoring")
    guard.check("on the dashboard")
    headings = page.locator("main h2").all_inner_texts()
    charts = page.locator("svg.chart").count()
    worst = page.locator("#worst-rates tbody tr").all_inner_texts()
    spikes = page.locator("#spike-signals tbody tr").count()

    page.select_option("#f-monitor", "blocklists")
    page.click("#signal-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/monitoring\?.*monitor=blocklists.*"))
    filtered = page.locator("#signal-list tbody tr").all_inner_texts()
    guard.check("on the filtered dashboard")

    page.click("#worst-rates a[href='/accounts/4411']")
    page.wait_for_url(f"{site}/accounts/4411")
    guard.check("on the account page")
    title = page.locator("h1").inner_text()
    standing = page.locator("#standing-heading .standing").inner_text()
    account_charts = page.locator("#rate-history svg.chart").count()
    account_signals = page.locator("#account-signal-list tbody tr").count()
    spike_row = page.locator("#account-signal-list tbody tr", has_text="spike.jump")
    spike_row.locator("details.end-signal summary").click()
    spike_row.locator("input[name=reason]").fill("one reporter's feed replayed old mail")
    spike_row.locator("button[type=submit]").click()
    page.wait_for_url(f"{site}/accounts/4411?done=ended")
    ended_notice = page.locator("p.notice").inner_text()
    spike_state = (
        page.locator("#account-signal-list tbody tr", has_text="spike.jump")
        .locator(".signal-state")
        .inner_text()
    )
    guard.check("after ending a signal")
    page.click(f"#account-cases a[href='/cases/{ids['case_id']}']")
    page.wait_for_url(f"{site}/cases/{ids['case_id']}")
    case_signals = page.locator("#case-signal-list tbody tr").count()
    guard.check("on the case page")

    assert [h for h in headings if h.startswith(("Monitors", "Reputation", "Signals"))] == [
        "Monitors",
        "Reputation rates",
        "Signals",
    ]
    assert charts >= 4
    assert [row.split("\t")[0] for row in worst] == ["4411", "4411", "5522", "5522"]
    assert spikes == 1
    assert len(filtered) == 2
    assert all("blocklist.listed" in row for row in filtered)
    assert (title, standing) == ("Account 4411: Northwind", "healthy")
    assert account_charts == 3
    assert account_signals == 4
    assert case_signals == 3
    assert ended_notice == "The signal is ended."
    assert (spike_state.split()[0], "by ana" in spike_state) == ("resolved", True)
