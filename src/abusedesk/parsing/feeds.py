"""Feed reports: CSV rows attached to a notification mail (Shadowserver-style), one event a row.

A feed mail carries one or more CSV files, plain (``text/csv``, ``application/csv``, a
``.csv`` name) or zipped, whose header names an IP column (``ip``, ``src_ip`` ...). Each
row with an IP address becomes one event; its category comes from the row's type columns
(``type``, ``infection``, ``tag`` ...), else the file name (``scan_redis`` ...), else the
mail's subject. Rows that cannot be read are listed in the report's warnings.

Zip files are read in memory only, within limits on size, member count and compression
ratio, so that a decompression bomb ends in a warning, not in exhausted memory.
"""

import csv
import io
import ipaddress
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message

from abusedesk.core.clock import as_utc
from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# An attachment larger than this is not opened; real feed files are a few MiB at most.
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
MAX_ZIP_MEMBERS = 20
MAX_CSV_BYTES = 32 * 1024 * 1024
# Text compresses about 10:1; a ratio past this is a bomb, not a CSV file.
MAX_COMPRESSION_RATIO = 200
MAX_ROWS = 10_000
MAX_WARNINGS = 50
MAX_FIELD_LENGTH = 1000

_CSV_TYPES = ("text/csv", "application/csv", "text/comma-separated-values", "application/x-csv")
_ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
_IP_COLUMNS = ("ip", "src_ip", "source_ip", "ip_address", "ipaddress", "source ip", "src")
_TIME_COLUMNS = ("timestamp", "time", "datetime", "date_time", "first_seen", "last_seen")
# Columns that say what was seen, most specific first.
_TYPE_COLUMNS = ("type", "report_type", "infection", "infection_type", "category", "tag")
_URL_COLUMNS = ("url", "src_url", "http_url")
# Columns an analyst reads in the details; the others stay in the raw report.
_DETAIL_COLUMNS = (
    "port",
    "src_port",
    "protocol",
    "asn",
    "src_asn",
    "hostname",
    "src_hostname",
    "type",
    "report_type",
    "infection",
    "infection_type",
    "tag",
    "category",
    "agent",
    "application",
)
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
# Words of a feed's type, file name or subject and the category they mean, checked in
# this order: what was found on the host matters more than how it was found.
_CATEGORY_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"phish"), Category.PHISHING),
    (re.compile(r"spam"), Category.SPAM),
    (
        re.compile(r"botnet|drone|sinkhole|infect|compromis|bot\b|webshell|defacement"),
        Category.COMPROMISED,
    ),
    (re.compile(r"malware|ransom|trojan|virus"), Category.MALWARE),
    (re.compile(r"brute|attack|ddos|honeypot|scanners?\b|darknet|event4"), Category.ATTACK),
    (
        re.compile(r"scan|open|vulnerab|exposed|accessible|amplif|resolver|outdated"),
        Category.VULNERABLE,
    ),
    (re.compile(r"copyright|infring"), Category.COPYRIGHT),
)


@dataclass(frozen=True)
class FeedFile:
    """One CSV file found in the mail: its name and its bytes."""

    name: str
    data: bytes


