"""An analyst proposes a suspension in a real headless Chromium, a lead approves it in another,
and the provider's receiver on 127.0.0.1 gets one correctly signed call."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from abusedesk.bootstrap import Container
from tests.support.access import PASSWORD
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.enforcement_pages import (
    action_tags,
    actions,
    enforcement_container,
    idempotency_key,
    standing,
)
from tests.support.webhook import Receiver, running_receiver
from tests.support.workbench import analyst_in, complaint_case


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Run the provider's receiver on 127.0.0.1."""
    with running_receiver() as running:
        yield running


@pytest.fixture
def container(database_url: str, tmp_path: Path, receiver: Receiver) -> Iterator[Container]:
    """Return the container with a Secure session cookie and the webhook to *receiver*."""
    built = enforcement_container(database_url, tmp_path, receiver.url, allow_plain_http=False)
    yield built
    built.close()


def _sign_in(page: Page, site: str, path: str, username: str) -> None:
    page.goto(f"{site}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}{path}")


def test_a_lead_approves_an_analysts_suspension_and_the_receiver_gets_a_signed_call(
    container: Container,
    site: str,
    page: Page,
    browser: Browser,
    receiver: Receiver,
) -> None:
    """Propose on the case page, approve from /actions in a second browser, see it executed."""
    guard = HostileContentGuard(page)
    analyst_in(container, "ana", "analyst_basic", "triage")
    analyst_in(container, "lee", "lead", "triage")
    case_id = complaint_case(container)
    hostile = " ".join(hostile_payloads()[:6])[:1500]

    _sign_in(page, site, f"/cases/{case_id}", "ana")
    guard.check("on the case page")
    # With no action on the account yet, the propose form is open.
    assert page.locator("#enforcement details.propose").get_attribute("open") is not None
    page.select_option("#propose-action-name", "suspend")
    page.fill("#propose-cause", "spam")
    page.fill("#propose-reason", f"complaints keep coming {hostile}")
    page.click("#propose-action button[type=submit]")
    page.wait_for_url(re.compile(rf".*/cases/{case_id}\?done=proposed$"))
    proposed_notice = page.locator("p.notice").inner_text()
    waiting = page.locator("#enforcement article.action p.waiting").inner_text()
    guard.check("after proposing with hostile markup in the reason")
    action_id = actions(container)[0][0]
    calls_before = len(receiver.applied)

    lead_context = browser.new_context()
    lead_context.set_default_timeout(10_000)
    lead_page = lead_context.new_page()
    lead_guard = HostileContentGuard(lead_page)
    _sign_in(lead_page, site, "/actions", "lee")
    lead_guard.check("on /actions")
    awaiting = lead_page.locator("#awaiting-approval").inner_text()
    lead_page.click(f"#action-{action_id} form.approve-action button[type=submit]")
    lead_page.wait_for_url(re.compile(r".*/actions\?done=executed$"))
    approved_notice = lead_page.locator("p.notice").inner_text()
    lead_guard.check("after approving")
    lead_page.click(f"#executed >> a[href='/cases/{case_id}']")
    lead_page.wait_for_url(f"{site}/cases/{case_id}")
    executed_state = lead_page.locator(f"#action-{action_id} .action-state").inner_text()
    lead_guard.check("on the case page after the action ran")
    lead_context.close()

    assert proposed_notice == "The action is proposed; it waits for a second analyst."
    assert waiting == "Waiting for another analyst to approve."
    assert calls_before == 0
    assert f"#{action_id} suspend on account 4411" in awaiting
    assert approved_notice == "The action is executed."
    assert executed_state == "executed"
    assert standing(container) == "suspended"
    assert [(c["action"], c["idempotency_key"]) for c in receiver.applied] == [
        ("suspend", idempotency_key(container, action_id))
    ]
    assert receiver.outcomes() == ["applied"]
    assert action_tags(container, action_id) == [
        ("enforcement:action:propose", "ana"),
        ("enforcement:action:approve", "lee"),
        ("enforcement:action:execute", "lee"),
    ]
