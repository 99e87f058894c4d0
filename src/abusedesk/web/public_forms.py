"""What the public forms share (the report form, the customer portal): no sign-in, so each
rendered form carries a signed, timed token; each post is read within a byte limit; each
client address has a request budget.

A form token is ``<issued>.<hex>``: the time the form was rendered (seconds since the
epoch) and an HMAC-SHA256 of the form's purpose, that time and, for a form bound to
something (a portal link), that thing.
"""

import hashlib
import hmac
from typing import Final

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import Message

# Tokens from a moment in the future are tolerated this much, for clocks of several
# processes that share a secret but disagree slightly.
CLOCK_SKEW_SECONDS: Final = 60


class BodyTooLarge(Exception):
    """The request body grew beyond what one form post may be."""


def form_token(key: bytes, purpose: str, now: float, *, bound: str | None = None) -> str:
    """Return a token for a form of *purpose* (bound to *bound*) rendered at *now*."""
    issued = int(now)
    return f"{issued}.{_mac(key, purpose, issued, bound)}"


def form_token_is_fresh(
    key: bytes,
    purpose: str,
    presented: str,
    *,
    now: float,
    max_age_seconds: int,
    bound: str | None = None,
) -> bool:
    """Tell whether *presented* was made under *key* for this form no more than *max_age_seconds* ago."""
    issued_text, dot, mac = presented.partition(".")
    if not dot or not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    if not hmac.compare_digest(mac, _mac(key, purpose, issued, bound)):
        return False
    return -CLOCK_SKEW_SECONDS <= now - issued <= max_age_seconds


def text_field(form: FormData, name: str) -> str:
    """Return the text field *name* of *form*, or "" when it is missing or a file."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


def peer(request: Request) -> str:
    """Return the client's address (the rate limit's key)."""
    return request.client.host if request.client else "unknown"


def declared_length(request: Request) -> int:
    """Return the body length the client declared, or 0."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isdigit() else 0


def bounded(request: Request, limit: int) -> Request:
    """Return *request* reading at most *limit* body bytes, whatever it declared.

    Reading past the limit raises `BodyTooLarge`.
    """
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge
        return message

    return Request(request.scope, receive)


def _mac(key: bytes, purpose: str, issued: int, bound: str | None) -> str:
    signed = f"{purpose}:{issued}" if bound is None else f"{purpose}:{issued}:{bound}"
    return hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()
