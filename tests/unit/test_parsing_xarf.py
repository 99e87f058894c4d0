"""The X-ARF parser: v4 reports become one event, read by category, type and protocol."""

import base64
import json
from email.message import EmailMessage
from typing import Any

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, Service
from abusedesk.parsing.registry import default_registry
from abusedesk.parsing.xarf import XarfParser


def xarf(**fields: Any) -> dict[str, Any]:
    """Return an X-ARF v4 messaging/spam report over SMS; *fields* override or add fields."""
    report: dict[str, Any] = {
        "xarf_version": "4.2.0",
        "report_id": "4f1c2e3d-0a1b-4c2d-8e9f-001122334455",
        "timestamp": "2025-03-07T21:14:09+01:00",
        "reporter": {
            "org": "Operator",
            "contact": "spam@operator.example.net",
            "domain": "operator.example.net",
        },
        "sender": {
            "org": "Operator",
            "contact": "spam@operator.example.net",
            "domain": "operator.example.net",
        },
        "source_identifier": "+15550100123",
        "category": "messaging",
        "type": "spam",
        "protocol": "sms",
    }
    report.update(fields)
    return {name: value for name, value in report.items() if value is not None}


def only_event(report: dict[str, Any]) -> EventDraft:
    """Parse *report* with the X-ARF parser alone and return its one event."""
    (event,) = XarfParser().parse(RawDocument(json.dumps(report).encode())).events
    return event


def refusal(report: dict[str, Any]) -> ParseError:
    """Return the ParseError the X-ARF parser raises for *report*."""
    with pytest.raises(ParseError) as caught:
        XarfParser().parse(RawDocument(json.dumps(report).encode()))
    return caught.value


def test_sms_spam_is_an_sms_spam_event_on_the_sms_service() -> None:
    """messaging/spam over sms gives category sms_spam on service sms."""
    event = only_event(xarf())
    assert (event.category, event.service) == (Category.SMS_SPAM, Service.SMS)


def test_sms_sender_number_is_a_phone_number_without_punctuation() -> None:
    """A sending number keeps its digits and leading plus, without spaces or brackets."""
    event = only_event(xarf(source_identifier="+1 (555) 010-0123"))
    assert event.indicators == {"phone_number": ("+15550100123",)}


def test_short_code_is_a_phone_number() -> None:
    """A numeric short code is an origination number too."""
    assert only_event(xarf(source_identifier="72345")).indicators == {"phone_number": ("72345",)}


def test_alphanumeric_sender_is_a_sender_id() -> None:
    """An alphanumeric sender gives a sender_id indicator."""
    assert only_event(xarf(source_identifier="BANK-INFO")).indicators == {
        "sender_id": ("BANK-INFO",)
    }


def test_smtp_spam_is_a_spam_event_with_its_email_indicators() -> None:
    """messaging/spam over smtp gives spam on email with source IP, message id and domains."""
    event = only_event(
        xarf(
            protocol="smtp",
            source_identifier="192.0.2.61",
            smtp_from="bounce@mail.sender.example.com",
            message_id="<m-1@sender.example.com>",
        )
    )
    assert (event.category, event.service, event.indicators) == (
        Category.SPAM,
        Service.EMAIL,
        {
            "source_ip": ("192.0.2.61",),
            "message_id": ("m-1@sender.example.com",),
            "envelope_domain": ("mail.sender.example.com",),
            "from_domain": ("mail.sender.example.com",),
        },
    )


def test_evidence_message_adds_the_indicators_of_the_spam_itself() -> None:
    """A message/rfc822 evidence item adds its From domain, DKIM domain and URLs."""
    spam = (
        b"From: Win <win@prize.example.com>\r\nMessage-ID: <p-1@prize.example.com>\r\n"
        b"DKIM-Signature: v=1; d=prize.example.com; s=k1; b=x\r\n\r\n"
        b"Go to https://prize.example.com/claim\r\n"
    )
    evidence = [{"content_type": "message/rfc822", "payload": base64.b64encode(spam).decode()}]
    event = only_event(
        xarf(
            protocol="smtp",
            source_identifier="192.0.2.61",
            smtp_from="b@mail.prize.example.com",
            evidence=evidence,
        )
    )
    assert (
        event.indicators["from_domain"],
        event.indicators["envelope_domain"],
        event.indicators["dkim_domain"],
        event.indicators["url"],
    ) == (
        ("prize.example.com",),
        ("mail.prize.example.com",),
        ("prize.example.com",),
        ("https://prize.example.com/claim",),
    )


@pytest.mark.parametrize(
    "evidence",
    [
        pytest.param(["not an item"], id="not-an-object"),
        pytest.param([{"content_type": "text/plain", "payload": "aGk="}], id="not-a-message"),
        pytest.param([{"content_type": "message/rfc822", "payload": 7}], id="payload-not-text"),
        pytest.param([{"content_type": "message/rfc822", "payload": "a"}], id="not-base64"),
        pytest.param({"content_type": "message/rfc822"}, id="not-a-list"),
    ],
)
def test_evidence_that_is_not_a_readable_message_adds_nothing(evidence: Any) -> None:
    """Evidence items that do not decode to a message leave the field indicators alone."""
    fields = {"protocol": "smtp", "source_identifier": "192.0.2.61"}
    assert only_event(xarf(**fields, evidence=evidence)).indicators == {
        "source_ip": ("192.0.2.61",)
    }


