"""Signing of the provider connector's webhook calls, and their retry schedule.

A call carries two headers: ``Abusedesk-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>]``
and ``Idempotency-Key: <key>``. Each ``v1`` is the HMAC-SHA256, under one of the shared
secrets, of ``<t>.<idempotency key>.<body>`` (ASCII timestamp and key, raw body bytes).
Signing the key as well as the body means a captured call cannot be replayed under a
fresh key to slip past the receiver's replay check. Several ``v1`` values let the
sender sign with the old and the new secret while a secret is rotated. See
``docs/connector.md`` for the receiver's recipe.
"""

import hashlib
import hmac
import random
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_urlsafe
from typing import Protocol

from abusedesk.core.errors import AbuseDeskError

SIGNATURE_HEADER = "Abusedesk-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE = timedelta(minutes=5)
MAX_SIGNATURES = 8

_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class WebhookRefused(AbuseDeskError):
    """Raise when a receiver must refuse a webhook call; subclasses say why."""


class MalformedSignature(WebhookRefused):
    """Raise when the signature or idempotency header is missing or unreadable."""


class StaleTimestamp(WebhookRefused):
    """Raise when the signed timestamp is older than the tolerance allows."""


class FutureTimestamp(WebhookRefused):
    """Raise when the signed timestamp lies further in the future than the tolerance."""


class BadSignature(WebhookRefused):
    """Raise when no signature matches any of the receiver's secrets."""


class ReplayedCall(WebhookRefused):
    """Raise when a correctly signed call's idempotency key was seen before."""


class InvalidRetryPolicy(AbuseDeskError):
    """Raise when a retry policy's numbers cannot make a schedule."""


def new_idempotency_key() -> str:
    """Return a fresh random idempotency key (URL-safe, 32 characters)."""
    return token_urlsafe(24)


