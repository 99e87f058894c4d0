"""Signing in and out in a real headless Chromium, with the cookie settings used in production."""

from playwright.sync_api import Page

from abusedesk.access.model import LEAD
from abusedesk.bootstrap import Container
from tests.support.access import PASSWORD, create_user
from tests.support.browser import HostileContentGuard


def test_sign_in_lands_on_the_page_asked_for_and_sign_out_ends_it(
    container: Container, site: str, page: Page, guard: HostileContentGuard
) -> None:
    """A person is sent to sign in, signs in, lands back on the page, then signs out."""
    create_user(container, "alice", LEAD)

    page.goto(f"{site}/?tab=mine")
    at_sign_in = page.url
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    landed, heading = page.url, page.locator("h1").inner_text()
    page.click(".logout button")
    page.wait_for_load_state()

    assert at_sign_in == f"{site}/login?next=/%3Ftab%3Dmine"
    assert (landed, heading) == (f"{site}/?tab=mine", "Signed in as Test alice")
    assert page.url == f"{site}/login"
    page.goto(f"{site}/")
    assert page.url.startswith(f"{site}/login")
    guard.check("through sign-in and sign-out")
