"""The unattributed inbox over real HTTP: list, read, attribute and dismiss, with scopes."""

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, Case
from abusedesk.storage.unattributed import dismiss
from abusedesk.web.app import create_app
from tests.factories.inventory import make_account
from tests.support.unattributed import ingest, stranger_report, suggested_event, waiting
from tests.support.web import bearer, issue, serving

DOMAIN = "news.example.com"
INBOX = "/api/v1/unattributed"


def _event(event_id: int) -> str:
    return f"/api/v1/events/{event_id}"


@pytest.fixture
def client(container: Container) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


@pytest.fixture
def reader(container: Container) -> dict[str, str]:
    """Return headers presenting a token that may read events."""
    return bearer(issue(container, "events:read").token)


@pytest.fixture
def analyst(container: Container) -> dict[str, str]:
    """Return headers presenting a token, named "test client", that may attribute events."""
    return bearer(issue(container, "events:read", "events:attribute").token)


def _account(container: Container) -> tuple[int, int]:
    with unit_of_work(container.sessions) as session:
        return make_account(session, "4411", domain=DOMAIN)


def test_the_inbox_lists_waiting_events_a_page_at_a_time(
    container: Container, client: httpx.Client, reader: dict[str, str]
) -> None:
    """A full page links to the next one, which starts after its last id and keeps the filter."""
    ingest(container, [stranger_report(n) for n in range(3)])
    ingest(container, [stranger_report(9, feedback_type="fraud")])

    first = client.get(INBOX, params={"category": "spam", "limit": 2}, headers=reader)
    second = client.get(first.json()["links"]["next"], headers=reader)

    firsts = [e["event_id"] for e in first.json()["events"]]
    seconds = [e["event_id"] for e in second.json()["events"]]
    assert (first.status_code, second.status_code, len(firsts), len(seconds)) == (200, 200, 2, 1)
    assert (max(firsts) < min(seconds), "links" in second.json()) == (True, False)
    assert {e["category"] for e in first.json()["events"] + second.json()["events"]} == {"spam"}


def test_the_summary_counts_waiting_events(
    container: Container, client: httpx.Client, reader: dict[str, str]
) -> None:
    """The summary gives the total and counts per category and method."""
    waiting(container, 2)

    summary = client.get(f"{INBOX}/summary", headers=reader).json()

    assert summary == {
        "total": 2,
        "counts": [{"category": "spam", "method": None, "events": 2}],
    }


def test_an_event_shows_its_suggestion_resolved_to_the_account(
    container: Container, client: httpx.Client, reader: dict[str, str]
) -> None:
    """One event carries its report, indicators, state and the named suggestion."""
    account_id, identity = _account(container)
    event_id = suggested_event(container, account_id, identity)

    body = client.get(_event(event_id), headers=reader).json()

    assert (
        body["attribution"]["state"],
        body["attribution"]["suggested"]["account"],
        body["attribution"]["suggested"]["resource"]["value"],
        body["indicators"]["url"],
        body["report"]["status"],
    ) == (
        "unattributed",
        {"id": account_id, "external_id": "4411", "name": "Customer 4411"},
        DOMAIN,
        ["http://login.news.example.com/"],
        "done",
    )


def test_an_unknown_event_is_404(client: httpx.Client, reader: dict[str, str]) -> None:
    """Asking for an event that does not exist is 404 with a JSON error."""
    response = client.get(_event(424242), headers=reader)

    assert (response.status_code, response.json()["error"]) == (404, "not_found")


def test_attribution_settles_folds_and_audits_with_the_tokens_name(
    container: Container, client: httpx.Client, analyst: dict[str, str]
) -> None:
    """The attributed event is on the account's case; the audit's actor is the token's name."""
    account_id, _ = _account(container)
    (event_id,) = waiting(container, 1)

    response = client.post(
        f"{_event(event_id)}/attribution",
        json={"account": "4411", "reason": "customer's campaign"},
        headers=analyst,
    )

    body = response.json()
    with read_only(container.sessions) as session:
        case_id = session.scalar(select(Case.id).where(Case.account_id == account_id))
        actor = session.scalar(
            select(AuditEntry.actor).where(
                AuditEntry.subject_type == "event", AuditEntry.subject_id == str(event_id)
            )
        )
    assert (
        response.status_code,
        body["attribution"]["state"],
        body["attribution"]["account"]["external_id"],
        body["attribution"]["method"],
        body["attribution"]["reason"],
        body["case_id"],
        actor,
    ) == (
        200,
        "attributed",
        "4411",
        "manual",
        "Attributed by test client: customer's campaign",
        case_id,
        "test client",
    )


@pytest.mark.parametrize(
    "payload",
    [
        {"account": "9999", "reason": "guess"},
        {"account": "4411", "reason": "   "},
        {"account": "4411"},
        {"account": "4411", "reason": "x", "resource": {"kind": "dedicated_ip", "value": "x"}},
        {"account": "4411", "reason": "x", "unknown_field": 1},
    ],
)
def test_bad_attributions_are_refused(
    container: Container,
    client: httpx.Client,
    analyst: dict[str, str],
    payload: dict[str, object],
) -> None:
    """An unknown account, resource or field, or a missing or empty reason, is 422; it waits."""
    _account(container)
    (event_id,) = waiting(container, 1)

    response = client.post(f"{_event(event_id)}/attribution", json=payload, headers=analyst)

    state = client.get(_event(event_id), headers=analyst).json()["attribution"]["state"]
    assert (response.status_code, response.json()["error"], state) == (
        422,
        "invalid_request",
        "unattributed",
    )


