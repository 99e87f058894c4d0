"""What attribution works with and produces."""

from dataclasses import dataclass
from datetime import datetime


class Confidence:
    """How sure an attribution is."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class SentMessage:
    """A send-log entry: which account and resource sent a message, and when."""

    account_id: int
    resource_id: int | None
    provider_message_id: str
    message_id_header: str | None
    sent_at: datetime


@dataclass(frozen=True)
class Holder:
    """An account (and resource) holding an identity or IP."""

    account_id: int
    resource_id: int | None


@dataclass(frozen=True)
class IpHolding:
    """Who held an IP at a moment: one account for a dedicated IP, or a shared pool."""

    ip: str
    account_id: int | None
    pool_name: str | None
    shared: bool


@dataclass(frozen=True)
class Attribution:
    """An event's account and resource, how they were found, and one sentence why."""

    account_id: int
    resource_id: int | None
    method: str
    confidence: str
    reason: str
