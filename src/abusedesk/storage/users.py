"""Users of the workbench: create, change, disable and unlock them; record sign-in attempts.

Passwords are hashed with argon2id by the caller's ``PasswordHashing``; only hashes are
stored. A sign-in is judged in two steps so that the slow hash is never computed inside a
write transaction: ``credentials`` reads what the check needs, the caller verifies the
password, and ``record_attempt`` writes the outcome (counters, lock, audit) in one go.
Every change to a user, and every sign-in, failed sign-in and lock, is audited.
"""

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from abusedesk.access.errors import UsernameTaken, UserNotFound, UserRequestInvalid
from abusedesk.access.model import ROLES, SERVICE, User, can_sign_in
from abusedesk.access.policy import (
    FailureCounter,
    PasswordHashing,
    ThrottlePolicy,
    after_failure,
    after_success,
    check_password,
)
from abusedesk.storage import audit
from abusedesk.storage.tables import LoginThrottle, WebSession
from abusedesk.storage.tables import User as UserRow

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
DISPLAY_NAME_MAX = 200
EMAIL_MAX = 320
# Client addresses as the web server saw them; longer values are cut, not refused.
ADDRESS_MAX = 64


@dataclass(frozen=True)
class Credentials:
    """What checking a password needs: the user (None if unknown) and the stored hash."""

    user: User | None
    password_hash: str | None


@dataclass(frozen=True)
class SignInResult:
    """The outcome of one sign-in attempt.

    *refusal* is None on success; otherwise one of ``wrong`` (username or password),
    ``locked`` (the account), ``address_locked``, ``disabled`` or ``api_only``, with
    *retry_at* when waiting helps.
    """

    user: User | None
    refusal: str | None
    retry_at: datetime | None = None


def normalise_username(username: str) -> str:
    """Return *username* as stored: trimmed and lower-case."""
    return username.strip().lower()


