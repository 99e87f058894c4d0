"""Evidence pages: a report read safely (``/events/{id}/evidence``) and its raw bytes.

The viewer shows what ``abusedesk.evidence.view`` makes of the raw report: decoded headers,
authentication results, hops, bodies as text with defanged links, attachments described.
Downloading the raw bytes needs the raw-evidence permission. Both read the bytes through
``storage.privacy.read_raw_evidence``, which audits every view and says when retention or
an erasure removed them.
"""

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from abusedesk.access.model import CASE_VIEW, EVIDENCE_VIEW_RAW
from abusedesk.core.clock import utcnow
from abusedesk.evidence.view import evidence_view
from abusedesk.privacy.errors import EvidencePurged
from abusedesk.storage.case_views import report_of_event
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.privacy import read_raw_evidence
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1


@router.get("/events/{event_id}/evidence")
async def evidence_page(
    request: Request,
    event_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the report behind an event, made safe to read."""
    container = container_of(request)

    def load() -> tuple[int, bytes | None, str | None]:
        with unit_of_work(container.sessions) as session:
            report_id = report_of_event(session, event_id)
            try:
                raw = read_raw_evidence(
                    session,
                    container.reports.evidence,
                    report_id,
                    principal.user.username,
                    utcnow(),
                )
            except EvidencePurged as gone:
                return report_id, None, str(gone)
        return report_id, raw, None

    report_id, raw, purged = await run_in_threadpool(load)
    view = None if raw is None else await run_in_threadpool(evidence_view, raw)
    return private_page(
        request,
        "workbench/evidence.html",
        {
            "event_id": event_id,
            "report_id": report_id,
            "view": view,
            "purged": purged,
            "may_download": principal.user.may(EVIDENCE_VIEW_RAW),
        },
    )


@router.get("/reports/{report_id}/raw")
async def raw_report(
    request: Request,
    report_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(EVIDENCE_VIEW_RAW)),
) -> Response:
    """Download a report's raw bytes as a file (never shown inline by the browser)."""
    container = container_of(request)

    def load() -> bytes:
        with unit_of_work(container.sessions) as session:
            return read_raw_evidence(
                session, container.reports.evidence, report_id, principal.user.username, utcnow()
            )

    raw = await run_in_threadpool(load)
    return Response(
        raw,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": f'attachment; filename="report-{report_id}.eml"',
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
