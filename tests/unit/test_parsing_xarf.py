"""The X-ARF parser: v4 reports checked for their version and read into one event by
category, type and protocol; v3 JSON converted; X-ARF 0.x mails read."""

import base64
import copy
import hashlib
import json
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, Service
from abusedesk.parsing.registry import default_registry
from abusedesk.parsing.xarf import MAX_DEPTH, MAX_EVIDENCE_ITEMS, XarfParser, event_category

SMTP = {
    "protocol": "smtp",
    "source_identifier": "192.0.2.61",
    "source_port": 25,
    "smtp_from": "bounce@mail.sender.example.com",
}
V3_SPAM: dict[str, Any] = {
    "Version": "3.0.0",
    "ReporterInfo": {
        "ReporterOrg": "Trap Network",
        "ReporterOrgDomain": "traps.example.org",
        "ReporterContactEmail": "abuse@traps.example.org",
    },
    "Report": {
        "ReportClass": "Messaging",
        "ReportType": "spam",
        "Date": "2025-02-01T08:00:00Z",
        "Source": {"IP": "198.51.100.20", "Port": 25},
        "AdditionalInfo": {"Protocol": "smtp", "SMTPFrom": "offers@deals.example.com"},
    },
}


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


def refusal(report: Any) -> ParseError:
    """Return the ParseError the X-ARF parser raises for *report* (JSON, or bytes as they are)."""
    raw = report if isinstance(report, bytes) else json.dumps(report).encode()
    with pytest.raises(ParseError) as caught:
        XarfParser().parse(RawDocument(raw))
    return caught.value


def kind_of(report: dict[str, Any]) -> str | None:
    """Return the kind the X-ARF parser gives *report*."""
    return XarfParser().parse(RawDocument(json.dumps(report).encode())).kind


def test_sms_spam_is_an_sms_spam_event_on_the_sms_service() -> None:
    """messaging/spam over sms gives category sms_spam on service sms."""
    event = only_event(xarf())
    assert (event.category, event.service) == (Category.SMS_SPAM, Service.SMS)


def test_sms_sender_number_is_an_origination_number_in_e164() -> None:
    """A sending number is an origination_number, as in the SMS format: E.164, no punctuation."""
    event = only_event(xarf(source_identifier="+1 (555) 010-0123"))
    assert event.indicators == {"origination_number": ("+15550100123",)}


def test_short_code_is_an_origination_number() -> None:
    """A numeric short code is an origination number too, kept as its digits."""
    assert only_event(xarf(source_identifier="72345")).indicators == {
        "origination_number": ("72345",)
    }


def test_alphanumeric_sender_is_a_sender_id() -> None:
    """An alphanumeric sender gives a sender_id indicator."""
    assert only_event(xarf(source_identifier="BANK-INFO")).indicators == {
        "sender_id": ("BANK-INFO",)
    }


def test_sms_source_that_is_neither_number_nor_sender_id_is_kept_as_given() -> None:
    """A source longer than any sender id is neither indicator: it stays a source_identifier."""
    source = "a sender described in words"
    assert only_event(xarf(source_identifier=source)).indicators == {"source_identifier": (source,)}


