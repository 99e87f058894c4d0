"""Resolve an event's indicators to an account, strongest evidence first."""

from collections.abc import Mapping
from datetime import datetime

from abusedesk.attribution.model import Attribution, Confidence
from abusedesk.attribution.ports import InventoryLookup


def attribute(
    indicators: Mapping[str, tuple[str, ...]], occurred_at: datetime, lookup: InventoryLookup
) -> Attribution | None:
    """Return the attribution of an event, or None when nothing in the inventory matches."""
    for value in indicators.get("provider_message_id", ()):
        if sent := lookup.sent_by_provider_message_id(value):
            return Attribution(
                sent.account_id,
                sent.resource_id,
                "provider_message_id",
                Confidence.HIGH,
                f"Provider message id {value} is in the send log of account {sent.account_id} "
                f"at {sent.sent_at:%Y-%m-%dT%H:%MZ}.",
            )
    for value in indicators.get("message_id", ()):
        if sent := lookup.sent_by_message_id(value):
            return Attribution(
                sent.account_id,
                sent.resource_id,
                "message_id",
                Confidence.HIGH,
                f"Message-ID <{value}> is in the send log of account {sent.account_id} "
                f"at {sent.sent_at:%Y-%m-%dT%H:%MZ}.",
            )
    for kind, label in (("dkim_domain", "DKIM d="), ("from_domain", "From domain")):
        for domain in indicators.get(kind, ()):
            holders = lookup.identity_holders(domain)
            if len(holders) == 1:
                holder = holders[0]
                return Attribution(
                    holder.account_id,
                    holder.resource_id,
                    kind,
                    Confidence.MEDIUM,
                    f"{label} {domain} is a verified identity of account {holder.account_id}.",
                )
    for ip in indicators.get("source_ip", ()):
        holding = lookup.ip_holding_at(ip, occurred_at)
        if holding is not None and not holding.shared and holding.account_id is not None:
            return Attribution(
                holding.account_id,
                None,
                "dedicated_ip",
                Confidence.MEDIUM,
                f"Source IP {ip} was dedicated to account {holding.account_id} "
                f"at {occurred_at:%Y-%m-%dT%H:%MZ}.",
            )
    return None