class FeedParser:
    """Read notification mails whose attachments are CSV feed files with an IP column."""

    name = "feeds"

    def sniff(self, document: RawDocument) -> bool:
        """Accept a mail with a CSV attachment (plain or zipped) whose header names an IP column."""
        message = document.message
        if message is None or not message.is_multipart():
            return False
        warnings: list[str] = []
        return any(
            _ip_column(_header_row(f.data)) is not None for f in feed_files(message, warnings)
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Turn every readable row of every CSV feed file into one event."""
        message = require_message(document)
        warnings: list[str] = []
        subject = mail.header(message, "Subject") or ""
        reporter = mail.address_domain(mail.header(message, "From"))
        events: list[EventDraft] = []
        for feed in feed_files(message, warnings):
            events.extend(_file_events(feed, subject, reporter, warnings, MAX_ROWS - len(events)))
        if not events:
            reasons = "; ".join(warnings[:3]) or "no row with an IP address"
            raise MalformedReport(
                f"the feed files hold no readable row: {reasons}", reason="no_feed_rows"
            )
        return ParsedReport(
            report_format=self.name,
            events=tuple(events),
            warnings=tuple(warnings[:MAX_WARNINGS]),
        )


def feed_files(message: Message, warnings: list[str]) -> Iterator[FeedFile]:
    """Yield the CSV files attached to *message*, unzipping zip attachments within limits."""
    for part in message.walk():
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        name = _filename(part)
        lowered = name.lower()
        is_csv = content_type in _CSV_TYPES or lowered.endswith(".csv")
        is_zip = content_type in _ZIP_TYPES or lowered.endswith(".zip")
        if not (is_csv or is_zip):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        if len(payload) > MAX_ATTACHMENT_BYTES:
            warnings.append(
                f"{name or content_type}: attachment of {len(payload):,} bytes not read"
            )
            continue
        if is_zip or payload.startswith(b"PK\x03\x04"):
            yield from _zip_members(name or "attachment.zip", payload, warnings)
        else:
            yield FeedFile(name or "attachment.csv", payload)


def _filename(part: Message) -> str:
    """Return the part's file name (Content-Disposition, else Content-Type name), or ''."""
    try:
        name = part.get_filename() or part.get_param("name")
    except (ValueError, TypeError, LookupError):
        return ""
    return name[:255] if isinstance(name, str) else ""


def _zip_members(name: str, payload: bytes, warnings: list[str]) -> Iterator[FeedFile]:
    """Yield the CSV members of the zip *payload*; limits broken become warnings."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        warnings.append(f"{name}: not a readable zip file")
        return
    if len(members) > MAX_ZIP_MEMBERS:
        warnings.append(f"{name}: {len(members):,} members; the limit is {MAX_ZIP_MEMBERS}")
        return
    for member in members:
        member_name = f"{name}/{member.filename[:255]}"
        if member.is_dir() or not member.filename.lower().endswith(".csv"):
            continue
        data = _read_member(archive, member, member_name, warnings)
        if data is not None:
            yield FeedFile(member.filename[:255], data)


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, warnings: list[str]
) -> bytes | None:
    """Return a zip member's bytes, or None with a warning when it breaks a limit."""
    if member.flag_bits & 0x1:
        warnings.append(f"{name}: encrypted")
        return None
    if member.file_size > MAX_CSV_BYTES:
        warnings.append(
            f"{name}: {member.file_size:,} bytes unpacked; the limit is {MAX_CSV_BYTES:,}"
        )
        return None
    if member.file_size > MAX_COMPRESSION_RATIO * max(member.compress_size, 1):
        warnings.append(f"{name}: compressed more than {MAX_COMPRESSION_RATIO}:1, not unpacked")
        return None
    try:
        with archive.open(member) as stream:
            # The sizes in the directory are the sender's word; read one byte past the
            # limit to catch a member that unpacks to more than it claims.
            data = stream.read(MAX_CSV_BYTES + 1)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError) as error:
        warnings.append(f"{name}: cannot be unpacked ({type(error).__name__})")
        return None
    if len(data) > MAX_CSV_BYTES or len(data) > MAX_COMPRESSION_RATIO * max(
        member.compress_size, 1
    ):
        warnings.append(f"{name}: unpacks to more than its limits, not read")
        return None
    return data


def _text(data: bytes) -> str:
    """Return CSV bytes as text: UTF-8 (with or without BOM), else Latin-1."""
    return mail.decode_text(data, "utf-8-sig")


def _header_row(data: bytes) -> list[str]:
    """Return the normalised column names of the first CSV line of *data*."""
    first_line = _text(data[:8192]).splitlines()[:1]
    try:
        row = next(csv.reader(first_line), [])
    except csv.Error:
        return []
    return [_column(name) for name in row]


def _column(name: str) -> str:
    """Return a column name lowercased, stripped and with inner spaces kept single."""
    return " ".join(name.strip().strip('"').lower().split())


