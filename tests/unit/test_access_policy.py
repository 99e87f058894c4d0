"""The access rules on their own: roles, passwords, hashing, throttling, CSRF, redirects."""

from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.access.errors import WeakPassword
from abusedesk.access.model import (
    AUDITOR,
    PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    SCOPE_PERMISSIONS,
    SERVICE,
    WEB_SIGN_IN,
    can_sign_in,
    permission_of_scope,
    permissions_of,
    role_allows,
)
from abusedesk.access.policy import (
    FailureCounter,
    PasswordHashing,
    SessionLimits,
    ThrottlePolicy,
    after_failure,
    after_success,
    check_password,
    csrf_token,
    csrf_token_matches,
    new_csrf_secret,
    new_session_token,
    safe_next,
    session_end_reason,
    session_id_of,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(
    max_failures=5,
    window=timedelta(minutes=15),
    lock_for=timedelta(minutes=15),
    max_lock=timedelta(hours=2),
)
FAST = PasswordHashing(time_cost=1, memory_kib=1024, parallelism=1)


def _fail_times(counter: FailureCounter, times: list[datetime]) -> FailureCounter:
    for at in times:
        counter = after_failure(counter, POLICY, at)
    return counter


# --- roles and permissions ----------------------------------------------------------


def test_every_role_holds_only_known_permissions() -> None:
    """The table grants nothing that is not a named permission."""
    granted = set().union(*ROLE_PERMISSIONS.values())

    assert granted - set(PERMISSIONS) == set()


def test_every_permission_is_held_by_some_role() -> None:
    """A permission no role holds is dead weight or a forgotten grant."""
    granted = set().union(*ROLE_PERMISSIONS.values())

    assert set(PERMISSIONS) - granted == set()


def test_the_roles_are_the_seven_of_the_workbench() -> None:
    """The roles are exactly those the workbench describes."""
    assert set(ROLES) == {
        "analyst_basic",
        "analyst_advanced",
        "lead",
        "qa",
        "admin",
        "auditor",
        "service",
    }


def test_auditor_holds_only_permissions_that_read() -> None:
    """The auditor role is read-only."""
    assert [p for p in ROLE_PERMISSIONS[AUDITOR] if not PERMISSIONS[p].read_only] == []


def test_only_the_service_role_cannot_sign_in() -> None:
    """Every role but service may sign in to the browser."""
    assert [role for role in ROLES if not can_sign_in(role)] == [SERVICE]


def test_advanced_analysts_hold_everything_basic_analysts_do() -> None:
    """Tiers nest: advanced is basic plus more, and a lead is advanced plus more."""
    basic, advanced, lead = (
        permissions_of(r) for r in ("analyst_basic", "analyst_advanced", "lead")
    )

    assert (basic < advanced, advanced < lead) == (True, True)


def test_unknown_role_holds_nothing() -> None:
    """A role name not in the table (a typo in the database) grants nothing."""
    assert (permissions_of("superuser"), role_allows("superuser", WEB_SIGN_IN)) == (
        frozenset(),
        False,
    )


def test_every_scope_maps_to_a_service_permission() -> None:
    """Each token scope stands for one permission the service role holds."""
    assert {permission_of_scope(scope) for scope in SCOPE_PERMISSIONS} == ROLE_PERMISSIONS[SERVICE]


def test_unmapped_scope_is_an_error() -> None:
    """A scope outside the table raises instead of granting anything."""
    with pytest.raises(KeyError):
        permission_of_scope("everything:write")


# --- passwords ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short pw", "at least 12 characters"),
        ("x" * 1025 + "abcd", "at most 1024"),
        (" padded password ", "spaces"),
        ("jdoe-was-here-2026", "contain the username"),
        ("Password1234", "most common"),
        ("abababababab", "4 different characters"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, reason: str) -> None:
    """Each rule refuses with words that say which rule it is."""
    with pytest.raises(WeakPassword, match=reason):
        check_password(password, username="JDoe")


def test_a_long_passphrase_is_accepted() -> None:
    """A passphrase that breaks no rule passes."""
    check_password("violet tractor under rain", username="jdoe")


def test_minimum_length_is_configurable() -> None:
    """A stricter minimum refuses what the default would accept."""
    with pytest.raises(WeakPassword, match="at least 20"):
        check_password("violet tractor 42", username="jdoe", min_length=20)


def test_hash_verifies_the_password_and_nothing_else() -> None:
    """A hash verifies its own password only; it is argon2id and not the password."""
    stored = FAST.hash("violet tractor under rain")

    assert stored.startswith("$argon2id$")
    assert (
        FAST.verify(stored, "violet tractor under rain"),
        FAST.verify(stored, "violet tractor under snow"),
    ) == (True, False)


def test_unknown_user_never_verifies() -> None:
    """No stored hash (no such user) never matches, whatever is typed."""
    assert FAST.verify(None, "violet tractor under rain") is False


def test_garbage_hash_does_not_verify_and_needs_rehash() -> None:
    """A stored value that is no argon2 hash fails closed and is marked for rehashing."""
    assert (FAST.verify("not-a-hash", "x"), FAST.needs_rehash("not-a-hash")) == (False, True)


def test_changed_parameters_ask_for_a_rehash() -> None:
    """A hash made under other parameters needs a rehash; one made under these does not."""
    older = PasswordHashing(time_cost=2, memory_kib=1024, parallelism=1).hash("violet tractor")

    assert (FAST.needs_rehash(older), FAST.needs_rehash(FAST.hash("violet tractor"))) == (
        True,
        False,
    )


# --- throttling -----------------------------------------------------------------------


def test_four_failures_do_not_lock() -> None:
    """Fewer failures than the limit within the window leave the account open."""
    counter = _fail_times(FailureCounter(), [NOW + timedelta(minutes=m) for m in range(4)])

    assert (counter.failures, counter.is_locked(NOW + timedelta(minutes=4))) == (4, False)


def test_fifth_failure_within_the_window_locks_for_the_base_time() -> None:
    """The fifth failure within 15 minutes locks for 15 minutes from that failure."""
    times = [NOW + timedelta(minutes=m) for m in (0, 3, 6, 9, 12)]

    counter = _fail_times(FailureCounter(), times)

    assert (counter.locked_until, counter.lockouts, counter.failures) == (
        times[-1] + timedelta(minutes=15),
        1,
        0,
    )


def test_failures_spread_beyond_the_window_do_not_lock() -> None:
    """Failures further apart than the window start over instead of adding up."""
    counter = _fail_times(FailureCounter(), [NOW + timedelta(minutes=5 * m) for m in range(8)])

    assert counter.locked_until is None


def test_lock_ends_on_its_own() -> None:
    """A lock holds until its end and not after."""
    counter = _fail_times(FailureCounter(), [NOW] * 5)

    assert (
        counter.is_locked(NOW + timedelta(minutes=14, seconds=59)),
        counter.is_locked(NOW + timedelta(minutes=15)),
    ) == (True, False)


def test_each_lock_in_a_row_doubles_up_to_the_cap() -> None:
    """Locks without a success in between last 15, 30, 60, 120, 120 minutes."""
    counter, durations, at = FailureCounter(), [], NOW
    for _ in range(5):
        counter = _fail_times(counter, [at] * 5)
        assert counter.locked_until is not None
        durations.append(counter.locked_until - at)
        at = counter.locked_until

    assert durations == [timedelta(minutes=m) for m in (15, 30, 60, 120, 120)]


def test_success_forgives_failures_and_locks() -> None:
    """A successful sign-in resets the count and the doubling."""
    counter = _fail_times(FailureCounter(), [NOW] * 5 + [NOW + timedelta(hours=1)] * 2)

    assert after_success(counter) == FailureCounter()


def test_locks_long_past_are_forgotten() -> None:
    """A lock that ended longer ago than the longest lock no longer doubles the next one."""
    counter = _fail_times(FailureCounter(), [NOW] * 5)
    later = NOW + timedelta(days=2)

    counter = _fail_times(counter, [later] * 5)

    assert counter.locked_until == later + timedelta(minutes=15)


def test_policy_refuses_a_lock_longer_than_its_cap() -> None:
    """A base lock longer than the cap is a configuration error."""
    with pytest.raises(ValueError, match="max_lock"):
        ThrottlePolicy(lock_for=timedelta(hours=3), max_lock=timedelta(hours=1))


# --- sessions and CSRF ----------------------------------------------------------------


def test_session_tokens_are_random_and_stored_as_their_hash() -> None:
    """Two tokens differ; the stored id is 64 hex digits and not the token."""
    first, second = new_session_token(), new_session_token()

    assert first != second
    assert (len(session_id_of(first)), session_id_of(first) == first) == (64, False)


@pytest.mark.parametrize(
    ("last_seen_ago", "expires_in", "revoked", "reason"),
    [
        (timedelta(minutes=1), timedelta(hours=1), False, None),
        (timedelta(minutes=30), timedelta(hours=1), False, "idle too long"),
        (timedelta(minutes=1), timedelta(0), False, "expired"),
        (timedelta(minutes=1), timedelta(hours=1), True, "signed out"),
    ],
)
def test_session_end_reason(
    last_seen_ago: timedelta, expires_in: timedelta, revoked: bool, reason: str | None
) -> None:
    """A session is live until idle, expired or signed out, and says which."""
    assert (
        session_end_reason(
            expires_at=NOW + expires_in,
            last_seen_at=NOW - last_seen_ago,
            revoked_at=NOW if revoked else None,
            limits=SessionLimits(idle=timedelta(minutes=30), lifetime=timedelta(hours=12)),
            now=NOW,
        )
        == reason
    )


def test_csrf_token_matches_only_its_own_session() -> None:
    """A session's token matches it; another session's token, or none, does not."""
    mine, theirs = new_csrf_secret(), new_csrf_secret()

    assert (
        csrf_token_matches(mine, csrf_token(mine)),
        csrf_token_matches(mine, csrf_token(theirs)),
        csrf_token_matches(mine, None),
        csrf_token_matches(mine, ""),
        csrf_token_matches(mine, mine),
    ) == (True, False, False, False, False)


# --- redirects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["/", "/cases/12", "/cases?queue=basic&sort=due", "/search?q=a%2Fb"]
)
def test_local_paths_are_kept(target: str) -> None:
    """A path on this site is where sign-in returns to."""
    assert safe_next(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "cases",
        "https://attacker.example/",
        "//attacker.example/x",
        "/\\attacker.example",
        "/cases\\..\\x",
        "/\r\nSet-Cookie: x=1",
        "/\tx",
        "javascript:alert(1)",
        "/" + "a" * 2001,
    ],
)
def test_anything_else_goes_to_the_start(target: str | None) -> None:
    """Hosts, schemes, backslashes, controls and absurd lengths all become /."""
    assert safe_next(target) == "/"
