"""Automatic answers: auto-replies and challenge-response requests are their own category."""

import hashlib

import pytest

from abusedesk.parsing.autoreply import AutoReplyParser
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry


def message(subject: str, headers: str = "", body: str = "I am away until Monday.\n") -> bytes:
    """Return a reply from jane@example.net to a message the provider's customer sent."""
    return (
        f"From: Jane Roe <Jane@Example.net>\nTo: news@sender.example.com\nSubject: {subject}\n"
        f"Date: Mon, 03 Mar 2025 10:20:00 +0000\nIn-Reply-To: <m-1@sender.example.com>\n"
        f"{headers}\n{body}"
    ).encode()


def parse(raw: bytes) -> ParsedReport:
    """Parse *raw* through the whole registry."""
    return default_registry().parse(raw)


def format_of(raw: bytes) -> str:
    """Return the format the registry reads *raw* as, or the refusal's reason."""
    try:
        return parse(raw).report_format
    except ParseError as error:
        return error.reason


def test_rfc3834_auto_replied_header_makes_an_auto_reply() -> None:
    """Auto-Submitted: auto-replied gives one auto_reply event of kind auto-reply."""
    report = parse(message("Re: Hello", "Auto-Submitted: auto-replied\n"))
    assert (report.report_format, report.kind, [e.category for e in report.events]) == (
        "autoreply",
        "auto-reply",
        [Category.AUTO_REPLY],
    )


@pytest.mark.parametrize(
    "subject",
    ["Out of Office: Hello", "Automatic reply: Hello", "Autoreply: Hello", "Abwesenheit: Hallo"],
)
def test_auto_reply_subjects_are_recognised(subject: str) -> None:
    """Out-of-office and automatic-reply subjects mark an auto-reply without any header."""
    assert AutoReplyParser().sniff(RawDocument(message(subject))) is True


def test_answered_message_and_answering_address_are_indicators() -> None:
    """The event names the answered message id and the answering address as a hash."""
    (event,) = parse(message("Out of office", "Auto-Submitted: auto-replied\n")).events
    assert (
        event.indicators["message_id"],
        event.indicators["recipient_hash"],
        event.indicators["recipient_domain"],
    ) == (
        ("m-1@sender.example.com",),
        (hashlib.sha256(b"jane@example.net").hexdigest(),),
        ("example.net",),
    )


def test_soft_subject_needs_a_sign_of_automation() -> None:
    """ "Thank you for your e-mail" is an auto-reply only with a null return path or the like."""
    typed = message("Thank you for your email")
    automatic = b"Return-Path: <>\n" + typed
    assert (
        AutoReplyParser().sniff(RawDocument(typed)),
        AutoReplyParser().sniff(RawDocument(automatic)),
    ) == (False, True)


def test_challenge_response_is_its_own_kind() -> None:
    """A request to confirm the sender is human is a challenge-response, naming no recipient."""
    body = "Your message is held. Please confirm you are a human by clicking the link below.\n"
    report = parse(message("Please verify your email", "Return-Path: <>\n", body))
    (event,) = report.events
    assert (report.kind, event.details["reply_kind"], "recipient_hash" in event.indicators) == (
        "challenge-response",
        "challenge-response",
        False,
    )


def test_challenge_system_header_alone_is_enough() -> None:
    """A challenge system's own header marks a challenge-response."""
    raw = message("Re: Hello", "X-Boxbe-Challenge: yes\n", "Hello.\n")
    assert parse(raw).kind == "challenge-response"


def test_forwarded_auto_reply_is_not_an_automatic_answer() -> None:
    """A person forwarding an out-of-office notice is writing to us, not answering."""
    assert AutoReplyParser().sniff(RawDocument(message("Fwd: Out of office"))) is False


def test_auto_generated_notice_is_not_a_reply() -> None:
    """Auto-Submitted: auto-generated alone is a notification, not an auto-reply."""
    raw = message("Your invoice", "Auto-Submitted: auto-generated\n", "Invoice attached.\n")
    assert AutoReplyParser().sniff(RawDocument(raw)) is False


def test_dsn_marked_auto_replied_is_still_a_dsn() -> None:
    """A delivery status notification carrying Auto-Submitted: auto-replied stays a bounce."""
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: bounces@mail.example.org\n"
        b"Subject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n'
        b"\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
        b"Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n\n--b--\n"
    )
    assert (format_of(raw), [e.category for e in parse(raw).events]) == (
        "dsn",
        [Category.BOUNCE],
    )


def test_plain_complaint_is_not_an_auto_reply() -> None:
    """A person's complaint about spam is left to the complaint readers."""
    raw = message("Stop sending me this spam", body="I never signed up. http://spam.example/x\n")
    assert format_of(raw) != "autoreply"
