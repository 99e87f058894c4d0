"""Users and sign-in attempts in the database: rules enforced, counters kept, all audited."""

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from abusedesk.access.errors import UsernameTaken, UserNotFound, UserRequestInvalid, WeakPassword
from abusedesk.access.model import ANALYST_BASIC, LEAD, SERVICE
from abusedesk.access.policy import ThrottlePolicy
from abusedesk.bootstrap import Container, build
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import AuditEntry, LoginThrottle
from abusedesk.storage.users import SignInResult, SqlUserRepository
from tests.support.access import PASSWORD, access_settings, create_user

POLICY = ThrottlePolicy(max_failures=3)
ADDRESS_POLICY = ThrottlePolicy(max_failures=100)


@pytest.fixture
def container(database_url: str, tmp_path: Path) -> Iterator[Container]:
    """Return the container with fast password hashing."""
    built = build(access_settings(database_url, tmp_path))
    yield built
    built.close()


def _audit(container: Container) -> list[tuple[str, str, str | None]]:
    with read_only(container.sessions) as session:
        rows = session.execute(
            select(AuditEntry.tag, AuditEntry.subject_id, AuditEntry.reason).order_by(AuditEntry.id)
        )
        return [(tag, subject, reason) for tag, subject, reason in rows]


def _attempt(
    container: Container, username: str, *, verified: bool, address: str = "192.0.2.1"
) -> SignInResult:
    with unit_of_work(container.sessions) as session:
        return SqlUserRepository().record_attempt(
            session,
            username=username,
            verified=verified,
            client_address=address,
            account_policy=POLICY,
            address_policy=ADDRESS_POLICY,
            now=utcnow(),
        )


def test_create_stores_a_hash_and_audits_without_the_password(container: Container) -> None:
    """A new user is stored lower-cased with an argon2 hash; the audit row holds no secret."""
    user = create_user(container, "Alice", ANALYST_BASIC)

    with read_only(container.sessions) as session:
        credentials = SqlUserRepository().credentials(session, "ALICE")
    audit = _audit(container)

    assert (user.username, credentials.user) == ("alice", user)
    assert credentials.password_hash is not None
    assert credentials.password_hash.startswith("$argon2id$")
    assert audit == [("auth:user:create", str(user.user_id), None)]


def test_usernames_are_unique_whatever_their_case(container: Container) -> None:
    """A second user with the same name in other letters is refused."""
    create_user(container, "alice", ANALYST_BASIC)

    with pytest.raises(UsernameTaken):
        create_user(container, "ALICE", LEAD)


@pytest.mark.parametrize(
    ("username", "role", "password", "error"),
    [
        ("a", ANALYST_BASIC, PASSWORD, UserRequestInvalid),
        ("has space", ANALYST_BASIC, PASSWORD, UserRequestInvalid),
        ("bob", "superuser", PASSWORD, UserRequestInvalid),
        ("bob", SERVICE, PASSWORD, UserRequestInvalid),
        ("bob", ANALYST_BASIC, "short", WeakPassword),
        ("bob", ANALYST_BASIC, "bob-and-more-letters", WeakPassword),
    ],
)
def test_bad_requests_are_refused_and_store_nothing(
    container: Container, username: str, role: str, password: str, error: type[Exception]
) -> None:
    """Bad names, unknown or API-only roles and weak passwords are refused; nothing is stored."""
    with pytest.raises(error):
        create_user(container, username, role, password)

    with read_only(container.sessions) as session:
        assert SqlUserRepository().list_users(session) == []


def test_failed_attempts_lock_and_are_audited(container: Container) -> None:
    """The third failure locks the account; each failure and the lock are audited."""
    user = create_user(container, "alice", ANALYST_BASIC)

    outcomes = [_attempt(container, "alice", verified=False).refusal for _ in range(4)]

    assert outcomes == ["wrong", "wrong", "wrong", "locked"]
    assert [tag for tag, _, _ in _audit(container)] == [
        "auth:user:create",
        "auth:login:fail",
        "auth:login:fail",
        "auth:login:fail",
        "auth:user:lock",
    ]
    with read_only(container.sessions) as session:
        stored = SqlUserRepository().get(session, "alice")
    assert stored.is_locked(utcnow())
    assert stored.user_id == user.user_id


def test_a_right_password_while_locked_is_still_refused(container: Container) -> None:
    """A lock refuses even a verified password until it ends or is lifted."""
    create_user(container, "alice", ANALYST_BASIC)
    for _ in range(3):
        _attempt(container, "alice", verified=False)

    result = _attempt(container, "alice", verified=True)

    assert (result.refusal, result.retry_at is not None) == ("locked", True)


