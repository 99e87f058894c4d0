"""The workbench pages over real HTTP: queues, next case, the case page and its actions,
evidence, search; who may do what."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy import select

from abusedesk.cases.routing import Queue
from abusedesk.core.clock import utcnow
from abusedesk.storage import case_notes, casework, queues
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case, Event
from tests.factories.arf import arf_report
from tests.support.access import csrf_of, sign_in
from tests.support.workbench import (
    DOMAIN,
    Workbench,
    analyst_in,
    complaint_case,
)


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a client signed in as *username* and its CSRF token."""
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


def test_an_analyst_pulls_the_next_case_works_it_and_resolves_it(bench: Workbench) -> None:
    """Queue list, next case, case page, moves with their reasons, the timeline."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        listed = client.get("/queues")
        pulled = client.post("/next-case", data={"csrf_token": csrf})
        page = client.get(pulled.headers["location"])
        moved = client.post(
            f"/cases/{case_id}/move",
            data={"csrf_token": csrf, "target": "waiting_on_customer", "reason": "asked"},
        )
        resolved = client.post(
            f"/cases/{case_id}/move",
            data={"csrf_token": csrf, "target": "resolved", "reason": "customer fixed it"},
        )
        final = client.get(f"/cases/{case_id}")
        empty = client.post("/next-case", data={"csrf_token": csrf})

    assert listed.status_code == 200
    assert re.search(
        r"triage</a></td>\s*<td>basic</td>\s*<td>trust safety</td>\s*<td>1</td>", listed.text
    )
    assert (pulled.status_code, pulled.headers["location"]) == (303, f"/cases/{case_id}")
    assert '<dd id="assignee">ana</dd>' in page.text
    assert (moved.status_code, resolved.status_code) == (303, 303)
    assert "resolved" in final.text
    assert "customer fixed it" in final.text
    assert final.headers["cache-control"] == "no-store"
    assert empty.headers["location"] == "/my-work?notice=empty"
    with read_only(bench.container.sessions) as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert (case.status, case.resolved_at is not None, case.first_response_at is not None) == (
            "resolved",
            True,
            True,
        )


def test_a_refused_move_shows_the_page_again_with_the_reason(bench: Workbench) -> None:
    """A transition the table forbids, or a close without a reason, changes nothing."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        skipped = client.post(
            f"/cases/{case_id}/move", data={"csrf_token": csrf, "target": "waiting_on_customer"}
        )
        unexplained = client.post(
            f"/cases/{case_id}/move", data={"csrf_token": csrf, "target": "closed"}
        )
    assert (skipped.status_code, "new" in skipped.text) == (409, True)
    assert "not allowed" in skipped.text or "cannot" in skipped.text
    assert (unexplained.status_code, "close reason" in unexplained.text) == (409, True)
    with read_only(bench.container.sessions) as session:
        assert session.scalar(select(Case.status).where(Case.id == case_id)) == "new"


def test_advanced_queues_need_the_advanced_permission_to_be_worked(bench: Workbench) -> None:
    """A basic analyst reads a case in an advanced queue but cannot act on it."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with unit_of_work(bench.container.sessions) as session:
        queues.save_queue(
            session, Queue("rings", "advanced"), response=timedelta(hours=8),
            resolution=timedelta(days=5), actor="test", now=utcnow(),
        )  # fmt: skip
        casework.transfer(session, case_id, "rings", actor="test", now=utcnow(), reason="ring")
    with signed_in(bench.base_url, "ana") as (client, csrf):
        seen = client.get(f"/cases/{case_id}")
        refused = client.post(
            f"/cases/{case_id}/move", data={"csrf_token": csrf, "target": "triaged"}
        )
    assert (seen.status_code, 'id="move-case"' in seen.text) == (200, False)
    assert refused.status_code == 403


def test_evidence_is_shown_safely_and_raw_downloads_are_for_permitted_roles_and_audited(
    bench: Workbench,
) -> None:
    """The viewer shows the reported message; only advanced analysts download the bytes."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    analyst_in(bench.container, "ben", "analyst_advanced", "triage")
    case_id = complaint_case(bench.container)
    with (
        signed_in(bench.base_url, "ana") as (basic, _),
        signed_in(bench.base_url, "ben") as (advanced, _),
    ):
        page = basic.get(f"/cases/{case_id}")
        event_link = re.search(r'href="(/events/\d+/evidence)"', page.text)
        assert event_link is not None
        evidence = basic.get(event_link.group(1))
        report = re.search(r"report (\d+)</h1>", evidence.text)
        assert report is not None
        denied = basic.get(f"/reports/{report.group(1)}/raw")
        raw = advanced.get(f"/reports/{report.group(1)}/raw")
    assert evidence.status_code == 200
    assert "hxxp://offers[.]news[.]example[.]com/deal" in evidence.text
    assert f"m1@{DOMAIN}" in evidence.text
    assert "Download the raw report" not in evidence.text
    assert denied.status_code == 403
    assert (raw.status_code, raw.headers["content-disposition"].startswith("attachment")) == (
        200,
        True,
    )
    assert b"Feedback-Type: abuse" in raw.content
    with read_only(bench.container.sessions) as session:
        viewers = list(
            session.scalars(select(AuditEntry.actor).where(AuditEntry.subject_type == "report"))
        )
    assert sorted(viewers) == ["ana", "ben"]


