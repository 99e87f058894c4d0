"""One record type per inventory table, named by natural keys, never by internal ids.

Rows name accounts by external id, pools by name and resources by (kind, value) within
their account, so that the provider's own records can be loaded as they are.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class Table:
    """The inventory tables an import or the API feeds, by their canonical names."""

    ACCOUNTS = "accounts"
    IP_POOLS = "ip_pools"
    RESOURCES = "resources"
    IP_ALLOCATIONS = "ip_allocations"
    SEND_LOG = "send_log"
    SENDING_STATS = "sending_stats"

    ALL = (ACCOUNTS, IP_POOLS, RESOURCES, IP_ALLOCATIONS, SEND_LOG, SENDING_STATS)


def table_named(name: str) -> str | None:
    """Return the canonical table for *name* (``ip-pools`` or ``ip_pools``), or None."""
    canonical = name.strip().lower().replace("-", "_")
    return canonical if canonical in Table.ALL else None


def dashed(table: str) -> str:
    """Return a table's name as the command line and the API spell it (``ip-pools``)."""
    return table.replace("_", "-")


@dataclass(frozen=True)
class RowError:
    """Why one row was rejected: its line (or position), the field, and what is wrong."""

    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the error as the API and error files report it."""
        return {"line": self.line, "field": self.field, "message": self.message}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True)
class AccountRecord:
    """A customer account. Its standing is abusedesk's own and is never imported."""

    external_id: str
    name: str
    created_at: datetime
    contact_email: str | None = None
    country: str | None = None
    size_tier: str = "small"
    payment_fingerprint: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> str:
        """Return the natural key: the external id."""
        return self.external_id

    def as_row(self) -> dict[str, Any]:
        """Return the record in the row shape an import reads."""
        return {
            "external_id": self.external_id,
            "name": self.name,
            "created_at": _iso(self.created_at),
            "contact_email": self.contact_email,
            "country": self.country,
            "size_tier": self.size_tier,
            "payment_fingerprint": self.payment_fingerprint,
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True)
class PoolRecord:
    """An IP pool: ``shared`` by many accounts, or ``dedicated`` to one account."""

    name: str
    kind: str
    account: str | None = None

    @property
    def key(self) -> str:
        """Return the natural key: the pool's name."""
        return self.name

    def as_row(self) -> dict[str, Any]:
        """Return the record in the row shape an import reads."""
        return {"name": self.name, "kind": self.kind, "account": self.account}


@dataclass(frozen=True)
class ResourceRecord:
    """Something that sends for an account, held during [created_at, deleted_at)."""

    account: str
    kind: str
    value: str
    created_at: datetime
    deleted_at: datetime | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)

    @property
    def key(self) -> tuple[str, str, str]:
        """Return the natural key: (account external id, kind, value)."""
        return (self.account, self.kind, self.value)

    def as_row(self) -> dict[str, Any]:
        """Return the record in the row shape an import reads."""
        return {
            "account": self.account,
            "kind": self.kind,
            "value": self.value,
            "created_at": _iso(self.created_at),
            "deleted_at": _iso(self.deleted_at),
            "attributes": dict(self.attributes),
        }


@dataclass(frozen=True)
class AllocationRecord:
    """Which pool and/or account held an IP during [valid_from, valid_to)."""

    ip: str
    valid_from: datetime
    valid_to: datetime | None = None
    pool: str | None = None
    account: str | None = None

    @property
    def key(self) -> tuple[str, datetime]:
        """Return the natural key: (IP, valid_from)."""
        return (self.ip, self.valid_from)

    def as_row(self) -> dict[str, Any]:
        """Return the record in the row shape an import reads."""
        return {
            "ip": self.ip,
            "valid_from": _iso(self.valid_from),
            "valid_to": _iso(self.valid_to),
            "pool": self.pool,
            "account": self.account,
        }


@dataclass(frozen=True)
class ResourceRef:
    """A resource named the way rows name it: its kind and value within the row's account."""

    kind: str
    value: str


@dataclass(frozen=True)
class SendLogRecord:
    """One message the provider sent. Only the recipient's hash is kept, never the address."""

    provider_message_id: str
    account: str
    sent_at: datetime
    resource: ResourceRef | None = None
    message_id_header: str | None = None
    configuration_set: str | None = None
    source_ip: str | None = None
    mail_from: str | None = None
    recipient_domain: str | None = None
    recipient_hash: str | None = None

    @property
    def key(self) -> str:
        """Return the natural key: the provider message id."""
        return self.provider_message_id


# The figures of an hourly statistics row, in the order files and tables list them.
STAT_FIGURES = (
    "sent",
    "delivered",
    "hard_bounces",
    "hard_bounces_non_verified",
    "fbl_sent",
    "complaints",
    "trap_hits",
)


@dataclass(frozen=True)
class SendingStatRecord:
    """Sending figures of one account, hour and destination group.

    A row is about the account as a whole, or about one part of its mail: one of its
    resources (*resource*), its mail through one IP pool (*pool*, by name), or one
    Feedback-ID campaign (*feedback_id*, as the mailbox provider reports it); at most
    one of the three.
    """

    account: str
    hour: datetime
    resource: ResourceRef | None = None
    destination_group: str = "other"
    sent: int = 0
    delivered: int = 0
    hard_bounces: int = 0
    hard_bounces_non_verified: int = 0
    fbl_sent: int = 0
    complaints: int = 0
    trap_hits: int = 0
    pool: str | None = None
    feedback_id: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None, datetime, str]:
        """Return the natural key: (account, part kind, part name, hour, group)."""
        kind, value = None, None
        if self.resource is not None:
            kind, value = self.resource.kind, self.resource.value
        elif self.pool is not None:
            kind, value = "pool", self.pool
        elif self.feedback_id is not None:
            kind, value = "feedback_id", self.feedback_id
        return (self.account, kind, value, self.hour, self.destination_group)


Record = (
    AccountRecord
    | PoolRecord
    | ResourceRecord
    | AllocationRecord
    | SendLogRecord
    | SendingStatRecord
)


@dataclass(frozen=True)
class NumberedRecord:
    """A record and the line (or list position) it came from, for error reports."""

    line: int
    record: Record
