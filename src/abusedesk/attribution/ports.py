"""What attribution needs from the provider's inventory: batch questions, few round trips."""

from collections.abc import Collection, Mapping
from typing import Protocol

from abusedesk.attribution.model import IpInterval, KeyHolding, SendProbe, SentMessage


class InventoryLookup(Protocol):
    """Read-only questions about the provider's records, each asked for a whole batch."""

    def sent_messages(
        self, *, provider_message_ids: Collection[str], message_ids: Collection[str]
    ) -> list[SentMessage]:
        """Return the send-log entries with any of these provider message ids or Message-IDs."""

    def key_holdings(self, keys: Collection[tuple[str, str]]) -> list[KeyHolding]:
        """Return the resources named by any of these ``(key kind, value)`` pairs."""

    def pool_memberships(
        self, pools: Collection[str], accounts: Collection[int]
    ) -> list[KeyHolding]:
        """Return the memberships (``ip_pool`` resources) of these accounts in these pools."""

    def ip_intervals(self, ips: Collection[str]) -> list[IpInterval]:
        """Return every allocation interval of these IPs."""

    def account_ids(self, external_ids: Collection[str]) -> Mapping[str, int]:
        """Return the internal ids of the accounts with these external ids."""

    def senders(self, probes: Collection[SendProbe]) -> Mapping[SendProbe, list[SentMessage]]:
        """Return, per probe, the latest send-log entries to its recipient within its window."""

    def names(
        self, account_ids: Collection[int], resource_ids: Collection[int]
    ) -> tuple[Mapping[int, str], Mapping[int, tuple[str, str]]]:
        """Return the accounts' external ids and the resources' (kind, value), for sentences."""
