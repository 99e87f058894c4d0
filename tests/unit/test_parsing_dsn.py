"""The DSN parser: one bounce event per failed recipient, recipients kept only as hashes."""

import base64
import hashlib
import json
import quopri
from collections.abc import Callable

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.dsn import DsnParser, bounce_class
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport
from abusedesk.parsing.registry import default_registry

RETURNED_HEADERS = """From: News <news@sender.example.com>
To: someone@example.net
Subject: Hello
Date: Mon, 03 Mar 2025 10:00:00 +0000
Message-ID: <m-1@sender.example.com>
"""


def dsn(
    status_fields: str,
    *,
    report_type: str = "delivery-status",
    returned: str = RETURNED_HEADERS,
    date: str = "Mon, 03 Mar 2025 10:05:00 +0000",
) -> bytes:
    """Return a delivery status notification with *status_fields* as its status part."""
    return f"""From: MAILER-DAEMON@mx.example.net
To: bounces@mail.example.org
Subject: Undelivered Mail Returned to Sender
Date: {date}
MIME-Version: 1.0
Content-Type: multipart/report; report-type={report_type}; boundary="b"

--b
Content-Type: text/plain

Delivery failed.

--b
Content-Type: message/delivery-status

{status_fields}

--b
Content-Type: text/rfc822-headers

{returned}
--b--
""".encode()


def failed(address: str = "user@example.net", status: str = "5.1.1", **extra: str) -> str:
    """Return a per-message block and one per-recipient block."""
    lines = [
        "Reporting-MTA: dns; mx.example.net",
        "Arrival-Date: Mon, 03 Mar 2025 10:04:00 +0000",
        "",
        f"Final-Recipient: rfc822; {address}",
        "Action: failed",
        f"Status: {status}",
    ]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in extra.items()]
    return "\n".join(lines)


def parse(raw: bytes) -> ParsedReport:
    """Parse *raw* with the DSN parser alone."""
    return DsnParser().parse(RawDocument(raw))


def only_event(raw: bytes) -> EventDraft:
    """Parse *raw* and return its one event."""
    (event,) = parse(raw).events
    return event


def test_failed_recipient_becomes_a_bounce_event() -> None:
    """A recipient with Action: failed gives one event of category bounce."""
    assert [event.category for event in parse(dsn(failed())).events] == [Category.BOUNCE]


def test_each_failed_recipient_gives_its_own_event() -> None:
    """Three failed recipients give three events, in report order."""
    blocks = "\n\n".join(
        [
            failed("a@one.example"),
            "Final-Recipient: rfc822; b@two.example\nAction: failed\nStatus: 5.1.1",
            "Final-Recipient: rfc822; c@three.example\nAction: failed\nStatus: 4.2.2",
        ]
    )
    domains = [event.indicators["recipient_domain"] for event in parse(dsn(blocks)).events]
    assert domains == [("one.example",), ("two.example",), ("three.example",)]


@pytest.mark.parametrize(
    ("status", "expected"),
    [("5.1.1", "hard"), ("5.1.2", "hard"), ("4.1.1", "soft"), ("4.2.2", "soft"), ("5.7.1", "soft")],
)
def test_only_a_permanently_bad_address_is_a_hard_bounce(status: str, expected: str) -> None:
    """Hard means the address is bad for good (5.1.1, 5.1.2); a refusal or a 4.x.x is soft."""
    assert expected == only_event(dsn(failed(status=status))).details["bounce_class"]


def test_reason_comes_from_the_status_code() -> None:
    """Without a diagnostic, the enhanced status code names the reason."""
    assert only_event(dsn(failed(status="5.2.2"))).details["reason"] == "mailbox_full"


def test_reason_prefers_the_remote_servers_words() -> None:
    """A diagnostic that names a reason wins over the status code's general class."""
    fields = failed(status="5.7.1", Diagnostic_Code="smtp; 554 5.7.1 blocked using zen.example.org")
    assert only_event(dsn(fields)).details["reason"] == "blocked"


def test_delayed_recipient_is_a_soft_bounce_still_being_retried() -> None:
    """Action: delayed gives a soft bounce event that keeps its action."""
    fields = failed(status="4.4.7").replace("Action: failed", "Action: delayed")
    details = only_event(dsn(fields)).details
    assert (details["action"], details["bounce_class"], details["reason"]) == (
        "delayed",
        "soft",
        "expired",
    )


