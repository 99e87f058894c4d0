"""What an analyst types into the search box, read as exact indicators and free text.

Each whitespace-separated word is classified on its own: an IP address, an email address,
a Message-ID, a URL, a phone number, a hash, a case or account reference, a domain, or a
``key:value`` naming an indicator outright. What is none of these is free text. Every term
must match (AND). The same normalisation is applied when events are indexed
(`index_entries`), so that a term finds what the parsers stored however it was typed.
"""

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from abusedesk.core.errors import AbuseDeskError
from abusedesk.core.hashing import sha256_hex

MAX_QUERY_LENGTH = 1000
MAX_TERMS = 12


class TermKind(StrEnum):
    """What a search term was recognised as."""

    IP = "ip"
    EMAIL = "email"
    MESSAGE_ID = "message_id"
    URL = "url"
    PHONE = "phone"
    HASH = "hash"
    DOMAIN = "domain"
    INDICATOR = "indicator"  # key:value, for an indicator named outright
    CASE = "case"
    ACCOUNT = "account"
    NUMBER = "number"  # a bare number: a case, account or report id
    TEXT = "text"


# Which stored indicator keys a term of each kind is looked up in.
INDICATOR_KEYS: Mapping[TermKind, tuple[str, ...]] = {
    TermKind.IP: ("source_ip",),
    TermKind.EMAIL: ("from_address", "envelope_sender"),
    TermKind.MESSAGE_ID: ("message_id", "provider_message_id"),
    TermKind.URL: ("url",),
    TermKind.PHONE: ("origination_number", "phone_number", "sender_id"),
    TermKind.HASH: ("recipient_hash", "complainant_hash"),
    TermKind.DOMAIN: (
        "from_domain",
        "envelope_domain",
        "dkim_domain",
        "domain",
        "recipient_domain",
        "url_host",
    ),
}
# An email address also finds the events where it was the recipient or the complainant:
# parsers keep only the SHA-256 of those addresses.
HASHED_ADDRESS_KEYS = ("recipient_hash", "complainant_hash")

