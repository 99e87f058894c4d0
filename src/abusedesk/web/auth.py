"""Who is calling: people by session cookie, services by bearer token; what each may do.

Pages depend on ``require_permission(permission)``: an anonymous browser is sent to
``/login``, a signed-in user without the permission gets 403, and every unsafe request
(POST, PUT, PATCH, DELETE) must carry the session's CSRF token, in the ``csrf_token``
form field or the ``X-CSRF-Token`` header. API routes depend on ``require_token(*scopes)``;
each scope stands for one permission of the service role in the same table.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from abusedesk.access.errors import CsrfRefused, PermissionDenied
from abusedesk.access.model import SERVICE, User, permission_of_scope, role_allows
from abusedesk.access.policy import SessionLimits, csrf_token, csrf_token_matches
from abusedesk.config import AccessSettings
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.sessions import SessionInfo, SqlSessionRepository
from abusedesk.storage.tokens import InvalidToken, SqlTokenRepository, TokenInfo
from abusedesk.web import container_of

# Longer than any token we issue by far; anything longer is refused unread.
MAX_TOKEN_LENGTH = 200
SESSION_COOKIE = "abusedesk_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

_bearer = HTTPBearer(
    auto_error=False,
    description="A service token from `abusedesk token create`, as `Authorization: Bearer <token>`.",
)
_tokens = SqlTokenRepository()
_sessions = SqlSessionRepository()


class MissingToken(AbuseDeskError):
    """Raise when a request that needs a token brings none."""


class SignInRequired(Exception):
    """Raise when a page needs a signed-in user and the browser has no live session."""


@dataclass(frozen=True)
class Principal:
    """The signed-in user of a request, their session, and the CSRF token their forms carry."""

    user: User
    session: SessionInfo
    csrf_token: str


def session_limits(settings: AccessSettings) -> SessionLimits:
    """Return the session timeouts *settings* ask for."""
    return SessionLimits(
        idle=timedelta(minutes=settings.session_idle_minutes),
        lifetime=timedelta(hours=settings.session_lifetime_hours),
    )


def current_principal(request: Request, *, now: datetime | None = None) -> Principal | None:
    """Return the signed-in user of *request*, or None; remember it on the request.

    Blocking (it reads the database): call it from a worker thread.
    """
    if hasattr(request.state, "principal"):
        cached: Principal = request.state.principal
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    container = container_of(request)
    limits = session_limits(container.settings.access)
    at = now or utcnow()
    with read_only(container.sessions) as session:
        resolved = _sessions.resolve(session, token, limits=limits, now=at)
    if resolved is None:
        return None
    if resolved.needs_touch:
        with unit_of_work(container.sessions) as session:
            _sessions.touch(session, resolved.info.session_id, at)
    principal = Principal(resolved.user, resolved.info, csrf_token(resolved.info.csrf_secret))
    request.state.principal = principal
    request.state.csrf_token = principal.csrf_token
    return principal


def same_origin(request: Request) -> bool:
    """Tell whether an unsafe request's ``Origin`` (when sent) is this site."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    parts = urlsplit(origin)
    return bool(parts.netloc) and parts.netloc.lower() == host.lower()


async def check_csrf(request: Request, principal: Principal) -> None:
    """Raise CsrfRefused unless an unsafe request carries the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise CsrfRefused(
            "This request came from another site and was refused. "
            "Open abusedesk directly and try again."
        )
    presented = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if presented is None and content_type.startswith(_FORM_TYPES):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        presented = value if isinstance(value, str) else None
    if not csrf_token_matches(principal.session.csrf_secret, presented):
        raise CsrfRefused(
            "This form is out of date or did not come from abusedesk, so nothing was done. "
            "Go back, reload the page and try again."
        )


class PermissionDependency:
    """A dependency admitting a signed-in user whose role holds *permission*."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Principal:
        """Return the principal, or raise SignInRequired, CsrfRefused or PermissionDenied."""
        principal = await run_in_threadpool(current_principal, request)
        if principal is None:
            raise SignInRequired
        await check_csrf(request, principal)
        if not principal.user.may(self.permission):
            raise PermissionDenied(self.permission)
        return principal


def require_permission(permission: str) -> PermissionDependency:
    """Return a dependency that admits signed-in users whose role holds *permission*."""
    return PermissionDependency(permission)


class TokenDependency:
    """A dependency admitting a valid, unrevoked token holding every one of *scopes*."""

    def __init__(self, scopes: tuple[str, ...]) -> None:
        # Checked when the route is declared: a scope outside the table stops the start.
        permissions = tuple(permission_of_scope(scope) for scope in scopes)
        for permission in permissions:
            if not role_allows(SERVICE, permission):
                raise ValueError(f"the service role lacks {permission}, which a scope grants")
        self.scopes = scopes
        self.permissions = permissions

    def __call__(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None = Depends(_bearer),
    ) -> TokenInfo:
        """Return the token's record, or raise MissingToken, InvalidToken or MissingScope."""
        if credentials is None or not credentials.credentials:
            raise MissingToken("send a service token as 'Authorization: Bearer <token>'")
        presented = credentials.credentials.strip()
        if len(presented) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is malformed")
        container = container_of(request)
        # Its own short transaction: noting the token's use must not wait for the request.
        with unit_of_work(container.sessions) as session:
            info = _tokens.verify(session, presented, now=utcnow())
        info.require(self.scopes)
        request.state.token = info
        return info


def require_token(*scopes: str) -> TokenDependency:
    """Return a dependency that admits a valid, unrevoked token holding every one of *scopes*.

    With no scopes, any valid token is enough.
    """
    return TokenDependency(scopes)
