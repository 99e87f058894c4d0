"""Indicators read from an email message: ids, domains, DKIM, URLs."""

import email
import re
from collections.abc import Iterator
from datetime import datetime
from email.message import Message
from email.policy import compat32
from email.utils import parseaddr, parsedate_to_datetime

from abusedesk.core.clock import as_utc

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
_DKIM_TAG = re.compile(r"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
_URL = re.compile(rb"https?://[^\s<>\"'()]{1,2000}", re.IGNORECASE)
MAX_DOMAIN_LENGTH = 253
# Bodies past this size are not scanned for URLs: cost stays bounded on hostile input.
URL_SCAN_LIMIT = 512 * 1024
MAX_URLS = 50


def header(message: Message, name: str) -> str | None:
    """Return the last value of header *name* as text, unfolded and stripped."""
    values = message.get_all(name)
    if not values:
        return None
    return " ".join(str(values[-1]).split())


def message_id(message: Message) -> str | None:
    """Return the message's own Message-ID without angle brackets (the last one)."""
    value = header(message, "Message-ID")
    if value is None:
        return None
    found = _MESSAGE_ID.findall(value)
    return found[-1] if found else value.strip("<> ") or None


def address_domain(value: str | None) -> str | None:
    """Return the lowercased domain of the address in *value*, if it has one."""
    if not value:
        return None
    _, address = parseaddr(value)
    _, at, domain = address.rpartition("@")
    return _domain_name(domain) if at else None


def typed_value(value: str | None) -> str | None:
    """Return the value of a ``type; value`` field (``rfc822; a@b``, ``dns; host``), unfolded."""
    if not value:
        return None
    kind, semicolon, rest = value.partition(";")
    text = rest if semicolon and " " not in kind.strip() else value
    return " ".join(text.split()) or None


def mta_name(value: str | None) -> str | None:
    """Return the host named by an MTA field (``dns; mx.example.net``), lowercased."""
    words = (typed_value(value) or "").split()
    return _domain_name(words[0]) if words else None


def _domain_name(value: str) -> str | None:
    domain = value.strip().lower().rstrip(".")
    # A DNS name has at most 253 characters; anything longer is not one, and a longer
    # value would not fit where domains are stored.
    return domain if 0 < len(domain) <= MAX_DOMAIN_LENGTH else None


def dkim_signatures(message: Message) -> Iterator[tuple[str, str | None]]:
    """Yield ``(d=, s=)`` of every DKIM-Signature header."""
    for value in message.get_all("DKIM-Signature") or ():
        tags = {k.lower(): "".join(v.split()) for k, v in _DKIM_TAG.findall(str(value))}
        if tags.get("d"):
            yield tags["d"].lower(), (tags.get("s") or None)


def date(message: Message) -> datetime | None:
    """Return the Date header as UTC, or None when absent or unreadable."""
    return parse_date(header(message, "Date"))


def parse_date(value: str | None) -> datetime | None:
    """Return an RFC 5322 date as UTC, or None when absent or unreadable."""
    if not value:
        return None
    try:
        return as_utc(parsedate_to_datetime(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def urls(message: Message) -> tuple[str, ...]:
    """Return the distinct http(s) URLs in the message's text parts, in order."""
    seen: dict[str, None] = {}
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        for match in _URL.findall(payload[:URL_SCAN_LIMIT]):
            seen.setdefault(match.decode("ascii", "replace").rstrip(".,;"), None)
            if len(seen) >= MAX_URLS:
                return tuple(seen)
    return tuple(seen)


def message_indicators(message: Message) -> dict[str, tuple[str, ...]]:
    """Return the indicators of a (reported) message: ids, sender domains, DKIM, URLs."""
    found: dict[str, tuple[str, ...]] = {}
    if mid := message_id(message):
        found["message_id"] = (mid,)
    if from_domain := address_domain(header(message, "From")):
        found["from_domain"] = (from_domain,)
    if return_path := address_domain(header(message, "Return-Path")):
        found["envelope_domain"] = (return_path,)
    signatures = list(dkim_signatures(message))
    if signatures:
        found["dkim_domain"] = tuple(dict.fromkeys(d for d, _ in signatures))
        selectors = tuple(dict.fromkeys(f"{s}._domainkey.{d}" for d, s in signatures if s))
        if selectors:
            found["dkim_selector"] = selectors
    for name, kind in (("Feedback-ID", "feedback_id"), ("CFBL-Feedback-ID", "cfbl_feedback_id")):
        if value := header(message, name):
            found[kind] = (value,)
    if found_urls := urls(message):
        found["url"] = found_urls
    return found


def embedded_message(part: Message) -> Message | None:
    """Return the message inside a ``message/rfc822`` or ``text/rfc822-headers`` part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        inner = payload[0] if payload else None
        return inner if isinstance(inner, Message) else None
    if isinstance(payload, str):
        try:
            return email.message_from_string(payload, policy=compat32)
        except RecursionError:
            # Headers-only parts hold text a reporter wrote; nested deep enough, the
            # email package exhausts the stack. Such a part has no usable headers.
            return None
    return None
