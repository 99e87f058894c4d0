"""The SES parser: bounces and complaints become events, other types none; every report
records its type and subtype as its kind."""

import copy
import hashlib
import json
from typing import Any

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport
from abusedesk.parsing.registry import default_registry
from abusedesk.parsing.ses import SesParser

MAIL: dict[str, Any] = {
    "timestamp": "2025-03-01T12:00:00.000Z",
    "source": "Shop <news@shop.example.com>",
    "sourceArn": "arn:aws:ses:us-east-1:111122223333:identity/shop.example.com",
    "sourceIp": "203.0.113.5",
    "sendingAccountId": "111122223333",
    "messageId": "0100019a-provider-id-000000",
    "destination": ["a@example.net"],
    "commonHeaders": {"messageId": "<header-id@shop.example.com>"},
    "tags": {"ses:configuration-set": ["marketing"]},
}


def bounce(
    bounce_type: str = "Permanent", recipients: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Return a raw SES bounce notification."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": bounce_type,
            "bounceSubType": "General",
            "bouncedRecipients": recipients
            if recipients is not None
            else [{"emailAddress": "a@example.net", "status": "5.1.1"}],
            "timestamp": "2025-03-01T12:00:05.000Z",
            "feedbackId": "feedback-1",
        },
        "mail": copy.deepcopy(MAIL),
    }


def complaint(feedback_type: str | None = None, count: int = 1) -> dict[str, Any]:
    """Return a raw SES complaint notification, with an ARF feedback type when given."""
    body: dict[str, Any] = {
        "complainedRecipients": [{"emailAddress": f"r{n}@example.net"} for n in range(count)],
        "timestamp": "2025-03-01T13:00:00.000Z",
        "feedbackId": "feedback-2",
    }
    if feedback_type is not None:
        body["complaintFeedbackType"] = feedback_type
    return {"notificationType": "Complaint", "complaint": body, "mail": copy.deepcopy(MAIL)}


def sns(message: Any, kind: str = "Notification") -> dict[str, Any]:
    """Return an SNS envelope around *message* (a JSON string unless given otherwise)."""
    return {
        "Type": kind,
        "MessageId": "sns-1",
        "TopicArn": "arn:aws:sns:us-east-1:111122223333:ses",
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2025-03-01T12:00:06.000Z",
    }


def parse(data: Any) -> ParsedReport:
    """Parse *data* (a JSON value) with the SES parser alone."""
    return SesParser().parse(RawDocument(json.dumps(data).encode()))


def only_event(data: Any) -> EventDraft:
    """Parse *data* and return its one event."""
    (event,) = parse(data).events
    return event


def reason(data: Any) -> str:
    """Return the reason the SES parser refuses *data*."""
    with pytest.raises(ParseError) as caught:
        parse(data)
    return caught.value.reason


def test_bounce_gives_one_event_per_bounced_recipient() -> None:
    """Each bounced recipient becomes its own bounce event."""
    recipients = [{"emailAddress": "a@example.net"}, {"emailAddress": "b@example.org"}]
    events = parse(bounce(recipients=recipients)).events
    assert [(e.category, e.indicators["recipient_domain"]) for e in events] == [
        (Category.BOUNCE, ("example.net",)),
        (Category.BOUNCE, ("example.org",)),
    ]


@pytest.mark.parametrize(
    ("bounce_type", "expected"),
    [("Permanent", "hard"), ("Transient", "soft"), ("Undetermined", "undetermined")],
)
def test_bounce_type_decides_hard_or_soft(bounce_type: str, expected: str) -> None:
    """Permanent bounces are hard, Transient soft, Undetermined undetermined."""
    assert only_event(bounce(bounce_type)).details["bounce_class"] == expected


def test_bounce_details_keep_the_ses_fields() -> None:
    """A bounce keeps SES's type, subtype, status and diagnostic (without its ``smtp;`` type)."""
    recipient = {
        "emailAddress": "a@example.net",
        "action": "failed",
        "status": "5.1.1",
        "diagnosticCode": "smtp; 550 5.1.1 <a@example.net> user unknown",
    }
    details = only_event(bounce(recipients=[recipient])).details
    assert details == {
        "bounce_type": "Permanent",
        "bounce_sub_type": "General",
        "bounce_class": "hard",
        "action": "failed",
        "status": "5.1.1",
        "diagnostic_code": "550 5.1.1 <[recipient]> user unknown",
        "feedback_id": "feedback-1",
        "reason": "user_unknown",
        "remote_mta_ip": None,
        "reporting_mta": None,
    }


