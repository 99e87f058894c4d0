"""Every route of the app is public by name, or needs a permission; each role gets what the table says.

The walk covers every route the app has when the test runs, so a page or endpoint added
later is checked without anyone remembering to add it here.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Mount

from abusedesk.access.model import ROLE_PERMISSIONS, ROLES, SCOPE_PERMISSIONS, SERVICE, can_sign_in
from abusedesk.bootstrap import Container, build
from abusedesk.storage.tokens import SCOPES
from abusedesk.web.api.sns import PATH as SNS_PATH
from abusedesk.web.app import create_app
from abusedesk.web.auth import PermissionDependency, TokenDependency
from tests.support.access import access_settings, create_user, csrf_of, sign_in
from tests.support.web import bearer, issue, serving

# The only routes anyone may call without signing in or a token, and why.
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/health"): "load balancers and monitors",
    ("GET", "/report"): "the public report form",
    ("POST", "/report"): "the public report form (its own signed token, rate-limited)",
    ("GET", "/login"): "the sign-in form",
    ("POST", "/login"): "signing in",
    ("POST", SNS_PATH): "SNS deliveries, verified by their signature",
    ("GET", "/portal/{token}"): "the customer portal, opened by a signed, expiring link",
    ("POST", "/portal/{token}/reply"): "the customer portal (the link and a form token)",
    ("POST", "/portal/{token}/appeal"): "the customer portal (the link and a form token)",
}
# Public routes whose made-up link (the "1" filled in) is refused 403 by the link check
# itself, not for want of a session; tests/functional/test_portal.py opens real links.
LINK_CHECKED = frozenset(path for method, path in PUBLIC if path.startswith("/portal/"))
PUBLIC_MOUNTS = {"/static": "style sheets and other static files"}
_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class Guarded:
    """One method of one route and what guards it."""

    method: str
    path: str
    permission: str | None
    scopes: tuple[str, ...] | None

    @property
    def url(self) -> str:
        """Return the path with every parameter filled in."""
        return _PARAM.sub("1", self.path)


def _guards(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if isinstance(sub.call, PermissionDependency | TokenDependency):
            yield sub.call
        yield from _guards(sub)


def _walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        if hasattr(route, "original_router"):
            context = route.include_context
            yield from _walk(route.original_router.routes, prefix + context.prefix)
        else:
            yield prefix + getattr(route, "path", ""), route


def walk(app: FastAPI) -> tuple[list[Guarded], list[str]]:
    """Return every method of every API route with its guard, and the mounted paths."""
    guarded, mounts = [], []
    for path, route in _walk(app.routes):
        if isinstance(route, Mount):
            mounts.append(path)
            continue
        assert isinstance(route, APIRoute), f"{path}: not an APIRoute, so its guard is unknown"
        guards = list(_guards(route.dependant))
        assert len(guards) <= 1, f"{path} has {len(guards)} guards"
        for method in sorted(route.methods):
            guard = guards[0] if guards else None
            guarded.append(
                Guarded(
                    method,
                    path,
                    guard.permission if isinstance(guard, PermissionDependency) else None,
                    guard.scopes if isinstance(guard, TokenDependency) else None,
                )
            )
    return guarded, mounts


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """Return the app's container with fast hashing and cookies over plain HTTP."""
    built = build(access_settings(database_url, tmp_path))
    yield built
    built.close()


@pytest.fixture
def app(container: Container) -> FastAPI:
    """Return the whole app."""
    return create_app(container)


def test_every_route_is_public_by_name_or_guarded(app: FastAPI) -> None:
    """Each route is on the public list and unguarded, or guarded and not on the list."""
    routes, mounts = walk(app)

    wrong = [
        f"{r.method} {r.path}"
        for r in routes
        if ((r.method, r.path) in PUBLIC) == (r.permission is not None or r.scopes is not None)
    ]
    assert (wrong, sorted(mounts)) == ([], sorted(PUBLIC_MOUNTS))


def test_the_public_list_names_only_routes_that_exist(app: FastAPI) -> None:
    """An allow-list entry without a route is a stale exception: remove it."""
    routes, _ = walk(app)

    assert set(PUBLIC) - {(r.method, r.path) for r in routes} == set()


