"""Escalations and mentions over real HTTP: raising one from the case page's route, the open
escalations view with its filters and handling, and the notes that mention me."""

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.cases.escalations import EscalationTarget
from abusedesk.core.clock import utcnow
from abusedesk.storage import case_notes, escalations
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case, EscalationRow
from tests.support.access import create_user, csrf_of, sign_in
from tests.support.workbench import Workbench, analyst_in, complaint_case


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a client signed in as *username* and its CSRF token."""
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


def _status(container: Container, case_id: int) -> str:
    with read_only(container.sessions) as session:
        status = session.scalar(select(Case.status).where(Case.id == case_id))
    assert status is not None
    return status


def _escalation(container: Container, case_id: int) -> tuple[int, str, str | None]:
    with read_only(container.sessions) as session:
        row = session.execute(
            select(EscalationRow.id, EscalationRow.state, EscalationRow.owner)
            .where(EscalationRow.case_id == case_id)
            .order_by(EscalationRow.id.desc())
            .limit(1)
        ).one()
    return row.id, row.state, row.owner


def _escalation_tags(container: Container, case_id: int) -> list[tuple[str, str]]:
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(AuditEntry.tag, AuditEntry.actor)
            .where(AuditEntry.subject_id == str(case_id), AuditEntry.tag.like("case:escalation:%"))
            .order_by(AuditEntry.id)
        ).all()
    return [(row.tag, row.actor) for row in rows]


def _listed_cases(page: httpx.Response) -> list[int]:
    return [int(found) for found in re.findall(r'<td><a href="/cases/(\d+)">', page.text)]


def _listed_escalations(page: httpx.Response) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="escalation-(\d+)"', page.text)]


def _raise(container: Container, case_id: int, target: EscalationTarget, *, ago: timedelta) -> int:
    with unit_of_work(container.sessions) as session:
        return escalations.escalate(
            session,
            case_id,
            target,
            reason="needs a second look",
            within=timedelta(hours=1),
            actor="test",
            now=utcnow() - ago,
        )


def test_an_escalation_is_raised_handled_and_resolved_through_the_pages(bench: Workbench) -> None:
    """The case goes escalated and back; every step is audited under its actor."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    create_user(bench.container, "lee", "lead")
    case_id = complaint_case(bench.container)
    with (
        signed_in(bench.base_url, "ana") as (analyst, analyst_csrf),
        signed_in(bench.base_url, "lee") as (lead, lead_csrf),
    ):
        raised = analyst.post(
            f"/cases/{case_id}/escalations",
            data={
                "csrf_token": analyst_csrf,
                "target_kind": "department",
                "target": "legal",
                "reason": "a court order <b>names</b> them",
                "response_hours": "4",
            },
        )
        status_raised = _status(bench.container, case_id)
        escalation_id, _, _ = _escalation(bench.container, case_id)
        listed = lead.get("/escalations")
        acknowledged = lead.post(
            f"/escalations/{escalation_id}/acknowledge",
            data={"csrf_token": lead_csrf, "back": "/escalations?mine=1"},
        )
        mine = lead.get(acknowledged.headers["location"])
        resolved = lead.post(
            f"/escalations/{escalation_id}/end",
            data={"csrf_token": lead_csrf, "outcome": "resolved", "note": "legal replied"},
        )
        after = lead.get("/escalations")

    assert (raised.status_code, raised.headers["location"]) == (
        303,
        f"/cases/{case_id}?done=escalated",
    )
    assert status_raised == "escalated"
    assert f'<td><a href="/cases/{case_id}">#{case_id}</a>' in listed.text
    assert "a court order &lt;b&gt;names&lt;/b&gt; them" in listed.text
    assert 'legal <span class="muted">(department)</span>' in listed.text
    assert (acknowledged.status_code, acknowledged.headers["location"]) == (
        303,
        "/escalations?mine=1&done=acknowledged",
    )
    assert (_listed_cases(mine), "The escalation is acknowledged." in mine.text) == (
        [case_id],
        True,
    )
    assert resolved.status_code == 303
    assert _listed_cases(after) == []
    assert _escalation(bench.container, case_id) == (escalation_id, "resolved", "lee")
    assert _status(bench.container, case_id) == "investigating"
    assert _escalation_tags(bench.container, case_id) == [
        ("case:escalation:raise", "ana"),
        ("case:escalation:acknowledge", "lee"),
        ("case:escalation:resolve", "lee"),
    ]


