"""Delivery status notifications (RFC 3464): one bounce event per failed recipient.

Recipients whose ``Action`` is ``failed`` or ``delayed`` become events (or, when a
non-standard report leaves out ``Action``, whose ``Status`` is a 4.x.x or 5.x.x
failure). A ``delayed`` recipient is a soft bounce still being retried: it is kept, with
its action, so that a later ``failed`` for the same recipient can be told apart, and it
is always ``soft``. ``delivered``, ``relayed`` and ``expanded`` are successes, so a report
holding only those parses to zero events rather than inflating bounce counts.

Every event names its ``reason`` and its ``bounce_class`` (hard or soft), decided by
``bounce_reasons.classify`` from the status code and the diagnostic text, the same way
for every bounce format (see docs/bounces.md).

The recipient's address is kept only as a SHA-256 hash of its lowercased form plus its
domain: enough to match a suppression list or count bounces per domain without storing
who the recipient was.
"""

import base64
import binascii
import quopri
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import Any

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing import bounce_reasons, mail
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
_PLAIN_ADDRESS = re.compile(r"^[^@\s:;<>]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}$", re.IGNORECASE)
# The human-readable part is read for its gist; past this it is not scanned.
_NOTICE_LIMIT = 16 * 1024
# A status part is small; past this it is not a DSN but an attack or a mistake.
_STATUS_PART_LIMIT = 1024 * 1024
# Structure deeper than this is not walked: real reports nest two or three levels.
_MAX_DEPTH = 20
_DIAGNOSTIC_LIMIT = 1000
# Mailboxes bounces come from.
_DAEMON_SENDERS = ("mailer-daemon", "postmaster")


