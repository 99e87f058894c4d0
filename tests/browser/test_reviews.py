"""A lead opens a review from a case page in a real headless Chromium, writes it with hostile
text, adds a follow-up, closes it and downloads the Markdown."""

from playwright.sync_api import Page

from abusedesk.bootstrap import Container
from abusedesk.storage.db import unit_of_work
from tests.support.access import PASSWORD, create_user
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.reviews import seed_incident


def test_a_lead_reviews_a_case_from_its_page_and_downloads_the_markdown(
    container: Container, site: str, page: Page, guard: HostileContentGuard
) -> None:
    """Open a review, save hostile text (inert on the page), add and finish a follow-up,
    close, and download the Markdown, which holds the text and the timeline."""
    create_user(container, "lee", "lead")
    create_user(container, "ana", "analyst_basic")
    with unit_of_work(container.sessions) as session:
        incident = seed_incident(session)
    hostile = " ".join(hostile_payloads()[:6])[:1500]
    page.goto(f"{site}/cases/{incident.case_id}")
    page.fill("#username", "lee")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/cases/{incident.case_id}")
    page.click("#open-case-review button[type=submit]")
    page.wait_for_url("**/reviews/*?done=opened")
    review_url = page.url.split("?")[0]
    assert page.locator("#timeline tbody tr").count() == 12
    page.fill("#field-impact", f"40 complaints {hostile}")
    page.fill("#field-root_cause", "A purchased list.")
    page.click("#review-template-form button[type=submit]")
    page.wait_for_url("**?done=saved")
    guard.check("after saving the template")
    page.fill("#item-title", "Ask new senders for list provenance")
    page.fill("#item-owner", "ana")
    page.click("#add-follow-up button[type=submit]")
    page.wait_for_url("**?done=added")
    page.fill("#follow-up-items input[name=outcome]", "asked in the notice")
    page.click("#follow-up-items button[value=done]")
    page.wait_for_url("**?done=finished")
    page.click("#close-review button[type=submit]")
    page.wait_for_url("**?done=closed")
    guard.check("on the closed review")
    assert page.inner_text("#text-root_cause") == "A purchased list."
    with page.expect_download() as download:
        page.click("#export-md")
    markdown = download.value.path().read_text(encoding="utf-8")
    assert page.url.startswith(review_url)
    assert "## Root cause\n\nA purchased list.\n" in markdown
    assert "| Ask new senders for list provenance | ana | - | done | asked in the notice |" in (
        markdown
    )
    assert "We fixed it" in markdown
