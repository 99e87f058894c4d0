"""Feed reports: CSV rows attached to a notification mail (Shadowserver-style), one event a row.

A feed mail carries one or more CSV files, plain (``text/csv``, ``application/csv``, a
``.csv`` name), zipped or gzipped, whose header names an IP column (``ip``, ``src_ip`` ...). Each
row with an IP address becomes one event; its category comes from the row's type columns
(``type``, ``infection``, ``tag`` ...), else the file name (``scan_redis`` ...), else the
mail's subject. Rows that cannot be read are listed in the report's warnings.

Zip and gzip files are unpacked in memory by ``archives`` within ``LIMITS`` (size, member
count, compression ratio), so that a decompression bomb or a broken archive ends in a
warning, not in exhausted memory.
"""

import csv
import io
import ipaddress
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import Message

from abusedesk.parsing import archives, mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# An attachment larger than this is not opened; real feed files are a few MiB at most.
MAX_ATTACHMENT_BYTES = 16 * 1024 * 1024
MAX_ZIP_MEMBERS = 20
# The CSV text one attachment may unpack to, over all its members.
MAX_CSV_BYTES = 32 * 1024 * 1024
# Text compresses about 10:1; a ratio past this is a bomb, not a CSV file.
MAX_COMPRESSION_RATIO = 200
LIMITS = archives.Limits(
    max_output=MAX_CSV_BYTES,
    max_ratio=MAX_COMPRESSION_RATIO,
    max_members=MAX_ZIP_MEMBERS,
)
MAX_ROWS = 10_000
MAX_WARNINGS = 50
MAX_FIELD_LENGTH = 1000
# The start of a file read to find its header row.
_HEAD_BYTES = 8192

_CSV_TYPES = ("text/csv", "application/csv", "text/comma-separated-values", "application/x-csv")
_ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
_GZIP_TYPES = ("application/gzip", "application/x-gzip")
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
        """Accept a mail with a CSV attachment (plain, zipped or gzipped) whose header names an
        IP column; only the start of each file is unpacked."""
        message = document.message
        if message is None or not message.is_multipart():
            return False
        return any(
            _ip_column(_header_row(_head(payload))) is not None
            for _, payload, _ in _feed_parts(message, [])
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Turn every readable row of every CSV feed file into one event."""
        message = require_message(document)
        warnings: list[str] = []
        subject = mail.header(message, "Subject") or ""
        reporter = mail.address_domain(mail.header(message, "From"))
        events: list[EventDraft] = []
        rows_read = 0
        for feed in feed_files(message, warnings):
            found, rows = _file_events(feed, subject, reporter, warnings, MAX_ROWS - rows_read)
            events.extend(found)
            rows_read += rows
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
    """Yield the CSV files attached to *message*, unpacking zip and gzip ones within LIMITS."""
    for name, payload, declared_zip in _feed_parts(message, warnings):
        try:
            if declared_zip or archives.is_zip(payload):
                members = archives.unzip(payload, LIMITS, accept=_is_csv_name)
                found = [FeedFile(member[:255], data) for member, data in members]
            elif archives.is_gzip(payload):
                found = [FeedFile(name.removesuffix(".gz"), archives.gunzip(payload, LIMITS))]
            else:
                found = [FeedFile(name, payload)]
        except (archives.DecompressionLimit, archives.BadArchive) as error:
            warnings.append(f"{name}: {error}")
            continue
        yield from found


def _feed_parts(message: Message, warnings: list[str]) -> Iterator[tuple[str, bytes, bool]]:
    """Yield the name, payload and whether it is declared a zip, of each attachment that
    may be a feed file: CSV, zip or gzip by its type or name."""
    for content_type, name, payload in mail.attachments(message, _may_be_feed):
        if len(payload) > MAX_ATTACHMENT_BYTES:
            warnings.append(
                f"{name or content_type}: attachment of {len(payload):,} bytes not read"
            )
            continue
        is_zip = content_type in _ZIP_TYPES or name.lower().endswith(".zip")
        yield name or ("attachment.zip" if is_zip else "attachment.csv"), payload, is_zip


def _may_be_feed(content_type: str, name: str) -> bool:
    """Tell whether a part of this type and file name may be a CSV file, zipped or not."""
    lowered = name.lower()
    return content_type in (*_CSV_TYPES, *_ZIP_TYPES, *_GZIP_TYPES) or lowered.endswith(
        (".csv", ".zip", ".csv.gz")
    )


def _head(payload: bytes) -> bytes:
    """Return the first bytes of the CSV file in *payload*, unpacked; b"" for a bomb."""
    try:
        return archives.peek(payload, _HEAD_BYTES, LIMITS, accept=_is_csv_name)
    except archives.DecompressionLimit:
        return b""


def _is_csv_name(name: str) -> bool:
    """Tell whether a zip member's name is that of a CSV file."""
    return name.lower().endswith(".csv")


def _text(data: bytes) -> str:
    """Return CSV bytes as text: UTF-8 (with or without BOM), else Latin-1."""
    return mail.decode_text(data, "utf-8-sig")


def _header_row(data: bytes) -> list[str]:
    """Return the normalised column names of the first CSV line of *data*."""
    first_line = _text(data[:_HEAD_BYTES]).splitlines()[:1]
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
) -> tuple[list[EventDraft], int]:
    """Return one event per row of *feed* that names an IP address, and the rows read.

    At most *room* rows are read, readable or not: a file of unreadable rows costs no
    more than one of good ones.
    """
    reader = csv.reader(io.StringIO(_text(feed.data), newline=""))
    try:
        header = [_column(name) for name in next(reader, [])]
    except csv.Error as error:
        warnings.append(f"{feed.name}: header unreadable ({error})")
        return [], 0
    ip_column = _ip_column(header)
    if ip_column is None:
        warnings.append(f"{feed.name}: no IP column in the header")
        return [], 0
    events: list[EventDraft] = []
    rows_read = 0
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
        if rows_read >= room:
            warnings.append(f"{feed.name}: rows past {MAX_ROWS:,} not read")
            break
        rows_read += 1
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
    return events, rows_read


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
    """Return a feed timestamp (ISO 8601, ``YYYY-MM-DD HH:MM:SS`` among them) as UTC, or None."""
    text = value.strip()
    return mail.parse_iso_time(text) if len(text) <= 40 else None
