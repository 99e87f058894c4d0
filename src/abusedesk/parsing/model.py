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
    PUSH_SPAM = "push_spam"
    NOT_SPAM = "not_spam"
    # An automatic answer (vacation notice, challenge-response): neither bounce nor complaint.
    AUTO_REPLY = "auto_reply"
    TLS_REPORT = "tls_report"
    COPYRIGHT = "copyright"
    # A host or account under someone else's control (botnet, infected host, webshell).
    COMPROMISED = "compromised"
    # An exposed service or vulnerability found by a scanner (Shadowserver-style feeds).
    VULNERABLE = "vulnerable"
    # Traffic aimed at others: login attacks, port scans, DDoS, scraping.
    ATTACK = "attack"
    OTHER = "other"


class Service:
    """The provider services a report can be about."""

    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"
    MAILBOX = "mailbox"
    OTHER = "other"


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
    # When the reporter made the report (a feedback report's Date, an SES complaint's
    # timestamp); ``occurred_at`` is when the reported thing happened.
    reported_at: datetime | None = None
    indicators: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedReport:
    """The result of parsing one report: its format and its events (maybe none).

    ``kind`` names what the report is within its format when that matters for reading
    it (``Delivery`` for an SES delivery notice, ``auto-reply``, ``tls``): a report that is
    recognised but carries no abuse signal has no events and says so here. ``warnings``
    list the parts that could not be read (``row 7: no IP address``): a report with
    events and warnings is *partially parsed*.
    """

    report_format: str
    events: tuple[EventDraft, ...]
    kind: str | None = None
    warnings: tuple[str, ...] = ()
