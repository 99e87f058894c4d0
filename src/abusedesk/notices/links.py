"""Signed tokens for the customer portal link and the per-case reply address.

Portal token: ``p1.<key id>.<payload>.<mac>``, where the payload is the URL-safe base64
(no padding) of ``<notice id>\\n<account id>\\n<expiry unix seconds>`` and the mac is
the URL-safe base64 of HMAC-SHA256 over ``p1.<key id>.<payload>``. The whole token is
URL-safe and fits in a path segment.

Reply address: ``<mailbox>+<case id>.<key id>.<mac>@<domain>``, where the mac is the
first 80 bits of HMAC-SHA256 over ``r1.<key id>.<case id>`` in lowercase base32. It is
all lowercase because mail systems may change the case of a local part. It does not
expire: a customer may answer a notice weeks later.

Both name the key that signed them, so that a new key can sign while the old one still
verifies (`Keyring`).
"""

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from abusedesk.core.errors import AbuseDeskError

_KEY_ID = re.compile(r"[a-z0-9]{1,16}")
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CASE_ID = re.compile(r"[a-z0-9-]{1,64}")
_REPLY_MAC_BYTES = 10


class LinkRefused(AbuseDeskError):
    """Raise when a portal token or reply address cannot be accepted; subclasses say why."""


class MalformedLink(LinkRefused):
    """Raise when a token or address does not have the expected shape."""


class UnknownLinkKey(LinkRefused):
    """Raise when a token names a key id the keyring does not hold (retired or made up)."""


class TamperedLink(LinkRefused):
    """Raise when a token's signature does not match its content."""


class ExpiredLink(LinkRefused):
    """Raise when a correctly signed portal token is past its expiry."""


class InvalidKeyring(AbuseDeskError):
    """Raise when a keyring's keys or key ids are unusable."""


@dataclass(frozen=True)
class Keyring:
    """Secret keys by key id; *current* signs, every key verifies.

    Key ids are 1-16 lowercase letters or digits; keys at least 32 bytes. Rotate by
    adding a key, making it current, and removing the old one once its links expired.
    """

    keys: Mapping[str, bytes]
    current: str

    def __post_init__(self) -> None:
        """Refuse a keyring that cannot sign or names keys badly."""
        for key_id, key in self.keys.items():
            if not _KEY_ID.fullmatch(key_id):
                raise InvalidKeyring(f"key id {key_id!r} must be 1-16 of [a-z0-9]")
            if len(key) < 32:
                raise InvalidKeyring(f"key {key_id!r} must be at least 32 bytes")
        if self.current not in self.keys:
            raise InvalidKeyring(f"current key id {self.current!r} is not in the keyring")

    def key(self, key_id: str) -> bytes:
        """Return the key named *key_id*, or raise `UnknownLinkKey`."""
        try:
            return self.keys[key_id]
        except KeyError:
            raise UnknownLinkKey(f"no key with id {key_id!r}") from None


@dataclass(frozen=True)
class PortalLink:
    """What a valid portal token grants: one notice of one account, until *expires_at*."""

    notice_id: str
    account_id: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise MalformedLink("token holds characters outside URL-safe base64")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise MalformedLink("token part is not valid base64") from None
    # Only the one encoding we write: spare bits set would be a second spelling.
    if _b64(data) != text:
        raise MalformedLink("token part is not canonical base64")
    return data


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment


def portal_token(keyring: Keyring, notice_id: str, account_id: str, expires_at: datetime) -> str:
    """Return a signed token opening notice *notice_id* of *account_id* until *expires_at*.

    Ids are 1-64 characters of ``[A-Za-z0-9_-]``; other ids raise `MalformedLink`.
    """
    for name, value in (("notice id", notice_id), ("account id", account_id)):
        if not _ID.fullmatch(value):
            raise MalformedLink(f"{name} {value[:70]!r} must be 1-64 of [A-Za-z0-9_-]")
    expiry = int(_aware(expires_at, "expires_at").timestamp())
    payload = _b64(f"{notice_id}\n{account_id}\n{expiry}".encode("ascii"))
    signed = f"p1.{keyring.current}.{payload}"
    mac = hmac.new(keyring.key(keyring.current), signed.encode("ascii"), hashlib.sha256).digest()
    return f"{signed}.{_b64(mac)}"


