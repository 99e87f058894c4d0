"""DNSBL and URI BL answers: which lists exist, what to ask them, what their A records mean.

A list is asked by an A query (RFC 5782): for an IP list, the address reversed (octets
for IPv4, nibbles for IPv6) under the list's zone; for a domain list, the registrable
domain under the zone. NXDOMAIN means not listed and is given here as an empty answer
list. An answer in 127.0.0.0/8 is a listing whose code (exact, or a bitmask on the last
octet) says why; the TXT record at the same name is for people and is not read here.

Some answers look like listings and are not: a list that refuses the query (URIBL and
SURBL answer 127.0.0.1; Spamhaus answers 127.255.255.x for a public resolver, excessive
volume, a typo in the zone or a bad DQS key), Spamhaus DBL's 127.0.1.255 for an IP sent
to a domain zone, an answer outside 127.0.0.0/8 (a wildcard from a hijacked or expired
zone), or a code the list does not document. Each of these is an ``error``: the check
failed, and nothing about the address or domain may be concluded from it.

The zones are the public mirror names; a Spamhaus Data Query Service user gives the
DQS zone (``<key>.zen.dq.spamhaus.net``) with ``dataclasses.replace``.
"""

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from abusedesk.core.errors import AbuseDeskError
from abusedesk.parsing.mail import site_of

# A DNS name is at most 253 characters written out, each label at most 63.
MAX_NAME_LENGTH = 253
MAX_LABEL_LENGTH = 63
# Letters, digits, hyphens, and the underscores that host names in URLs sometimes carry.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")
_FULL_STOPS = str.maketrans(dict.fromkeys("\u3002\uff0e\uff61", "."))
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
# Spamhaus answers its errors in 127.255.255.0/24; the DQS key errors have their own codes.
_SPAMHAUS_ERRORS = ipaddress.IPv4Network("127.255.255.0/24")


class BlocklistError(AbuseDeskError):
    """Raise for anything wrong in asking a blocklist; subclasses name the situation."""


class InvalidQueryTarget(BlocklistError, ValueError):
    """Raise when an address or domain cannot be asked of a blocklist, saying why."""


class UnknownBlocklist(BlocklistError, LookupError):
    """Raise when a blocklist name is not in the catalogue."""


class ListKind(StrEnum):
    """What a blocklist lists: IP addresses or domains."""

    IP = "ip"
    DOMAIN = "domain"


class Decoding(StrEnum):
    """How a listing's answer is read: one code per answer, or bits of the last octet."""

    EXACT = "exact"
    BITMASK = "bitmask"


class Outcome(StrEnum):
    """What a blocklist said: listed, not listed, or nothing usable (the check failed)."""

    LISTED = "listed"
    NOT_LISTED = "not_listed"
    ERROR = "error"


class AnswerError(StrEnum):
    """Why a blocklist answer is not a listing although the list answered."""

    MALFORMED_ANSWER = "malformed_answer"
    OUTSIDE_LOOPBACK = "outside_loopback"
    QUERY_REFUSED = "query_refused"
    PUBLIC_RESOLVER = "public_resolver"
    EXCESSIVE_VOLUME = "excessive_volume"
    ZONE_TYPO = "zone_typo"
    LIST_ERROR = "list_error"
    IP_SENT_TO_DOMAIN_LIST = "ip_sent_to_domain_list"
    UNKNOWN_CODE = "unknown_code"