def test_complaint_gives_one_spam_event_per_complained_recipient() -> None:
    """Each complained recipient becomes a spam event when SES passes no feedback type."""
    assert [e.category for e in parse(complaint(count=2)).events] == [Category.SPAM] * 2


@pytest.mark.parametrize(
    ("feedback_type", "expected"),
    [
        ("abuse", Category.SPAM),
        ("not-spam", Category.NOT_SPAM),
        ("fraud", Category.FRAUD),
        ("virus", Category.MALWARE),
        ("auth-failure", Category.AUTH_FAILURE),
        ("other", Category.OTHER),
    ],
)
def test_complaint_feedback_type_decides_the_category(feedback_type: str, expected: str) -> None:
    """The ARF feedback type SES passes on maps to the category ARF reports get."""
    assert only_event(complaint(feedback_type)).category == expected


@pytest.mark.parametrize(
    "event_type",
    [
        "Delivery",
        "Send",
        "Reject",
        "Open",
        "Click",
        "DeliveryDelay",
        "Rendering Failure",
        "Subscription",
        "Received",
    ],
)
def test_types_that_are_not_abuse_signals_are_recorded_with_no_events(event_type: str) -> None:
    """Deliveries, sends, opens, inbound mail and the like parse to no events, kind = type."""
    data = {"eventType": event_type, "mail": MAIL}
    assert parse(data) == ParsedReport(report_format="ses", events=(), kind=event_type)


@pytest.mark.parametrize(
    ("bounce_type", "sub_type"),
    [
        ("Undetermined", "Undetermined"),
        ("Permanent", "General"),
        ("Permanent", "NoEmail"),
        ("Permanent", "Suppressed"),
        ("Permanent", "OnAccountSuppressionList"),
        ("Transient", "General"),
        ("Transient", "MailboxFull"),
        ("Transient", "MessageTooLarge"),
        ("Transient", "ContentRejected"),
        ("Transient", "AttachmentRejected"),
    ],
)
def test_bounce_kind_names_its_type_and_subtype(bounce_type: str, sub_type: str) -> None:
    """Every documented bounce type and subtype is recorded as Bounce/<type>/<subtype>."""
    data = bounce(bounce_type)
    data["bounce"]["bounceSubType"] = sub_type
    assert parse(data).kind == f"Bounce/{bounce_type}/{sub_type}"


def test_bounce_kind_stops_at_the_first_missing_part() -> None:
    """A bounce without a bounceType is recorded as plain Bounce."""
    data = bounce()
    del data["bounce"]["bounceType"]
    assert parse(data).kind == "Bounce"


@pytest.mark.parametrize(
    ("sub_type", "expected"),
    [(None, "Complaint"), ("OnAccountSuppressionList", "Complaint/OnAccountSuppressionList")],
)
def test_complaint_kind_names_its_subtype_when_ses_gives_one(
    sub_type: str | None, expected: str
) -> None:
    """A complaint is Complaint, or Complaint/<complaintSubType> when SES sets one."""
    data = complaint("abuse")
    data["complaint"]["complaintSubType"] = sub_type
    assert parse(data).kind == expected


def test_delivery_delay_kind_names_its_delay_type() -> None:
    """A delivery delay is recorded as DeliveryDelay/<delayType>, with no events."""
    data = {"eventType": "DeliveryDelay", "mail": MAIL, "deliveryDelay": {"delayType": "IPFailure"}}
    assert parse(data) == ParsedReport("ses", events=(), kind="DeliveryDelay/IPFailure")


def test_kind_keeps_letters_and_digits_and_fits_its_column() -> None:
    """Subtypes written by a stranger cannot stretch the kind or smuggle separators into it."""
    data = bounce()
    data["bounce"]["bounceSubType"] = "No/Email <script>" + "x" * 500
    kind = parse(data).kind or ""
    assert (kind.startswith("Bounce/Permanent/NoEmailscript"), len(kind)) == (True, 60)


