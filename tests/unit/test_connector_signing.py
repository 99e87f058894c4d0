"""Webhook signing for the provider connector: round trips, every refusal, retries."""

import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.enforcement.signing import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    BadSignature,
    FutureTimestamp,
    InvalidRetryPolicy,
    MalformedSignature,
    ReplayedCall,
    RetryPolicy,
    SeenKeys,
    StaleTimestamp,
    new_idempotency_key,
    next_attempt_at,
    sign,
    verify,
)

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
OLD = b"o" * 32
NEW = b"n" * 32
BODY = b'{"action":"pause","account_id":"acct-7"}'
KEY = "k" * 32


def test_round_trip_returns_the_idempotency_key() -> None:
    """A call signed now verifies now and yields its key."""
    headers = sign(BODY, [NEW], NOW, KEY)
    assert verify(headers, BODY, [NEW], NOW) == KEY


def test_signature_is_hmac_over_timestamp_key_and_body() -> None:
    """The documented recipe recomputes the sender's value exactly."""
    headers = sign(BODY, [NEW], NOW, KEY)
    t = int(NOW.timestamp())
    expected = hmac.new(NEW, f"{t}.{KEY}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"t={t},v1={expected}"
    assert headers[IDEMPOTENCY_HEADER] == KEY


def test_rotation_signs_with_both_and_either_secret_verifies() -> None:
    """During rotation a receiver holding only the old or only the new secret accepts."""
    headers = sign(BODY, [OLD, NEW], NOW, KEY)
    assert headers[SIGNATURE_HEADER].count("v1=") == 2
    assert verify(headers, BODY, [OLD], NOW) == KEY
    assert verify(headers, BODY, [NEW], NOW) == KEY


def test_header_names_are_case_insensitive() -> None:
    """HTTP servers may lower-case header names."""
    headers = {k.lower(): v for k, v in sign(BODY, [NEW], NOW, KEY).items()}
    assert verify(headers, BODY, [NEW], NOW) == KEY


def test_unknown_secret_is_refused() -> None:
    """A call signed with a secret the receiver lacks is refused."""
    with pytest.raises(BadSignature):
        verify(sign(BODY, [OLD], NOW, KEY), BODY, [NEW], NOW)


def test_no_secrets_at_the_receiver_is_refused() -> None:
    """An empty secret list accepts nothing."""
    with pytest.raises(BadSignature):
        verify(sign(BODY, [NEW], NOW, KEY), BODY, [], NOW)


def test_stale_timestamp_is_refused() -> None:
    """A call older than the tolerance is refused even when correctly signed."""
    headers = sign(BODY, [NEW], NOW - timedelta(minutes=6), KEY)
    with pytest.raises(StaleTimestamp):
        verify(headers, BODY, [NEW], NOW)
    assert verify(headers, BODY, [NEW], NOW, tolerance=timedelta(minutes=7)) == KEY


def test_future_timestamp_is_refused() -> None:
    """A call dated beyond the tolerance ahead is refused."""
    headers = sign(BODY, [NEW], NOW + timedelta(minutes=6), KEY)
    with pytest.raises(FutureTimestamp):
        verify(headers, BODY, [NEW], NOW)


def test_replay_is_refused_after_the_first_delivery() -> None:
    """The second delivery of one key is refused; the first is accepted."""
    seen = SeenKeys()
    headers = sign(BODY, [NEW], NOW, KEY)
    verify(headers, BODY, [NEW], NOW, seen=seen)
    with pytest.raises(ReplayedCall):
        verify(headers, BODY, [NEW], NOW, seen=seen)


def test_replay_under_a_fresh_key_fails_the_signature() -> None:
    """Swapping in a new idempotency key breaks the signature, since the key is signed."""
    seen = SeenKeys()
    headers = sign(BODY, [NEW], NOW, KEY)
    verify(headers, BODY, [NEW], NOW, seen=seen)
    headers[IDEMPOTENCY_HEADER] = "z" * 32
    with pytest.raises(BadSignature):
        verify(headers, BODY, [NEW], NOW, seen=seen)


def test_forged_calls_do_not_enter_the_seen_store() -> None:
    """Only correctly signed calls are recorded, so forgeries cannot block real calls."""
    seen = SeenKeys()
    with pytest.raises(BadSignature):
        verify(sign(BODY, [OLD], NOW, KEY), BODY, [NEW], NOW, seen=seen)
    assert len(seen) == 0
    assert verify(sign(BODY, [NEW], NOW, KEY), BODY, [NEW], NOW, seen=seen) == KEY


def test_seen_keys_is_bounded_and_forgets_the_oldest() -> None:
    """Past capacity the oldest key is dropped."""
    seen = SeenKeys(capacity=2)
    assert not seen("a")
    assert not seen("b")
    assert not seen("c")
    assert len(seen) == 2
    assert seen("c")
    assert not seen("a")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {IDEMPOTENCY_HEADER: KEY},
        {SIGNATURE_HEADER: "t=1,v1=" + "0" * 64},
        {IDEMPOTENCY_HEADER: "short", SIGNATURE_HEADER: "t=1,v1=" + "0" * 64},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "v1=" + "0" * 64},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "t=abc,v1=" + "0" * 64},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "t=1"},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "t=1,v1=XYZ"},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "t=1,t=2,v1=" + "0" * 64},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "garbage"},
        {IDEMPOTENCY_HEADER: KEY, SIGNATURE_HEADER: "t=١٢,v1=" + "0" * 64},
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str]) -> None:
    """Missing, duplicated or unreadable parts raise MalformedSignature."""
    with pytest.raises(MalformedSignature):
        verify(headers, BODY, [NEW], NOW)


