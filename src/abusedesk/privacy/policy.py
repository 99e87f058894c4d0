"""Pure decisions of retention and erasure: what to remove from an event, what an address
looks like wherever our parsers may have put it."""

import email
import hashlib
import hmac
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy as email_policy
from email.header import decode_header, make_header
from typing import Any

from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing.sms import normalise_number
from abusedesk.privacy.classes import ENVELOPE_CLASSES, detail_class, indicator_class
from abusedesk.privacy.errors import InvalidAddress

# What an erased mention becomes inside a longer text (a bounce's diagnostic, a reason).
ERASED = "[erased]"
# The key ``purged_classes`` records an erasure under, beside the evidence classes.
ERASURE_MARK = "erasure"
# Raw reports looked through for an address: parts decoded, up to this many bytes in all.
_MAX_DECODED_BYTES = 16 * 1024 * 1024
_MAX_PARTS = 500
_ADDRESS = re.compile(r"^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{3,30}$")
_HEADER_BLOCK = re.compile(rb"^[!-9;-~]+:", re.MULTILINE)


@dataclass(frozen=True)
class Redaction:
    """An event's indicators and details with some classes removed, and what went."""

    indicators: dict[str, Any]
    details: dict[str, Any]
    removed_keys: tuple[str, ...]


def redact_event(
    indicators: Mapping[str, Any], details: Mapping[str, Any], classes: Collection[str]
) -> Redaction:
    """Return *indicators* and *details* without the keys that hold any of *classes*."""
    removed = [f"indicators.{k}" for k in indicators if indicator_class(k) in classes]
    removed += [f"details.{k}" for k in details if detail_class(k) in classes]
    return Redaction(
        indicators={k: v for k, v in indicators.items() if indicator_class(k) not in classes},
        details={k: v for k, v in details.items() if detail_class(k) not in classes},
        removed_keys=tuple(removed),
    )


def redact_envelope(envelope: Mapping[str, Any], classes: Collection[str]) -> dict[str, Any]:
    """Return a report's *envelope* without the fields that hold any of *classes*."""
    return {k: v for k, v in envelope.items() if ENVELOPE_CLASSES.get(k) not in classes}


def mark_purged(
    marks: Mapping[str, Any] | None, classes: Collection[str], now: datetime
) -> dict[str, str]:
    """Return *marks* (class -> when it was purged) with *classes* purged at *now*."""
    updated = {str(k): str(v) for k, v in (marks or {}).items()}
    for name in classes:
        updated.setdefault(name, now.isoformat())
    return updated


