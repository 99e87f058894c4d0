"""The SMS parser: the JSON and CSV import format, and texts forwarded by email."""

import contextlib
import hashlib
import json
from email.message import EmailMessage
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service
from abusedesk.parsing.registry import Parser, default_registry
from abusedesk.parsing.sms import (
    SmsParser,
    field_name,
    normalise_number,
    parse_time,
    text_phone_numbers,
    text_urls,
)

PARSER = SmsParser()


def with_fields(defaults: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Return the record *defaults* with *fields* over them; a field set to None is left out."""
    return {name: value for name, value in {**defaults, **fields}.items() if value is not None}


def parse_json(parser: Parser, data: Any) -> ParsedReport:
    """Parse *data* (a JSON value) with *parser* alone."""
    return parser.parse(RawDocument(json.dumps(data).encode()))


def json_event(parser: Parser, data: Any) -> EventDraft:
    """Parse *data* with *parser* alone and return its one event."""
    (event,) = parse_json(parser, data).events
    return event


def record(**fields: Any) -> dict[str, Any]:
    """Return a marked SMS record from a US number; *fields* override or add fields."""
    defaults = {
        "abusedesk_report": "sms",
        "origination_number": "+1 555 010 0123",
        "message_text": "Your parcel is held: https://parcel.example/x",
        "received_at": "2025-03-01T12:00:00Z",
        "reporter": "Carrier Example",
    }
    return with_fields(defaults, fields)


def parse(data: Any) -> ParsedReport:
    """Parse *data* (a JSON value) with the SMS parser alone."""
    return parse_json(PARSER, data)


def only_event(data: Any) -> EventDraft:
    """Parse *data* with the SMS parser alone and return its one event."""
    return json_event(PARSER, data)


def parse_csv(text: str) -> ParsedReport:
    """Parse CSV *text* with the SMS parser alone."""
    return PARSER.parse(RawDocument(text.encode()))


def email(subject: str, body: str, sender: str = "Jane <jane@mail.example.org>") -> bytes:
    """Return an email with *subject* and a plain-text *body*."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "abuse@provider.example"
    message["Subject"] = subject
    message["Date"] = "Wed, 05 Mar 2025 08:30:00 +0000"
    message.set_content(body)
    return message.as_bytes()


def sniffs(raw: bytes) -> bool:
    """Tell whether the SMS parser recognises *raw*."""
    return PARSER.sniff(RawDocument(raw))


# --- JSON ---------------------------------------------------------------------------------


def test_marked_record_is_an_sms_spam_event_on_the_sms_service() -> None:
    """A marked record without a category hint gives sms_spam on the sms service."""
    event = only_event(record())
    assert (event.category, event.service) == (Category.SMS_SPAM, Service.SMS)


def test_origination_number_is_normalised_to_e164() -> None:
    """The sending number with a + becomes E.164, punctuation removed."""
    assert only_event(record()).indicators["origination_number"] == ("+15550100123",)


def test_national_number_becomes_e164_with_the_country() -> None:
    """A national number with a trunk prefix becomes E.164 when the country is given."""
    event = only_event(record(origination_number="07700 900123", country="GB"))
    assert event.indicators["origination_number"] == ("+447700900123",)


def test_national_number_without_a_country_stays_digits() -> None:
    """Without a country a national number is kept as its digits, not guessed."""
    event = only_event(record(origination_number="07700 900123"))
    assert event.indicators["origination_number"] == ("07700900123",)


def test_short_code_is_kept_as_digits_and_typed_short_code() -> None:
    """A short code stays as written and the details call it a short code."""
    event = only_event(record(origination_number="61234", country="GB"))
    assert (event.indicators["origination_number"], event.details["sender_type"]) == (
        ("61234",),
        "short_code",
    )


def test_sender_id_is_kept_as_given() -> None:
    """An alphanumeric sender id is an indicator exactly as the reporter wrote it."""
    event = only_event(record(origination_number=None, sender_id="AcmeBank"))
    assert (event.indicators["sender_id"], event.details["sender_type"]) == (
        ("AcmeBank",),
        "sender_id",
    )


@pytest.mark.parametrize(
    ("sender", "kind", "value"),
    [("+44 7700 900123", "origination_number", "+447700900123"), ("VERIFY", "sender_id", "VERIFY")],
    ids=["number", "sender-id"],
)
def test_generic_sender_field_is_read_as_number_or_sender_id(
    sender: str, kind: str, value: str
) -> None:
    """A plain ``sender`` field becomes a number when it is one, else a sender id."""
    event = only_event(record(origination_number=None, sender=sender))
    assert event.indicators[kind] == (value,)


def test_name_in_the_number_field_is_read_as_a_sender_id() -> None:
    """A reported-number field holding a name (as subscribers type it) gives a sender id."""
    event = only_event(record(origination_number=None, reported_number="ACMEBANK"))
    assert event.indicators == {
        "sender_id": ("ACMEBANK",),
        "url": ("https://parcel.example/x",),
    }


def test_sender_id_longer_than_eleven_characters_is_a_warning() -> None:
    """A sender id that cannot be one is not an indicator, and the report says why."""
    report = parse(record(origination_number=None, sender_id="FarTooLongSender"))
    assert ("sender_id" in report.events[0].indicators, report.warnings) == (
        False,
        ("record 1: sender id 'FarTooLongSender' is not an alphanumeric sender id",),
    )


def test_recipient_number_is_only_kept_as_a_hash() -> None:
    """The recipient's number is hashed in E.164 and appears nowhere in clear."""
    event = only_event(record(recipient_number="(555) 010-0199", country="US"))
    expected = hashlib.sha256(b"+15550100199").hexdigest()
    assert (event.indicators["recipient_hash"], "0100199" in json.dumps(event.details)) == (
        (expected,),
        False,
    )


def test_recipient_number_quoted_in_the_text_is_not_a_phone_indicator() -> None:
    """The recipient's own number in the text is not taken as a number to call."""
    event = only_event(
        record(
            message_text="07700900123 you have a secret admirer, call 09058094597",
            recipient_number="07700900123",
            country="GB",
        )
    )
    assert event.indicators["phone_number"] == ("+449058094597",)


def test_recipient_number_quoted_in_the_text_is_redacted_in_the_details() -> None:
    """The recipient's number, however it is written in the text, is kept out of the details."""
    event = only_event(
        record(
            message_text="U 447700900123 have a secret admirer. 07700 900123, call 09058094597",
            recipient_number="07700900123",
            country="GB",
        )
    )
    assert event.details["message_text"] == (
        "U [recipient] have a secret admirer. [recipient], call 09058094597"
    )


def test_urls_in_the_text_are_indicators_also_without_a_scheme() -> None:
    """Links with a scheme, www. hosts and bare hosts all become URL indicators."""
    event = only_event(
        record(message_text="Go to https://a.example/1, www.b.example.com or c-d.example.info/x.")
    )
    assert event.indicators["url"] == (
        "https://a.example/1",
        "http://www.b.example.com",
        "http://c-d.example.info/x",
    )


def test_defanged_url_is_refanged() -> None:
    """A reporter's defanged link (hxxp, [.]) is read as the link it stands for."""
    event = only_event(record(message_text="visit hxxps://bank-login[.]example/verify"))
    assert event.indicators["url"] == ("https://bank-login.example/verify",)


@pytest.mark.parametrize(
    ("hint", "category"),
    [
        ("phishing", Category.PHISHING),
        ("Smishing", Category.PHISHING),
        ("scam", Category.FRAUD),
        ("SMS pumping", Category.FRAUD),
        ("AITF", Category.FRAUD),
        ("malware link", Category.MALWARE),
        ("not spam", Category.NOT_SPAM),
        ("spam", Category.SMS_SPAM),
        ("marketing", Category.SMS_SPAM),
    ],
)
def test_category_hint_sets_the_category(hint: str, category: str) -> None:
    """The reporter's classification maps to the event category; unknown ones stay sms_spam."""
    assert only_event(record(category=hint)).category == category


def test_received_time_is_the_event_time_and_reported_time_is_a_detail() -> None:
    """occurred_at is when the text was received; when it was reported is in the details."""
    event = only_event(record(reported_at="2025-03-01T13:30:00+01:00"))
    assert (
        event.occurred_at.isoformat() if event.occurred_at else None,
        event.details["reported_at"],
    ) == ("2025-03-01T12:00:00+00:00", "2025-03-01T12:30:00+00:00")


def test_reported_time_stands_in_when_no_received_time_is_given() -> None:
    """Without a received time the event is dated by when it was reported."""
    event = only_event(record(received_at=None, reported_at="2025-03-02T08:00:00Z"))
    assert event.occurred_at == parse_time("2025-03-02T08:00:00Z")


def test_unreadable_time_is_a_warning_and_leaves_the_time_empty() -> None:
    """A time that cannot be read is named in the warnings; the event still counts."""
    report = parse(record(received_at="yesterday"))
    assert (report.events[0].occurred_at, report.warnings) == (
        None,
        ("record 1: received_at 'yesterday' is not a time",),
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01T12:00:00Z", "2025-03-01T12:00:00+00:00"),
        ("2025-03-01 12:00:00", "2025-03-01T12:00:00+00:00"),
        ("1740830400", "2025-03-01T12:00:00+00:00"),
        ("1740830400000", "2025-03-01T12:00:00+00:00"),
        ("Sat, 01 Mar 2025 13:00:00 +0100", "2025-03-01T12:00:00+00:00"),
    ],
    ids=["iso", "iso-space", "epoch", "epoch-ms", "rfc5322"],
)
def test_times_are_read_in_the_usual_spellings(value: str, expected: str) -> None:
    """ISO 8601, Unix seconds or milliseconds and RFC 5322 dates all give UTC."""
    found = parse_time(value)
    assert (found.isoformat() if found else None) == expected


