"""The unattributed inbox pages over real HTTP: list, filters, paging, one event, and the
analyst's decisions on it (attribute, dismiss, restore) with their refusals."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Event
from tests.factories.inventory import make_account
from tests.support.access import create_user, csrf_of, sign_in
from tests.support.unattributed import ingest, stranger_report, suggested_event, waiting
from tests.support.workbench import DOMAIN, Workbench

HOSTILE_REPORTER = '<script>alert("r")</script>.example'


@contextmanager
def signed_in(base_url: str, username: str) -> Iterator[tuple[httpx.Client, str]]:
    """Yield a client signed in as *username* and its CSRF token."""
    with httpx.Client(base_url=base_url) as client:
        assert sign_in(client, username).status_code == 303
        yield client, csrf_of(client)


def _account(container: Container) -> tuple[int, int]:
    with unit_of_work(container.sessions) as session:
        return make_account(session, "4411", domain=DOMAIN)


def _listed(page: httpx.Response) -> list[int]:
    return [int(found) for found in re.findall(r'href="/unattributed/(\d+)"', page.text)]


def _state(container: Container, event_id: int) -> tuple[str, int | None]:
    with read_only(container.sessions) as session:
        row = session.execute(
            select(Event.attribution_state, Event.case_id).where(Event.id == event_id)
        ).one()
    return row.attribution_state, row.case_id


def _audit_tags(container: Container, event_id: int) -> list[tuple[str, str]]:
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(AuditEntry.tag, AuditEntry.actor)
            .where(AuditEntry.subject_type == "event", AuditEntry.subject_id == str(event_id))
            .order_by(AuditEntry.id)
        ).all()
    return [(row.tag, row.actor) for row in rows]


def test_the_inbox_counts_lists_and_pages_waiting_events(bench: Workbench) -> None:
    """Counts by category and guess; events with why they wait; a full page links the next."""
    create_user(bench.container, "ana", "analyst_basic")
    ids = waiting(bench.container, 3)
    with signed_in(bench.base_url, "ana") as (client, _):
        first = client.get("/unattributed", params={"limit": 2})
        link = re.search(r'href="([^"]+)" rel="next"', first.text)
        assert link is not None
        second = client.get(link.group(1).replace("&amp;", "&"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["cache-control"] == "no-store"
    assert "(3 waiting)" in first.text
    assert re.search(r"spam</a></td>\s*<td>none</td>\s*<td>3</td>", first.text)
    assert "Nothing names one of our accounts" in first.text
    assert (_listed(first), _listed(second)) == (ids[:2], ids[2:])
    assert 'rel="next"' not in second.text


def test_the_inbox_filters_by_category_and_reporter_and_escapes_what_it_shows(
    bench: Workbench,
) -> None:
    """Only matching events are listed; a hostile reporter name is shown as text."""
    create_user(bench.container, "ana", "analyst_basic")
    (spam,) = waiting(bench.container, 1)
    (fraud_report,) = ingest(bench.container, [stranger_report(7, feedback_type="fraud")])
    (hostile_report,) = ingest(bench.container, [stranger_report(8, reporter=HOSTILE_REPORTER)])
    with read_only(bench.container.sessions) as session:
        fraud = session.scalar(select(Event.id).where(Event.report_id == fraud_report))
        hostile = session.scalar(select(Event.id).where(Event.report_id == hostile_report))
        fraud_category = session.scalar(select(Event.category).where(Event.id == fraud))
    with signed_in(bench.base_url, "ana") as (client, _):
        by_category = client.get("/unattributed", params={"category": fraud_category})
        by_reporter = client.get("/unattributed", params={"reporter": HOSTILE_REPORTER})
        everything = client.get("/unattributed")

    assert _listed(by_category) == [fraud]
    assert _listed(by_reporter) == [hostile]
    assert sorted(_listed(everything)) == sorted([spam, fraud, hostile])
    assert "<script>alert" not in everything.text
    assert "&lt;script&gt;alert(&#34;r&#34;)&lt;/script&gt;.example" in everything.text


def test_an_analyst_attributes_an_event_using_the_suggestion(bench: Workbench) -> None:
    """The form is filled from the suggestion; posting it attributes, audits and folds the event."""
    create_user(bench.container, "ana", "analyst_basic")
    account_id, resource_id = _account(bench.container)
    event_id = suggested_event(bench.container, account_id, resource_id)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        page = client.get(f"/unattributed/{event_id}")
        done = client.post(
            f"/unattributed/{event_id}/attribute",
            data={
                "csrf_token": csrf,
                "account": "4411",
                "resource_kind": "identity_domain",
                "resource_value": DOMAIN,
                "reason": "the customer confirmed the campaign",
            },
        )
        after = client.get(done.headers["location"])
        inbox_after = client.get("/unattributed")

    assert page.status_code == 200
    assert 'id="attr-account" name="account" value="4411"' in page.text
    assert '<option value="identity_domain" selected>' in page.text
    assert "The source IP is not ours, so the headers may be spoofed" in page.text
    assert f'href="/events/{event_id}/evidence"' in page.text
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/unattributed/{event_id}?done=attributed",
    )
    state, case_id = _state(bench.container, event_id)
    assert (state, case_id is not None) == ("attributed", True)
    assert f'href="/cases/{case_id}"' in after.text
    assert "The event is attributed" in after.text
    assert event_id not in _listed(inbox_after)
    assert _audit_tags(bench.container, event_id) == [("attribution:event:attribute", "ana")]


def test_a_dismissed_event_leaves_the_inbox_and_a_restored_one_returns(bench: Workbench) -> None:
    """Dismiss and restore each need a reason, are audited and move the event."""
    create_user(bench.container, "ana", "analyst_basic")
    (event_id,) = waiting(bench.container, 1)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        dismissed = client.post(
            f"/unattributed/{event_id}/dismiss",
            data={"csrf_token": csrf, "reason": "spoofed brand"},
        )
        page = client.get(dismissed.headers["location"])
        inbox_dismissed = client.get("/unattributed")
        restored = client.post(
            f"/unattributed/{event_id}/restore",
            data={"csrf_token": csrf, "reason": "it was ours after all"},
        )
        inbox_restored = client.get("/unattributed")

    assert (dismissed.status_code, restored.status_code) == (303, 303)
    assert "spoofed brand" in page.text
    assert 'id="restore-event"' in page.text
    assert 'id="dismiss-event"' not in page.text
    assert (_listed(inbox_dismissed), _listed(inbox_restored)) == ([], [event_id])
    assert _state(bench.container, event_id) == ("unattributed", None)
    assert _audit_tags(bench.container, event_id) == [
        ("attribution:event:dismiss", "ana"),
        ("attribution:event:restore", "ana"),
    ]


def test_refused_decisions_show_the_event_again_with_the_reason(bench: Workbench) -> None:
    """An unknown account or resource is 422, an event in the wrong state 409; nothing changes."""
    create_user(bench.container, "ana", "analyst_basic")
    _account(bench.container)
    (event_id,) = waiting(bench.container, 1)
    with signed_in(bench.base_url, "ana") as (client, csrf):
        unknown = client.post(
            f"/unattributed/{event_id}/attribute",
            data={"csrf_token": csrf, "account": "<b>9999</b>", "reason": "a guess"},
        )
        no_resource = client.post(
            f"/unattributed/{event_id}/attribute",
            data={
                "csrf_token": csrf,
                "account": "4411",
                "resource_kind": "identity_domain",
                "resource_value": "elsewhere.example",
                "reason": "a guess",
            },
        )
        no_reason = client.post(
            f"/unattributed/{event_id}/dismiss", data={"csrf_token": csrf, "reason": " "}
        )
        not_dismissed = client.post(
            f"/unattributed/{event_id}/restore", data={"csrf_token": csrf, "reason": "why"}
        )
        missing = client.post(
            "/unattributed/999999/dismiss", data={"csrf_token": csrf, "reason": "why"}
        )

    assert unknown.status_code == 422
    assert "no account has the external id &#39;&lt;b&gt;9999&lt;/b&gt;&#39;" in unknown.text
    # What the analyst typed stays in the form.
    assert 'value="&lt;b&gt;9999&lt;/b&gt;"' in unknown.text
    assert no_resource.status_code == 422
    assert "holds no identity_domain" in no_resource.text
    assert (no_reason.status_code, "needs a reason" in no_reason.text) == (422, True)
    assert (not_dismissed.status_code, "cannot restore" in not_dismissed.text) == (409, True)
    assert missing.status_code == 404
    assert _state(bench.container, event_id) == ("unattributed", None)
    assert _audit_tags(bench.container, event_id) == []


def test_deciding_needs_the_permission_and_the_form_token(bench: Workbench) -> None:
    """An auditor reads the inbox but may not decide; a post without CSRF token is refused."""
    create_user(bench.container, "ana", "analyst_basic")
    create_user(bench.container, "aud", "auditor")
    (event_id,) = waiting(bench.container, 1)
    with (
        signed_in(bench.base_url, "aud") as (auditor, auditor_csrf),
        signed_in(bench.base_url, "ana") as (analyst, _),
    ):
        listed = auditor.get("/unattributed")
        page = auditor.get(f"/unattributed/{event_id}")
        refused = auditor.post(
            f"/unattributed/{event_id}/dismiss",
            data={"csrf_token": auditor_csrf, "reason": "not ours"},
        )
        forged = analyst.post(f"/unattributed/{event_id}/dismiss", data={"reason": "not ours"})
    with httpx.Client(base_url=bench.base_url) as anonymous:
        sent_away = anonymous.get("/unattributed")

    assert (listed.status_code, _listed(listed)) == (200, [event_id])
    assert (page.status_code, 'id="dismiss-event"' in page.text) == (200, False)
    assert (refused.status_code, forged.status_code) == (403, 403)
    assert (sent_away.status_code, sent_away.headers["location"]) == (
        303,
        "/login?next=/unattributed",
    )
    assert _state(bench.container, event_id) == ("unattributed", None)
