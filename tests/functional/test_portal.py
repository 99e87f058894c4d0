"""The customer portal and the appeals pages over real HTTP.

A notice's link opens the portal without any sign-in: the notice, the evidence with the
complainant's address replaced, a reply form and an appeal form. Tampered, expired and
made-up links get one 403 page that says nothing of why. Posts need a form token made for
that link, come from this site, and stay within the per-client budget and the attachment
limits. The appeal lands in /appeals, where a reviewer who had no hand in the action
decides it; attachments download audited, never inline.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.notices.links import portal_token
from abusedesk.storage import appeals, enforcement, notices
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.enforcement import LocalConnector
from abusedesk.storage.tables import Case, QueueRow
from abusedesk.web.app import create_app
from abusedesk.web.portal import PortalState, form_token, form_token_is_fresh
from tests.support.access import access_settings
from tests.support.casework import audit_trail
from tests.support.enforcement_pages import signed_in
from tests.support.portal import (
    COMPLAINANT,
    CONTACT,
    Noticed,
    appeal_outcome,
    context_of,
    paused_with_notice,
    team,
)
from tests.support.web import serving

MAX_FILES = 3
MAX_BYTES = 64 * 1024
PDF = b"%PDF-1.7\n1 0 obj << >> endobj\ntrailer\n%%EOF\n"
WORDS = {
    "root_cause": "A signup form without confirmation let a list broker add addresses.",
    "fix": "Double opt-in on every form; the broker's addresses are removed.",
    "prevention": "Weekly complaint review and a cap on new contacts per day.",
}
REFUSAL = "This link cannot be used"
_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@dataclass
class Portal:
    """A served app, its container, and a paused account's notice."""

    container: Container
    base_url: str
    app_state: object
    noticed: Noticed


@pytest.fixture
def portal(database_url: str, tmp_path: Path) -> Iterator[Portal]:
    """Serve the app with the team and one paused account whose notice has a link."""
    settings = access_settings(database_url, tmp_path)
    notices_settings = settings.notices.model_copy(
        update={"appeal_max_attachments": MAX_FILES, "appeal_max_attachment_bytes": MAX_BYTES}
    )
    container = build(settings.model_copy(update={"notices": notices_settings}))
    try:
        team(container)
        noticed = paused_with_notice(container)
        app = create_app(container)
        with serving(app) as base_url:
            yield Portal(container, base_url, app.state, noticed)
    finally:
        container.close()


def _form_token(page: str) -> str:
    found = _FORM_TOKEN.search(page)
    assert found is not None, "the page has no form token"
    return found.group(1)


def _appeal(
    http: httpx.Client,
    portal: Portal,
    files: list[tuple[str, tuple[str, bytes, str]]],
    **typed: str,
) -> httpx.Response:
    page = http.get(portal.noticed.path)
    data = {**WORDS, **typed, "form_token": _form_token(page.text)}
    return http.post(f"{portal.noticed.path}/appeal", data=data, files=files or None)


def _appeals_of(portal: Portal) -> list[appeals.AppealRecord]:
    with read_only(portal.container.sessions) as session:
        found = appeals.appeal_of_action(session, portal.noticed.action_id)
    return [] if found is None else [found]


# --- the page -------------------------------------------------------------------------


def test_the_link_opens_the_notice_with_redacted_evidence_and_both_forms(portal: Portal) -> None:
    """No sign-in; the complainant's address never shows; nothing may be cached."""
    with httpx.Client(base_url=portal.base_url) as http:
        page = http.get(portal.noticed.path)
    assert page.status_code == 200
    text = page.text
    assert "Our message" in text
    assert 'id="evidence-table"' in text
    assert COMPLAINANT not in text
    assert "jane.doe" not in text
    assert "[recipient " in text  # the keyed tag standing in for the address
    assert 'id="appeal-form"' in text
    assert 'id="reply-form"' in text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "set-cookie" not in page.headers


def test_tampered_expired_and_made_up_links_get_the_same_refusal(portal: Portal) -> None:
    """403 with one wording, whatever is wrong with the link; nothing about why."""
    token = portal.noticed.token
    flipped = token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:]
    with read_only(portal.container.sessions) as session:
        keyring = context_of(portal.container).keyring
        assert session is not None
    expired = portal_token(
        keyring,
        str(portal.noticed.message_id),
        str(portal.noticed.account_id),
        utcnow() - timedelta(minutes=1),
    )
    other_account = portal_token(
        keyring, str(portal.noticed.message_id), "999", utcnow() + timedelta(days=1)
    )
    answers = {}
    with httpx.Client(base_url=portal.base_url) as http:
        for name, bad in {
            "tampered": flipped,
            "expired": expired,
            "another account": other_account,
            "made up": "not-a-token",
            "too long": "p1." + "a" * 700,
        }.items():
            page = http.get(f"/portal/{bad}")
            answers[name] = (page.status_code, page.text)
        posted = http.post(f"/portal/{expired}/reply", data={"body": "hello"})
    assert {status for status, _ in answers.values()} == {403}
    # One page, word for word, whatever is wrong with the link.
    assert len({text for _, text in answers.values()}) == 1
    assert REFUSAL in answers["expired"][1]
    assert posted.status_code == 403