def test_a_refused_escalation_shows_the_case_page_with_the_reason(bench: Workbench) -> None:
    """An unknown department or a manager who is no user changes nothing."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    case_id = complaint_case(bench.container)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        form = {"csrf_token": csrf, "reason": "help", "response_hours": "4"}
        department = client.post(
            f"/cases/{case_id}/escalations",
            data={**form, "target_kind": "department", "target": "<i>marketing</i>"},
        )
        manager = client.post(
            f"/cases/{case_id}/escalations",
            data={**form, "target_kind": "manager", "target": "nobody"},
        )
        forged = client.post(
            f"/cases/{case_id}/escalations",
            data={"target_kind": "department", "target": "legal", "reason": "x",
                  "response_hours": "4"},
        )  # fmt: skip

    assert department.status_code == 409
    assert "unknown department &#39;&lt;i&gt;marketing&lt;/i&gt;&#39;" in department.text
    assert f"Case #{case_id}" in department.text
    assert (manager.status_code, "&#39;nobody&#39; is not an active user" in manager.text) == (
        409,
        True,
    )
    assert forged.status_code == 403
    assert _status(bench.container, case_id) == "new"
    assert _escalation_tags(bench.container, case_id) == []


def test_handling_needs_the_permission_the_token_and_a_note(bench: Workbench) -> None:
    """Analysts may not handle; a post without token is refused; ending needs a note."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    create_user(bench.container, "lee", "lead")
    case_id = complaint_case(bench.container)
    escalation_id = _raise(
        bench.container, case_id, EscalationTarget("department", "legal"), ago=timedelta(0)
    )
    with (
        signed_in(bench.base_url, "ana") as (analyst, analyst_csrf),
        signed_in(bench.base_url, "lee") as (lead, lead_csrf),
    ):
        seen = analyst.get("/escalations")
        refused = analyst.post(
            f"/escalations/{escalation_id}/acknowledge", data={"csrf_token": analyst_csrf}
        )
        forged = lead.post(f"/escalations/{escalation_id}/acknowledge")
        early = lead.post(
            f"/escalations/{escalation_id}/end",
            data={"csrf_token": lead_csrf, "outcome": "resolved", "note": "done"},
        )
        silent = lead.post(
            f"/escalations/{escalation_id}/end",
            data={"csrf_token": lead_csrf, "outcome": "declined", "note": " "},
        )
        reassigned = lead.post(
            f"/escalations/{escalation_id}/reassign",
            data={"csrf_token": lead_csrf, "owner": "ana", "reason": "her case"},
        )
        withdrawn = lead.post(
            f"/escalations/{escalation_id}/end",
            data={"csrf_token": lead_csrf, "outcome": "withdrawn", "note": "not needed"},
        )

    assert (seen.status_code, f"/escalations/{escalation_id}/" in seen.text) == (200, False)
    assert (refused.status_code, forged.status_code) == (403, 403)
    assert (early.status_code, "not allowed" in early.text or "cannot" in early.text) == (
        409,
        True,
    )
    assert (silent.status_code, "say why the escalation is declined" in silent.text) == (409, True)
    assert (reassigned.status_code, withdrawn.status_code) == (303, 303)
    assert _escalation(bench.container, case_id) == (escalation_id, "withdrawn", "ana")
    assert _status(bench.container, case_id) == "investigating"


def test_the_view_puts_overdue_escalations_first_and_filters_by_target(bench: Workbench) -> None:
    """An overdue escalation leads and is flagged; the department filter keeps its own."""
    create_user(bench.container, "lee", "lead")
    case_id = complaint_case(bench.container)
    legal = EscalationTarget("department", "legal")
    security = EscalationTarget("department", "security")
    fresh = _raise(bench.container, case_id, legal, ago=timedelta(0))
    overdue = _raise(bench.container, case_id, security, ago=timedelta(days=3))
    with signed_in(bench.base_url, "lee") as (client, _):
        everything = client.get("/escalations")
        to_legal = client.get("/escalations", params={"department": "legal"})
        bad = client.get("/escalations", params={"department": "nowhere"})

    assert _listed_escalations(everything) == [overdue, fresh]
    assert f'<tr id="escalation-{overdue}" class="is-overdue">' in everything.text
    assert everything.text.count('<span class="overdue">overdue</span>') == 1
    assert _listed_escalations(to_legal) == [fresh]
    assert (bad.status_code, "unknown department" in bad.text) == (422, True)


def test_the_mentions_page_lists_my_notes_newest_first_a_page_at_a_time(bench: Workbench) -> None:
    """Notes naming me link to their case; others' mentions are not shown; text is escaped."""
    analyst_in(bench.container, "ana", "analyst_basic", "triage")
    create_user(bench.container, "ben", "analyst_basic")
    case_id = complaint_case(bench.container)
    with unit_of_work(bench.container.sessions) as session:
        notes = [
            case_notes.add_note(session, case_id, body, author="ben", now=utcnow())
            for body in (
                "@ana first look",
                "@ben only",
                "@ana <script>alert(1)</script> second",
            )
        ]
    with signed_in(bench.base_url, "ana") as (client, _):
        first = client.get("/mentions", params={"limit": 1})
        link = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert link is not None
        second = client.get(link.group(1).replace("&amp;", "&"))
        everything = client.get("/mentions")

    ids = [int(i) for i in re.findall(r'<li id="note-(\d+)">', everything.text)]
    assert ids == [notes[2].id, notes[0].id]
    assert re.findall(r'<li id="note-(\d+)">', first.text) == [str(notes[2].id)]
    assert re.findall(r'<li id="note-(\d+)">', second.text) == [str(notes[0].id)]
    assert f'href="/cases/{case_id}"' in everything.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything.text
    assert "<script>alert(1)" not in everything.text
