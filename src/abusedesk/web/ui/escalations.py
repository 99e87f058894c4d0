"""Escalations in the browser: the open escalations view, its handling, and raising one.

``/escalations`` lists the active escalations, overdue first, filtered to those the
signed-in user owns or to one department or manager. Whoever handles escalations
acknowledges, reassigns, resolves, declines or withdraws them there; a case page raises
one with ``POST /cases/{id}/escalations``. Every step is a form posted with the session's
CSRF token, written to the case's history and the audit log by ``storage.escalations``,
and answered by a redirect (post, redirect, get); a refused step shows the page again
with the reason.
"""

from collections.abc import Callable, Mapping
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import (
    CASE_VIEW,
    ESCALATION_CREATE,
    ESCALATION_HANDLE,
)
from abusedesk.cases.errors import InvalidEscalation
from abusedesk.cases.escalations import EscalationState, EscalationTarget, TargetKind
from abusedesk.cases.routing import Department
from abusedesk.cases.sla import MAX_TARGET
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.storage import escalations
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui import cases as case_pages
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
MAX_NAME = 64
MAX_HOURS = int(MAX_TARGET.total_seconds() // 3600)
EscalationId = Path(ge=1, le=MAX_ID)
DONE = {
    "acknowledged": "The escalation is acknowledged.",
    "reassigned": "The escalation has a new owner.",
    "resolved": "The escalation is resolved.",
    "declined": "The escalation is declined.",
    "withdrawn": "The escalation is withdrawn.",
}
ENDINGS: Mapping[str, Callable[..., None]] = {
    EscalationState.RESOLVED: escalations.resolve,
    EscalationState.DECLINED: escalations.decline,
    EscalationState.WITHDRAWN: escalations.withdraw,
}


@router.get("/escalations")
def escalations_page(
    request: Request,
    *,
    mine: bool = False,
    department: str = Query("", max_length=40),
    manager: str = Query("", max_length=MAX_NAME),
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the active escalations, overdue first, then by due time."""
    chosen = {"mine": "1" if mine else "", "department": department, "manager": manager}
    return _show(request, principal, chosen, notice=DONE.get(done or ""))


def _show(
    request: Request,
    principal: Principal,
    chosen: Mapping[str, str],
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    username = principal.user.username
    listed: list[escalations.EscalationView] = []
    try:
        target = _target_filter(chosen.get("department", ""), chosen.get("manager", ""))
    except InvalidEscalation as refused:
        problem, status_code, target = str(refused), 422, None
    else:
        with read_only(container.sessions) as session:
            listed = escalations.open_escalations(
                session,
                now=utcnow(),
                target=target,
                owner=username if chosen.get("mine") else None,
            )
    # Overdue first; the storage orders by due time, which puts them first already, but
    # an escalation without a due time must not hide an overdue one.
    listed.sort(key=lambda e: not e.overdue)
    return private_page(
        request,
        "workbench/escalations.html",
        {
            "escalations": listed,
            "filters": dict(chosen),
            "filtered": any(chosen.values()),
            "departments": Department.ALL,
            "may_handle": principal.user.may(ESCALATION_HANDLE),
            "me": username,
            "back": _url("/escalations", chosen),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


def _target_filter(department: str, manager: str) -> EscalationTarget | None:
    department, manager = department.strip(), manager.strip()
    if department and manager:
        raise InvalidEscalation("filter by a department or by a manager, not both")
    if department:
        return EscalationTarget(TargetKind.DEPARTMENT, department)
    if manager:
        return EscalationTarget(TargetKind.MANAGER, manager)
    return None


async def _handle(
    request: Request,
    principal: Principal,
    step: Callable[[Session], None],
    done: str,
    back: str,
) -> Response:
    """Run *step* in one transaction; on refusal show the escalations again with the reason."""
    chosen = _filters_of(back)
    problem = await run_step(container_of(request).sessions, step, raised=(NotFound,))
    if problem is None:
        return RedirectResponse(_url("/escalations", {**chosen, "done": done}), status_code=303)
    mapped = http_error_for(problem)
    return await run_in_threadpool(
        lambda: _show(
            request,
            principal,
            chosen,
            problem=str(problem),
            status_code=mapped.status if mapped is not None else 409,
        )
    )


@router.post("/escalations/{escalation_id}/acknowledge")
async def acknowledge_escalation(
    request: Request,
    *,
    escalation_id: int = EscalationId,
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ESCALATION_HANDLE)),
) -> Response:
    """Acknowledge an open escalation; the acknowledger owns it unless it has an owner."""

    def step(session: Session) -> None:
        escalations.acknowledge(session, escalation_id, actor=principal.user.username, now=utcnow())

    return await _handle(request, principal, step, "acknowledged", back)


@router.post("/escalations/{escalation_id}/reassign")
async def reassign_escalation(
    request: Request,
    *,
    escalation_id: int = EscalationId,
    owner: str = Form("", max_length=MAX_NAME),
    reason: str = Form("", max_length=escalations.MAX_TEXT),
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ESCALATION_HANDLE)),
) -> Response:
    """Give an active escalation to another owner (an active user)."""
    user = principal.user

    def step(session: Session) -> None:
        new_owner = user.username if owner.strip() == "me" else owner
        escalations.reassign(
            session,
            escalation_id,
            new_owner,
            actor=user.username,
            now=utcnow(),
            reason=reason.strip() or None,
        )

    return await _handle(request, principal, step, "reassigned", back)


@router.post("/escalations/{escalation_id}/end")
async def end_escalation(
    request: Request,
    *,
    escalation_id: int = EscalationId,
    outcome: str = Form(max_length=20, description="resolved, declined or withdrawn"),
    note: str = Form("", max_length=escalations.MAX_TEXT),
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ESCALATION_HANDLE)),
) -> Response:
    """End an escalation as resolved, declined or withdrawn, with a note saying why."""

    def step(session: Session) -> None:
        ending = ENDINGS.get(outcome)
        if ending is None:
            raise InvalidEscalation(
                f"end an escalation as {', '.join(ENDINGS)}, not {outcome[:20]!r}"
            )
        ending(session, escalation_id, note=note, actor=principal.user.username, now=utcnow())

    return await _handle(request, principal, step, outcome, back)


@router.post("/cases/{case_id}/escalations")
async def escalate_case(
    request: Request,
    *,
    case_id: int = Path(ge=1, le=MAX_ID),
    target_kind: str = Form(max_length=20, description="department or manager"),
    target: str = Form("", max_length=MAX_NAME),
    reason: str = Form("", max_length=escalations.MAX_TEXT),
    response_hours: int = Form(ge=1, le=MAX_HOURS),
    principal: Principal = Depends(require_permission(ESCALATION_CREATE)),
) -> Response:
    """Escalate the case to a department or a manager, due within *response_hours*."""
    user = principal.user

    def step(session: Session) -> None:
        case_pages.require_case_tier(session, user, case_id)
        escalations.escalate(
            session,
            case_id,
            EscalationTarget(target_kind.strip(), target.strip()),
            reason=reason,
            within=timedelta(hours=response_hours),
            actor=user.username,
            now=utcnow(),
        )

    refused = await run_step(
        container_of(request).sessions, step, raised=(NotFound, PermissionDenied)
    )
    if refused is None:
        return RedirectResponse(f"/cases/{case_id}?done=escalated", status_code=303)
    # The case page shows the refusal, as it does for its own actions.
    problem = str(refused)
    return await run_in_threadpool(
        lambda: case_pages.show_case(request, principal, case_id, problem=problem, status_code=409)
    )


def _filters_of(back: str) -> dict[str, str]:
    """Read the filters the view was showing from its *back* address, ignoring the rest."""
    query = parse_qs(urlsplit(back).query)
    chosen = {name: (query.get(name) or [""])[0] for name in ("mine", "department", "manager")}
    chosen["mine"] = "1" if chosen["mine"] in ("1", "true") else ""
    return chosen


def _url(path: str, query: Mapping[str, str]) -> str:
    kept = {name: value for name, value in query.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path
