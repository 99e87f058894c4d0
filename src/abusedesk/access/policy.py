"""Pure access rules: passwords, their hashes, login throttling, sessions, CSRF, redirects.

Nothing here reads a clock or a database: every rule takes what it judges and ``now``.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from urllib.parse import urlsplit

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from abusedesk.access.errors import WeakPassword

# --- passwords ------------------------------------------------------------------------

MIN_PASSWORD_LENGTH = 12
# Long enough for any passphrase; longer input is refused before it is hashed.
MAX_PASSWORD_LENGTH = 1024

# The passwords tried first by anyone guessing; a longer list belongs in a file, but
# these are the ones that pass a length rule and still fall in the first minutes.
COMMON_PASSWORDS = frozenset(
    {
        "123456789012",
        "1234567890123",
        "abcdefghijkl",
        "qwertyuiopas",
        "qwertyuiop123",
        "password1234",
        "password12345",
        "password123!",
        "passwordpassword",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "welcome123456",
        "administrator",
        "admin1234567",
        "changeme1234",
        "changemenow!",
        "trustno1trustno1",
        "correcthorsebatterystaple",
        "abusedesk123",
        "abusedesk1234",
        "abusedeskabusedesk",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "zaq12wsxcde3",
        "qazwsxedcrfv",
        "aaaaaaaaaaaa",
        "000000000000",
        "111111111111",
        "monkey123456",
        "football1234",
        "baseball1234",
        "sunshine1234",
        "princess1234",
        "superman1234",
        "starwars1234",
        "p@ssw0rd1234",
        "passw0rd1234",
    }
)


def check_password(password: str, *, username: str, min_length: int = MIN_PASSWORD_LENGTH) -> None:
    """Raise WeakPassword with the reason unless *password* may be set for *username*."""
    if len(password) < min_length:
        raise WeakPassword(f"a password needs at least {min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise WeakPassword("a password may not start or end with spaces")
    folded = password.casefold()
    name = username.strip().casefold()
    if name and name in folded:
        raise WeakPassword("a password may not contain the username")
    if folded in COMMON_PASSWORDS:
        raise WeakPassword("this password is on the list of the most common ones; choose another")
    if len(set(folded)) < 4:
        raise WeakPassword("a password needs at least 4 different characters")


@dataclass(frozen=True)
class PasswordHashing:
    """Hash and verify passwords with argon2id under the configured cost parameters."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4

    @cached_property
    def _hasher(self) -> PasswordHasher:
        return PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )

    @cached_property
    def _decoy(self) -> str:
        # Verified against when the user does not exist, so that a wrong username costs
        # as much time as a wrong password.
        return self._hasher.hash(secrets.token_hex(16))

    def hash(self, password: str) -> str:
        """Return the argon2id hash of *password*, salt and parameters included."""
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Tell whether *password* matches *stored*; None (no such user) never matches."""
        try:
            if stored is None:
                self._hasher.verify(self._decoy, password)
                return False
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Tell whether *stored* was made under other parameters and should be hashed again."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True


# --- login throttling -----------------------------------------------------------------


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures within a window lock, for how long, doubling up to a cap."""

    max_failures: int = 5
    window: timedelta = timedelta(minutes=15)
    lock_for: timedelta = timedelta(minutes=15)
    max_lock: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        """Refuse a policy that could never lock or never end a lock."""
        if self.max_failures < 1:
            raise ValueError("max_failures must be at least 1")
        if not timedelta(0) < self.lock_for <= self.max_lock:
            raise ValueError("lock_for must be positive and at most max_lock")

    def lock_duration(self, lockouts: int) -> timedelta:
        """Return how long the lock after *lockouts* earlier consecutive locks lasts."""
        # Capped before multiplying, so a long run of locks cannot overflow the timedelta.
        doubled: timedelta = self.lock_for * (2 ** min(lockouts, 32))
        return min(doubled, self.max_lock)


@dataclass(frozen=True)
class FailureCounter:
    """Failed sign-ins counted for one account or one client address."""

    failures: int = 0
    window_started_at: datetime | None = None
    locked_until: datetime | None = None
    # Locks in a row without a success in between; each one lasts twice as long.
    lockouts: int = 0

    def is_locked(self, now: datetime) -> bool:
        """Tell whether attempts are refused at *now*."""
        return self.locked_until is not None and now < self.locked_until


def after_failure(counter: FailureCounter, policy: ThrottlePolicy, now: datetime) -> FailureCounter:
    """Return *counter* after one more failure at *now*, locked when the window fills.

    The window starts at the first failure; failures after it has passed start a new one.
    A lock resets the count, so the next lock needs a full window of failures again, and
    lasts twice as long as the last one. Locks that ended longer ago than the longest lock
    are forgiven.
    """
    lockouts = counter.lockouts
    if counter.locked_until is not None and now - counter.locked_until > policy.max_lock:
        lockouts = 0
    started = counter.window_started_at
    if started is None or now - started >= policy.window or now < started:
        failures, started = 1, now
    else:
        failures = counter.failures + 1
    if failures >= policy.max_failures:
        return FailureCounter(
            failures=0,
            window_started_at=None,
            locked_until=now + policy.lock_duration(lockouts),
            lockouts=lockouts + 1,
        )
    return replace(counter, failures=failures, window_started_at=started, lockouts=lockouts)


def after_success(counter: FailureCounter) -> FailureCounter:
    """Return *counter* after a successful sign-in (or an admin's unlock): all forgiven."""
    return FailureCounter()


# --- sessions and CSRF ----------------------------------------------------------------

SESSION_TOKEN_BYTES = 32
CSRF_SECRET_BYTES = 32


def new_session_token() -> str:
    """Return a fresh random session token, the value of the session cookie."""
    return secrets.token_urlsafe(SESSION_TOKEN_BYTES)


def session_id_of(token: str) -> str:
    """Return the stored id of the session *token* belongs to: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_csrf_secret() -> str:
    """Return a fresh secret a session's CSRF tokens are derived from."""
    return secrets.token_hex(CSRF_SECRET_BYTES)


def csrf_token(secret: str) -> str:
    """Return the synchronizer token forms and htmx calls of a session must send back."""
    return hmac.new(secret.encode("ascii"), b"abusedesk-csrf", hashlib.sha256).hexdigest()


def csrf_token_matches(secret: str, presented: str | None) -> bool:
    """Tell, in constant time, whether *presented* is the session's CSRF token."""
    if not presented or len(presented) > 200:
        return False
    return hmac.compare_digest(csrf_token(secret).encode(), presented.encode("utf-8", "replace"))


@dataclass(frozen=True)
class SessionLimits:
    """How long a session lives: idle at most *idle*, and never longer than *lifetime*."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)


def session_end_reason(
    *,
    expires_at: datetime,
    last_seen_at: datetime,
    revoked_at: datetime | None,
    limits: SessionLimits,
    now: datetime,
) -> str | None:
    """Return why a session is over at *now* (signed out, idle, expired), or None if live."""
    if revoked_at is not None:
        return "signed out"
    if now >= expires_at:
        return "expired"
    if now - last_seen_at >= limits.idle:
        return "idle too long"
    return None


# --- redirects ------------------------------------------------------------------------


def safe_next(target: str | None, default: str = "/") -> str:
    """Return *target* when it is a path on this site, else *default* (no open redirects).

    Only an absolute path is kept: no scheme, no host, no ``//`` or backslash that a
    browser would read as another host, no control characters.
    """
    if not target or len(target) > 2000 or not target.startswith("/"):
        return default
    if target.startswith(("//", "/\\")) or "\\" in target:
        return default
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