@pytest.mark.parametrize("action", ["delivered", "relayed", "expanded"])
def test_recipients_that_were_delivered_give_no_event(action: str) -> None:
    """Successful actions are not bounces: a report of only those has no events."""
    fields = failed().replace("Action: failed", f"Action: {action}")
    assert ParsedReport(report_format="dsn", events=()) == parse(dsn(fields))


def test_non_standard_action_word_failure_counts_as_failed() -> None:
    """Some MTAs write Action: failure; it is read as failed."""
    fields = failed().replace("Action: failed", "Action: failure")
    assert only_event(dsn(fields)).details["action"] == "failed"


def test_user_unknown_after_the_data_was_sent_is_a_filter() -> None:
    """A user-unknown refusal in reply to end of DATA is a filter's verdict, not a bad address."""
    fields = failed(status="5.0.0", Diagnostic_Code="smtp; 550 Unknown user")
    raw = dsn(fields).replace(
        b"Delivery failed.", b"said: 550 Unknown user (in reply to end of DATA command)"
    )
    details = only_event(raw).details
    assert (details["reason"], details["bounce_class"]) == ("filtered", "soft")


def test_route_in_final_recipient_gives_way_to_the_original_recipient() -> None:
    """A Final-Recipient that is no plain address (a route) yields to Original-Recipient."""
    fields = (
        "Original-Recipient: rfc822; real@example.net\n"
        "Final-Recipient: rfc822; @relay.example.net:real@internal\nAction: failed\nStatus: 5.1.1"
    )
    expected = hashlib.sha256(b"real@example.net").hexdigest()
    assert (expected,) == only_event(dsn(fields)).indicators["recipient_hash"]


def test_delivery_status_report_without_status_part_is_left_to_the_text_reader() -> None:
    """A multipart/report without a status part is not claimed by the DSN parser."""
    raw = dsn("x").replace(b"message/delivery-status", b"text/plain")
    assert DsnParser().sniff(RawDocument(raw)) is False


def test_recipient_is_kept_only_as_hash_and_domain() -> None:
    """The recipient becomes a SHA-256 of the lowercased address and its domain, nothing more."""
    event = only_event(dsn(failed("Mixed.Case@Example.NET")))
    expected_hash = hashlib.sha256(b"mixed.case@example.net").hexdigest()
    assert (
        (expected_hash,),
        ("example.net",),
        False,
    ) == (
        event.indicators["recipient_hash"],
        event.indicators["recipient_domain"],
        "mixed.case" in json.dumps([event.indicators, event.details]).lower(),
    )


def test_diagnostic_code_hides_the_recipient_address() -> None:
    """A diagnostic quoting the refused address keeps its text but not the address."""
    fields = failed(
        "gone@example.net", Diagnostic_Code="smtp; 550 5.1.1 <Gone@Example.net>: User unknown"
    )
    assert (
        only_event(dsn(fields)).details["diagnostic_code"]
        == "550 5.1.1 <[recipient]>: User unknown"
    )


def test_status_code_is_found_in_the_diagnostic_when_status_has_none() -> None:
    """A Status field without an enhanced code takes the one quoted in the diagnostic."""
    fields = failed(status="failed", Diagnostic_Code="smtp; 550 5.7.1 rejected by policy")
    assert only_event(dsn(fields)).details["status"] == "5.7.1"


def test_a_catch_all_status_gives_way_to_the_specific_code_of_the_diagnostic() -> None:
    """Status 5.0.0 with a diagnostic quoting 5.1.0 is a 5.1.0, and so a bad address."""
    fields = failed(status="5.0.0", Diagnostic_Code="smtp; 550 #5.1.0 Address rejected.")
    details = only_event(dsn(fields)).details
    assert (details["status"], details["reason"], details["bounce_class"]) == (
        "5.1.0",
        "user_unknown",
        "hard",
    )


def test_a_specific_status_is_kept_over_the_diagnostics_code() -> None:
    """Only a catch-all x.0.0 gives way; a specific Status is the reporting MTA's verdict."""
    fields = failed(status="5.2.2", Diagnostic_Code="smtp; 550 5.1.1 mailbox full")
    assert only_event(dsn(fields)).details["status"] == "5.2.2"


