"""What attribution works with and produces."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, NamedTuple


class Confidence:
    """How sure an attribution is. Only high and medium settle an event on an account."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    BY_RANK: ClassVar[dict[int, str]] = {1: LOW, 2: MEDIUM, 3: HIGH}


class Method:
    """The resolvers, strongest first, and the analyst's own decision."""

    PROVIDER_MESSAGE_ID = "provider_message_id"
    MESSAGE_ID = "message_id"
    ENVELOPE_SENDER = "envelope_sender"
    SENDING_ACCOUNT_ID = "sending_account_id"
    FEEDBACK_ID = "feedback_id"
    CFBL_FEEDBACK_ID = "cfbl_feedback_id"
    MAILBOX = "mailbox"
    ORIGINATION_NUMBER = "origination_number"
    PUSH_APPLICATION = "push_application"
    PLATFORM_ENDPOINT = "platform_endpoint"
    DKIM_SELECTOR = "dkim_selector"
    DKIM_DOMAIN = "dkim_domain"
    ENVELOPE_DOMAIN = "envelope_domain"
    FROM_ADDRESS = "from_address"
    FROM_DOMAIN = "from_domain"
    SENDER_ID = "sender_id"
    CONFIGURATION_SET = "configuration_set"
    DEDICATED_IP = "dedicated_ip"
    SHARED_POOL = "shared_pool"
    RECIPIENT = "recipient"
    URL_DOMAIN = "url_domain"
    MANUAL = "manual"


class AttributionState:
    """Where an event stands: on an account, waiting in the inbox, or set aside."""

    ATTRIBUTED = "attributed"
    UNATTRIBUTED = "unattributed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class EventFacts:
    """What attribution reads of an event: its indicators, when it happened, its category."""

    indicators: Mapping[str, tuple[str, ...]]
    occurred_at: datetime
    category: str = ""


# The inventory's answers are named tuples, not dataclasses: a batch builds thousands of
# them, and a tuple is built several times faster.


class SentMessage(NamedTuple):
    """A send-log entry: which account and resource sent a message, when and how."""

    account_id: int
    resource_id: int | None
    provider_message_id: str
    message_id_header: str | None
    sent_at: datetime
    source_ip: str | None = None


class KeyHolding(NamedTuple):
    """A resource named by a lookup key (a domain, a Feedback-ID, a number ...)."""

    kind: str
    value: str
    account_id: int
    resource_id: int
    resource_kind: str
    resource_value: str
    valid_from: datetime
    valid_to: datetime | None

    def held_at(self, at: datetime) -> bool:
        """Tell whether the resource existed at *at*."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


class IpInterval(NamedTuple):
    """Who held an IP during [valid_from, valid_to): one account, or a pool."""

    ip: str
    account_id: int | None
    pool_name: str | None
    shared: bool
    valid_from: datetime
    valid_to: datetime | None

    def held_at(self, at: datetime) -> bool:
        """Tell whether the interval covers *at*."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class SendProbe:
    """A question for the send log: who sent to this recipient within a window."""

    recipient_hash: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Candidate:
    """An account a resolver pointed at, and how strongly."""

    account_id: int
    resource_id: int | None
    method: str
    confidence: str

    def as_dict(self) -> dict[str, Any]:
        """Return the candidate as stored with the event."""
        return {
            "account_id": self.account_id,
            "resource_id": self.resource_id,
            "method": self.method,
            "confidence": self.confidence,
        }


@dataclass(frozen=True)
class Attribution:
    """An event's account and resource, how they were found, and one sentence why.

    ``account_id`` is None when nothing resolved; a low confidence names the best guess,
    which waits in the unattributed inbox instead of settling the event on the account.
    """

    account_id: int | None
    resource_id: int | None
    method: str | None
    confidence: str | None
    reason: str
    candidates: tuple[Candidate, ...] = ()
    conflicts: tuple[str, ...] = field(default=())

    @property
    def settled(self) -> bool:
        """Tell whether the event belongs to the account (high or medium confidence)."""
        return self.account_id is not None and self.confidence in (
            Confidence.HIGH,
            Confidence.MEDIUM,
        )
