"""An admin changes a routing rule in a real headless Chromium, and the next case follows it."""

import re

from playwright.sync_api import Page

from abusedesk.access.model import ADMIN
from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage import queues
from abusedesk.storage.db import unit_of_work
from tests.support.access import PASSWORD, create_user
from tests.support.browser import HostileContentGuard, hostile_payloads
from tests.support.workbench import complaint_case


def test_an_admin_sends_spam_to_a_new_queue_and_the_next_case_lands_there(
    container: Container, site: str, page: Page, guard: HostileContentGuard
) -> None:
    """Create a queue, point the spam rule at it, ingest a complaint, find the case there."""
    create_user(container, "root", ADMIN)
    with unit_of_work(container.sessions) as session:
        rules = {
            "default_queue": "triage",
            "rules": [
                {
                    "name": "spam",
                    "queue": "triage",
                    "when": [{"field": "category_group", "op": "equals", "value": "spam"}],
                }
            ],
            "note": "spam has a rule of its own",
        }
        queues.save_rules(session, rules, actor="test", now=utcnow())

    page.goto(f"{site}/admin/routing")
    page.fill("#username", "root")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/admin/routing")
    guard.check("on the routing page")

    page.click("nav.admin-nav >> text=Queues")
    page.fill("#queue-name", "spam-desk")
    page.select_option("#queue-department", "trust_safety")
    page.fill("#queue-response", "2")
    page.fill("#queue-resolution", "24")
    # What admins type is shown back to everyone: it must render inert like any report.
    page.fill("#queue-description", " ".join(hostile_payloads()[:8])[:2000])
    page.click("#save-queue button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/queues\?done=queue$"))
    queue_saved = page.locator("p.notice").inner_text()
    guard.check("after saving a queue with hostile markup in its description")

    page.click("nav.admin-nav >> text=Routing")
    page.select_option("#rule-1-queue", "spam-desk")
    page.fill("#rule-1-note", "spam to the spam desk")
    page.click("#rule-1 button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/routing\?done=queue$"))
    heading = page.locator("h1").inner_text()
    rule_queue = page.locator("#rule-1 td.rule-queue").inner_text()
    history_top = page.locator("table.routing-history tbody tr").first.inner_text()
    guard.check("after changing the rule")

    case_id = complaint_case(container)

    page.click("nav.workbench-nav >> text=Queues")
    page.click("table.queues >> text=spam-desk")
    page.wait_for_load_state()
    listed = page.locator("table.cases tbody").inner_text()
    guard.check("on the spam-desk queue")

    assert queue_saved == "The queue is saved."
    assert heading == "Routing rules, version 3"
    assert rule_queue == "spam-desk"
    assert "spam to the spam desk" in history_top
    assert page.locator("h1").inner_text() == "Queue spam-desk"
    assert f"#{case_id}" in listed
