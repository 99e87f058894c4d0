"""Push-notification complaints: the JSON and CSV import format for abusive push messages.

No industry format exists for reporting a push notification, so this is ours
(docs/sms-and-push-reports.md): the application it came from (name, ARN, bundle id), the
platform (APNS, FCM ...), the platform endpoint and topic ARNs, the notification's title
and text, when it was received and reported, and who reported it. JSON (one object, a
list, or ``{"reports": [...]}``, ideally marked ``"abusedesk_report": "push"``) or CSV
with a header row; it shares the record reading of the SMS format (``sms.py``).

Every record gives one ``push_spam`` event on the ``push`` service, or ``phishing``,
``fraud`` or ``malware`` when its category hint says so. Indicators:
``push_application``, ``platform_endpoint``, ``topic``, ``sending_account_id`` (the
account in the ARNs, when they agree), ``url`` and ``phone_number`` found in the text,
``provider_message_id``.
"""

import re

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service
from abusedesk.parsing.sms import (
    COMMON_FIELDS,
    PUSH_TARGET_FIELDS,
    Record,
    RecordFormat,
    RecordProblem,
    add_indicator,
    clean_text,
    parse_records,
    record_event,
    sniff_records,
    synonym_table,
    text_phone_numbers,
    text_urls,
)

_PUSH_FIELDS: dict[str, tuple[str, ...]] = {
    "push_application": ("application", "app", "app_name", "application_name", "app_id"),
    "platform": ("platform", "push_platform", "push_service"),
    "title": ("title", "notification_title", "message_title", "subject"),
    "message_text": ("notification_text", "notification_body", "payload", "alert"),
}
PUSH_FIELDS = synonym_table(PUSH_TARGET_FIELDS, _PUSH_FIELDS, COMMON_FIELDS)
# Names that say "push" on their own; a generic application name needs one of them.
_TARGETS = frozenset({"platform_endpoint", "topic"})
_SPECIFIC_NAMES = frozenset(PUSH_TARGET_FIELDS["push_application"])
# An SNS ARN: partition, region, the owning account, then the resource.
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:(\d{12}):(\S+)")
_PLATFORMS = {
    "apns": "APNS",
    "apple": "APNS",
    "ios": "APNS",
    "apns_sandbox": "APNS_SANDBOX",
    "fcm": "FCM",
    "gcm": "GCM",
    "firebase": "FCM",
    "android": "FCM",
    "adm": "ADM",
    "amazon": "ADM",
    "baidu": "BAIDU",
    "wns": "WNS",
    "mpns": "MPNS",
    "macos": "MACOS",
    "macos_sandbox": "MACOS_SANDBOX",
    "webpush": "WEBPUSH",
    "web_push": "WEBPUSH",
}
_ARN_LIMIT = 1600


def _push_claims(fields: frozenset[str], names: frozenset[str]) -> bool:
    """Tell whether an unmarked record or header with these fields is a push report."""
    target = bool(fields & _TARGETS) or bool(names & _SPECIFIC_NAMES)
    return target and bool(fields & {"message_text", "title", "platform"})


def push_event(record: Record) -> EventDraft:
    """Return the event of one push record; raise RecordProblem when it names nothing."""
    application = _value(record, "push_application")
    endpoint = _value(record, "platform_endpoint")
    topic = _value(record, "topic")
    text = record.get("message_text")
    title = record.get("title")
    if not (application or endpoint or topic or text or title):
        raise RecordProblem("no application, endpoint, topic or message text")
    indicators: dict[str, tuple[str, ...]] = {}
    add_indicator(indicators, "push_application", application)
    add_indicator(indicators, "platform_endpoint", endpoint)
    add_indicator(indicators, "topic", topic)
    arns = [_SNS_ARN.fullmatch(v) for v in (application, endpoint, topic) if v]
    accounts = {match.group(1) for match in arns if match is not None}
    if len(accounts) == 1:
        add_indicator(indicators, "sending_account_id", *accounts)
    elif len(accounts) > 1:
        record.warn("the ARNs name different accounts: " + ", ".join(sorted(accounts)))
    shown = " ".join(part for part in (title, text) if part)
    add_indicator(indicators, "url", *text_urls(shown))
    add_indicator(indicators, "phone_number", *text_phone_numbers(shown, None))
    add_indicator(indicators, "provider_message_id", _value(record, "message_id"))
    details = {
        "platform": _platform(record.get("platform"), application, endpoint),
        "title": title,
    }
    return record_event(record, Category.PUSH_SPAM, Service.PUSH, indicators, details)


def _value(record: Record, name: str) -> str | None:
    """Return an identifier field (name, bundle id or ARN), bounded at a long ARN's length."""
    value = record.get(name)
    return clean_text(value, _ARN_LIMIT) if value else None


def _platform(given: str | None, *arns: str | None) -> str | None:
    """Return the push platform as SNS names it: as given, else read from an ARN.

    Application ARNs end in ``app/<PLATFORM>/<name>``, endpoint ARNs in
    ``endpoint/<PLATFORM>/<app>/<id>``.
    """
    if given:
        key = re.sub(r"[^a-z0-9]+", "_", given.lower()).strip("_")
        return _PLATFORMS.get(key, given.upper()[:40])
    for arn in arns:
        match = _SNS_ARN.fullmatch(arn) if arn else None
        if match is not None:
            kind, _, rest = match.group(2).partition("/")
            platform = rest.partition("/")[0]
            if kind in ("app", "endpoint") and platform:
                return platform[:40]
    return None


PUSH_RECORDS = RecordFormat(
    marker="push", fields=PUSH_FIELDS, claims=_push_claims, build=push_event
)


class PushParser:
    """Read push-notification complaints in the JSON and CSV import format."""

    name = "push"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a push import report by its marker, or by its fields or columns."""
        return sniff_records(document, PUSH_RECORDS)

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read every record into a push event; unreadable records become warnings."""
        return parse_records(document, PUSH_RECORDS, self.name)