def test_reporter_address_becomes_its_domain() -> None:
    """A reporter given as an address is named by its domain only."""
    assert only_event(record(reporter="spam@carrier.example.net")).reporter == (
        "carrier.example.net"
    )


def test_reporter_given_as_a_phone_number_is_dropped() -> None:
    """A subscriber's number is personal data, not a reporter's name."""
    assert only_event(record(reporter="+1 555 010 0100")).reporter is None


def test_list_of_records_gives_one_event_each() -> None:
    """A JSON list holds several records; each is one event, in order."""
    report = parse([record(sender_id="ONE", origination_number=None), record()])
    assert [dict(e.indicators).get("sender_id") for e in report.events] == [("ONE",), None]


def test_wrapper_fields_are_defaults_for_its_records() -> None:
    """Fields beside "reports" apply to every record that does not set them itself."""
    data = {
        "abusedesk_report": "sms",
        "reporter": "aggregator.example.net",
        "country": "GB",
        "reports": [{"sender": "07700 900555", "text": "hi"}, {"sender": "X", "reporter": "Y"}],
    }
    report = parse(data)
    assert [(e.reporter, dict(e.indicators)) for e in report.events] == [
        ("aggregator.example.net", {"origination_number": ("+447700900555",)}),
        ("Y", {"sender_id": ("X",)}),
    ]


