"""The bounce reason taxonomy and the reader of bounces written as plain text."""

import hashlib
import json
from pathlib import Path

import pytest

from abusedesk.parsing import bounce_reasons
from abusedesk.parsing.bounce_reasons import (
    REASONS,
    SES_BOUNCE_TYPES,
    SISIMAI_REASONS,
    classify,
    reason_from_ses,
    reason_from_sisimai,
    smtp_command,
)
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bounces.md"


def parse(raw: bytes) -> ParsedReport:
    """Parse *raw* through the whole registry, as intake would."""
    return default_registry().parse(raw)


def plain_bounce(
    body: str,
    *,
    sender: str = "Mail Delivery System <MAILER-DAEMON@mx.example.net>",
    subject: str = "Mail delivery failed: returning message to sender",
    extra: str = "",
) -> bytes:
    """Return a plain-text bounce addressed to the original sender."""
    return (
        f"From: {sender}\nTo: bounces@mail.example.org\nSubject: {subject}\n"
        f"Date: Mon, 03 Mar 2025 10:05:00 +0000\n{extra}\n{body}"
    ).encode()


EXIM_BODY = """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  gone@example.net
    SMTP error from remote mail server after RCPT TO:<gone@example.net>:
    550 5.1.1 <gone@example.net>: Recipient address rejected: User unknown

------ This is a copy of the message, including all the headers. ------

From: News <news@sender.example.com>
To: gone@example.net
Message-ID: <m-1@sender.example.com>
Subject: Hello

Hello.
"""


@pytest.mark.parametrize(
    ("diagnostic", "reason", "bounce_class"),
    [
        (
            "550 5.1.1 <a@b.example>: Recipient address rejected: User unknown",
            "user_unknown",
            "hard",
        ),
        (
            "450 4.1.1 <a@b.example>: Recipient address rejected: User unknown",
            "user_unknown",
            "soft",
        ),
        ("552 5.2.2 Mailbox full, quota exceeded", "mailbox_full", "soft"),
        ("550 Host or domain name not found", "host_unknown", "hard"),
        ("551 User has moved; please try <c@new.example>", "has_moved", "hard"),
        ("550 5.2.1 This account has been disabled", "suspended", "soft"),
        ("554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org", "blocked", "soft"),
        ("550 5.7.1 Message rejected as spam by content filtering", "spam_detected", "soft"),
        ("550 5.7.26 Unauthenticated email: SPF and DKIM do not pass", "auth_failure", "soft"),
        ("421 4.7.0 Too many connections from your host, rate limited", "rate_limited", "soft"),
        ("552 5.3.4 Message size exceeds fixed limit", "message_too_large", "soft"),
        ("554 5.7.1 Relay access denied", "relaying_denied", "soft"),
        ("554 5.7.1 A virus was found in an attachment", "content_rejected", "soft"),
        ("553 5.1.8 Sender address rejected: Domain not found", "sender_rejected", "soft"),
        ("retry timeout exceeded", "expired", "soft"),
        ("530 5.7.0 Must issue a STARTTLS command first", "security_error", "soft"),
        ("connect to mx.example.net: No route to host", "network_error", "soft"),
        ("550 5.7.1 Messages with duplicate headers are not RFC 5322 compliant", "policy", "soft"),
    ],
)
def test_diagnostic_text_names_reason_and_class(
    diagnostic: str, reason: str, bounce_class: str
) -> None:
    """The remote server's words decide the reason; only a bad address for good is hard."""
    verdict = classify(None, diagnostic)
    assert (verdict.reason, verdict.bounce_class) == (reason, bounce_class)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.1.1", "user_unknown"),
        ("5.1.10", "host_unknown"),
        ("5.2.2", "mailbox_full"),
        ("4.4.7", "expired"),
        ("5.7.25", "blocked"),
        ("5.7.23", "auth_failure"),
        ("5.0.0", "undetermined"),
    ],
)
def test_status_code_names_reason_when_text_does_not(status: str, reason: str) -> None:
    """Without words, the enhanced status code decides; x.0.0 says nothing."""
    assert classify(status, "").reason == reason


def test_delay_without_words_is_an_expired_attempt() -> None:
    """A delayed recipient with only a generic status code is reported as expired."""
    assert classify("4.0.0", None, action="delayed").reason == "expired"


def test_multi_line_reply_is_read_as_one_sentence() -> None:
    """The repeated reply code of a multi-line answer does not split the server's words."""
    text = "550-5.7.1 Messages with multiple 550-5.7.1 addresses in From: header are not accepted"
    assert classify(None, text).reason == "policy"


