"""Indicators read from an email message: ids, domains, DKIM, URLs, phone numbers, hops.

URLs are found plain and defanged (``hxxp://evil[.]example``); indicators hold them
re-fanged, so that they match what was sent, and ``defang`` gives the form to display.
"""

import email
import html
import ipaddress
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from urllib.parse import urlsplit

from abusedesk.core.clock import as_utc

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,900})>")
# An id whose brackets hold whitespace: a mail client re-wrapped the line inside it.
_BROKEN_MESSAGE_ID = re.compile(r"<([^<>]{1,1000})>")
_SRS_ADDRESS = re.compile(r"^srs[01][=+-]", re.IGNORECASE)
_VIA_NAME = re.compile(r"\bvia\b", re.IGNORECASE)
_HTML_TAG = re.compile(r"<[^<>]{0,2000}>")
_HTML_SCRIPT = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_HTML_BREAK = re.compile(r"<\s*(?:br|/p|/div|/tr|/li|/h\d)\b[^>]{0,200}>", re.IGNORECASE)
_DKIM_TAG = re.compile(r"(?:^|;)\s*([a-z]+)\s*=\s*([^;]*)", re.IGNORECASE)
# A URL plain or defanged: hxxp/h**p schemes, ``[:]//`` or ``[://]`` separators. The
# dot forms ([.], (.), [dot], (dot)) are allowed inside, so brackets are too.
_URL = re.compile(
    r"\b(?:h(?:tt|xx|\*\*)ps?|fxp|ftp)(?:\[:\]//|\[://\]|://)[^\s<>\"'`]{1,2000}",
    re.IGNORECASE,
)
# A defanged host without a scheme (``evil[.]example/login``): the marker says it is one.
# At most ten labels, and never starting inside another label, so that a long run of
# ``a[.]a[.]`` costs linear time.
_DEFANGED_HOST = re.compile(
    r"(?<![\w./\[\]()-])(?:[a-z0-9-]{1,63}(?:\[\.\]|\(\.\)|\[dot\]|\(dot\)|\.)){1,10}"
    r"[a-z]{2,63}(?:[/?#][^\s<>\"'`]{0,2000})?",
    re.IGNORECASE,
)
_DEFANG_MARK = re.compile(r"\[\.\]|\(\.\)|\[dot\]|\(dot\)", re.IGNORECASE)
_SCHEME = re.compile(r"^(?:h(?:tt|xx|\*\*)p(s?)|f[xt]p)(?:\[:\]//|\[://\]|://)", re.IGNORECASE)
# A phone number is written in international form (``+``, ``00`` or ``tel:``): without a
# country code, digits are as likely a date, an order number or a postcode.
_PHONE = re.compile(r"(?<![\w+])(?:\+|00)[1-9][0-9 ().-]{5,22}[0-9](?![\w])")
_PHONE_SEPARATORS = re.compile(r"[ ().-]{3,}")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.]*\w)(?!/)")
_IPV6 = re.compile(r"(?<![\w:.])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:]|/\d)", re.IGNORECASE)
_RECEIVED_IP = re.compile(r"[\[(](?:IPv6:\s*)?([0-9a-f:.]{2,45})[\])]", re.IGNORECASE)
MAX_DOMAIN_LENGTH = 253
# An address field read for its first address: a long From has a display name and an
# address of a few hundred characters.
MAX_ADDRESS_FIELD = 2048
# Bodies past this size are not scanned for URLs: cost stays bounded on hostile input.
URL_SCAN_LIMIT = 512 * 1024
MAX_URLS = 50
MAX_PHONE_NUMBERS = 20
MAX_IP_ADDRESSES = 50
# A Received chain longer than this is a loop or a forgery; the rest is not read.
MAX_RECEIVED = 100
MAX_RECEIVED_LENGTH = 2048
# Parts of a message looked at for an attached report; real reports have a handful.
MAX_ATTACHMENT_PARTS = 200
MAX_FILENAME_LENGTH = 255


def header(message: Message, name: str) -> str | None:
    """Return the last value of header *name* as text, unfolded and stripped."""
    values = message.get_all(name)
    if not values:
        return None
    return " ".join(str(values[-1]).split())


