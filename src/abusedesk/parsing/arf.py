"""ARF feedback-loop reports (RFC 5965, 6650, 6591, 6692) and the feedback loops that bend them.

A report gives one event. Parts are found by media type, never by position: the
feedback fields are the ``message/feedback-report`` part (or, in reports that have
none, ``Feedback-Type`` lines in the first text part), and the reported message is the
first ``message/rfc822`` or ``text/rfc822-headers`` part. Either may be missing; the
report is read from what is there.

Layouts besides RFC 5965 (``ParsedReport.kind`` names them):

``jmrp``
    Microsoft's Junk Mail Reporting Program: a ``multipart/mixed`` mail whose attached
    message carries ``X-HmXmrOriginalRecipient`` (the complainant), or the reported
    message itself with that header among its own. The source IP is in the subject
    (``complaint about message from 192.0.2.1``) or in the Received header Microsoft
    added on arrival.
``scomp``
    The pre-ARF AOL loop, marked ``X-Loop: scomp``, with the message attached.
``fields-in-first-part``
    No ``message/feedback-report`` part, but the feedback fields written into the first
    text part.
``abuse-report-text``
    A mail that is not a multipart/report but opens with the sentence feedback loops
    write (``This is an email abuse report for an email message ...``), or has their
    subject (``complaint about message from 192.0.2.1``, ``Email Feedback Report for IP
    192.0.2.1``), and attaches the message, as old Yahoo and AOL loops did.
``forwarded``
    A mail that attaches a feedback report (someone passing a report on): the attached
    report is read. A bounce that returns a report is a bounce, not a complaint.

Mail from ``MAILER-DAEMON`` or ``postmaster``, or holding a delivery-status part, is a
bounce: it is read as a feedback report only when it has a feedback part of its own,
never by the looser rules above.

The source IP is every ``Source-IP`` field; without one, the IP the report states in its
subject or first sentence (``received from IP 192.0.2.1``). The reported message's
Message-ID is the last one in the attached message's own header, never the report's. Complainants are nearly always redacted (``redacted@``,
``xxxxx@``, a bare ``Redacted-Address``): such addresses are not recipients; a real one
is kept only as a hash and its domain. ``not-spam`` is never a complaint: it gets the
``not_spam`` category. DMARC and other authentication failure reports (RFC 6591, RFC
9991) keep their fields in the event details, except the canonicalized header and body,
which quote the complainant's copy of the message, and are marked
``spoofed_suspect``: their From may name a spoofed brand.

The envelope sender is the reported message's Return-Path and every ``Original-Mail-From``.
The complainant is every real address in ``Original-Rcpt-To`` and ``Removal-Recipient``
(and JMRP's own header); without one, the reported message's To when it holds one address.
"""

import base64
import binascii
import email
import ipaddress
import quopri
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from email.message import Message
from email.policy import compat32
from itertools import islice
from typing import Any

