"""Amazon SES notifications and published events, raw or inside an SNS envelope.

Every notification type (``notificationType``) and event type (``eventType``) SES
documents is recognised, and ``ParsedReport.kind`` records which one a report is, with its
subtype where SES gives one, joined by ``/``:

* ``Bounce/<bounceType>/<bounceSubType>`` (``Bounce/Permanent/NoEmail``): one ``bounce``
  event per bounced recipient;
* ``Complaint`` or ``Complaint/<complaintSubType>`` (``Complaint/OnAccountSuppressionList``):
  one event per complained recipient, its category from the ARF feedback type when SES
  passes it on, ``spam`` otherwise;
* ``DeliveryDelay/<delayType>`` (``DeliveryDelay/MailboxFull``), ``Delivery``, ``Send``,
  ``Reject``, ``Open``, ``Click``, ``Rendering Failure``, ``Subscription`` and ``Received``
  (inbound mail through SES receiving) carry no abuse signal: they parse to a report with
  no events, recorded under their kind.

A kind is at most ``MAX_KIND_LENGTH`` characters; subtypes keep only letters and digits.
Fields SES adds later are ignored. A type SES does not document is refused with
``ses_unknown_type`` and stays in quarantine, so that a new kind of notice is looked at
rather than dropped. An SNS subscription or unsubscribe confirmation is not a report and
is refused with its own reason.

The SNS signature is not checked here: the intake channel that accepts SNS posts owns
that check, before a report is stored.
"""

import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from abusedesk.parsing import bounce_reasons, mail
from abusedesk.parsing.arf import feedback_category
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.dsn import bounce_class, recipient_indicators, redact_recipient, status_code
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

REPORTER = "amazonses.com"
_SNS_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_BOUNCE_CLASS = {"permanent": "hard", "transient": "soft", "undetermined": "undetermined"}
_TEXT_LIMIT = 1000
# Reports store their kind in 60 characters.
MAX_KIND_LENGTH = 60
# The notification types SES sends to an identity's topics, and the event types it
# publishes through configuration sets, as SES spells them.
ABUSE_TYPES = ("Bounce", "Complaint")
OTHER_TYPES = (
    "Delivery",
    "DeliveryDelay",
    "Send",
    "Reject",
    "Open",
    "Click",
    "Rendering Failure",
    "Subscription",
    "Received",
)
SES_TYPES = ABUSE_TYPES + OTHER_TYPES
_KIND_PART = re.compile(r"[^A-Za-z0-9]")
_SES_KEYS = ('"notificationType"', '"eventType"')
# An emailed notification is one JSON object and a footer; SES caps its headers list.
_EMAILED_JSON_LIMIT = 1024 * 1024


