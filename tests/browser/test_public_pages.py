"""The public pages in a real headless Chromium: they work, and hostile input stays text."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page

from abusedesk.bootstrap import build
from abusedesk.config import FormSettings, Settings
from abusedesk.web.app import create_app
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.web import serving


@pytest.fixture
def site(settings: Settings) -> Iterator[str]:
    """Serve the app with a form that takes as many posts as the test sends."""
    form = FormSettings(token_secret="browser-test-secret", per_second=1000, burst=1000)
    built = build(settings.model_copy(update={"form": form}))
    try:
        with serving(create_app(built)) as base_url:
            yield base_url
    finally:
        built.close()


def fill_report(page: Page, *, sender: str, text: str, reporter: str) -> None:
    """Fill the report form on the current page and send it."""
    page.fill("#sender", sender)
    page.fill("#text", text)
    page.fill("#reporter", reporter)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_report_sent_through_the_form_gets_its_reference(
    site: str, page: Page, guard: HostileContentGuard
) -> None:
    """A person fills the form in the browser and reads the reference of the stored report."""
    page.goto(f"{site}/report")
    fill_report(
        page,
        sender="offers@news.example.com",
        text="Subject: You won\n\nClaim it at http://offers.news.example.com/win",
        reporter="someone@mail.example.net",
    )

    summary = page.locator(".report-summary").inner_text()
    assert (
        page.locator("h1").inner_text(),
        "offers@news.example.com" in summary,
        page.locator("strong").inner_text().isdigit(),
    ) == ("Thank you for your report", True, True)
    guard.check("on the thanks page")


def test_hostile_input_renders_inert_on_the_form_and_thanks_pages(
    site: str, page: Page, guard: HostileContentGuard
) -> None:
    """Every payload comes back as the text typed: on the refused form and on the thanks page."""
    payloads = hostile_payloads()
    assert len(payloads) >= 50
    for number, payload in enumerate(payloads, start=1):
        page.goto(f"{site}/report")
        # A malformed reporter address is refused by the server (the browser's own check
        # is switched off), so the form comes back with the values.
        page.evaluate("document.querySelector('form.report-form').noValidate = true")
        fill_report(page, sender=payload, text=payload, reporter=f"{payload}@")
        assert page.input_value("#text").strip() == payload.strip(), f"payload {number}"
        guard.check(f"on the refused form, payload {number}: {payload!r}")

        fill_report(page, sender=payload, text=payload, reporter="someone@mail.example.net")
        assert page.locator(".report-summary").count() == 1, f"payload {number} was not stored"
        guard.check(f"on the thanks page, payload {number}: {payload!r}")