from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.dsn import recipient_indicators, sole_addressee
from abusedesk.parsing.dsn import report_type as dsn_report_type
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_CATEGORY_BY_FEEDBACK_TYPE = {
    "abuse": Category.SPAM,
    "fraud": Category.FRAUD,
    "virus": Category.MALWARE,
    "auth-failure": Category.AUTH_FAILURE,
    "not-spam": Category.NOT_SPAM,
    "other": Category.OTHER,
}
_FEEDBACK_PART = "message/feedback-report"
_REPORTED_PART_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global",
    "message/global-headers",
)
_JMRP_HEADER = "X-HmXmrOriginalRecipient"
# The sentence RFC 5965's example report starts with, which most loops copy, and the
# subjects of the loops that have no feedback part.
_REPORT_SENTENCE = re.compile(
    r"\bthis is an? (?:[\w!.-]+ ){0,3}(?:email )?abuse report for an e-?mail message",
    re.IGNORECASE,
)
_SENTENCE_IP = re.compile(
    r"\breceived from (?:ip(?: address)? )?\[?([0-9a-f:.]{3,45})\]?", re.IGNORECASE
)
_SUBJECT_IP = re.compile(
    r"\b(?:complaint about message from|feedback report for ip)\s*\[?([0-9a-f:.]{3,45})",
    re.IGNORECASE,
)
_IP_START = re.compile(r"\[?(?:ipv6:)?([0-9a-f:.]{2,45})", re.IGNORECASE)
_BRACKETED_IP = re.compile(r"[\[(]([0-9a-f:.]{3,45})[\])]", re.IGNORECASE)
_FIELD_LINE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]{0,76})[ \t]*:(.*)")
_FEEDBACK_TYPE_LINE = re.compile(r"^feedback-type[ \t]*:", re.IGNORECASE | re.MULTILINE)
# Without an attached message, Feedback-Type alone could be a quote: RFC 5965 requires
# User-Agent and Version beside it.
_VERSION_LINE = re.compile(r"^(?:user-agent|version)[ \t]*:", re.IGNORECASE | re.MULTILINE)
_REDACTED_WORDS = re.compile(r"redact|undisclosed|anonymi[sz]|removed|hidden|masked")
_MASK_ONLY = re.compile(r"[x*#_.\-]+")
_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
# Bounds: a feedback part is a few dozen lines; real reports have a handful of parts.
_MAX_PARTS = 200
_MAX_FIELD_LINES = 1000
_MAX_VALUES = 20
_MAX_VALUE_LENGTH = 1000
_TEXT_SCAN = 8 * 1024
_EMBEDDED_LIMIT = 4 * 1024 * 1024
_MAX_INCIDENTS = 10_000_000
_COUNT = re.compile(r"[0-9]{1,9}")
# Fields of RFC 6591 and RFC 9991 kept in the details (snake_case names).
_AUTH_FAILURE_FIELDS = (
    "auth-failure",
    "delivery-result",
    "identity-alignment",
    "dkim-domain",
    "dkim-identity",
    "dkim-selector",
    "dkim-selector-dns",
    "dkim-adsp-dns",
    "spf-dns",
)
# Fields of RFC 5965 kept in the details, when present.
_REPORT_FIELDS = ("original-envelope-id", "reported-domain", "authentication-results")

Fields = dict[str, list[str]]


class ArfParser:
    """Read feedback-loop reports: RFC 5965 ARF and the non-standard loops listed above."""

    name = "arf"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a feedback report, standard or one of the known non-standard layouts."""
        message = document.message
        return message is not None and _layout(message) is not None

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read the feedback fields and the reported message into one event."""
        message = require_message(document)
        layout = _layout(message)
        if layout == "forwarded":
            forwarded = _forwarded_report(top_parts(message))
            if forwarded is not None:
                report = self._read(forwarded, _layout(forwarded, nested=True))
                return ParsedReport(
                    report_format=self.name,
                    events=report.events,
                    kind="forwarded",
                    warnings=report.warnings,
                )
        return self._read(message, layout)

    def _read(self, message: Message, layout: str | None) -> ParsedReport:
        """Read *message*, a feedback report in *layout*, into one event."""
        if layout is None or layout == "forwarded":
            raise MalformedReport("not a feedback report", reason="arf_not_a_report")
        parts = top_parts(message)
        feedback_part = _first_part(parts, (_FEEDBACK_PART,))
        warnings: list[str] = []
        fields: Fields = {}
        if feedback_part is not None:
            fields = parse_fields(_part_text(feedback_part))
        elif layout == "fields-in-first-part":
            fields = parse_fields(_first_text(parts))
        elif layout == "arf":
            raise MalformedReport(
                "no message/feedback-report part and no feedback fields",
                reason="arf_no_feedback_part",
            )
        reported = _reported_message(message, parts, layout)
        stated_type = _feedback_type(fields)
        if stated_type is None and layout in ("arf", "fields-in-first-part"):
            warnings.append("no Feedback-Type field; read as abuse")
        # Loops without feedback fields (JMRP, scomp) send nothing but spam complaints.
        feedback_type = stated_type or "abuse"
        indicators: dict[str, tuple[str, ...]] = (
            mail.message_indicators(reported) if reported is not None else {}
        )
        _add_message_id(indicators, fields)
        _add_envelope_sender(indicators, fields)
        _add_reported_urls(indicators, fields)
        ips, bad_ips = _source_ips(fields.get("source-ip", ()))
        warnings.extend(f"Source-IP {value!r} is not an IP address" for value in bad_ips)
        if not ips:
            ips = _fallback_source_ips(message, parts, reported, layout)
        if ips:
            indicators["source_ip"] = ips
        recipients, redacted = _recipients(message, fields, reported, layout)
        for address in recipients:
            for kind, values in recipient_indicators(address).items():
                _extend(indicators, kind, values)
        reporter = _reporter(message, fields, recipients, layout)
        event = EventDraft(
            category=feedback_category(feedback_type),
            service=Service.EMAIL,
            occurred_at=_occurred_at(message, fields, reported),
            reporter=_clean(reporter) if reporter else None,
            # Headers of the reported message may hold raw 8-bit bytes or NULs.
            indicators={
                kind: tuple(dict.fromkeys(_clean(value) for value in values))
                for kind, values in indicators.items()
            },
            details=_details(feedback_type, fields, redacted),
        )
        return ParsedReport(
            report_format=self.name,
            events=(event,),
            kind=None if layout == "arf" else layout,
            warnings=tuple(warnings),
        )


