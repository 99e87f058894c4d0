"""The ARF parser, for what the golden files do not show."""

import base64
import hashlib

import pytest

from abusedesk.parsing.arf import ArfParser, is_redacted, parse_fields
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import EventDraft, ParsedReport
from abusedesk.parsing.registry import default_registry
from tests.factories.reports import arf_complaint

FEEDBACK = """Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Source-IP: 192.0.2.10
"""
REPORTED = """From: News <news@shop.example.com>
To: redacted@mail.example.net
Subject: Offer
Date: Mon, 03 Mar 2025 10:00:00 +0000
Message-ID: <offer-1@shop.example.com>

Buy now.
"""


def feedback_report(
    feedback: str | None = FEEDBACK,
    reported: str | None = REPORTED,
    *,
    reported_headers: str = "Content-Type: message/rfc822\n",
    feedback_headers: str = "Content-Type: message/feedback-report\n",
    top: str = "Content-Type: multipart/report; report-type=feedback-report; boundary=b",
) -> bytes:
    """Return a feedback report built from its parts; None leaves a part out."""
    parts = ["Content-Type: text/plain\n\nA recipient reported this message.\n"]
    if feedback is not None:
        parts.append(f"{feedback_headers}\n{feedback}")
    if reported is not None:
        parts.append(f"{reported_headers}\n{reported}")
    body = "".join(f"--b\n{part}\n" for part in parts)
    head = (
        "From: Feedback <fbl@feedback.example.net>\n"
        "To: fbl@abuse.example.org\n"
        "Subject: Complaint\n"
        "Date: Tue, 04 Mar 2025 09:00:00 +0000\n"
        "Message-ID: <the-report-itself@feedback.example.net>\n"
        f"MIME-Version: 1.0\n{top}\n"
    )
    return f"{head}\n{body}--b--\n".encode()


def parse(raw: bytes) -> ParsedReport:
    """Return what the parser registry makes of *raw*."""
    return default_registry().parse(raw)


def only_event(raw: bytes) -> EventDraft:
    """Return the single event an ARF report gives."""
    report = parse(raw)
    assert (report.report_format, len(report.events)) == ("arf", 1)
    return report.events[0]


def test_reporter_is_the_reporting_mta_host_without_its_type() -> None:
    """Reporting-MTA ``dns; fbl.example.net`` names the reporter ``fbl.example.net``."""
    raw = arf_complaint(1, message_id="m@shop.example.com", from_domain="shop.example.com")
    (event,) = ArfParser().parse(RawDocument(raw)).events
    assert event.reporter == "fbl.example.net"


def test_reporter_falls_back_on_the_domain_of_the_report_sender() -> None:
    """Without Reporting-MTA the reporter is the domain the report came from."""
    assert only_event(feedback_report()).reporter == "feedback.example.net"


def test_message_id_is_the_reported_messages_not_the_reports() -> None:
    """The report's own Message-ID never stands for the reported message."""
    assert only_event(feedback_report()).indicators["message_id"] == ("offer-1@shop.example.com",)


def test_message_id_is_the_last_one_in_the_reported_message() -> None:
    """When part 3 carries two Message-ID headers, the last one is the message's own."""
    reported = REPORTED.replace(
        "Message-ID: <offer-1@shop.example.com>",
        "Message-ID: <relay-copy@relay.example.org>\nMessage-ID: <offer-1@shop.example.com>",
    )
    event = only_event(feedback_report(reported=reported))
    assert event.indicators["message_id"] == ("offer-1@shop.example.com",)


def test_message_id_falls_back_on_the_feedback_field_without_a_third_part() -> None:
    """A report without the message gives the Original-Message-ID it names instead."""
    feedback = FEEDBACK + "Original-Message-ID: <named-9@shop.example.com>\n"
    event = only_event(feedback_report(feedback, reported=None))
    assert event.indicators["message_id"] == ("named-9@shop.example.com",)


def test_a_missing_third_part_still_gives_the_feedback_fields() -> None:
    """Without part 3, the source IP and type still come from the feedback part."""
    event = only_event(feedback_report(reported=None))
    assert (event.indicators["source_ip"], event.category) == (("192.0.2.10",), "spam")


