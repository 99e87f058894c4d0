"""Turn one row (a mapping of strings and JSON values) into a typed record, or say why not.

CSV files give every value as a string, with ``""`` for an empty cell; JSON Lines and the
API give strings, numbers, objects and ``null``. Both read the same: an empty string or
``null`` is a missing value. Times are ISO 8601 (UTC when they carry no offset), IPs are
stored in their canonical form, and a send-log row's ``recipient`` is hashed here, so the
address itself goes no further.
"""

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from abusedesk.attribution.keys import ResourceKind
from abusedesk.core.clock import as_utc
from abusedesk.core.hashing import sha256_hex
from abusedesk.inventory.errors import RowRejected, UnknownTable
from abusedesk.inventory.model import (
    STAT_FIGURES,
    AccountRecord,
    AllocationRecord,
    PoolRecord,
    Record,
    ResourceRecord,
    ResourceRef,
    RowError,
    SendingStatRecord,
    SendLogRecord,
    Table,
)

POOL_KINDS = ("shared", "dedicated")
# The largest figure an hourly statistics column holds (a 32-bit integer).
MAX_FIGURE = 2**31 - 1
# The longest Feedback-ID a statistics row may name (a signal's subject id holds it).
MAX_FEEDBACK_ID = 180
_HEX64 = re.compile(r"[0-9a-f]{64}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_DOMAIN_KINDS = (ResourceKind.IDENTITY_DOMAIN, ResourceKind.MAIL_ORGANIZATION)
_ADDRESS_KINDS = (ResourceKind.IDENTITY_ADDRESS, ResourceKind.MAILBOX)

FIELDS: dict[str, tuple[str, ...]] = {
    Table.ACCOUNTS: (
        "external_id",
        "name",
        "created_at",
        "contact_email",
        "country",
        "size_tier",
        "payment_fingerprint",
        "attributes",
    ),
    Table.IP_POOLS: ("name", "kind", "account"),
    Table.RESOURCES: ("account", "kind", "value", "created_at", "deleted_at", "attributes"),
    Table.IP_ALLOCATIONS: ("ip", "valid_from", "valid_to", "pool", "account"),
    Table.SEND_LOG: (
        "provider_message_id",
        "account",
        "sent_at",
        "resource_kind",
        "resource_value",
        "message_id_header",
        "configuration_set",
        "source_ip",
        "mail_from",
        "recipient_domain",
        "recipient",
        "recipient_hash",
    ),
    Table.SENDING_STATS: (
        "account",
        "hour",
        "resource_kind",
        "resource_value",
        "destination_group",
        *STAT_FIGURES,
        "pool",
        "feedback_id",
    ),
}


def recipient_hash(address: str) -> str:
    """Return the SHA-256 hex of the lowercased address, as events carry recipients."""
    cleaned = address.strip().strip("<>").strip().lower()
    return sha256_hex(cleaned.encode("utf-8", "replace"))


def normal_resource_value(kind: str, value: str) -> str:
    """Return a resource value as it is stored: domains and addresses lowercased, IPs canonical."""
    value = value.strip()
    if kind in _DOMAIN_KINDS:
        return value.lower().rstrip(".")
    if kind in _ADDRESS_KINDS:
        return value.strip("<>").lower()
    if kind == ResourceKind.DEDICATED_IP:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            return value
    return value


def parse_row(table: str, line: int, row: Mapping[str, Any]) -> Record:
    """Return the record *row* describes, or raise RowRejected with one error per bad field."""
    parse = _PARSERS.get(table)
    if parse is None:
        raise UnknownTable(f"no inventory table is called {table!r}")
    fields = _Fields(line, row, FIELDS[table])
    record = parse(fields)
    if fields.errors or record is None:
        raise RowRejected(fields.errors or [RowError(line, "", "the row is not valid")])
    return record


class _Fields:
    """Read typed fields out of one row, collecting an error for each bad one."""

    def __init__(self, line: int, row: Mapping[str, Any], known: tuple[str, ...]) -> None:
        self.line = line
        self.row = row
        self.errors: list[RowError] = []
        for name in row:
            if name is None or not isinstance(name, str):
                self.fail("", "the row has more values than the header has columns")
            elif name not in known:
                self.fail(name, f"unknown field; this table has {', '.join(known)}")

    def fail(self, name: str, message: str) -> None:
        self.errors.append(RowError(self.line, name, message))

    def text(self, name: str, *, max_length: int, required: bool = False) -> str | None:
        value = self.row.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self.fail(name, "is required")
            return None
        if not isinstance(value, str):
            self.fail(name, "must be text")
            return None
        if "\x00" in value:
            self.fail(name, "must not contain NUL characters")
            return None
        if len(value) > max_length:
            self.fail(name, f"is longer than {max_length} characters")
            return None
        return value

    def required_text(self, name: str, *, max_length: int) -> str:
        return self.text(name, max_length=max_length, required=True) or ""

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.row.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self.fail(name, "is required")
            return None
        if not isinstance(value, str):
            self.fail(name, "must be an ISO 8601 time as text, like 2026-03-01T12:00:00Z")
            return None
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, f"{_shown(value)} is not an ISO 8601 time, like 2026-03-01T12:00:00Z")
            return None
        return as_utc(parsed)

    def ip(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, max_length=64, required=required)
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.fail(name, f"{_shown(value)} is not an IPv4 or IPv6 address")
            return None

    def choice(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.text(name, max_length=64, required=required)
        if value is None:
            return None
        if value.lower() not in choices:
            self.fail(name, f"{_shown(value)} is not one of {', '.join(choices)}")
            return None
        return value.lower()

    def figure(self, name: str) -> int:
        value = self.row.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            return 0
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            self.fail(name, "must be a whole number")
            return 0
        if not 0 <= value <= MAX_FIGURE:
            self.fail(name, f"must be between 0 and {MAX_FIGURE}")
            return 0
        return value

    def attributes(self, name: str) -> dict[str, Any]:
        value = self.row.get(name)
        if isinstance(value, str):
            if not value.strip():
                return {}
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                self.fail(name, "must be a JSON object")
                return {}
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(name, "must be a JSON object")
            return {}
        return value

    def resource_ref(self) -> ResourceRef | None:
        kind = self.choice("resource_kind", ResourceKind.ALL)
        value = self.text("resource_value", max_length=320)
        if kind is None and value is None:
            return None
        if kind is None or value is None:
            if "resource_kind" not in {e.field for e in self.errors}:
                missing = "resource_value" if value is None else "resource_kind"
                self.fail(missing, "resource_kind and resource_value go together")
            return None
        return ResourceRef(kind, normal_resource_value(kind, value))


def _shown(value: str) -> str:
    """Return a value quoted in an error message, cut short when long."""
    return repr(value if len(value) <= 60 else value[:57] + "...")


def _account(f: _Fields) -> AccountRecord | None:
    external_id = f.required_text("external_id", max_length=64)
    name = f.required_text("name", max_length=200)
    created_at = f.time("created_at", required=True)
    contact_email = f.text("contact_email", max_length=320)
    if contact_email is not None and "@" not in contact_email:
        f.fail("contact_email", "must be an email address")
    country = f.text("country", max_length=2)
    if country is not None:
        country = country.upper()
        if not _COUNTRY.fullmatch(country):
            f.fail("country", "must be a two-letter country code")
    size_tier = f.text("size_tier", max_length=20) or "small"
    fingerprint = f.text("payment_fingerprint", max_length=128)
    attributes = f.attributes("attributes")
    if created_at is None:
        return None
    return AccountRecord(
        external_id=external_id,
        name=name,
        created_at=created_at,
        contact_email=contact_email,
        country=country,
        size_tier=size_tier,
        payment_fingerprint=fingerprint,
        attributes=attributes,
    )


def _pool(f: _Fields) -> PoolRecord | None:
    name = f.required_text("name", max_length=100)
    kind = f.choice("kind", POOL_KINDS, required=True)
    account = f.text("account", max_length=64)
    if kind == "dedicated" and account is None:
        f.fail("account", "a dedicated pool names the account it belongs to")
    if kind == "shared" and account is not None:
        f.fail("account", "a shared pool belongs to no single account; leave it empty")
    if kind is None:
        return None
    return PoolRecord(name=name, kind=kind, account=account)


def _resource(f: _Fields) -> ResourceRecord | None:
    account = f.required_text("account", max_length=64)
    kind = f.choice("kind", ResourceKind.ALL, required=True)
    value = f.required_text("value", max_length=320)
    created_at = f.time("created_at", required=True)
    deleted_at = f.time("deleted_at")
    attributes = f.attributes("attributes")
    if kind == ResourceKind.DEDICATED_IP and value:
        f.ip("value")
    if created_at is not None and deleted_at is not None and deleted_at <= created_at:
        f.fail("deleted_at", "must come after created_at")
    if kind is None or created_at is None:
        return None
    return ResourceRecord(
        account=account,
        kind=kind,
        value=normal_resource_value(kind, value),
        created_at=created_at,
        deleted_at=deleted_at,
        attributes=attributes,
    )


def _allocation(f: _Fields) -> AllocationRecord | None:
    ip = f.ip("ip", required=True)
    valid_from = f.time("valid_from", required=True)
    valid_to = f.time("valid_to")
    pool = f.text("pool", max_length=100)
    account = f.text("account", max_length=64)
    if pool is None and account is None:
        f.fail("pool", "an allocation names a pool, an account, or both")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        f.fail("valid_to", "must come after valid_from")
    if ip is None or valid_from is None:
        return None
    return AllocationRecord(
        ip=ip, valid_from=valid_from, valid_to=valid_to, pool=pool, account=account
    )


def _send_log(f: _Fields) -> SendLogRecord | None:
    provider_message_id = f.required_text("provider_message_id", max_length=200)
    account = f.required_text("account", max_length=64)
    sent_at = f.time("sent_at", required=True)
    resource = f.resource_ref()
    message_id_header = f.text("message_id_header", max_length=998)
    if message_id_header is not None:
        # Stored as events carry it: without the angle brackets.
        message_id_header = message_id_header.strip().strip("<>").strip() or None
    configuration_set = f.text("configuration_set", max_length=200)
    source_ip = f.ip("source_ip")
    mail_from = f.text("mail_from", max_length=320)
    recipient_domain = f.text("recipient_domain", max_length=255)
    recipient = f.text("recipient", max_length=320)
    given_hash = f.text("recipient_hash", max_length=64)
    hashed: str | None = None
    if recipient is not None and given_hash is not None:
        f.fail("recipient", "give recipient or recipient_hash, not both")
    elif recipient is not None:
        if "@" not in recipient:
            f.fail("recipient", "must be an email address")
        else:
            hashed = recipient_hash(recipient)
            if recipient_domain is None:
                recipient_domain = recipient.strip("<> ").rpartition("@")[2].lower() or None
    elif given_hash is not None:
        hashed = given_hash.lower()
        if not _HEX64.fullmatch(hashed):
            f.fail("recipient_hash", "must be a SHA-256 in hex (64 characters)")
    if recipient_domain is not None:
        recipient_domain = recipient_domain.lower().rstrip(".")
    if sent_at is None:
        return None
    return SendLogRecord(
        provider_message_id=provider_message_id,
        account=account,
        sent_at=sent_at,
        resource=resource,
        message_id_header=message_id_header,
        configuration_set=configuration_set,
        source_ip=source_ip,
        mail_from=mail_from,
        recipient_domain=recipient_domain,
        recipient_hash=hashed,
    )


def _sending_stat(f: _Fields) -> SendingStatRecord | None:
    account = f.required_text("account", max_length=64)
    hour = f.time("hour", required=True)
    resource = f.resource_ref()
    group = f.text("destination_group", max_length=40) or "other"
    figures = {name: f.figure(name) for name in STAT_FIGURES}
    pool = f.text("pool", max_length=100)
    feedback_id = f.text("feedback_id", max_length=MAX_FEEDBACK_ID)
    parts = [name for name, given in (("resource_kind", resource), ("pool", pool)) if given]
    if feedback_id is not None:
        parts.append("feedback_id")
    if len(parts) > 1:
        f.fail(
            parts[1], f"a row is about one part of the mail; give only one of {', '.join(parts)}"
        )
    if hour is not None and (hour.minute, hour.second, hour.microsecond) != (0, 0, 0):
        f.fail("hour", "must be the start of an hour, like 2026-03-01T12:00:00Z")
    if hour is None:
        return None
    return SendingStatRecord(
        account=account,
        hour=hour,
        resource=resource,
        destination_group=group,
        pool=pool,
        feedback_id=feedback_id,
        **figures,
    )


_PARSERS: dict[str, Callable[[_Fields], Record | None]] = {
    Table.ACCOUNTS: _account,
    Table.IP_POOLS: _pool,
    Table.RESOURCES: _resource,
    Table.IP_ALLOCATIONS: _allocation,
    Table.SEND_LOG: _send_log,
    Table.SENDING_STATS: _sending_stat,
}
