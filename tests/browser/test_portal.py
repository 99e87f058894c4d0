"""A customer appeals from the portal in a real headless Chromium; a third analyst overturns.

The pause ran through the signed webhook to a receiver on 127.0.0.1; the customer opens
the notice's link, reads the redacted evidence, appeals with a file; the reviewer, who
neither proposed nor approved the pause, overturns it in the workbench; the receiver gets
the signed reinstatement, the account is healthy, the customer is told and the portal
shows the decision. Every page is checked for live markup and script runs.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page

from abusedesk.bootstrap import Container
from abusedesk.storage import appeals
from abusedesk.storage.db import read_only
from abusedesk.web.app import create_app
from tests.support.access import PASSWORD
from tests.support.browser import HostileContentGuard
from tests.support.casework import subject_tags
from tests.support.enforcement_pages import enforcement_container
from tests.support.portal import COMPLAINANT, Noticed, appeal_outcome, paused_with_notice, team
from tests.support.web import serving
from tests.support.webhook import Receiver, running_receiver

PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n"


@dataclass
class Served:
    """The app behind the browser, its container, the receiver, and the customer's notice."""

    container: Container
    base_url: str
    receiver: Receiver
    noticed: Noticed


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """Serve the app with its connector pointed at a webhook receiver; pause one account."""
    with running_receiver() as receiver:
        container = enforcement_container(
            database_url, tmp_path, receiver.url, allow_plain_http=False
        )
        try:
            team(container)
            noticed = paused_with_notice(container)
            with serving(create_app(container)) as base_url:
                yield Served(container, base_url, receiver, noticed)
        finally:
            container.close()


def _sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_customer_appeals_in_the_browser_and_a_third_analyst_overturns(
    served: Served, page: Page, guard: HostileContentGuard, tmp_path: Path
) -> None:
    """Portal, appeal with a file, overturn, signed reinstatement, the customer told."""
    portal_url = f"{served.base_url}{served.noticed.path}"
    assert [call["action"] for call in served.receiver.applied] == ["pause"]

    page.goto(portal_url)
    guard.check("on the portal page")
    assert page.locator("#evidence-table tbody tr").count() >= 1
    assert COMPLAINANT not in page.content()
    proof = tmp_path / "opt-in-proof.pdf"
    proof.write_bytes(PDF)
    page.fill("#root-cause", "A signup form without confirmation let a list broker add addresses.")
    page.fill("#fix", "Double opt-in on every form; the broker's addresses are removed.")
    page.fill("#prevention", "Weekly complaint review and a cap on new contacts per day.")
    page.set_input_files("#attachments", str(proof))
    with page.expect_navigation():
        page.click("#appeal-form button[type=submit]")
    guard.check("after appealing")
    assert "your appeal is received" in page.locator(".notice").inner_text()
    assert "waiting for review" in page.locator("#appeal-state").inner_text()

    with read_only(served.container.sessions) as session:
        filed = appeals.appeal_of_action(session, served.noticed.action_id)
    assert filed is not None
    assert [a.filename for a in filed.attachments] == ["opt-in-proof.pdf"]

    _sign_in(page, served.base_url, "cleo")
    page.goto(f"{served.base_url}/appeals")
    guard.check("on the appeals list")
    with page.expect_navigation():
        page.click(f"#appeal-{filed.id} a[href='/appeals/{filed.id}']")
    guard.check("on the appeal page")
    page.check("input[name=decision][value=overturn]")
    page.fill("#decision-reason", "The broker's list is gone and complaints stopped.")
    with page.expect_navigation():
        page.click("#decide-form button[type=submit]")
    guard.check("after deciding")
    assert "The appeal is decided" in page.locator(".notice").inner_text()

    accepted = served.receiver.applied
    assert [call["action"] for call in accepted] == ["pause", "reinstate"]
    assert accepted[1]["reverses_action_id"] == served.noticed.action_id
    assert served.receiver.outcomes() == ["applied", "applied"]

    page.goto(portal_url)
    guard.check("on the portal after the decision")
    assert "decided (overturned)" in page.locator("#appeal-state").inner_text()
    tampered = portal_url[:-1] + ("B" if portal_url[-1] != "B" else "C")
    page.goto(tampered)
    assert "This link cannot be used" in page.locator("h1").inner_text()

    with read_only(served.container.sessions) as session:
        steps = subject_tags(session, "appeal", filed.id)
    assert appeal_outcome(served.container, served.noticed, filed.id) == (
        "healthy",
        ["appeal_received", "appeal_decision"],
    )
    assert steps == ["appeal:appeal:submit", "appeal:appeal:decide"]