def message_id(message: Message) -> str | None:
    """Return the message's own Message-ID without angle brackets (the last one)."""
    return bare_message_id(header(message, "Message-ID"))


def bare_message_id(value: str | None) -> str | None:
    """Return the (last) message id in a Message-ID field value, without angle brackets.

    Ids re-wrapped by a mail client (whitespace inside the brackets) are joined again;
    an id written without brackets is taken as it stands, or, when the value holds
    words besides it, as the one word with an ``@``. An id cut short (an opening
    bracket and no closing one) is no id.
    """
    if not value:
        return None
    found = _MESSAGE_ID.findall(value)
    if found:
        return str(found[-1])
    for candidate in reversed(_BROKEN_MESSAGE_ID.findall(value)):
        joined = "".join(candidate.split())
        if "@" in joined:
            return joined
    if "<" in value and ">" not in value.rpartition("<")[2]:
        # An id whose closing bracket was cut off lost its tail with it: half an id
        # would only match the wrong message.
        return None
    bare = value.strip("<> ")
    if " " in bare:
        words = [word.strip("<>") for word in bare.split() if "@" in word]
        if len(words) == 1 and words[0]:
            return words[0]
    return bare or None


def parse_address(value: str | None) -> tuple[str, str]:
    """Return the display name and address of the first address in *value*, as ``parseaddr``
    does, or two empty strings.

    ``parseaddr`` reads every address in the field, recursing once per nested comment and
    slowing super-linearly on long crafted fields (``a@a@a@...``, ``<<<...``): only the
    first ``MAX_ADDRESS_FIELD`` characters are read, and a nesting too deep for the stack
    is no address.
    """
    if not value:
        return "", ""
    try:
        return parseaddr(value[:MAX_ADDRESS_FIELD])
    except RecursionError:
        return "", ""


def parse_addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """Return the display names and addresses in every field of *values*, as
    ``getaddresses`` does, with the bounds of ``parse_address``."""
    try:
        return getaddresses([value[:MAX_ADDRESS_FIELD] for value in values])
    except RecursionError:
        return []


def address_of(value: str | None) -> str | None:
    """Return the lowercased address in *value* (no display name, no angle brackets), or
    None when it holds no ``local@domain`` address (a null sender ``<>``, a bare name)."""
    if not value:
        return None
    _, address = parse_address(value)
    address = "".join(address.split()).strip("<>").lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain_name(domain):
        return None
    return f"{local}@{domain.rstrip('.')}"


def address_domain(value: str | None) -> str | None:
    """Return the lowercased domain of the address in *value*, if it has one."""
    if not value:
        return None
    _, address = parse_address(value)
    _, at, domain = address.rpartition("@")
    return domain_name(domain) if at else None


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
    return domain_name(words[0]) if words else None


def domain_name(value: str | None) -> str | None:
    """Return *value* as a domain name: stripped, lowercased, without the root dot; None
    when empty or longer than a DNS name can be."""
    if not value:
        return None
    domain = value.strip().lower().rstrip(".")
    # A DNS name has at most 253 characters; anything longer is not one, and a longer
    # value would not fit where domains are stored.
    return domain if 0 < len(domain) <= MAX_DOMAIN_LENGTH else None


# Second-level labels under which a registry sells names (``example.co.uk``).
_SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ne", "or", "go"})


def site_of(domain: str) -> str:
    """Return the site a host name belongs to: its last two labels, three under ``co.uk``-like
    suffixes. An approximation of the registrable domain, enough to tell a sender's own
    links from others'."""
    labels = domain.lower().rstrip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[-keep:])


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


def parse_iso_time(value: str | None) -> datetime | None:
    """Return an ISO 8601 or RFC 3339 time as UTC, or None when absent, unreadable or out
    of range (year 1 with an offset east of UTC); a time without an offset is UTC."""
    if not value:
        return None
    try:
        # RFC 3339 allows a lowercase "z", which fromisoformat refuses.
        return as_utc(datetime.fromisoformat(value.strip().replace("z", "Z")))
    except (ValueError, OverflowError):
        return None


def clean_text(value: str, limit: int) -> str | None:
    """Return a reporter's text value fit to store: whitespace collapsed, without NULs or
    lone surrogates (which JSON text may hold), at most *limit* characters; None if empty."""
    cleaned = without_surrogates(value[: limit * 2]).replace("\x00", "")
    return " ".join(cleaned.split())[:limit] or None


