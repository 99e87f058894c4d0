"""Delivery status notifications (RFC 3464): one bounce event per failed recipient.

Only recipients whose ``Action`` is ``failed`` become events (or, when a non-standard
report leaves out ``Action``, whose ``Status`` is a permanent 5.x.x failure). A
``delayed`` recipient is still being retried and ``delivered``, ``relayed`` and
``expanded`` are successes: none of them is a bounce, so a report holding only those
parses to zero events rather than inflating bounce counts.

The recipient's address is kept only as a SHA-256 hash of its lowercased form plus its
domain: enough to match a suppression list or count bounces per domain without storing
who the recipient was.
"""

import base64
import binascii
import quopri
import re
from collections.abc import Iterator
from datetime import datetime
from email.message import Message
from email.utils import collapse_rfc2231_value, parseaddr

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing import mail
from abusedesk.parsing.document import RawDocument, require_message
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service

_REPORT_TYPES = ("delivery-status", "global-delivery-status")
_STATUS_PART_TYPES = ("message/delivery-status", "message/global-delivery-status")
_RETURNED_PART_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/global",
    "message/global-headers",
)
_STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY_CODE = re.compile(r"\b([245])\d\d\b")
# A status part is small; past this it is not a DSN but an attack or a mistake.
_STATUS_PART_LIMIT = 1024 * 1024
# Structure deeper than this is not walked: real reports nest two or three levels.
_MAX_DEPTH = 20
_DIAGNOSTIC_LIMIT = 1000


class DsnParser:
    """Read ``multipart/report; report-type=delivery-status`` messages."""

    name = "dsn"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a delivery-status report, by report-type or by its status part."""
        message = document.message
        if message is None:
            return False
        if message.get_content_type() == "multipart/report":
            return report_type(message) in _REPORT_TYPES
        return _status_part(message) is not None

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read the per-recipient blocks into one bounce event per failed recipient."""
        message = require_message(document)
        part = _status_part(message)
        if part is None:
            raise MalformedReport("no message/delivery-status part", reason="dsn_no_status_part")
        blocks = _field_blocks(part)
        per_message = blocks[0] if blocks else {}
        # The per-message block comes first, but some MTAs run it into the first
        # recipient's block or leave it out: any block with recipient fields is one.
        recipients = [block for block in blocks if _is_recipient_block(block)]
        if not recipients:
            raise MalformedReport(
                "the delivery-status part names no recipient", reason="dsn_no_recipients"
            )
        returned = _returned_message(message)
        original = mail.message_indicators(returned) if returned is not None else {}
        reporting_mta = mail.mta_name(per_message.get("reporting-mta"))
        reporter = reporting_mta or mail.address_domain(mail.header(message, "From"))
        fallback_at = mail.parse_date(per_message.get("arrival-date")) or mail.date(message)
        events = tuple(
            _event(
                block,
                original=original,
                reporter=reporter,
                reporting_mta=reporting_mta,
                per_message=per_message,
                fallback_at=fallback_at,
            )
            for block in recipients
            if _is_failure(block)
        )
        return ParsedReport(report_format=self.name, events=events)


def report_type(message: Message) -> str:
    """Return the lowercased ``report-type`` parameter of a multipart/report."""
    value = message.get_param("report-type")
    if value is None:
        return ""
    return str(collapse_rfc2231_value(value)).strip().lower()


def recipient_indicators(address: str | None) -> dict[str, tuple[str, ...]]:
    """Return ``recipient_hash`` (SHA-256 of the lowercased address) and ``recipient_domain``."""
    if not address:
        return {}
    cleaned = _address(address)
    if not cleaned:
        return {}
    found: dict[str, tuple[str, ...]] = {
        "recipient_hash": (sha256_hex(cleaned.encode("utf-8", "replace")),)
    }
    _, at, domain = cleaned.rpartition("@")
    domain = domain.strip().rstrip(".")
    if at and domain:
        found["recipient_domain"] = (domain,)
    return found


def status_code(*texts: str | None) -> str | None:
    """Return the first enhanced status code (``class.subject.detail``) found in *texts*."""
    for text in texts:
        if text and (match := _STATUS_CODE.search(text)):
            return ".".join(match.groups())
    return None


def redact_recipient(diagnostic: str | None, recipient: str | None) -> str | None:
    """Return *diagnostic* shortened, with the recipient's address replaced by ``[recipient]``.

    Remote servers quote the address they refused; keeping it would undo the hashing.
    """
    if diagnostic is None:
        return None
    address = _address(recipient) if recipient else ""
    if address:
        diagnostic = re.sub(re.escape(address), "[recipient]", diagnostic, flags=re.IGNORECASE)
    return diagnostic[:_DIAGNOSTIC_LIMIT]