def test_unknown_fields_are_ignored() -> None:
    """Fields SES adds later change nothing: the report parses as without them."""
    data = bounce()
    data["newTopLevel"] = {"x": 1}
    data["bounce"]["newField"] = [1, 2]
    data["mail"]["newMailField"] = "y"
    assert parse(data) == parse(bounce())


def test_unknown_type_is_refused_with_its_reason() -> None:
    """A notificationType SES does not document raises ses_unknown_type, kept for a look."""
    assert reason({"notificationType": "Teleport", "mail": MAIL}) == "ses_unknown_type"


def test_indicators_identify_the_sending_account_and_message() -> None:
    """The mail object gives provider message id, account, source IP, sender, id, config set."""
    indicators = dict(only_event(bounce()).indicators)
    del indicators["recipient_hash"], indicators["recipient_domain"]
    assert indicators == {
        "provider_message_id": ("0100019a-provider-id-000000",),
        "sending_account_id": ("111122223333",),
        "source_ip": ("203.0.113.5",),
        "from_domain": ("shop.example.com",),
        "envelope_sender": ("news@shop.example.com",),
        "message_id": ("header-id@shop.example.com",),
        "configuration_set": ("marketing",),
    }


def test_source_ip_falls_back_to_the_source_ip_tag() -> None:
    """Event publishing leaves out sourceIp; the ses:source-ip tag stands in."""
    data = bounce()
    del data["mail"]["sourceIp"]
    data["mail"]["tags"]["ses:source-ip"] = ["192.0.2.9"]
    assert only_event(data).indicators["source_ip"] == ("192.0.2.9",)


def test_recipient_is_kept_only_as_hash_and_domain() -> None:
    """The recipient's address is hashed after dropping any display name and lowercasing."""
    data = bounce(recipients=[{"emailAddress": '"Jo" <Jo@Example.NET>'}])
    assert only_event(data).indicators["recipient_hash"] == (
        hashlib.sha256(b"jo@example.net").hexdigest(),
    )


def test_occurred_at_is_the_bounce_timestamp() -> None:
    """A bounce event happens when the bounce was reported, not when the mail was sent."""
    assert only_event(bounce()).occurred_at.isoformat() == "2025-03-01T12:00:05+00:00"


def test_unreadable_timestamp_leaves_occurred_at_empty() -> None:
    """A timestamp that is not ISO 8601 gives no time rather than a failure."""
    data = bounce()
    data["bounce"]["timestamp"] = "yesterday"
    assert only_event(data).occurred_at is None


def test_reporter_is_ses() -> None:
    """SES notifications are reported by SES."""
    assert only_event(complaint()).reporter == "amazonses.com"


def test_sns_envelope_gives_the_same_events_as_the_raw_notification() -> None:
    """A notification inside an SNS envelope parses exactly like the bare one."""
    assert parse(sns(bounce())) == parse(bounce())


def test_subscription_confirmation_is_refused_with_its_reason() -> None:
    """An SNS SubscriptionConfirmation is not a report: sns_subscription_confirmation."""
    assert reason(sns("You have chosen to subscribe", "SubscriptionConfirmation")) == (
        "sns_subscription_confirmation"
    )


def test_unsubscribe_confirmation_is_refused_with_its_reason() -> None:
    """An SNS UnsubscribeConfirmation is not a report: sns_unsubscribe_confirmation."""
    assert reason(sns("unsubscribed", "UnsubscribeConfirmation")) == (
        "sns_unsubscribe_confirmation"
    )


@pytest.mark.parametrize("message", ["not json", {"unrelated": True}, 42])
def test_sns_message_that_is_not_ses_is_refused(message: Any) -> None:
    """An SNS notification whose Message is not an SES object raises sns_message_not_ses."""
    data = sns(message)
    if not isinstance(message, dict | str):
        data["Message"] = message
    assert reason(data) == "sns_message_not_ses"