class SesParser:
    """Read SES notifications and events (JSON), unwrapping SNS when present."""

    name = "ses"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise an SES notification or event object, or an SNS envelope, bare or as
        the body of an email (an SNS topic's email subscription delivers it so)."""
        data = _notification(document)
        if data is None:
            return False
        if data.get("Type") == "Notification":
            # Other services post SNS notifications too; only one carrying SES is ours.
            message = data.get("Message")
            return isinstance(message, str) and any(key in message for key in _SES_KEYS)
        if data.get("Type") in _SNS_TYPES and "Message" in data:
            return True
        return _is_ses_object(data)

    def parse(self, document: RawDocument) -> ParsedReport:
        """Unwrap the SNS envelope if any, then read the SES object into events."""
        data = _notification(document)
        if data is None:
            raise MalformedReport("not a JSON object", reason="ses_invalid")
        if data.get("Type") in _SNS_TYPES and "Message" in data:
            data = _sns_message(data)
        kind = _text(data.get("notificationType")) or _text(data.get("eventType"))
        if kind is None:
            raise MalformedReport(
                "no notificationType or eventType in the SES object", reason="ses_invalid"
            )
        if kind not in SES_TYPES:
            raise ParseError(
                f"SES type {kind[:40]!r} is not one SES documents", reason="ses_unknown_type"
            )
        if kind not in ABUSE_TYPES:
            return ParsedReport(report_format=self.name, events=(), kind=_kind(data, kind))
        mail_object = _object(data, "mail")
        base = _mail_indicators(mail_object)
        if kind == "Bounce":
            events = _bounce_events(_object(data, "bounce"), base)
        else:
            events = _complaint_events(_object(data, "complaint"), base)
        return ParsedReport(report_format=self.name, events=events, kind=_kind(data, kind))


def _kind(data: Mapping[str, Any], ses_type: str) -> str:
    """Return the report's kind: its SES type, then the subtypes SES gives for it."""
    if ses_type == "Bounce":
        bounce = _mapping(data.get("bounce"))
        parts = [bounce.get("bounceType"), bounce.get("bounceSubType")]
    elif ses_type == "Complaint":
        parts = [_mapping(data.get("complaint")).get("complaintSubType")]
    elif ses_type == "DeliveryDelay":
        parts = [_mapping(data.get("deliveryDelay")).get("delayType")]
    else:
        parts = []
    kind = ses_type
    for part in parts:
        cleaned = _KIND_PART.sub("", part[:MAX_KIND_LENGTH]) if isinstance(part, str) else ""
        if not cleaned:
            break
        kind = f"{kind}/{cleaned}"
    return kind[:MAX_KIND_LENGTH]


def _mapping(value: Any) -> Mapping[str, Any]:
    """Return *value* when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def _notification(document: RawDocument) -> dict[str, Any] | None:
    """Return the report's JSON object: the document itself, or the JSON object that opens
    the text body of an emailed notification (followed by the SNS footer), if any."""
    data = document.json
    if isinstance(data, dict):
        return data
    message = document.message
    if message is None or message.is_multipart() or message.get_content_type() != "text/plain":
        return None
    payload = message.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    text = mail.decode_text(payload[:_EMAILED_JSON_LIMIT], message.get_content_charset())
    text = text.lstrip()
    # Bare words: inside an SNS envelope the keys are quoted twice.
    if not text.startswith("{") or not any(key.strip('"') in text for key in _SES_KEYS):
        return None
    try:
        found, _ = json.JSONDecoder().raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(found, dict):
        return None
    if _is_ses_object(found) or (found.get("Type") in _SNS_TYPES and "Message" in found):
        return found
    return None


def _is_ses_object(data: Mapping[str, Any]) -> bool:
    return ("notificationType" in data or "eventType" in data) and "mail" in data


def _sns_message(envelope: Mapping[str, Any]) -> dict[str, Any]:
    kind = envelope.get("Type")
    if kind == "SubscriptionConfirmation":
        raise ParseError(
            "an SNS subscription confirmation is not a report",
            reason="sns_subscription_confirmation",
        )
    if kind == "UnsubscribeConfirmation":
        raise ParseError(
            "an SNS unsubscribe confirmation is not a report",
            reason="sns_unsubscribe_confirmation",
        )
    message = envelope.get("Message")
    if not isinstance(message, str):
        raise MalformedReport("the SNS Message is not a string", reason="sns_message_not_ses")
    try:
        inner = json.loads(message)
    except (ValueError, RecursionError) as error:
        raise MalformedReport(
            "the SNS Message is not JSON", reason="sns_message_not_ses"
        ) from error
    if not isinstance(inner, dict) or not _is_ses_object(inner):
        raise MalformedReport(
            "the SNS Message is not an SES notification", reason="sns_message_not_ses"
        )
    return inner


def _object(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    if not isinstance(value, dict):
        raise MalformedReport(f"the SES object has no {name!r} object", reason="ses_invalid")
    return value


def _list(data: Mapping[str, Any], name: str) -> list[Any]:
    value = data.get(name)
    if not isinstance(value, list):
        raise MalformedReport(f"the SES object has no {name!r} list", reason="ses_invalid")
    return value


def _mail_indicators(mail_object: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    tags = mail_object.get("tags")
    tags = tags if isinstance(tags, dict) else {}
    headers = mail_object.get("commonHeaders")
    headers = headers if isinstance(headers, dict) else {}
    source = _text(mail_object.get("source"))
    values = {
        "provider_message_id": _text(mail_object.get("messageId")),
        "sending_account_id": _text(mail_object.get("sendingAccountId")),
        # Event publishing leaves sourceIp out of the mail object; its auto-tag has it.
        "source_ip": _text(mail_object.get("sourceIp")) or _first_tag(tags, "ses:source-ip"),
        "from_domain": mail.address_domain(source),
        "from_address": mail.address_of(_first_text(headers.get("from"))),
        # SES documents ``source`` as the envelope MAIL FROM address of the message.
        "envelope_sender": mail.address_of(source),
        "message_id": _bare_message_id(_text(headers.get("messageId"))),
        "configuration_set": _first_tag(tags, "ses:configuration-set"),
    }
    for kind, value in values.items():
        if value:
            found[kind] = (value,)
    return found


def _bounce_events(
    bounce: Mapping[str, Any], base: dict[str, tuple[str, ...]]
) -> tuple[EventDraft, ...]:
    bounce_type = _text(bounce.get("bounceType"))
    reporting_mta = mail.mta_name(_text(bounce.get("reportingMTA")))
    events = []
    for recipient in _recipients(bounce, "bouncedRecipients", "bounced"):
        address = _text(recipient.get("emailAddress"))
        diagnostic = redact_recipient(
            mail.typed_value(_text(recipient.get("diagnosticCode"))), address
        )
        status = status_code(_text(recipient.get("status")), diagnostic)
        # SES's own type names the reason when it can; a general one leaves it to the
        # remote server's words, read the same way as in a DSN.
        reason = bounce_reasons.reason_from_ses(bounce_type, _text(bounce.get("bounceSubType")))
        if reason == bounce_reasons.UNDETERMINED:
            reason = bounce_reasons.classify(status, diagnostic).reason
        details = {
            "bounce_type": bounce_type,
            "bounce_sub_type": _text(bounce.get("bounceSubType")),
            "bounce_class": _BOUNCE_CLASS.get((bounce_type or "").lower())
            or bounce_class(status, diagnostic),
            "reason": reason,
            "action": _text(recipient.get("action")),
            "status": status,
            "diagnostic_code": diagnostic,
            "feedback_id": _text(bounce.get("feedbackId")),
            "remote_mta_ip": _text(bounce.get("remoteMtaIp")),
            "reporting_mta": reporting_mta,
        }
        events.append(_recipient_event(bounce, base, address, Category.BOUNCE, details))
    return tuple(events)


def _complaint_events(
    complaint: Mapping[str, Any], base: dict[str, tuple[str, ...]]
) -> tuple[EventDraft, ...]:
    feedback_type = (_text(complaint.get("complaintFeedbackType")) or "").lower() or None
    category = feedback_category(feedback_type) if feedback_type else Category.SPAM
    return tuple(
        _recipient_event(
            complaint,
            base,
            _text(recipient.get("emailAddress")),
            category,
            {
                "feedback_type": feedback_type,
                "complaint_sub_type": _text(complaint.get("complaintSubType")),
                "user_agent": _text(complaint.get("userAgent")),
                "feedback_id": _text(complaint.get("feedbackId")),
                "arrival_date": _text(complaint.get("arrivalDate")),
            },
        )
        for recipient in _recipients(complaint, "complainedRecipients", "complained")
    )


def _recipients(notification: Mapping[str, Any], name: str, what: str) -> Iterator[dict[str, Any]]:
    """Yield the recipient objects in the list *name*; refuse one that is not an object."""
    for recipient in _list(notification, name):
        if not isinstance(recipient, dict):
            raise MalformedReport(f"a {what} recipient is not an object", reason="ses_invalid")
        yield recipient


def _recipient_event(
    notification: Mapping[str, Any],
    base: dict[str, tuple[str, ...]],
    address: str | None,
    category: str,
    details: dict[str, Any],
) -> EventDraft:
    """Return the event about one recipient of a notification, which SES reports."""
    return EventDraft(
        category=category,
        service=Service.EMAIL,
        occurred_at=_timestamp(notification.get("timestamp")),
        reporter=REPORTER,
        indicators={**base, **recipient_indicators(address)},
        details=details,
    )


def _text(value: Any) -> str | None:
    """Return a JSON string as clean text (no lone surrogates, no NULs), else None."""
    return mail.clean_text(value, _TEXT_LIMIT) if isinstance(value, str) else None


def _first_tag(tags: Mapping[str, Any], name: str) -> str | None:
    return _first_text(tags.get(name))


def _first_text(values: Any) -> str | None:
    """Return a JSON string, or the first item of a list of them, as clean text."""
    if isinstance(values, list) and values:
        return _text(values[0])
    return _text(values)


def _bare_message_id(value: str | None) -> str | None:
    if value is None:
        return None
    return value.strip().strip("<>").strip() or None


def _timestamp(value: Any) -> datetime | None:
    """Return an ISO 8601 timestamp as UTC, or None when absent or unreadable."""
    return mail.parse_iso_time(_text(value))