def test_records_that_cannot_be_read_are_warnings_beside_the_events() -> None:
    """A report with some unreadable records is partially parsed: events and warnings."""
    report = parse([record(), "text", {"reporter": "nobody"}])
    assert (len(report.events), report.warnings) == (
        1,
        (
            "record 2: not a JSON object",
            "record 3: no sending number, sender id or message text",
        ),
    )


def test_report_of_unreadable_records_only_is_refused() -> None:
    """When no record can be read the report is refused with a reason."""
    with pytest.raises(ParseError) as caught:
        parse({"abusedesk_report": "sms", "reports": [{"carrier": "x"}, 7]})
    assert caught.value.reason == "sms_no_readable_records"


def test_empty_list_of_reports_gives_no_events() -> None:
    """A marked report with no records is read as empty, not refused."""
    report = parse({"abusedesk_report": "sms", "reports": []})
    assert (report.events, report.kind) == ((), "empty")


def test_record_marked_push_inside_an_sms_report_is_a_warning() -> None:
    """A record of the other format is not read as SMS; the report says so."""
    report = parse([record(), {"abusedesk_report": "push", "topic": "t", "text": "x"}])
    assert report.warnings == ("record 2: a 'push' report, not 'sms'",)


def test_provider_message_id_and_campaign_id_are_indicators() -> None:
    """Our own message id and a 10DLC campaign id are kept for attribution."""
    event = only_event(record(message_id="msg-1", campaign_id="CABC123"))
    assert (event.indicators["provider_message_id"], event.indicators["campaign_id"]) == (
        ("msg-1",),
        ("CABC123",),
    )


