"""The queue pages: every queue with its load, one queue's cases, "my work", the lead's
overdue view, and the "next case" pull."""

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import CASE_ASSIGN, CASE_VIEW, CASE_WORK, CASE_WORK_ADVANCED
from abusedesk.cases.states import CloseReason
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage import case_views, casework, queues
from abusedesk.storage.casework import NoQueues, pull_next
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.cases import may_work_tier
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
NOTICES = {
    "empty": "No case waits in your queues. Well done.",
    "no_queue": "You are a member of no queue yet; ask a lead to add you to one.",
}


@router.get("/queues")
def queue_list(
    request: Request, principal: Principal = Depends(require_permission(CASE_VIEW))
) -> Response:
    """Show every queue with its open, unassigned, overdue and snoozed cases."""
    container = container_of(request)
    with read_only(container.sessions) as session:
        loads = queues.queue_loads(session, now=utcnow())
        mine = set(queues.queues_of(session, principal.user.user_id))
    return private_page(
        request,
        "workbench/queues.html",
        {"loads": loads, "my_queues": [load.queue.name for load in loads if load.queue.id in mine]},
    )


@router.get("/queues/{queue_id}")
def queue_page(
    request: Request,
    queue_id: int = Path(ge=1, le=MAX_ID),
    closed: int | None = Query(None, ge=0),
    asked: int | None = Query(None, ge=0),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one queue's open cases, overdue first, then by priority and due time."""
    return _queue_page(request, principal, queue_id, notice=_closed_notice(closed, asked))


def _queue_page(
    request: Request,
    principal: Principal,
    queue_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        queue = queues.queue_by_id(session, queue_id)
        cases = case_views.queue_cases(session, queue_id)
    may_close = principal.user.may(CASE_ASSIGN) and may_work_tier(principal.user, queue.tier)
    return private_page(
        request,
        "workbench/queue.html",
        {
            "queue": queue,
            "cases": cases,
            "may_close": may_close,
            "bulk_reasons": CloseReason.BULK,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


def _closed_notice(closed: int | None, asked: int | None) -> str | None:
    if closed is None or asked is None:
        return None
    if closed == asked:
        return f"{closed} case(s) closed."
    return f"{closed} of {asked} case(s) closed; the others could not be (see their pages)."


@router.post("/queues/{queue_id}/close")
async def bulk_close(
    request: Request,
    *,
    queue_id: int = Path(ge=1, le=MAX_ID),
    close_reason: str = Form(max_length=40),
    reason: str = Form(max_length=2000),
    principal: Principal = Depends(require_permission(CASE_ASSIGN)),
) -> Response:
    """Close the ticked cases of a queue as duplicate, false positive or no action."""
    form = await request.form()
    case_ids = [int(v) for v in form.getlist("case") if isinstance(v, str) and v.isdigit()]
    container = container_of(request)

    def close() -> str | int:
        try:
            with unit_of_work(container.sessions) as session:
                return _close_ticked(
                    session, principal, queue_id, case_ids, close_reason, reason=reason
                )
        except PermissionDenied:
            raise
        except AbuseDeskError as problem:
            return str(problem)

    outcome = await run_in_threadpool(close)
    if isinstance(outcome, int):
        return RedirectResponse(
            f"/queues/{queue_id}?closed={outcome}&asked={len(case_ids)}", status_code=303
        )
    return await run_in_threadpool(
        _queue_page, request, principal, queue_id, problem=outcome, status_code=409
    )


def _close_ticked(
    session: Session,
    principal: Principal,
    queue_id: int,
    case_ids: list[int],
    close_reason: str,
    *,
    reason: str,
) -> int:
    queue = queues.queue_by_id(session, queue_id)
    if not may_work_tier(principal.user, queue.tier):
        raise PermissionDenied(CASE_WORK_ADVANCED)
    mine = session.scalars(select(Case.id).where(Case.id.in_(case_ids), Case.queue_id == queue_id))
    chosen = sorted(mine)
    if not chosen:
        raise NothingChosen("tick the cases of this queue to close first")
    outcomes = casework.bulk_close(
        session, chosen, close_reason, reason=reason, actor=principal.user.username, now=utcnow()
    )
    return sum(1 for outcome in outcomes if outcome.closed)


class NothingChosen(AbuseDeskError):
    """Raise when a bulk action names no case of the queue."""


@router.get("/my-work")
def my_work(
    request: Request,
    notice: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the open cases assigned to the signed-in analyst."""
    container = container_of(request)
    with read_only(container.sessions) as session:
        cases = case_views.assigned_to(session, principal.user.user_id)
    return private_page(
        request, "workbench/my_work.html", {"cases": cases, "notice": NOTICES.get(notice or "")}
    )


@router.get("/breaches")
def overdue(
    request: Request, principal: Principal = Depends(require_permission(CASE_VIEW))
) -> Response:
    """Show the open cases past an SLA target (the lead's view)."""
    del principal
    container = container_of(request)
    with read_only(container.sessions) as session:
        cases = case_views.breached(session)
    return private_page(request, "workbench/breaches.html", {"cases": cases})


@router.post("/next-case")
async def next_case(
    request: Request, principal: Principal = Depends(require_permission(CASE_WORK))
) -> Response:
    """Assign the most urgent waiting case of the analyst's queues to them and open it."""
    container = container_of(request)

    def pull() -> int | str:
        try:
            with unit_of_work(container.sessions) as session:
                pulled = pull_next(session, principal.user.username, now=utcnow())
        except NoQueues:
            return "no_queue"
        return "empty" if pulled is None else pulled.case_id

    outcome = await run_in_threadpool(pull)
    if isinstance(outcome, int):
        return RedirectResponse(f"/cases/{outcome}", status_code=303)
    return RedirectResponse(f"/my-work?notice={outcome}", status_code=303)
