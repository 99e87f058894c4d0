"""SMS abuse reports: the JSON and CSV import formats, and texts forwarded by email.

The import format (docs/sms-and-push-reports.md) carries what a carrier's 7726 report or
a GSMA-style spam record holds: the sending number or sender id, the message text, when
it was received and reported, who reported it, the recipient's number. It comes as JSON
(one object, a list of objects, or ``{"reports": [...]}``, ideally marked
``"abusedesk_report": "sms"``) or as CSV with a header row of the same field names or
their common synonyms. Every record gives one event; a record that cannot be read is a
warning, and a report in which no record can be read is refused.

A text forwarded by email (from a phone's MMS gateway address, or with a subject such as
``Text message from +1 555 ...``) gives one event about the number or sender id it names.
Ordinary complaints that merely mention a text message are left to the free-form parser.

Events are ``sms_spam`` on the ``sms`` service unless a category hint says phishing,
fraud (scams, SMS pumping) or malware. Indicators: ``origination_number`` (E.164 when the
country is known or the number has a ``+``; short codes as digits), ``sender_id``
(alphanumeric, as given), ``recipient_hash`` (SHA-256 of the recipient's number, which is
never kept), ``url`` and ``phone_number`` found in the text, ``provider_message_id`` and
``campaign_id``. The record machinery here also serves the push format (``push.py``).
"""

import csv
import html
import io
import itertools
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, looks_like_message, require_message
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

MARKER = "abusedesk_report"
WRAPPER = "reports"
# One report holds at most this many records; the rest is named in a warning.
MAX_RECORDS = 50_000
# An SMS of ten concatenated parts is 1,530 characters; a push payload is 4 KiB at most.
TEXT_LIMIT = 4000
VALUE_LIMIT = 1000
NAME_LIMIT = 200
MAX_URLS = 50
MAX_PHONE_NUMBERS = 20
MAX_WARNINGS = 50
# Fields per record looked at; a record with more keys is hostile or not ours.
_MAX_KEYS = 200
_KEY_LIMIT = 100
# Text scanned for URLs and numbers: every indicator of an SMS or a push is in its start.
_SCAN_LIMIT = 8192
_SNIFF_LINES = 30
_EMAIL_TEXT_LIMIT = 64 * 1024

# Keys of the other JSON formats (SES, SNS, X-ARF, TLS-RPT, DMARC): a record holding one
# of them is not an SMS or push report unless it says so with the marker.
_FOREIGN_KEYS = frozenset(
    {
        "notificationType",
        "eventType",
        "mail",
        "xarf_version",
        "Version",
        "ReporterInfo",
        "organization-name",
        "policies",
        "date-range",
        "report-id",
        "Signature",
        "SignatureVersion",
        "SigningCertURL",
        "SubscribeURL",
        "feedback",
    }
)
_SNS_TYPES = frozenset({"Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"})


def _names(text: str) -> tuple[str, ...]:
    """Return the names in *text*: a compact spelling for the synonym tables."""
    return tuple(text.split())


# Fields every record format shares: canonical name -> accepted names (after field_name()).
COMMON_FIELDS: Mapping[str, tuple[str, ...]] = {
    "message_text": _names(
        "message_text text message body content message_body message_content spam_text "
        "sample_text message_sample"
    ),
    "received_at": _names(
        "received_at time_received received received_time date_received message_time message_date "
        "sent_at sent_time time_sent delivered_at"
    ),
    "reported_at": _names(
        "reported_at time_reported reported report_time report_date date_reported reported_time"
    ),
    "time": _names("timestamp date time datetime event_time"),
    "reporter": _names(
        "reporter reported_by reporter_org reporting_organization reporting_organisation "
        "organization organisation"
    ),
    "category": _names("category classification abuse_type report_type spam_type threat_type type"),
    "report_id": _names("report_id id ticket_id case_id reference complaint_id"),
    "message_id": _names("message_id provider_message_id"),
    "message_count": _names("message_count count messages volume report_count"),
}


# The fields that name what a push notification was sent through. They are the push
# format's (push.py); an unmarked record or CSV header with one of them is never SMS.
PUSH_TARGET_FIELDS: Mapping[str, tuple[str, ...]] = {
    "push_application": _names(
        "push_application application_arn platform_application_arn platform_application bundle_id "
        "package_name"
    ),
    "platform_endpoint": _names("platform_endpoint platform_endpoint_arn endpoint_arn target_arn"),
    "topic": _names("topic_arn sns_topic topic"),
}
_PUSH_TARGET_NAMES = frozenset(name for names in PUSH_TARGET_FIELDS.values() for name in names)


def field_name(key: str) -> str:
    """Return a field or column name in the one spelling the synonym tables use.

    ``Sender Number``, ``sender-number`` and ``senderNumber`` all become ``sender_number``.
    """
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key[:_KEY_LIMIT])
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


class RecordProblem(ValueError):
    """Raise when one record cannot become an event; the message becomes a warning."""


@dataclass
class Record:
    """One record of an import report: canonical field -> text, and the warnings it raised."""

    label: str
    values: dict[str, str]
    warnings: list[str]

    def get(self, name: str) -> str | None:
        """Return the text of field *name*, or None when it is absent or empty."""
        return self.values.get(name) or None

    def warn(self, message: str) -> None:
        """Note a part of the record that could not be read."""
        self.warnings.append(f"{self.label}: {message}")