@pytest.mark.parametrize(
    ("feedback_type", "category"),
    [
        ("abuse", "spam"),
        ("fraud", "fraud"),
        ("virus", "malware"),
        ("auth-failure", "auth_failure"),
        ("not-spam", "not_spam"),
        ("Not_Spam", "not_spam"),
        ("other", "other"),
        ("opt-out", "other"),
    ],
)
def test_feedback_type_sets_the_category(feedback_type: str, category: str) -> None:
    """Each registered Feedback-Type has its category; unknown types are ``other``."""
    feedback = FEEDBACK.replace("abuse", feedback_type)
    assert category == only_event(feedback_report(feedback)).category


def test_not_spam_is_never_a_complaint() -> None:
    """A ``not-spam`` report is kept, but under a category that counts no complaint."""
    feedback = FEEDBACK.replace("abuse", "not-spam")
    event = only_event(feedback_report(feedback))
    assert (event.category, event.details["feedback_type"]) == ("not_spam", "not-spam")


def test_a_report_without_feedback_type_reads_as_abuse_and_says_so() -> None:
    """A feedback part without Feedback-Type is a complaint, with a warning."""
    report = parse(feedback_report(FEEDBACK.replace("Feedback-Type: abuse\n", "")))
    assert (
        report.events[0].category,
        report.warnings,
    ) == ("spam", ("no Feedback-Type field; read as abuse",))


def test_an_invalid_source_ip_is_a_warning_not_an_indicator() -> None:
    """A Source-IP that is not an address is left out and named in the warnings."""
    report = parse(feedback_report(FEEDBACK.replace("192.0.2.10", "mx.example.net")))
    assert ("source_ip" in report.events[0].indicators, report.warnings) == (
        False,
        ("Source-IP 'mx.example.net' is not an IP address",),
    )


def test_a_feedback_report_without_fields_is_malformed() -> None:
    """A declared feedback report with no feedback fields anywhere cannot be read."""
    with pytest.raises(MalformedReport) as raised:
        parse(feedback_report(feedback=None))
    assert raised.value.reason == "arf_no_feedback_part"


@pytest.mark.parametrize(
    ("incidents", "expected"), [("7", 7), ("0", None), ("many", None), ("\u00b2", None)]
)
def test_incidents_is_kept_when_it_is_a_positive_count(incidents: str, expected: int) -> None:
    """``Incidents`` is kept as a number; zero or text is ignored."""
    event = only_event(feedback_report(FEEDBACK + f"Incidents: {incidents}\n"))
    assert expected == event.details.get("incidents")


@pytest.mark.parametrize(
    "value",
    [
        "redacted",
        "redacted@",
        "xxxxx@mail.example.net",
        "<redacted@mail.example.net>",
        "undisclosed comcast recipient <user@mail.example.net>",
        "****@mail.example.net",
        "@mail.example.net",
    ],
)
def test_redacted_recipients_are_recognised(value: str) -> None:
    """Placeholders feedback loops put in place of the complainant are not addresses."""
    assert is_redacted(value)


@pytest.mark.parametrize("value", ["alice@people.example.org", "Bob <bob.x@people.example.org>"])
def test_real_recipients_are_not_taken_for_redacted(value: str) -> None:
    """An ordinary address is a recipient."""
    assert not is_redacted(value)


def test_real_recipients_are_kept_only_as_hash_and_domain() -> None:
    """A real Original-Rcpt-To gives a hash and a domain, never the address itself."""
    event = only_event(feedback_report(FEEDBACK + "Original-Rcpt-To: <alice@people.example.org>\n"))
    flat = repr(event)
    assert (("people.example.org",), 1, "alice@" in flat) == (
        event.indicators["recipient_domain"],
        len(event.indicators["recipient_hash"]),
        False,
    )


def test_folded_and_repeated_fields_are_read_whole() -> None:
    """Continuation lines join their field; repeated fields keep every value."""
    fields = parse_fields(
        "Source-IP: 192.0.2.1\nAuthentication-Results: a;\n\tspf=pass\nSource-IP: 192.0.2.2\n"
    )
    assert fields == {
        "source-ip": ["192.0.2.1", "192.0.2.2"],
        "authentication-results": ["a; spf=pass"],
    }


def test_repeated_fields_are_bounded() -> None:
    """A field repeated thousands of times keeps a bounded number of values."""
    fields = parse_fields("Source-IP: 192.0.2.1\n" * 5000)
    assert len(fields["source-ip"]) == 20


def test_a_base64_reported_message_is_decoded() -> None:
    """Part 3 sent in base64 is decoded before its headers are read."""
    encoded = base64.encodebytes(REPORTED.encode()).decode()
    headers = "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n"
    event = only_event(feedback_report(reported=encoded, reported_headers=headers))
    assert event.indicators["message_id"] == ("offer-1@shop.example.com",)


