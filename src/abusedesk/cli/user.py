"""``abusedesk user``: create, list and change the people who sign in to the workbench.

Passwords are read from a hidden prompt, or from the first line of standard input with
``--password-stdin``; never from the command line, where other users and the shell
history would see them. Every change is audited with the actor ``cli``.
"""

import sys
from datetime import datetime
from typing import NoReturn

import typer
from rich.table import Column, Table

from abusedesk.access.errors import AccessError, UserNotFound
from abusedesk.access.model import ROLE_DESCRIPTIONS, ROLES, SERVICE, User
from abusedesk.access.policy import MAX_PASSWORD_LENGTH, PasswordHashing
from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.config import AccessSettings
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.analyst_activity import set_team
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.users import SqlUserRepository

app = typer.Typer(
    help="Create, list and change the people who sign in to the workbench.",
    no_args_is_help=True,
)

ACTOR = "cli"
LOGIN_ROLES = [role for role in ROLES if role != SERVICE]
_ROLE_HELP = "; ".join(f"{role}: {ROLE_DESCRIPTIONS[role]}" for role in LOGIN_ROLES)
_STDIN_HELP = "Read the password from the first line of standard input instead of a prompt."


def hashing_for(settings: AccessSettings) -> PasswordHashing:
    """Return the password hashing *settings* ask for."""
    return PasswordHashing(
        time_cost=settings.password_time_cost,
        memory_kib=settings.password_memory_kib,
        parallelism=settings.password_parallelism,
    )


def read_password(*, from_stdin: bool) -> str:
    """Return a new password from standard input or a hidden, confirmed prompt."""
    if from_stdin:
        line = sys.stdin.readline(MAX_PASSWORD_LENGTH + 2)
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            errors.print("no password on standard input; send it as one line")
            raise typer.Exit(2)
        return password
    prompted: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return prompted


@app.command("create")
def create(
    username: str = typer.Argument(..., help="The name to sign in with, e.g. 'jdoe'."),
    role: str = typer.Option(..., help=f"The user's role. {_ROLE_HELP}."),
    display_name: str = typer.Option("", help="The name pages show [default: the username]."),
    email: str = typer.Option("", help="Where to reach the user (optional)."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=_STDIN_HELP),
) -> None:
    """Create a user with a role and a password."""
    password = read_password(from_stdin=password_stdin)
    users = SqlUserRepository()
    with open_container() as container:
        settings = container.settings.access
        try:
            with unit_of_work(container.sessions) as session:
                user = users.create(
                    session,
                    username=username,
                    display_name=display_name,
                    email=email,
                    role=role,
                    password=password,
                    hashing=hashing_for(settings),
                    min_password_length=settings.password_min_length,
                    actor=ACTOR,
                    now=utcnow(),
                )
        except AbuseDeskError as exc:
            _fail(exc)
    console.print(plain(f"created user {user.username} ({user.role})"))


@app.command("list")
def list_() -> None:
    """List every user: role, state, and when they last signed in."""
    users = SqlUserRepository()
    now = utcnow()
    with open_container() as container, read_only(container.sessions) as session:
        rows = users.list_users(session)
    if not rows:
        console.print("no users yet; create one with `abusedesk user create NAME --role ROLE`")
        return
    table = Table(
        Column("username", no_wrap=True),
        Column("name", overflow="fold"),
        Column("role", no_wrap=True),
        Column("state", overflow="fold"),
        Column("last sign-in", overflow="fold"),
    )
    for user in rows:
        table.add_row(
            plain(user.username),
            plain(user.display_name),
            user.role,
            _state(user, now),
            f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never",
        )
    console.print(table)


@app.command("set-role")
def set_role(
    username: str = typer.Argument(..., help="The user to change."),
    role: str = typer.Argument(..., help=f"The new role: {', '.join(LOGIN_ROLES)}."),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Give a user another role; their sessions end, so the new role applies at once."""
    users = SqlUserRepository()
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                user, changed = users.set_role(
                    session, username, role, actor=ACTOR, now=utcnow(), reason=reason
                )
        except AbuseDeskError as exc:
            _fail(exc)
    verb = "now has" if changed else "already had"
    console.print(plain(f"{user.username} {verb} the role {user.role}"))


@app.command("disable")
def disable(
    username: str = typer.Argument(..., help="The user to disable."),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Disable a user: they cannot sign in, and their sessions end at once."""
    _set_disabled(username, disabled=True, reason=reason)


@app.command("enable")
def enable(
    username: str = typer.Argument(..., help="The user to enable again."),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Enable a disabled user again."""
    _set_disabled(username, disabled=False, reason=reason)


@app.command("reset-password")
def reset_password(
    username: str = typer.Argument(..., help="The user whose password to set."),
    password_stdin: bool = typer.Option(False, "--password-stdin", help=_STDIN_HELP),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Set a new password for a user; their sessions end."""
    password = read_password(from_stdin=password_stdin)
    users = SqlUserRepository()
    with open_container() as container:
        settings = container.settings.access
        try:
            with unit_of_work(container.sessions) as session:
                user = users.reset_password(
                    session,
                    username,
                    password,
                    hashing=hashing_for(settings),
                    min_password_length=settings.password_min_length,
                    actor=ACTOR,
                    now=utcnow(),
                    reason=reason,
                )
        except AbuseDeskError as exc:
            _fail(exc)
    console.print(plain(f"set a new password for {user.username}; their sessions ended"))


@app.command("unlock")
def unlock(
    username: str = typer.Argument(..., help="The user to unlock."),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Lift a lock after failed sign-ins, and forget the failures."""
    users = SqlUserRepository()
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                user, was_locked = users.unlock(
                    session, username, actor=ACTOR, now=utcnow(), reason=reason
                )
        except AbuseDeskError as exc:
            _fail(exc)
    if was_locked:
        console.print(plain(f"unlocked {user.username}"))
    else:
        console.print(plain(f"{user.username} was not locked; failed sign-ins forgotten"))


def _set_disabled(username: str, *, disabled: bool, reason: str | None) -> None:
    users = SqlUserRepository()
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                user, changed = users.set_disabled(
                    session, username, disabled, actor=ACTOR, now=utcnow(), reason=reason
                )
        except AbuseDeskError as exc:
            _fail(exc)
    state = "disabled" if disabled else "enabled"
    console.print(plain(f"{user.username} {'is now' if changed else 'was already'} {state}"))


def _state(user: User, now: datetime) -> str:
    if user.disabled_at is not None:
        return f"disabled {user.disabled_at:%Y-%m-%d %H:%M}"
    if user.locked_until is not None and user.is_locked(now):
        return f"locked until {user.locked_until:%Y-%m-%d %H:%M}"
    return "active"


def _fail(exc: AbuseDeskError) -> NoReturn:
    errors.print(plain(exc))
    # A name nobody has is a lookup that failed (1); anything else is input to fix (2).
    code = 1 if isinstance(exc, UserNotFound) else 2 if isinstance(exc, AccessError) else 1
    raise typer.Exit(code) from exc


@app.command("team")
def team(
    username: str = typer.Argument(..., help="The user."),
    name: str = typer.Argument("", help="The team the user's figures roll up to; empty: none."),
) -> None:
    """Put a user in a team (for the insights pages' team figures)."""
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                set_team(session, username, name, actor=ACTOR, now=utcnow())
        except AbuseDeskError as exc:
            errors.print(str(exc))
            raise typer.Exit(1) from exc
    console.print(
        f"{username} is in team {name.strip()}" if name.strip() else f"{username} is in no team"
    )
