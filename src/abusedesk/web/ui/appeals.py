"""Appeals in the workbench: the appeals queue, one appeal, its attachments, the decision.

``/appeals`` lists open appeals by due time (the overdue first and flagged), or the
decided ones; ``/appeals/{id}`` shows what the customer wrote, the files they attached,
the actions appealed with who proposed and approved each, and, for a reviewer who had no
hand in them, the decision form: uphold, overturn, or partial with the actions to lift.
Every page needs ``appeal.review``. Reading an attachment is audited and the file is
always downloaded, never shown inline. A decision is posted with the session's CSRF token
and answered by a redirect; a refused one shows the appeal again with the reason.
"""

from typing import Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import APPEAL_REVIEW
from abusedesk.connectors import retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.approvals import AppealDecision
from abusedesk.enforcement.errors import (
    ConflictedReviewer,
    InvalidAppealDecision,
    ReasonRequired,
)
from abusedesk.storage import appeals, enforcement, notices
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
AppealId = Path(ge=1, le=MAX_ID)
LISTS: Final = ("open", "upheld", "overturned", "partial", "all")
DONE: Final = {"decided": "The appeal is decided; the customer will be told."}


@router.get("/appeals")
def appeals_page(
    request: Request,
    *,
    state: str = Query("open", max_length=20),
    principal: Principal = Depends(require_permission(APPEAL_REVIEW)),
) -> Response:
    """List the open appeals by due time, the overdue first; or the decided ones."""
    if state not in LISTS:
        raise NotFound(f"no list of {state[:20]!r} appeals; choose {', '.join(LISTS)}")
    container = container_of(request)
    now = utcnow()
    with read_only(container.sessions) as session:
        listed = appeals.list_appeals(session, now=now, state=None if state == "all" else state)
    # Open appeals come by due time already; the overdue lead even if due times tie.
    listed.sort(key=lambda entry: not entry.overdue)
    return private_page(
        request,
        "workbench/appeals.html",
        {
            "appeals": listed,
            "state": state,
            "lists": LISTS,
            "overdue": sum(1 for entry in listed if entry.overdue),
        },
    )


@router.get("/appeals/{appeal_id}")
def appeal_page(
    request: Request,
    *,
    appeal_id: int = AppealId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(APPEAL_REVIEW)),
) -> Response:
    """Show one appeal with its attachments, the actions appealed and the decision form."""
    return show_appeal(request, principal, appeal_id, notice=DONE.get(done or ""))


def show_appeal(
    request: Request,
    principal: Principal,
    appeal_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    """Render the appeal page, with *notice* or *problem* above it."""
    container = container_of(request)
    now = utcnow()
    me = principal.user.username
    with read_only(container.sessions) as session:
        record = appeals.appeal(session, appeal_id)
        appealed = enforcement.action_record(session, record.action_id)
        in_force = appeals.appealed_actions(session, appeal_id)
        outside = appeals.actions_outside_appeal(session, appeal_id) if record.is_open else []
        reversals = [enforcement.action_record(session, i) for i in record.reversal_action_ids]
        thread = []
        if record.case_id is not None:
            thread = [
                m for m in notices.case_messages(session, record.case_id) if _about(m, record)
            ]
    involved = appeals.hands_in(appealed)
    for action in in_force:
        involved |= appeals.hands_in(action)
    context: dict[str, Any] = {
        "appeal": record,
        "appealed": appealed,
        "in_force": in_force,
        "outside": outside,
        "reversals": reversals,
        "thread": thread,
        "overdue": record.overdue(now),
        "conflicted": me in involved,
        "decisions": AppealDecision.ALL,
        "notice": notice,
        "problem": problem,
    }
    return private_page(request, "workbench/appeals_detail.html", context, status_code=status_code)


def _about(message: notices.MessageRecord, record: appeals.AppealRecord) -> bool:
    """Tell whether a case message belongs to this appeal's story."""
    return message.appeal_id == record.id or (
        record.message_id is not None and message.id == record.message_id
    )


@router.get("/appeals/{appeal_id}/attachments/{attachment_id}")
def appeal_attachment(
    request: Request,
    *,
    appeal_id: int = AppealId,
    attachment_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(APPEAL_REVIEW)),
) -> Response:
    """Download one attachment (audited); it is never rendered by the browser."""
    container = container_of(request)
    with unit_of_work(container.sessions) as session:
        found = appeals.attachment(
            session, appeal_id, attachment_id, actor=principal.user.username, now=utcnow()
        )
    return Response(
        content=found.data,
        media_type=found.info.content_type,
        headers={
            "Content-Disposition": content_disposition(found.info.filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "no-store",
        },
    )


@router.post("/appeals/{appeal_id}/decide")
async def decide(
    request: Request,
    *,
    appeal_id: int = AppealId,
    decision: str = Form(max_length=20),
    reason: str = Form("", max_length=appeals.MAX_REASON),
    lift: list[int] = Form([]),
    principal: Principal = Depends(require_permission(APPEAL_REVIEW)),
) -> Response:
    """Decide the appeal; reversals run through the connector and the customer is told."""
    container = container_of(request)
    retry = retry_policy(container.settings.connector)
    reviewer = principal.user.username

    def step(session: Session) -> None:
        appeals.decide_appeal(
            session,
            appeal_id,
            decision=decision.strip(),
            reason=reason,
            reviewer=reviewer,
            lift=lift,
            connector=container.connector,
            notices=container.notices,
            retry=retry,
            now=utcnow(),
        )

    problem = await run_step(container.sessions, step, raised=(NotFound,))
    if problem is None:
        return RedirectResponse(f"/appeals/{appeal_id}?done=decided", status_code=303)
    return await run_in_threadpool(
        lambda: show_appeal(
            request, principal, appeal_id, problem=str(problem), status_code=_status(problem)
        )
    )


def content_disposition(filename: str) -> str:
    """Return an ``attachment`` Content-Disposition for *filename*, any script it is in.

    HTTP headers carry Latin-1 only: the plain ``filename`` is an ASCII stand-in (other
    characters become ``_``) and ``filename*`` gives the real name, UTF-8 and
    percent-encoded (RFC 6266, RFC 5987), which browsers prefer.
    """
    ascii_name = "".join(ch if " " <= ch <= "~" and ch not in '"\\%' else "_" for ch in filename)
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{ascii_name or 'attachment'}\"; filename*=UTF-8''{encoded}"


def _status(problem: AbuseDeskError) -> int:
    """Return the status a refused decision is answered with."""
    if isinstance(problem, ConflictedReviewer):
        return 403
    if isinstance(problem, InvalidAppealDecision | ReasonRequired):
        return 422
    mapped = http_error_for(problem)
    return mapped.status if mapped is not None else 409