def test_smtp_spam_is_a_spam_event_with_its_email_indicators() -> None:
    """messaging/spam over smtp gives spam on email with source IP, message id and domains."""
    event = only_event(xarf(**SMTP, message_id="<m-1@sender.example.com>"))
    assert (event.category, event.service, event.indicators) == (
        Category.SPAM,
        Service.EMAIL,
        {
            "source_ip": ("192.0.2.61",),
            "message_id": ("m-1@sender.example.com",),
            "envelope_sender": ("bounce@mail.sender.example.com",),
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
    event = only_event(xarf(**{**SMTP, "smtp_from": "b@mail.prize.example.com"}, evidence=evidence))
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
    # A draft report: the 4.2 schema would refuse most of these evidence shapes first.
    fields = {**SMTP, "xarf_version": "4.0.0", "smtp_from": None}
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
    # A 4.0 draft names no list of protocols, so an unknown one reaches the mapping.
    assert only_event(xarf(protocol=protocol, xarf_version="4.0.0")).service == expected


def test_reporter_is_the_reporter_domain() -> None:
    """The reporter is reporter.domain."""
    assert only_event(xarf()).reporter == "operator.example.net"


def test_reporter_falls_back_to_the_contact_domain() -> None:
    """Without reporter.domain (X-ARF 4.0) the contact address's domain names the reporter."""
    report = xarf(
        xarf_version="4.0.0", reporter={"org": "Operator", "contact": "spam@contact.example.net"}
    )
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


def test_version_3_in_the_v4_field_is_refused_as_unsupported() -> None:
    """An ``xarf_version`` of 3.x is no v4 report: xarf_unsupported_version."""
    assert refusal(xarf(xarf_version="3.0.0")).reason == "xarf_unsupported_version"


@pytest.mark.parametrize("version", ["1", "2", "alpha", "development"])
def test_older_json_lineages_are_refused_as_unsupported(version: str) -> None:
    """JSON of schema versions before v3 (1, 2, alpha ...) raises xarf_unsupported_version."""
    report = {**copy.deepcopy(V3_SPAM), "Version": version}
    assert refusal(report).reason == "xarf_unsupported_version"


@pytest.mark.parametrize(
    ("category", "kind", "expected"),
    [
        ("content", "phishing", Category.PHISHING),
        ("content", "malware", Category.MALWARE),
        ("content", "fraud", Category.FRAUD),
        ("content", "brand_infringement", Category.COPYRIGHT),
        ("content", "spamvertised", Category.SPAM),
        ("content", "csam", Category.OTHER),
        ("reputation", "trap", Category.SPAM),
        ("reputation", "blocklist", Category.OTHER),
        ("connection", "ddos", Category.ATTACK),
        ("connection", "login_attack", Category.ATTACK),
        ("connection", "port_scan", Category.ATTACK),
        ("connection", "infected_host", Category.COMPROMISED),
        ("infrastructure", "botnet", Category.COMPROMISED),
        ("infrastructure", "compromised_server", Category.COMPROMISED),
        ("vulnerability", "open_service", Category.VULNERABLE),
        ("vulnerability", "cve", Category.VULNERABLE),
        ("copyright", "p2p", Category.COPYRIGHT),
        ("messaging", "bulk_messaging", Category.SPAM),
        ("unheard_of", "thing", Category.OTHER),
    ],
)
def test_categories_and_types_map_to_the_nearest_event_category(
    category: str, kind: str, expected: str
) -> None:
    """Each X-ARF category and type has the event category an analyst would file it under."""
    assert event_category(category, kind) == expected


def test_category_mapping_applies_to_parsed_reports() -> None:
    """A non-messaging report's event takes the mapped category and keeps its URL."""
    event = only_event(
        xarf(
            xarf_version="4.0.0",
            category="connection",
            type="login_attack",
            protocol=None,
            url="https://portal.example.com/login",
        )
    )
    assert (event.category, event.indicators["url"]) == (
        Category.ATTACK,
        ("https://portal.example.com/login",),
    )


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
    report = xarf(
        xarf_version="4.0.0",
        category="connection",
        type="ddos",
        protocol=None,
        source_identifier=source,
    )
    assert only_event(report).indicators == expected


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


def test_current_report_is_read_as_v4() -> None:
    """A valid 4.2 report passes the official schemas and is recorded as kind v4."""
    assert kind_of(xarf()) == "v4"


def test_current_report_failing_the_official_schema_is_refused_with_its_reason() -> None:
    """A 4.2 report without ``sender`` fails the core schema, which the error quotes."""
    error = refusal(xarf(sender=None))
    assert (error.reason, "'sender' is a required property" in str(error)) == (
        "xarf_invalid",
        True,
    )


def test_type_specific_schema_applies_to_current_reports() -> None:
    """smtp spam needs smtp_from and source_port in 4.2: the type schema's words name them."""
    error = refusal(xarf(protocol="smtp", source_identifier="192.0.2.61"))
    assert (error.reason, "'smtp_from'" in str(error)) == ("xarf_invalid", True)


def test_unknown_type_is_refused_for_current_reports() -> None:
    """A 4.2 report of a type no schema defines is invalid."""
    assert refusal(xarf(category="content", type="gossip", protocol=None)).reason == (
        "xarf_invalid"
    )


def test_draft_report_is_held_to_the_fields_every_version_requires() -> None:
    """A 4.0 report without sender and reporter domain, with a non-UUID id, is read."""
    report = xarf(
        xarf_version="4.0.0",
        sender=None,
        report_id="k1l2m3n4-not-a-uuid",
        reporter={"org": "Operator", "contact": "spam@operator.example.net", "type": "manual"},
    )
    assert kind_of(report) == "v4-draft"


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"category": "gossip"}, "category"),
        ({"reporter": {"org": "Operator"}}, "'contact'"),
        ({"report_id": 7}, "report_id"),
        ({"source_identifier": None}, "'source_identifier'"),
    ],
)
def test_draft_report_missing_what_every_version_requires_is_refused(
    fields: dict[str, Any], named: str
) -> None:
    """A 4.0 report with a wrong category, reporter or core field raises xarf_invalid naming it."""
    error = refusal(xarf(xarf_version="4.0.0", **fields))
    assert (error.reason, named in str(error)) == ("xarf_invalid", True)


