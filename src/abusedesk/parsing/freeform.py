"""Free-form complaints: a person's email or a notifier's letter, in no structured format.

The evidence is, in order of preference:

- a forwarded message attached as ``message/rfc822`` (or as an ``.eml`` file of another
  type);
- a message forwarded inline (``---------- Forwarded message ---------``, ``Begin
  forwarded message:``, ``-----Original Message-----``) or its headers pasted into the
  body: the quoted headers are read as the evidence message;
- failing both, the IP addresses, URLs and phone numbers the letter itself names.

Indicators come from the evidence only: the complainant's own Message-ID, address and
mail servers, and links to the complainant's own site, identify the reporter, not the
abuser. A mail with none of these is not guessed at: it raises UnknownReportFormat. The
one exception is ``complainant_hash``, the hash of the letter's own From address: people
complain about what reached them, so the writer is often a recipient of the send log.
The evidence's To, when it holds one address, gives ``recipient_hash`` and
``recipient_domain``.

Forwards arrive mangled, and are read as a person sees them: HTML letters by their line
breaks, quoted header names in bold (``*From:*``), addresses echoed as links
(``a@b<mailto:a@b>``, Outlook's ``Name [mailto:a@b]``), fields a mail client wrapped onto
lines of their own (a Message-ID cut in two), dates in a client's words (``Monday, March
10, 2025 10:01 PM``, read in the complaint's own time zone). A forward of a forward is
followed to the message inside only when it came from the complainant's own site (a
colleague passing it on): a scam's fake quoted chain is the scammer's text. A message
that reached its reader through a forwarder or a mailing list gives no source IP (the
newest outside hop is the forwarder's), and a list's rewritten From (``"Name via List"``)
gives way to the ``X-Original-From`` the list kept.
"""

import email
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from email.message import Message
from email.policy import compat32
from email.utils import format_datetime, parsedate_tz
from urllib.parse import urlsplit

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing import mail
from abusedesk.parsing.arf import embedded_message
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.dsn import recipient_indicators, sole_addressee
from abusedesk.parsing.errors import UnknownReportFormat
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

# The complainant's words read for the category; the rest of a long letter adds nothing.
MAX_COMPLAINT_TEXT = 16 * 1024
MAX_QUOTED_HEADER_LINES = 200
MAX_QUOTED_BODY = 256 * 1024
# MIME structure deeper than this is not walked: real letters nest two or three levels.
_MAX_DEPTH = 20

_FORWARD_MARKER = re.compile(
    r"^[ \t>]*(?:-{2,}\s*(?:Forwarded|Original) Message\s*-{2,}"
    r"|Begin forwarded message:"
    r"|-{2,}\s*Weitergeleitete Nachricht\s*-{2,}"
    r"|-{2,}\s*Message transféré\s*-{2,})[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
# A header line as quoted: HTML forwards turned into text bold the name (``*From:*``).
_HEADER_LINE = re.compile(r"^\*{0,2}([A-Za-z][A-Za-z0-9-]{0,60})(?:\*{0,2}:|:\*{0,2})[ \t]?(.*)$")
_QUOTE_PREFIX = re.compile(r"^(?:>[ \t]?)+")
# Header names that start a pasted header block without a marker: what people copy from
# "show original" (Received first) or what a mail client quotes (From first).
_PASTED_START = ("received", "return-path", "from", "delivered-to", "von")
_PASTED_NEEDS = frozenset({"received", "message-id", "date", "subject", "dkim-signature"})
# The names mail clients quote instead of the headers' own (Outlook's ``Sent:``, German
# and French clients' names).
_RENAMED_HEADERS = {
    "sent": "Date",
    "von": "From",
    "gesendet": "Date",
    "datum": "Date",
    "an": "To",
    "betreff": "Subject",
    "de": "From",
    "objet": "Subject",
}
# Fields whose value a mail client may re-wrap onto lines of their own when quoting.
_WRAPPED_FIELDS = frozenset({"from", "to", "cc", "subject", "date", "message-id", "reply-to"})
_MAX_WRAPPED_LINE = 200
# Addresses that HTML forwards turned into text echo as links: ``a@b<mailto:a@b>`` and
# Outlook's ``Name [mailto:a@b]``.
_MAILTO_ECHO = re.compile(r"([^\s<>\[\]]{1,254})\s?<mailto:\1>", re.IGNORECASE)
_MAILTO_BRACKETS = re.compile(r"\[mailto:([^\s\[\]<>]+)\]", re.IGNORECASE)
_FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|doorst)\s*:", re.IGNORECASE)
_AM_PM = re.compile(r"\b[ap]\.?m\.?$", re.IGNORECASE)
# How mail clients write a quoted date: Outlook's ``Monday, March 10, 2025 10:01 PM``,
# Gmail's ``Mon, Mar 10, 2025 at 10:01 PM``, ``Monday, 10 March 2025 22:01``.
_CLIENT_DATE_FORMATS = tuple(
    f"{day} {time}"
    for day in ("%A %B %d %Y", "%a %b %d %Y", "%A %d %B %Y", "%a %d %b %Y", "%B %d %Y", "%d %B %Y")
    for time in ("%I:%M %p", "%I:%M:%S %p", "%H:%M", "%H:%M:%S")
)
_MAX_DATE_LENGTH = 100
# A date that states its zone (``+0000``, ``GMT``, ``EST``, maybe with a comment after it).
_DATE_ZONE = re.compile(
    r"(?:[+-]\d{4}|\b(?:UTC?|GMT|[ECMP][SD]T|Z))\s*(?:\([^()]{0,60}\))?$", re.IGNORECASE
)
# Forwards of forwards are followed this deep, no further.
MAX_FORWARD_DEPTH = 3
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)

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
            # A list's copy is addressed to the list, not to the person who got it.
            if not mail.rewritten_by_list(evidence) and (addressee := sole_addressee(evidence)):
                indicators.update(recipient_indicators(addressee))
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
        if complainant := _complainant(message):
            # People complain about what reached them: the writer is often the recipient.
            indicators["complainant_hash"] = (sha256_hex(complainant.encode("utf-8", "replace")),)
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
    writer = mail.address_of(mail.header(message, "From"))
    zone = _zone_of(message)
    attached = _attached_message(message)
    if attached is not None:
        return _innermost(attached, writer, zone), "attached", own_text
    found = quoted_message(own_text, zone)
    if found is not None:
        quoted, before = found
        return _innermost(quoted, writer, zone), "inline", before
    return None, "body", own_text