def test_search_page_finds_the_case_of_a_domain(bench: Workbench) -> None:
    """The search box finds cases, accounts and events; a bad query says why."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with signed_in(bench.base_url, "ana") as (client, _):
        found = client.get("/search", params={"q": DOMAIN})
        refused = client.get("/search", params={"q": "!!"})
    assert f'href="/cases/{case_id}"' in found.text
    assert f"domain {DOMAIN} is theirs" in found.text
    assert (refused.status_code, "no letters" in refused.text) == (422, True)


def test_notes_with_mentions_and_saved_replies_show_on_the_timeline(bench: Workbench) -> None:
    """A note is the first response, mentions a colleague, and can carry a saved reply."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    analyst_in(bench.container, "ben", "analyst_advanced", "triage")
    case_id = complaint_case(bench.container)
    with unit_of_work(bench.container.sessions) as session:
        reply_id = case_notes.create_saved_reply(
            session, "Asked for opt-in proof", "We asked the customer for opt-in records.",
            category_group=None, actor="test", now=utcnow(),
        )  # fmt: skip
    with signed_in(bench.base_url, "ana") as (client, csrf):
        added = client.post(
            f"/cases/{case_id}/notes",
            data={"csrf_token": csrf, "body": "@ben have a look", "saved_reply": reply_id},
        )
        page = client.get(f"/cases/{case_id}")
        empty = client.post(f"/cases/{case_id}/notes", data={"csrf_token": csrf, "body": " "})
    assert added.status_code == 303
    assert "@ben have a look\n\nWe asked the customer for opt-in records." in page.text
    assert (empty.status_code, "needs some words" in empty.text) == (409, True)
    with read_only(bench.container.sessions) as session:
        notes = case_notes.notes(session, case_id)
        responded = session.scalar(select(Case.first_response_at).where(Case.id == case_id))
    assert [note.mentions for note in notes] == [("ben",)]
    assert responded is not None