def test_malformed_version_is_judged_by_the_official_schema() -> None:
    """A version that is not 4.N.N gets the schema's pattern error."""
    error = refusal(xarf(xarf_version="4.x"))
    assert (error.reason, "xarf_version" in str(error)) == ("xarf_invalid", True)


def test_v4_report_without_version_is_refused_as_invalid() -> None:
    """A v4-shaped report with no xarf_version is recognised and refused as xarf_invalid."""
    with pytest.raises(ParseError) as caught:
        default_registry().parse(json.dumps(xarf(xarf_version=None)).encode())
    assert (caught.value.reason, "'xarf_version'" in str(caught.value)) == ("xarf_invalid", True)


def test_broken_json_of_an_xarf_report_is_refused_as_invalid() -> None:
    """A report that declares xarf_version but is not JSON raises xarf_invalid, not unknown."""
    with pytest.raises(ParseError) as caught:
        default_registry().parse(b'{"xarf_version": "4.2.0", "report_id": "x",, }')
    assert caught.value.reason == "xarf_invalid"


def test_v3_report_is_converted_and_read() -> None:
    """X-ARF v3 JSON is converted to v4 and read: a spam event from its source IP."""
    parsed = XarfParser().parse(RawDocument(json.dumps(V3_SPAM).encode()))
    (event,) = parsed.events
    assert (parsed.kind, event.category, event.indicators["source_ip"], event.reporter) == (
        "v3",
        Category.SPAM,
        ("198.51.100.20",),
        "traps.example.org",
    )


def test_v3_report_the_converter_cannot_read_is_refused_with_its_reason() -> None:
    """A v3 report of a type the converter does not know raises xarf_invalid naming it."""
    report = copy.deepcopy(V3_SPAM)
    report["Report"]["ReportType"] = "Gossip"
    error = refusal(report)
    assert (error.reason, "Gossip" in str(error)) == ("xarf_invalid", True)


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"Report": ["not", "an", "object"]}, id="report-list"),
        pytest.param({"ReporterInfo": "abuse@traps.example.org"}, id="reporter-text"),
        pytest.param(
            {"Report": {**V3_SPAM["Report"], "Source": "198.51.100.20"}}, id="source-text"
        ),
        pytest.param({"Report": {**V3_SPAM["Report"], "AdditionalInfo": ["smtp"]}}, id="info-list"),
        pytest.param({"ReporterInfo": {"ReporterContactEmail": ["a@b.example"]}}, id="email-list"),
    ],
)
def test_v3_report_of_the_wrong_shape_is_refused_as_invalid(change: dict[str, Any]) -> None:
    """A v3 report whose parts have the wrong JSON types raises xarf_invalid, never a crash."""
    assert refusal({**copy.deepcopy(V3_SPAM), **change}).reason == "xarf_invalid"