def feedback_category(feedback_type: str) -> str:
    """Return the category of an ARF ``Feedback-Type`` (lowercased); ``other`` when unknown."""
    return _CATEGORY_BY_FEEDBACK_TYPE.get(feedback_type, Category.OTHER)


def top_parts(message: Message) -> list[Message]:
    """Return the message and its MIME parts, not looking inside attached messages.

    A feedback report's parts sit in its own multipart tree; a report quoted inside an
    attached message (a bounce of a report, a forwarded report) is not this report.
    """
    found: list[Message] = []
    stack = [message]
    while stack and len(found) < _MAX_PARTS:
        part = stack.pop()
        found.append(part)
        if part.get_content_maintype() == "multipart":
            payload = mail.undecoded_payload(part)
            if isinstance(payload, list):
                stack.extend(reversed([p for p in payload if isinstance(p, Message)]))
    return found


def parse_fields(text: str) -> Fields:
    """Return the ``Name: value`` fields of *text* by lowercased name, every value kept.

    Folded lines join their field; lines that are not fields end the field before them.
    """
    fields: Fields = {}
    name: str | None = None
    for count, line in enumerate(text.splitlines()):
        if count >= _MAX_FIELD_LINES:
            break
        if line[:1] in (" ", "\t") and name is not None:
            values = fields[name]
            values[-1] = _clip(f"{values[-1]} {line.strip()}")
            continue
        match = _FIELD_LINE.fullmatch(line.rstrip())
        if match is None:
            name = None
            continue
        name = match.group(1).lower()
        values = fields.setdefault(name, [])
        if len(values) < _MAX_VALUES:
            values.append(_clip(match.group(2).strip()))
        else:
            name = None
    return fields


def is_redacted(value: str) -> bool:
    """Tell whether a recipient field holds a redacted address rather than a real one.

    ``redacted``, ``redacted@``, ``xxxxx@example.net``, ``undisclosed recipient
    <redacted@example.net>`` and values without a full address are all redacted.
    """
    _, address = mail.parse_address(value)
    address = (address or value).strip().strip("<>").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain.strip("."):
        return True
    lowered = local.lower()
    return bool(_MASK_ONLY.fullmatch(lowered) or _REDACTED_WORDS.search(value.lower()))