def test_remote_words_win_over_the_notice_prose() -> None:
    """Prose before the quoted reply ("rejected by the recipient domain") does not decide."""
    text = (
        "it was rejected by the recipient domain. The error that the other server returned "
        "was: 554 5.7.1 Service unavailable; Client host blocked using bl.example.org"
    )
    assert classify(None, text).reason == "blocked"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("host x said: 550 Unknown user (in reply to end of DATA command)", "DATA"),
        ("SMTP error from remote mail server after RCPT TO:<a@b.example>: 550 no", "RCPT"),
        ("SMTP error from remote mail server after MAIL FROM:<s@x.example>: 553 bad", "MAIL"),
        (">>> RCPT To:<a@b.example>\n<<< 550 unknown\n>>> DATA\n<<< 503 no recipients", "RCPT"),
        ("550 no command named here", None),
    ],
)
def test_smtp_command_is_the_one_the_refusal_answered(text: str, command: str | None) -> None:
    """The command named before the first refusal (or the "in reply to" after it) wins."""
    assert smtp_command(text) == command


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("Technical details: SMTP:RCPT host 192.0.2.1: 553 5.3.0 No such user here", "RCPT"),
        ("Remote host said: 550 5.2.1 <a@b.example>... User Unknown [RCPT_TO]", "RCPT"),
        ("most progress was RCPT TO response; remote host said: 550 Unknown user", "RCPT"),
        ("192.0.2.1 does not like recipient. Remote host said: 550 User Unknown", "RCPT"),
        ("192.0.2.1 does not like sender. Remote host said: 553 bad sender", "MAIL"),
        ("550 user DATABASE@b.example unknown, see RCPTHOST.example", None),
    ],
)
def test_smtp_command_written_as_a_bare_word_or_a_phrase(text: str, command: str | None) -> None:
    """A bare upper-case command word or qmail's "does not like" phrase names the stage."""
    assert smtp_command(text) == command


@pytest.mark.parametrize(
    ("status", "text", "reason", "bounce_class"),
    [
        # x.2.1 names a disabled mailbox: the "unknown user" is a filter answering for it.
        ("5.2.1", "550 5.2.1 <a@b.example>... User Unknown", "filtered", "soft"),
        ("5.1.4", "550 5.1.4 <a@b.example>... User Unknown", "filtered", "soft"),
        # The refusal of RCPT TO is the mailbox lookup itself, whatever the status.
        (
            "5.2.1",
            "does not like recipient. Remote host said: 550 5.2.1 User Unknown",
            "user_unknown",
            "hard",
        ),
        # A status naming a bad mailbox stays authoritative, even after DATA.
        (
            "5.1.1",
            "550 5.1.1 User unknown (in reply to end of DATA command)",
            "user_unknown",
            "hard",
        ),
        # The same words after DATA with a generic status are a filter's verdict.
        ("5.0.0", "550 User unknown (in reply to end of DATA command)", "filtered", "soft"),
        # Neither a command nor a status: the words are taken at face value.
        (None, "550 <a@b.example>: User unknown", "user_unknown", "hard"),
    ],
)
def test_unknown_user_is_the_lookups_answer_only_with_rcpt_or_a_mailbox_status(
    status: str | None, text: str, reason: str, bounce_class: str
) -> None:
    """Status-code names and the SMTP command decide between user_unknown and filtered."""
    verdict = classify(status, text)
    assert (verdict.reason, verdict.bounce_class) == (reason, bounce_class)


@pytest.mark.parametrize(
    ("status", "text", "reason", "bounce_class"),
    [
        (
            "5.4.4",
            "Name service error for name=b.example type=MX: Malformed or unexpected name server"
            " reply",
            "network_error",
            "soft",
        ),
        (
            None,
            "Name service error for domain b.example: Host not found, try again",
            "network_error",
            "soft",
        ),
        (None, "550 Host or domain name not found. Name service error", "host_unknown", "hard"),
        (None, "The account or domain may not exist", "host_unknown", "hard"),
    ],
)
def test_a_failed_dns_lookup_is_a_network_error_not_an_unknown_host(
    status: str | None, text: str, reason: str, bounce_class: str
) -> None:
    """ "Try again" and malformed answers are DNS trouble; only a real answer is host_unknown."""
    verdict = classify(status, text)
    assert (verdict.reason, verdict.bounce_class) == (reason, bounce_class)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("No MX found for domain", "host_unknown"),
        ("550 5.1.10 Recipient address has null MX", "host_unknown"),
        ("Host not found", "network_error"),
    ],
)
def test_a_domain_without_mail_exchanger_stays_unknown_on_a_delay(text: str, reason: str) -> None:
    """No MX (or null MX) is an answer, not a lookup failure, even on a delay notice."""
    verdict = classify("4.0.0", text, action="delayed")
    assert (verdict.reason, verdict.bounce_class) == (reason, "soft")