@dataclass(frozen=True)
class Blocklist:
    """One blocklist: its zone, what it lists, and what its answers mean.

    For ``exact`` lists ``codes`` maps a whole answer (``127.0.0.2``) to its meaning; for
    ``bitmask`` lists it maps a bit of the last octet (``"2"``, ``"4"``) to its meaning,
    and the first three octets must be ``127.0.0``. ``errors`` maps whole answers that
    are the list saying the check failed.
    """

    name: str
    title: str
    zone: str
    kind: ListKind
    decoding: Decoding
    codes: tuple[tuple[str, str], ...]
    errors: tuple[tuple[str, AnswerError], ...] = ()
    spamhaus_errors: bool = False
    delisting_url: str = ""
    # Health-check points (RFC 5782): a target the list must list and one it must not.
    # None takes the kind's default (127.0.0.2 and 127.0.0.1; "test" and "invalid");
    # "" skips that half for a list that publishes no such point.
    test_listed: str | None = None
    test_unlisted: str | None = None

    def meaning_of(self, code: str) -> str | None:
        """Return what *code* (an answer, or a bit for bitmask lists) means, or None."""
        return dict(self.codes).get(code)

    def error_of(self, answer: str) -> AnswerError | None:
        """Return the error a whole *answer* stands for on this list, or None."""
        return dict(self.errors).get(answer)

    def test_points(self) -> tuple[str, str]:
        """Return the health-check targets: one the list must list, one it must not."""
        defaults = ("127.0.0.2", "127.0.0.1") if self.kind is ListKind.IP else ("test", "invalid")
        listed = defaults[0] if self.test_listed is None else self.test_listed
        unlisted = defaults[1] if self.test_unlisted is None else self.test_unlisted
        return listed, unlisted


@dataclass(frozen=True)
class BlocklistResult:
    """What one blocklist said about one query name.

    ``meanings`` name the listings (``SBL``, ``PBL (ISP)``, ``URIBL grey``) when listed;
    ``error`` and ``detail`` say why the check failed when the outcome is ``error``.
    ``answers`` are the A records as received.
    """

    blocklist: str
    outcome: Outcome
    answers: tuple[str, ...] = ()
    meanings: tuple[str, ...] = ()
    error: AnswerError | None = None
    detail: str = ""

    @property
    def listed(self) -> bool:
        """Return True only for a real listing; an error never counts as one."""
        return self.outcome is Outcome.LISTED


def _zrd_codes() -> tuple[tuple[str, str], ...]:
    """Return Spamhaus ZRD's codes: 127.0.2.N, the domain first seen N hours ago at most."""
    codes = [("127.0.2.2", "ZRD (first seen 0-2h ago)")]
    codes += [(f"127.0.2.{n}", f"ZRD (first seen {n - 1}-{n}h ago)") for n in range(3, 25)]
    return tuple(codes)


_SBL = (
    ("127.0.0.2", "SBL"),
    ("127.0.0.3", "CSS"),
    ("127.0.0.9", "DROP"),
    ("127.0.0.30", "BCL"),
)
_XBL = (("127.0.0.4", "XBL"),)
_PBL = (("127.0.0.10", "PBL (ISP)"), ("127.0.0.11", "PBL (Spamhaus)"))
_SPAMHAUS_LOOKUP = "https://check.spamhaus.org/"
_REFUSED = (("127.0.0.1", AnswerError.QUERY_REFUSED),)