def _layout(message: Message, *, nested: bool = False) -> str | None:
    """Return which feedback layout *message* has, or None when it is no feedback report.

    A multipart/report that says it is a feedback report is one even when its feedback
    part is missing; the parse then looks for the fields elsewhere. A mail that only
    forwards a report as an attached message is ``forwarded`` (one level, not *nested*).
    """
    content_type = message.get_content_type()
    report_type = dsn_report_type(message)
    declared = content_type == "multipart/report" and report_type == "feedback-report"
    if content_type == "multipart/report" and report_type and not declared:
        # Another kind of report (a bounce, a disposition notice) is not a complaint,
        # even when the message it returns was one.
        return None
    parts = top_parts(message)
    if _first_part(parts, (_FEEDBACK_PART,)) is not None:
        return "arf"
    if not declared and _looks_like_bounce(message, parts):
        return None
    legacy = _legacy_layout(message, parts, declared)
    if legacy is not None:
        return legacy
    if declared:
        return "arf"
    if not nested and _forwarded_report(parts) is not None:
        return "forwarded"
    return None


def _forwarded_report(parts: list[Message]) -> Message | None:
    """Return the first attached message that is itself a feedback report, or None."""
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = embedded_message(part)
            if inner is not None and _layout(inner, nested=True) is not None:
                return inner
    return None


def _legacy_layout(message: Message, parts: list[Message], declared: bool) -> str | None:
    """Return the non-standard layout of a report without a feedback part, if it has one."""
    if _jmrp_message(message, parts) is not None:
        return "jmrp"
    attached = _first_part(parts, _REPORTED_PART_TYPES) is not None
    if attached and "scomp" in (mail.header(message, "X-Loop") or "").lower():
        return "scomp"
    first_text = _first_text(parts)
    if _FEEDBACK_TYPE_LINE.search(first_text) and (
        attached or declared or _VERSION_LINE.search(first_text)
    ):
        return "fields-in-first-part"
    subject = mail.header(message, "Subject") or ""
    if attached and (_REPORT_SENTENCE.search(first_text) or _SUBJECT_IP.search(subject)):
        return "abuse-report-text"
    return None


def _looks_like_bounce(message: Message, parts: list[Message]) -> bool:
    """Tell whether *message* is a bounce: sent by a mailer-daemon, or holding a status part."""
    sender = mail.header(message, "From") or ""
    local = mail.parse_address(sender)[1].partition("@")[0].lower()
    if local in _BOUNCE_SENDERS:
        return True
    return any(p.get_content_type().endswith("delivery-status") for p in parts)


def _jmrp_message(message: Message, parts: list[Message]) -> Message | None:
    """Return the message that carries Microsoft's JMRP header, or None."""
    if message.get(_JMRP_HEADER) is not None:
        return _from_marker(message)
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = embedded_message(part)
            if inner is not None and inner.get(_JMRP_HEADER) is not None:
                return inner
    return None


def _from_marker(message: Message) -> Message:
    """Return the reported message of an inline JMRP report: the headers from the marker on.

    Headers above ``X-HmXmrOriginalRecipient`` (Return-Path, Received) are those of the
    report's own delivery, not the reported message's; MIME headers are kept wherever
    they are.
    """
    reported = Message()
    seen_marker = False
    for name, value in _headers(message):
        seen_marker = seen_marker or name.lower() == _JMRP_HEADER.lower()
        if seen_marker or name.lower().startswith(("content-", "mime-version")):
            reported[name] = value
    payload = mail.undecoded_payload(message)
    if isinstance(payload, str):
        reported.set_payload(payload)
    elif payload is not None:
        reported.set_payload(list(payload))
    return reported


def _first_part(parts: list[Message], types: tuple[str, ...]) -> Message | None:
    """Return the first of *parts* whose media type is one of *types*."""
    for part in parts:
        if part.get_content_type() in types:
            return part
    return None


