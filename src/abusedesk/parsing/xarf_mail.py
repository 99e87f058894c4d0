"""X-ARF 0.1 and 0.2: an email marked ``X-XARF: PLAIN`` (or ``X-ARF: yes``) whose parts are a
human-readable text, a YAML report and the evidence.

The report part starts with ``---`` and holds ``Name: value`` lines (``Reported-From``,
``Category``, ``Report-Type``, ``Source``, ``Source-Type``, ``Date``, ``Report-ID`` ...).
Only that flat form is read, not YAML in general: the first value of each name counts.
Netcraft, blocklist.de and clean-mx sent reports this way before X-ARF v4.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from abusedesk.parsing import mail
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category

KIND = "plain-mail"
MARK_HEADERS = ("X-XARF", "X-ARF")
URL_SOURCE_TYPES = frozenset({"uri", "url"})
# Fields whose value is a link to the reported content.
_LINK_FIELDS = ("download-link", "url")
_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,63}):[ \t]*(.*)")
_TOKEN = re.compile(r"[a-z0-9]+")
# A report part is a few hundred bytes; past these bounds the rest is not read.
_REPORT_BYTES = 64 * 1024
_REPORT_LINES = 200
_PARTS = 20
_VALUE_LIMIT = 1000
# A reporter that is no address is kept as a name, cut like X-ARF cuts organisation names.
_NAME_LIMIT = 200
# The 0.x report types are free text (``malware-attack``, ``regbot``, ``harvesting``); the
# words in them decide the event category, in this order.
_CATEGORY_BY_WORD = (
    (Category.PHISHING, frozenset({"phishing", "phish"})),
    (Category.MALWARE, frozenset({"malware", "virus", "trojan", "ransomware"})),
    (Category.SPAM, frozenset({"spam", "spamtrap", "uce", "ube"})),
    (Category.COPYRIGHT, frozenset({"copyright", "dmca", "trademark", "piracy"})),
    (
        Category.COMPROMISED,
        frozenset({"botnet", "infected", "compromised", "drone", "defacement", "webhack"}),
    ),
    (
        Category.ATTACK,
        frozenset(
            {
                "attack",
                "login",
                "bruteforce",
                "brute",
                "ddos",
                "dos",
                "scan",
                "portscan",
                "regbot",
                "harvesting",
                "hacking",
                "intrusion",
            }
        ),
    ),
    (Category.FRAUD, frozenset({"fraud", "scam"})),
)
_CATEGORY_BY_XARF_CATEGORY = {"fraud": Category.FRAUD}


@dataclass(frozen=True)
class PlainReport:
    """The fields of a mail-wrapped X-ARF 0.x report."""

    category: str | None
    report_type: str | None
    source: str
    source_type: str | None
    occurred_at: datetime | None
    reporter: str | None
    report_id: str | None
    version: str | None
    port: int | None
    service: str | None
    user_agent: str | None
    links: tuple[str, ...]


def is_plain_xarf(message: Message) -> bool:
    """Tell whether *message* is marked as X-ARF and carries a 0.x report part."""
    if not any(message.get(name) for name in MARK_HEADERS):
        return False
    return _report_fields(message) is not None


def read_report(message: Message) -> PlainReport:
    """Return the report part of an X-ARF 0.x mail; raise MalformedReport without a source."""
    fields = _report_fields(message)
    if fields is None:
        raise MalformedReport("no X-ARF report part in the mail", reason="xarf_invalid")
    source = fields.get("source")
    if source is None:
        raise MalformedReport("the X-ARF report has no 'Source'", reason="xarf_invalid")
    reported_from = fields.get("reported-from")
    return PlainReport(
        category=_lower(fields.get("category")),
        report_type=_lower(fields.get("report-type")),
        source=source,
        source_type=_lower(fields.get("source-type")),
        occurred_at=_date(fields.get("date")),
        reporter=mail.address_domain(reported_from) or (reported_from or "")[:_NAME_LIMIT] or None,
        report_id=fields.get("report-id"),
        version=fields.get("version"),
        port=_port(fields.get("port")),
        service=fields.get("service"),
        user_agent=fields.get("user-agent"),
        links=tuple(
            link
            for name in _LINK_FIELDS
            if (link := fields.get(name)) and link.lower().startswith(("http://", "https://"))
        ),
    )


def event_category(category: str | None, report_type: str | None) -> str:
    """Return the event category of an X-ARF 0.x category and report type."""
    words = set(_TOKEN.findall(report_type or ""))
    for event_kind, names in _CATEGORY_BY_WORD:
        if words & names:
            return event_kind
    return _CATEGORY_BY_XARF_CATEGORY.get(category or "", Category.OTHER)


def _report_fields(message: Message) -> dict[str, str] | None:
    """Return the fields of the first text part that is an X-ARF 0.x report, if any."""
    for index, part in enumerate(message.walk()):
        if index >= _PARTS:
            return None
        if part.get_content_type() != "text/plain":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or not payload.lstrip().startswith(b"---"):
            continue
        fields = _fields(mail.decode_text(payload[:_REPORT_BYTES], part.get_content_charset()))
        if "report-type" in fields or "category" in fields:
            return fields
    return None


def _fields(text: str) -> dict[str, str]:
    """Return the ``Name: value`` lines of a report (names lowercased, first value wins)."""
    fields: dict[str, str] = {}
    for line in text.lstrip().splitlines()[1:_REPORT_LINES]:
        match = _FIELD.fullmatch(line.strip())
        if match is None:
            continue
        value = _unquoted(" ".join(match[2].replace("\x00", "").split()))[:_VALUE_LIMIT]
        if value:
            fields.setdefault(match[1].lower(), value)
    return fields


def _unquoted(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1].strip()
    return value


def _lower(value: str | None) -> str | None:
    return value.lower() if value else None


def _date(value: str | None) -> datetime | None:
    """Return an ISO 8601 or RFC 5322 date as UTC, or None when neither reads."""
    return mail.parse_iso_time(value) or mail.parse_date(value)


def _port(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 5:
        return None
    port = int(value)
    return port if port <= 65535 else None
