"""``GET /health``: is the service able to work, and how much work is waiting."""

from typing import Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import abusedesk
from abusedesk.bootstrap import Container
from abusedesk.storage.db import read_only
from abusedesk.storage.reports import REPORT_STATUSES
from abusedesk.web import container_of

log = structlog.get_logger(__name__)

router = APIRouter(tags=["health"])

STATUSES = REPORT_STATUSES
# A health answer is only true when it is made; no cache may keep one.
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health", summary="Service health")
def health(container: Container = Depends(container_of)) -> JSONResponse:
    """Answer 200 with report counts when the database answers, else 503 with the reason.

    The counts include the unknown-format inbox (``unknown_format``): reports no parser
    recognised, waiting for one.
    """
    body: dict[str, Any] = {"status": "ok", "version": abusedesk.__version__}
    stage = "connect"
    try:
        with read_only(container.sessions) as session:
            session.execute(text("SELECT 1"))
            stage = "count reports"
            counts = container.reports.count_by_status(session)
    except SQLAlchemyError as exc:
        # The class names the failure well enough; the message may carry hosts and users.
        reason = f"database unreachable ({type(exc).__name__})"
        if stage != "connect":
            reason = f"database answers but cannot {stage} ({type(exc).__name__})"
        log.warning("health_check_failed", stage=stage, error_class=type(exc).__name__)
        body.update(status="unavailable", database={"reachable": stage != "connect"})
        body["reason"] = reason
        return JSONResponse(body, status_code=503, headers=NO_STORE)
    reports = {status: counts.get(status, 0) for status in STATUSES}
    # Statuses added later still show up rather than vanish from the count.
    reports.update({status: n for status, n in counts.items() if status not in reports})
    body["database"] = {"reachable": True}
    body["reports"] = reports
    return JSONResponse(body, headers=NO_STORE)
