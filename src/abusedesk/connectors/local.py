"""The embedded default connector: our inventory is the provider's state."""

from collections.abc import Sequence

from abusedesk.connectors.calls import ActionCall, SuppressionEntry


class LocalConnector:
    """Reach nothing outside: `storage.enforcement.execute` writes the standing locally.

    Resource actions are recorded on the resource and suppressions in our own list by
    the storage layer, so accepting every call here is all there is to do.
    """

    def apply(self, call: ActionCall) -> None:
        """Accept the action: there is no provider to tell."""

    def push_suppressions(
        self,
        account_external_id: str,
        entries: Sequence[SuppressionEntry],
        idempotency_key: str,
    ) -> None:
        """Accept the suppressions: our own list is the only one."""