def test_push_notification_spam_is_on_the_push_service() -> None:
    """messaging/spam over push_notification is a spam event on service push."""
    event = only_event(xarf(protocol="push_notification", source_identifier="app.example.com"))
    assert (event.category, event.service) == (Category.SPAM, Service.PUSH)


@pytest.mark.parametrize(
    ("protocol", "expected"), [("whatsapp", "whatsapp"), ("carrier-pigeon" * 5, "other")]
)
def test_other_channels_keep_their_name_or_become_other(protocol: str, expected: str) -> None:
    """Spam over a channel the provider does not run keeps the X-ARF name, unknown ones 'other'."""
    assert only_event(xarf(protocol=protocol)).service == expected


def test_reporter_is_the_reporter_domain() -> None:
    """The reporter is reporter.domain."""
    assert only_event(xarf()).reporter == "operator.example.net"


def test_reporter_falls_back_to_the_contact_domain() -> None:
    """Without reporter.domain (X-ARF 4.0) the contact address's domain names the reporter."""
    report = xarf(reporter={"org": "Operator", "contact": "spam@contact.example.net"})
    assert only_event(report).reporter == "contact.example.net"


def test_occurred_at_is_the_report_timestamp_in_utc() -> None:
    """The event time is the report's timestamp, converted to UTC."""
    assert only_event(xarf()).occurred_at.isoformat() == "2025-03-07T20:14:09+00:00"


def test_details_keep_the_xarf_classification() -> None:
    """Details keep the X-ARF report id, version, category, type and protocol."""
    details = only_event(xarf())
    assert {key: details.details[key] for key in ("report_id", "xarf_category", "xarf_type")} == {
        "report_id": "4f1c2e3d-0a1b-4c2d-8e9f-001122334455",
        "xarf_category": "messaging",
        "xarf_type": "spam",
    }


@pytest.mark.parametrize(
    "field", ["report_id", "timestamp", "reporter", "source_identifier", "category", "type"]
)
def test_missing_core_field_is_refused_naming_the_field(field: str) -> None:
    """A report without a core field raises xarf_invalid, and the message names the field."""
    error = refusal(xarf(**{field: None}))
    assert (error.reason, repr(field) in str(error)) == ("xarf_invalid", True)


def test_messaging_report_without_protocol_is_refused() -> None:
    """A messaging report needs its protocol: xarf_invalid naming 'protocol'."""
    error = refusal(xarf(protocol=None))
    assert (error.reason, "'protocol'" in str(error)) == ("xarf_invalid", True)


def test_reporter_that_is_not_an_object_is_refused() -> None:
    """A reporter given as text is off-schema: xarf_invalid."""
    assert refusal(xarf(reporter="operator.example.net")).reason == "xarf_invalid"


def test_unreadable_timestamp_is_refused() -> None:
    """A timestamp that is not ISO 8601 raises xarf_invalid naming 'timestamp'."""
    error = refusal(xarf(timestamp="last Tuesday"))
    assert (error.reason, "'timestamp'" in str(error)) == ("xarf_invalid", True)


@pytest.mark.parametrize(
    "report",
    [
        pytest.param(xarf(xarf_version="3.0.0"), id="v3-version-field"),
        pytest.param({"Version": "3", "ReporterInfo": {}, "Report": {}}, id="legacy-shape"),
    ],
)
def test_versions_before_4_are_refused_as_unsupported(report: dict[str, Any]) -> None:
    """X-ARF before v4 raises xarf_unsupported_version rather than being guessed at."""
    assert refusal(report).reason == "xarf_unsupported_version"


@pytest.mark.parametrize(
    ("category", "kind", "expected"),
    [
        ("content", "phishing", Category.PHISHING),
        ("content", "malware", Category.MALWARE),
        ("content", "spamvertised", Category.SPAM),
        ("reputation", "trap", Category.SPAM),
        ("connection", "ddos", Category.OTHER),
        ("copyright", "p2p", Category.OTHER),
    ],
)
def test_other_categories_map_to_the_nearest_event_category(
    category: str, kind: str, expected: str
) -> None:
    """Non-messaging categories map to phishing, malware, spam or else other."""
    event = only_event(xarf(category=category, type=kind, protocol=None))
    assert event.category == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("198.51.100.7", {"source_ip": ("198.51.100.7",)}),
        ("Bad.Example.COM", {"domain": ("bad.example.com",)}),
        ("https://bad.example.com/x", {"url": ("https://bad.example.com/x",)}),
        ("AS64500", {"source_identifier": ("AS64500",)}),
    ],
)
def test_source_identifier_becomes_the_indicator_of_its_kind(
    source: str, expected: dict[str, tuple[str, ...]]
) -> None:
    """The source identifier is an IP, a domain, a URL or else kept as it is."""
    event = only_event(xarf(category="connection", type="ddos", source_identifier=source))
    assert event.indicators == expected


def test_report_attached_to_an_email_is_read() -> None:
    """An X-ARF JSON part of an email is parsed like the bare JSON."""
    message = EmailMessage()
    message["From"] = "xarf@operator.example.net"
    message["Subject"] = "abuse report"
    message.set_content("See the attached X-ARF report.")
    message.add_attachment(
        json.dumps(xarf()).encode(), maintype="application", subtype="json", filename="r.json"
    )
    parsed = default_registry().parse(message.as_bytes())
    assert (parsed.report_format, parsed.events) == ("xarf", (only_event(xarf()),))