@dataclass(frozen=True)
class RecordFormat:
    """One import format: its marker, its fields and their synonyms, and how it is built.

    ``claims`` tells from the canonical fields of an unmarked record (and the spelled
    names it used) whether the record is of this format; ``build`` turns a record into an
    event or raises RecordProblem.
    """

    marker: str
    fields: Mapping[str, str]
    claims: Callable[[frozenset[str], frozenset[str]], bool]
    build: Callable[[Record], EventDraft]

    def canonical(self, names: frozenset[str]) -> frozenset[str]:
        """Return the canonical fields that the spelled *names* stand for."""
        return frozenset(self.fields[name] for name in names if name in self.fields)

    def recognises(self, names: frozenset[str]) -> bool:
        """Tell whether a record or header with these spelled *names* is of this format."""
        return self.claims(self.canonical(names), names)


def synonym_table(*groups: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Return the map from every accepted name to its canonical field."""
    table: dict[str, str] = {}
    for group in groups:
        for canonical, names in group.items():
            for name in names:
                table.setdefault(name, canonical)
    return table


# --- Reading records from JSON and CSV --------------------------------------------------


def sniff_records(document: RawDocument, record_format: RecordFormat) -> bool:
    """Tell whether *document* is a JSON or CSV report of *record_format*."""
    data = document.json
    if data is not None:
        marker, names = _first_record(data)
        if marker is not None:
            return marker == record_format.marker
        return names is not None and record_format.recognises(names)
    header = _csv_header(document.head)
    return header is not None and record_format.recognises(frozenset(header))


def parse_records(
    document: RawDocument, record_format: RecordFormat, report_format: str
) -> ParsedReport:
    """Read every record of a JSON or CSV report into events, unreadable ones into warnings."""
    if document.json is not None:
        kind = "json"
        records = _json_records(document.json, record_format)
    else:
        kind = "csv"
        records = _csv_records(document.raw, record_format)
    events: list[EventDraft] = []
    warnings: list[str] = []
    count = 0
    for item in records:
        count += 1
        if isinstance(item, str):
            warnings.append(item)
            continue
        try:
            events.append(record_format.build(item))
        except RecordProblem as problem:
            warnings.append(f"{item.label}: {problem}")
        warnings.extend(item.warnings)
    if count == 0:
        return ParsedReport(report_format=report_format, events=(), kind="empty")
    if not events:
        raise MalformedReport(
            f"no {record_format.marker} record could be read; first problem: {warnings[0]}",
            reason=f"{record_format.marker}_no_readable_records",
        )
    if len(warnings) > MAX_WARNINGS:
        more = len(warnings) - MAX_WARNINGS
        warnings = [*warnings[:MAX_WARNINGS], f"{more:,} more warnings not listed"]
    return ParsedReport(
        report_format=report_format, events=tuple(events), kind=kind, warnings=tuple(warnings)
    )


def _first_record(data: Any) -> tuple[str | None, frozenset[str] | None]:
    """Return the marker a JSON report carries, else the spelled field names of its first record.

    Both are None when the JSON is not shaped like an import report, or its first record
    carries a key of another JSON format.
    """
    first: Any = data
    if isinstance(data, dict) and isinstance(data.get(WRAPPER), list):
        if (marker := _marker(data)) is not None:
            return marker, None
        first = data[WRAPPER][0] if data[WRAPPER] else None
    elif isinstance(data, list):
        first = data[0] if data else None
    if not isinstance(first, dict):
        return None, None
    if (marker := _marker(first)) is not None:
        return marker, None
    if _is_foreign(first):
        return None, None
    keys = [key for key in itertools.islice(first, _MAX_KEYS) if isinstance(key, str)]
    return None, frozenset(field_name(key) for key in keys)


def _marker(data: Mapping[str, Any]) -> str | None:
    """Return the format a JSON object names with ``abusedesk_report``, lowercased."""
    value = data.get(MARKER)
    return value.strip().lower()[:20] if isinstance(value, str) else None


def _is_foreign(record: Mapping[str, Any]) -> bool:
    """Tell whether *record* carries a key of another JSON format (SES, SNS, X-ARF, TLS-RPT)."""
    kind = record.get("Type")
    return any(key in record for key in _FOREIGN_KEYS) or (
        isinstance(kind, str) and kind in _SNS_TYPES
    )


def _json_records(data: Any, record_format: RecordFormat) -> Iterator[Record | str]:
    """Yield the records of a JSON report, with the wrapper's fields as their defaults."""
    defaults: dict[str, str] = {}
    items: list[Any]
    if isinstance(data, dict) and isinstance(data.get(WRAPPER), list):
        defaults = _record_values(data, record_format)
        items = data[WRAPPER]
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    for index, item in enumerate(items[:MAX_RECORDS], start=1):
        label = f"record {index}"
        if not isinstance(item, dict):
            yield f"{label}: not a JSON object"
            continue
        marker = _marker(item)
        if marker is not None and marker != record_format.marker:
            yield f"{label}: a {marker[:20]!r} report, not {record_format.marker!r}"
            continue
        yield Record(label, {**defaults, **_record_values(item, record_format)}, [])
    if len(items) > MAX_RECORDS:
        yield f"{len(items) - MAX_RECORDS:,} records after the first {MAX_RECORDS:,} not read"


def _record_values(data: Mapping[str, Any], record_format: RecordFormat) -> dict[str, str]:
    """Return the known fields of a JSON object as clean text; the first spelling wins."""
    values: dict[str, str] = {}
    for key, value in itertools.islice(data.items(), _MAX_KEYS):
        if not isinstance(key, str) or key == MARKER:
            continue
        canonical = record_format.fields.get(field_name(key))
        if canonical is None or canonical in values:
            continue
        text = _json_scalar(value)
        if text:
            values[canonical] = text
    return values


def _json_scalar(value: Any) -> str | None:
    """Return a JSON string or number as text; objects, lists, booleans and null are None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**20 else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) and abs(value) < 1e20 else None
    if isinstance(value, str):
        return clean_text(value, TEXT_LIMIT)
    return None


def _decode(raw: bytes) -> str:
    """Return CSV bytes as text: UTF-8 (with or without a byte order mark), else Windows-1252."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _delimiter(line: str) -> str:
    """Return the CSV delimiter the header *line* uses most."""
    return max((",", ";", "\t", "|"), key=line.count)


def _csv_header(head: bytes) -> list[str] | None:
    """Return the spelled column names of a CSV header line, or None when *head* is not CSV."""
    if head.startswith((b"{", b"[", b"<")) or looks_like_message(head):
        return None
    first_line = _decode(head).partition("\n")[0].strip("\r")
    delimiter = _delimiter(first_line)
    if first_line.count(delimiter) == 0:
        return None
    try:
        cells = next(csv.reader([first_line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return None
    return [field_name(cell) for cell in cells[:_MAX_KEYS]]


def _csv_records(raw: bytes, record_format: RecordFormat) -> Iterator[Record | str]:
    """Yield one record per CSV data row; blank rows are skipped, broken ones are warnings."""
    text = _decode(raw).lstrip()
    first_line = text[: text.find("\n")].strip("\r") if "\n" in text else text
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next(reader)
    except (csv.Error, StopIteration) as error:
        raise MalformedReport("the CSV header cannot be read", reason="csv_invalid") from error
    columns = [record_format.fields.get(field_name(cell)) for cell in header[:_MAX_KEYS]]
    count = 0
    row_number = 1
    while True:
        row_number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield f"row {row_number}: {str(error)[:100]}"
            continue
        if not any(cell.strip() for cell in row):
            continue
        count += 1
        if count > MAX_RECORDS:
            yield f"rows after the first {MAX_RECORDS:,} records not read"
            return
        values: dict[str, str] = {}
        for canonical, cell in zip(columns, row, strict=False):
            cleaned = clean_text(cell, TEXT_LIMIT)
            if canonical is not None and cleaned and canonical not in values:
                values[canonical] = cleaned
        yield Record(f"row {row_number}", values, [])


# --- Values: text, times, numbers, categories -------------------------------------------


def clean_text(value: str, limit: int = VALUE_LIMIT) -> str | None:
    """Return *value* with whitespace collapsed, no NULs or lone surrogates, at most *limit*."""
    return mail.clean_text(value, limit)


def parse_time(value: str | None) -> datetime | None:
    """Return an ISO 8601, RFC 5322 or Unix-epoch time as UTC, or None when unreadable."""
    if not value:
        return None
    text = value.strip()
    if re.fullmatch(r"\d{9,13}(?:\.\d{1,9})?", text):
        seconds = float(text)
        if seconds > 1e11:
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    return mail.parse_iso_time(text) or mail.parse_date(text)


def record_time(record: Record, name: str) -> datetime | None:
    """Return the time in field *name* of *record*, warning when it is there but unreadable."""
    value = record.get(name)
    found = parse_time(value)
    if value and found is None:
        record.warn(f"{name} {value[:40]!r} is not a time")
    return found


def category_from_hint(hint: str | None, default: str) -> str:
    """Return the event category a reporter's classification names, else *default*."""
    if not hint:
        return default
    lowered = hint.lower()
    if lowered.replace(" ", "_").replace("-", "_") in ("not_spam", "ham", "false_positive"):
        return Category.NOT_SPAM
    if "phish" in lowered or "smish" in lowered:
        return Category.PHISHING
    if "malware" in lowered:
        return Category.MALWARE
    if any(word in lowered for word in ("fraud", "scam", "pump", "aitf", "artificial")):
        return Category.FRAUD
    return default


def reporter_name(value: str | None) -> str | None:
    """Return who reported: a domain for an address, the name as given, never a phone number."""
    if not value:
        return None
    if "@" in value:
        return mail.address_domain(value)
    if _digits_only(value) is not None:
        # A subscriber's own number is personal data, not the name of a reporter.
        return None
    return value[:NAME_LIMIT]


def recipient_hash(number: str) -> str:
    """Return the SHA-256 of a normalised recipient number, which stands in for it."""
    return sha256_hex(number.encode("ascii", "replace"))


def _words(text: str) -> frozenset[str]:
    """Return the words of *text*: a compact spelling for long constant sets."""
    return frozenset(text.split())


def _country_codes(trunk: str, text: str) -> dict[str, tuple[str, str]]:
    """Return ``country -> (calling code, trunk)`` from ``GB:44 IE:353 ...``."""
    pairs = (item.split(":") for item in text.split())
    return {country: (code, trunk) for country, code in pairs}


# Country calling codes, and the trunk prefix dialled before a national number ("" when
# the country has none and national numbers are written without one).
_COUNTRIES: Mapping[str, tuple[str, str]] = {
    **_country_codes("1", "US:1 CA:1 PR:1 GU:1 VI:1 AS:1 MP:1 JM:1 TT:1 BS:1"),
    **_country_codes(
        "0",
        "GB:44 UK:44 IE:353 DE:49 FR:33 NL:31 BE:32 AT:43 CH:41 SE:46 FI:358 LT:370 RO:40"
        " BG:359 HR:385 SI:386 RS:381 HU:36 UA:380 TR:90 IL:972 SA:966 AE:971 EG:20 ZA:27"
        " NG:234 KE:254 GH:233 MA:212 IN:91 PK:92 BD:880 LK:94 ID:62 MY:60 TH:66 VN:84"
        " PH:63 JP:81 KR:82 CN:86 TW:886 AU:61 NZ:64 AR:54 PE:51",
    ),
    **_country_codes(
        "",
        "ES:34 PT:351 IT:39 NO:47 DK:45 GR:30 PL:48 CZ:420 SK:421 LU:352 MT:356 CY:357"
        " IS:354 EE:372 LV:371 SG:65 HK:852 MO:853 QA:974 KW:965 BH:973 OM:968 MX:52 CL:56"
        " CO:57",
    ),
    **_country_codes("8", "RU:7 KZ:7 BY:375"),
}
_CALLING_CODES = dict(_COUNTRIES.values())
_NUMBER_PUNCTUATION = re.compile(r"[\s().\-/]")


def _digits_only(value: str) -> str | None:
    """Return *value* without number punctuation when it is a (+)number, else None."""
    compact = _NUMBER_PUNCTUATION.sub("", value)
    if re.fullmatch(r"\+?\d{3,17}", compact):
        return compact
    return None


def country_calling_code(country: str | None) -> str | None:
    """Return the calling code of an ISO 3166 country (``GB``) or a calling code (``+44``)."""
    if not country:
        return None
    text = country.strip().upper()
    if text in _COUNTRIES:
        return _COUNTRIES[text][0]
    code = text.lstrip("+").removeprefix("00")
    return code if code in _CALLING_CODES else None


def normalise_number(value: str, country: str | None = None) -> str | None:
    """Return a phone number in E.164 when that can be known, else its digits; None if none.

    A ``+`` or ``00`` prefix is international. With a country, a national number (trunk
    prefix, or the country code written without ``+``) becomes E.164; short codes and
    numbers of unknown country stay digits as written.
    """
    compact = _digits_only(value)
    if compact is None:
        return None
    calling = country_calling_code(country)
    if compact.startswith("+"):
        digits = compact[1:]
        return f"+{digits}" if 7 <= len(digits) <= 15 and digits[0] != "0" else None
    if compact.startswith("00") or (calling == "1" and compact.startswith("011")):
        digits = compact[3:] if compact.startswith("011") else compact[2:]
    elif calling is not None:
        digits = _national_to_international(compact, calling) or ""
    else:
        digits = ""
    if 7 <= len(digits) <= 15 and digits[0] != "0":
        return f"+{digits}"
    return compact if 3 <= len(compact) <= 15 else None


def _national_to_international(digits: str, calling: str) -> str | None:
    """Return a national number as international digits (no ``+``), or None."""
    trunk = _CALLING_CODES[calling]
    if calling == "1":
        if len(digits) == 10 and digits[0] not in "01":
            return "1" + digits
        return digits if len(digits) == 11 and digits.startswith("1") else None
    if trunk and digits.startswith(trunk):
        return calling + digits[len(trunk) :] if len(digits) >= 8 else None
    # Written with the country code but without "+": longer than any national number.
    if digits.startswith(calling) and len(digits) - len(calling) >= (7 if trunk else 8):
        return digits
    return calling + digits if not trunk and len(digits) >= 8 else None


_SENDER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .&'_+-]{0,10}")


def sender_id(value: str) -> str | None:
    """Return *value* when it is an alphanumeric sender id (at most 11 characters), else None."""
    text = value.strip()
    if _SENDER_ID.fullmatch(text) and any(c.isalpha() for c in text):
        return text
    return None


# --- Indicators found in message text ---------------------------------------------------

_TLDS = _words(
    "com net org info biz co io me ly uk us ca de fr eu nl be es it pl ru cn in au nz"
    " jp br mx za ng ke ph sg my id vn th tr xyz top site online club shop store app"
    " link click live icu vip buzz cc tv ws mobi page support help services run to gd"
    " tk ml ga cf gq sh ink bio fun life world today win loan bid trade review"
)
_URL_START = re.compile(r"https?://|www\.", re.IGNORECASE)
_BARE_HOST = re.compile(
    r"((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,6}([a-z]{2,12}))(?:[/?#]\S*)?",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}>'\"*"
_PHONE_IN_TEXT = re.compile(r"(?<![\d_+£$€¥#@/=&.])(\+?\d[\d ().-]{3,22}\d)(?![\d_%£$€/])")
# A token holding one of these is a link or an address, whose digits are no phone number.
_LINK_MARKS = ("://", "www.", "=", "@")
_SHORT_CODE_WORDS = _words("to txt text send sms call dial ring reply on number no code shortcode")
_DATE_LIKE = re.compile(r"\d{4}[-.]\d{1,2}[-.]\d{1,2}|\d{1,2}[-.]\d{1,2}[-.]\d{2,4}")


_HXXP = re.compile(r"\bhxxp(s?)\b", re.IGNORECASE)


def refang(text: str) -> str:
    """Undo the usual defanging of URLs (``hxxp``, ``[.]``, ``(.)``, ``[:]``)."""
    if "xx" in text.lower():
        text = _HXXP.sub(r"http\1", text)
    for defanged, plain in (("[.]", "."), ("(.)", "."), ("[dot]", "."), ("[:]", ":")):
        text = text.replace(defanged, plain)
    return text


def text_urls(text: str | None) -> tuple[str, ...]:
    """Return the distinct URLs in a message text, ``http://`` added where none was written.

    Reads links with a scheme, ``www.`` hosts, and bare host names under common top-level
    domains (``track-parcel.info/x``), as texts write them.
    """
    if not text:
        return ()
    found: dict[str, None] = {}
    for token in refang(text[:_SCAN_LIMIT]).split():
        url = _token_url(token)
        if url is not None:
            found.setdefault(url, None)
            if len(found) >= MAX_URLS:
                break
    return tuple(found)


def _token_url(token: str) -> str | None:
    """Return the URL a whitespace-free *token* holds, or None."""
    if "." not in token:
        # Every link has a dot in its host; most words have none.
        return None
    start = _URL_START.search(token)
    if start is not None:
        url = token[start.start() :].rstrip(_TRAILING)
        if url.lower().startswith("www."):
            url = "http://" + url
        return url if "." in url else None
    candidate = token.strip("(<[{'\"").rstrip(_TRAILING)
    if "@" in candidate:
        return None
    match = _BARE_HOST.fullmatch(candidate)
    if match is None or match.group(2).lower() not in _TLDS:
        return None
    if not any(c.isalpha() for c in match.group(1).rsplit(".", 1)[0]):
        return None
    return "http://" + candidate


def text_phone_numbers(
    text: str | None, country: str | None, exclude: frozenset[str] = frozenset()
) -> tuple[str, ...]:
    """Return the distinct phone numbers and short codes quoted in a message text.

    A short code (five or six digits) counts only after a word such as ``text``,
    ``call`` or ``to``; dates, prices and amounts are not numbers to call.
    """
    found: dict[str, None] = {}
    for _, _, number in _quoted_numbers(text or "", country):
        if number not in exclude:
            found.setdefault(number, None)
            if len(found) >= MAX_PHONE_NUMBERS:
                break
    return tuple(found)


def redact_number(text: str | None, number: str | None, country: str | None) -> str | None:
    """Return *text* with every spelling of *number* replaced by ``[recipient]``."""
    if not text or not number:
        return text
    spans = [
        (start, end) for start, end, found in _quoted_numbers(text, country) if found == number
    ]
    for start, end in reversed(spans):
        text = text[:start] + "[recipient]" + text[end:]
    return text


def _quoted_numbers(text: str, country: str | None) -> Iterator[tuple[int, int, str]]:
    """Yield ``(start, end, normalised number)`` for each number quoted in the start of *text*."""
    scanned = text[:_SCAN_LIMIT]
    for match in _PHONE_IN_TEXT.finditer(scanned):
        written = match.group(1)
        token_start = max(scanned.rfind(" ", 0, match.start()), 0)
        token_end = scanned.find(" ", match.end())
        token = scanned[token_start : token_end if token_end != -1 else len(scanned)].lower()
        if any(mark in token for mark in _LINK_MARKS):
            continue
        # Texts glue numbers to words ("call09050000327", "08704439680Ts&Cs apply").
        glued = _glued(scanned, match.start() - 1) or _glued(scanned, match.end())
        # Spaces join a number's groups, and also two numbers, or a number and a date.
        joined = _DATE_LIKE.search(written) or sum(c.isdigit() for c in written) > 15
        position = match.start()
        for candidate in written.split() if joined else [written]:
            start = scanned.index(candidate, position)
            position = start + len(candidate)
            before = scanned[max(0, start - 20) : start]
            if not _quoted_number(candidate, before, glued=glued):
                continue
            number = normalise_number(candidate, country)
            if number is not None:
                yield start, position, number


def _glued(text: str, index: int) -> bool:
    """Tell whether the character at *index* of *text* is a letter."""
    return 0 <= index < len(text) and text[index].isalpha()


def _quoted_number(candidate: str, before: str, *, glued: bool) -> bool:
    """Tell whether *candidate* (with the text *before* it) reads as a number to call or text.

    A number glued to a word must be as long as a full phone number: shorter ones are
    codes and references (``BOX42WR29C``, ``age23``).
    """
    digits = sum(c.isdigit() for c in candidate)
    if not 5 <= digits <= 15 or _DATE_LIKE.fullmatch(candidate):
        return False
    if glued and digits < 10:
        return False
    if "." in candidate and any(len(g) < 3 for g in re.split(r"\D+", candidate) if g):
        return False
    if digits <= 6 and not candidate.startswith("+"):
        words = before.split()
        return bool(words) and words[-1].lower().strip(":") in _SHORT_CODE_WORDS
    return True


def add_indicator(found: dict[str, tuple[str, ...]], kind: str, *values: str | None) -> None:
    """Add the non-empty *values* to indicator *kind*, keeping order and dropping repeats."""
    present = [v for v in values if v]
    if present:
        found[kind] = tuple(dict.fromkeys((*found.get(kind, ()), *present)))


def count_value(record: Record) -> int | None:
    """Return the record's message count as a number, warning when it is not one."""
    value = record.get("message_count")
    if value is None:
        return None
    if value.isdigit() and len(value) <= 12:
        return int(value)
    record.warn(f"message_count {value[:20]!r} is not a number")
    return None


def common_details(record: Record) -> dict[str, Any]:
    """Return the details every import record carries: ids, times reported, classification."""
    reported_at = record_time(record, "reported_at")
    return {
        "report_id": _short(record.get("report_id")),
        "reported_at": reported_at.isoformat() if reported_at else None,
        "classification": _short(record.get("category")),
        "message_count": count_value(record),
        "message_text": record.get("message_text"),
    }


def record_event(
    record: Record,
    default_category: str,
    service: str,
    indicators: dict[str, tuple[str, ...]],
    details: Mapping[str, Any],
) -> EventDraft:
    """Return the event of an import record of any format.

    Its category is the record's hint, else *default_category*; its time, reporter and
    the details every record carries come from the common fields, *details* added.
    """
    all_details = {**common_details(record), **details}
    return EventDraft(
        category=category_from_hint(record.get("category"), default_category),
        service=service,
        occurred_at=observed_time(record),
        reporter=reporter_name(record.get("reporter")),
        indicators=indicators,
        details=all_details,
    )


def observed_time(record: Record) -> datetime | None:
    """Return when the message was received: ``received_at``, else ``time``, else reported."""
    return (
        record_time(record, "received_at")
        or record_time(record, "time")
        or parse_time(record.get("reported_at"))
    )


def _short(value: str | None) -> str | None:
    """Return *value* cut to the length of a name, or None."""
    return value[:NAME_LIMIT] if value else None


# --- The SMS record format ---------------------------------------------------------------

_SMS_FIELDS: Mapping[str, tuple[str, ...]] = {
    "origination_number": _names(
        "origination_number originating_number originator originator_number originating_address "
        "reported_number sender_number sender_phone sender_msisdn sender_address from_number "
        "source_number source_address spam_number spammer_number calling_number short_code "
        "shortcode long_code toll_free_number"
    ),
    "sender_id": _names("sender_id alphanumeric_sender_id sender_name originator_id"),
    "sender": _names("sender from source reported_sender"),
    "recipient_number": _names(
        "recipient_number recipient destination_number destination to_number to msisdn "
        "subscriber_number reporter_number reporter_msisdn called_number"
    ),
    "country": _names("country country_code destination_country recipient_country iso_country"),
    "reporter": _names("carrier operator reporting_carrier reporting_operator mno"),
    "message_text": _names("sms_text sms_body sms_message sms_content sms"),
    "campaign_id": _names("campaign_id tcr_campaign_id 10dlc_campaign_id"),
}
SMS_FIELDS = synonym_table(_SMS_FIELDS, COMMON_FIELDS)
# Spelled names that say "SMS" on their own; generic ones (sender, from) need one of these.
_SMS_TEXT_NAMES = frozenset(_SMS_FIELDS["message_text"])


def _sms_claims(fields: frozenset[str], names: frozenset[str]) -> bool:
    """Tell whether an unmarked record or header with these fields is an SMS report."""
    if names & _PUSH_TARGET_NAMES:
        return False
    has_sender = bool(fields & {"origination_number", "sender_id", "sender"})
    specific = bool(fields & {"origination_number", "sender_id"}) or bool(names & _SMS_TEXT_NAMES)
    return has_sender and specific and "message_text" in fields


def sms_event(record: Record) -> EventDraft:
    """Return the event of one SMS record; raise RecordProblem when it names nothing."""
    country = record.get("country")
    indicators: dict[str, tuple[str, ...]] = {}
    number_text = record.get("origination_number")
    id_text = record.get("sender_id")
    sender_text = record.get("sender")
    if number_text and not id_text and _digits_only(number_text) is None:
        # A "reported number" column holds whichever the subscriber typed: number or name.
        sender_text, number_text = sender_text or number_text, None
    if sender_text is not None:
        if _digits_only(sender_text) is not None:
            number_text = number_text or sender_text
        else:
            id_text = id_text or sender_text
    origination = normalise_number(number_text, country) if number_text else None
    if number_text and origination is None:
        record.warn(f"origination number {number_text[:40]!r} is not a phone number")
    found_id = sender_id(id_text) if id_text else None
    if id_text and found_id is None:
        record.warn(f"sender id {id_text[:40]!r} is not an alphanumeric sender id")
    text = record.get("message_text")
    if origination is None and found_id is None and text is None:
        raise RecordProblem("no sending number, sender id or message text")
    add_indicator(indicators, "origination_number", origination)
    add_indicator(indicators, "sender_id", found_id)
    recipient = record.get("recipient_number")
    recipient_number = normalise_number(recipient, country) if recipient else None
    if recipient_number is not None:
        indicators["recipient_hash"] = (recipient_hash(recipient_number),)
    elif recipient:
        record.warn("recipient number is not a phone number")
    add_indicator(indicators, "url", *text_urls(text))
    exclude = frozenset(n for n in (recipient_number,) if n)
    add_indicator(indicators, "phone_number", *text_phone_numbers(text, country, exclude))
    add_indicator(indicators, "provider_message_id", _short(record.get("message_id")))
    add_indicator(indicators, "campaign_id", _short(record.get("campaign_id")))
    details = {
        "message_text": redact_number(text, recipient_number, country),
        "sender": _short(number_text or id_text),
        "sender_type": _sender_type(origination, found_id),
        "country": _short(country),
    }
    return record_event(record, Category.SMS_SPAM, Service.SMS, indicators, details)


def _sender_type(origination: str | None, found_id: str | None) -> str | None:
    """Return ``number``, ``short_code`` or ``sender_id`` for the sender found."""
    if origination is not None:
        return "number" if origination.startswith("+") or len(origination) > 8 else "short_code"
    return "sender_id" if found_id is not None else None


SMS_RECORDS = RecordFormat(marker="sms", fields=SMS_FIELDS, claims=_sms_claims, build=sms_event)


# --- Texts forwarded by email -------------------------------------------------------------

# Carrier gateways that turn a text sent or forwarded from a phone into an email; the
# address's local part is the forwarding subscriber's own number.
GATEWAY_DOMAINS = frozenset(
    {
        "vtext.com",
        "vzwpix.com",
        "tmomail.net",
        "mms.att.net",
        "txt.att.net",
        "mms.cricketwireless.net",
        "sms.cricketwireless.net",
        "messaging.sprintpcs.com",
        "pm.sprint.com",
        "mymetropcs.com",
        "mms.uscc.net",
        "email.uscc.net",
        "msg.fi.google.com",
        "txt.voice.google.com",
        "text.republicwireless.com",
        "vmpix.com",
        "vmobl.com",
        "mmst5.tracfone.com",
        "mypixmessages.com",
        "myboostmobile.com",
        "sms.myboostmobile.com",
        "txt.bell.ca",
        "pcs.rogers.com",
        "msg.telus.com",
        "mms.telusmobility.com",
        "vmobile.ca",
        "fido.ca",
    }
)
_SENDER = (
    r"(?P<sender>\+?\d[\d ().-]{1,20}\d"
    r"|\"[A-Za-z0-9][A-Za-z0-9 .&'_+-]{0,10}\""
    r"|'[A-Za-z0-9][A-Za-z0-9 .&'_+-]{0,10}'"
    r"|[A-Z0-9][A-Z0-9&_-]{1,10}(?![\w@]|\.\w))"
)
_TEXT_FROM = re.compile(
    r"(?i:\b(?:text message|text msg|sms|mms|txt|text|imessage))\s+(?i:from)\s*:?\s*" + _SENDER
)
_SMS_WORDS = re.compile(
    r"(?i)\b(?:7726|33700|sms|mms|smishing|text message|spam text|text spam|txt)\b"
)
_LABELLED = re.compile(r"\s*([A-Za-z][A-Za-z0-9 _-]{0,40}?)\s*:\s*(\S.*)")
_NOT_SENDER_IDS = _words(
    "A AN THE YOUR YOU ME MY OUR US THIS THAT UNKNOWN SOMEONE SPAM SMS TEXT NUMBER"
)
_PHISHING_WORDS = ("phish", "smish")
_SENDER_FIELDS = frozenset({"origination_number", "sender_id", "sender"})


class SmsParser:
    """Read SMS reports: the JSON and CSV import format, and texts forwarded by email."""

    name = "sms"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise an SMS import report, or an email that forwards a text message."""
        if document.json is not None or not looks_like_message(document.head):
            return sniff_records(document, SMS_RECORDS)
        message = document.message
        return message is not None and _forwarded_text(message) is not None

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read every record into an event, or the forwarded text into one."""
        if document.json is not None or not looks_like_message(document.head):
            return parse_records(document, SMS_RECORDS, self.name)
        message = require_message(document)
        record = _forwarded_text(message)
        if record is None:
            raise ParseError(
                "the email does not forward a text message", reason="sms_not_a_forwarded_text"
            )
        try:
            event = sms_event(record)
        except RecordProblem as problem:
            raise MalformedReport(str(problem), reason="sms_no_readable_records") from problem
        return ParsedReport(
            report_format=self.name,
            events=(event,),
            kind="forwarded-text",
            warnings=tuple(record.warnings),
        )


def _forwarded_text(message: Message) -> Record | None:
    """Return the record of the text an email forwards, or None when it forwards none.

    Conservative on purpose: a gateway sender, a subject or opening line naming the
    text's sender (``SMS from 12345``), or SMS words together with a labelled sender line
    in the body. An email carrying an attached email is a forwarded email, not a text.
    """
    from_address = mail.header(message, "From") or ""
    gateway = _gateway_domain(from_address)
    if gateway is None and _has_attached_message(message):
        return None
    subject = mail.header(message, "Subject") or ""
    body = _body_text(message)
    top = "\n".join(body.splitlines()[:_SNIFF_LINES])
    labelled = _labelled_fields(top)
    named = _named_sender(subject) or _named_sender(top)
    if gateway is None and named is None:
        says_sms = _SMS_WORDS.search(subject) or _SMS_WORDS.search(top)
        if not (says_sms and _SENDER_FIELDS & labelled.keys()):
            return None
    values = {name: labelled[name] for name in _SENDER_FIELDS if name in labelled}
    if named is not None and not values:
        values["sender"] = named
    if "received_at" in labelled:
        values["received_at"] = labelled["received_at"]
    values["message_text"] = labelled.get("message_text") or _message_text(body) or ""
    if reported_at := mail.date(message):
        values["reported_at"] = reported_at.isoformat()
    if reporter := mail.address_domain(from_address):
        values["reporter"] = reporter
    if gateway is not None:
        # The gateways are North American carriers; the address is the subscriber's
        # number, who received the text: kept only as a hash, like every recipient.
        values["country"] = "US"
        values["recipient_number"] = mail.parse_address(from_address)[1].rpartition("@")[0]
    if any(word in subject.lower() for word in _PHISHING_WORDS):
        values["category"] = "phishing"
    return Record("forwarded text", {k: v for k, v in values.items() if v}, [])


def _gateway_domain(from_header: str) -> str | None:
    """Return the gateway domain of a subscriber's gateway address (``5550100134@vtext.com``).

    The gateway's own mailboxes (``sysadmin@m01.vzwpix.com`` sending a bounce) are not
    subscribers: the local part must be a phone number.
    """
    _, address = mail.parse_address(from_header)
    local, _, _ = address.rpartition("@")
    domain = mail.address_domain(address)
    if domain is None or not _phone_like(local):
        return None
    if any(domain == g or domain.endswith("." + g) for g in GATEWAY_DOMAINS):
        return domain
    return None


def _phone_like(value: str) -> bool:
    """Tell whether *value* is a phone number of seven digits or more."""
    digits = _digits_only(value)
    return digits is not None and len(digits.lstrip("+")) >= 7


def _has_attached_message(message: Message) -> bool:
    """Tell whether *message* carries an attached email."""
    return any(
        part is not message and part.get_content_type() == "message/rfc822"
        for part in message.walk()
    )


def _named_sender(text: str) -> str | None:
    """Return the sender a ``Text message from X`` phrase names, if it names one.

    A number needs four digits or more; a sender id must be quoted or in capitals, and
    capitals say nothing in a text written all in capitals.
    """
    shouting = not any(c.islower() for c in text)
    for match in _TEXT_FROM.finditer(text[:_SCAN_LIMIT]):
        written = match.group("sender")
        sender = written.strip("\"'")
        if _digits_only(sender) is not None:
            if sum(c.isdigit() for c in sender) >= 4:
                return sender
            continue
        quoted = written[0] in "\"'"
        if sender.upper() in _NOT_SENDER_IDS or (shouting and not quoted):
            continue
        return sender
    return None


def _labelled_fields(text: str) -> dict[str, str]:
    """Return the SMS fields of ``Label: value`` lines (``Sender number: +1 ...``).

    A generic ``From:`` or ``Sender:`` line counts only when it holds a phone number or
    a one-word sender id: in a forwarded email it names a mailbox or a person.
    """
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _LABELLED.fullmatch(line)
        if match is None:
            continue
        canonical = SMS_FIELDS.get(field_name(match.group(1)))
        value = clean_text(match.group(2), TEXT_LIMIT)
        if canonical is None or value is None or canonical in found:
            continue
        if canonical == "sender" and not _plain_sender(value):
            continue
        found[canonical] = value
    return found


def _plain_sender(value: str) -> bool:
    """Tell whether a generic ``From:``/``Sender:`` value names a texting sender."""
    digits = _digits_only(value)
    if digits is not None:
        return len(digits.lstrip("+")) >= 4
    return " " not in value and sender_id(value) is not None


def _body_text(message: Message) -> str:
    """Return the text of *message*: its first plain-text part, else an attached text file
    (MMS gateways send the text as ``text_0.txt``), else its HTML reduced to words."""
    found: dict[str, str] = {}
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        subtype = part.get_content_subtype()
        key = "attached" if mail.filename(part) else subtype
        if key not in ("plain", "attached", "html") or key in found:
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = mail.decode_text(payload[:_EMAIL_TEXT_LIMIT], part.get_content_charset())
        if key == "html" or subtype == "html":
            text = html.unescape(re.sub(r"<[^<>]{0,2000}>", " ", text))
        found[key] = text
    return found.get("plain") or found.get("attached") or found.get("html") or ""


_SIGN_OFFS = ("sent from my", "get outlook for", "sent via")


def _message_text(body: str) -> str | None:
    """Return the forwarded text: the body without labelled lines, quoting or sign-offs."""
    lines = []
    for line in body.splitlines():
        stripped = line.strip().lstrip(">").strip()
        lowered = stripped.lower()
        if stripped in ("--", "-- "):
            break
        if not stripped or lowered.startswith(_SIGN_OFFS) or "forwarded message" in lowered:
            continue
        if _is_header_line(stripped):
            continue
        lines.append(stripped)
    text = " ".join(lines)
    # "Text message from X: ..." introduces the text; what comes before is the complaint.
    match = _TEXT_FROM.search(text[:_SCAN_LIMIT])
    if match is not None:
        text = text[match.end() :].lstrip(" :-")
    return clean_text(text, TEXT_LIMIT)


def _is_header_line(line: str) -> bool:
    """Tell whether *line* is a ``Label: value`` line of a forward, not part of the text."""
    match = _LABELLED.fullmatch(line)
    if match is None:
        return False
    name = field_name(match.group(1))
    return name in SMS_FIELDS or name in ("subject", "cc", "sent", "reply_to")