def _first_text(parts: list[Message]) -> str:
    """Return the start of the first text part (the human-readable part of a report)."""
    for part in parts:
        if part.get_content_maintype() == "text" and part.get_content_type() not in (
            _REPORTED_PART_TYPES
        ):
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload[:_TEXT_SCAN].decode("utf-8", "replace")
            return ""
    return ""


def _part_text(part: Message) -> str:
    """Return the text of a ``message/*`` part as written, decoding its transfer encoding."""
    payload = mail.undecoded_payload(part)
    if isinstance(payload, list):
        # The email package reads message/* parts as sub-messages: the fields become
        # their headers, and anything after a blank line their body.
        lines: list[str] = []
        for item in payload:
            if not isinstance(item, Message):
                continue
            lines.extend(f"{name}: {value}" for name, value in _headers(item))
            body = mail.undecoded_payload(item)
            if isinstance(body, str):
                lines.append(body)
        text = "\n".join(lines)
    else:
        text = str(payload)
    return _decode_transfer(text, part)


def _decode_transfer(text: str, part: Message) -> str:
    """Undo the part's base64 or quoted-printable transfer encoding, if it has one."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    raw = text.encode("ascii", "replace")
    try:
        if encoding == "base64":
            return base64.b64decode(raw).decode("utf-8", "replace")
        if encoding == "quoted-printable":
            return quopri.decodestring(raw).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text
    return text


def embedded_message(part: Message) -> Message | None:
    """Return the message inside a ``message/rfc822`` or ``text/rfc822-headers`` part.

    Mailbox copies put a ``From `` or ``>From `` line before the headers, and some
    reporters encode the part in base64: both are undone before reading the headers.
    """
    payload = mail.undecoded_payload(part)
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if isinstance(payload, list):
        inner = payload[0] if payload else None
        if not isinstance(inner, Message):
            return None
        if inner.keys() and encoding not in ("base64", "quoted-printable"):
            return inner
        # No header was read: the part starts with something else; read it again.
        body = mail.undecoded_payload(inner)
        if not isinstance(body, str):
            return inner
        text = _part_text(part)
    elif isinstance(payload, str):
        text = _decode_transfer(payload, part)
    else:
        return None
    return _message_from_text(text)


def _message_from_text(text: str) -> Message | None:
    """Parse message text, skipping blank and mailbox ``From `` lines before the headers."""
    lines = text[:_EMBEDDED_LIMIT].lstrip("\r\n").splitlines(keepends=True)
    start = 0
    while start < min(len(lines), 5) and (
        not lines[start].strip() or lines[start].startswith(("From ", ">From "))
    ):
        start += 1
    try:
        return email.message_from_string("".join(lines[start:]), policy=compat32)
    except RecursionError:
        # Headers-only parts hold text a reporter wrote; nested deep enough, the
        # email package exhausts the stack. Such a part has no usable headers.
        return None


def _reported_message(message: Message, parts: list[Message], layout: str) -> Message | None:
    """Return the reported message of a report in *layout*, or None when it is missing."""
    if layout == "jmrp":
        return _jmrp_message(message, parts)
    part = _first_part(parts, _REPORTED_PART_TYPES)
    return embedded_message(part) if part is not None else None


def _feedback_type(fields: Fields) -> str | None:
    """Return the lowercased first word of the Feedback-Type field, or None."""
    for value in fields.get("feedback-type", ()):
        words = value.split(";")[0].split()
        if words:
            return words[0].lower().replace("_", "-")
    return None


def _add_message_id(indicators: dict[str, tuple[str, ...]], fields: Fields) -> None:
    """Fall back on the report's copy of the Message-ID when no message is attached."""
    if "message_id" in indicators:
        return
    for name in ("original-message-id", "message-id"):
        for value in fields.get(name, ()):
            found = re.findall(r"<([^<>\s]{1,900})>", value)
            candidate = found[-1] if found else value.strip("<> ")
            if candidate and " " not in candidate:
                indicators["message_id"] = (candidate,)
                return


