"""What a connector is asked to do: one enforcement action, or one batch of suppressions.

Plain data, the same for every connector. A connector's ``apply`` and
``push_suppressions`` return None on success and raise on any failure; the caller
records the failure and retries later with the same idempotency key, so the provider can
tell a retry from a new call.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class ResourceRef:
    """The resource an action is about, as the provider knows it: its kind and value."""

    kind: str
    value: str


@dataclass(frozen=True)
class ActionCall:
    """One enforcement action to carry out at the provider.

    ``resource`` is None for an account action (warn, pause, reinstate ...) and names the
    resource for a resource action (block_domain, suppress_address ...).
    ``reverses_action_id`` is set when the action undoes an earlier one.
    """

    action_id: int
    idempotency_key: str
    action: str
    account_external_id: str
    resource: ResourceRef | None
    cause: str
    reason: str
    policy_version: int
    case_id: int | None
    reverses_action_id: int | None

    def to_json(self) -> dict[str, Any]:
        """Return the call as the webhook's JSON body (see docs/connector.md)."""
        return {
            "type": "enforcement_action",
            "action_id": self.action_id,
            "idempotency_key": self.idempotency_key,
            "action": self.action,
            "account": self.account_external_id,
            "resource": None
            if self.resource is None
            else {"kind": self.resource.kind, "value": self.resource.value},
            "cause": self.cause,
            "reason": self.reason,
            "policy_version": self.policy_version,
            "case_id": self.case_id,
            "reverses_action_id": self.reverses_action_id,
        }


@dataclass(frozen=True)
class SuppressionEntry:
    """One address to suppress: the SHA-256 hex of the lowercased address, and why."""

    address_hash: str
    reason: str
    first_seen_at: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the entry as it appears in a suppression push."""
        return {
            "address_sha256": self.address_hash,
            "reason": self.reason,
            "first_seen_at": self.first_seen_at.isoformat(),
        }


class Connector(Protocol):
    """What runs enforcement at the provider: each method returns None or raises."""

    def apply(self, call: ActionCall) -> None:
        """Carry out the action in *call*, or raise."""

    def push_suppressions(
        self,
        account_external_id: str,
        entries: Sequence[SuppressionEntry],
        idempotency_key: str,
    ) -> None:
        """Add *entries* to the account's suppression list at the provider, or raise."""