def test_without_a_diagnostic_the_notice_line_of_the_recipient_says_why() -> None:
    """A recipient block with no Diagnostic-Code is classified from the notice's own line."""
    fields = failed(address="user@example.net", status="4.0.0").replace(
        "Action: failed", "Action: delayed"
    )
    raw = dsn(fields).replace(
        b"Delivery failed.",
        b"A message is delayed for the following recipients:\n\n"
        b"user@example.net: No MX found for domain\n",
    )
    details = only_event(raw).details
    assert (details["reason"], details["bounce_class"]) == ("host_unknown", "soft")


def test_notice_line_of_another_recipient_is_not_used() -> None:
    """The notice's line about someone else says nothing about this recipient."""
    fields = failed(address="user@example.net", status="4.0.0").replace(
        "Action: failed", "Action: delayed"
    )
    raw = dsn(fields).replace(b"Delivery failed.", b"other@example.net: No MX found for domain\n")
    assert only_event(raw).details["reason"] == "expired"


@pytest.mark.parametrize(
    ("diagnostic", "expected"),
    [("550 mailbox unavailable", "hard"), ("450 mailbox unavailable", "soft"), ("no code", "soft")],
)
def test_reply_code_decides_when_there_is_no_status(diagnostic: str, expected: str) -> None:
    """Without a status code, a 5xx unknown-mailbox reply is hard, a 4xx or nothing soft."""
    assert expected == bounce_class(None, diagnostic)


def test_details_name_action_status_and_mtas() -> None:
    """Details carry the action, status, diagnostic, remote and reporting MTA hosts."""
    fields = failed(Remote_MTA="dns; MX.Example.NET.", Diagnostic_Code="smtp; 550 5.1.1 unknown")
    details = only_event(dsn(fields)).details
    assert details == {
        "action": "failed",
        "status": "5.1.1",
        "bounce_class": "hard",
        "reason": "user_unknown",
        "diagnostic_code": "550 5.1.1 unknown",
        "remote_mta": "mx.example.net",
        "reporting_mta": "mx.example.net",
        "original_envelope_id": None,
    }


def test_reporter_is_the_reporting_mta_host() -> None:
    """The reporter is the host named by Reporting-MTA, without its ``dns;`` type."""
    assert only_event(dsn(failed())).reporter == "mx.example.net"


def test_reporter_falls_back_to_the_sender_domain() -> None:
    """Without Reporting-MTA the reporter is the domain of the report's From address."""
    fields = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1"
    assert only_event(dsn(fields)).reporter == "mx.example.net"


def test_original_message_indicators_come_from_the_returned_headers() -> None:
    """The returned headers give the original message's id and sender domain."""
    indicators = only_event(dsn(failed())).indicators
    assert (
        indicators["message_id"],
        indicators["from_domain"],
    ) == (("m-1@sender.example.com",), ("sender.example.com",))


def test_occurred_at_prefers_the_last_attempt_date() -> None:
    """The event time is the recipient's Last-Attempt-Date when there is one."""
    fields = failed(Last_Attempt_Date="Mon, 03 Mar 2025 11:00:00 +0100")
    occurred_at = only_event(dsn(fields)).occurred_at
    assert occurred_at is not None
    assert occurred_at.isoformat() == "2025-03-03T10:00:00+00:00"


def test_occurred_at_falls_back_to_the_arrival_date() -> None:
    """Without Last-Attempt-Date the event time is the per-message Arrival-Date."""
    occurred_at = only_event(dsn(failed())).occurred_at
    assert occurred_at is not None
    assert occurred_at.isoformat() == "2025-03-03T10:04:00+00:00"


def test_missing_action_with_a_permanent_status_counts_as_failed() -> None:
    """A non-standard block without Action but with a 5.x.x status is a bounce."""
    fields = (
        "Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; a@x.example\nStatus: 5.1.1"
    )
    assert len(parse(dsn(fields)).events) == 1


def test_recipient_fields_run_into_the_per_message_block_still_count() -> None:
    """Some MTAs write one block for the message and the recipient; it is still read."""
    fields = "Reporting-MTA: dns; mx.example.net\nFinal-Recipient: rfc822; a@x.example\nAction: failed\nStatus: 5.4.4"
    assert only_event(dsn(fields)).details["status"] == "5.4.4"


