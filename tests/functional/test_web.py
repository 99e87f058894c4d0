"""The web app over real HTTP: health, the API root and its tokens, the home page, errors."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import Depends, FastAPI

import abusedesk
from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tokens import SqlTokenRepository
from abusedesk.web.app import SECURITY_HEADERS, create_app
from abusedesk.web.auth import require_token
from tests.support.settings import private_settings
from tests.support.web import bearer, issue, serving

REPORT = b"From: someone@isp.example\r\nSubject: spam from your customer\r\n\r\nSee below.\r\n"


@pytest.fixture
def app(container: Container) -> FastAPI:
    """Return the app built around the test database."""
    return create_app(container)


@pytest.fixture
def client(app: FastAPI) -> Iterator[httpx.Client]:
    """Return an HTTP client talking to the app served on 127.0.0.1."""
    with serving(app) as base_url, httpx.Client(base_url=base_url) as http:
        yield http


def test_health_counts_reports_by_status(container: Container, client: httpx.Client) -> None:
    """/health answers 200 with the database reachable and reports counted by status."""
    container.intake.accept(Incoming(REPORT, "test", {}))
    container.intake.accept(Incoming(REPORT + b"again\r\n", "test", {}))

    response = client.get("/health")

    assert (response.status_code, response.json()) == (
        200,
        {
            "status": "ok",
            "version": abusedesk.__version__,
            "database": {"reachable": True},
            "reports": {
                "pending": 2,
                "processing": 0,
                "done": 0,
                "quarantined": 0,
                "unknown_format": 0,
            },
        },
    )


def test_health_answers_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    """/health answers 503 with the reason when the database cannot be opened."""
    # A directory is no database file: connecting fails the way an absent server does.
    unreachable = build(private_settings(f"sqlite:///{tmp_path}", tmp_path))
    try:
        with serving(create_app(unreachable)) as base_url:
            response = httpx.get(f"{base_url}/health")
    finally:
        unreachable.close()

    assert (response.status_code, response.json()) == (
        503,
        {
            "status": "unavailable",
            "version": abusedesk.__version__,
            "database": {"reachable": False},
            "reason": "database unreachable (OperationalError)",
        },
    )


def test_api_root_without_a_token_is_401_with_a_bearer_challenge(client: httpx.Client) -> None:
    """A request without a token is refused with 401 and a Bearer challenge."""
    response = client.get("/api/v1/")

    assert (response.status_code, response.headers["WWW-Authenticate"], response.json()) == (
        401,
        'Bearer realm="abusedesk"',
        {
            "error": "unauthorized",
            "detail": "send a service token as 'Authorization: Bearer <token>'",
        },
    )


def test_api_root_with_a_revoked_token_is_401(container: Container, client: httpx.Client) -> None:
    """A revoked token is refused with 401 invalid_token."""
    issued = issue(container, "reports:read")
    with unit_of_work(container.sessions) as session:
        SqlTokenRepository().revoke(session, str(issued.info.token_id), actor="test", now=utcnow())

    response = client.get("/api/v1/", headers=bearer(issued.token))

    assert (response.status_code, response.headers["WWW-Authenticate"], response.json()) == (
        401,
        'Bearer realm="abusedesk", error="invalid_token"',
        {"error": "invalid_token", "detail": "the token was revoked"},
    )


@pytest.mark.parametrize(
    ("presented", "detail"),
    [
        ("not-a-token", "the token is malformed"),
        ("abd_0123456789ab_" + "0" * 64, "the token is not known"),
        ("x" * 5000, "the token is malformed"),
    ],
)
def test_api_root_with_a_false_token_is_401(
    client: httpx.Client, presented: str, detail: str
) -> None:
    """A malformed, unknown or absurdly long token is refused with 401 and why."""
    response = client.get("/api/v1/", headers=bearer(presented))

    assert (response.status_code, response.json()) == (
        401,
        {"error": "invalid_token", "detail": detail},
    )


def test_api_root_with_a_known_prefix_but_wrong_secret_is_401(
    container: Container, client: httpx.Client
) -> None:
    """A token whose prefix exists but whose secret differs is refused."""
    issued = issue(container, "reports:read")
    forged = f"{issued.info.display_prefix}_{'f' * 64}"

    response = client.get("/api/v1/", headers=bearer(forged))

    assert (response.status_code, response.json()["detail"]) == (401, "the token is not known")


def test_api_root_with_a_valid_token_lists_version_and_links(
    container: Container, client: httpx.Client
) -> None:
    """A valid token of any scope gets the API root: version, its scopes, and links."""
    issued = issue(container, "reports:write")

    response = client.get("/api/v1/", headers=bearer(issued.token))

    assert (response.status_code, response.json()) == (
        200,
        {
            "name": "abusedesk",
            "version": abusedesk.__version__,
            "token": {
                "name": "test client",
                "prefix": issued.info.display_prefix,
                "scopes": ["reports:write"],
            },
            "links": {
                "self": "/api/v1/",
                "openapi": "/api/v1/openapi.json",
                "health": "/health",
            },
        },
    )


def test_api_use_records_when_the_token_was_last_used(
    container: Container, client: httpx.Client
) -> None:
    """Using a token through the API sets its last_used_at."""
    issued = issue(container, "reports:read")
    before = utcnow()

    client.get("/api/v1/", headers=bearer(issued.token))

    with unit_of_work(container.sessions) as session:
        info = SqlTokenRepository().find(session, issued.info.display_prefix)
    assert info.last_used_at is not None
    assert info.last_used_at >= before


def test_endpoint_needing_a_scope_refuses_a_token_without_it_with_403(
    container: Container, app: FastAPI
) -> None:
    """A valid token without the scope an endpoint needs is refused with 403."""

    @app.get("/api/v1/scoped-probe", dependencies=[Depends(require_token("reports:write"))])
    def scoped_probe() -> dict[str, str]:
        return {"ok": "yes"}

    issued = issue(container, "reports:read")
    with serving(app) as base_url:
        response = httpx.get(f"{base_url}/api/v1/scoped-probe", headers=bearer(issued.token))

    assert (response.status_code, response.headers["WWW-Authenticate"], response.json()) == (
        403,
        'Bearer realm="abusedesk", error="insufficient_scope", scope="reports:write"',
        {"error": "insufficient_scope", "detail": "this token lacks the scope reports:write"},
    )


def test_openapi_description_needs_a_token(client: httpx.Client) -> None:
    """The OpenAPI description is not public."""
    assert client.get("/api/v1/openapi.json").status_code == 401


def test_openapi_description_lists_the_api_for_a_token_holder(
    container: Container, client: httpx.Client
) -> None:
    """A token holder gets the OpenAPI description with the API's paths."""
    issued = issue(container, "reports:read")

    response = client.get("/api/v1/openapi.json", headers=bearer(issued.token))

    assert sorted(response.json()["paths"]) == [
        "/api/v1/",
        "/api/v1/events/{event_id}",
        "/api/v1/events/{event_id}/attribution",
        "/api/v1/events/{event_id}/dismissal",
        "/api/v1/events/{event_id}/restoration",
        "/api/v1/inventory/accounts/{external_id}",
        "/api/v1/inventory/{table}",
        "/api/v1/reports",
        "/api/v1/reports/{report_id}",
        "/api/v1/search",
        "/api/v1/unattributed",
        "/api/v1/unattributed/summary",
        "/health",
    ]