def test_a_base64_feedback_part_is_decoded() -> None:
    """The feedback part sent in base64 is decoded before its fields are read."""
    encoded = base64.encodebytes(FEEDBACK.replace("abuse", "fraud").encode()).decode()
    headers = "Content-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n"
    event = only_event(feedback_report(encoded, feedback_headers=headers))
    assert (event.category, event.indicators["source_ip"]) == ("fraud", ("192.0.2.10",))


@pytest.mark.parametrize(
    "first_line", ["From sender@shop.example.com Mon Mar  3 10:00:00 2025", ">From x"]
)
def test_a_mailbox_from_line_before_the_reported_headers_is_skipped(first_line: str) -> None:
    """Part 3 copied from a mailbox starts with a ``From `` line; the headers follow it."""
    event = only_event(feedback_report(reported=f"{first_line}\n{REPORTED}"))
    assert event.indicators["message_id"] == ("offer-1@shop.example.com",)


def test_headers_only_part_with_a_mailbox_line_is_read() -> None:
    """A text/rfc822-headers part is read past a leading mailbox line too."""
    reported = ">From x\n" + REPORTED.split("\n\n", maxsplit=1)[0] + "\n"
    event = only_event(
        feedback_report(reported=reported, reported_headers="Content-Type: text/rfc822-headers\n")
    )
    assert event.indicators["from_domain"] == ("shop.example.com",)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_line_endings_do_not_change_the_event(newline: str) -> None:
    """CRLF and CR-only copies of a report give the same event as the LF original."""
    raw = feedback_report()
    assert only_event(raw) == only_event(raw.replace(b"\n", newline.encode()))


def test_a_report_wrapped_by_a_relay_is_still_read() -> None:
    """A multipart/mixed holding the report's parts is read by its feedback part."""
    raw = feedback_report(top="Content-Type: multipart/mixed; boundary=b")
    assert only_event(raw).category == "spam"


def test_a_bounce_of_a_feedback_report_is_a_bounce() -> None:
    """A DSN returning a feedback report is not itself a complaint."""
    returned = feedback_report().decode()
    raw = (
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=d\n\n"
        "--d\nContent-Type: text/plain\n\nFailed.\n"
        "--d\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n"
        "Final-Recipient: rfc822; fbl@abuse.example.org\nAction: failed\nStatus: 5.1.1\n\n"
        f"--d\nContent-Type: message/rfc822\n\n{returned}\n--d--\n"
    ).encode()
    assert not ArfParser().sniff(RawDocument(raw))


def test_a_forwarded_feedback_report_is_read_as_the_report_it_carries() -> None:
    """A mail passing a report on as an attachment gives the attached report's event."""
    attached = feedback_report().decode()
    raw = (
        "From: someone@people.example.org\nSubject: Fwd: look at this\n"
        "Message-ID: <the-forward@people.example.org>\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        "--f\nContent-Type: text/plain\n\nPlease look.\n"
        f"--f\nContent-Type: message/rfc822\n\n{attached}\n--f--\n"
    ).encode()
    report = parse(raw)
    event = report.events[0]
    assert (report.kind, event.indicators["message_id"], event.reporter) == (
        "forwarded",
        ("offer-1@shop.example.com",),
        "feedback.example.net",
    )


def test_a_free_form_complaint_with_the_spam_attached_is_not_arf() -> None:
    """A person forwarding spam writes no feedback fields: the free-form parser reads it."""
    raw = (
        "From: someone@people.example.org\nSubject: Spam from your network\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        "--f\nContent-Type: text/plain\n\nI keep getting this: stop it.\n"
        f"--f\nContent-Type: message/rfc822\n\n{REPORTED}\n--f--\n"
    ).encode()
    assert not ArfParser().sniff(RawDocument(raw))


def test_a_non_standard_bounce_returning_a_jmrp_report_is_not_a_complaint() -> None:
    """A mailer-daemon mail is a bounce even when the message it returns is a JMRP one."""
    jmrp = "X-HmXmrOriginalRecipient: reader@mailbox.example.com\n" + REPORTED
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\nSubject: Undelivered\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        "--f\nContent-Type: text/plain\n\nThis is an email abuse report for an email message.\n"
        f"--f\nContent-Type: message/rfc822\n\n{jmrp}\n--f--\n"
    ).encode()
    assert not ArfParser().sniff(RawDocument(raw))


