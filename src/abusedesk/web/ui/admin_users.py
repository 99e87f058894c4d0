"""The users admin page: list people, create them, change their role, disable or enable
them, lift a sign-in lock and set a new password.

Passwords are typed twice and never shown again, not even when a form is refused. The
service role belongs to API tokens and cannot be given to a person. An admin cannot
disable themselves or change their own role: another admin must, so that nobody locks the
last door behind them by mistake. Every change is audited by ``SqlUserRepository``.
"""

from dataclasses import dataclass

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import UserRequestInvalid
from abusedesk.access.model import ROLE_DESCRIPTIONS, ROLES, SERVICE, USER_ADMIN
from abusedesk.access.policy import MAX_PASSWORD_LENGTH
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only
from abusedesk.storage.users import SqlUserRepository, normalise_username
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.admin_common import admin_pages, transact
from abusedesk.web.ui.login import password_hashing
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

_users = SqlUserRepository()
MAX_REASON = 2000
Username = Path(min_length=1, max_length=64)
PERSON_ROLES = tuple(role for role in ROLES if role != SERVICE)
DONE = {
    "created": "The user is created.",
    "role": "The role changed; the user's sessions have ended.",
    "disabled": "The user is disabled and signed out everywhere.",
    "enabled": "The user may sign in again.",
    "unchanged": "Nothing needed to change.",
    "unlocked": "The sign-in lock is lifted.",
    "password": "The password is set; the user's sessions have ended.",
}


@dataclass(frozen=True)
class NewUserForm:
    """A new user as typed, without the passwords (never shown again)."""

    username: str = ""
    display_name: str = ""
    email: str = ""
    role: str = PERSON_ROLES[0]


@router.get("/admin/users")
def users_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """List every user with role, state, lock and last sign-in; the form to create one."""
    return _show_list(request, principal, notice=DONE.get(done or ""))


@router.post("/admin/users")
async def create_user(
    request: Request,
    *,
    username: str = Form(max_length=64),
    display_name: str = Form("", max_length=200),
    email: str = Form("", max_length=320),
    role: str = Form(max_length=40),
    password: str = Form(max_length=MAX_PASSWORD_LENGTH),
    password_again: str = Form(max_length=MAX_PASSWORD_LENGTH),
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Create a person's account with a role and a first password."""
    container = container_of(request)
    settings = container.settings.access
    actor = principal.user.username

    def change(session: Session) -> None:
        _same(password, password_again)
        _users.create(
            session,
            username=username,
            display_name=display_name,
            email=email,
            role=role,
            password=password,
            hashing=password_hashing(settings),
            min_password_length=settings.password_min_length,
            actor=actor,
            now=utcnow(),
        )

    problems = await transact(container, change)
    if not problems:
        return RedirectResponse("/admin/users?done=created", status_code=303)
    typed = NewUserForm(username, display_name, email, role)
    return _show_list(request, principal, problems=problems, typed=typed, status_code=422)


@router.get("/admin/users/{username}")
def user_page(
    request: Request,
    username: str = Username,
    done: str | None = None,
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Show one user and the forms to change them."""
    return _show_user(request, principal, username, notice=DONE.get(done or ""))


@router.post("/admin/users/{username}/role")
async def change_role(
    request: Request,
    *,
    username: str = Username,
    role: str = Form(max_length=40),
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Give the user another role (ending their sessions)."""
    actor = principal.user.username
    outcome: list[bool] = []

    def change(session: Session) -> None:
        _not_self(actor, username, "change your own role")
        _, changed = _users.set_role(
            session, username, role, actor=actor, now=utcnow(), reason=reason.strip() or None
        )
        outcome.append(changed)

    problems = await transact(container_of(request), change)
    return _after(request, principal, username, problems, "role" if any(outcome) else "unchanged")


@router.post("/admin/users/{username}/disable")
async def disable_user(
    request: Request,
    *,
    username: str = Username,
    disabled: bool = Form(),
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Disable the user (signing them out everywhere), or enable them again."""
    actor = principal.user.username
    outcome: list[bool] = []

    def change(session: Session) -> None:
        if disabled:
            _not_self(actor, username, "disable yourself")
        _, changed = _users.set_disabled(
            session, username, disabled, actor=actor, now=utcnow(), reason=reason.strip() or None
        )
        outcome.append(changed)

    problems = await transact(container_of(request), change)
    done = ("disabled" if disabled else "enabled") if any(outcome) else "unchanged"
    return _after(request, principal, username, problems, done)


@router.post("/admin/users/{username}/unlock")
async def unlock_user(
    request: Request,
    *,
    username: str = Username,
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Lift the user's sign-in lock and forgive their failed attempts."""
    actor = principal.user.username

    def change(session: Session) -> None:
        _users.unlock(session, username, actor=actor, now=utcnow(), reason=reason.strip() or None)

    problems = await transact(container_of(request), change)
    return _after(request, principal, username, problems, "unlocked")


@router.post("/admin/users/{username}/password")
async def reset_password(
    request: Request,
    *,
    username: str = Username,
    password: str = Form(max_length=MAX_PASSWORD_LENGTH),
    password_again: str = Form(max_length=MAX_PASSWORD_LENGTH),
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(USER_ADMIN)),
) -> Response:
    """Set a new password for the user (ending their sessions)."""
    container = container_of(request)
    settings = container.settings.access
    actor = principal.user.username

    def change(session: Session) -> None:
        _same(password, password_again)
        _users.reset_password(
            session,
            username,
            password,
            hashing=password_hashing(settings),
            min_password_length=settings.password_min_length,
            actor=actor,
            now=utcnow(),
            reason=reason.strip() or None,
        )

    problems = await transact(container, change)
    return _after(request, principal, username, problems, "password")


def _same(password: str, again: str) -> None:
    if password != again:
        raise UserRequestInvalid("the two passwords differ; type the same password twice")


def _not_self(actor: str, username: str, what: str) -> None:
    if normalise_username(username) == actor:
        raise UserRequestInvalid(f"you cannot {what}; ask another admin")


def _after(
    request: Request, principal: Principal, username: str, problems: list[str], done: str
) -> Response:
    if not problems:
        name = normalise_username(username)
        return RedirectResponse(f"/admin/users/{name}?done={done}", status_code=303)
    return _show_user(request, principal, username, problems=problems, status_code=422)


def _show_list(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    typed: NewUserForm | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        users = _users.list_users(session)
    return private_page(
        request,
        "workbench/admin/users.html",
        {
            "admin_pages": admin_pages(principal.user),
            "users": users,
            "now": utcnow(),
            "form": typed or NewUserForm(),
            "roles": PERSON_ROLES,
            "role_descriptions": ROLE_DESCRIPTIONS,
            "min_length": container.settings.access.password_min_length,
            "notice": notice,
            "problems": problems or [],
        },
        status_code=status_code,
    )


def _show_user(
    request: Request,
    principal: Principal,
    username: str,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        user = _users.get(session, username)
    return private_page(
        request,
        "workbench/admin/user.html",
        {
            "admin_pages": admin_pages(principal.user),
            "person": user,
            "is_me": user.username == principal.user.username,
            "now": utcnow(),
            "roles": PERSON_ROLES,
            "role_descriptions": ROLE_DESCRIPTIONS,
            "min_length": container.settings.access.password_min_length,
            "notice": notice,
            "problems": problems or [],
        },
        status_code=status_code,
    )
