"""Evidence as a customer may see it: recipients' addresses and numbers hidden.

Every email address in a text becomes a keyed tag such as ``[recipient 3f9a1c0d]``:
the same address (in any letter case, with or without ``<>``) gives the same tag under
one key, so a customer can see that one recipient complained three times without
learning who. Addresses the customer owns (its senders, passed as *own*) stay. Phone
numbers are masked but for their last two digits. Reporter identities follow a
`ReporterPolicy`.

Out of scope, and so not caught: addresses inside MIME encoded words
(``=?utf-8?b?...?=``), percent-encoded (``a%40b.example``) or spelled out ("a at b dot
example"). Callers pass decoded text.
"""

import enum
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from abusedesk.core.errors import AbuseDeskError
from abusedesk.privacy.classes import detail_class, indicator_class
from abusedesk.privacy.model import EvidenceClass

# A quoted local part ("john doe"@x) or an unquoted one of any characters but spaces and
# the address specials (so that accents, combining marks and symbols are taken whole),
# then a domain name or an address literal. Bounded, so that long runs stay linear.
_ATOM = r"""[^\s@<>()\[\],;:"\\]"""
ADDRESS = re.compile(
    rf"""(?:"(?:[^"\\\r\n]|\\.){{1,256}}"|(?!['.]){_ATOM}{{1,256}})"""
    r"""@(?:\[[^\]\s]{1,64}\]|[^\s@<>()\[\],;:"'\\.]{1,63}(?:\.[^\s@<>()\[\],;:"'\\.]{1,63})*)""",
)
# International (+...) numbers, or 9-15 digits in groups separated by spaces, hyphens
# or brackets. Dots are not separators, so that IP addresses and versions stay.
PHONE = re.compile(r"(?<![\w+])(?:\+\(?\d[\d ()-]{5,20}\d|\(?\d[\d ()-]{7,20}\d)(?!\w)")
_DATE = re.compile(r"\d{4}-\d\d-\d\d")
# Local parts of role mailboxes that name an organisation rather than a person.
ROLE_MAILBOXES = frozenset(
    {
        "abuse",
        "fbl",
        "feedback",
        "feedbackloop",
        "noc",
        "postmaster",
        "security",
        "spam",
        "reports",
        "report",
        "arf",
        "complaints",
        "dmarc",
        "cert",
        "csirt",
    }
)


# Indicator kinds naming the customer's own sending addresses.
OWN_KINDS = ("from_address", "envelope_sender")


class RedactionKeyTooShort(AbuseDeskError):
    """Raise when the redaction key is too short to keep tags unguessable."""


class ReporterPolicy(enum.StrEnum):
    """What a customer sees of who reported: all of it, the organisation, or nothing."""

    SHOW = "show"
    ORGANISATION = "organisation"
    HIDE = "hide"


def _normalise(address: str) -> str:
    return address.strip().removeprefix("<").removesuffix(">").strip().lower()


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