def _add_envelope_sender(indicators: dict[str, tuple[str, ...]], fields: Fields) -> None:
    """Add Original-Mail-From (the envelope sender) and its domain to the indicators."""
    for value in fields.get("original-mail-from", ()):
        mail.add_envelope_sender(indicators, value)


def _reported_web_uris(fields: Fields) -> tuple[str, ...]:
    """Return the http(s) Reported-URI values, in order, without repeats.

    Other schemes are left out: a ``mailto:`` Reported-URI often names the complainant.
    """
    return tuple(
        dict.fromkeys(
            value.strip("<> ")
            for value in fields.get("reported-uri", ())
            if value.lower().strip("<> ").startswith(("http://", "https://"))
        )
    )


def _add_reported_urls(indicators: dict[str, tuple[str, ...]], fields: Fields) -> None:
    """Put the web addresses the reporter named first among the message's URLs."""
    named = _reported_web_uris(fields)
    if named:
        indicators["url"] = tuple(dict.fromkeys(named + indicators.get("url", ())))


def _source_ips(values: Iterable[str]) -> tuple[tuple[str, ...], list[str]]:
    """Return the valid addresses among Source-IP values, and the values that are not."""
    good: dict[str, None] = {}
    bad: list[str] = []
    for value in values:
        address = _ip(value)
        if address is None:
            bad.append(value[:100])
        else:
            good.setdefault(address, None)
    return tuple(good), bad