def test_jmrp_source_ip_comes_from_microsofts_received_header_without_a_subject_ip() -> None:
    """With no IP in the subject, the Received header after the JMRP headers names it."""
    jmrp = (
        "X-HmXmrOriginalRecipient: reader@mailbox.example.com\n"
        "Received: from out.mail.example.org ([203.0.113.9]) by mx.mailbox.example.com;"
        " Mon, 03 Mar 2025 10:00:01 +0000\n"
        "Received: from app.shop.example.com ([10.0.0.2]) by out.mail.example.org;"
        " Mon, 03 Mar 2025 10:00:00 +0000\n" + REPORTED
    )
    raw = (
        "From: staff@hotmail.com\nSubject: complaint\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        f"--f\nContent-Type: message/rfc822\n\n{jmrp}\n--f--\n"
    ).encode()
    report = parse(raw)
    assert (report.kind, report.events[0].indicators["source_ip"]) == ("jmrp", ("203.0.113.9",))


def test_jmrp_with_a_redacted_original_recipient_keeps_no_recipient() -> None:
    """A redacted X-HmXmrOriginalRecipient gives no hash and marks the redaction."""
    jmrp = "X-HmXmrOriginalRecipient: redacted@mailbox.example.com\n" + REPORTED
    raw = (
        "From: staff@hotmail.com\nSubject: complaint about message from 203.0.113.9\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        f"--f\nContent-Type: message/rfc822\n\n{jmrp}\n--f--\n"
    ).encode()
    event = only_event(raw)
    assert ("recipient_hash" in event.indicators, event.details.get("recipients_redacted")) == (
        False,
        True,
    )


def test_feedback_fields_in_the_first_part_of_a_declared_report_are_read() -> None:
    """A multipart/report without a feedback part reads the fields from its first part."""
    raw = feedback_report(feedback=None).replace(
        b"A recipient reported this message.", FEEDBACK.replace("abuse", "virus").encode()
    )
    report = parse(raw)
    assert (report.kind, report.events[0].category) == ("fields-in-first-part", "malware")


def test_a_single_part_mail_of_feedback_fields_is_a_report() -> None:
    """A plain-text mail holding Feedback-Type, User-Agent and Version is read as one."""
    raw = f"From: fbl@feedback.example.net\nSubject: report\n\n{FEEDBACK}".encode()
    event = only_event(raw)
    assert (event.category, event.indicators["source_ip"]) == ("spam", ("192.0.2.10",))


def test_a_quoted_feedback_type_line_alone_does_not_make_a_report() -> None:
    """A person quoting one ``Feedback-Type:`` line writes a free-form mail, not a report."""
    raw = b"From: someone@people.example.org\nSubject: hm\n\nFeedback-Type: abuse\nWhy?\n"
    assert not ArfParser().sniff(RawDocument(raw))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("[192.0.2.7]", "192.0.2.7"),
        ("192.0.2.7:25", "192.0.2.7"),
        ("[192.0.2.7]:25", "192.0.2.7"),
        ("192.0.2.7 (mx.shop.example.com)", "192.0.2.7"),
        ("2001:DB8:0:0::7", "2001:db8::7"),
    ],
)
def test_source_ip_is_read_in_the_forms_reporters_write(value: str, expected: str) -> None:
    """Brackets, a port or a trailing host name around the address are dropped."""
    event = only_event(feedback_report(FEEDBACK.replace("192.0.2.10", value)))
    assert event.indicators["source_ip"] == (expected,)


def test_source_ip_from_the_report_text_when_no_field_carries_it() -> None:
    """Without Source-IP, the IP in the sentence loops write (``received from IP``) is kept."""
    raw = feedback_report(FEEDBACK.replace("Source-IP: 192.0.2.10\n", "")).replace(
        b"A recipient reported this message.",
        b"This is an email abuse report for an email message received from IP 192.0.2.77 on Mon",
    )
    assert only_event(raw).indicators["source_ip"] == ("192.0.2.77",)


def test_scomp_marker_without_an_attached_message_is_not_a_report() -> None:
    """``X-Loop: scomp`` alone, with nothing attached, does not make a complaint."""
    raw = b"From: scomp@aol.example.net\nX-Loop: scomp\nSubject: hello\n\nJust text.\n"
    assert not ArfParser().sniff(RawDocument(raw))