# --- replies ----------------------------------------------------------------------------


def test_a_reply_lands_on_the_case(portal: Portal) -> None:
    """With the page's form token the reply is stored as an inbound portal message."""
    with httpx.Client(base_url=portal.base_url) as http:
        page = http.get(portal.noticed.path)
        sent = http.post(
            f"{portal.noticed.path}/reply",
            data={"body": "We removed the list today.", "form_token": _form_token(page.text)},
        )
        after = http.get(sent.headers["location"])
    assert (sent.status_code, sent.headers["location"]) == (
        303,
        f"{portal.noticed.path}?done=replied",
    )
    assert "your reply is on its way" in after.text
    assert "We removed the list today." in after.text
    with read_only(portal.container.sessions) as session:
        inbound = [m for m in notices.case_messages(session, portal.noticed.case_id) if m.inbound]
    assert [(m.channel, m.body) for m in inbound] == [("portal", "We removed the list today.")]


def test_posts_without_the_form_token_or_from_another_site_are_refused(portal: Portal) -> None:
    """A missing or foreign form token: 400 and the words kept; another Origin: 403."""
    key = context_of(portal.container).keyring
    # A genuine form token, but made for another link.
    borrowed_token = form_token(key.key(key.current), "another-link", time.time())
    with httpx.Client(base_url=portal.base_url) as http:
        bare = http.post(f"{portal.noticed.path}/reply", data={"body": "first try"})
        borrowed = http.post(
            f"{portal.noticed.path}/reply",
            data={"body": "second try", "form_token": borrowed_token},
        )
        page = http.get(portal.noticed.path)
        foreign = http.post(
            f"{portal.noticed.path}/reply",
            data={"body": "third try", "form_token": _form_token(page.text)},
            headers={"Origin": "https://evil.example"},
        )
    assert (bare.status_code, "first try" in bare.text, "nothing was sent" in bare.text) == (
        400,
        True,
        True,
    )
    assert borrowed.status_code == 400
    assert foreign.status_code == 403
    with read_only(portal.container.sessions) as session:
        inbound = [m for m in notices.case_messages(session, portal.noticed.case_id) if m.inbound]
    assert inbound == []


def test_each_client_has_a_request_budget(portal: Portal) -> None:
    """Past the budget the portal answers 429 with Retry-After."""
    portal.app_state.portal = PortalState(  # type: ignore[attr-defined]
        PeerRateLimiter(per_second=0.01, burst=2)
    )
    with httpx.Client(base_url=portal.base_url) as http:
        codes = [http.get(portal.noticed.path).status_code for _ in range(3)]
        last = http.get(portal.noticed.path)
    assert codes == [200, 200, 429]
    assert (last.status_code, last.headers["retry-after"]) == (429, "100")


# --- appeals ----------------------------------------------------------------------------


def test_an_appeal_with_a_file_lands_in_the_appeals_queue(portal: Portal) -> None:
    """Stored with its file; the case moves to the appeals queue; the customer is told."""
    with httpx.Client(base_url=portal.base_url) as http:
        sent = _appeal(
            http, portal, [("attachments", ("../opt-in proof.pdf", PDF, "application/pdf"))]
        )
        after = http.get(sent.headers["location"])
        again = _appeal(http, portal, [])
    assert (sent.status_code, sent.headers["location"]) == (
        303,
        f"{portal.noticed.path}?done=appealed",
    )
    assert "your appeal is received" in after.text
    assert 'id="appeal-state"' in after.text
    assert 'id="appeal-form"' not in after.text
    assert again.status_code == 409
    assert "already appealed" in again.text
    (filed,) = _appeals_of(portal)
    assert (filed.state, filed.message_id, filed.root_cause) == (
        "open",
        portal.noticed.message_id,
        WORDS["root_cause"],
    )
    assert [(a.filename, a.content_type, a.size) for a in filed.attachments] == [
        ("opt-in proof.pdf", "application/pdf", len(PDF))
    ]
    with read_only(portal.container.sessions) as session:
        queue = session.scalar(
            select(QueueRow.name)
            .join(Case, Case.queue_id == QueueRow.id)
            .where(Case.id == portal.noticed.case_id)
        )
        told = [
            (m.kind, m.to_address)
            for m in notices.case_messages(session, portal.noticed.case_id)
            if m.appeal_id == filed.id
        ]
    assert queue == "appeals"
    assert told == [("appeal_received", CONTACT)]