def test_deeply_nested_report_is_refused_before_validation() -> None:
    """JSON nested deeper than any real report raises too_complex."""
    nested: Any = "x"
    for _ in range(MAX_DEPTH + 1):
        nested = [nested]
    assert refusal(xarf(_internal={"deep": nested})).reason == "too_complex"


def test_report_with_too_many_evidence_items_is_refused_before_validation() -> None:
    """More evidence items than any real report holds raises too_complex."""
    item = {"content_type": "text/plain", "payload": "aGk=", "description": "log"}
    assert refusal(xarf(evidence=[item] * (MAX_EVIDENCE_ITEMS + 1))).reason == "too_complex"


def plain_xarf_mail(report: str, mark: str | None = "PLAIN") -> bytes:
    """Return an X-ARF 0.2 mail: an explanation, the report part, and a log part."""
    message = EmailMessage()
    message["From"] = "Takedown <takedown@watch.example.org>"
    message["To"] = "abuse@provider.example"
    message["Subject"] = "abuse report"
    if mark is not None:
        message["X-XARF"] = mark
    message.set_content("We found a phishing site on your network.")
    message.add_attachment(report, filename="report.txt")
    message.add_attachment("GET /login HTTP/1.1", filename="logfile.log")
    return message.as_bytes()


PLAIN_REPORT = """---
Reported-From: takedown@watch.example.org
Category: fraud
Report-Type: phishing
Report-ID: 42@watch.example.org
Date: Mon, 03 Mar 2025 10:00:00 +0100
Source-Type: uri
Source: "http://bank.example.net/login.php"
Port: 80
Version: 0.2
Schema-URL: http://www.x-arf.org/schema/fraud_0.1.4.json
"""


def test_plain_xarf_mail_is_read_into_one_event() -> None:
    """An X-ARF 0.2 mail gives one event from its report part, with kind plain-mail."""
    parsed = default_registry().parse(plain_xarf_mail(PLAIN_REPORT))
    (event,) = parsed.events
    assert (parsed.report_format, parsed.kind) == ("xarf", "plain-mail")
    assert (
        event.category,
        event.indicators,
        event.reporter,
        event.occurred_at.isoformat() if event.occurred_at else None,
        event.details["source_port"],
    ) == (
        Category.PHISHING,
        {"url": ("http://bank.example.net/login.php",)},
        "watch.example.org",
        "2025-03-03T09:00:00+00:00",
        80,
    )


@pytest.mark.parametrize(
    ("report_type", "source", "expected"),
    [
        ("malware-attack", "192.0.2.7", (Category.MALWARE, {"source_ip": ("192.0.2.7",)})),
        ("login-attack", "2001:db8::7", (Category.ATTACK, {"source_ip": ("2001:db8::7",)})),
        ("regbot", "192.0.2.8", (Category.ATTACK, {"source_ip": ("192.0.2.8",)})),
        ("mystery", "bad.example.net", (Category.FRAUD, {"domain": ("bad.example.net",)})),
        (
            "phishing",
            "ftp://bad.example.net/x",
            (Category.PHISHING, {"url": ("ftp://bad.example.net/x",)}),
        ),
    ],
)
def test_plain_xarf_report_type_decides_the_category(
    report_type: str, source: str, expected: tuple[str, dict[str, tuple[str, ...]]]
) -> None:
    """The words of a 0.x report type decide the category; else the X-ARF category does.

    The source is an IP or a domain whatever its declared type; a declared URI stays a URL.
    """
    report = PLAIN_REPORT.replace("phishing", report_type).replace(
        '"http://bank.example.net/login.php"', source
    )
    (event,) = default_registry().parse(plain_xarf_mail(report)).events
    assert (event.category, dict(event.indicators)) == expected