def test_attributing_twice_is_a_conflict_unless_forced(
    container: Container, client: httpx.Client, analyst: dict[str, str]
) -> None:
    """A second attribution is 409; with force it is accepted."""
    _account(container)
    (event_id,) = waiting(container, 1)
    path = f"{_event(event_id)}/attribution"
    client.post(path, json={"account": "4411", "reason": "first"}, headers=analyst)

    again = client.post(path, json={"account": "4411", "reason": "second"}, headers=analyst)
    forced = client.post(
        path, json={"account": "4411", "reason": "third", "force": True}, headers=analyst
    )

    assert (again.status_code, again.json()["error"], forced.status_code) == (409, "conflict", 200)
    assert forced.json()["attribution"]["reason"] == "Attributed by test client: third"


def test_dismissal_sets_the_event_aside(
    container: Container, client: httpx.Client, analyst: dict[str, str]
) -> None:
    """A dismissed event leaves the inbox and records who dismissed it and why."""
    (event_id,) = waiting(container, 1)

    response = client.post(
        f"{_event(event_id)}/dismissal", json={"reason": "spoofed brand"}, headers=analyst
    )
    again = client.post(
        f"{_event(event_id)}/dismissal", json={"reason": "spoofed brand"}, headers=analyst
    )

    listed = client.get(INBOX, headers=analyst).json()["events"]
    dismissal = response.json()["attribution"]["dismissal"]
    assert (
        response.status_code,
        response.json()["attribution"]["state"],
        (dismissal["by"], dismissal["reason"]),
        listed,
        again.status_code,
    ) == (200, "dismissed", ("test client", "spoofed brand"), [], 409)


def test_restoration_puts_a_dismissed_event_back_in_the_inbox(
    container: Container, client: httpx.Client, analyst: dict[str, str]
) -> None:
    """A dismissal can be undone, only for a dismissed event."""
    (event_id,) = waiting(container, 1)
    client.post(f"{_event(event_id)}/dismissal", json={"reason": "spoofed"}, headers=analyst)

    response = client.post(
        f"{_event(event_id)}/restoration", json={"reason": "it is ours"}, headers=analyst
    )
    again = client.post(
        f"{_event(event_id)}/restoration", json={"reason": "it is ours"}, headers=analyst
    )

    listed = [e["event_id"] for e in client.get(INBOX, headers=analyst).json()["events"]]
    assert (
        response.status_code,
        response.json()["attribution"]["state"],
        listed,
        again.status_code,
    ) == (200, "unattributed", [event_id], 409)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("GET", INBOX, None),
        ("GET", _event(1), None),
        ("POST", f"{_event(1)}/attribution", {"account": "4411", "reason": "x"}),
        ("POST", f"{_event(1)}/dismissal", {"reason": "x"}),
        ("POST", f"{_event(1)}/restoration", {"reason": "x"}),
    ],
)
def test_every_endpoint_needs_a_token(
    client: httpx.Client, method: str, path: str, payload: dict[str, str] | None
) -> None:
    """Without a token every endpoint answers 401."""
    assert client.request(method, path, json=payload).status_code == 401


@pytest.mark.parametrize(
    ("scope", "method", "path", "payload"),
    [
        ("reports:read", "GET", INBOX, None),
        ("reports:read", "GET", _event(1), None),
        ("events:read", "POST", f"{_event(1)}/attribution", {"account": "4411", "reason": "x"}),
        ("events:read", "POST", f"{_event(1)}/dismissal", {"reason": "x"}),
    ],
)
def test_each_endpoint_needs_its_scope(
    container: Container,
    client: httpx.Client,
    *,
    scope: str,
    method: str,
    path: str,
    payload: dict[str, str] | None,
) -> None:
    """Reading needs events:read and deciding needs events:attribute: else 403, nothing changes."""
    (event_id,) = waiting(container, 1)
    headers = bearer(issue(container, scope).token)

    response = client.request(
        method, path.replace("/1", f"/{event_id}"), json=payload, headers=headers
    )

    with read_only(container.sessions) as session:
        audited = session.scalar(select(AuditEntry.id).where(AuditEntry.subject_type == "event"))
    assert (response.status_code, response.json()["error"], audited) == (
        403,
        "insufficient_scope",
        None,
    )


def test_metrics_hold_the_size_of_the_inbox(container: Container, client: httpx.Client) -> None:
    """``abusedesk_unattributed_inbox`` counts the waiting events, not the dismissed ones."""
    first, _second, _third = waiting(container, 3)
    with unit_of_work(container.sessions) as session:
        dismiss(session, [first], reason="not ours", actor="test", now=utcnow())
    scraper = bearer(issue(container, "metrics:read").token)

    text = client.get("/metrics", headers=scraper).text

    assert "abusedesk_unattributed_inbox 2\n" in text