@dataclass(frozen=True)
class Redactor:
    """Redacts text and event fields under one secret *key* (at least 32 bytes)."""

    key: bytes
    reporter_policy: ReporterPolicy = ReporterPolicy.ORGANISATION
    own: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        """Refuse a short key and store the customer's own addresses normalised."""
        if len(self.key) < 32:
            raise RedactionKeyTooShort("the redaction key must be at least 32 bytes")
        object.__setattr__(self, "own", frozenset(_normalise(a) for a in self.own))

    def with_own(self, addresses: Iterable[str]) -> "Redactor":
        """Return a redactor that also keeps *addresses* (the customer's) visible."""
        return Redactor(self.key, self.reporter_policy, self.own | frozenset(addresses))

    def tag(self, value: str, role: str = "recipient") -> str:
        """Return the tag for *value* (an address or a hash): ``[role 8 hex digits]``."""
        digest = hmac.new(self.key, _normalise(value).encode("utf-8"), hashlib.sha256)
        return f"[{role} {digest.hexdigest()[:8]}]"

    def text(self, text: str, role: str = "recipient") -> str:
        """Return *text* with addresses tagged and phone numbers masked."""

        def address(match: re.Match[str]) -> str:
            found = match.group(0)
            return found if _normalise(found) in self.own else self.tag(found, role)

        redacted = ADDRESS.sub(address, text)
        return PHONE.sub(lambda m: _mask_phone(m.group(0)), redacted)

    def reporter(self, reporter: str) -> str:
        """Return *reporter* as the policy allows.

        SHOW: unchanged. HIDE: ``[reporter]``. ORGANISATION: a role mailbox
        (``abuse@isp.example``) becomes its domain, since it names the organisation and
        no person; a person's address becomes a tag and takes the whole reporter with it,
        display name included (``Jane Doe <jane@...>`` names a person either way).
        """
        if self.reporter_policy is ReporterPolicy.SHOW:
            return reporter
        if self.reporter_policy is ReporterPolicy.HIDE:
            return "[reporter]"
        personal = [
            m.group(0)
            for m in ADDRESS.finditer(reporter)
            if _normalise(m.group(0)).rpartition("@")[0].strip('"') not in ROLE_MAILBOXES
        ]
        if personal:
            return " ".join(self.tag(found, "reporter") for found in personal)

        def address(match: re.Match[str]) -> str:
            local, _, domain = _normalise(match.group(0)).rpartition("@")
            if local.strip('"') in ROLE_MAILBOXES:
                return domain
            return self.tag(match.group(0), "reporter")

        return PHONE.sub(lambda m: _mask_phone(m.group(0)), ADDRESS.sub(address, reporter))

    def indicators(self, indicators: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
        """Return *indicators* with recipients' hashes re-keyed as tags.

        Kinds the privacy tables keep (the customer's own senders, domains, IPs) stay;
        kinds holding a recipient's address hash become tags under this key, so the
        stored, unkeyed hash (guessable from a list of addresses) is never shown.
        """
        result: dict[str, tuple[str, ...]] = {}
        for kind, values in indicators.items():
            if indicator_class(kind) == EvidenceClass.RECIPIENT_ADDRESS:
                result[kind] = tuple(self.tag(v) for v in values)
            else:
                result[kind] = tuple(values)
        return result

    def details(self, details: Mapping[str, Any]) -> dict[str, Any]:
        """Return *details* with reporter contacts per policy and every text redacted.

        Keys the privacy tables mark as reporter contact follow the reporter policy;
        every other string, at any depth, goes through `text` (a kept key may still
        quote an address, as a bounce's diagnostic does).
        """
        result: dict[str, Any] = {}
        for key, value in details.items():
            if detail_class(key) == EvidenceClass.REPORTER_CONTACT:
                result[key] = self._walk(value, self.reporter)
            else:
                result[key] = self._walk(value, self.text)
        return result

    def event(
        self, indicators: Mapping[str, Iterable[str]], details: Mapping[str, Any]
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, Any]]:
        """Return an event's indicators and details redacted, keeping its own senders.

        The event's ``from_address`` and ``envelope_sender`` indicators name the
        customer, so they stay visible wherever the details quote them.
        """
        own = [v for kind in OWN_KINDS for v in indicators.get(kind, ())]
        redactor = self.with_own(own)
        return redactor.indicators(indicators), redactor.details(details)

    def _walk(self, value: Any, redact: Any) -> Any:
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, Mapping):
            return {k: self._walk(v, redact) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._walk(v, redact) for v in value)
        return value


def _mask_phone(number: str) -> str:
    international = number.startswith("+")
    if _digits(number) > 15 or _digits(number) < (7 if international else 9):
        return number
    if not international and _DATE.match(number):
        return number
    keep = 2
    seen = _digits(number)
    out = []
    for ch in number:
        if ch.isdigit():
            out.append(ch if seen <= keep else "•")
            seen -= 1
        else:
            out.append(ch)
    return "".join(out)