def test_duplicate_header_is_refused() -> None:
    """Two signature headers differing only in case are ambiguous and refused."""
    headers = sign(BODY, [NEW], NOW, KEY)
    headers[SIGNATURE_HEADER.lower()] = headers[SIGNATURE_HEADER]
    with pytest.raises(MalformedSignature):
        verify(headers, BODY, [NEW], NOW)


def test_sign_refuses_bad_inputs() -> None:
    """No secret, an empty secret or a malformed key cannot sign."""
    for secrets, key in (([], KEY), ([b""], KEY), ([NEW], "bad key!")):
        with pytest.raises(MalformedSignature):
            sign(BODY, secrets, NOW, key)


def test_new_idempotency_keys_are_usable_and_distinct() -> None:
    """Fresh keys pass the key check and do not repeat."""
    keys = {new_idempotency_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert verify(sign(BODY, [NEW], NOW, key), BODY, [NEW], NOW) == key


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200), position=st.integers(min_value=0), flip=st.integers(1, 255))
def test_any_change_to_the_body_is_caught(body: bytes, position: int, flip: int) -> None:
    """Flipping any bits of any byte of the body makes verification fail."""
    headers = sign(body + b"x", [NEW], NOW, KEY)
    data = bytearray(body + b"x")
    data[position % len(data)] ^= flip
    with pytest.raises(BadSignature):
        verify(headers, bytes(data), [NEW], NOW)


@settings(max_examples=200, deadline=None)
@given(position=st.integers(min_value=0), char=st.sampled_from("0123456789abcdef"))
def test_any_change_to_the_signature_is_caught(position: int, char: str) -> None:
    """Changing any hex digit of the signature makes verification fail."""
    headers = sign(BODY, [NEW], NOW, KEY)
    prefix, _, digest = headers[SIGNATURE_HEADER].partition(",v1=")
    i = position % len(digest)
    if digest[i] == char:
        char = "0" if char != "0" else "1"
    headers[SIGNATURE_HEADER] = f"{prefix},v1={digest[:i]}{char}{digest[i + 1 :]}"
    with pytest.raises(BadSignature):
        verify(headers, BODY, [NEW], NOW)


def test_retry_waits_grow_within_jitter_and_respect_the_cap() -> None:
    """The n-th wait lies between half and all of base * 2**(n-1), capped."""
    policy = RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=100), max_attempts=10)
    rng = random.Random(7)
    for attempts in range(1, 10):
        at = next_attempt_at(policy, attempts, NOW, rng)
        assert at is not None
        full = min(100.0, 10.0 * 2 ** (attempts - 1))
        assert full / 2 <= (at - NOW).total_seconds() <= full


def test_retry_jitter_follows_the_given_random_source() -> None:
    """The same seed gives the same schedule; different seeds spread the calls."""
    policy = RetryPolicy()
    first = next_attempt_at(policy, 3, NOW, random.Random(1))
    assert first == next_attempt_at(policy, 3, NOW, random.Random(1))
    spread = {next_attempt_at(policy, 3, NOW, random.Random(seed)) for seed in range(20)}
    assert len(spread) > 1


def test_retry_gives_up_at_the_maximum() -> None:
    """After max_attempts attempts the call is dead-lettered (None)."""
    policy = RetryPolicy(max_attempts=3)
    rng = random.Random(0)
    assert next_attempt_at(policy, 2, NOW, rng) is not None
    assert next_attempt_at(policy, 3, NOW, rng) is None
    assert next_attempt_at(RetryPolicy(), 10_000, NOW, rng) is None


def test_retry_large_attempt_counts_stay_capped() -> None:
    """A huge attempt count under a huge maximum still waits at most the cap."""
    policy = RetryPolicy(cap=timedelta(hours=1), max_attempts=10**6)
    at = next_attempt_at(policy, 5000, NOW, random.Random(0))
    assert at is not None
    assert at - NOW <= timedelta(hours=1)


def test_retry_policy_refuses_bad_numbers() -> None:
    """Zero base, cap below base, no attempts, or attempts below 1 are refused."""
    with pytest.raises(InvalidRetryPolicy):
        RetryPolicy(base=timedelta(0))
    with pytest.raises(InvalidRetryPolicy):
        RetryPolicy(base=timedelta(seconds=10), cap=timedelta(seconds=5))
    with pytest.raises(InvalidRetryPolicy):
        RetryPolicy(max_attempts=0)
    with pytest.raises(InvalidRetryPolicy):
        next_attempt_at(RetryPolicy(), 0, NOW, random.Random(0))
