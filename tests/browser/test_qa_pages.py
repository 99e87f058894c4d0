"""QA in a real headless Chromium: a reviewer scores a sample whose case notes hold hostile
markup, the analyst reads the review and acknowledges it; nothing hostile runs."""

import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Browser, Page

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage import case_notes, qa
from abusedesk.storage.db import read_only, unit_of_work
from tests.support.access import PASSWORD, create_user
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.casework import new_account
from tests.support.qa import closed_cases

RATINGS = {
    "attribution": "met",
    "decision": "met",
    "evidence": "not_met",
    "list_hygiene": "met",
    "notice": "met",
    "timeliness": "na",
    "notes": "met",
}


def _sign_in(page: Page, site: str, path: str, username: str) -> None:
    page.goto(f"{site}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{path}")


def test_scoring_and_acknowledging_in_the_browser(
    container: Container, site: str, page: Page, browser: Browser, tmp_path: Path
) -> None:
    """Quinn rates every criterion by clicking and saves; ana sees 84.6 and acknowledges."""
    for name, role in (("ana", "analyst_basic"), ("quinn", "qa")):
        create_user(container, name, role)
    hostile = " ".join(hostile_payloads()[:6])[:1500]
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        (case_id,) = closed_cases(
            session, new_account(session), "ana", 1, closed_at=now - timedelta(hours=1)
        )
        case_notes.add_note(session, case_id, f"checked {hostile}", author="ana", now=now)
        sample_id = qa.target_case(session, case_id, actor="quinn", now=now)
    guard = HostileContentGuard(page)

    _sign_in(page, site, f"/qa/samples/{sample_id}", "quinn")
    guard.check("on the sample page with hostile notes")
    for key, rating in RATINGS.items():
        page.check(f"input[name=rating_{key}][value={rating}]")
    page.fill("#comment-evidence", f"cite the events {hostile}")
    page.fill("#qa-comment", "otherwise sound")
    page.click("#score-form button[type=submit]")
    page.wait_for_url(re.compile(rf".*/qa/samples/{sample_id}\?done=scored$"))
    saved = page.locator("p.notice").inner_text()
    heading = page.locator(".qa-review h3").first.inner_text()
    guard.check("after scoring with hostile markup in a comment")
    page.screenshot(path=str(tmp_path / "qa-sample.png"), full_page=True)

    analyst_context = browser.new_context()
    analyst_context.set_default_timeout(10_000)
    analyst_page = analyst_context.new_page()
    analyst_guard = HostileContentGuard(analyst_page)
    _sign_in(analyst_page, site, "/qa/feedback", "ana")
    analyst_guard.check("on the feedback page")
    feedback = analyst_page.locator("article.qa-review h2").inner_text()
    analyst_page.click("article.qa-review form[action$='/acknowledge'] button")
    analyst_page.wait_for_url(re.compile(r".*/qa/feedback\?done=acknowledged$"))
    state = analyst_page.locator(".feedback-state").inner_text()
    analyst_context.close()

    assert saved == "The review is saved and sent to the analyst."
    assert heading.startswith("quinn: 84.6")
    assert f"#{case_id}" in feedback
    assert "84.6" in feedback
    assert state == "acknowledged"
    with read_only(container.sessions) as session:
        (review,) = qa.reviews_of_sample(session, sample_id)
    assert review.comment_on("evidence") == f"cite the events {hostile}"