def test_unfit_files_and_missing_words_are_refused_and_nothing_is_stored(portal: Portal) -> None:
    """A disguised page, a file too large, too many files, a missing answer: 400, each said."""
    html = b"<!doctype html><script>alert(1)</script>"
    with httpx.Client(base_url=portal.base_url) as http:
        disguised = _appeal(
            http,
            portal,
            [
                ("attachments", ("photo.png", html, "image/png")),
                ("attachments", ("scan.pdf", PDF + b"0" * MAX_BYTES, "application/pdf")),
            ],
            fix="",
        )
        many = _appeal(
            http,
            portal,
            [("attachments", (f"n{i}.txt", b"notes", "text/plain")) for i in range(MAX_FILES + 1)],
        )
    assert disguised.status_code == 400
    assert "photo.png is text/html" in disguised.text
    assert "scan.pdf is larger than 64 KB, the most one file may be" in disguised.text
    assert "say what you fixed" in disguised.text
    assert WORDS["root_cause"] in disguised.text  # what the customer wrote is kept
    assert many.status_code == 400
    assert "attach at most 3 files; 4 were sent" in many.text
    assert _appeals_of(portal) == []


def test_an_oversized_post_is_refused_unread(portal: Portal) -> None:
    """A body beyond every allowed file together is answered 413; nothing is stored."""
    big = PDF + b"0" * (3 * MAX_BYTES)
    with httpx.Client(base_url=portal.base_url) as http:
        answer = _appeal(
            http,
            portal,
            [("attachments", (f"big{i}.pdf", big, "application/pdf")) for i in range(2)],
        )
    assert answer.status_code == 413
    assert "Attach at most 3 files of up to 64 KB each" in answer.text
    assert _appeals_of(portal) == []


# --- the workbench ---------------------------------------------------------------------


def _filed(portal: Portal) -> appeals.AppealRecord:
    with httpx.Client(base_url=portal.base_url) as http:
        sent = _appeal(http, portal, [("attachments", ("proof.pdf", PDF, "application/pdf"))])
    assert sent.status_code == 303
    (filed,) = _appeals_of(portal)
    return filed


def test_the_appeals_list_and_page_need_appeal_review(portal: Portal) -> None:
    """A reviewer sees the appeal; an analyst without appeal.review is refused."""
    filed = _filed(portal)
    with signed_in(portal.base_url, "cleo") as (http, _):
        listed = http.get("/appeals")
        shown = http.get(f"/appeals/{filed.id}")
    with signed_in(portal.base_url, "bob") as (http, _):
        refused = http.get("/appeals")
    assert listed.status_code == 200
    assert f'id="appeal-{filed.id}"' in listed.text
    assert shown.status_code == 200
    assert WORDS["prevention"] in shown.text
    assert 'id="decide-form"' in shown.text
    assert "ana" in shown.text
    assert "lee" in shown.text
    assert refused.status_code == 403


def test_the_approver_cannot_decide_and_the_attachment_downloads_audited(portal: Portal) -> None:
    """lee approved the pause: no form, and a posted decision is refused 403."""
    filed = _filed(portal)
    (file,) = filed.attachments
    with signed_in(portal.base_url, "lee") as (http, csrf):
        page = http.get(f"/appeals/{filed.id}")
        posted = http.post(
            f"/appeals/{filed.id}/decide",
            data={"csrf_token": csrf, "decision": "overturn", "reason": "fine by me"},
        )
        download = http.get(f"/appeals/{filed.id}/attachments/{file.id}")
    assert 'id="decide-form"' not in page.text
    assert "another reviewer must decide" in page.text
    assert posted.status_code == 403
    assert "approved the action appealed" in posted.text
    assert download.content == PDF
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"proof.pdf\"; filename*=UTF-8''proof.pdf"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]
    with read_only(portal.container.sessions) as session:
        assert appeals.appeal(session, filed.id).state == "open"
        trail = audit_trail(session, "appeal", filed.id)
    assert [actor for tag, actor in trail if tag == "appeal:attachment:download"] == ["lee"]