def test_receiving_notification_is_recorded_as_received() -> None:
    """An inbound-mail notification inside SNS is recognised as Received, with no events."""
    data = {"notificationType": "Received", "mail": MAIL, "receipt": {"action": {}}}
    assert parse(sns(data)) == ParsedReport(report_format="ses", events=(), kind="Received")


@pytest.mark.parametrize(
    "broken",
    [
        {"notificationType": "Bounce", "mail": MAIL},
        {"notificationType": "Bounce", "mail": MAIL, "bounce": {"bouncedRecipients": "x"}},
        {"notificationType": "Bounce", "mail": MAIL, "bounce": {"bouncedRecipients": ["x"]}},
        {"notificationType": "Complaint", "mail": "x", "complaint": {}},
        {"notificationType": 7, "mail": MAIL},
    ],
)
def test_broken_notification_is_refused_as_ses_invalid(broken: dict[str, Any]) -> None:
    """A bounce or complaint missing its objects or lists raises ses_invalid."""
    assert reason(broken) == "ses_invalid"


def test_strings_are_cleaned_of_lone_surrogates_and_nuls() -> None:
    """Text from the JSON holds no lone surrogates or NULs, so it stores as UTF-8."""
    raw = json.dumps(bounce()).replace("0100019a-provider-id", "id\\ud800\\u0000x").encode()
    event = SesParser().parse(RawDocument(raw)).events[0]
    assert event.indicators["provider_message_id"] == ("id?x-000000",)


def test_sniff_takes_ses_objects_and_sns_envelopes_only() -> None:
    """It takes SES objects, SNS envelopes carrying SES or confirming a subscription, only."""
    documents = [
        bounce(),
        sns(bounce()),
        sns("You have chosen to subscribe", "SubscriptionConfirmation"),
        sns({"originationNumber": "+15550100"}),
        {"xarf_version": "4.2.0"},
        {"mail": {}},
        [1],
    ]
    assert [SesParser().sniff(RawDocument(json.dumps(d).encode())) for d in documents] == [
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


def emailed(body: str) -> bytes:
    """Return a notification as an SNS topic's email subscription delivers it."""
    return (
        "From: AWS Notifications <no-reply@sns.amazonaws.com>\n"
        "To: bounces@example.org\nSubject: AWS Notification Message\n"
        "Date: Sat, 01 Mar 2025 12:00:07 +0000\nContent-Type: text/plain; charset=UTF-8\n\n"
        f"{body}\n\n--\nIf you wish to stop receiving notifications from this topic, "
        "please click or visit the link below to unsubscribe:\n"
        "https://sns.us-east-1.amazonaws.com/unsubscribe.html?SubscriptionArn=x\n"
    ).encode()


@pytest.mark.parametrize(
    "body",
    [json.dumps(bounce()), json.dumps(sns(bounce()))],
    ids=["email", "email-json"],
)
def test_emailed_notification_is_read_like_the_bare_one(body: str) -> None:
    """A notification as the body of an email, bare or in its SNS envelope, reads the same."""
    by_mail = default_registry().parse(emailed(body))
    bare = parse(bounce())
    assert (by_mail.report_format, by_mail.kind, [e.indicators for e in by_mail.events]) == (
        "ses",
        bare.kind,
        [e.indicators for e in bare.events],
    )


def test_an_email_quoting_a_broken_notification_is_not_taken_for_one() -> None:
    """A body that only starts like a notification is left to the other parsers."""
    raw = emailed('{"notificationType": "Bounce", "mail": ')
    assert not SesParser().sniff(RawDocument(raw))


def test_from_address_comes_from_the_common_headers() -> None:
    """commonHeaders.from gives the From address, lowercased, without its display name."""
    data = complaint()
    data["mail"]["commonHeaders"]["from"] = ["Shop News <News@Shop.Example.com>"]
    assert only_event(data).indicators["from_address"] == ("news@shop.example.com",)


def test_complained_recipient_is_kept_as_hash_and_domain() -> None:
    """Each complained recipient gives its own recipient hash and domain."""
    event = only_event(complaint())
    assert (event.indicators["recipient_hash"], event.indicators["recipient_domain"]) == (
        (hashlib.sha256(b"r0@example.net").hexdigest(),),
        ("example.net",),
    )
