"""Retention periods, event redaction and address matching, without a database."""

import base64
from datetime import UTC, datetime, timedelta

import pytest

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing.dsn import recipient_indicators
from abusedesk.parsing.sms import recipient_hash as sms_recipient_hash
from abusedesk.privacy.errors import InvalidAddress, UnknownEvidenceClass
from abusedesk.privacy.model import DEFAULT_RETENTION_DAYS, EvidenceClass, RetentionPolicy
from abusedesk.privacy.policy import AddressMatch, mark_purged, redact_envelope, redact_event

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def test_defaults_keep_recipients_shortest_and_raw_longer_than_bodies() -> None:
    """The documented defaults: raw 180 days, bodies 90, recipients 30, contacts 365."""
    assert dict(DEFAULT_RETENTION_DAYS) == {
        "raw_report": 180,
        "message_body": 90,
        "recipient_address": 30,
        "reporter_contact": 365,
    }


def test_an_item_is_due_once_its_period_has_passed() -> None:
    """Stored 30 days and a second ago, recipients are due; 29 days ago, not."""
    policy = RetentionPolicy()
    old = NOW - timedelta(days=30, seconds=1)
    recent = NOW - timedelta(days=29)
    assert policy.due_classes(old, NOW) == (EvidenceClass.RECIPIENT_ADDRESS,)
    assert policy.due_classes(recent, NOW) == ()


def test_already_purged_classes_are_not_due_again() -> None:
    """A class marked purged is left out of what is due."""
    policy = RetentionPolicy()
    stored = NOW - timedelta(days=100)
    assert policy.due_classes(stored, NOW, already={"recipient_address": "x"}) == (
        EvidenceClass.MESSAGE_BODY,
    )


def test_zero_days_keeps_a_class_for_ever() -> None:
    """A period of 0 never makes the class due."""
    policy = RetentionPolicy(days={EvidenceClass.RAW_REPORT: 0})
    assert policy.is_due(EvidenceClass.RAW_REPORT, NOW - timedelta(days=10_000), NOW) is False


@pytest.mark.parametrize("days", [{"headers": 10}, {"raw_report": -1}])
def test_unknown_class_or_negative_period_is_refused(days: dict[str, int]) -> None:
    """A policy naming a class that does not exist, or a negative period, is an error."""
    with pytest.raises(UnknownEvidenceClass):
        RetentionPolicy(days=days)


def test_redaction_removes_only_the_keys_of_the_classes_asked() -> None:
    """Recipient hashes go with recipient_address; bodies and sender facts stay."""
    indicators = {"recipient_hash": ["h"], "complainant_hash": ["c"], "source_ip": ["192.0.2.1"]}
    details = {"message_text": "hi", "report_email": "r@x.example", "status": "5.1.1"}
    redacted = redact_event(indicators, details, {EvidenceClass.RECIPIENT_ADDRESS})
    assert (redacted.indicators, redacted.details, redacted.removed_keys) == (
        {"source_ip": ["192.0.2.1"]},
        details,
        ("indicators.recipient_hash", "indicators.complainant_hash"),
    )


def test_envelope_loses_its_sender_with_the_raw_report() -> None:
    """The envelope's sender address, peer and HELO go; our own mailbox stays."""
    envelope = {"mail_from": "a@b.example", "peer": "192.0.2.9", "helo": "h", "rcpt_tos": ["x"]}
    assert redact_envelope(envelope, {EvidenceClass.RAW_REPORT}) == {"rcpt_tos": ["x"]}


def test_marks_keep_the_first_time_a_class_was_purged() -> None:
    """Marking a class again keeps its first time; a new class gets *now*."""
    marks = mark_purged({"message_body": "then"}, {"message_body", "raw_report"}, NOW)
    assert marks == {"message_body": "then", "raw_report": NOW.isoformat()}


def test_address_hashes_are_those_the_parsers_compute() -> None:
    """An address matches the recipient hash a DSN carries for it, whatever its case."""
    (dsn_hash,) = recipient_indicators("Jane <Jane.Doe@Example.COM>")["recipient_hash"]
    match = AddressMatch.of("JANE.doe@example.com")
    assert match.equals(dsn_hash)
    assert match.equals("jane.DOE@example.com")


def test_phone_number_matches_the_sms_recipient_hash() -> None:
    """A number written with spaces matches the hash of its E.164 form."""
    match = AddressMatch.of("+1 555 010 0199")
    assert match.equals(sms_recipient_hash("+15550100199"))


@pytest.mark.parametrize("text", ["", "not an address", "a@b", "<>", "12"])
def test_anything_else_is_not_an_address(text: str) -> None:
    """Empty text, words, an address without a dotted domain or two digits are refused."""
    with pytest.raises(InvalidAddress):
        AddressMatch.of(text)


def test_scrub_drops_values_and_rewrites_mentions_leaving_the_rest() -> None:
    """Values that are the address or its hash go; texts mentioning it are rewritten."""
    match = AddressMatch.of("jane@example.com")
    value = {
        "recipient_hash": [sha256_hex(b"jane@example.com"), "other"],
        "complainant_hash": [sha256_hex(b"jane@example.com")],
        "diagnostic_code": "550 unknown user JANE@example.com here",
        "nested": [{"to": "Jane@Example.com", "n": 1}],
        "untouched": "bob@example.com",
    }
    scrubbed, changed = match.scrub_mapping(value)
    assert (scrubbed, changed) == (
        {
            "recipient_hash": ["other"],
            "diagnostic_code": "550 unknown user [erased] here",
            "nested": [{"n": 1}],
            "untouched": "bob@example.com",
        },
        4,
    )


def test_raw_mention_is_found_inside_a_base64_part_and_an_encoded_header() -> None:
    """A raw mail holding the address only base64-encoded or RFC 2047-encoded matches."""
    match = AddressMatch.of("jane@example.com")
    body = base64.b64encode(b"Dear JANE@example.com, buy now").decode()
    raw = (
        "From: a@b.example\r\nTo: x@y.example\r\nContent-Type: text/plain\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{body}\r\n"
    ).encode()
    encoded = base64.b64encode(b"jane@example.com").decode()
    header = f"Subject: =?utf-8?b?{encoded}?=\r\nFrom: a@b.example\r\n\r\nhi\r\n".encode()
    other = b"Subject: hello\r\nFrom: a@b.example\r\n\r\nnothing here\r\n"
    assert (match.raw_mentions(raw), match.raw_mentions(header), match.raw_mentions(other)) == (
        True,
        True,
        False,
    )


def test_keyed_hash_depends_on_the_key_and_not_on_case() -> None:
    """The request's hash is the same for any case of the address, and differs per key."""
    upper, lower = AddressMatch.of("JANE@EXAMPLE.COM"), AddressMatch.of("jane@example.com")
    assert upper.keyed_hash(b"k1") == lower.keyed_hash(b"k1") != lower.keyed_hash(b"k2")