def test_an_attachment_named_in_any_script_downloads(portal: Portal) -> None:
    """A file name beyond Latin-1 is kept: an ASCII stand-in and the UTF-8 name in the
    header, never a server error."""
    name = "Проверка €東京.pdf"
    with httpx.Client(base_url=portal.base_url) as http:
        sent = _appeal(http, portal, [("attachments", (name, PDF, "application/pdf"))])
    assert sent.status_code == 303
    (filed,) = _appeals_of(portal)
    (file,) = filed.attachments
    assert file.filename == name
    with signed_in(portal.base_url, "cleo") as (http, _):
        download = http.get(f"/appeals/{filed.id}/attachments/{file.id}")
    assert download.status_code == 200
    assert download.content == PDF
    disposition = download.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="________ ___.pdf"; ')
    assert disposition.endswith("filename*=UTF-8''" + quote(name, safe=""))


def test_an_overturn_over_an_action_outside_the_appeal_is_refused_on_the_page(
    portal: Portal,
) -> None:
    """A suspension executed after the appealed pause shows on the appeal page as outside
    the appeal, and an overturn, which would lift it too, is refused with its name."""
    filed = _filed(portal)
    now = utcnow()
    with unit_of_work(portal.container.sessions) as session:
        proposed = enforcement.propose(
            session,
            portal.noticed.account_id,
            "suspend",
            cause="complaint_rate",
            reason="complaints went on after the pause",
            evidence={"figures": {"complaint_rate": 0.009}},
            actor="ana",
            now=now,
        )
        enforcement.approve(session, proposed.id, approver="lee", now=now)
        suspension = enforcement.execute(
            session, proposed.id, LocalConnector(), actor="lee", now=now
        )
    with signed_in(portal.base_url, "cleo") as (http, csrf):
        page = http.get(f"/appeals/{filed.id}")
        posted = http.post(
            f"/appeals/{filed.id}/decide",
            data={"csrf_token": csrf, "decision": "overturn", "reason": "wrongly paused"},
        )
    assert f'id="outside-{suspension.id}"' in page.text
    assert posted.status_code == 422
    assert f"action {suspension.id} (suspend, no case" in posted.text
    assert appeal_outcome(portal.container, portal.noticed, filed.id) == (
        "suspended",
        ["appeal_received"],
    )


def test_a_reviewer_overturns_and_the_customer_sees_the_decision(portal: Portal) -> None:
    """cleo overturns: the account is healthy, the customer is told, the portal shows it."""
    filed = _filed(portal)
    with signed_in(portal.base_url, "cleo") as (http, csrf):
        posted = http.post(
            f"/appeals/{filed.id}/decide",
            data={
                "csrf_token": csrf,
                "decision": "overturn",
                "reason": "the broker's list is gone and complaints stopped",
            },
        )
        page = http.get(posted.headers["location"])
        decided_list = http.get("/appeals?state=overturned")
    with httpx.Client(base_url=portal.base_url) as http:
        customer = http.get(portal.noticed.path)
    assert posted.status_code == 303
    assert "The appeal is decided" in page.text
    assert 'id="reversal-' in page.text
    assert f'id="appeal-{filed.id}"' in decided_list.text
    assert "decided (overturned)" in customer.text
    assert appeal_outcome(portal.container, portal.noticed, filed.id) == (
        "healthy",
        ["appeal_received", "appeal_decision"],
    )


def test_a_refused_decision_shows_the_reason(portal: Portal) -> None:
    """A decision without a reason is refused 422 and the appeal stays open."""
    filed = _filed(portal)
    with signed_in(portal.base_url, "cleo") as (http, csrf):
        posted = http.post(
            f"/appeals/{filed.id}/decide",
            data={"csrf_token": csrf, "decision": "uphold", "reason": " "},
        )
        missing = http.get("/appeals/999999")
        unknown_list = http.get("/appeals?state=everything")
    assert posted.status_code == 422
    assert "say why" in posted.text
    assert (missing.status_code, unknown_list.status_code) == (404, 404)
    with read_only(portal.container.sessions) as session:
        assert appeals.appeal(session, filed.id).state == "open"


def test_a_form_token_fits_one_link_for_twelve_hours() -> None:
    """Made for this link and recent: accepted; another link, too old, or altered: refused."""
    key = b"k" * 32
    now = time.time()
    fresh = form_token(key, "link-a", now)
    assert form_token_is_fresh(key, "link-a", fresh, now=now + 11 * 3600)
    assert not form_token_is_fresh(key, "link-a", fresh, now=now + 13 * 3600)
    assert not form_token_is_fresh(key, "link-b", fresh, now=now)
    assert not form_token_is_fresh(b"o" * 32, "link-a", fresh, now=now)
    altered = fresh[:-1] + ("0" if fresh[-1] != "0" else "1")
    assert not form_token_is_fresh(key, "link-a", altered, now=now)
    assert not form_token_is_fresh(key, "link-a", "", now=now)
    assert not form_token_is_fresh(key, "link-a", "9" * 20 + ".x", now=now)
