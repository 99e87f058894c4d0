"""``POST /api/v1/sns``: SES notifications delivered by SNS over HTTPS.

SNS cannot present a token, so the endpoint is public and the message signature is the
authentication: nothing is stored before the signature, topic and certificate check out.
SNS retries on any answer but 2xx, so 200 comes only after the report is committed.
Being public, it is rate-limited per peer address, before the body is even read; SNS
delivers a message answered 429 again later. The verifier is built with the container at
start, so a CA file that cannot be read stops the start rather than fail requests.
"""

import json
import math
from typing import Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from abusedesk.bootstrap import Container
from abusedesk.config import SnsSettings
from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.intake.service import Incoming
from abusedesk.intake.sns import (
    SUBSCRIPTION_CONFIRMATION,
    CertificateUnavailable,
    InvalidEnvelope,
    SnsMessage,
    SnsRejected,
    confirm_subscription,
)
from abusedesk.web import container_of

log = structlog.get_logger(__name__)

PATH = "/api/v1/sns"
CHANNEL = "sns"

router = APIRouter(tags=["intake"])


def limiter_of(request: Request, settings: SnsSettings) -> PeerRateLimiter:
    """Return the app's SNS rate limiter, made on first use for the life of the app."""
    # Handlers run on the event loop, so no other request can interleave here.
    limiter: PeerRateLimiter | None = getattr(request.app.state, "sns_limiter", None)
    if limiter is None:
        limiter = PeerRateLimiter(per_second=settings.per_second, burst=settings.burst)
        request.app.state.sns_limiter = limiter
    return limiter


@router.post(PATH, summary="Receive an SNS message", include_in_schema=False)
async def receive_sns(
    request: Request, container: Container = Depends(container_of)
) -> JSONResponse:
    """Verify an SNS message and store it as a report; 200 only after the commit."""
    settings = container.settings.sns
    verifier = container.sns_verifier
    peer = request.client.host if request.client else "unknown"
    if not limiter_of(request, settings).allow(peer):
        log.warning("sns_rate_limited")
        return _refusal(
            429,
            "too_many_requests",
            "too many messages from this address; send again later",
            headers={"Retry-After": str(math.ceil(1 / settings.per_second))},
        )
    raw = await _read_capped(request, settings.max_envelope_bytes)
    if raw is None:
        return _refusal(
            413, "too_large", f"an SNS message may be at most {settings.max_envelope_bytes:,} bytes"
        )
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _refusal(400, InvalidEnvelope.reason, "the body is not JSON")
    try:
        # Fetching a certificate blocks; so does the commit.
        message = await run_in_threadpool(verifier.verify, data)
    except CertificateUnavailable as error:
        return _refusal(503, error.reason, str(error))
    except InvalidEnvelope as error:
        log.info("sns_message_refused", reason=error.reason)
        return _refusal(400, error.reason, str(error))
    except SnsRejected as error:
        log.warning("sns_message_refused", reason=error.reason)
        return _refusal(403, error.reason, str(error))
    envelope = {
        "sns_type": message.kind,
        "topic_arn": message.topic_arn,
        "message_id": message.message_id,
    }
    stored = await run_in_threadpool(
        container.intake.accept, Incoming(raw, channel=CHANNEL, envelope=envelope)
    )
    body: dict[str, Any] = {
        "status": "stored",
        "report_id": stored.report_id,
        "duplicate": not stored.created,
        "type": message.kind,
    }
    if message.kind == SUBSCRIPTION_CONFIRMATION:
        body["confirmed"] = settings.auto_confirm and await run_in_threadpool(
            _confirm, message, settings
        )
    log.info("sns_message_stored", report_id=stored.report_id, sns_type=message.kind)
    return JSONResponse(body)


def _confirm(message: SnsMessage, settings: SnsSettings) -> bool:
    return confirm_subscription(
        message, settings.certificate_hosts, timeout_seconds=settings.fetch_timeout_seconds
    )


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """Return the body, or None as soon as it grows past *limit* bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refusal(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)