def test_every_scope_stands_for_a_permission_of_the_service_role() -> None:
    """Token scopes and the permission table name the same rights."""
    assert set(SCOPE_PERMISSIONS) == set(SCOPES)
    assert set(SCOPE_PERMISSIONS.values()) == ROLE_PERMISSIONS[SERVICE]


def _refused(response: httpx.Response) -> bool:
    location = response.headers.get("location", "")
    to_sign_in = response.status_code == 303 and location.startswith("/login?next=")
    return to_sign_in or response.status_code in {401, 403}


def _call(client: httpx.Client, route: Guarded, headers: dict[str, str]) -> httpx.Response:
    return client.request(route.method, route.url, headers=headers)


def test_public_routes_answer_anonymous_callers(app: FastAPI) -> None:
    """Nothing on the public list refuses a caller for lack of a session or token."""
    routes, _ = walk(app)
    public = [r for r in routes if (r.method, r.path) in PUBLIC and r.path not in LINK_CHECKED]
    with serving(app) as base_url, httpx.Client(base_url=base_url) as http:
        refused = [f"{r.method} {r.path}" for r in public if _refused(_call(http, r, {}))]

    assert refused == []


def test_pages_refuse_anonymous_browsers(app: FastAPI) -> None:
    """Pages that need a permission send an anonymous GET to /login, and refuse other methods."""
    routes, _ = walk(app)
    pages = [r for r in routes if r.permission is not None]
    with serving(app) as base_url, httpx.Client(base_url=base_url) as http:
        answers = {(r.method, r.path): _call(http, r, {}) for r in pages}

    assert {
        key: (a.status_code, a.headers.get("location", "").split("=")[0])
        for key, a in answers.items()
    } == {
        (method, path): (303, "/login?next") if method == "GET" else (401, "")
        for method, path in answers
    }


@pytest.mark.parametrize("role", [role for role in ROLES if can_sign_in(role)])
def test_each_role_reaches_exactly_the_pages_its_permissions_allow(
    container: Container, app: FastAPI, role: str
) -> None:
    """A signed-in user is refused (403) exactly the pages whose permission the role lacks."""
    create_user(container, "member", role)
    routes, _ = walk(app)
    pages = [r for r in routes if r.permission is not None]
    reached = {}
    with serving(app) as base_url:
        for route in pages:
            # A fresh session per call: a page may end the session (sign-out does).
            with httpx.Client(base_url=base_url) as http:
                sign_in(http, "member")
                answer = _call(http, route, {"X-CSRF-Token": csrf_of(http)})
            reached[f"{route.method} {route.path}"] = not _refused(answer)

    assert reached == {
        f"{r.method} {r.path}": r.permission in ROLE_PERMISSIONS[role] for r in pages
    }


def test_api_refuses_callers_without_a_token_even_when_signed_in(
    container: Container, app: FastAPI
) -> None:
    """Every API route answers 401 to a caller with no token, a session cookie notwithstanding."""
    create_user(container, "boss", "admin")
    routes, _ = walk(app)
    api = [r for r in routes if r.scopes is not None]
    with serving(app) as base_url, httpx.Client(base_url=base_url) as http:
        sign_in(http, "boss")
        csrf = {"X-CSRF-Token": csrf_of(http)}
        answers = {f"{r.method} {r.path}": _call(http, r, csrf).status_code for r in api}

    assert answers == dict.fromkeys(answers, 401)


def test_api_admits_exactly_the_tokens_holding_its_scopes(
    container: Container, app: FastAPI
) -> None:
    """A token with a route's scopes is admitted; one holding every other scope gets 403."""
    routes, _ = walk(app)
    api = [r for r in routes if r.scopes]
    outcomes = {}
    with serving(app) as base_url, httpx.Client(base_url=base_url) as http:
        for route in api:
            assert route.scopes is not None
            needed = issue(container, *route.scopes).token
            others = sorted(set(SCOPES) - set(route.scopes))
            lacking = issue(container, *others).token if others else None
            admitted = not _refused(_call(http, route, bearer(needed)))
            refused = lacking is None or _call(http, route, bearer(lacking)).status_code == 403
            outcomes[f"{route.method} {route.path}"] = (admitted, refused)

    assert outcomes == dict.fromkeys(outcomes, (True, True))