def bounce_class(status: str | None, diagnostic: str | None = None) -> str:
    """Return ``hard`` for a 5.x.x failure, ``soft`` for 4.x.x, else ``undetermined``.

    Without an enhanced status code the SMTP reply code in the diagnostic decides.
    """
    first = status[0] if status else None
    if first is None and diagnostic and (match := _REPLY_CODE.search(diagnostic)):
        first = match.group(1)
    return {"5": "hard", "4": "soft"}.get(first or "", "undetermined")


def _event(
    block: dict[str, str],
    *,
    original: dict[str, tuple[str, ...]],
    reporter: str | None,
    reporting_mta: str | None,
    per_message: dict[str, str],
    fallback_at: datetime | None,
) -> EventDraft:
    recipient = mail.typed_value(block.get("final-recipient") or block.get("original-recipient"))
    diagnostic = redact_recipient(mail.typed_value(block.get("diagnostic-code")), recipient)
    status = status_code(block.get("status"), diagnostic)
    indicators = dict(original)
    indicators.update(recipient_indicators(recipient))
    return EventDraft(
        category=Category.BOUNCE,
        service=Service.EMAIL,
        occurred_at=mail.parse_date(block.get("last-attempt-date")) or fallback_at,
        reporter=reporter,
        indicators=indicators,
        details={
            "action": _action(block),
            "status": status,
            "bounce_class": bounce_class(status, diagnostic),
            "diagnostic_code": diagnostic,
            "remote_mta": mail.mta_name(block.get("remote-mta")),
            "reporting_mta": reporting_mta,
            "original_envelope_id": per_message.get("original-envelope-id"),
        },
    )


def _address(value: str) -> str:
    # A display name ("Jane" <jane@example.com>) is not part of the address.
    _, parsed = parseaddr(value)
    return (parsed if "@" in parsed else value).strip().strip("<>").strip().lower()


def _action(block: dict[str, str]) -> str | None:
    words = block.get("action", "").split()
    return words[0].lower() if words else None


def _is_recipient_block(block: dict[str, str]) -> bool:
    return any(
        name in block for name in ("final-recipient", "original-recipient", "action", "status")
    )


def _is_failure(block: dict[str, str]) -> bool:
    action = _action(block)
    if action is not None:
        return action == "failed"
    status = status_code(block.get("status"))
    return status is not None and status.startswith("5")


def _parts(message: Message, depth: int = 0) -> Iterator[Message]:
    """Yield *message* and its MIME parts, not descending into attached messages."""
    yield message
    if depth >= _MAX_DEPTH or message.get_content_maintype() != "multipart":
        return
    payload = message.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part, depth + 1)


def _status_part(message: Message) -> Message | None:
    for part in _parts(message):
        if part.get_content_type() in _STATUS_PART_TYPES:
            return part
    return None


def _returned_message(message: Message) -> Message | None:
    for part in _parts(message):
        if part is not message and part.get_content_type() in _RETURNED_PART_TYPES:
            return mail.embedded_message(part)
    return None


def _field_blocks(part: Message) -> list[dict[str, str]]:
    """Return the field blocks of a status part: per-message first, then per-recipient."""
    text = _status_text(part)[:_STATUS_PART_LIMIT]
    return [fields for block in _split_blocks(text) if (fields := _text_fields(block))]


def _status_text(part: Message) -> str:
    """Return a status part as text, however the email package has split it up."""
    payload = part.get_payload()
    if isinstance(payload, list):
        # message/delivery-status arrives as one sub-message per block; other message/*
        # types (global-delivery-status) as one sub-message whose body holds the rest.
        chunks = []
        for item in payload:
            if isinstance(item, Message):
                chunks.append("\n".join(f"{name}: {value}" for name, value in item.items()))
                body = item.get_payload()
                if isinstance(body, str):
                    chunks.append(body)
        return _transfer_decoded(part, "\n\n".join(chunks))
    raw = part.get_payload(decode=True)
    return raw[:_STATUS_PART_LIMIT].decode("utf-8", "replace") if isinstance(raw, bytes) else ""


def _transfer_decoded(part: Message, text: str) -> str:
    """Undo a base64 or quoted-printable transfer encoding the email package left in place."""
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if encoding not in ("base64", "quoted-printable"):
        return text
    data = text.strip().encode("ascii", "replace")
    try:
        decoded = base64.b64decode(data) if encoding == "base64" else quopri.decodestring(data)
    except (binascii.Error, ValueError):
        return text
    return decoded[:_STATUS_PART_LIMIT].decode("utf-8", "replace")


def _split_blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = [[]]
    for line in text.splitlines():
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    return [block for block in blocks if block]


def _text_fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    name = None
    for line in lines:
        if line[:1] in (" ", "\t") and name is not None:
            fields[name] = f"{fields[name]} {line.strip()}".strip()
            continue
        key, colon, value = line.partition(":")
        if not colon or not key.strip() or " " in key.strip():
            name = None
            continue
        name = key.strip().lower()
        if name in fields:
            # A repeated field keeps its first value, as a header would.
            name = None
            continue
        fields[name] = value.strip()
    return fields