def test_raw_bytes_and_nuls_in_the_report_become_storable_text() -> None:
    """Eight-bit bytes and NULs in fields and headers never reach the event as such."""
    raw = feedback_report(FEEDBACK + "Reported-Domain: caf\xe9.example.com\n").replace(
        b"caf\xc3\xa9", b"caf\xe9"
    )
    raw = raw.replace(b"<offer-1@shop.example.com>", b"<offer-\x00\xff@shop.example.com>")
    event = only_event(raw)
    texts = [event.details["reported_domain"], *event.indicators["message_id"]]
    assert [text.encode("utf-8").count(b"\x00") for text in texts] == [0, 0]


def test_a_loop_subject_with_the_message_attached_is_a_complaint() -> None:
    """``complaint about message from <IP>`` with the message attached is a complaint."""
    raw = (
        "From: complaints@feedback.example.net\nSubject: complaint about message from 192.0.2.8\n"
        "Content-Type: multipart/mixed; boundary=f\n\n"
        f"--f\nContent-Type: message/rfc822\n\n{REPORTED}\n--f--\n"
    ).encode()
    report = parse(raw)
    assert (report.kind, report.events[0].indicators["source_ip"]) == (
        "abuse-report-text",
        ("192.0.2.8",),
    )


@pytest.mark.parametrize(
    ("port", "expected"), [("40123", [40123]), ("\u00b2", None), ("70000", None), ("0", None)]
)
def test_only_real_port_numbers_are_kept(port: str, expected: list[int] | None) -> None:
    """``Source-Port`` is kept when it is a TCP port number; anything else is dropped."""
    event = only_event(feedback_report(FEEDBACK + f"Source-Port: {port}\n"))
    assert event.details.get("source_port") == expected


def test_envelope_sender_is_original_mail_from_lowercased_without_brackets() -> None:
    """Original-Mail-From gives the whole envelope sender, lowercased, and its domain."""
    feedback = FEEDBACK + "Original-Mail-From: <Bounce-77@Mail.Shop.Example.com>\n"
    event = only_event(feedback_report(feedback))
    assert (event.indicators["envelope_sender"], event.indicators["envelope_domain"]) == (
        ("bounce-77@mail.shop.example.com",),
        ("mail.shop.example.com",),
    )


def test_null_original_mail_from_gives_no_envelope_sender() -> None:
    """A null envelope sender ``<>`` names nobody."""
    event = only_event(feedback_report(FEEDBACK + "Original-Mail-From: <>\n"))
    assert "envelope_sender" not in event.indicators


def test_from_address_is_the_reported_messages_not_the_reports() -> None:
    """from_address is the reported message's From, never the feedback loop's own."""
    event = only_event(feedback_report())
    assert event.indicators["from_address"] == ("news@shop.example.com",)


def test_single_to_names_the_recipient_when_no_field_does() -> None:
    """Without Original-Rcpt-To, the reported message's one To address is hashed."""
    reported = REPORTED.replace("To: redacted@mail.example.net", "To: Kim <Kim@Mail.Example.net>")
    event = only_event(feedback_report(reported=reported))
    assert (event.indicators["recipient_hash"], event.indicators["recipient_domain"]) == (
        (hashlib.sha256(b"kim@mail.example.net").hexdigest(),),
        ("mail.example.net",),
    )


def test_several_to_addresses_name_no_recipient() -> None:
    """A To with more than one address does not say which one complained."""
    reported = REPORTED.replace(
        "To: redacted@mail.example.net", "To: kim@mail.example.net, lee@mail.example.net"
    )
    assert "recipient_hash" not in only_event(feedback_report(reported=reported)).indicators


def test_original_rcpt_to_wins_over_the_reported_to() -> None:
    """A field that names the recipient is used, not the reported message's To."""
    feedback = FEEDBACK + "Original-Rcpt-To: <pat@mail.example.net>\n"
    reported = REPORTED.replace("To: redacted@mail.example.net", "To: kim@mail.example.net")
    event = only_event(feedback_report(feedback, reported))
    assert event.indicators["recipient_hash"] == (
        hashlib.sha256(b"pat@mail.example.net").hexdigest(),
    )


def test_auth_failure_reports_are_marked_spoofed_suspect() -> None:
    """A DMARC failure report keeps its indicators and marks its From as possibly spoofed."""
    feedback = FEEDBACK.replace("abuse", "auth-failure") + "Auth-Failure: dmarc\n"
    event = only_event(feedback_report(feedback))
    assert (event.details.get("spoofed_suspect"), event.indicators["from_domain"]) == (
        True,
        ("shop.example.com",),
    )


def test_abuse_reports_are_not_marked_spoofed_suspect() -> None:
    """Only authentication failures carry the spoofing mark."""
    assert "spoofed_suspect" not in only_event(feedback_report()).details
