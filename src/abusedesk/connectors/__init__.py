"""Connectors to the provider's control plane: local (our inventory) and the signed webhook.

`build_connector` turns ``settings.connector`` into the connector enforcement uses.
"""

from typing import TYPE_CHECKING

from abusedesk.connectors.calls import ActionCall, Connector, ResourceRef, SuppressionEntry
from abusedesk.connectors.local import LocalConnector
from abusedesk.connectors.webhook import (
    InvalidConnectorSettings,
    WebhookConnector,
    WebhookFailed,
)
from abusedesk.enforcement.signing import retry_policy

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
