"""The analyst's loop in a real headless Chromium, over cases full of hostile content.

Sign in, pull the next case with the keyboard, read the evidence, write a note, escalate,
resolve;
every page on the way is checked for script runs, dialogs and live markup from the
injection payloads the complaints carry in every field a reporter controls.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from abusedesk.access.model import ANALYST_BASIC
from tests.factories.hostile import hostile_complaint
from tests.support.access import PASSWORD
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.unattributed import ingest
from tests.support.workbench import DOMAIN, Workbench, analyst_in, complaint_case, served_workbench


@pytest.fixture
def bench(database_url: str, tmp_path: Path) -> Iterator[Workbench]:
    """Serve the workbench with one analyst and a case made of hostile complaints."""
    with served_workbench(database_url, tmp_path) as served:
        analyst_in(served.container, "ana", ANALYST_BASIC, "triage")
        complaint_case(served.container)
        payloads = hostile_payloads()
        ingest(
            served.container,
            [hostile_complaint(n, p, from_domain=DOMAIN) for n, p in enumerate(payloads)],
        )
        yield served


def sign_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", "ana")
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_an_analyst_works_a_hostile_case_from_the_keyboard(
    bench: Workbench, page: Page, guard: HostileContentGuard
) -> None:
    """Next case, evidence, note, escalate, resolve: everything hostile stays text."""
    sign_in(page, bench.base_url)
    page.goto(f"{bench.base_url}/queues")
    guard.check("on the queue list")

    page.keyboard.press("n")
    page.wait_for_url("**/cases/*")
    case_url = page.url
    assert page.locator("#assignee").inner_text() == "ana"
    guard.check("on the case page")

    evidence_links = page.locator("a", has_text="evidence")
    assert evidence_links.count() == len(hostile_payloads()) + 1
    for index in range(evidence_links.count()):
        page.goto(case_url)
        with page.expect_navigation():
            page.locator("a", has_text="evidence").nth(index).click()
        guard.check(f"on evidence page {index}")
    assert "hxxp://offers[.]news[.]example[.]com/" in page.content()

    page.goto(case_url)
    page.keyboard.press("c")
    page.keyboard.type("Sent to the customer; see @ana")
    with page.expect_navigation():
        page.click("#add-note button[type=submit]")
    assert "Sent to the customer; see @ana" in page.locator(".timeline").inner_text()

    page.keyboard.press("e")
    page.keyboard.type("the landing pages imitate a bank")
    page.fill("#escalate-target", "legal")
    with page.expect_navigation():
        page.click("#escalate-case button[type=submit]")
    assert "escalated" in page.locator(".facts .state").inner_text()
    assert "legal" in page.locator(".escalations").inner_text()
    guard.check("after escalating")

    page.keyboard.press("r")
    page.keyboard.type("customer removed the list")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "resolved" in page.locator(".facts .state").inner_text()
    guard.check("after resolving")


def test_search_and_case_pages_show_payloads_as_typed(
    bench: Workbench, page: Page, guard: HostileContentGuard
) -> None:
    """A payload typed into search is read as words and shown back as text."""
    sign_in(page, bench.base_url)
    for payload in hostile_payloads()[:20]:
        page.goto(f"{bench.base_url}/search")
        page.fill("#q", payload)
        with page.expect_navigation():
            page.press("#q", "Enter")
        assert page.input_value("#q") == payload
        guard.check(f"on the search page for {payload!r}")
