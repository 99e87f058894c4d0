"""Connectors to the provider's control plane: local (our inventory) and the signed webhook.

`build_connector` turns ``settings.connector`` into the connector enforcement uses.
"""

from datetime import timedelta
from typing import TYPE_CHECKING

from abusedesk.connectors.calls import ActionCall, Connector, ResourceRef, SuppressionEntry
from abusedesk.connectors.local import LocalConnector
from abusedesk.connectors.webhook import (
    InvalidConnectorSettings,
    WebhookConnector,
    WebhookFailed,
)
from abusedesk.enforcement.signing import RetryPolicy

if TYPE_CHECKING:
    from abusedesk.config import ConnectorSettings

__all__ = [
    "ActionCall",
    "Connector",
    "InvalidConnectorSettings",
    "LocalConnector",
    "ResourceRef",
    "SuppressionEntry",
    "WebhookConnector",
    "WebhookFailed",
    "build_connector",
    "retry_policy",
]


def build_connector(settings: "ConnectorSettings") -> Connector:
    """Return the connector *settings* describe: local, or the signed webhook.

    Raises `InvalidConnectorSettings` for a webhook without a usable URL or secret.
    """
    if settings.kind == "local":
        return LocalConnector()
    return WebhookConnector(
        settings.url,
        [secret.get_secret_value().encode("utf-8") for secret in settings.secrets],
        timeout_seconds=settings.timeout_seconds,
    )


def retry_policy(settings: "ConnectorSettings") -> RetryPolicy:
    """Return the retry schedule *settings* describe (backoff base and cap, attempts)."""
    return RetryPolicy(
        base=timedelta(seconds=settings.backoff_base_seconds),
        cap=timedelta(seconds=max(settings.backoff_cap_seconds, settings.backoff_base_seconds)),
        max_attempts=settings.max_attempts,
    )
