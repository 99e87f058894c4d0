"""The queue pages: every queue with its load, one queue's cases, "my work", the lead's
overdue view, and the "next case" pull."""

from fastapi import APIRouter, Depends, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import CASE_VIEW, CASE_WORK
from abusedesk.core.clock import utcnow
from abusedesk.storage import case_views, queues
from abusedesk.storage.casework import NoQueues, pull_next
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
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
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one queue's open cases, overdue first, then by priority and due time."""
    del principal
    container = container_of(request)
    with read_only(container.sessions) as session:
        queue = queues.queue_by_id(session, queue_id)
        cases = case_views.queue_cases(session, queue_id)
    return private_page(request, "workbench/queue.html", {"queue": queue, "cases": cases})


@router.get("/work")
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
        request, "workbench/work.html", {"cases": cases, "notice": NOTICES.get(notice or "")}
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


@router.post("/work/next")
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
    return RedirectResponse(f"/work?notice={outcome}", status_code=303)
