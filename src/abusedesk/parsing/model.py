"""What parsing produces: a ParsedReport holding event drafts, in plain dataclasses."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Category:
    """Event categories; stored as strings so that new ones need no migration."""

    SPAM = "spam"
    PHISHING = "phishing"
    MALWARE = "malware"
    FRAUD = "fraud"
    BOUNCE = "bounce"
    AUTH_FAILURE = "auth_failure"
    DMARC_AGGREGATE = "dmarc_aggregate"
    SMS_SPAM = "sms_spam"
    NOT_SPAM = "not_spam"
    OTHER = "other"


class Service:
    """The provider services a report can be about."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    MAILBOX = "mailbox"


@dataclass(frozen=True)
class EventDraft:
    """One observation read from a report, before enrichment and attribution.

    ``indicators`` maps an indicator kind (``message_id``, ``provider_message_id``,
    ``source_ip``, ``from_domain``, ``dkim_domain``, ``url``, ``phone_number`` ...)
    to the values seen, in order of appearance.
    """

    category: str
    service: str
    occurred_at: datetime | None = None
    reporter: str | None = None
    indicators: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedReport:
    """The result of parsing one report: its format and its events (maybe none)."""

    report_format: str
    events: tuple[EventDraft, ...]