def test_message_count_is_a_number_in_the_details() -> None:
    """A message count given as text or number is an integer detail."""
    assert only_event(record(count="1840")).details["message_count"] == 1840


# --- Sniffing -----------------------------------------------------------------------------


def test_unmarked_record_with_sms_fields_is_recognised() -> None:
    """Without the marker, a sending number and a message text identify an SMS record."""
    assert sniffs(json.dumps({"originationNumber": "+15550100123", "text": "x"}).encode())


@pytest.mark.parametrize(
    "data",
    [
        {"sender": "+15550100123", "message": "hi"},
        {"hello": "world"},
        {"notificationType": "Complaint", "origination_number": "+1555", "text": "x"},
        {"xarf_version": "4.0.0", "sender_id": "X", "text": "x"},
        {"organization-name": "x", "policies": [], "sender_id": "X", "text": "x"},
        {"Type": "Notification", "Message": "x", "sender_id": "X"},
        {"topic_arn": "arn:aws:sns:x", "sender_id": "X", "text": "x"},
        [],
        {"abusedesk_report": "push", "sender_id": "X", "text": "x"},
    ],
    ids=["generic", "other", "ses", "xarf", "tls-rpt", "sns", "push-fields", "empty", "push"],
)
def test_json_of_other_formats_is_not_recognised(data: Any) -> None:
    """Generic, SES, X-ARF, TLS-RPT, SNS and push JSON are left to their own parsers."""
    assert sniffs(json.dumps(data).encode()) is False


def test_csv_with_sms_columns_is_recognised() -> None:
    """A CSV whose header names a sending number and a text is an SMS report."""
    assert sniffs(b"Sender Number,SMS Text\n+15550100123,hi\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"ip,port,timestamp\n192.0.2.1,25,2025-03-01\n",
        b"sender,message\nme,hello\n",
        b"From: a@example.org\nSubject: sender_number,text\n\nhi\n",
        b"just some text, with a comma\n",
    ],
    ids=["feed", "generic", "email", "prose"],
)
def test_other_text_is_not_taken_for_sms_csv(raw: bytes) -> None:
    """Feeds, generic tables, emails and prose are not SMS CSV reports."""
    assert sniffs(raw) is False


# --- CSV ----------------------------------------------------------------------------------


def test_csv_row_gives_an_event_with_column_synonyms() -> None:
    """Carrier-style column names are read as the format's fields."""
    report = parse_csv(
        "Reported Number;Message Content;Date Received;Operator;Country\n"
        "07700 900461;Call 09063 010123 now;2025-03-02 09:14:00;Mobile Example;GB\n"
    )
    (event,) = report.events
    assert (event.reporter, dict(event.indicators), report.kind) == (
        "Mobile Example",
        {"origination_number": ("+447700900461",), "phone_number": ("+449063010123",)},
        "csv",
    )


def test_csv_blank_rows_are_skipped_and_bad_rows_are_warnings() -> None:
    """Empty rows say nothing; a row without sender or text is named by its row number."""
    report = parse_csv("sender_id,message_text,carrier\nACME,hi,X\n,,\n,,Y\n")
    assert (len(report.events), report.warnings) == (
        1,
        ("row 4: no sending number, sender id or message text",),
    )


def test_csv_without_readable_rows_is_refused() -> None:
    """A CSV in which no row can be read raises sms_no_readable_records."""
    with pytest.raises(ParseError) as caught:
        parse_csv("sender_id,message_text,carrier\n,,X\n")
    assert caught.value.reason == "sms_no_readable_records"


def test_csv_with_a_header_only_gives_no_events() -> None:
    """A header without rows is an empty report."""
    assert parse_csv("sender_id,message_text\n").events == ()


def test_csv_in_windows_1252_is_read() -> None:
    """A carrier export in Windows-1252 (a pound sign) is decoded, not refused."""
    raw = "sender_id,message_text\nPRIZES,Win £1000\n".encode("cp1252")
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert event.details["message_text"] == "Win £1000"