def _mac(secret: bytes, timestamp: int, key: str, body: bytes) -> str:
    message = f"{timestamp}.{key}.".encode("ascii") + body
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def _unix(now: datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(now.timestamp())


def sign(
    body: bytes, secrets: Sequence[bytes], now: datetime, idempotency_key: str
) -> dict[str, str]:
    """Return the headers that sign *body* at *now*: one ``v1`` per secret, in order.

    Raises `MalformedSignature` for no secret, an empty secret or a key outside
    ``[A-Za-z0-9_-]{16,128}``.
    """
    if not secrets or any(not s for s in secrets) or len(secrets) > MAX_SIGNATURES:
        raise MalformedSignature(f"give 1 to {MAX_SIGNATURES} non-empty secrets")
    if not _KEY.fullmatch(idempotency_key):
        raise MalformedSignature("idempotency key must be 16-128 characters of [A-Za-z0-9_-]")
    t = _unix(now)
    parts = [f"t={t}"] + [f"v1={_mac(s, t, idempotency_key, body)}" for s in secrets]
    return {SIGNATURE_HEADER: ",".join(parts), IDEMPOTENCY_HEADER: idempotency_key}


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    found = [v for k, v in headers.items() if k.lower() == wanted]
    if len(found) != 1:
        raise MalformedSignature(f"expected exactly one {name} header, got {len(found)}")
    return found[0].strip()


def _parse(value: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        name, eq, item = part.strip().partition("=")
        if not eq:
            raise MalformedSignature(f"signature part {part.strip()[:40]!r} has no '='")
        if name == "t":
            if timestamp is not None or not item.isascii() or not item.isdigit() or len(item) > 12:
                raise MalformedSignature("signature needs one t=<unix seconds>")
            timestamp = int(item)
        elif name == "v1":
            if not _HEX64.fullmatch(item):
                raise MalformedSignature("a v1 signature must be 64 lowercase hex digits")
            signatures.append(item)
        # Other schemes (v0, v2) are ignored so that senders can add one later.
    if timestamp is None or not signatures or len(signatures) > MAX_SIGNATURES:
        raise MalformedSignature(f"signature needs t= and 1 to {MAX_SIGNATURES} v1= values")
    return timestamp, signatures


def verify(
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: datetime,
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    seen: Callable[[str], bool] | None = None,
) -> str:
    """Check a received call and return its idempotency key.

    Order: headers readable, timestamp within *tolerance* of *now* (either way), some
    ``v1`` equal (in constant time) to the HMAC under some secret, and last, when *seen*
    is given, ``seen(key)`` false. *seen* must record the key and say whether it was
    there before; it is only asked about correctly signed calls, so forged calls cannot
    fill it. Raises a `WebhookRefused` subclass naming the reason.
    """
    key = _header(headers, IDEMPOTENCY_HEADER)
    if not _KEY.fullmatch(key):
        raise MalformedSignature("idempotency key must be 16-128 characters of [A-Za-z0-9_-]")
    timestamp, signatures = _parse(_header(headers, SIGNATURE_HEADER))
    current = _unix(now)
    limit = int(tolerance.total_seconds())
    if timestamp < current - limit:
        raise StaleTimestamp(f"signed {current - timestamp}s ago; tolerance is {limit}s")
    if timestamp > current + limit:
        raise FutureTimestamp(f"signed {timestamp - current}s ahead; tolerance is {limit}s")
    matched = False
    for secret in secrets:
        expected = _mac(secret, timestamp, key, body)
        for candidate in signatures:
            # No early exit: every pair is compared, in constant time.
            matched |= hmac.compare_digest(expected, candidate)
    if not secrets or not matched:
        raise BadSignature("no signature matches a known secret")
    if seen is not None and seen(key):
        raise ReplayedCall(f"idempotency key {key} was already received")
    return key


class SeenKeys:
    """A bounded in-memory record of idempotency keys, usable as ``verify(seen=...)``.

    Keeps the newest *capacity* keys. Keys older than the timestamp tolerance cannot be
    replayed anyway (the timestamp check refuses them), so capacity only needs to cover
    the calls received within one tolerance window.
    """

    def __init__(self, capacity: int = 100_000) -> None:
        """Create an empty record holding at most *capacity* keys."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._capacity = capacity
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __call__(self, key: str) -> bool:
        """Record *key*; return True when it was already recorded."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return False

    def __len__(self) -> int:
        """Return how many keys are recorded."""
        return len(self._keys)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: the n-th wait is about ``base * 2**(n-1)``, capped.

    The wait is drawn uniformly between half and all of that figure, so that many calls
    failing together do not retry together. After *max_attempts* attempts the call goes
    to the dead-letter list.
    """

    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 8

    def __post_init__(self) -> None:
        """Refuse numbers that cannot make a schedule."""
        if self.base <= timedelta(0) or self.cap < self.base:
            raise InvalidRetryPolicy("base must be positive and cap at least base")
        if self.max_attempts < 1:
            raise InvalidRetryPolicy("max_attempts must be at least 1")


def next_attempt_at(
    policy: RetryPolicy, attempts: int, failed_at: datetime, rng: random.Random
) -> datetime | None:
    """Return when to try again after the *attempts*-th attempt failed at *failed_at*.

    Returns None when *attempts* reached the policy's maximum: dead-letter the call.
    """
    if attempts < 1:
        raise InvalidRetryPolicy("attempts counts the attempts made, starting at 1")
    if attempts >= policy.max_attempts:
        return None
    ceiling = policy.cap.total_seconds()
    # Cap the exponent so that a large attempt count cannot overflow.
    full = min(ceiling, policy.base.total_seconds() * 2 ** min(attempts - 1, 62))
    return failed_at + timedelta(seconds=rng.uniform(full / 2, full))


class BackoffSettings(Protocol):
    """The settings a retry schedule is read from (the connector's, the notices')."""

    @property
    def backoff_base_seconds(self) -> float:
        """The first wait, in seconds."""

    @property
    def backoff_cap_seconds(self) -> float:
        """The longest wait, in seconds (taken as at least the first)."""

    @property
    def max_attempts(self) -> int:
        """How many attempts before the dead-letter list."""


def retry_policy(settings: BackoffSettings) -> RetryPolicy:
    """Return the retry schedule *settings* describe (backoff base and cap, attempts)."""
    base = timedelta(seconds=settings.backoff_base_seconds)
    return RetryPolicy(
        base=base,
        cap=max(base, timedelta(seconds=settings.backoff_cap_seconds)),
        max_attempts=settings.max_attempts,
    )