def test_cases_of_one_account_merge_and_split_from_the_case_page(bench: Workbench) -> None:
    """A phishing case merges into the spam case; one event splits off again."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    spam = complaint_case(bench.container, serial=1)
    fraud = arf_report(
        message_id=f"m2@{DOMAIN}", from_domain=DOMAIN, serial=2, feedback_type="fraud"
    )
    phishing = complaint_case(bench.container, raw=fraud)
    assert phishing != spam
    with signed_in(bench.base_url, "ana") as (client, csrf):
        merged = client.post(
            f"/cases/{spam}/merge",
            data={"csrf_token": csrf, "others": f"#{phishing}", "reason": "same campaign"},
        )
        with read_only(bench.container.sessions) as session:
            moved = session.scalar(
                select(Event.id).where(Event.case_id == spam, Event.category != "spam")
            )
        split = client.post(
            f"/cases/{spam}/split",
            data={
                "csrf_token": csrf,
                "event": str(moved),
                "category_group": "phishing",
                "reason": "the fraud report is its own matter",
            },
        )
        bad = client.post(
            f"/cases/{spam}/merge", data={"csrf_token": csrf, "others": "x", "reason": "r"}
        )
    assert (merged.status_code, split.status_code) == (303, 303)
    assert (bad.status_code, "not a list of case numbers" in bad.text) == (409, True)
    with read_only(bench.container.sessions) as session:
        states = dict(session.execute(select(Case.id, Case.status)).all())
        new_case = session.scalar(select(Event.case_id).where(Event.id == moved))
    assert states[phishing] == "closed"
    assert new_case not in (spam, phishing)


def test_bulk_close_from_the_queue_page_closes_the_ticked_cases_with_a_reason(
    bench: Workbench,
) -> None:
    """A lead closes ticked cases with a reason; without one, or as a basic analyst, refused."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    analyst_in(bench.container, "lee", "lead", "triage")
    spam = complaint_case(bench.container, serial=1)
    fraud = arf_report(
        message_id=f"m2@{DOMAIN}", from_domain=DOMAIN, serial=2, feedback_type="fraud"
    )
    phishing = complaint_case(bench.container, raw=fraud)
    with read_only(bench.container.sessions) as session:
        triage = queues.queue_by_name(session, "triage").id
    with signed_in(bench.base_url, "ana") as (basic, basic_csrf):
        basic_page = basic.get(f"/queues/{triage}")
        refused = basic.post(
            f"/queues/{triage}/close",
            data={"csrf_token": basic_csrf, "close_reason": "duplicate", "reason": "r"},
        )
    with signed_in(bench.base_url, "lee") as (client, csrf):
        page = client.get(f"/queues/{triage}")
        unexplained = client.post(
            f"/queues/{triage}/close",
            data={"csrf_token": csrf, "close_reason": "duplicate", "reason": " ", "case": spam},
        )
        closed = client.post(
            f"/queues/{triage}/close",
            data={
                "csrf_token": csrf,
                "close_reason": "false_positive",
                "reason": "the feedback loop misfired",
                "case": [str(spam), str(phishing)],
            },
        )
        after = client.get(closed.headers["location"])
    assert 'form="bulk-close"' not in basic_page.text
    assert refused.status_code == 403
    assert 'form="bulk-close"' in page.text
    assert (unexplained.status_code, "needs a reason" in unexplained.text) == (409, True)
    assert closed.status_code == 303
    assert "2 case(s) closed." in after.text
    with read_only(bench.container.sessions) as session:
        reasons = set(session.scalars(select(Case.close_reason)))
    assert reasons == {"false_positive"}


def test_leads_keep_saved_replies_and_analysts_read_them(bench: Workbench) -> None:
    """A lead adds, changes and deletes a reply (audited); an analyst may only read."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    analyst_in(bench.container, "lee", "lead", "triage")
    with signed_in(bench.base_url, "lee") as (lead, csrf):
        added = lead.post(
            "/replies",
            data={"csrf_token": csrf, "title": "Opt-in", "body": "Send opt-in proof."},
        )
        twice = lead.post("/replies", data={"csrf_token": csrf, "title": "Opt-in", "body": "again"})
        with read_only(bench.container.sessions) as session:
            (reply,) = case_notes.saved_replies(session)
        changed = lead.post(
            f"/replies/{reply.id}",
            data={"csrf_token": csrf, "title": "Opt-in", "body": "Send records."},
        )
    with signed_in(bench.base_url, "ana") as (analyst, analyst_csrf):
        shown = analyst.get("/replies")
        refused = analyst.post(f"/replies/{reply.id}/delete", data={"csrf_token": analyst_csrf})
    assert (added.status_code, changed.status_code) == (303, 303)
    assert (twice.status_code, "already titled" in twice.text) == (409, True)
    assert "Send records." in shown.text
    assert "<form" not in shown.text.split("<h1>Saved replies</h1>")[1]
    assert refused.status_code == 403
    with read_only(bench.container.sessions) as session:
        tags = set(session.scalars(select(AuditEntry.tag).where(AuditEntry.actor == "lee")))
    assert {"case:saved_reply:create", "case:saved_reply:update"} <= tags