@pytest.mark.parametrize(
    "text",
    [
        "450 service permits 2 unverifyable sending IPs - b.example is not 192.0.2.1",
        "550 Client host rejected: cannot find your hostname, [192.0.2.1]",
        "421 4.7.0 Messages from 192.0.2.1 temporarily deferred due to user complaints",
    ],
)
def test_refusals_of_the_sending_host_are_blocked(text: str) -> None:
    """An unconfirmed sending host name or a complaint-driven deferral is a block of the IP."""
    assert classify(None, text).reason == "blocked"


def test_an_address_that_could_not_be_found_is_unknown() -> None:
    """Webmail notices say the address "couldn't be found" rather than "user unknown"."""
    text = "Your message wasn't delivered because the address couldn't be found. Try again."
    assert classify("5.0.0", text).reason == "user_unknown"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("5.2.4", "filtered"),
        ("5.5.3", "rate_limited"),
        ("5.7.17", "has_moved"),
        ("5.7.28", "spam_detected"),
    ],
)
def test_status_names_follow_the_documented_table(status: str, reason: str) -> None:
    """List expansion, too many recipients, a changed owner and a mail flood have names."""
    assert classify(status, "").reason == reason


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("queued as w535M2jB065855 for delivery", None),
        ("host said: 550 no such user", "550"),
        ("550-5.7.1 rejected", "550"),
    ],
)
def test_a_reply_code_is_a_number_of_its_own(text: str, code: str | None) -> None:
    """Digits inside a queue id or a name are no SMTP reply code."""
    assert bounce_reasons.reply_code(text) == code


def test_a_dsn_address_type_is_no_rfc_complaint() -> None:
    """ "Final-Recipient: RFC822;" and message/rfc822 name formats, not a policy breach."""
    text = (
        "Message could not be delivered for 5 days\n"
        "Content-Type: message/rfc822\nFinal-Recipient: RFC822; a@b.example"
    )
    assert classify(None, text).reason == "expired"


def test_unknown_address_at_mail_from_is_the_senders() -> None:
    """An unknown address refused at MAIL FROM is a sender rejection, not a bad recipient."""
    verdict = classify(None, "after MAIL FROM:<s@x.example>: 553 5.1.0 domain does not exist")
    assert verdict.reason == "sender_rejected"


@pytest.mark.parametrize(
    ("bounce_type", "sub_type", "reason"),
    [
        ("Permanent", "NoEmail", "user_unknown"),
        ("Permanent", "Suppressed", "user_unknown"),
        ("Permanent", "General", "undetermined"),
        ("Transient", "MailboxFull", "mailbox_full"),
        ("Transient", "MessageTooLarge", "message_too_large"),
        ("Transient", "ContentRejected", "content_rejected"),
        ("Transient", "AttachmentRejected", "content_rejected"),
        ("Undetermined", "Undetermined", "undetermined"),
        (None, None, "undetermined"),
    ],
)
def test_ses_bounce_types_map_to_reasons(
    bounce_type: str | None, sub_type: str | None, reason: str
) -> None:
    """SES's bounceType and bounceSubType give our reason where they name one."""
    assert reason_from_ses(bounce_type, sub_type) == reason


def test_every_reason_has_an_ses_bounce_type() -> None:
    """The reason -> SES table covers the whole taxonomy and nothing else."""
    assert set(REASONS) == set(SES_BOUNCE_TYPES)


def test_every_sisimai_reason_maps_into_the_taxonomy() -> None:
    """Each sisimai name maps to one of our reasons; complaints and successes to none."""
    assert (
        set(SISIMAI_REASONS.values()) <= set(REASONS),
        reason_from_sisimai("feedback"),
        reason_from_sisimai("delivered"),
        reason_from_sisimai("TooManyConn"),
    ) == (True, None, None, "rate_limited")


def test_documentation_names_every_reason() -> None:
    """docs/bounces.md describes each reason of the taxonomy."""
    text = DOCS.read_text(encoding="utf-8")
    assert [r for r in REASONS if f"`{r}`" not in text] == []


def test_hard_reasons_are_the_ones_that_condemn_the_address() -> None:
    """Only unknown user, unknown domain and moved address can be hard bounces."""
    assert {"user_unknown", "host_unknown", "has_moved"} == bounce_reasons.HARD_REASONS


def test_exim_bounce_gives_one_event_per_failed_recipient() -> None:
    """A plain-text Exim bounce gives a bounce event with reason, class and command."""
    report = parse(plain_bounce(EXIM_BODY))
    (event,) = report.events
    assert (
        report.report_format,
        event.category,
        event.details["reason"],
        event.details["bounce_class"],
        event.details["action"],
    ) == ("bounces", Category.BOUNCE, "user_unknown", "hard", "failed")