def test_success_resets_the_count_and_notes_the_time(container: Container) -> None:
    """A successful sign-in forgives earlier failures and sets last_login_at."""
    create_user(container, "alice", ANALYST_BASIC)
    _attempt(container, "alice", verified=False)
    _attempt(container, "alice", verified=False)

    result = _attempt(container, "alice", verified=True)

    assert result.refusal is None
    assert result.user is not None
    assert (result.user.failed_logins, result.user.last_login_at is not None) == (0, True)


def test_unknown_username_is_audited_without_the_typed_name(container: Container) -> None:
    """A failure for no such user is audited against the address; the typed text is not kept."""
    _attempt(container, "my secret password", verified=False, address="198.51.100.7")

    with read_only(container.sessions) as session:
        row = session.scalars(select(AuditEntry)).one()
        seen = (row.tag, row.subject_type, row.subject_id, row.reason)
        kept = f"{row.before}{row.after}{row.actor}"
    assert seen == ("auth:login:fail", "client_address", "198.51.100.7", "unknown username")
    assert "secret" not in kept


def test_unlock_lifts_the_lock_and_is_audited(container: Container) -> None:
    """An admin's unlock makes a locked account usable again, in the audit log."""
    create_user(container, "alice", ANALYST_BASIC)
    for _ in range(3):
        _attempt(container, "alice", verified=False)

    with unit_of_work(container.sessions) as session:
        _, was_locked = SqlUserRepository().unlock(session, "alice", actor="admin", now=utcnow())

    assert was_locked is True
    assert _attempt(container, "alice", verified=True).refusal is None
    assert "auth:user:unlock" in [tag for tag, _, _ in _audit(container)]


def test_address_lock_refuses_before_looking_at_the_user(container: Container) -> None:
    """Once an address is locked, even a verified attempt from it is refused."""
    create_user(container, "alice", ANALYST_BASIC)
    tight = ThrottlePolicy(max_failures=2)
    with unit_of_work(container.sessions) as session:
        for name in ("x1", "x2"):
            SqlUserRepository().record_attempt(
                session,
                username=name,
                verified=False,
                client_address="203.0.113.9",
                account_policy=POLICY,
                address_policy=tight,
                now=utcnow(),
            )

    result = _attempt(container, "alice", verified=True, address="203.0.113.9")
    elsewhere = _attempt(container, "alice", verified=True, address="203.0.113.10")

    assert (result.refusal, elsewhere.refusal) == ("address_locked", None)


def test_set_role_changes_and_audits_before_and_after(container: Container) -> None:
    """A role change is audited with the old and new role; the same role changes nothing."""
    create_user(container, "alice", ANALYST_BASIC)
    users = SqlUserRepository()

    with unit_of_work(container.sessions) as session:
        _, changed = users.set_role(session, "alice", LEAD, actor="admin", now=utcnow())
    with unit_of_work(container.sessions) as session:
        _, again = users.set_role(session, "alice", LEAD, actor="admin", now=utcnow())
    with read_only(container.sessions) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.tag == "auth:user:role")).one()
        recorded = (entry.before, entry.after, entry.actor)

    assert (changed, again) == (True, False)
    assert recorded == (
        {"role": ANALYST_BASIC},
        {"role": LEAD},
        "admin",
    )


def test_changing_an_unknown_user_raises_not_found(container: Container) -> None:
    """Naming a user nobody has fails with UserNotFound."""
    with pytest.raises(UserNotFound), unit_of_work(container.sessions) as session:
        SqlUserRepository().unlock(session, "ghost", actor="admin", now=utcnow())


def test_lock_expires_after_its_time(container: Container) -> None:
    """A lock set in the past no longer refuses once its end has passed."""
    create_user(container, "alice", ANALYST_BASIC)
    for _ in range(3):
        _attempt(container, "alice", verified=False)
    later = utcnow() + POLICY.lock_for + timedelta(seconds=1)

    with unit_of_work(container.sessions) as session:
        result = SqlUserRepository().record_attempt(
            session,
            username="alice",
            verified=True,
            client_address="192.0.2.1",
            account_policy=POLICY,
            address_policy=ADDRESS_POLICY,
            now=later,
        )

    assert result.refusal is None


def test_a_sign_in_forgets_addresses_whose_failures_no_longer_count(container: Container) -> None:
    """Throttle rows past their window and lock are deleted; recent ones stay."""
    create_user(container, "alice", ANALYST_BASIC)
    long_ago = utcnow() - timedelta(days=3)
    with unit_of_work(container.sessions) as session:
        for address, at in (("192.0.2.50", long_ago), ("192.0.2.51", utcnow())):
            SqlUserRepository().record_attempt(
                session,
                username="nobody",
                verified=False,
                client_address=address,
                account_policy=POLICY,
                address_policy=ADDRESS_POLICY,
                now=at,
            )

    _attempt(container, "alice", verified=True)

    with read_only(container.sessions) as session:
        kept = list(session.scalars(select(LoginThrottle.client_address)))
    assert kept == ["192.0.2.51"]
