"""The push parser: complaints about push notifications, in JSON and CSV."""

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service
from abusedesk.parsing.push import PushParser
from abusedesk.parsing.registry import default_registry
from abusedesk.parsing.sms import SmsParser
from tests.unit.test_parsing_sms import json_event, parse_json, with_fields

PARSER = PushParser()
APP_ARN = "arn:aws:sns:us-east-1:111122223333:app/APNS/DealsDaily"
ENDPOINT_ARN = "arn:aws:sns:us-east-1:111122223333:endpoint/APNS/DealsDaily/5e3a1b2c"
TOPIC_ARN = "arn:aws:sns:us-east-1:111122223333:daily-deals"


def record(**fields: Any) -> dict[str, Any]:
    """Return a marked push record sent through a topic; *fields* override or add fields."""
    defaults = {
        "abusedesk_report": "push",
        "application": APP_ARN,
        "topic": TOPIC_ARN,
        "message_text": "Deal of the day",
        "received_at": "2025-03-06T19:45:00Z",
    }
    return with_fields(defaults, fields)


def parse(data: Any) -> ParsedReport:
    """Parse *data* (a JSON value) with the push parser alone."""
    return parse_json(PARSER, data)


def only_event(data: Any) -> EventDraft:
    """Parse *data* with the push parser alone and return its one event."""
    return json_event(PARSER, data)


def test_marked_record_is_a_push_spam_event_on_the_push_service() -> None:
    """A push record without a category hint gives push_spam on the push service."""
    event = only_event(record())
    assert (event.category, event.service) == (Category.PUSH_SPAM, Service.PUSH)


def test_application_endpoint_and_topic_are_indicators_with_their_account() -> None:
    """The ARNs are kept as given, and the account they share is sending_account_id."""
    event = only_event(record(platform_endpoint=ENDPOINT_ARN))
    assert dict(event.indicators) == {
        "push_application": (APP_ARN,),
        "platform_endpoint": (ENDPOINT_ARN,),
        "topic": (TOPIC_ARN,),
        "sending_account_id": ("111122223333",),
    }


def test_arns_of_different_accounts_name_no_account_and_warn() -> None:
    """ARNs that disagree about the account give no sending_account_id, and a warning."""
    other = "arn:aws:sns:us-east-1:999988887777:other-topic"
    report = parse(record(topic=other))
    assert ("sending_account_id" in report.events[0].indicators, report.warnings) == (
        False,
        ("record 1: the ARNs name different accounts: 111122223333, 999988887777",),
    )


def test_bundle_id_is_the_application() -> None:
    """An application given by its bundle id is the push_application indicator."""
    event = only_event(record(application=None, topic=None, bundle_id="com.example.deals"))
    assert dict(event.indicators) == {"push_application": ("com.example.deals",)}


@pytest.mark.parametrize(
    ("given", "expected"),
    [("ios", "APNS"), ("Android", "FCM"), ("apns_sandbox", "APNS_SANDBOX"), ("HMS", "HMS")],
)
def test_platform_names_are_spelled_as_sns_spells_them(given: str, expected: str) -> None:
    """Common platform names map to SNS's; unknown ones are kept in capitals."""
    assert only_event(record(platform=given)).details["platform"] == expected


def test_platform_is_read_from_the_application_arn_when_not_given() -> None:
    """``app/APNS/...`` in the application ARN names the platform."""
    assert only_event(record()).details["platform"] == "APNS"


@pytest.mark.parametrize(
    ("hint", "category"),
    [("phishing", Category.PHISHING), ("scam", Category.FRAUD), ("spam", Category.PUSH_SPAM)],
)
def test_category_hint_sets_the_category(hint: str, category: str) -> None:
    """The reporter's classification maps to the event category."""
    assert only_event(record(category=hint)).category == category


def test_urls_and_numbers_in_title_and_text_are_indicators() -> None:
    """Links and phone numbers in the title or text of the notification are indicators."""
    event = only_event(
        record(title="Win at prize.example.com", message_text="or call +61 491 570 006")
    )
    assert (event.indicators["url"], event.indicators["phone_number"]) == (
        ("http://prize.example.com",),
        ("+61491570006",),
    )


def test_record_naming_nothing_is_a_warning() -> None:
    """A record without application, endpoint, topic or text is named in the warnings."""
    report = parse([record(), {"reporter": "x"}])
    assert report.warnings == ("record 2: no application, endpoint, topic or message text",)


def test_report_without_readable_records_is_refused() -> None:
    """When no record can be read the report is refused with push_no_readable_records."""
    with pytest.raises(ParseError) as caught:
        parse({"abusedesk_report": "push", "reports": [{"reporter": "x"}]})
    assert caught.value.reason == "push_no_readable_records"


def test_csv_rows_are_push_events() -> None:
    """A CSV with push columns gives one push event per readable row."""
    raw = b"app,platform,topic_arn,notification_text\ncom.example.a,ios,,Buy now\n"
    (event,) = PARSER.parse(RawDocument(raw)).events
    assert (dict(event.indicators), event.details["platform"]) == (
        {"push_application": ("com.example.a",)},
        "APNS",
    )


@pytest.mark.parametrize(
    "data",
    [
        {"platform_endpoint": ENDPOINT_ARN, "message": "x"},
        {"topicArn": TOPIC_ARN, "title": "x"},
        {"bundle_id": "com.example.a", "platform": "ios"},
    ],
    ids=["endpoint", "topic-camel-case", "bundle-id"],
)
def test_unmarked_push_records_are_recognised_by_push_and_not_by_sms(data: Any) -> None:
    """Push fields identify a push record, and only the push parser claims it."""
    document = RawDocument(json.dumps(data).encode())
    assert (PARSER.sniff(document), SmsParser().sniff(document)) == (True, False)


@pytest.mark.parametrize(
    "data",
    [
        {
            "Type": "Notification",
            "MessageId": "1",
            "TopicArn": TOPIC_ARN,
            "Message": "{}",
            "Timestamp": "2025-03-01T00:00:00Z",
        },
        {"application": "Shop", "message": "hello"},
        {"abusedesk_report": "sms", "topic": TOPIC_ARN, "text": "x"},
    ],
    ids=["sns-envelope", "generic-application", "marked-sms"],
)
def test_json_of_other_formats_is_not_recognised(data: Any) -> None:
    """An SNS envelope, a generic application record and SMS reports are not push reports."""
    assert PARSER.sniff(RawDocument(json.dumps(data).encode())) is False


def test_registry_reads_push_reports() -> None:
    """The default registry gives a marked push report to the push parser."""
    raw = json.dumps(record()).encode()
    assert default_registry().parse(raw).report_format == "push"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(list(record())), st.one_of(st.text(), st.integers())))
def test_any_record_gives_a_report_or_a_parse_error(fields: dict[str, Any]) -> None:
    """Marked records with random values give a report or a ParseError, nothing else."""
    with contextlib.suppress(ParseError):
        parse({**fields, "abusedesk_report": "push"})
