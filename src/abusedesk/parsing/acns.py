"""ACNS copyright notices: an ``<Infringement>`` XML document in the mail or attached to it.

Rights holders' agents (DMCA, ACNS 2) write a letter and put the notice as XML in the
body, in an attachment, or both; each distinct notice becomes one ``copyright`` event
about the infringing source address, with the work and the complainant in the details.
XML is read with defusedxml (no entities, no external references) within size limits.
"""

from collections.abc import Iterator
from datetime import datetime
from email.message import Message
from typing import Any
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError as XmlParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# One notice is a few KiB; a document past this is not a notice.
MAX_NOTICE_BYTES = 256 * 1024
MAX_NOTICES = 100
MAX_TEXT_LENGTH = 500
_MARKER = b"<Infringement"
_XML_TYPES = ("application/xml", "text/xml")


class AcnsParser:
    """Read copyright notices in the ACNS ``<Infringement>`` XML form."""

    name = "acns"

    def sniff(self, document: RawDocument) -> bool:
        """Accept an email or XML document that holds an ``<Infringement`` element, in its
        text or in an attachment; JSON that merely quotes one is another format's."""
        message = document.message
        if message is None:
            return document.head.startswith(b"<") and _MARKER in document.raw
        return _MARKER in document.raw or any(True for _ in _attached_notices(message))

    def parse(self, document: RawDocument) -> ParsedReport:
        """Return one copyright event per distinct notice."""
        message = document.message
        reporter = mail.address_domain(mail.header(message, "From")) if message else None
        texts = list(_notice_texts(document, message))
        events: dict[tuple[Any, ...], EventDraft] = {}
        problems: list[str] = []
        for text in texts:
            try:
                root = _parse_xml(text)
            except MalformedReport as error:
                problems.append(str(error))
                continue
            event = notice_event(root, reporter)
            key = (
                event.details.get("case_id"),
                event.indicators.get("source_ip"),
                event.details.get("port"),
                event.occurred_at,
                event.details.get("title"),
            )
            events.setdefault(key, event)
            if len(events) >= MAX_NOTICES:
                break
        if not events:
            raise MalformedReport(
                "no readable ACNS notice: " + ("; ".join(problems[:3]) or "none found"),
                reason="acns_unreadable",
            )
        return ParsedReport(
            report_format=self.name,
            events=tuple(events.values()),
            warnings=tuple(problems[:10]),
        )


def _notice_texts(document: RawDocument, message: Message | None) -> Iterator[str]:
    """Yield every ``<Infringement>`` document in the report's text and XML attachments."""
    if message is None:
        yield from _notices_in(mail.decode_text(document.raw[: 4 * MAX_NOTICE_BYTES], None))
        return
    for part in message.walk():
        if part.is_multipart():
            continue
        is_text = part.get_content_maintype() == "text"
        if not (is_text or _is_xml_attachment(part)):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            yield from _notices_in(
                mail.decode_text(payload[: 4 * MAX_NOTICE_BYTES], part.get_content_charset())
            )


def _attached_notices(message: Message) -> Iterator[str]:
    """Yield the notices found in XML attachments (for sniffing encoded ones)."""
    for part in message.walk():
        if part.is_multipart() or not _is_xml_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and _MARKER in payload[: 4 * MAX_NOTICE_BYTES]:
            yield from _notices_in(mail.decode_text(payload[: 4 * MAX_NOTICE_BYTES], None))


def _is_xml_attachment(part: Message) -> bool:
    """Tell whether a part is XML by its type or its file name."""
    return part.get_content_type() in _XML_TYPES or mail.filename(part).lower().endswith(".xml")


def _notices_in(text: str) -> Iterator[str]:
    """Yield each ``<Infringement>…</Infringement>`` span of *text*, within the size limit."""
    start = text.find("<Infringement")
    count = 0
    while start != -1 and count < MAX_NOTICES:
        end = text.find("</Infringement", start)
        if end == -1:
            return
        close = text.find(">", end)
        if close == -1:
            return
        span = text[start : close + 1]
        if len(span) <= MAX_NOTICE_BYTES:
            count += 1
            yield span
        start = text.find("<Infringement", close)


def _parse_xml(text: str) -> Element:
    """Return the notice's root element, read safely; raise MalformedReport when it cannot be."""
    try:
        root: Element = fromstring(text, forbid_dtd=True)
    except (XmlParseError, DefusedXmlException, ValueError) as error:
        raise MalformedReport(
            f"notice XML unreadable: {error}", reason="acns_unreadable"
        ) from error
    return root


def _local(tag: str) -> str:
    """Return an element tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _child(element: Element | None, *path: str) -> Element | None:
    """Return the element at *path* under *element*, ignoring namespaces."""
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if _local(c.tag) == name), None)
    return element


def _text(element: Element | None, *path: str) -> str | None:
    """Return the stripped text at *path*, cut to a readable length, or None when empty."""
    found = _child(element, *path)
    if found is None or found.text is None:
        return None
    text = " ".join(found.text.split())[:MAX_TEXT_LENGTH]
    return text or None


def notice_event(root: Element, reporter: str | None) -> EventDraft:
    """Return the copyright event one ``<Infringement>`` element describes."""
    source = _child(root, "Source")
    item = _child(root, "Content", "Item")
    indicators: dict[str, tuple[str, ...]] = {}
    if (ip := mail.host_address(_text(source, "IP_Address") or "")) is not None:
        indicators["source_ip"] = (ip,)
    url = _text(source, "URL_Base") or _text(item, "URL")
    if url and (plain := mail.refang(url)) is not None:
        indicators["url"] = (plain,)
    subtype = _child(source, "SubType")
    details = {
        "case_id": _text(root, "Case", "ID"),
        "complainant": _text(root, "Complainant", "Entity"),
        "complainant_contact": _text(root, "Complainant", "Contact"),
        "port": _text(source, "Port"),
        "protocol": (subtype.get("Protocol") if subtype is not None else None)
        or _text(source, "Type"),
        "title": _text(item, "Title"),
        "file_name": _text(item, "FileName"),
        "hash": _text(item, "Hash"),
    }
    return EventDraft(
        category=Category.COPYRIGHT,
        service=Service.OTHER,
        occurred_at=_time(_text(source, "TimeStamp")) or _time(_text(item, "TimeStamp")),
        reporter=reporter,
        indicators=indicators,
        details={k: v for k, v in details.items() if v},
    )


def _time(value: str | None) -> datetime | None:
    """Return an ISO 8601 timestamp as UTC, or None when absent or unreadable."""
    return mail.parse_iso_time(value)