CATALOGUE: tuple[Blocklist, ...] = (
    Blocklist(
        "spamhaus-zen", "Spamhaus ZEN", "zen.spamhaus.org", ListKind.IP, Decoding.EXACT,
        _SBL + _XBL + _PBL, spamhaus_errors=True, delisting_url=_SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "spamhaus-sbl", "Spamhaus SBL", "sbl.spamhaus.org", ListKind.IP, Decoding.EXACT,
        _SBL, spamhaus_errors=True, delisting_url=_SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "spamhaus-xbl", "Spamhaus XBL", "xbl.spamhaus.org", ListKind.IP, Decoding.EXACT,
        _XBL, spamhaus_errors=True, delisting_url=_SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "spamhaus-pbl", "Spamhaus PBL", "pbl.spamhaus.org", ListKind.IP, Decoding.EXACT,
        _PBL, spamhaus_errors=True, delisting_url=_SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "spamhaus-authbl", "Spamhaus AuthBL", "authbl.spamhaus.org", ListKind.IP,
        Decoding.EXACT, (("127.0.0.20", "AuthBL"),), spamhaus_errors=True,
        delisting_url=_SPAMHAUS_LOOKUP,
    ),
    Blocklist(
        "spamhaus-dbl", "Spamhaus DBL", "dbl.spamhaus.org", ListKind.DOMAIN, Decoding.EXACT,
        (
            ("127.0.1.2", "DBL low reputation"),
            ("127.0.1.4", "DBL phishing"),
            ("127.0.1.5", "DBL malware"),
            ("127.0.1.6", "DBL botnet C&C"),
            ("127.0.1.102", "DBL abused legit"),
            ("127.0.1.103", "DBL abused redirector"),
            ("127.0.1.104", "DBL abused legit phishing"),
            ("127.0.1.105", "DBL abused legit malware"),
            ("127.0.1.106", "DBL abused legit C&C"),
        ),
        errors=(("127.0.1.255", AnswerError.IP_SENT_TO_DOMAIN_LIST),),
        spamhaus_errors=True, delisting_url=_SPAMHAUS_LOOKUP, test_listed="dbltest.com",
    ),
    Blocklist(
        "spamhaus-zrd", "Spamhaus Zero Reputation Domains", "zrd.spamhaus.org",
        ListKind.DOMAIN, Decoding.EXACT, _zrd_codes(), spamhaus_errors=True,
        delisting_url=_SPAMHAUS_LOOKUP, test_listed="",
    ),
    Blocklist(
        "spamcop", "SpamCop", "bl.spamcop.net", ListKind.IP, Decoding.EXACT,
        (("127.0.0.2", "SpamCop"),), delisting_url="https://www.spamcop.net/bl.shtml",
    ),
    Blocklist(
        "barracuda", "Barracuda BRBL", "b.barracudacentral.org", ListKind.IP, Decoding.EXACT,
        (("127.0.0.2", "BRBL"),),
        delisting_url="https://www.barracudacentral.org/rbl/removal-request",
    ),
    Blocklist(
        "uribl", "URIBL multi", "multi.uribl.com", ListKind.DOMAIN, Decoding.BITMASK,
        (("2", "URIBL black"), ("4", "URIBL grey"), ("8", "URIBL red")),
        errors=_REFUSED, delisting_url="https://admin.uribl.com/", test_listed="test.uribl.com",
    ),
    Blocklist(
        "uribl-black", "URIBL black", "black.uribl.com", ListKind.DOMAIN, Decoding.EXACT,
        (("127.0.0.2", "URIBL black"),), errors=_REFUSED,
        delisting_url="https://admin.uribl.com/", test_listed="test.uribl.com",
    ),
    Blocklist(
        "surbl", "SURBL multi", "multi.surbl.org", ListKind.DOMAIN, Decoding.BITMASK,
        (
            ("4", "SURBL DM (disposable email)"),
            ("8", "SURBL PH (phishing)"),
            ("16", "SURBL MW (malware)"),
            ("32", "SURBL CT (click-tracker)"),
            ("64", "SURBL ABUSE"),
            ("128", "SURBL CR (cracked site)"),
        ),
        errors=_REFUSED, delisting_url="https://surbl.org/surbl-analysis",
        test_listed="test.surbl.org",
    ),
)  # fmt: skip

_BY_NAME = {blocklist.name: blocklist for blocklist in CATALOGUE}

_SPAMHAUS_ERROR_CODES = {
    "127.255.255.252": AnswerError.ZONE_TYPO,
    "127.255.255.254": AnswerError.PUBLIC_RESOLVER,
    "127.255.255.255": AnswerError.EXCESSIVE_VOLUME,
}

_ERROR_DETAILS = {
    AnswerError.MALFORMED_ANSWER: "the answer is not an IPv4 address",
    AnswerError.OUTSIDE_LOOPBACK: (
        "the answer is outside 127.0.0.0/8: the list is broken (a wildcard from a hijacked "
        "or expired zone)"
    ),
    AnswerError.QUERY_REFUSED: "the list refused the query (volume or public resolver)",
    AnswerError.PUBLIC_RESOLVER: (
        "the query came through a public or unattributable resolver; use our own resolver or DQS"
    ),
    AnswerError.EXCESSIVE_VOLUME: "the list refused the query: excessive query volume",
    AnswerError.ZONE_TYPO: "the list does not know the zone name asked (a typo in the zone)",
    AnswerError.LIST_ERROR: "the list answered with an error code (for example a bad DQS key)",
    AnswerError.IP_SENT_TO_DOMAIN_LIST: "an IP address was asked of a domain list",
    AnswerError.UNKNOWN_CODE: "the list answered a code it does not document",
}