class SqlUserRepository:
    """Store users and their sign-in counters; audit every change."""

    def create(
        self,
        session: Session,
        *,
        username: str,
        display_name: str,
        email: str,
        role: str,
        password: str,
        hashing: PasswordHashing,
        min_password_length: int,
        actor: str,
        now: datetime,
    ) -> User:
        """Create a user with *password* (checked against the rules), and audit it."""
        name = _check_username(username)
        clean_display = _check_display_name(display_name or name)
        clean_email = _check_email(email)
        _check_role(role)
        check_password(password, username=name, min_length=min_password_length)
        row = UserRow(
            username=name,
            display_name=clean_display,
            email=clean_email,
            role=role,
            password_hash=hashing.hash(password),
            created_at=now,
            password_changed_at=now,
            failed_logins=0,
            lockouts=0,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError as exc:
            raise UsernameTaken(f"the username {name!r} is already taken") from exc
        audit.record(
            session,
            actor=actor,
            tag="auth:user:create",
            subject_type="user",
            subject_id=row.id,
            at=now,
            after={"username": name, "display_name": clean_display, "role": role},
        )
        return user_from_row(row)

    def list_users(self, session: Session) -> list[User]:
        """Return every user, disabled ones included, by username."""
        return [
            user_from_row(row)
            for row in session.scalars(select(UserRow).order_by(UserRow.username))
        ]

    def get(self, session: Session, username: str) -> User:
        """Return the user named *username*; raise UserNotFound if there is none."""
        return user_from_row(self._row(session, username))

    def get_by_id(self, session: Session, user_id: int) -> User | None:
        """Return the user with *user_id*, or None."""
        row = session.get(UserRow, user_id)
        return user_from_row(row) if row is not None else None

    def set_role(
        self,
        session: Session,
        username: str,
        role: str,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> tuple[User, bool]:
        """Give the user *role*; end their sessions; audit it. Return the user and if it changed."""
        _check_role(role)
        row = self._row(session, username)
        if row.role == role:
            return user_from_row(row), False
        before = row.role
        row.role = role
        _end_sessions(session, row.id, now)
        audit.record(
            session,
            actor=actor,
            tag="auth:user:role",
            subject_type="user",
            subject_id=row.id,
            at=now,
            before={"role": before},
            after={"role": role},
            reason=reason,
        )
        session.flush()
        return user_from_row(row), True

    def set_disabled(
        self,
        session: Session,
        username: str,
        disabled: bool,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> tuple[User, bool]:
        """Disable (ending every session) or enable the user; audit it. Return if it changed."""
        row = self._row(session, username)
        if (row.disabled_at is not None) == disabled:
            return user_from_row(row), False
        before = row.disabled_at
        row.disabled_at = now if disabled else None
        if disabled:
            _end_sessions(session, row.id, now)
        audit.record(
            session,
            actor=actor,
            tag="auth:user:disable" if disabled else "auth:user:enable",
            subject_type="user",
            subject_id=row.id,
            at=now,
            before={"disabled_at": _iso(before)},
            after={"disabled_at": _iso(row.disabled_at)},
            reason=reason,
        )
        session.flush()
        return user_from_row(row), True

    def reset_password(
        self,
        session: Session,
        username: str,
        password: str,
        *,
        hashing: PasswordHashing,
        min_password_length: int,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> User:
        """Set a new password (checked), end every session of the user, and audit it."""
        row = self._row(session, username)
        check_password(password, username=row.username, min_length=min_password_length)
        row.password_hash = hashing.hash(password)
        row.password_changed_at = now
        _end_sessions(session, row.id, now)
        audit.record(
            session,
            actor=actor,
            tag="auth:user:password",
            subject_type="user",
            subject_id=row.id,
            at=now,
            after={"password_changed_at": now.isoformat()},
            reason=reason,
        )
        session.flush()
        return user_from_row(row)

    def unlock(
        self,
        session: Session,
        username: str,
        *,
        actor: str,
        now: datetime,
        reason: str | None = None,
    ) -> tuple[User, bool]:
        """Lift a sign-in lock and forgive the failures; audit it. Return if it was locked."""
        row = self._row(session, username)
        was_locked = row.locked_until is not None and row.locked_until > now
        before = {"locked_until": _iso(row.locked_until), "failed_logins": row.failed_logins}
        _store_counter(row, after_success(_counter(row)))
        audit.record(
            session,
            actor=actor,
            tag="auth:user:unlock",
            subject_type="user",
            subject_id=row.id,
            at=now,
            before=before,
            after={"locked_until": None, "failed_logins": 0},
            reason=reason,
        )
        session.flush()
        return user_from_row(row), was_locked

    def credentials(self, session: Session, username: str) -> Credentials:
        """Return the user named *username* and their hash, or an unknown user's blanks."""
        row = session.scalar(
            select(UserRow).where(UserRow.username == normalise_username(username)[:64])
        )
        if row is None:
            return Credentials(None, None)
        return Credentials(user_from_row(row), row.password_hash)

    def address_locked_until(
        self, session: Session, client_address: str, now: datetime
    ) -> datetime | None:
        """Return until when *client_address* is refused, or None when it may try."""
        row = session.get(LoginThrottle, client_address[:ADDRESS_MAX])
        if row is None:
            return None
        counter = _address_counter(row)
        return counter.locked_until if counter.is_locked(now) else None

    def record_attempt(
        self,
        session: Session,
        *,
        username: str,
        verified: bool,
        client_address: str,
        account_policy: ThrottlePolicy,
        address_policy: ThrottlePolicy,
        now: datetime,
        new_hash: str | None = None,
    ) -> SignInResult:
        """Write the outcome of checking a password for *username*, and audit it.

        *verified* says whether the password matched the hash ``credentials`` returned.
        Locks are checked again here, under the write transaction, so that attempts made
        in parallel cannot slip past a lock another one just set. *new_hash* replaces the
        stored hash after a match, when the hashing parameters changed.
        """
        address = client_address[:ADDRESS_MAX]
        throttle = _throttle_row(session, address)
        address_counter = _address_counter(throttle)
        if address_counter.is_locked(now):
            return SignInResult(None, "address_locked", address_counter.locked_until)
        row = session.scalar(
            select(UserRow)
            .where(UserRow.username == normalise_username(username)[:64])
            .with_for_update()
        )
        if row is not None and _counter(row).is_locked(now):
            return SignInResult(user_from_row(row), "locked", row.locked_until)
        if not verified or row is None:
            return self._failed(
                session,
                row=row,
                throttle=throttle,
                address_policy=address_policy,
                account_policy=account_policy,
                now=now,
            )
        refusal = None
        if row.disabled_at is not None:
            refusal = "disabled"
        elif not can_sign_in(row.role):
            refusal = "api_only"
        if refusal is not None:
            audit.record(
                session,
                actor=row.username,
                tag="auth:login:refuse",
                subject_type="user",
                subject_id=row.id,
                at=now,
                after={"client_address": address},
                reason=refusal,
            )
            return SignInResult(user_from_row(row), refusal)
        _store_counter(row, after_success(_counter(row)))
        row.last_login_at = now
        _prune_throttles(session, address_policy, now)
        if new_hash is not None:
            row.password_hash = new_hash
        audit.record(
            session,
            actor=row.username,
            tag="auth:login:success",
            subject_type="user",
            subject_id=row.id,
            at=now,
            after={"client_address": address, "rehashed": new_hash is not None},
        )
        session.flush()
        return SignInResult(user_from_row(row), None)

    def _failed(
        self,
        session: Session,
        *,
        row: UserRow | None,
        throttle: LoginThrottle,
        address_policy: ThrottlePolicy,
        account_policy: ThrottlePolicy,
        now: datetime,
    ) -> SignInResult:
        address = throttle.client_address
        address_after = after_failure(_address_counter(throttle), address_policy, now)
        _store_address_counter(throttle, address_after)
        if address_after.is_locked(now):
            audit.record(
                session,
                actor="anonymous",
                tag="auth:address:lock",
                subject_type="client_address",
                subject_id=address,
                at=now,
                after={"locked_until": _iso(address_after.locked_until)},
                reason="too many failed sign-ins from this address",
            )
        if row is None:
            # The typed name is not kept: people type passwords into the username field.
            audit.record(
                session,
                actor="anonymous",
                tag="auth:login:fail",
                subject_type="client_address",
                subject_id=address,
                at=now,
                reason="unknown username",
            )
            session.flush()
            return SignInResult(None, "wrong")
        counter = after_failure(_counter(row), account_policy, now)
        _store_counter(row, counter)
        audit.record(
            session,
            actor="anonymous",
            tag="auth:login:fail",
            subject_type="user",
            subject_id=row.id,
            at=now,
            after={"client_address": address, "failed_logins": counter.failures},
            reason="wrong password",
        )
        if counter.is_locked(now):
            audit.record(
                session,
                actor="anonymous",
                tag="auth:user:lock",
                subject_type="user",
                subject_id=row.id,
                at=now,
                after={"locked_until": _iso(counter.locked_until), "lockouts": counter.lockouts},
                reason=f"{account_policy.max_failures} failed sign-ins",
            )
        session.flush()
        return SignInResult(user_from_row(row), "wrong")

    def _row(self, session: Session, username: str) -> UserRow:
        row = session.scalar(
            select(UserRow).where(UserRow.username == normalise_username(username))
        )
        if row is None:
            raise UserNotFound(f"no user is named {normalise_username(username)!r}")
        return row


def _throttle_row(session: Session, address: str) -> LoginThrottle:
    row = session.scalar(
        select(LoginThrottle).where(LoginThrottle.client_address == address).with_for_update()
    )
    if row is not None:
        return row
    row = LoginThrottle(client_address=address, failures=0, lockouts=0)
    try:
        # A savepoint: another attempt from the same address may insert it first.
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = session.scalar(
            select(LoginThrottle).where(LoginThrottle.client_address == address).with_for_update()
        )
        assert found is not None  # noqa: S101  # the insert just collided with it
        return found
    return row


def _prune_throttles(session: Session, policy: ThrottlePolicy, now: datetime) -> None:
    """Forget addresses whose failures and locks no longer count for anything."""
    session.execute(
        delete(LoginThrottle).where(
            or_(
                LoginThrottle.window_started_at.is_(None),
                LoginThrottle.window_started_at < now - policy.window,
            ),
            or_(
                LoginThrottle.locked_until.is_(None),
                LoginThrottle.locked_until < now - policy.max_lock,
            ),
        )
    )


def _end_sessions(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def _counter(row: UserRow) -> FailureCounter:
    return FailureCounter(
        failures=row.failed_logins,
        window_started_at=row.failures_started_at,
        locked_until=row.locked_until,
        lockouts=row.lockouts,
    )


def _store_counter(row: UserRow, counter: FailureCounter) -> None:
    row.failed_logins = counter.failures
    row.failures_started_at = counter.window_started_at
    row.locked_until = counter.locked_until
    row.lockouts = counter.lockouts


def _address_counter(row: LoginThrottle) -> FailureCounter:
    return FailureCounter(
        failures=row.failures,
        window_started_at=row.window_started_at,
        locked_until=row.locked_until,
        lockouts=row.lockouts,
    )


def _store_address_counter(row: LoginThrottle, counter: FailureCounter) -> None:
    row.failures = counter.failures
    row.window_started_at = counter.window_started_at
    row.locked_until = counter.locked_until
    row.lockouts = counter.lockouts


def _check_username(username: str) -> str:
    name = normalise_username(username)
    if not _USERNAME.fullmatch(name):
        raise UserRequestInvalid(
            "a username is 2 to 64 characters: letters, digits, '.', '-' or '_', "
            "starting with a letter or digit"
        )
    return name


def _check_display_name(display_name: str) -> str:
    clean = " ".join(display_name.split())
    if not clean or len(clean) > DISPLAY_NAME_MAX or not clean.isprintable():
        raise UserRequestInvalid(f"a display name is 1 to {DISPLAY_NAME_MAX} printable characters")
    return clean


def _check_email(email: str) -> str:
    clean = email.strip()
    if clean and (len(clean) > EMAIL_MAX or not _EMAIL.fullmatch(clean)):
        raise UserRequestInvalid("an email address looks like name@example.net")
    return clean


def _check_role(role: str) -> None:
    if role == SERVICE:
        raise UserRequestInvalid(
            "the service role belongs to API tokens, which never sign in; "
            "create one with `abusedesk token create`"
        )
    if role not in ROLES:
        known = ", ".join(r for r in ROLES if r != SERVICE)
        raise UserRequestInvalid(f"unknown role {role!r}; roles: {known}")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def user_from_row(row: UserRow) -> User:
    """Return the domain view of a stored user row."""
    return User(
        user_id=row.id,
        username=row.username,
        display_name=row.display_name,
        email=row.email,
        role=row.role,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
        locked_until=row.locked_until,
        failed_logins=row.failed_logins,
        last_login_at=row.last_login_at,
        password_changed_at=row.password_changed_at,
    )