def html_text(markup: str) -> str:
    """Return the text of an HTML document: scripts and styles dropped, line breaks kept
    where ``<br>``, paragraphs, divisions, rows and list items end, entities decoded."""
    text = _HTML_SCRIPT.sub(" ", markup)
    text = _HTML_BREAK.sub("\n", text)
    return html.unescape(_HTML_TAG.sub(" ", text))


def text_parts(message: Message) -> Iterator[str]:
    """Yield the decoded text of the message's text parts, each cut at URL_SCAN_LIMIT bytes."""
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        yield decode_text(payload[:URL_SCAN_LIMIT], part.get_content_charset())


def decode_text(payload: bytes, charset: str | None) -> str:
    """Return *payload* as text in its declared charset, UTF-8 or Latin-1, never failing.

    The charset is the reporter's word and may name any codec Python has: one that always
    fails (``undefined``), one that refuses to decode (``idna`` on bad labels), one that
    yields lone surrogates (``utf-7``, ``unicode_escape``). The text returned always
    encodes as UTF-8.
    """
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            # UnicodeError and the errors of a malformed codec name are ValueErrors.
            return without_surrogates(payload.decode(candidate))
        except (LookupError, ValueError):
            continue
    return payload.decode("latin-1")


def without_surrogates(text: str) -> str:
    """Return *text* with lone surrogates (which no UTF-8 store accepts) replaced by ``?``."""
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def urls(message: Message) -> tuple[str, ...]:
    """Return the distinct URLs in the message's text parts, re-fanged, in order."""
    return _first_distinct((text_urls(text) for text in text_parts(message)), MAX_URLS)


def text_urls(text: str) -> list[str]:
    """Return the URLs written in *text*, plain or defanged, re-fanged, in order of appearance.

    A defanged host without a scheme (``evil[.]example/login``) counts as an http URL;
    a plain host without a scheme does not, as it is as likely a file name.
    """
    found: list[tuple[int, str]] = []
    spans: list[tuple[int, int]] = []
    for match in _URL.finditer(text):
        spans.append(match.span())
        if (url := refang(match.group())) is not None:
            found.append((match.start(), url))
        if len(found) >= MAX_URLS:
            break
    if _DEFANG_MARK.search(text) is not None:
        for match in _DEFANGED_HOST.finditer(text):
            inside_url = any(start <= match.start() < end for start, end in spans)
            if inside_url or _DEFANG_MARK.search(match.group()) is None:
                continue
            if (url := refang("http://" + match.group())) is not None:
                found.append((match.start(), url))
            if len(found) >= 2 * MAX_URLS:
                break
    return [url for _, url in sorted(found, key=lambda item: item[0])]


def refang(value: str) -> str | None:
    """Return the URL *value* with defanging undone, or None when it is no usable URL.

    ``hxxp``/``h**p`` become ``http``, ``[:]//`` and ``[://]`` become ``://``, ``[.]``,
    ``(.)``, ``[dot]`` and ``(dot)`` become ``.``; trailing punctuation is dropped.
    """
    url = _SCHEME.sub(_scheme_of, value.strip(), count=1)
    url = _DEFANG_MARK.sub(".", url)
    url = url.rstrip(".,;:!?")
    while url and url[-1] in ")]}" and url.count(url[-1]) > url.count(_OPENING[url[-1]]):
        url = url[:-1].rstrip(".,;:!?")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https", "ftp") or not host or "*" in host:
        return None
    return url


_OPENING = {")": "(", "]": "[", "}": "{"}
_BARE_DOT = re.compile(r"(?<!\[)\.(?!\])")
_BARE_SEPARATOR = re.compile(r"(?<!\[)://(?!\])")


def _scheme_of(match: re.Match[str]) -> str:
    text = match.group().lower()
    if text.startswith("f"):
        return "ftp://"
    return "https://" if match.group(1) else "http://"


