"""Free-form complaints: a person's email or a notifier's letter, in no structured format.

The evidence is, in order of preference:

- a forwarded message attached as ``message/rfc822``;
- a message forwarded inline (``---------- Forwarded message ---------``, ``Begin
  forwarded message:``, ``-----Original Message-----``) or its headers pasted into the
  body: the quoted headers are read as the evidence message;
- failing both, the IP addresses, URLs and phone numbers the letter itself names.

Indicators come from the evidence only: the complainant's own Message-ID, address and
mail servers, and links to the complainant's own site, identify the reporter, not the
abuser. A mail with none of these is not guessed at: it raises UnknownReportFormat.
"""

import email
import re
from collections.abc import Iterator
from email.message import Message
from email.policy import compat32
from urllib.parse import urlsplit

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.errors import UnknownReportFormat
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# The complainant's words read for the category; the rest of a long letter adds nothing.
MAX_COMPLAINT_TEXT = 16 * 1024
MAX_QUOTED_HEADER_LINES = 200
MAX_QUOTED_BODY = 256 * 1024

_FORWARD_MARKER = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:Forwarded|Original) Message\s*-{2,}"
    r"|Begin forwarded message:"
    r"|-{2,}\s*Weitergeleitete Nachricht\s*-{2,}"
    r"|-{2,}\s*Message transféré\s*-{2,})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9-]{0,60}):[ \t]?(.*)$")
_QUOTE_PREFIX = re.compile(r"^(?:>[ \t]?)+")
# Header names that start a pasted header block without a marker: what people copy from
# "show original" (Received first) or what a mail client quotes (From first).
_PASTED_START = ("received", "return-path", "from", "delivered-to")
_PASTED_NEEDS = frozenset({"received", "message-id", "date", "subject", "dkim-signature"})
_RENAMED_HEADERS = {"sent": "Date"}
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)
_TAG = re.compile(r"<[^<>]{0,2000}>")

# What a complainant's words say about a forwarded message: the most specific wins.
_MESSAGE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"phish|credential|fake login|impersonat|password"), Category.PHISHING),
    (re.compile(r"malware|virus|trojan|ransomware|infected attachment"), Category.MALWARE),
    (re.compile(r"\bscam|fraud|advance fee"), Category.FRAUD),
)
# What a letter without a forwarded message is about: the first of these words it uses.
_NOTICE_WORDS: tuple[tuple[re.Pattern[str], str], ...] = (
    *_MESSAGE_WORDS,
    (re.compile(r"\bspam|unsolicited|junk mail"), Category.SPAM),
    (
        re.compile(r"botnet|botware|\bbots?\b|compromised|\binfected|hacked|\bdrone"),
        Category.COMPROMISED,
    ),
    (
        re.compile(r"attack|brute.?force|failed login|ddos|port ?scan|intrusion|\bbann?(?:ed)?\b"),
        Category.ATTACK,
    ),
    (re.compile(r"copyright|infring|dmca"), Category.COPYRIGHT),
    (
        re.compile(r"open (?:dns )?resolver|open relay|vulnerab|exposed service"),
        Category.VULNERABLE,
    ),
)