def test_original_recipient_stands_in_for_a_missing_final_recipient() -> None:
    """Without Final-Recipient the Original-Recipient address is hashed instead."""
    fields = "Original-Recipient: <Only@Example.net>\nAction: failed\nStatus: 5.1.1"
    expected = hashlib.sha256(b"only@example.net").hexdigest()
    assert (expected,) == only_event(dsn(fields)).indicators["recipient_hash"]


def test_report_without_a_status_part_is_refused_with_its_reason() -> None:
    """A delivery-status report with no message/delivery-status part raises dsn_no_status_part."""
    raw = dsn("x").replace(b"message/delivery-status", b"text/plain")
    with pytest.raises(ParseError) as caught:
        parse(raw)
    assert caught.value.reason == "dsn_no_status_part"


def test_status_part_without_recipients_is_refused_with_its_reason() -> None:
    """A status part naming no recipient raises dsn_no_recipients."""
    with pytest.raises(ParseError) as caught:
        parse(dsn("Reporting-MTA: dns; mx.example.net"))
    assert caught.value.reason == "dsn_no_recipients"


def test_status_part_in_a_multipart_mixed_is_recognised() -> None:
    """A message/delivery-status part outside multipart/report still makes a DSN."""
    raw = dsn(failed()).replace(
        b"multipart/report; report-type=delivery-status", b"multipart/mixed"
    )
    assert default_registry().parse(raw).report_format == "dsn"


def test_bounce_forwarded_inside_a_complaint_is_not_taken_for_a_dsn() -> None:
    """A DSN attached to someone's email as message/rfc822 is not the report itself."""
    raw = (
        b"From: person@example.org\nSubject: look at this\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/mixed; boundary="outer"\n\n--outer\nContent-Type: text/plain\n\n'
        b"Why do I get these?\n\n--outer\nContent-Type: message/rfc822\n\n"
        + dsn(failed())
        + b"\n--outer--\n"
    )
    assert default_registry().parse(raw).report_format == "freeform"


def test_global_delivery_status_is_read_like_delivery_status() -> None:
    """An internationalised (RFC 6533) status part gives the same bounce events."""
    raw = dsn(failed(), report_type="global-delivery-status").replace(
        b"message/delivery-status", b"message/global-delivery-status"
    )
    assert parse(raw).events == parse(dsn(failed())).events


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("base64", base64.encodebytes),
        ("quoted-printable", quopri.encodestring),
    ],
)
def test_transfer_encoded_status_part_is_decoded(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    """A status part sent base64 or quoted-printable encoded is decoded before reading."""
    encoded = encode(failed().encode()).decode()
    raw = dsn(encoded).replace(
        b"Content-Type: message/delivery-status\n",
        f"Content-Type: message/delivery-status\nContent-Transfer-Encoding: {encoding}\n".encode(),
    )
    assert parse(raw).events == parse(dsn(failed())).events


def test_postfix_sender_field_is_the_envelope_sender() -> None:
    """X-Postfix-Sender names the returned message's envelope sender (a VERP address)."""
    status = failed().replace(
        "Reporting-MTA",
        "X-Postfix-Sender: rfc822; 0100019a-verp-1@Bounce.Sender.example.com\nReporting-MTA",
        1,
    )
    raw = dsn(status).replace(b"From: MAILER-DAEMON", b"Return-Path: <>\nFrom: MAILER-DAEMON")
    event = only_event(raw)
    assert event.indicators["envelope_sender"] == (
        "0100019a-verp-1@bounce.sender.example.com",
        "bounces@mail.example.org",
    )


def test_bounce_addressee_is_the_envelope_sender_when_sent_as_a_bounce() -> None:
    """A bounce with a null Return-Path goes back to the envelope sender: its To names it."""
    raw = dsn(failed()).replace(b"From: MAILER-DAEMON", b"Return-Path: <>\nFrom: MAILER-DAEMON")
    assert only_event(raw).indicators["envelope_sender"] == ("bounces@mail.example.org",)


def test_bounce_passed_on_by_a_person_names_no_envelope_sender() -> None:
    """A DSN someone resent (``Resent-From``) is addressed to whoever they sent it to."""
    raw = dsn(failed()).replace(
        b"From: MAILER-DAEMON",
        b"Return-Path: <>\nResent-From: pat@example.org\nFrom: MAILER-DAEMON",
    )
    assert "envelope_sender" not in only_event(raw).indicators
