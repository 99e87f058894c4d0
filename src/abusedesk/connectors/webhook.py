"""The signed webhook connector: each action and suppression batch is one HTTPS POST.

The body is JSON (docs/connector.md lists its fields); the headers carry the signature
(``Abusedesk-Signature``, HMAC-SHA256 over timestamp, idempotency key and body under
every configured secret) and the ``Idempotency-Key``. Any answer but 2xx, a timeout or a
connection error raises `WebhookFailed`, so the caller records a failed attempt and
retries later with the same key. Redirects are not followed: a 3xx is a failure.
"""

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

import httpx

from abusedesk.connectors.calls import ActionCall, SuppressionEntry
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.enforcement.signing import sign

MIN_SECRET_LENGTH: Final = 32
HASH_SCHEME: Final = "sha256-lowercase"
_SHOWN_BODY: Final = 200


class InvalidConnectorSettings(AbuseDeskError):
    """Raise when the connector settings cannot make a working connector."""


class WebhookFailed(AbuseDeskError):
    """Raise when the receiver did not accept a call (non-2xx, timeout, unreachable)."""


def encode_body(payload: dict[str, Any]) -> bytes:
    """Return *payload* as the exact bytes that are signed and sent (compact, sorted keys)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def suppression_payload(
    account_external_id: str, entries: Sequence[SuppressionEntry], idempotency_key: str
) -> dict[str, Any]:
    """Return the JSON body of a suppression push (see docs/connector.md)."""
    return {
        "type": "suppression_list",
        "idempotency_key": idempotency_key,
        "account": account_external_id,
        "hash": HASH_SCHEME,
        "entries": [entry.to_json() for entry in entries],
    }


class WebhookConnector:
    """POST each call, signed, to the provider's endpoint; raise unless it answers 2xx."""

    def __init__(
        self,
        url: str,
        secrets: Sequence[bytes],
        *,
        timeout_seconds: float = 10.0,
        clock: Callable[[], datetime] = utcnow,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """Check the endpoint and secrets; refuse what cannot sign or reach anything.

        *clock* gives the signing time (the receiver checks it against its own clock).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidConnectorSettings(
                f"connector url must be an http(s) URL with a host, not {url!r}"
            )
        if not secrets:
            raise InvalidConnectorSettings("the webhook connector needs at least one secret")
        short = [i for i, s in enumerate(secrets) if len(s) < MIN_SECRET_LENGTH]
        if short:
            raise InvalidConnectorSettings(
                f"connector secrets must be at least {MIN_SECRET_LENGTH} characters"
                f" (secret {', '.join(str(i + 1) for i in short)} is shorter)"
            )
        if timeout_seconds <= 0:
            raise InvalidConnectorSettings("connector timeout must be positive")
        self.url = url
        self._secrets = list(secrets)
        self._timeout = timeout_seconds
        self._clock = clock
        self._transport = transport

    def apply(self, call: ActionCall) -> None:
        """Send the action; return when the receiver answered 2xx, raise otherwise."""
        self._post(call.to_json(), call.idempotency_key)

    def push_suppressions(
        self,
        account_external_id: str,
        entries: Sequence[SuppressionEntry],
        idempotency_key: str,
    ) -> None:
        """Send one batch of suppressions; return on 2xx, raise otherwise."""
        self._post(
            suppression_payload(account_external_id, entries, idempotency_key), idempotency_key
        )

    def _post(self, payload: dict[str, Any], idempotency_key: str) -> None:
        body = encode_body(payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "abusedesk-connector/1",
            **sign(body, self._secrets, self._clock(), idempotency_key),
        }
        try:
            with httpx.Client(
                timeout=self._timeout, transport=self._transport, follow_redirects=False
            ) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException as error:
            raise WebhookFailed(
                f"no answer from {self.url} within {self._timeout:g}s ({type(error).__name__})"
            ) from error
        except httpx.HTTPError as error:
            raise WebhookFailed(
                f"could not reach {self.url}: {type(error).__name__}: {error}"
            ) from error
        if not 200 <= response.status_code < 300:
            text = response.text[:_SHOWN_BODY].strip()
            raise WebhookFailed(
                f"{self.url} answered HTTP {response.status_code}" + (f": {text}" if text else "")
            )