@pytest.mark.parametrize("path", ["/", "/health", "/api/v1/", "/no-such-page", "/static/site.css"])
def test_every_response_carries_the_security_headers(client: httpx.Client, path: str) -> None:
    """Pages, JSON, errors and static files all carry the security headers."""
    response = client.get(path)

    assert {name: response.headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS


def test_security_policy_allows_only_this_origin(client: httpx.Client) -> None:
    """The content security policy starts from default-src 'self'."""
    policy = client.get("/").headers["Content-Security-Policy"]

    assert policy.split("; ")[0] == "default-src 'self'"


def test_home_page_sends_a_stranger_to_sign_in(client: httpx.Client) -> None:
    """Without a session the start page asks for a sign-in, naming the product and version."""
    response = client.get("/", follow_redirects=True)

    assert response.status_code == 200
    assert str(response.url).endswith("/login?next=/")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert f"version {abusedesk.__version__}" in response.text


def test_unknown_api_path_answers_a_json_error(client: httpx.Client) -> None:
    """An unknown path under /api answers 404 as JSON."""
    response = client.get("/api/v1/no-such-thing")

    assert (response.status_code, response.json()) == (
        404,
        {"error": "not_found", "detail": "Not Found"},
    )


def test_unknown_page_answers_an_html_error_page(client: httpx.Client) -> None:
    """An unknown page answers 404 as an HTML page that carries no markup from the path."""
    response = client.get("/<script>alert(1)</script>")

    assert (response.status_code, response.headers["content-type"]) == (
        404,
        "text/html; charset=utf-8",
    )
    assert "<script>" not in response.text


def test_unexpected_failure_answers_500_without_details(app: FastAPI) -> None:
    """A failure nobody anticipated answers a bare 500, with the security headers."""

    @app.get("/api/v1/failing-probe")
    def failing_probe() -> None:
        raise RuntimeError("internal detail that must not leak")

    with serving(app) as base_url:
        response = httpx.get(f"{base_url}/api/v1/failing-probe")

    assert (response.status_code, response.json(), response.headers["X-Frame-Options"]) == (
        500,
        {
            "error": "internal_error",
            "detail": "something went wrong on our side; it has been logged",
        },
        "DENY",
    )