class DsnParser:
    """Read ``multipart/report; report-type=delivery-status`` messages."""

    name = "dsn"

    def sniff(self, document: RawDocument) -> bool:
        """Recognise a delivery-status report, by report-type or by its status part."""
        message = document.message
        if message is None:
            return False
        # A multipart/report of another type is not a DSN; one with no type may be.
        kind = report_type(message) if message.get_content_type() == "multipart/report" else ""
        if kind and kind not in _REPORT_TYPES:
            return False
        # A delivery-status report without a readable status part is left to the reader
        # of plain-text bounces, which finds the recipients in the human-readable text.
        return is_delivery_status(message)

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read the per-recipient blocks into one bounce event per failed recipient."""
        return ParsedReport(
            report_format=self.name, events=bounce_events(require_message(document))
        )


def is_delivery_status(message: Message) -> bool:
    """Tell whether *message* holds a delivery-status part that names a recipient."""
    part = _status_part(message)
    return part is not None and any(_is_recipient_block(b) for b in _field_blocks(part))


def bounce_events(message: Message) -> tuple[EventDraft, ...]:
    """Return one bounce event per failed or delayed recipient of a delivery-status report.

    Raise MalformedReport when the message has no status part or it names no recipient.
    """
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
    notice = _notice(message)
    original = mail.message_indicators(returned) if returned is not None else {}
    mail.add_envelope_sender(original, mail.typed_value(per_message.get("x-postfix-sender")))
    mail.add_envelope_sender(original, bounce_addressee(message))
    # A lone recipient block without a usable address: the returned message's only
    # addressee is the recipient that failed.
    fallback = None
    if len(recipients) == 1 and returned is not None and not _has_address(recipients[0]):
        fallback = sole_addressee(returned)
    reporting_mta = mail.mta_name(per_message.get("reporting-mta"))
    reporter = reporting_mta or mail.address_domain(mail.header(message, "From"))
    fallback_at = mail.parse_date(per_message.get("arrival-date")) or mail.date(message)
    return tuple(
        _event(
            block,
            original=original,
            reporter=reporter,
            reporting_mta=reporting_mta,
            per_message=per_message,
            fallback_at=fallback_at,
            fallback_recipient=fallback,
            notice=notice,
        )
        for block in recipients
        if _is_failure(block)
    )


def bounce_addressee(message: Message) -> str | None:
    """Return the one address a bounce is addressed to: the returned message's envelope
    sender, as a bounce goes back to it.

    Only a message that travels as a bounce does counts (a null Return-Path, or none and
    a mail system's From), never one passed on by a person (``Resent-*`` fields), and
    only a To that holds exactly one address.
    """
    return_path = mail.header(message, "Return-Path")
    sender = mail.parse_address(mail.header(message, "From"))[1].partition("@")[0].lower()
    null_sender = return_path is not None and return_path.strip() in ("<>", "")
    if not (null_sender or (return_path is None and sender in _DAEMON_SENDERS)):
        return None
    if message.get("Resent-From") is not None or message.get("Resent-To") is not None:
        return None
    return sole_addressee(message)


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
    """Return the first enhanced status code (``class.subject.detail``) found in *texts*.

    A catch-all x.0.0 (the reporting MTA knew only the class) gives way to a more
    specific code of the same class in a later text: a Status of 5.0.0 with a
    Diagnostic-Code quoting the remote server's 5.1.0 is a 5.1.0.
    """
    found = [code for text in texts if (code := bounce_reasons.status_code(text))]
    if not found:
        return None
    first = found[0]
    if first.endswith(".0.0"):
        for later in found[1:]:
            if later[0] == first[0] and not later.endswith(".0.0"):
                return later
    return first


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
    """Return ``hard`` or ``soft`` for a failed recipient (see ``bounce_reasons.classify``).

    Hard means the address itself is bad and the failure permanent (unknown user or
    domain, moved away); anything else, including every 4.x.x failure, is soft.
    """
    return bounce_reasons.classify(status, diagnostic).bounce_class


def _event(
    block: dict[str, str],
    *,
    original: dict[str, tuple[str, ...]],
    reporter: str | None,
    reporting_mta: str | None,
    per_message: dict[str, str],
    fallback_at: datetime | None,
    fallback_recipient: str | None = None,
    notice: str = "",
) -> EventDraft:
    recipient = _recipient(block) or fallback_recipient
    diagnostic = redact_recipient(mail.typed_value(block.get("diagnostic-code")), recipient)
    status = status_code(block.get("status"), diagnostic)
    action = _action(block)
    # The human-readable part often names the SMTP command that failed ("in reply to end
    # of DATA command"), and says why when the status part does not.
    command = bounce_reasons.smtp_command(diagnostic) or bounce_reasons.smtp_command(notice)
    # Without a Diagnostic-Code, the notice's own line about this recipient says why
    # ("user@example.org: No MX found for domain").
    words = diagnostic or redact_recipient(_notice_line(notice, recipient), recipient)
    verdict = bounce_reasons.classify(status, words, action=action, command=command)
    if verdict.reason == bounce_reasons.UNDETERMINED and notice:
        verdict = bounce_reasons.classify(status, notice, action=action, command=command)
    return bounce_event(
        recipient,
        verdict,
        original=original,
        occurred_at=mail.parse_date(block.get("last-attempt-date")) or fallback_at,
        reporter=reporter,
        details={
            "action": action,
            "status": status,
            "diagnostic_code": diagnostic,
            "remote_mta": mail.mta_name(block.get("remote-mta")),
            "reporting_mta": reporting_mta,
            "original_envelope_id": per_message.get("original-envelope-id"),
        },
    )


def bounce_event(
    recipient: str | None,
    verdict: bounce_reasons.Classification,
    *,
    original: Mapping[str, tuple[str, ...]],
    occurred_at: datetime | None,
    reporter: str | None,
    details: Mapping[str, Any],
) -> EventDraft:
    """Return the bounce event of one failed recipient: the returned message's indicators
    plus the recipient's, and the verdict's class and reason beside *details*."""
    indicators = dict(original)
    indicators.update(recipient_indicators(recipient))
    return EventDraft(
        category=Category.BOUNCE,
        service=Service.EMAIL,
        occurred_at=occurred_at,
        reporter=reporter,
        indicators=indicators,
        details={
            **details,
            "bounce_class": verdict.bounce_class,
            "reason": verdict.reason,
        },
    )


def _recipient(block: dict[str, str]) -> str | None:
    """Return the recipient's address: Final-Recipient, else Original-Recipient.

    Some MTAs put a route or a local alias in Final-Recipient (``@mx:user@host``,
    ``user@localhost``); the original address is the better one then.
    """
    candidates = [
        mail.typed_value(block.get(name)) for name in ("final-recipient", "original-recipient")
    ]
    present = [value for value in candidates if value]
    for value in present:
        if _PLAIN_ADDRESS.match(_address(value)):
            return value
    return present[0] if present else None


def _address(value: str) -> str:
    # A display name ("Jane" <jane@example.com>) is not part of the address.
    _, parsed = mail.parse_address(value)
    return (parsed if "@" in parsed else value).strip().strip("<>").strip().lower()


def _has_address(block: dict[str, str]) -> bool:
    recipient = _recipient(block)
    return recipient is not None and bool(_PLAIN_ADDRESS.match(_address(recipient)))


def sole_addressee(message: Message) -> str | None:
    """Return the address in *message*'s To when To holds exactly one address, else None."""
    values = [str(v) for v in message.get_all("To") or ()]
    addresses = [address for _, address in mail.parse_addresses(values) if "@" in address]
    return addresses[0] if len(addresses) == 1 else None


def _action(block: dict[str, str]) -> str | None:
    words = block.get("action", "").split()
    if not words:
        return None
    # Some MTAs write "failure" or "delay" for the RFC's "failed" and "delayed".
    word = words[0].lower()
    return {"failure": "failed", "fail": "failed", "delay": "delayed"}.get(word, word)


def _is_recipient_block(block: dict[str, str]) -> bool:
    return any(
        name in block for name in ("final-recipient", "original-recipient", "action", "status")
    )


def _is_failure(block: dict[str, str]) -> bool:
    action = _action(block)
    if action is not None:
        return action in ("failed", "delayed")
    status = status_code(block.get("status"))
    return status is not None and status.startswith(("4", "5"))


def _parts(message: Message, depth: int = 0) -> Iterator[Message]:
    """Yield *message* and its MIME parts, not descending into attached messages."""
    yield message
    if depth >= _MAX_DEPTH or message.get_content_maintype() != "multipart":
        return
    payload = mail.undecoded_payload(message)
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _parts(part, depth + 1)


def _status_part(message: Message) -> Message | None:
    for part in _parts(message):
        if part.get_content_type() in _STATUS_PART_TYPES:
            return part
    return None


def _notice_line(notice: str, recipient: str | None) -> str | None:
    """Return the notice's text on the line that names *recipient*, after the address."""
    address = _address(recipient) if recipient else ""
    if not address or not notice:
        return None
    for line in notice.splitlines():
        at = line.lower().find(address)
        if at >= 0:
            rest = line[at + len(address) :].strip(" \t>:;,")
            return rest or None
    return None


def _notice(message: Message) -> str:
    """Return the report's human-readable text part (bounded), or an empty string."""
    for part in _parts(message):
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return payload[:_NOTICE_LIMIT].decode("utf-8", "replace")
            return ""
    return ""


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
    payload = mail.undecoded_payload(part)
    if isinstance(payload, list):
        # message/delivery-status arrives as one sub-message per block; other message/*
        # types (global-delivery-status) as one sub-message whose body holds the rest.
        chunks = []
        for item in payload:
            if isinstance(item, Message):
                chunks.append("\n".join(f"{name}: {value}" for name, value in item.items()))
                body = mail.undecoded_payload(item)
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