def blocklist(name: str) -> Blocklist:
    """Return the catalogue's blocklist called *name* (``spamhaus-zen``, ``uribl``)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise UnknownBlocklist(f"unknown blocklist {name!r}; known: {known}") from None


def read_answers(blocklist: Blocklist, answers: Sequence[str]) -> BlocklistResult:
    """Return what *blocklist* said, given the A records it answered (empty for NXDOMAIN).

    Every answer must be a listing code of the list for the result to be ``listed``; one
    error code, one answer outside 127.0.0.0/8 or one undocumented code makes the whole
    result an ``error`` (the first such answer names it), since a list that answers
    nonsense once cannot be trusted for the rest of that answer.
    """
    if isinstance(answers, (str, bytes)):
        raise TypeError("answers must be a sequence of A records, not one string")
    received = tuple(answers)
    if not received:
        return BlocklistResult(blocklist.name, Outcome.NOT_LISTED)
    meanings: list[str] = []
    for answer in received:
        found = _read_one(blocklist, answer)
        if isinstance(found, AnswerError):
            detail = f"{_ERROR_DETAILS[found]} ({_shown(answer)})"
            return BlocklistResult(
                blocklist.name, Outcome.ERROR, received, error=found, detail=detail
            )
        meanings += [meaning for meaning in found if meaning not in meanings]
    return BlocklistResult(blocklist.name, Outcome.LISTED, received, tuple(meanings))


def _read_one(blocklist: Blocklist, answer: object) -> tuple[str, ...] | AnswerError:
    """Return the meanings of one answer, or the error it stands for."""
    if not isinstance(answer, str):
        return AnswerError.MALFORMED_ANSWER
    try:
        address = ipaddress.IPv4Address(answer)
    except ValueError:
        return AnswerError.MALFORMED_ANSWER
    if address not in _LOOPBACK:
        return AnswerError.OUTSIDE_LOOPBACK
    text = str(address)
    error = blocklist.error_of(text)
    if error is not None:
        return error
    if blocklist.spamhaus_errors and address in _SPAMHAUS_ERRORS:
        return _SPAMHAUS_ERROR_CODES.get(text, AnswerError.LIST_ERROR)
    if blocklist.decoding is Decoding.EXACT:
        meaning = blocklist.meaning_of(text)
        return (meaning,) if meaning else AnswerError.UNKNOWN_CODE
    return _read_bitmask(blocklist, address)


def _read_bitmask(
    blocklist: Blocklist, address: ipaddress.IPv4Address
) -> tuple[str, ...] | AnswerError:
    """Return the meanings of the bits set in the last octet; any undocumented bit is an error."""
    octets = address.packed
    if octets[:3] != b"\x7f\x00\x00" or octets[3] == 0:
        return AnswerError.UNKNOWN_CODE
    meanings = []
    for bit in range(8):
        value = 1 << bit
        if octets[3] & value:
            meaning = blocklist.meaning_of(str(value))
            if meaning is None:
                return AnswerError.UNKNOWN_CODE
            meanings.append(meaning)
    return tuple(meanings)


def _shown(answer: object) -> str:
    """Return an answer fit to show in a message: quoted, and cut if long."""
    shown = repr(answer)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def query_name(blocklist: Blocklist, target: str) -> str:
    """Return the name to ask *blocklist* about *target*: an IP address for IP lists,
    a host or domain for domain lists (its registrable domain is asked)."""
    if blocklist.kind is ListKind.IP:
        return ip_query_name(target, blocklist.zone)
    return domain_query_name(target, blocklist.zone)


def ip_query_name(address: str, zone: str) -> str:
    """Return the DNSBL name for *address* under *zone*: IPv4 octets or IPv6 nibbles reversed.

    ``192.0.2.99`` under ``zen.spamhaus.org`` is ``99.2.0.192.zen.spamhaus.org``.
    """
    parsed = _ip_address(address)
    if parsed is None:
        raise InvalidQueryTarget(f"{_shown(address)} is not an IP address")
    if isinstance(parsed, ipaddress.IPv4Address):
        labels = str(parsed).split(".")
    else:
        labels = list(parsed.exploded.replace(":", ""))
    return _joined(".".join(reversed(labels)), zone)


def domain_query_name(domain: str, zone: str, *, whole_host: bool = False) -> str:
    """Return the URI BL name for *domain* under *zone*: its registrable domain, lowercased
    and in IDNA (``xn--``) form; the whole host with *whole_host*.

    An IP address is refused: domain lists answer nonsense or an error for one.
    """
    name = normalise_domain(domain)
    return _joined(name if whole_host else registrable_domain(name), zone)


def registrable_domain(domain: str) -> str:
    """Return the registrable domain of a host (``shop.example.co.uk`` -> ``example.co.uk``).

    An approximation of the Public Suffix List: the last two labels, three under
    ``co.uk``-like suffixes.
    """
    return site_of(normalise_domain(domain))


def normalise_domain(domain: str) -> str:
    """Return *domain* stripped, lowercased, without the root dot, in IDNA (``xn--``) form.

    Raise ``InvalidQueryTarget`` for anything that is not a domain name: empty, an IP
    address, a URL or address, empty or overlong labels, characters a host cannot have.
    """
    if not isinstance(domain, str):
        raise InvalidQueryTarget(f"{_shown(domain)} is not a domain name")
    # IDNA reads the ideographic and full-width full stops as label separators too.
    value = domain.translate(_FULL_STOPS).strip().rstrip(".").lower()
    if not value:
        raise InvalidQueryTarget("no domain given")
    if _ip_address(value.strip("[]")) is not None:
        raise InvalidQueryTarget(
            f"{_shown(domain)} is an IP address; domain lists must never be asked about one"
        )
    if len(value) > MAX_NAME_LENGTH * 4:
        raise InvalidQueryTarget(f"{_shown(domain)} is too long for a domain name")
    labels = [_ascii_label(label, domain) for label in value.split(".")]
    name = ".".join(labels)
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidQueryTarget(f"{_shown(domain)} is longer than a DNS name may be")
    return name


def _ascii_label(label: str, domain: str) -> str:
    """Return one label of *domain* in ASCII, or raise naming what is wrong with it."""
    if not label:
        raise InvalidQueryTarget(f"{_shown(domain)} has an empty label")
    if not label.isascii():
        try:
            # The standard library's codec (IDNA 2003, with nameprep) gives the xn-- form.
            label = label.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidQueryTarget(
                f"{_shown(domain)} has a label that cannot be written in IDNA form"
            ) from None
    if len(label) > MAX_LABEL_LENGTH:
        raise InvalidQueryTarget(f"{_shown(domain)} has a label longer than 63 characters")
    if not _LABEL.fullmatch(label):
        raise InvalidQueryTarget(
            f"{_shown(domain)} is not a host name (letters, digits and hyphens only; "
            "give a domain, not a URL or address)"
        )
    return label


def _ip_address(value: object) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Return *value* as an IP address, or None; a scoped IPv6 address (``%eth0``) is none."""
    if not isinstance(value, str) or "%" in value:
        return None
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _joined(name: str, zone: str) -> str:
    """Return *name* under *zone*, refusing a bad zone or a result too long for DNS."""
    clean_zone = zone.strip().rstrip(".").lower() if isinstance(zone, str) else ""
    labels = clean_zone.split(".")
    if not clean_zone or not all(
        len(label) <= MAX_LABEL_LENGTH and _LABEL.fullmatch(label) for label in labels
    ):
        raise InvalidQueryTarget(f"{_shown(zone)} is not a blocklist zone")
    full = f"{name}.{clean_zone}"
    if len(full) > MAX_NAME_LENGTH:
        raise InvalidQueryTarget(f"{full[:60]}... is longer than a DNS name may be")
    return full
