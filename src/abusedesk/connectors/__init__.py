"""Connectors to the provider's control plane: local (our inventory) and the signed webhook."""
