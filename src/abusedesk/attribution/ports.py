"""What attribution needs from the provider's inventory."""

from datetime import datetime
from typing import Protocol

from abusedesk.attribution.model import Holder, IpHolding, SentMessage


class InventoryLookup(Protocol):
    """Read-only questions about the provider's records."""

    def sent_by_provider_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry with this provider message id."""

    def sent_by_message_id(self, value: str) -> SentMessage | None:
        """Return the send-log entry whose Message-ID header is *value*."""

    def identity_holders(self, domain: str) -> list[Holder]:
        """Return the accounts with *domain* as a verified identity."""

    def ip_holding_at(self, ip: str, at: datetime) -> IpHolding | None:
        """Return who held *ip* at *at*."""