class FreeformParser:
    """Read any other email as one complaint; the last resort after the structured formats."""

    name = "freeform"

    def sniff(self, document: RawDocument) -> bool:
        """Accept anything that parses as an email message with a From or Subject."""
        message = document.message
        return message is not None and (
            message.get("From") is not None or message.get("Subject") is not None
        )

    def parse(self, document: RawDocument) -> ParsedReport:
        """Return one event about the forwarded message, or about what the letter names."""
        message = require_message(document)
        subject = mail.header(message, "Subject") or ""
        own_text = "\n".join(_own_texts(message))
        evidence, how, complaint = _evidence(message, own_text)
        complaint_words = f"{subject}\n{complaint[:MAX_COMPLAINT_TEXT]}".lower()
        if evidence is not None:
            indicators = mail.evidence_indicators(evidence)
            category = _first_category(complaint_words, _MESSAGE_WORDS, Category.SPAM)
            occurred_at = mail.date(evidence) or mail.date(message)
        else:
            indicators = _letter_indicators(message, subject, own_text)
            if not indicators:
                raise UnknownReportFormat(
                    "a free-form mail with no evidence: no forwarded message, IP address, "
                    "URL or phone number"
                )
            # A person writing about a link or number they were sent means spam unless
            # they say otherwise; a letter about hosts says what they did, or is "other".
            fallback = Category.OTHER if "source_ip" in indicators else Category.SPAM
            category = _earliest_category(subject.lower(), complaint_words, fallback)
            occurred_at = mail.date(message)
        details: dict[str, object] = {"evidence": how}
        if evidence is not None and (evidence_subject := mail.header(evidence, "Subject")):
            details["evidence_subject"] = evidence_subject[:300]
        if urls := indicators.get("url"):
            details["display_urls"] = [mail.defang(url) for url in urls]
        event = EventDraft(
            category=category,
            service=Service.EMAIL,
            occurred_at=occurred_at,
            reporter=mail.address_domain(mail.header(message, "From")),
            indicators=indicators,
            details=details,
        )
        return ParsedReport(report_format=self.name, events=(event,))


def _evidence(message: Message, own_text: str) -> tuple[Message | None, str, str]:
    """Return the evidence message, how it came (attached, inline, body) and the complaint text."""
    for part in message.walk():
        if part is not message and part.get_content_type() == "message/rfc822":
            attached = mail.embedded_message(part)
            if attached is not None:
                return attached, "attached", own_text
    found = quoted_message(own_text)
    if found is not None:
        quoted, before = found
        return quoted, "inline", before
    return None, "body", own_text


def _own_texts(message: Message) -> Iterator[str]:
    """Yield the text the complainant wrote: text parts outside attached messages.

    Plain text is preferred; HTML counts, with its tags removed, only when there is none.
    """
    plain: list[str] = []
    html: list[str] = []
    for part in _parts_outside_messages(message):
        if part.get_content_maintype() != "text" or _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        text = mail.decode_text(payload[: mail.URL_SCAN_LIMIT], part.get_content_charset())
        (html if part.get_content_subtype() == "html" else plain).append(text)
    yield from plain or [_TAG.sub(" ", text) for text in html]


def _is_attachment(part: Message) -> bool:
    """Tell whether a part is sent as an attachment rather than shown as the letter."""
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    return disposition == "attachment"


def _parts_outside_messages(message: Message) -> Iterator[Message]:
    """Yield the leaf parts of *message* without entering attached messages."""
    if message.is_multipart():
        if message.get_content_maintype() == "message":
            return
        for part in message.get_payload():
            if isinstance(part, Message):
                yield from _parts_outside_messages(part)
    else:
        yield message


def quoted_message(text: str) -> tuple[Message, str] | None:
    """Return the message quoted in *text* and the text before it, or None when none is.

    A forward marker followed by a header block, or a pasted header block that starts
    with Received, Return-Path, From or Delivered-To and has at least one of Received,
    Message-ID, Date, Subject or DKIM-Signature, counts as a quoted message.
    """
    lines = text.splitlines()
    marker = _FORWARD_MARKER.search(text)
    if marker is not None:
        start = text.count("\n", 0, marker.start()) + 1
        block = _header_block(lines, start, need=frozenset())
        if block is not None:
            return _message_from(block, lines), "\n".join(lines[: start - 1])
    index = 0
    while index < len(lines):
        match = _HEADER_LINE.match(_QUOTE_PREFIX.sub("", lines[index]))
        if match is None or match.group(1).lower() not in _PASTED_START:
            index += 1
            continue
        block = _header_block(lines, index, need=_PASTED_NEEDS)
        if block is not None:
            return _message_from(block, lines), "\n".join(lines[:index])
        # The lines of a rejected block are not tried again one by one: each line is read
        # a bounded number of times, however many header-like lines there are.
        index = max(index + 1, _block_end(lines, index))
    return None


