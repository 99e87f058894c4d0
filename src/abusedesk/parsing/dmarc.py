"""DMARC aggregate reports (RFC 7489 appendix C, RFC 9990): one event per ``<record>``.

A report arrives as bare XML, gzip or zip, or attached to an email. Every layer is
hostile: XML goes through ``defusedxml`` (no entity expansion, no external entities),
and decompression stops at ``MAX_DECOMPRESSED`` bytes with the reason
``decompression_limit`` instead of filling memory. Element names are matched without
their namespace, so the RFC 7489 (none or ``http://dmarc.org/dmarc-xml/0.1``) and RFC
9990 (``urn:ietf:params:xml:ns:dmarc-2.0``) schemas and the older drafts read alike.
"""

import ipaddress
import re
import zipfile
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from io import BytesIO
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlSyntaxError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, ParseError
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

MAX_DECOMPRESSED = 50 * 1024 * 1024
_GZIP_MAGIC = b"\x1f\x8b"
# A local file header, or the end record that is all an empty archive holds.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_BOM = b"\xef\xbb\xbf"
# Sniffing decompresses no more than this; the root element comes well before it.
_PEEK = 16 * 1024
# A report gzipped inside a zip (or twice gzipped) is seen in the wild; deeper is not.
_MAX_LAYERS = 3
_MAX_PARTS = 200
_MAX_AUTH_RESULTS = 20
_NAME_LIMIT = 200
_FEEDBACK_ROOT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?feedback[\s/>]")
_ATTACHMENT_SUFFIXES = (".xml", ".gz", ".gzip", ".zip")
_REPORT_NAME = re.compile(r"[^!]+![^!]+!\d{6,}!\d{6,}(?:![^!.]*)?\.(?:xml|zip)(?:\.gz|\.gzip)?$")
_ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    KeyError,
    IndexError,
    OverflowError,
)


class DmarcAggregateParser:
    """Read DMARC aggregate (``rua``) reports in every packaging seen in practice.

    ``max_decompressed`` caps the bytes any decompression may produce.
    """

    name = "dmarc"

    def __init__(self, *, max_decompressed: int = MAX_DECOMPRESSED) -> None:
        self.max_decompressed = max_decompressed

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a ``<feedback>`` root, bare, compressed or in an email attachment."""
        if _is_feedback(_peek(document.raw)):
            return True
        message = document.message
        return message is not None and any(
            _is_feedback(_peek(data)) or _is_report_name(name)
            for name, data in _attachments(message)
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Unpack the report, read its XML safely and make one event per record."""
        payload = _report_payload(document)
        root = _parse_xml(_unpack(payload, self.max_decompressed))
        if _local(root.tag) != "feedback":
            raise MalformedReport(
                "the XML root is not <feedback>", reason="dmarc_not_aggregate_report"
            )
        metadata = _child(root, "report_metadata")
        policy = _child(root, "policy_published")
        begin_at = _epoch(_text(metadata, "date_range", "begin"))
        end_at = _epoch(_text(metadata, "date_range", "end"))
        org_name = _text(metadata, "org_name")
        report = {
            "org_name": org_name,
            "report_id": _text(metadata, "report_id"),
            "begin_at": begin_at.isoformat() if begin_at else None,
            "end_at": end_at.isoformat() if end_at else None,
            "policy_domain": _lower(_text(policy, "domain")),
            "policy_p": _lower(_text(policy, "p")),
            "policy_sp": _lower(_text(policy, "sp")),
        }
        # The reporter is a short name; an organisation name longer than this is cut.
        reporter = org_name[:_NAME_LIMIT] if org_name else _email_domain(_text(metadata, "email"))
        records = _children(root, "record")
        if not records:
            raise MalformedReport("the report has no <record>", reason="dmarc_no_records")
        events = tuple(_event(record, report, reporter, begin_at) for record in records)
        return ParsedReport(report_format=self.name, events=events)


