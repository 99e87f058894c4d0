"""``/api/v1/reports``: submit a report over HTTP, and see what became of it.

A new report is answered ``202 Accepted`` once it is committed; the same bytes sent
again are the same report, answered ``200 OK`` with ``"duplicate": true``, because
nothing new was accepted.
"""

import json
from typing import Any, Literal

import structlog
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from abusedesk.bootstrap import Container
from abusedesk.intake.service import Incoming, ReportTooLarge
from abusedesk.storage.db import read_only
from abusedesk.storage.event_views import EventView, events_of_report
from abusedesk.storage.reports import ReportStatus, ReportSummary, StoredReport
from abusedesk.storage.tokens import TokenInfo
from abusedesk.web import container_of
from abusedesk.web.api.root import PREFIX
from abusedesk.web.auth import require_token
from abusedesk.web.errors import error_response

log = structlog.get_logger(__name__)

router = APIRouter(prefix=f"{PREFIX}/reports", tags=["reports"])

CHANNEL = "api"
JSON_TYPE = "application/json"
# Media types stored exactly as sent: one raw message (RFC 5322), or a CSV import report.
RAW_TYPES = ("message/rfc822", "application/octet-stream", "text/plain", "text/csv")
ACCEPTED_TYPES = (*RAW_TYPES, JSON_TYPE)
# A DMARC aggregate report may hold thousands of rows; one answer shows this many events.
MAX_EVENTS_SHOWN = 500
# Ids are BIGINT on PostgreSQL; a larger number would be a database error, not a 404.
MAX_REPORT_ID = 2**63 - 1
MAX_LISTED = 500
# The statuses a list may ask for: where a report waits for work or for a person.
ListedStatus = Literal["pending", "processing", "done", "quarantined", "unknown_format"]

_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        **{kind: {"schema": {"type": "string", "format": "binary"}} for kind in RAW_TYPES},
        JSON_TYPE: {
            "schema": {
                "type": ["object", "array"],
                "description": "an X-ARF report, or an SMS or push report (an object or a list"
                " of objects, see docs/sms-and-push-reports.md)",
            }
        },
    },
}


def report_path(report_id: int) -> str:
    """Return the API path of one report."""
    return f"{router.prefix}/{report_id}"


@router.post(
    "",
    summary="Submit a report",
    status_code=202,
    openapi_extra={"requestBody": _REQUEST_BODY},
    responses={200: {"description": "The same bytes were submitted before"}},
)
async def submit_report(
    request: Request,
    token: TokenInfo = Depends(require_token("reports:write")),
    container: Container = Depends(container_of),
) -> Response:
    """Store the body as one report and answer once it is committed: 202 if new, 200 if known."""
    media_type = _media_type(request.headers.get("content-type", ""))
    if media_type not in ACCEPTED_TYPES:
        return error_response(
            request,
            415,
            "unsupported_media_type",
            f"send the report as one of {', '.join(ACCEPTED_TYPES)}",
        )
    raw = await _read_body(request, container.intake.max_bytes)
    if not raw.strip():
        return error_response(request, 400, "empty", "report is empty")
    if media_type == JSON_TYPE:
        problem = await run_in_threadpool(_json_object_problem, raw)
        if problem is not None:
            return error_response(request, 400, "invalid_json", problem)
    envelope = {
        "token": token.display_prefix,
        "content_type": media_type,
        "peer": request.client.host if request.client else None,
    }
    stored = await run_in_threadpool(
        container.intake.accept, Incoming(raw, channel=CHANNEL, envelope=envelope)
    )
    status = ReportStatus.PENDING
    if not stored.created:
        status = await run_in_threadpool(_current_status, container, stored)
    log.info(
        "report_submitted",
        report_id=stored.report_id,
        duplicate=not stored.created,
        size=len(raw),
        token=token.display_prefix,
    )
    location = report_path(stored.report_id)
    return JSONResponse(
        {
            "report_id": stored.report_id,
            "status": status,
            "duplicate": not stored.created,
            "links": {"self": location},
        },
        status_code=202 if stored.created else 200,
        headers={"Location": location},
    )