_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9_](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_HASH = re.compile(r"^[0-9a-f]{64}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{6,}[0-9]$")
_WORD = re.compile(r"\w+", re.UNICODE)
_CASE_REF = re.compile(r"^(?:#|case:)(\d{1,18})$", re.IGNORECASE)
_INDICATOR_REF = re.compile(r"^([a-z][a-z0-9_]{1,39}):(.+)$")


class QueryInvalid(AbuseDeskError):
    """Raise when a search query cannot be run (empty, too long, too many terms)."""


@dataclass(frozen=True)
class SearchTerm:
    """One recognised term: its kind, its normalised value and, for key:value, the key."""

    kind: TermKind
    value: str
    key: str | None = None

    def lookups(self) -> list[tuple[str, str]]:
        """Return the (indicator key, value) pairs that match this term in the index."""
        if self.kind == TermKind.INDICATOR and self.key is not None:
            return [(self.key, normal_value(self.key, self.value))]
        pairs = [(key, self.value) for key in INDICATOR_KEYS.get(self.kind, ())]
        if self.kind == TermKind.EMAIL:
            hashed = sha256_hex(self.value.encode("utf-8"))
            pairs += [(key, hashed) for key in HASHED_ADDRESS_KEYS]
        return pairs


@dataclass(frozen=True)
class SearchQuery:
    """A parsed query: exact terms and the free-text words, all of which must match."""

    terms: tuple[SearchTerm, ...]
    words: tuple[str, ...]

    def describe(self) -> str:
        """Say in words how the query was read, for the results page."""
        parts = [f"{term.key or term.kind} {term.value}" for term in self.terms]
        if self.words:
            parts.append("text " + " ".join(self.words))
        return "; ".join(parts)


def parse_query(text: str) -> SearchQuery:
    """Read *text* as search terms, or raise QueryInvalid with what to change."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryInvalid(f"a search is at most {MAX_QUERY_LENGTH} characters")
    pieces = text.split()
    if not pieces:
        raise QueryInvalid("type something to search for")
    if len(pieces) > MAX_TERMS:
        raise QueryInvalid(f"a search has at most {MAX_TERMS} terms")
    terms: list[SearchTerm] = []
    words: list[str] = []
    for piece in pieces:
        term = classify(piece)
        if term.kind == TermKind.TEXT:
            words.extend(_WORD.findall(term.value))
        else:
            terms.append(term)
    if not terms and not words:
        raise QueryInvalid("the search holds no letters or digits to look for")
    return SearchQuery(tuple(terms), tuple(words))


def classify(piece: str) -> SearchTerm:
    """Return what one typed word is, normalised the way the index stores it."""
    raw = piece.strip()
    if match := _CASE_REF.match(raw):
        return SearchTerm(TermKind.CASE, match.group(1))
    lowered = raw.lower()
    if lowered.startswith("account:") and len(raw) > len("account:"):
        return SearchTerm(TermKind.ACCOUNT, raw[len("account:") :])
    if raw.isdigit() and len(raw) < 8:
        return SearchTerm(TermKind.NUMBER, raw)
    if lowered.startswith(("http://", "https://", "hxxp://", "hxxps://")):
        return SearchTerm(TermKind.URL, normal_url(raw))
    if raw.startswith("<") and raw.endswith(">") and "@" in raw:
        return SearchTerm(TermKind.MESSAGE_ID, normal_message_id(raw))
    if (match := _INDICATOR_REF.match(raw)) and not match.group(2).startswith("//"):
        return SearchTerm(TermKind.INDICATOR, match.group(2), key=match.group(1))
    if (address := normal_ip(raw)) is not None:
        return SearchTerm(TermKind.IP, address)
    if "@" in raw:
        local, _, domain = lowered.rpartition("@")
        if local and _DOMAIN.match(domain.strip("[]")):
            return SearchTerm(TermKind.EMAIL, lowered)
        return SearchTerm(TermKind.MESSAGE_ID, normal_message_id(raw))
    if _HASH.match(lowered):
        return SearchTerm(TermKind.HASH, lowered)
    if _PHONE.match(raw):
        return SearchTerm(TermKind.PHONE, normal_phone(raw))
    domain = lowered.rstrip(".").replace("[.]", ".")
    if _DOMAIN.match(domain):
        return SearchTerm(TermKind.DOMAIN, domain)
    return SearchTerm(TermKind.TEXT, raw)


def normal_ip(value: str) -> str | None:
    """Return *value* as a canonical IP address, or None when it is not one."""
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def normal_message_id(value: str) -> str:
    """Return a Message-ID without its angle brackets, as the send log and parsers keep it."""
    return value.strip().strip("<>").strip()


def normal_phone(value: str) -> str:
    """Return a phone number as digits with its leading plus, if it had one."""
    digits = re.sub(r"\D", "", value)
    return f"+{digits}" if value.strip().startswith("+") else digits


def normal_url(value: str) -> str:
    """Return a URL refanged, with its scheme and host lowercased."""
    text = value.strip()
    if text.lower().startswith("hxxp"):
        text = "http" + text[4:]
    text = text.replace("[.]", ".").replace("[:]", ":")
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    rest = text[len(parts.scheme) + 3 + len(parts.netloc) :]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{rest}"


def normal_value(key: str, value: str) -> str:
    """Return an indicator value the way the index keeps values of *key*."""
    kind = _KIND_OF_KEY.get(key)
    if kind == TermKind.IP:
        return normal_ip(value) or value.strip()
    if kind == TermKind.MESSAGE_ID:
        return normal_message_id(value)
    if kind == TermKind.URL:
        return normal_url(value)
    if kind == TermKind.PHONE and _PHONE.match(value.strip()):
        return normal_phone(value)
    if kind in (TermKind.EMAIL, TermKind.DOMAIN, TermKind.HASH):
        return value.strip().rstrip(".").lower()
    return value.strip()


_KIND_OF_KEY = {key: kind for kind, keys in INDICATOR_KEYS.items() for key in keys}

# Longest value the index keeps; longer values (pathological URLs) are cut, so an exact
# search for them needs the same cut: `index_entries` and `SearchTerm` share this.
MAX_VALUE_LENGTH = 500


def index_entries(indicators: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
    """Return the (key, value) pairs an event's indicators are found by."""
    entries: set[tuple[str, str]] = set()
    for key, values in indicators.items():
        for value in values:
            if not isinstance(value, str) or not value.strip():
                continue
            normal = normal_value(key, value)
            entries.add((key, normal[:MAX_VALUE_LENGTH]))
            if key == "url":
                host = urlsplit(normal).hostname if "://" in normal else None
                if host:
                    entries.add(("url_host", host.rstrip(".")))
    return entries


# Event details that hold words worth finding: subjects, quoted text, reasons, titles.
TEXT_DETAILS = (
    "subject",
    "evidence_subject",
    "title",
    "message_text",
    "reason",
    "diagnostic_code",
    "classification",
    "org_name",
    "reported_domain",
)
MAX_TEXT_LENGTH = 4000


def event_text(reporter: str | None, details: Mapping[str, object]) -> str:
    """Return the free text an event is found by: its reporter and its wordy details."""
    parts = [reporter or ""]
    for key in TEXT_DETAILS:
        value = details.get(key)
        if isinstance(value, str):
            parts.append(value)
    return " ".join(part for part in parts if part)[:MAX_TEXT_LENGTH]