def _event(
    record: Element, report: dict[str, Any], reporter: str | None, begin_at: datetime | None
) -> EventDraft:
    row = _child(record, "row")
    evaluated = _child(row, "policy_evaluated")
    # Pre-RFC drafts call the identifiers block "identities".
    identifiers = _child(record, "identifiers")
    if identifiers is None:
        identifiers = _child(record, "identities")
    auth = _child(record, "auth_results")
    indicators: dict[str, tuple[str, ...]] = {}
    if source_ip := _ip(_text(row, "source_ip")):
        indicators["source_ip"] = (source_ip,)
    if from_domain := _lower(_text(identifiers, "header_from")):
        indicators["from_domain"] = (from_domain,)
    details = {
        "count": _integer(_text(row, "count")),
        "disposition": _lower(_text(evaluated, "disposition")),
        "dkim": _lower(_text(evaluated, "dkim")),
        "spf": _lower(_text(evaluated, "spf")),
        "reasons": [
            {"type": _lower(_text(reason, "type")), "comment": _text(reason, "comment")}
            for reason in _children(evaluated, "reason")[:_MAX_AUTH_RESULTS]
        ],
        "envelope_from": _lower(_text(identifiers, "envelope_from")),
        "envelope_to": _lower(_text(identifiers, "envelope_to")),
        "auth_dkim": [
            {
                "domain": _lower(_text(result, "domain")),
                "selector": _text(result, "selector"),
                "result": _lower(_text(result, "result")),
            }
            for result in _children(auth, "dkim")[:_MAX_AUTH_RESULTS]
        ],
        "auth_spf": [
            {
                "domain": _lower(_text(result, "domain")),
                "scope": _lower(_text(result, "scope")),
                "result": _lower(_text(result, "result")),
            }
            for result in _children(auth, "spf")[:_MAX_AUTH_RESULTS]
        ],
        **report,
    }
    return EventDraft(
        category=Category.DMARC_AGGREGATE,
        service=Service.EMAIL,
        occurred_at=begin_at,
        reporter=reporter,
        indicators=indicators,
        details=details,
    )


def _report_payload(document: RawDocument) -> bytes:
    if _is_feedback(_peek(document.raw)):
        return document.raw
    message = document.message
    if message is not None:
        attachments = list(_attachments(message))
        for _, data in attachments:
            if _is_feedback(_peek(data)):
                return data
        # An attachment named like a report that could not be peeked into is read in
        # full, so that the reason it fails (a bad archive, a bomb) is the one recorded.
        for name, data in attachments:
            if _is_report_name(name):
                return data
    raise MalformedReport("no DMARC aggregate report found", reason="dmarc_no_report")


def _attachments(message: Message) -> Iterator[tuple[str, bytes]]:
    """Yield the file name and decoded payload of parts that may hold a report."""
    for count, part in enumerate(message.walk()):
        if count >= _MAX_PARTS:
            return
        if part.is_multipart():
            continue
        filename = (part.get_filename() or "").lower()
        if not (
            part.get_content_maintype() == "application"
            or part.get_content_type() == "text/xml"
            or filename.endswith(_ATTACHMENT_SUFFIXES)
        ):
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            yield filename, data


def _is_report_name(name: str) -> bool:
    """Tell whether *name* follows the report file naming (``receiver!domain!begin!end``)."""
    return _REPORT_NAME.match(name) is not None


def _is_feedback(head: bytes) -> bool:
    return head.startswith(b"<") and _FEEDBACK_ROOT.search(head) is not None


def _peek(data: bytes) -> bytes:
    """Return the first bytes of the document inside *data*, or b"" when unreadable."""
    for _ in range(_MAX_LAYERS + 1):
        if data.startswith(_GZIP_MAGIC):
            try:
                data = _gunzip(data, _PEEK, partial=True)
            except ParseError:
                return b""
        elif data.startswith(_ZIP_MAGIC):
            try:
                data = _unzip(data, _PEEK, partial=True)
            except ParseError:
                return b""
        else:
            head = data[:_PEEK].lstrip()
            return head[len(_BOM) :].lstrip() if head.startswith(_BOM) else head
    return b""


