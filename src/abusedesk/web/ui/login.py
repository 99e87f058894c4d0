"""``GET/POST /login`` and ``POST /logout``: people sign in with a username and password.

A successful sign-in opens a session and sets its cookie (HttpOnly, SameSite=Lax, Secure
unless plain HTTP is allowed for local use); only the hash of the cookie's token is
stored. Failures count towards a lock of the account and, separately, of the client
address; both are judged by the rules in ``abusedesk.access.policy``.
"""

import functools
import math
from datetime import datetime, timedelta

import structlog
from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import CsrfRefused
from abusedesk.access.model import WEB_SIGN_IN
from abusedesk.access.policy import MAX_PASSWORD_LENGTH, PasswordHashing, ThrottlePolicy, safe_next
from abusedesk.config import AccessSettings
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.sessions import SqlSessionRepository
from abusedesk.storage.users import SqlUserRepository
from abusedesk.web import container_of
from abusedesk.web.auth import (
    SESSION_COOKIE,
    Principal,
    current_principal,
    require_permission,
    same_origin,
    session_limits,
)
from abusedesk.web.ui.rendering import render

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

_users = SqlUserRepository()
_sessions = SqlSessionRepository()
USERNAME_MAX = 200

WRONG = "The username or password is wrong."
MESSAGES = {
    "wrong": WRONG,
    "locked": "This account is locked after too many failed sign-ins. "
    "Try again after {retry} UTC, or ask an admin to unlock it.",
    "address_locked": "Too many failed sign-ins came from your address. "
    "Try again after {retry} UTC.",
    "disabled": "This account is disabled. Ask an admin if you need it again.",
    "api_only": "This account is for the API only and cannot sign in here.",
}
STATUS = {"wrong": 401, "locked": 429, "address_locked": 429, "disabled": 403, "api_only": 403}


def password_hashing(settings: AccessSettings) -> PasswordHashing:
    """Return the password hashing *settings* ask for, the same object for the same values."""
    return _hashing(
        settings.password_time_cost, settings.password_memory_kib, settings.password_parallelism
    )


@functools.cache
def _hashing(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHashing:
    # One object per parameter set keeps its decoy hash: were it made again per request,
    # an unknown username would cost two hashes, a known one one, and timing would tell.
    return PasswordHashing(time_cost=time_cost, memory_kib=memory_kib, parallelism=parallelism)


def throttle_policies(settings: AccessSettings) -> tuple[ThrottlePolicy, ThrottlePolicy]:
    """Return the lock rules for accounts and for client addresses."""
    window = timedelta(minutes=settings.failure_window_minutes)
    lock_for = timedelta(minutes=settings.lock_minutes)
    max_lock = max(timedelta(minutes=settings.max_lock_minutes), lock_for)
    account = ThrottlePolicy(settings.max_failures, window, lock_for, max_lock)
    address = ThrottlePolicy(settings.address_max_failures, window, lock_for, max_lock)
    return account, address


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    """Show the sign-in form; a signed-in user goes straight on to *next*."""
    target = safe_next(next)
    if current_principal(request) is not None:
        return RedirectResponse(target, status_code=303)
    return _page(request, target, username="", error=None)


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    """Check the credentials, open a session and go on to *next*; or say why not."""
    if not same_origin(request):
        raise CsrfRefused("This sign-in came from another site and was refused.")
    target = safe_next(next)
    username = username.strip()
    if not username or not password:
        return _page(
            request,
            target,
            username=username,
            error="Enter your username and password.",
            status_code=400,
        )
    if len(username) > USERNAME_MAX or len(password) > MAX_PASSWORD_LENGTH:
        return _page(request, target, username="", error=WRONG, status_code=401)
    container = container_of(request)
    settings = container.settings.access
    hashing = password_hashing(settings)
    account_policy, address_policy = throttle_policies(settings)
    address = request.client.host if request.client else "unknown"
    now = utcnow()
    with read_only(container.sessions) as session:
        address_lock = _users.address_locked_until(session, address, now)
        credentials = _users.credentials(session, username)
    if address_lock is not None:
        return _refused(
            request,
            target=target,
            username=username,
            refusal="address_locked",
            retry_at=address_lock,
            now=now,
        )
    # The slow hash runs outside any transaction; locks are checked again when recording.
    verified = hashing.verify(credentials.password_hash, password)
    new_hash = None
    if verified and credentials.password_hash and hashing.needs_rehash(credentials.password_hash):
        new_hash = hashing.hash(password)
    with unit_of_work(container.sessions) as session:
        result = _users.record_attempt(
            session,
            username=username,
            verified=verified,
            client_address=address,
            account_policy=account_policy,
            address_policy=address_policy,
            now=now,
            new_hash=new_hash,
        )
        started = None
        if result.refusal is None and result.user is not None:
            # A session this browser had before ends: one sign-in, one session.
            previous = request.cookies.get(SESSION_COOKIE)
            if previous:
                _sessions.revoke_token(session, previous, now=now)
            started = _sessions.start(
                session,
                result.user,
                client_address=address,
                user_agent=request.headers.get("user-agent", ""),
                limits=session_limits(settings),
                now=now,
            )
    if started is None or result.refusal is not None:
        log.info("sign_in_refused", refusal=result.refusal)
        return _refused(
            request,
            target=target,
            username=username,
            refusal=result.refusal or "wrong",
            retry_at=result.retry_at,
            now=now,
        )
    log.info("signed_in", user_id=started.info.user_id)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        started.token,
        max_age=settings.session_lifetime_hours * 3600,
        path="/",
        secure=not settings.allow_plain_http,
        httponly=True,
        samesite="lax",
    )
    return response


@router.post("/logout")
def logout(
    request: Request, principal: Principal = Depends(require_permission(WEB_SIGN_IN))
) -> Response:
    """End the session, forget the cookie, and show the sign-in form."""
    container = container_of(request)
    with unit_of_work(container.sessions) as session:
        _sessions.end(session, principal.session, principal.user, now=utcnow())
    log.info("signed_out", user_id=principal.user.user_id)
    response = RedirectResponse("/login", status_code=303)
    settings = container.settings.access
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=not settings.allow_plain_http,
        httponly=True,
        samesite="lax",
    )
    return response


def _refused(
    request: Request,
    *,
    target: str,
    username: str,
    refusal: str,
    retry_at: datetime | None,
    now: datetime,
) -> Response:
    retry = f"{retry_at:%Y-%m-%d %H:%M}" if retry_at is not None else "a while"
    message = MESSAGES.get(refusal, WRONG).format(retry=retry)
    response = _page(
        request, target, username=username, error=message, status_code=STATUS.get(refusal, 401)
    )
    if retry_at is not None:
        response.headers["Retry-After"] = str(max(1, math.ceil((retry_at - now).total_seconds())))
    return response


def _page(
    request: Request, target: str, *, username: str, error: str | None, status_code: int = 200
) -> Response:
    response = render(
        request,
        "login.html",
        {"next": target, "username": username, "error": error},
        status_code=status_code,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