def _ip_column(header: Sequence[str]) -> str | None:
    """Return the column that holds the reported IP address, if the header has one."""
    return next((name for name in _IP_COLUMNS if name in header), None)


def _file_events(
    feed: FeedFile, subject: str, reporter: str | None, warnings: list[str], room: int
) -> list[EventDraft]:
    """Return one event per row of *feed* that names an IP address, at most *room*."""
    reader = csv.reader(io.StringIO(_text(feed.data), newline=""))
    try:
        header = [_column(name) for name in next(reader, [])]
    except csv.Error as error:
        warnings.append(f"{feed.name}: header unreadable ({error})")
        return []
    ip_column = _ip_column(header)
    if ip_column is None:
        warnings.append(f"{feed.name}: no IP column in the header")
        return []
    events: list[EventDraft] = []
    line = 1
    while True:
        line += 1
        try:
            row = next(reader, None)
        except csv.Error as error:
            warnings.append(f"{feed.name} row {line}: unreadable ({error})")
            break
        if row is None:
            break
        if not any(field.strip() for field in row):
            continue
        if len(events) >= room:
            warnings.append(f"{feed.name}: rows past {MAX_ROWS:,} not read")
            break
        record = {
            name: value.strip()[:MAX_FIELD_LENGTH] for name, value in zip(header, row, strict=False)
        }
        value = record.get(ip_column, "")
        address = mail.host_address(value)
        if address is None:
            problem = "not a remote host's address" if _is_ip(value) else "no IP address"
            warnings.append(f"{feed.name} row {line}: {problem}")
            continue
        events.append(
            _row_event(feed.name, line, record, address, subject=subject, reporter=reporter)
        )
    return events


def _is_ip(value: str) -> bool:
    """Tell whether *value* is an IP address of any kind."""
    try:
        ipaddress.ip_address(value.strip())
    except ValueError:
        return False
    return True


def _row_event(
    file_name: str,
    line: int,
    record: Mapping[str, str],
    address: str,
    *,
    subject: str,
    reporter: str | None,
) -> EventDraft:
    """Return the event one feed row describes."""
    indicators: dict[str, tuple[str, ...]] = {"source_ip": (address,)}
    urls = [u for name in _URL_COLUMNS if (u := mail.refang(record.get(name, ""))) is not None]
    if urls:
        indicators["url"] = tuple(dict.fromkeys(urls))
    details: dict[str, str | int] = {"feed_file": file_name, "row": line}
    details.update({name: record[name] for name in _DETAIL_COLUMNS if record.get(name)})
    return EventDraft(
        category=feed_category(record, file_name, subject),
        service=Service.OTHER,
        occurred_at=_row_time(record),
        reporter=reporter,
        indicators=indicators,
        details=details,
    )


def feed_category(record: Mapping[str, str], file_name: str, subject: str) -> str:
    """Return the category a row's type columns, else its file name, else the subject say."""
    sources = [record.get(name, "") for name in _TYPE_COLUMNS] + [file_name, subject]
    for text in sources:
        lowered = text.lower().replace("-", "_")
        for pattern, category in _CATEGORY_WORDS:
            if pattern.search(lowered):
                return category
    return Category.OTHER


def _row_time(record: Mapping[str, str]) -> datetime | None:
    """Return when the row says the observation was made, as UTC (naive times are UTC)."""
    values = [record.get(name, "") for name in _TIME_COLUMNS]
    if record.get("event_date"):
        values.insert(0, f"{record['event_date']} {record.get('event_time', '')}".strip())
    for value in values:
        if parsed := _parse_time(value):
            return parsed
    return None


def _parse_time(value: str) -> datetime | None:
    """Return a feed timestamp (ISO 8601 or ``YYYY-MM-DD HH:MM:SS``) as UTC, or None."""
    text = value.strip()
    if not text or len(text) > 40:
        return None
    try:
        return as_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        pass
    for layout in _TIME_FORMATS:
        try:
            return datetime.strptime(text, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