def defang(url: str) -> str:
    """Return *url* in the form shown to people: not clickable, dots of the host bracketed.

    ``https://evil.example/a.b`` becomes ``hxxps://evil[.]example/a.b``; defanging twice
    gives the same as once.
    """
    plain = refang(url)
    if plain is None:
        # Not a URL we can take apart: still make sure nothing in it can be followed.
        return _BARE_DOT.sub("[.]", _BARE_SEPARATOR.sub("[://]", url))
    parts = urlsplit(plain)
    scheme = {"http": "hxxp", "https": "hxxps", "ftp": "fxp"}[parts.scheme]
    rest = plain[len(parts.scheme) + 3 :]
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.replace('.', '[.]')}{slash}{path}"


def phone_numbers(text: str) -> list[str]:
    """Return the phone numbers written in international form in *text*, as ``+digits``.

    Only ``+``/``00``-prefixed numbers of 8 to 15 digits count (E.164 allows 15); local
    forms are left alone because dates, ids and postcodes look the same.
    """
    found: list[str] = []
    for match in _PHONE.finditer(text):
        candidate = match.group()
        if _PHONE_SEPARATORS.search(candidate) or candidate.count("(") != candidate.count(")"):
            continue
        digits = re.sub(r"\D", "", candidate)
        if candidate.startswith("00"):
            digits = digits[2:]
        if 8 <= len(digits) <= 15 and not digits.startswith("0"):
            found.append("+" + digits)
        if len(found) >= MAX_PHONE_NUMBERS:
            break
    return found


def ip_addresses(text: str) -> list[str]:
    """Return the IP addresses written in *text*, normalised, in order of appearance.

    Addresses that can never name a remote host (loopback, unspecified, multicast,
    link-local) and network prefixes (``10.0.0.0/24``) are left out.
    """
    found: list[tuple[int, str]] = []
    for pattern in (_IPV4, _IPV6):
        for match in pattern.finditer(text):
            if (address := host_address(match.group())) is not None:
                found.append((match.start(), address))
            if len(found) >= 2 * MAX_IP_ADDRESSES:
                break
    ordered = sorted(found, key=lambda item: item[0])
    return list(dict.fromkeys(address for _, address in ordered))[:MAX_IP_ADDRESSES]


def ip_text(value: str | None) -> str | None:
    """Return *value* as an IP address of any kind in its normal form, or None."""
    if not value:
        return None
    try:
        return ipaddress.ip_address(value.strip()).compressed
    except ValueError:
        return None


def host_address(value: str) -> str | None:
    """Return *value* as a normalised IP address when it can name a remote host, else None."""
    try:
        address = ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (
        address.is_loopback
        or address.is_unspecified
        or address.is_multicast
        or address.is_link_local
    ):
        return None
    return str(address)


def received_from_addresses(message: Message) -> Iterator[str | None]:
    """Yield, newest first, the connecting IP each Received header records (None if none).

    Reads ``from host (rdns [192.0.2.1])``, ``from [192.0.2.1]``, ``from host ([IPv6:
    2001:db8::1])`` and qmail's ``from host (HELO x) (192.0.2.1)``; only the ``from``
    clause counts, so the receiving host after ``by`` is never taken for the sender.
    """
    for hop in received_hops(message):
        yield hop.address


@dataclass(frozen=True)
class Hop:
    """One Received header: the host and IP it came from, and the host that took it."""

    from_host: str | None
    address: str | None
    by_host: str | None


def received_hops(message: Message) -> Iterator[Hop]:
    """Yield the Received headers of *message* as hops, newest first."""
    for value in (message.get_all("Received") or ())[:MAX_RECEIVED]:
        text = " ".join(str(value)[:MAX_RECEIVED_LENGTH].split())
        lowered = text.lower()
        if lowered.startswith("by "):
            taken_by = text[3:]
        elif (at := lowered.find(" by ")) != -1:
            taken_by = text[at + 4 :]
        else:
            taken_by = ""
        by_host = domain_name(taken_by.split(" ", 1)[0].strip(";,()[]"))
        if not lowered.startswith("from "):
            yield Hop(None, None, by_host)
            continue
        end = lowered.find(" by ")
        clause = text[5 : end if end != -1 else len(text)]
        first_word = clause.split(" ", 1)[0]
        candidates = [first_word, *_RECEIVED_IP.findall(clause)]
        address = next((a for a in map(host_address, candidates) if a is not None), None)
        from_host = None if host_address(first_word) else domain_name(first_word.strip("[]"))
        yield Hop(from_host, address, by_host)