def _unpack(data: bytes, limit: int) -> bytes:
    """Return the XML inside *data*, decompressing up to ``_MAX_LAYERS`` layers."""
    for _ in range(_MAX_LAYERS + 1):
        if data.startswith(_GZIP_MAGIC):
            data = _gunzip(data, limit)
        elif data.startswith(_ZIP_MAGIC):
            data = _unzip(data, limit)
        else:
            return data
    raise MalformedReport("too many layers of compression", reason="dmarc_bad_archive")


def _gunzip(data: bytes, limit: int, *, partial: bool = False) -> bytes:
    """Decompress gzip members until *limit*; trailing bytes after the last member are ignored."""
    output = bytearray()
    remaining = data
    try:
        while remaining.startswith(_GZIP_MAGIC):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            output += inflater.decompress(remaining, limit + 1 - len(output))
            if len(output) > limit:
                if partial:
                    return bytes(output[:limit])
                raise _too_big(limit)
            if not inflater.eof:
                if partial:
                    return bytes(output)
                raise MalformedReport("the gzip stream is truncated", reason="dmarc_bad_archive")
            remaining = inflater.unused_data
    except zlib.error as error:
        raise MalformedReport(
            f"the gzip stream is corrupt: {error}", reason="dmarc_bad_archive"
        ) from error
    return bytes(output)


def _unzip(data: bytes, limit: int, *, partial: bool = False) -> bytes:
    """Read the first XML (or else the first) member of a zip archive, up to *limit*."""
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
            if not members:
                raise MalformedReport("the zip archive is empty", reason="dmarc_bad_archive")
            chosen = next(
                (info for info in members if info.filename.lower().endswith(".xml")), members[0]
            )
            if chosen.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise MalformedReport(
                    "the zip member uses an unsupported compression method",
                    reason="dmarc_bad_archive",
                )
            with archive.open(chosen) as member:
                content = member.read(limit + 1)
    except _ARCHIVE_ERRORS as error:
        raise MalformedReport(
            f"the zip archive is unreadable: {error}", reason="dmarc_bad_archive"
        ) from error
    if len(content) > limit:
        if partial:
            return content[:limit]
        raise _too_big(limit)
    return content


def _too_big(limit: int) -> ParseError:
    return ParseError(
        f"the report decompresses to more than {limit} bytes",
        reason="decompression_limit",
    )


def _parse_xml(data: bytes) -> Element:
    # Whitespace or a UTF-8 byte-order mark before the XML declaration is harmless
    # in practice but fatal to the XML parser.
    data = data.lstrip()
    if data.startswith(_BOM):
        data = data[len(_BOM) :].lstrip()
    try:
        return fromstring(data)
    except DefusedXmlException as error:
        raise MalformedReport(
            f"the XML uses a forbidden construct: {type(error).__name__}",
            reason="xml_forbidden",
        ) from error
    except (XmlSyntaxError, ValueError, LookupError) as error:
        raise MalformedReport(
            f"the XML is not well-formed: {error}", reason="xml_invalid"
        ) from error


def _local(tag: object) -> str:
    """Return an element name without its ``{namespace}``."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _child(element: Element | None, name: str) -> Element | None:
    if element is None:
        return None
    return next((child for child in element if _local(child.tag) == name), None)


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local(child.tag) == name]


def _text(element: Element | None, *path: str) -> str | None:
    for name in path:
        element = _child(element, name)
    if element is None or element.text is None:
        return None
    return " ".join(element.text.split()) or None


def _lower(value: str | None) -> str | None:
    return value.lower().rstrip(".") or None if value else None


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return ipaddress.ip_address(value).compressed
    except ValueError:
        return None


def _integer(value: str | None) -> int | None:
    if value is None or not value.isdigit() or len(value) > 18:
        return None
    return int(value)


def _epoch(value: str | None) -> datetime | None:
    seconds = _integer(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _email_domain(value: str | None) -> str | None:
    # Reports write the address bare or with angle brackets, sometimes with "mailto:".
    return mail.address_domain(value.removeprefix("mailto:")) if value else None