@router.get(
    "",
    summary="Reports in one status",
    dependencies=[Depends(require_token("reports:read"))],
)
def list_reports(
    status: ListedStatus = Query(
        description="the pipeline status; unknown_format is the unknown-format inbox"
    ),
    limit: int = Query(100, ge=1, le=MAX_LISTED),
    after_id: int = Query(0, ge=0, le=MAX_REPORT_ID, description="page on from this id"),
    container: Container = Depends(container_of),
) -> dict[str, Any]:
    """List reports in *status*, oldest first, a page at a time; never their bytes."""
    with read_only(container.sessions) as session:
        rows = container.reports.with_status(session, status, limit=limit, after_id=after_id)
    page: dict[str, Any] = {"reports": [_summary_json(row) for row in rows]}
    if len(rows) == limit:
        page["links"] = {
            "next": f"{router.prefix}?status={status}&limit={limit}&after_id={rows[-1].report_id}"
        }
    return page


@router.get(
    "/{report_id}",
    summary="A report's status and events",
    dependencies=[Depends(require_token("reports:read"))],
)
def get_report(
    report_id: int = Path(ge=1, le=MAX_REPORT_ID),
    container: Container = Depends(container_of),
) -> dict[str, Any]:
    """Show a report's pipeline state and its events; never its bytes."""
    with read_only(container.sessions) as session:
        summary = container.reports.get(session, report_id)
        found = events_of_report(session, report_id, limit=MAX_EVENTS_SHOWN)
    return {
        **_summary_json(summary),
        "event_count": found.total,
        "events": [_event_json(event) for event in found.events],
        "links": {"self": report_path(report_id)},
    }


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


async def _read_body(request: Request, limit: int) -> bytes:
    """Return the body, or raise ReportTooLarge having held no more than *limit* + 1 bytes."""
    too_large = ReportTooLarge(f"report exceeds the limit of {limit:,} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk[: limit + 1 - len(body)]
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _json_object_problem(raw: bytes) -> str | None:
    """Say why *raw* is not a JSON report (an object, or a list of objects), or return None."""
    try:
        document = json.loads(raw)
    except RecursionError:
        return "the JSON body is nested too deeply"
    except ValueError as exc:
        # Position only: the message of a decode error may quote the body.
        position = getattr(exc, "pos", None)
        where = f" at character {position}" if position is not None else ""
        return f"the body is not valid JSON{where}"
    if isinstance(document, list) and document and all(isinstance(i, dict) for i in document):
        # The SMS and push import formats take a list of records.
        return None
    if not isinstance(document, dict):
        return f"a JSON report is an object or a list of objects, not {_json_kind(document)}"
    return None


def _json_kind(document: object) -> str:
    if isinstance(document, list):
        return "an empty array" if not document else "an array of other values"
    kinds = {str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(document), "a number")


def _current_status(container: Container, stored: StoredReport) -> str:
    with read_only(container.sessions) as session:
        return container.reports.get(session, stored.report_id).status


def _summary_json(summary: ReportSummary) -> dict[str, Any]:
    return {
        "report_id": summary.report_id,
        "sha256": summary.sha256,
        "channel": summary.channel,
        "size": summary.size,
        "received_at": summary.received_at.isoformat(),
        "status": summary.status,
        "stage": summary.stage,
        "format": summary.report_format,
        "kind": summary.report_kind,
        "parse_warnings": list(summary.parse_warnings),
        "attempts": summary.attempts,
        "error_class": summary.error_class,
        "last_error": summary.last_error,
    }


def _event_json(event: EventView) -> dict[str, Any]:
    details = event.attribution_details or {}
    return {
        "id": event.id,
        "seq": event.seq,
        "category": event.category,
        "service": event.service,
        "occurred_at": event.occurred_at.isoformat(),
        "reported_at": event.reported_at.isoformat() if event.reported_at else None,
        "reporter": event.reporter,
        "indicators": event.indicators,
        "account_id": event.account_id,
        "resource_id": event.resource_id,
        "attribution": {
            "state": event.attribution_state,
            "method": event.attribution_method,
            "confidence": event.attribution_confidence,
            "reason": event.attribution_reason,
            "candidates": details.get("candidates", []),
            "conflicts": details.get("conflicts", []),
            "suggested": details.get("suggested"),
        },
        "case_id": event.case_id,
    }