def _complainant(message: Message) -> str | None:
    """Return the address of the person who wrote the complaint, lowercased.

    A complaint passed on by a mailing list (a company's abuse alias run as a group)
    names the list in From; the list keeps the writer in ``X-Original-From`` (Google
    Groups) or Reply-To (Mailman's DMARC mitigation).
    """
    if not mail.rewritten_by_list(message):
        return mail.address_of(mail.header(message, "From"))
    for name in ("X-Original-From", "Reply-To"):
        values = [str(value) for value in message.get_all(name) or ()]
        found = [address for _, address in mail.parse_addresses(values) if "@" in address]
        if len(found) == 1:
            return mail.address_of(found[0])
    return None


def _attached_message(message: Message) -> Message | None:
    """Return the first message attached to *message*: a ``message/rfc822`` part, or an
    ``.eml`` file sent under another type (``application/octet-stream``)."""
    for part in _parts_outside_messages(message, include_messages=True):
        if part is message:
            continue
        if part.get_content_type() == "message/rfc822":
            attached = embedded_message(part)
        elif mail.filename(part).lower().endswith(".eml"):
            attached = _eml_file(part)
        else:
            continue
        if attached is not None and attached.get("From") is not None:
            return attached
    return None


def _eml_file(part: Message) -> Message | None:
    """Return the message an ``.eml`` attachment holds, if it holds one."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes) or not payload:
        return None
    try:
        return email.message_from_bytes(payload[:MAX_QUOTED_BODY], policy=compat32)
    except RecursionError:
        return None


def _innermost(evidence: Message, writer: str | None, zone: tzinfo) -> Message:
    """Return the message *evidence* passes on when it is itself a forward within the
    complainant's own organisation (a colleague who forwarded the spam to them), else
    *evidence*.

    Only a forward from the writer's own site is followed: a scam's fake quoted chain
    (``FW: invoice``, then ``-----Original Message----- From: your CEO``) comes from
    outside, and its quoted headers are the scammer's invention.
    """
    site = mail.site_of(writer.rpartition("@")[2]) if writer else None
    for _ in range(MAX_FORWARD_DEPTH):
        author = mail.address_of(mail.header(evidence, "From"))
        if site is None or author is None or mail.site_of(author.rpartition("@")[2]) != site:
            return evidence
        inner = _attached_message(evidence)
        if inner is None:
            found = quoted_message("\n".join(_own_texts(evidence)), zone, markers_only=True)
            inner = found[0] if found is not None else None
        if inner is None:
            return evidence
        evidence = inner
    return evidence


def _zone_of(message: Message) -> tzinfo:
    """Return the time zone of the complaint's Date (UTC without one): the complainant's
    mail client writes quoted dates in it, without saying so."""
    value = mail.header(message, "Date")
    parsed = parsedate_tz(value) if value else None
    if parsed is None or parsed[9] is None:
        return UTC
    return timezone(timedelta(seconds=parsed[9]))


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
    yield from plain or [_html_lines(text) for text in html]


def _html_lines(markup: str) -> str:
    """Return an HTML letter as the lines a reader sees, each stripped.

    Line ends in the markup are only spaces; the tags (``<br>``, ``</div>``) lay out the
    lines, and so the quoted header block.
    """
    text = mail.html_text(" ".join(markup.splitlines()))
    return "\n".join(line.strip() for line in text.splitlines())


def _is_attachment(part: Message) -> bool:
    """Tell whether a part is sent as an attachment rather than shown as the letter."""
    disposition = str(part.get("Content-Disposition", "")).split(";", 1)[0].strip().lower()
    return disposition == "attachment"


def _parts_outside_messages(
    message: Message, *, include_messages: bool = False, depth: int = 0
) -> Iterator[Message]:
    """Yield the leaf parts of *message* without entering attached messages (which are
    yielded themselves when *include_messages*)."""
    if message.is_multipart():
        if message.get_content_maintype() == "message":
            if include_messages:
                yield message
            return
        if depth >= _MAX_DEPTH:
            return
        for part in message.get_payload():
            if isinstance(part, Message):
                yield from _parts_outside_messages(
                    part, include_messages=include_messages, depth=depth + 1
                )
    else:
        yield message


def quoted_message(
    text: str, zone: tzinfo = UTC, *, markers_only: bool = False
) -> tuple[Message, str] | None:
    """Return the message quoted in *text* and the text before it, or None when none is.

    A forward marker followed by a header block, or (unless *markers_only*) a pasted
    header block that starts with Received, Return-Path, From or Delivered-To and has at
    least one of Received, Message-ID, Date, Subject or DKIM-Signature, counts as a
    quoted message. A quoted date without a zone is read in *zone*.
    """
    lines = text.splitlines()
    marker = _FORWARD_MARKER.search(text)
    if marker is not None:
        start = text.count("\n", 0, marker.start()) + 1
        block = _header_block(lines, start, need=frozenset())
        if block is not None:
            return _message_from(block, lines, zone), "\n".join(lines[: start - 1])
    if markers_only:
        return None
    index = 0
    while index < len(lines):
        match = _HEADER_LINE.match(_QUOTE_PREFIX.sub("", lines[index]))
        if match is None or match.group(1).lower() not in _PASTED_START:
            index += 1
            continue
        block = _header_block(lines, index, need=_PASTED_NEEDS)
        if block is not None:
            return _message_from(block, lines, zone), "\n".join(lines[:index])
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
            name = _RENAMED_HEADERS.get(match.group(1).lower(), match.group(1))
            fields.append((name, match.group(2).strip()))
        elif fields and _rewrapped(fields[-1], line, lines[index + 1 : index + 2]):
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        else:
            break
        index += 1
    names = {name.lower() for name, _ in fields}
    if "from" not in names or (need and not names & need):
        return None
    return fields, index


def _rewrapped(field: tuple[str, str], line: str, after: list[str]) -> bool:
    """Tell whether *line*, which is no header line, is the rest of *field* that a mail
    client wrapped onto a line of its own: the field's angle bracket is still open, or
    the next line is a header line again."""
    name, value = field
    if name.lower() not in _WRAPPED_FIELDS or len(line) > _MAX_WRAPPED_LINE:
        return False
    if value.count("<") > value.count(">"):
        return True
    return bool(after) and _HEADER_LINE.match(_QUOTE_PREFIX.sub("", after[0])) is not None


def _message_from(
    block: tuple[list[tuple[str, str]], int], lines: list[str], zone: tzinfo
) -> Message:
    """Build the evidence message from quoted header fields and the lines after them."""
    fields, body_start = block
    message = email.message_from_string("", policy=compat32)
    for name, quoted in fields:
        value = _MAILTO_BRACKETS.sub(r"<\1>", _MAILTO_ECHO.sub(r"\1", quoted))
        message[name] = quoted_date(value, zone) if name.lower() == "date" else value
    body = "\n".join(_QUOTE_PREFIX.sub("", line) for line in lines[body_start:])
    message.set_payload(body[:MAX_QUOTED_BODY])
    return message


def quoted_date(value: str, zone: tzinfo = UTC) -> str:
    """Return a quoted Date value in RFC 5322 form when a mail client rewrote it.

    ``Mon, 10 Mar 2025 22:01:00 +0000`` stays as it is; ``Monday, March 10, 2025 10:01
    PM`` (Outlook) and ``Mon, Mar 10, 2025 at 10:01 PM`` (Gmail) are read in *zone*.
    A value read neither way is returned unchanged.
    """
    if len(value) > _MAX_DATE_LENGTH:
        return value
    stripped = value.strip()
    if _DATE_ZONE.search(stripped) and not _AM_PM.search(stripped):
        return value
    words = " ".join(value.replace(",", " ").replace(" at ", " ").split())
    words = _AM_PM.sub(lambda m: m.group().replace(".", "").upper(), words)
    for layout in _CLIENT_DATE_FORMATS:
        try:
            # The quoted date has no zone; it is given *zone* just below.
            moment = datetime.strptime(words, layout)  # noqa: DTZ007
        except ValueError:
            continue
        return format_datetime(moment.replace(tzinfo=zone))
    return value.replace(" at ", " ")


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
