"""The case page and what an analyst does on it: move, take, release, transfer, snooze.

Every action is a form posted with the session's CSRF token; it checks the rules in
``abusedesk.cases``, writes the step to the case's history and the audit log, and comes
back to the case page (post, redirect, get). A refused action shows the page again with
the reason. Cases in an advanced-tier queue need the advanced permission to be worked.
"""

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import CASE_ASSIGN, CASE_VIEW, CASE_WORK, CASE_WORK_ADVANCED
from abusedesk.cases.routing import Tier
from abusedesk.cases.states import CaseState, CloseReason, allowed_targets
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage import case_views, casework, queues
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case, QueueRow
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
MAX_REASON = 2000
CaseId = Path(ge=1, le=MAX_ID)
DONE = {
    "moved": "The case moved.",
    "assigned": "The assignment changed.",
    "transferred": "The case moved to another queue.",
    "snoozed": "The case is snoozed.",
    "woken": "The case is back.",
}


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: int = CaseId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one case: its state, clocks, priority, events, account and timeline."""
    return _show(request, principal, case_id, notice=DONE.get(done or ""))


def _show(
    request: Request,
    principal: Principal,
    case_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        detail = case_views.case_detail(session, case_id)
        all_queues = queues.queues(session)
    user = principal.user
    status = detail.case.status
    targets = sorted(allowed_targets(status), key=CaseState.ALL.index)
    return private_page(
        request,
        "workbench/case.html",
        {
            "detail": detail,
            "case": detail.case,
            "targets": targets,
            "close_reasons": [r for r in CloseReason.ALL if r != CloseReason.MERGED],
            "queues": [q.name for q in all_queues if q.name != detail.case.queue],
            "may_work": user.may(CASE_WORK)
            and _tier_allows(user.may, detail.case.queue, all_queues),
            "may_assign": user.may(CASE_ASSIGN),
            "is_mine": detail.case.assignee == user.username,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


def _tier_allows(
    may: Callable[[str], bool], queue: str | None, known: list[queues.QueueRecord]
) -> bool:
    tier = next((q.tier for q in known if q.name == queue), Tier.BASIC)
    return tier != Tier.ADVANCED or may(CASE_WORK_ADVANCED)


async def _act(
    request: Request,
    principal: Principal,
    case_id: int,
    action: Callable[[Session], None],
    done: str,
) -> Response:
    """Run *action* on the case in one transaction; show the page again if it is refused."""
    container = container_of(request)

    def run() -> str | None:
        try:
            with unit_of_work(container.sessions) as session:
                _check_may_work(session, principal, case_id)
                action(session)
        except PermissionDenied:
            raise
        except AbuseDeskError as problem:
            return str(problem)
        return None

    problem = await run_in_threadpool(run)
    if problem is None:
        return RedirectResponse(f"/cases/{case_id}?done={done}", status_code=303)
    return await run_in_threadpool(
        _show, request, principal, case_id, problem=problem, status_code=409
    )


def _check_may_work(session: Session, principal: Principal, case_id: int) -> None:
    tier = session.scalar(
        select(QueueRow.tier).join(Case, Case.queue_id == QueueRow.id).where(Case.id == case_id)
    )
    if tier == Tier.ADVANCED and not principal.user.may(CASE_WORK_ADVANCED):
        raise PermissionDenied(CASE_WORK_ADVANCED)


@router.post("/cases/{case_id}/move")
async def move_case(
    request: Request,
    *,
    case_id: int = CaseId,
    target: str = Form(max_length=40),
    close_reason: str = Form("", max_length=40),
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Move the case to another state (close with a close reason)."""

    def action(session: Session) -> None:
        casework.move(
            session,
            case_id,
            target,
            actor=principal.user.username,
            now=utcnow(),
            reason=reason.strip() or None,
            close_reason=(close_reason or None) if target == CaseState.CLOSED else None,
        )

    return await _act(request, principal, case_id, action, "moved")


@router.post("/cases/{case_id}/assign")
async def assign_case(
    request: Request,
    *,
    case_id: int = CaseId,
    to: str = Form(max_length=64, description="a username, 'me', or '' to release"),
    reason: str = Form("", max_length=MAX_REASON),
    take_over: bool = Form(False),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Take the case, release it to its queue, or (leads) give it to someone."""
    user = principal.user
    assignee = user.username if to == "me" else (to.strip() or None)
    if assignee not in (None, user.username) and not user.may(CASE_ASSIGN):
        raise PermissionDenied(CASE_ASSIGN)
    if take_over and not user.may(CASE_ASSIGN):
        raise PermissionDenied(CASE_ASSIGN)

    def action(session: Session) -> None:
        casework.assign(
            session,
            case_id,
            assignee,
            actor=user.username,
            now=utcnow(),
            reason=reason.strip() or None,
            take_over=take_over,
        )

    return await _act(request, principal, case_id, action, "assigned")


@router.post("/cases/{case_id}/transfer")
async def transfer_case(
    request: Request,
    *,
    case_id: int = CaseId,
    queue: str = Form(max_length=80),
    reason: str = Form(max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Move the case to another queue (and so perhaps another department), with a reason."""

    def action(session: Session) -> None:
        casework.transfer(
            session, case_id, queue, actor=principal.user.username, now=utcnow(), reason=reason
        )

    return await _act(request, principal, case_id, action, "transferred")


@router.post("/cases/{case_id}/snooze")
async def snooze_case(
    request: Request,
    *,
    case_id: int = CaseId,
    until: str = Form("", max_length=40, description="YYYY-MM-DDTHH:MM, UTC"),
    until_reply: bool = Form(False),
    reason: str = Form("", max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Take the case out of the working view until a time or the customer's reply."""

    def action(session: Session) -> None:
        casework.snooze(
            session,
            case_id,
            until=_utc_minute(until),
            until_reply=until_reply,
            actor=principal.user.username,
            now=utcnow(),
            reason=reason.strip() or None,
        )

    return await _act(request, principal, case_id, action, "snoozed")


@router.post("/cases/{case_id}/wake")
async def wake_case(
    request: Request,
    case_id: int = CaseId,
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """End the case's snooze now."""

    def action(session: Session) -> None:
        casework.wake(
            session,
            case_id,
            actor=principal.user.username,
            now=utcnow(),
            reason="woken by hand",
        )

    return await _act(request, principal, case_id, action, "woken")


class TimeInvalid(AbuseDeskError):
    """Raise when a time typed into a form is not a time."""


def _utc_minute(text: str) -> datetime | None:
    """Read a ``datetime-local`` value as UTC; empty is None."""
    if not text.strip():
        return None
    try:
        parsed = datetime.strptime(text.strip()[:16] + "+0000", "%Y-%m-%dT%H:%M%z")
    except ValueError as error:
        raise TimeInvalid(f"{text[:40]!r} is not a time like 2026-12-01T09:00") from error
    return parsed.astimezone(UTC)