def test_plain_xarf_mail_without_the_mark_is_not_xarf() -> None:
    """A mail with a report-like part but no X-XARF/X-ARF header is left to other parsers."""
    assert not XarfParser().sniff(RawDocument(plain_xarf_mail(PLAIN_REPORT, mark=None)))


def test_plain_xarf_report_without_source_is_refused() -> None:
    """A 0.x report part with no Source raises xarf_invalid."""
    report = PLAIN_REPORT.replace('Source: "http://bank.example.net/login.php"\n', "")
    error = refusal(plain_xarf_mail(report))
    assert (error.reason, "'Source'" in str(error)) == ("xarf_invalid", True)


def test_v3_report_read_twice_gives_the_same_report_id() -> None:
    """The converter's random id is replaced by one derived from the report, so reading
    the same report again gives the same event."""
    first, second = (only_event(copy.deepcopy(V3_SPAM)) for _ in range(2))
    assert (first.details["report_id"], first) == (second.details["report_id"], second)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=10,
)
V3_KEYS = [
    "ReportType",
    "ReportClass",
    "Date",
    "Source",
    "SourceIp",
    "Url",
    "Protocol",
    "AdditionalInfo",
    "Attachment",
    "Samples",
    "Port",
    "DestinationIp",
]


@settings(max_examples=100, deadline=None, database=None)
@given(
    report=st.dictionaries(st.sampled_from(V3_KEYS), JSON_VALUES, max_size=6),
    reporter=st.dictionaries(
        st.sampled_from(["ReporterOrg", "ReporterContactEmail", "ReporterOrgEmail"]),
        JSON_VALUES,
        max_size=3,
    ),
    report_type=st.sampled_from(["Spam", "Phishing", "DDoS", "Botnet", "Copyright", "x"]),
)
def test_any_v3_shape_gives_a_report_or_a_parse_error(
    report: dict[str, Any], reporter: dict[str, Any], report_type: str
) -> None:
    """Whatever a v3 report's fields hold, the converter's failures become ParseErrors."""
    data = {
        "Version": "3",
        "ReporterInfo": reporter,
        "Report": {"ReportType": report_type, **report},
    }
    try:
        outcome = len(XarfParser().parse(RawDocument(json.dumps(data).encode())).events)
    except ParseError as error:
        outcome = error.reason
    assert outcome in (1, "xarf_invalid", "too_complex")


def test_v3_report_keeps_the_version_its_reporter_wrote() -> None:
    """A converted v3 report's event names version 3.0.0, not the 4.x it was converted to."""
    assert only_event(copy.deepcopy(V3_SPAM)).details["xarf_version"] == "3.0.0"


def test_plain_xarf_report_decoded_to_a_lone_surrogate_gives_storable_text() -> None:
    """A report part whose charset (unicode_escape) decodes to a lone surrogate gives '?'."""
    raw = plain_xarf_mail(PLAIN_REPORT).replace(
        b"Report-ID: 42@watch.example.org", b"Report-ID: 42\\ud800@watch.example.org"
    )
    raw = raw.replace(b'charset="utf-8"', b'charset="unicode_escape"', 2)
    (event,) = default_registry().parse(raw).events
    assert event.details["report_id"] == "42?@watch.example.org"


@pytest.mark.parametrize("field", ["category", "type"])
def test_a_category_or_type_that_is_a_list_is_refused_by_the_schema(field: str) -> None:
    """A list where the schema wants a word is xarf_invalid, never a crash."""
    error = refusal(xarf(**{field: ["messaging"]}))
    assert error.reason == "xarf_invalid"


def test_smtp_to_is_kept_as_recipient_hash_and_domain() -> None:
    """smtp_to, the address the spam went to, is kept only as its hash and domain."""
    event = only_event(xarf(**SMTP, smtp_to="Trap-1@Traps.Example.net"))
    assert (event.indicators["recipient_hash"], event.indicators["recipient_domain"]) == (
        (hashlib.sha256(b"trap-1@traps.example.net").hexdigest(),),
        ("traps.example.net",),
    )