def test_recipient_is_kept_only_as_hash_and_domain() -> None:
    """The failed address becomes a SHA-256 hash and a domain; its text is nowhere."""
    (event,) = parse(plain_bounce(EXIM_BODY)).events
    stored = json.dumps([event.indicators, dict(event.details)], default=str)
    assert (
        event.indicators["recipient_hash"],
        event.indicators["recipient_domain"],
        "gone@" in stored,
    ) == ((hashlib.sha256(b"gone@example.net").hexdigest(),), ("example.net",), False)


def test_returned_message_gives_the_original_message_id() -> None:
    """The copy of the message after the marker line is read for its ids."""
    (event,) = parse(plain_bounce(EXIM_BODY)).events
    assert event.indicators["message_id"] == ("m-1@sender.example.com",)


def test_the_bounce_addressee_is_never_the_failed_recipient() -> None:
    """The original sender, to whom the bounce is addressed, is not taken for a recipient."""
    body = "Delivery failed for bounces@mail.example.org\n\nUnknown user: lost@example.net\n"
    (event,) = parse(plain_bounce(body)).events
    expected = hashlib.sha256(b"lost@example.net").hexdigest()
    assert event.indicators["recipient_hash"] == (expected,)


def test_x_failed_recipients_header_alone_makes_a_bounce() -> None:
    """An X-Failed-Recipients header is enough to recognise a bounce, whoever sent it."""
    raw = plain_bounce(
        "Could not deliver.\n",
        sender="relay@example.net",
        subject="Notice",
        extra="X-Failed-Recipients: one@example.net\n",
    )
    assert [e.details["reason"] for e in parse(raw).events] == ["undetermined"]


def test_delay_warning_is_a_soft_delayed_bounce() -> None:
    """An Exim delay warning gives a delayed, soft bounce."""
    body = (
        "A message that you sent has not yet been delivered to one or more of its\n"
        "recipients after more than 24 hours on the queue.\n\n"
        "The address to which the message has not yet been delivered is:\n\n"
        "  slow@example.net\n    Delay reason: 451 4.4.1 Connection timed out\n"
    )
    (event,) = parse(plain_bounce(body, subject="Warning: message delayed 24 hours")).events
    assert (event.details["action"], event.details["bounce_class"]) == ("delayed", "soft")


def test_bounce_without_a_findable_recipient_still_counts_with_a_warning() -> None:
    """A recognised bounce naming no address gives one event without recipient and a warning."""
    report = parse(plain_bounce("This is a permanent error; the message could not be delivered.\n"))
    assert (
        [sorted(k for k in e.indicators if k.startswith("recipient")) for e in report.events],
        report.warnings,
    ) == ([[]], ("no failed recipient address found in the bounce",))


def test_gateway_wrapping_a_dsn_is_read_through_the_dsn() -> None:
    """A bounce whose only content is an attached DSN gives that DSN's recipients."""
    inner = (
        "From: postmaster@inner.example\nSubject: Delivery Status Notification (Failure)\n"
        "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status;"
        ' boundary="i"\n\n--i\nContent-Type: message/delivery-status\n\n'
        "Reporting-MTA: dns; inner.example\n\nFinal-Recipient: rfc822; deep@example.org\n"
        "Action: failed\nStatus: 5.1.1\n\n--i--\n"
    )
    raw = (
        "From: postmaster@gw.example\nTo: bounces@mail.example.org\n"
        "Subject: Delivery Status Notification (Failure)\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="o"\n\n--o\nContent-Type: message/rfc822\n\n'
        f"{inner}\n--o--\n"
    ).encode()
    (event,) = parse(raw).events
    expected = hashlib.sha256(b"deep@example.org").hexdigest()
    assert (event.indicators["recipient_hash"], event.details["reason"]) == (
        (expected,),
        "user_unknown",
    )


@pytest.mark.parametrize(
    ("sender", "subject"),
    [
        ("Jane Roe <jane@example.org>", "Fwd: Undelivered Mail Returned to Sender"),
        ("Jane Roe <jane@example.org>", "Why do I get your spam?"),
        ("Jane Roe <jane@example.org>", "Delivery failure notice I received"),
    ],
)
def test_a_persons_complaint_is_not_taken_for_a_bounce(sender: str, subject: str) -> None:
    """Mail a person wrote, even about a bounce, is left to the complaint readers."""
    body = "I keep getting these; this could not be delivered to a@example.net. Please stop.\n"
    raw = f"From: {sender}\nTo: abuse@example.net\nSubject: {subject}\n\n{body}".encode()
    try:
        result = parse(raw).report_format
    except ParseError as error:
        # The complaint readers may refuse it; that is not a bounce either.
        result = error.reason
    assert result != "bounces"


def test_recipients_are_bounded_on_hostile_input() -> None:
    """A notice naming thousands of addresses gives at most the bounded number of events."""
    body = "The following address(es) failed:\n" + "\n".join(
        f"  user{n}@example.net" for n in range(5000)
    )
    assert len(parse(plain_bounce(body)).events) <= 100