def read_portal_token(keyring: Keyring, token: str, now: datetime) -> PortalLink:
    """Verify *token* and return what it grants.

    Checks, in order: shape (`MalformedLink`), key id (`UnknownLinkKey`), signature in
    constant time (`TamperedLink`), then expiry against *now* (`ExpiredLink`).
    """
    if not token.isascii() or len(token) > 400:
        raise MalformedLink("token is not a short ASCII string")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != "p1":
        raise MalformedLink("token must read p1.<key id>.<payload>.<mac>")
    _, key_id, payload, mac = parts
    if not _KEY_ID.fullmatch(key_id):
        raise MalformedLink("token's key id is malformed")
    key = keyring.key(key_id)
    payload_bytes = _unb64(payload)
    expected = hmac.new(key, f"p1.{key_id}.{payload}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(mac)):
        raise TamperedLink("token signature does not match")
    # Signed by us, so the payload has the shape we wrote; check anyway.
    fields = payload_bytes.decode("ascii", "replace").split("\n")
    if len(fields) != 3 or not fields[2].isdigit():
        raise MalformedLink("token payload is malformed")
    expires_at = datetime.fromtimestamp(int(fields[2]), tz=UTC)
    if _aware(now, "now") >= expires_at:
        raise ExpiredLink(f"link expired at {expires_at.isoformat()}")
    return PortalLink(notice_id=fields[0], account_id=fields[1], expires_at=expires_at)


def _reply_mac(key: bytes, key_id: str, case_id: str) -> str:
    digest = hmac.new(key, f"r1.{key_id}.{case_id}".encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest[:_REPLY_MAC_BYTES]).decode("ascii").lower()


def reply_address(keyring: Keyring, case_id: str, domain: str, mailbox: str = "case") -> str:
    """Return the reply address of case *case_id*: ``case+<id>.<kid>.<mac>@<domain>``.

    Case ids are 1-64 of ``[a-z0-9-]`` (lowercase, since mail may fold case).
    """
    if not _CASE_ID.fullmatch(case_id):
        raise MalformedLink(f"case id {case_id[:70]!r} must be 1-64 of [a-z0-9-]")
    if not re.fullmatch(r"[a-z0-9-]{1,32}", mailbox) or not re.fullmatch(
        r"[a-z0-9.-]{1,253}", domain
    ):
        raise MalformedLink("mailbox or domain holds characters a reply address cannot")
    mac = _reply_mac(keyring.key(keyring.current), keyring.current, case_id)
    return f"{mailbox}+{case_id}.{keyring.current}.{mac}@{domain}"


def read_reply_address(keyring: Keyring, address: str, mailbox: str = "case") -> str:
    """Return the case id a reply address names, after checking its signature.

    Accepts any case and surrounding ``<>`` or spaces. Raises `MalformedLink` for an
    address of another shape or mailbox, `UnknownLinkKey`, or `TamperedLink`.
    """
    text = address.strip().removeprefix("<").removesuffix(">").lower()
    local, at, _domain = text.rpartition("@")
    box, plus, token = local.partition("+")
    if not at or not plus or box != mailbox or not text.isascii():
        raise MalformedLink(f"not a {mailbox}+<token>@ reply address")
    parts = token.split(".")
    if len(parts) != 3 or not _CASE_ID.fullmatch(parts[0]) or not _KEY_ID.fullmatch(parts[1]):
        raise MalformedLink("reply token must read <case id>.<key id>.<mac>")
    case_id, key_id, mac = parts
    expected = _reply_mac(keyring.key(key_id), key_id, case_id)
    if not hmac.compare_digest(expected.encode("ascii"), mac.encode("ascii")):
        raise TamperedLink("reply address signature does not match")
    return case_id
