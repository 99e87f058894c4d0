"""The whole enforcement loop over real local parts, from complaints to the customer told.

Complaints arrive by SMTP at the intake; with the provider's sending figures they put the
account over the pause threshold. An analyst proposes the pause on the case page in
headless Chromium, a lead approves it in another browser, and the provider's webhook
receiver on 127.0.0.1 verifies one signed call. The notice reaches an SMTP sink with the
figures and the evidence redacted; the customer answers it by mail (the answer lands on
the case), opens its portal link in Chromium and appeals; a third analyst overturns; the
receiver gets the signed reinstatement and the customer is told, in the same thread.
Every step is in the audit log, whose chains still verify.
"""

import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page
from pydantic import SecretStr
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.intake.smtp import SmtpIntakeServer
from abusedesk.storage import audit, notices
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Account, AuditEntry, Case
from abusedesk.web.app import create_app
from tests.factories.inventory import make_account
from tests.support.access import PASSWORD, access_settings
from tests.support.browser import HostileContentGuard
from tests.support.notices import SmtpSink, add_sending, hours_ago, smtp_sink
from tests.support.portal import COMPLAINANT, complaint_naming
from tests.support.web import serving
from tests.support.webhook import SECRET, Receiver, running_receiver
from tests.support.workbench import DOMAIN, analyst_in

CONTACT = "ops@news.example.com"
LINK = re.compile(r"https://desk\.example(/portal/[A-Za-z0-9_.\-]+)")
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n"


@dataclass
class Loop:
    """The served app and the real parts around it."""

    container: Container
    base_url: str
    receiver: Receiver
    sink: SmtpSink
    intake_port: int


@pytest.fixture
def loop(database_url: str, tmp_path: Path) -> Iterator[Loop]:
    """Serve the app with the webhook connector, SMTP delivery to a sink, and an SMTP intake."""
    with running_receiver() as receiver, smtp_sink() as sink:
        base = access_settings(database_url, tmp_path, allow_plain_http=False)
        settings = base.model_copy(
            update={
                "connector": base.connector.model_copy(
                    update={
                        "kind": "webhook",
                        "url": receiver.url,
                        "secrets": [SecretStr(SECRET.decode())],
                    }
                ),
                "notices": base.notices.model_copy(
                    update={
                        "delivery": "smtp",
                        "smtp_port": sink.port,
                        "link_keys": {"k1": SecretStr("link-key-" * 5)},
                        "link_key_id": "k1",
                        "redaction_key": SecretStr("redaction-key-" * 4),
                        "reply_domain": "desk.example",
                        "from_address": "Abuse Desk <abuse-desk@desk.example>",
                        "portal_base_url": "https://desk.example",
                    }
                ),
            }
        )
        container = build(settings)
        intake = SmtpIntakeServer(
            container.intake,
            host="127.0.0.1",
            port=0,
            recipients=["abuse@"],
            max_bytes=settings.storage.max_report_bytes,
            rate_per_second=1000.0,
            rate_burst=1000,
            hostname="intake.test",
            reply_mailbox=settings.notices.reply_mailbox,
        )
        intake.start()
        try:
            with serving(create_app(container)) as base_url:
                yield Loop(container, base_url, receiver, sink, int(intake.port))
        finally:
            intake.stop()
            container.close()


def _send_to_intake(loop: Loop, message: bytes, recipient: str, sender: str) -> None:
    with smtplib.SMTP("127.0.0.1", loop.intake_port, timeout=10) as smtp:
        smtp.sendmail(sender, [recipient], message)


def _settle(loop: Loop) -> None:
    """Run the pipeline until idle, then the periodic work (enforcement, mail delivery)."""
    while loop.container.embedded.run_once():
        pass
    loop.container.embedded.run_tenders(utcnow())


def _sign_in(page: Page, base_url: str, path: str, username: str) -> None:
    page.goto(f"{base_url}{path}")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")


def _calls(receiver: Receiver, kind: str) -> list[dict[str, Any]]:
    """Return the verified calls of *kind* (enforcement_action, suppression_list) in order."""
    return [call for call in receiver.applied if call["type"] == kind]


def _mail_to(sink: SmtpSink, address: str) -> list[EmailMessage]:
    return [m.message for m in list(sink.received) if address in m.rcpt_tos]


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "the message has no text part"
    return str(body.get_content())