# --- Forwarded texts ----------------------------------------------------------------------


def test_subject_naming_the_texts_sender_is_a_forwarded_text() -> None:
    """ "Text message from <number>" in the subject gives an event about that number."""
    report = PARSER.parse(
        RawDocument(email("Fwd: Text message from +44 7700 900321", "Win big at win.example.com"))
    )
    (event,) = report.events
    assert (report.kind, event.indicators["origination_number"], event.reporter) == (
        "forwarded-text",
        ("+447700900321",),
        "mail.example.org",
    )


def test_forwarded_text_skips_the_complaint_before_the_text() -> None:
    """The words before "Text message from X:" are the complaint, not the text."""
    raw = email("spam", "These keep coming.\n\nSMS from 61234: Claim your prize now\n")
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert event.details["message_text"] == "Claim your prize now"


def test_phishing_word_in_the_subject_makes_a_forwarded_text_phishing() -> None:
    """A forwarded text the reporter calls phishing or smishing is a phishing event."""
    raw = email("Smishing: SMS from AMAZON", "Your account is locked")
    assert PARSER.parse(RawDocument(raw)).events[0].category == Category.PHISHING


def test_gateway_mail_keeps_the_forwarders_number_only_as_a_hash() -> None:
    """From a phone's MMS gateway, the sender's address is the recipient: hashed, nothing else."""
    raw = email("", "From: +1 555 010 0188\nFree gift card!", sender="5550100134@vtext.com")
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert dict(event.indicators) == {
        "origination_number": ("+15550100188",),
        "recipient_hash": (hashlib.sha256(b"+15550100134").hexdigest(),),
    }


def test_gateways_own_mailbox_is_not_a_forwarding_subscriber() -> None:
    """A gateway's administrator (sending a bounce) is not a phone forwarding a text."""
    raw = email(
        "Undeliverable Message",
        "Message could not be delivered to mobile.",
        sender="MMSC NDR <sysadmin@m01.vzwpix.com>",
    )
    assert sniffs(raw) is False


def test_labelled_carrier_notice_is_a_forwarded_text() -> None:
    """A notice mentioning 7726 with an "Originating number:" line is read."""
    raw = email(
        "7726 report",
        "Originating number: +1 555 010 0123\nMessage: Your warranty expires today\n",
        sender="abuse@carrier.example.net",
    )
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert (event.indicators["origination_number"], event.details["message_text"]) == (
        ("+15550100123",),
        "Your warranty expires today",
    )


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("Spam from your customer", "From: news@shop.example\nBuy now!\n"),
        ("SPAM TEXT FROM YOUR CUSTOMER", "They will not stop."),
        ("Text from your customer", "I got a text from your customer. Make it stop."),
        ("Complaint", "Sender: Jane Roe\nI got an SMS I did not want.\n"),
        ("Newsletter", "Reply STOP to 61234 to unsubscribe from our emails."),
    ],
    ids=["email-spam", "shouting", "lowercase-sender", "person-label", "mentions-short-code"],
)
def test_ordinary_complaints_are_left_to_the_free_form_parser(subject: str, body: str) -> None:
    """An email that does not clearly forward a text is not taken as SMS."""
    assert sniffs(email(subject, body)) is False


def test_email_with_an_attached_email_is_not_a_forwarded_text() -> None:
    """A forwarded email (message/rfc822) stays a free-form complaint even with SMS words."""
    outer = EmailMessage()
    outer["From"] = "jane@mail.example.org"
    outer["Subject"] = "SMS from 61234"
    outer.set_content("see attached")
    inner = EmailMessage()
    inner["From"] = "x@example.com"
    inner.set_content("spam")
    outer.add_attachment(inner)
    assert sniffs(outer.as_bytes()) is False


def test_parsing_an_email_that_forwards_no_text_is_refused() -> None:
    """Asked to read an ordinary email, the SMS parser refuses it with a reason."""
    with pytest.raises(ParseError) as caught:
        PARSER.parse(RawDocument(email("Hello", "Just a note.")))
    assert caught.value.reason == "sms_not_a_forwarded_text"