@dataclass(frozen=True)
class AddressMatch:
    """One email address or phone number to erase, in every form our parsers store.

    ``value`` is the address lowercased (an email address) or the number in E.164 (or
    its digits, when no country can be known); ``hashes`` are the SHA-256 values parsers
    store instead of it (``recipient_hash``, ``complainant_hash``).
    """

    value: str
    hashes: frozenset[str]
    spellings: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> "AddressMatch":
        """Return the match for *text*, or raise InvalidAddress saying what is wrong."""
        given = text.strip().strip("<>").strip()
        if not given:
            raise InvalidAddress("no address given")
        if "@" in given:
            if not _ADDRESS.match(given) or len(given) > 320:
                raise InvalidAddress("not an email address (expected local@domain)")
            lowered = given.lower()
            spellings = tuple(dict.fromkeys((lowered, given)))
            return cls(
                value=lowered,
                hashes=frozenset(sha256_hex(s.encode("utf-8", "replace")) for s in spellings),
                spellings=(lowered,),
            )
        number = normalise_number(given) if _PHONE.match(given) else None
        if number is None:
            raise InvalidAddress(
                "not an email address or a phone number (give a number in E.164, +<digits>)"
            )
        digits = number.lstrip("+")
        spellings = tuple(dict.fromkeys((number, digits)))
        return cls(
            value=number,
            hashes=frozenset(sha256_hex(s.encode("ascii", "replace")) for s in spellings),
            spellings=spellings,
        )

    @property
    def search_terms(self) -> tuple[str, ...]:
        """Return lowercase substrings any stored mention contains: for a coarse search
        that is then confirmed value by value."""
        return (*self.spellings, *sorted(self.hashes))

    def keyed_hash(self, key: bytes) -> str:
        """Return the HMAC-SHA256 of the address under *key*: what an erasure request
        records instead of the address."""
        return hmac.new(key, self.value.encode("utf-8"), hashlib.sha256).hexdigest()

    def equals(self, value: str) -> bool:
        """Say whether *value* is the address itself (any case) or one of its hashes."""
        candidate = value.strip().strip("<>").strip().lower()
        return candidate in self.spellings or candidate in self.hashes

    def _pattern(self) -> re.Pattern[str]:
        terms = sorted((*self.spellings, *self.hashes), key=len, reverse=True)
        return re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)

    def mentioned_in(self, text: str) -> bool:
        """Say whether *text* contains the address or a hash of it, in any case."""
        return bool(self._pattern().search(text))

    def scrub(self, value: Any) -> tuple[Any, int]:
        """Return a JSON value without the address: values that are it (or its hash) are
        dropped, texts that mention it have each mention replaced; and how many changed.

        A value that is the address itself comes back as ``_DROPPED``; callers of
        ``scrub_mapping`` never see it.
        """
        if isinstance(value, str):
            if self.equals(value):
                return _DROPPED, 1
            pattern = self._pattern()
            if pattern.search(value):
                return pattern.sub(ERASED, value), 1
            return value, 0
        if isinstance(value, Mapping):
            return self.scrub_mapping(value)
        if isinstance(value, list | tuple):
            kept: list[Any] = []
            changed = 0
            for item in value:
                scrubbed, count = self.scrub(item)
                changed += count
                if scrubbed is not _DROPPED:
                    kept.append(scrubbed)
            return kept, changed
        return value, 0

    def scrub_mapping(self, mapping: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
        """Return *mapping* scrubbed as ``scrub`` does; a key whose value goes is dropped,
        and so is an indicator kind left with no values."""
        result: dict[str, Any] = {}
        changed = 0
        for key, item in mapping.items():
            scrubbed, count = self.scrub(item)
            changed += count
            if scrubbed is _DROPPED or (count and scrubbed == [] and item != []):
                continue
            result[key] = scrubbed
        return result, changed

    def raw_mentions(self, raw: bytes) -> bool:
        """Say whether a raw report holds the address: in its bytes, or in a header or
        part of a mail once RFC 2047 and transfer encodings are decoded."""
        lowered = raw.lower()
        if any(term.encode("utf-8") in lowered for term in self.search_terms):
            return True
        return any(self.mentioned_in(text) for text in _decoded_texts(raw))


class _Dropped:
    """The marker of a value that an erasure removes whole."""

    def __repr__(self) -> str:
        return "<dropped>"


_DROPPED: Any = _Dropped()


def _decoded_texts(raw: bytes) -> Iterator[str]:
    """Yield the decoded header values and text of each part of *raw*, if it is a mail."""
    if not _HEADER_BLOCK.match(raw[:1000]):
        return
    message = email.message_from_bytes(raw, policy=email_policy.compat32)
    budget = _MAX_DECODED_BYTES
    for count, part in enumerate(message.walk()):
        if count >= _MAX_PARTS or budget <= 0:
            return
        for header in part.values():
            try:
                yield str(make_header(decode_header(str(header))))
            except (ValueError, LookupError, UnicodeError):
                yield str(header)
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            budget -= len(payload)
            charset = part.get_content_charset() or "utf-8"
            try:
                yield payload.decode(charset, "replace")
            except LookupError:
                yield payload.decode("utf-8", "replace")