def first_external_hop(
    message: Message, own_networks: Collection[ipaddress.IPv4Network | ipaddress.IPv6Network] = ()
) -> str | None:
    """Return the IP of the first hop outside the receiving side, walking Received down.

    The receiving side's own hops are those from internal addresses (``is_internal``:
    relays inside one site) and from *own_networks*; the first public address below
    them is where the message entered, the only hop the recipient can vouch for.
    """
    for value in received_from_addresses(message):
        if value is None:
            continue
        address = ipaddress.ip_address(value)
        if is_internal(address) or any(address in network for network in own_networks):
            continue
        return value
    return None


# Addresses a site uses inside itself (RFC 1918, RFC 6598 shared, unique local) or that
# can never connect (loopback, link-local, multicast, reserved). Documentation ranges are
# not here: they never appear in real mail, and examples are written with them.
_INTERNAL_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
        "::/127",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


def is_internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Tell whether *address* belongs to a site's inside or to no host at all."""
    return any(
        address.version == network.version and address in network for network in _INTERNAL_NETWORKS
    )


def _first_distinct(groups: Iterable[Iterable[str]], limit: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for value in group:
            seen.setdefault(value, None)
            if len(seen) >= limit:
                return tuple(seen)
    return tuple(seen)


def rewritten_by_list(message: Message) -> bool:
    """Tell whether a mailing list put its own address in the message's From.

    Lists that cannot pass on their members' DMARC-protected mail (Google Groups,
    Mailman) write ``"Name via List" <list@...>`` and mark the message with ``List-Id``:
    the From then names the list, not the sender.
    """
    name, _ = parse_address(header(message, "From"))
    return bool(_VIA_NAME.search(name)) and message.get("List-Id") is not None


def author_field(message: Message) -> str | None:
    """Return the field that names the message's author: From, or, when a mailing list
    rewrote From, the ``X-Original-From`` it kept (None when it kept none)."""
    if rewritten_by_list(message):
        return header(message, "X-Original-From")
    return header(message, "From")


def relayed_by_forwarder(message: Message) -> bool:
    """Tell whether a message reached its reader through a forwarder or a list.

    The newest outside hop of such a message is the forwarder's, not the sender's: an
    SRS-rewritten Return-Path, ``Resent-*`` or ``X-Forwarded-*`` fields, a list's
    rewritten From, or a relay that re-signed it (``_resent_by_relay``) say so.
    """
    return_path = address_of(header(message, "Return-Path")) or ""
    return (
        bool(_SRS_ADDRESS.match(return_path))
        or any(
            message.get(name) is not None
            for name in ("Resent-From", "Resent-Sender", "X-Forwarded-To", "X-Forwarded-For")
        )
        or rewritten_by_list(message)
        or _resent_by_relay(message)
    )


def _resent_by_relay(message: Message) -> bool:
    """Tell whether the newest outside hop is a relay that took the message in from
    outside and sent it on under its own signature: a list or forwarder without headers
    of its own.

    The relay's site signed the message (a DKIM ``d=`` of its site, which is neither the
    From's, unless From says "Name via List", nor the Return-Path's), and an older hop
    shows a host of that site receiving the message from a public address.
    """
    hops = list(received_hops(message))
    newest = next(
        (i for i, hop in enumerate(hops) if hop.address and not _is_internal_text(hop.address)),
        None,
    )
    if newest is None or not hops[newest].from_host:
        return False
    relay = site_of(hops[newest].from_host or "")
    from_name, from_address = parse_address(header(message, "From"))
    # A list that rewrote From as "Name via List" signs and sends as itself.
    author = None if _VIA_NAME.search(from_name) else address_domain(from_address)
    senders = {
        site_of(domain)
        for domain in (author, address_domain(header(message, "Return-Path")))
        if domain
    }
    if relay in senders or relay not in {site_of(d) for d, _ in dkim_signatures(message)}:
        return False
    return any(
        hop.by_host is not None
        and site_of(hop.by_host) == relay
        and hop.address is not None
        and not _is_internal_text(hop.address)
        for hop in hops[newest + 1 :]
    )


def _is_internal_text(address: str) -> bool:
    """Tell whether the IP written as *address* is a site's inside (see ``is_internal``)."""
    return is_internal(ipaddress.ip_address(address))


def message_indicators(message: Message) -> dict[str, tuple[str, ...]]:
    """Return the indicators of a (reported) message: ids, senders, DKIM, URLs.

    ``from_address`` and ``from_domain`` name the author (see ``author_field``);
    ``envelope_sender`` and ``envelope_domain`` come from the Return-Path.
    """
    found: dict[str, tuple[str, ...]] = {}
    if mid := message_id(message):
        found["message_id"] = (mid,)
    author = author_field(message)
    if from_address := address_of(author):
        found["from_address"] = (from_address,)
    if from_domain := address_domain(author):
        found["from_domain"] = (from_domain,)
    return_path = header(message, "Return-Path")
    if envelope_sender := address_of(return_path):
        found["envelope_sender"] = (envelope_sender,)
    if envelope_domain := address_domain(return_path):
        found["envelope_domain"] = (envelope_domain,)
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


def add_envelope_sender(indicators: dict[str, tuple[str, ...]], value: str | None) -> None:
    """Add the address in *value* to ``envelope_sender`` and its domain to
    ``envelope_domain``, after the values already there; a null sender adds nothing."""
    address = address_of(value)
    if address is None:
        return
    domain = address.rpartition("@")[2]
    for kind, new in (("envelope_sender", address), ("envelope_domain", domain)):
        indicators[kind] = tuple(dict.fromkeys((*indicators.get(kind, ()), new)))


def evidence_indicators(message: Message) -> dict[str, tuple[str, ...]]:
    """Return the indicators of a message held up as evidence: those of
    ``message_indicators``, the source IP from its Received chain (unless a forwarder
    relayed it) and its phone numbers."""
    found: dict[str, tuple[str, ...]] = {}
    # Through a forwarder or a list, the newest outside hop is theirs: no IP beats a wrong one.
    if not relayed_by_forwarder(message) and (source_ip := first_external_hop(message)):
        found["source_ip"] = (source_ip,)
    found.update(message_indicators(message))
    if phones := _first_distinct(map(phone_numbers, text_parts(message)), MAX_PHONE_NUMBERS):
        found["phone_number"] = phones
    return found


def embedded_message(part: Message) -> Message | None:
    """Return the message inside a ``message/rfc822`` or ``text/rfc822-headers`` part."""
    payload = undecoded_payload(part)
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


def undecoded_payload(part: Message) -> list[Message] | str | None:
    """Return ``part.get_payload()``: its parts, or its text as sent; never raise.

    Given 8-bit bytes, the email package decodes the text with the part's charset and
    survives only an unknown one: a charset that fails (``undefined``, ``idna``) raises
    UnicodeError. Such a part is read as UTF-8 (else Latin-1) instead.
    """
    try:
        payload = part.get_payload()
    except ValueError:
        raw = part.get_payload(decode=True)
        return decode_text(raw, None) if isinstance(raw, bytes) else None
    if isinstance(payload, list):
        return [item for item in payload if isinstance(item, Message)]
    return payload if isinstance(payload, str) else None


def filename(part: Message) -> str:
    """Return a part's file name (Content-Disposition, else Content-Type ``name``), or ''.

    The name is the reporter's text: an RFC 2231 charset that fails to decode (the email
    package lets that escape) gives '', and the name returned always encodes as UTF-8.
    """
    try:
        name = part.get_filename() or part.get_param("name")
    except (LookupError, ValueError, TypeError):
        return ""
    if not isinstance(name, str):
        return ""
    return without_surrogates(name[:MAX_FILENAME_LENGTH])


def attachments(
    message: Message, wanted: Callable[[str, str], bool]
) -> Iterator[tuple[str, str, bytes]]:
    """Yield ``(content type, file name, decoded payload)`` of the leaf parts that *wanted*
    takes by their content type and file name, among the first MAX_ATTACHMENT_PARTS.

    Empty parts are left out.
    """
    for count, part in enumerate(message.walk()):
        if count >= MAX_ATTACHMENT_PARTS:
            return
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        name = filename(part)
        if not wanted(content_type, name):
            continue
        data = part.get_payload(decode=True)
        if isinstance(data, bytes) and data:
            yield content_type, name, data