def test_gateway_mail_without_sender_or_text_is_refused() -> None:
    """A gateway mail that names no sender and holds no text cannot be read."""
    with pytest.raises(ParseError) as caught:
        PARSER.parse(RawDocument(email("", "", sender="5550100134@vtext.com")))
    assert caught.value.reason == "sms_no_readable_records"


def test_registry_reads_forwarded_texts_before_free_form() -> None:
    """The default registry gives a forwarded text to the SMS parser, not free-form."""
    raw = email("Fwd: SMS from +15550100123", "Call me")
    assert default_registry().parse(raw).report_format == "sms"


# --- Helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "country", "expected"),
    [
        ("+44 7700 900123", None, "+447700900123"),
        ("0044 7700 900123", None, "+447700900123"),
        ("447700900123", "GB", "+447700900123"),
        ("011 44 7700 900123", "US", "+447700900123"),
        ("(555) 010-0123", "US", "+15550100123"),
        ("1-555-010-0123", "us", "+15550100123"),
        ("612 345 678", "ES", "+34612345678"),
        ("8 916 123-45-67", "RU", "+79161234567"),
        ("07700900123", "+44", "+447700900123"),
        ("7726", None, "7726"),
        ("+12", None, None),
        ("not a number", "GB", None),
    ],
)
def test_numbers_normalise_to_e164_when_it_can_be_known(
    number: str, country: str | None, expected: str | None
) -> None:
    """International prefixes, trunk prefixes and bare country codes give E.164."""
    assert normalise_number(number, country) == expected


def test_normalising_twice_equals_once() -> None:
    """A normalised number normalises to itself."""
    once = normalise_number("07700 900123", "GB")
    assert normalise_number(once or "", "GB") == once


def test_prices_dates_and_amounts_are_not_phone_numbers() -> None:
    """Only numbers to call or text are taken from a message text."""
    text = (
        "Won £2000 on 5/9/03, valid 12hrs, 2025-03-01, PO Box 5249, 10000 people, "
        "1.50 per msg. Call 09064012160 or text WIN to 85069"
    )
    assert text_phone_numbers(text, "GB") == ("+449064012160", "85069")


def test_prose_with_dots_has_no_urls() -> None:
    """Abbreviations and run-together sentences are not host names."""
    assert text_urls("e.g. the U.S. office, Mr.Smith said hello.Are you ok") == ()


def test_field_names_are_spelled_one_way() -> None:
    """Spaces, hyphens and camelCase all become snake_case."""
    assert [field_name(n) for n in ("Sender Number", "sender-number", "senderNumber")] == [
        "sender_number"
    ] * 3


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(list(record())), st.one_of(st.text(), st.integers())))
def test_any_record_gives_a_report_or_a_parse_error(fields: dict[str, Any]) -> None:
    """Marked records with random values give a report or a ParseError, nothing else."""
    with contextlib.suppress(ParseError):
        parse({**fields, "abusedesk_report": "sms"})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_csv_row_gives_a_report_or_a_parse_error(row: str) -> None:
    """Random CSV content under an SMS header gives a report or a ParseError."""
    with contextlib.suppress(ParseError):
        parse_csv("sender_number,message_text,received_at\n" + row)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)
KEYS = st.sampled_from(
    [
        "abusedesk_report",
        "reports",
        "origination_number",
        "sender_id",
        "sender",
        "text",
        "country",
        "received_at",
        "recipient_number",
        "topic_arn",
        "platform_endpoint",
        "application",
        "platform",
        "Type",
        "Message",
        "category",
        "count",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.dictionaries(KEYS, JSON_VALUES), st.lists(st.dictionaries(KEYS, JSON_VALUES))))
def test_json_of_any_shape_gives_a_report_or_a_parse_error(data: Any) -> None:
    """Records with these fields and values of any JSON type never raise anything else."""
    with contextlib.suppress(ParseError):
        default_registry().parse(json.dumps(data).encode())


@pytest.mark.parametrize("charset", ["undefined", "idna"])
def test_forwarded_text_in_a_charset_that_cannot_decode_it_is_read(charset: str) -> None:
    """A body whose declared charset always fails is read as UTF-8, not raised on."""
    raw = email("SMS from 12345", "Text message from 12345: you won \u00a3500").replace(
        b'charset="utf-8"', f"charset={charset}".encode()
    )
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert event.indicators["origination_number"] == ("12345",)