def _account_over_the_pause_threshold(loop: Loop) -> int:
    """An account that sent 12,400 messages to feedback-loop domains with 77 complaints."""
    now = utcnow()
    with unit_of_work(loop.container.sessions) as session:
        account_id, _ = make_account(session, "4411", domain=DOMAIN)
        session.get_one(Account, account_id).contact_email = CONTACT
        for day in range(6):
            add_sending(
                session,
                account_id,
                hours_ago(now, 24 * day + 2),
                sent=2100,
                fbl_sent=2000,
                complaints=12,
            )
        add_sending(session, account_id, hours_ago(now, 150), sent=450, fbl_sent=400, complaints=5)
    return account_id


def test_complaints_to_pause_to_appeal_to_reinstatement_over_real_parts(
    loop: Loop, page: Page, browser: Browser
) -> None:
    """The issue's loop, end to end, with every step audited."""
    container = loop.container
    for username, role in (("ana", "analyst_basic"), ("lee", "lead"), ("cleo", "analyst_advanced")):
        analyst_in(container, username, role, "triage")
    account_id = _account_over_the_pause_threshold(loop)

    # 1. Complaints arrive by SMTP and fold into a case about the account.
    for serial in (1, 2, 3):
        _send_to_intake(
            loop, complaint_naming(COMPLAINANT, serial), "abuse@intake.test", "fbl@isp.example"
        )
    _settle(loop)
    with read_only(container.sessions) as session:
        case_id = session.scalar(select(Case.id).where(Case.account_id == account_id))
    assert case_id is not None, "the complaints made no case"
    # The complainant's address reaches the provider's suppression list, as a hash only.
    (suppressions,) = _calls(loop.receiver, "suppression_list")
    assert (suppressions["account"], suppressions["hash"]) == ("4411", "sha256-lowercase")
    assert [e["address_sha256"] for e in suppressions["entries"]] == [
        sha256(COMPLAINANT.encode()).hexdigest()
    ]

    # 2. Ana proposes the pause the policy asks for; it waits for a second analyst.
    guard = HostileContentGuard(page)
    _sign_in(page, loop.base_url, f"/cases/{case_id}", "ana")
    enforcement = page.locator("#enforcement").inner_text()
    assert "0.62%" in enforcement
    assert "12,400" in enforcement
    assert "says pause" in enforcement
    page.select_option("#propose-action-name", "pause")
    page.fill("#propose-reason", "Complaint rate over the pause threshold; see the figures.")
    with page.expect_navigation():
        page.click("#propose-action button[type=submit]")
    assert "waits for a second analyst" in page.locator("p.notice").inner_text()
    guard.check("after proposing")
    assert _calls(loop.receiver, "enforcement_action") == []

    # 3. Lee approves from /actions; the pause runs through the signed webhook.
    lead = browser.new_context()
    lead_page = lead.new_page()
    _sign_in(lead_page, loop.base_url, "/actions", "lee")
    lead_page.locator("#awaiting-approval form.approve-action button[type=submit]").first.click()
    lead_page.wait_for_url(re.compile(r".*/actions\?done=executed$"))
    lead.close()
    (pause,) = _calls(loop.receiver, "enforcement_action")
    assert (pause["action"], pause["account"]) == ("pause", "4411")
    with read_only(container.sessions) as session:
        assert session.get_one(Account, account_id).standing == "paused"

    # 4. The notice reaches the customer by SMTP: figures, redacted evidence, portal link.
    _settle(loop)
    (notice,) = _mail_to(loop.sink, CONTACT)
    text = _text(notice)
    assert "paused your account's sending" in text
    assert "0.62%" in text
    assert "12,400" in text
    assert COMPLAINANT not in text
    assert COMPLAINANT not in notice.as_string()
    assert re.search(r"\[recipient [0-9a-f]{8}\]", text), text
    reply_to = str(notice["Reply-To"] or notice["From"])
    assert re.search(rf"case\+{case_id}\.k1\.[a-z2-7]{{16}}@desk\.example", reply_to)
    link = LINK.search(text)
    assert link is not None, "the notice has no portal link"

    # 5. The customer answers by mail; the answer lands on the case, not as a report.
    answer = EmailMessage()
    answer["From"] = CONTACT
    answer["To"] = re.search(r"case\+[^>\s]+", reply_to).group(0)  # type: ignore[union-attr]
    answer["Subject"] = f"Re: {notice['Subject']}"
    answer["Message-ID"] = "<answer-1@news.example.com>"
    answer["In-Reply-To"] = notice["Message-ID"]
    answer.set_content("We found a list broker's addresses in our audience and removed them.")
    _send_to_intake(loop, answer.as_bytes(), str(answer["To"]), CONTACT)
    _settle(loop)
    with read_only(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    replies = [m for m in thread if m.direction == "in"]
    assert [m.body.strip() for m in replies] == [
        "We found a list broker's addresses in our audience and removed them."
    ]

    # 6. The customer opens the portal link in Chromium and appeals with a file.
    customer = browser.new_context()
    customer_page = customer.new_page()
    customer_guard = HostileContentGuard(customer_page)
    customer_page.goto(f"{loop.base_url}{link.group(1)}")
    customer_guard.check("on the portal")
    assert COMPLAINANT not in customer_page.content()
    proof = Path(loop.container.settings.storage.evidence_dir).parent / "double-opt-in.pdf"
    proof.write_bytes(PDF)
    customer_page.fill("#root-cause", "A form without confirmation let a broker add addresses.")
    customer_page.fill("#fix", "Double opt-in on every form; the broker's addresses are gone.")
    customer_page.fill("#prevention", "Weekly complaint review; a cap on new contacts a day.")
    customer_page.set_input_files("#attachments", str(proof))
    with customer_page.expect_navigation():
        customer_page.click("#appeal-form button[type=submit]")
    assert "your appeal is received" in customer_page.locator(".notice").inner_text()
    customer.close()

    # 7. Cleo, who neither proposed nor approved the pause, overturns it.
    reviewer = browser.new_context()
    reviewer_page = reviewer.new_page()
    _sign_in(reviewer_page, loop.base_url, "/appeals", "cleo")
    with reviewer_page.expect_navigation():
        reviewer_page.locator("a[href^='/appeals/']").first.click()
    appeal_id = int(reviewer_page.url.rstrip("/").rsplit("/", 1)[1])
    reviewer_page.check("input[name=decision][value=overturn]")
    reviewer_page.fill("#decision-reason", "The broker's list is gone and the complaints stopped.")
    with reviewer_page.expect_navigation():
        reviewer_page.click("#decide-form button[type=submit]")
    assert "The appeal is decided" in reviewer_page.locator(".notice").inner_text()
    reviewer.close()

    # 8. The reinstatement reaches the receiver, signed; the account is healthy again.
    assert set(loop.receiver.outcomes()) == {"applied"}, "a call was refused"
    _, reinstate = _calls(loop.receiver, "enforcement_action")
    assert reinstate["action"] == "reinstate"
    assert reinstate["reverses_action_id"] == pause["action_id"]
    with read_only(container.sessions) as session:
        account = session.get_one(Account, account_id)
        assert (account.standing, account.metrics_since is not None) == ("healthy", True)

    # 9. The customer is told, in the notice's thread.
    _settle(loop)
    told = _mail_to(loop.sink, CONTACT)[1:]
    subjects = sorted(str(m["Subject"]) for m in told)
    assert subjects == [
        f"[case {case_id}] Decision on your appeal",
        f"[case {case_id}] We have reinstated your account in good standing",
        f"[case {case_id}] We received your appeal",
    ], subjects
    (decision,) = [m for m in told if "Decision" in str(m["Subject"])]
    assert "overturn" in _text(decision).lower()
    for message in told:
        assert notice["Message-ID"] in str(message["References"]), message["Subject"]

    # 10. Every step is in the audit log, by the person who took it, and the chains hold.
    with read_only(container.sessions) as session:
        steps = {
            (tag, actor) for tag, actor in session.execute(select(AuditEntry.tag, AuditEntry.actor))
        }
        report = audit.verify(session)
    for step in (
        ("enforcement:action:propose", "ana"),
        ("enforcement:action:approve", "lee"),
        ("enforcement:action:execute", "lee"),
        ("notices:message:queue", "lee"),
        ("notices:message:send", "system:delivery"),
        ("notices:message:receive", f"customer:{CONTACT}"),
        ("appeal:appeal:submit", "customer:4411"),
        ("appeal:appeal:decide", "cleo"),
        ("enforcement:action:reverse", f"appeal:{appeal_id}"),
        ("enforcement:action:execute", "cleo"),
        ("notices:message:queue", "system:notices"),
        ("suppression:push", "system:suppressions"),
        ("enforcement:action:reversed", "cleo"),
    ):
        assert step in steps, f"{step} is not in the audit log: {sorted(steps)}"
    assert report.intact, report.problems