def _ip(value: str) -> str | None:
    """Return the IP address a field value starts with (``[192.0.2.1]``, ``192.0.2.1:25``)."""
    match = _IP_START.match(value.strip())
    if match is None:
        return None
    text = match.group(1)
    if text.count(":") == 1 and "." in text:
        # An IPv4 address with its port.
        text = text.partition(":")[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _fallback_source_ips(
    message: Message, parts: list[Message], reported: Message | None, layout: str
) -> tuple[str, ...]:
    """Return the source IP a report states outside a Source-IP field, if it states one."""
    stated = (
        _SUBJECT_IP.search(mail.header(message, "Subject") or ""),
        _SENTENCE_IP.search(_first_text(parts)),
    )
    for match in stated:
        if match and (address := _ip(match.group(1).rstrip("."))):
            return (address,)
    # Microsoft adds its own Received header right after the JMRP headers: its ``from``
    # clause names the host that delivered the message.
    if layout == "jmrp" and reported is not None and (address := _arrival_ip(reported)):
        return (address,)
    return ()


def _arrival_ip(reported: Message) -> str | None:
    """Return the IP in the ``from`` clause of the first Received header after the JMRP one."""
    seen_marker = False
    for name, value in _headers(reported):
        lowered = name.lower()
        if lowered == _JMRP_HEADER.lower():
            seen_marker = True
        elif lowered == "received" and seen_marker:
            clause = str(value).split(" by ", 1)[0]
            for candidate in _BRACKETED_IP.findall(clause):
                if address := _ip(candidate):
                    return address
            return None
    return None


def _recipients(
    message: Message, fields: Fields, reported: Message | None, layout: str
) -> tuple[list[str], bool]:
    """Return the complainants' real addresses, and whether any was redacted.

    Original-Rcpt-To and Removal-Recipient name them (and JMRP's own header); without a
    real address there, the reported message's To does when it holds one address.
    """
    values = list(fields.get("original-rcpt-to", ())) + list(fields.get("removal-recipient", ()))
    if layout == "jmrp" and reported is not None:
        values.extend(str(v) for v in reported.get_all(_JMRP_HEADER) or ())
    redacted = "redacted-address" in fields
    addresses: dict[str, None] = {}
    for value in values:
        if is_redacted(value):
            redacted = True
            continue
        address = mail.parse_address(value)[1] or value.strip("<> ")
        addresses.setdefault(address.lower(), None)
    if not addresses and reported is not None and (addressee := _sole_addressee(reported)):
        addresses[addressee] = None
    return list(addresses), redacted


def _sole_addressee(reported: Message) -> str | None:
    """Return the reported message's one To address when it has exactly one, unredacted."""
    found = sole_addressee(reported)
    return None if found is None or is_redacted(found) else mail.address_of(found)


def _occurred_at(message: Message, fields: Fields, reported: Message | None) -> datetime | None:
    """Return when the message arrived: Arrival-Date or Received-Date, else a Date header."""
    for name in ("arrival-date", "received-date"):
        for value in fields.get(name, ()):
            if moment := mail.parse_date(value):
                return moment
    if reported is not None and (moment := mail.date(reported)):
        return moment
    return mail.date(message)


def _reporter(message: Message, fields: Fields, recipients: list[str], layout: str) -> str | None:
    """Return who sent the report: the Reporting-MTA host, else a domain of the report."""
    for value in fields.get("reporting-mta", ()):
        if name := mail.mta_name(value):
            return name
    if layout == "jmrp" and message.get(_JMRP_HEADER) is not None:
        # The report is the reported message itself: its From is the sender, not the
        # mailbox provider; the complainant's domain names the provider.
        return recipients[0].rpartition("@")[2] if recipients else None
    return mail.address_domain(mail.header(message, "From"))


def _details(feedback_type: str, fields: Fields, redacted: bool) -> dict[str, Any]:
    """Return the event details: feedback type, counts, and the fields worth keeping."""
    details: dict[str, Any] = {
        "feedback_type": feedback_type,
        "user_agent": _first(fields, "user-agent"),
    }
    if incidents := _incidents(fields):
        details["incidents"] = incidents
    ports = [v for v in (_port(value) for value in fields.get("source-port", ())) if v]
    if ports:
        details["source_port"] = ports
    if uris := _reported_web_uris(fields):
        details["reported_uri"] = list(uris)
    for name in _REPORT_FIELDS + _AUTH_FAILURE_FIELDS:
        values = [value for value in fields.get(name, ()) if value]
        if values:
            key = name.replace("-", "_")
            details[key] = values[0] if len(values) == 1 else list(values)
    if redacted:
        details["recipients_redacted"] = True
    if feedback_type == "auth-failure":
        # The reported message failed authentication: its From may be a brand someone
        # else spoofed, so its sender domains are weak evidence of who sent it.
        details["spoofed_suspect"] = True
    return details


def _incidents(fields: Fields) -> int | None:
    """Return the ``Incidents`` count when it is a positive number below the bound."""
    value = (_first(fields, "incidents") or "").strip()
    if not _COUNT.fullmatch(value):
        return None
    count = int(value)
    return count if 0 < count <= _MAX_INCIDENTS else None


def _port(value: str) -> int | None:
    """Return a ``Source-Port`` value as a port number, or None."""
    text = value.strip()
    if not _COUNT.fullmatch(text) or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65536 else None


def _headers(message: Message) -> Iterator[tuple[str, str]]:
    """Yield the first header fields of *message* as written, up to the bound on lines."""
    for name, value in islice(message.raw_items(), _MAX_FIELD_LINES):
        yield name, str(value)


def _first(fields: Fields, name: str) -> str | None:
    """Return the first value of field *name*, or None."""
    values = fields.get(name)
    return values[0] if values else None


def _extend(indicators: dict[str, tuple[str, ...]], kind: str, values: tuple[str, ...]) -> None:
    """Append *values* to indicator *kind*, keeping order and dropping repeats."""
    indicators[kind] = tuple(dict.fromkeys(indicators.get(kind, ()) + values))


def _clip(value: str) -> str:
    """Return *value* as storable text, cut to the longest field value kept."""
    return _clean(value[: _MAX_VALUE_LENGTH * 2])[:_MAX_VALUE_LENGTH]


def _clean(value: str) -> str:
    """Return *value* as storable text: no lone surrogates, no NULs."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