def _block_end(lines: list[str], start: int) -> int:
    """Return the index of the first line after the header-like run starting at *start*."""
    index = start
    limit = min(len(lines), start + MAX_QUOTED_HEADER_LINES)
    while index < limit:
        line = _QUOTE_PREFIX.sub("", lines[index])
        if not line.strip() or not (line[:1] in (" ", "\t") or _HEADER_LINE.match(line)):
            break
        index += 1
    return index


def _header_block(
    lines: list[str], start: int, *, need: frozenset[str]
) -> tuple[list[tuple[str, str]], int] | None:
    """Return the header fields quoted from *start* on and where the body starts.

    Blank lines before the block are skipped; the block ends at the first blank line.
    None when the block has no From, or none of the names in *need* (when given).
    """
    index = start
    while index < len(lines) and not _QUOTE_PREFIX.sub("", lines[index]).strip():
        index += 1
    fields: list[tuple[str, str]] = []
    while index < len(lines) and len(fields) < MAX_QUOTED_HEADER_LINES:
        line = _QUOTE_PREFIX.sub("", lines[index])
        if not line.strip():
            break
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif (match := _HEADER_LINE.match(line)) is not None:
            fields.append((match.group(1), match.group(2).strip()))
        else:
            break
        index += 1
    names = {name.lower() for name, _ in fields}
    if "from" not in names or (need and not names & need):
        return None
    return fields, index


def _message_from(block: tuple[list[tuple[str, str]], int], lines: list[str]) -> Message:
    """Build the evidence message from quoted header fields and the lines after them."""
    fields, body_start = block
    message = email.message_from_string("", policy=compat32)
    for name, value in fields:
        proper = _RENAMED_HEADERS.get(name.lower(), name)
        # Mail clients quote dates as "Mon, 10 Mar 2025 at 22:01".
        is_date = proper.lower() == "date"
        message[proper] = value.replace(" at ", " ") if is_date else value
    body = "\n".join(_QUOTE_PREFIX.sub("", line) for line in lines[body_start:])
    message.set_payload(body[:MAX_QUOTED_BODY])
    return message


def _letter_indicators(message: Message, subject: str, text: str) -> dict[str, tuple[str, ...]]:
    """Return the IP addresses, URLs and phone numbers a letter names, leaving out its
    writer's own site and signature."""
    found: dict[str, tuple[str, ...]] = {}
    if addresses := mail.ip_addresses(f"{subject}\n{text}"):
        found["source_ip"] = tuple(addresses)
    own_sites = {
        mail.site_of(domain)
        for domain in (
            mail.address_domain(mail.header(message, "From")),
            mail.address_domain(mail.header(message, "Sender")),
            mail.address_domain(mail.header(message, "Reply-To")),
        )
        if domain
    }
    urls = [u for u in mail.text_urls(text) if mail.site_of(_host(u)) not in own_sites]
    if urls:
        found["url"] = tuple(dict.fromkeys(urls))[: mail.MAX_URLS]
    signature = _SIGNATURE.search(text)
    if phones := mail.phone_numbers(text[: signature.start()] if signature else text):
        found["phone_number"] = tuple(dict.fromkeys(phones))
    return found


def _host(url: str) -> str:
    """Return the lowercased host of a URL that ``mail.refang`` accepted ('' if none)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _first_category(
    text: str, words: tuple[tuple[re.Pattern[str], str], ...], fallback: str
) -> str:
    """Return the category of the first word list that matches *text*, else *fallback*."""
    return next((category for pattern, category in words if pattern.search(text)), fallback)


def _earliest_category(subject: str, text: str, fallback: str) -> str:
    """Return the category whose word comes first in the subject, else in the text."""
    for source in (subject, text):
        hits = [
            (match.start(), order, category)
            for order, (pattern, category) in enumerate(_NOTICE_WORDS)
            if (match := pattern.search(source)) is not None
        ]
        if hits:
            return min(hits)[2]
    return fallback
