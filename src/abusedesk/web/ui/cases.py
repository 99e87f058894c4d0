"""The case page and what an analyst does on it: move, take, release, transfer, snooze.

Every action is a form posted with the session's CSRF token; it checks the rules in
``abusedesk.cases``, writes the step to the case's history and the audit log, and comes
back to the case page (post, redirect, get). A refused action shows the page again with
the reason. Cases in an advanced-tier queue need the advanced permission to be worked.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import (
    CASE_ASSIGN,
    CASE_VIEW,
    CASE_WORK,
    CASE_WORK_ADVANCED,
    ESCALATION_CREATE,
    User,
)
from abusedesk.cases.routing import Department, Tier
from abusedesk.cases.states import CaseState, CloseReason, allowed_targets
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage import case_merge, case_notes, case_views, casework, escalations, queues
from abusedesk.storage.case_history import HistoryEntry, Step
from abusedesk.storage.case_notes import NoteView
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Case, QueueRow
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.case_panels import ACTION_DONE, enforcement_panels
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
    "noted": "The note is added.",
    "escalated": "The case is escalated.",
    "merged": "The cases are merged into this one.",
    "split": "The events moved to a new case.",
    **ACTION_DONE,
}


@router.get("/cases/{case_id}")
def case_page(
    request: Request,
    case_id: int = CaseId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show one case: its state, clocks, priority, events, account and timeline."""
    return show_case(request, principal, case_id, notice=DONE.get(done or ""))


def show_case(
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
        notes = case_notes.notes(session, case_id)
        case_escalations = escalations.case_escalations(session, case_id, now=utcnow())
        replies = case_notes.saved_replies(session, category_group=detail.case.category_group)
        panels = enforcement_panels(
            session,
            case_id=case_id,
            account_id=detail.account.id,
            standing=detail.account.standing,
            user=principal.user,
            now=utcnow(),
        )
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
            and may_work_tier(
                user, next((q.tier for q in all_queues if q.name == detail.case.queue), None)
            ),
            "may_assign": user.may(CASE_ASSIGN),
            "is_mine": detail.case.assignee == user.username,
            "timeline": timeline(detail.history, notes),
            "saved_replies": replies,
            "escalations": case_escalations,
            "departments": Department.ALL,
            "may_escalate": user.may(ESCALATION_CREATE),
            "notice": notice,
            "problem": problem,
            **panels,
        },
        status_code=status_code,
    )


def may_work_tier(user: User, tier: str | None) -> bool:
    """Tell whether *user* may act on cases of a queue of *tier*: advanced needs its permission."""
    return tier != Tier.ADVANCED or user.may(CASE_WORK_ADVANCED)


def require_case_tier(session: Session, user: User, case_id: int) -> None:
    """Refuse acting on a case of an advanced-tier queue to users without the permission."""
    tier = session.scalar(
        select(QueueRow.tier).join(Case, Case.queue_id == QueueRow.id).where(Case.id == case_id)
    )
    if not may_work_tier(user, tier):
        raise PermissionDenied(CASE_WORK_ADVANCED)


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
                require_case_tier(session, principal.user, case_id)
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
        show_case, request, principal, case_id, problem=problem, status_code=409
    )


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


@dataclass(frozen=True)
class TimelineItem:
    """One line of the case's timeline: a step of its history, or a note with its text."""

    at: datetime
    actor: str
    kind: str
    change: str
    text: str | None


def timeline(history: list[HistoryEntry], notes: list[NoteView]) -> list[TimelineItem]:
    """Return the case's steps and notes together, newest first."""
    items = [
        TimelineItem(
            entry.at,
            entry.actor,
            entry.kind,
            " → ".join(v for v in (entry.from_value, entry.to_value) if v),
            entry.reason,
        )
        for entry in history
        if entry.kind != Step.NOTE
    ]
    items += [TimelineItem(note.created_at, note.author, "note", "", note.body) for note in notes]
    return sorted(items, key=lambda item: item.at, reverse=True)


@router.post("/cases/{case_id}/notes")
async def add_note(
    request: Request,
    *,
    case_id: int = CaseId,
    body: str = Form("", max_length=case_notes.MAX_NOTE),
    saved_reply: int | None = Form(None, ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Add a note (with a saved reply's text appended when one is chosen); @name mentions."""

    def action(session: Session) -> None:
        text = body
        if saved_reply is not None:
            text = f"{body.rstrip()}\n\n{case_notes.saved_reply(session, saved_reply).body}"
        case_notes.add_note(session, case_id, text, author=principal.user.username, now=utcnow())

    return await _act(request, principal, case_id, action, "noted")


@router.post("/cases/{case_id}/merge")
async def merge_into(
    request: Request,
    *,
    case_id: int = CaseId,
    others: str = Form(max_length=1000, description="case numbers, separated by commas"),
    reason: str = Form(max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Fold other cases of the same account into this one."""

    def action(session: Session) -> None:
        absorbed = _case_numbers(others)
        case_merge.merge_cases(
            session,
            [case_id, *absorbed],
            reason=reason,
            actor=principal.user.username,
            now=utcnow(),
            survivor_id=case_id,
        )

    return await _act(request, principal, case_id, action, "merged")


@router.post("/cases/{case_id}/split")
async def split_off(
    request: Request,
    *,
    case_id: int = CaseId,
    category_group: str = Form(max_length=40),
    reason: str = Form(max_length=MAX_REASON),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Move the ticked events into a new case of the account in another category group."""
    form = await request.form()
    event_ids = [int(v) for v in form.getlist("event") if isinstance(v, str) and v.isdigit()]

    def action(session: Session) -> None:
        case_merge.split_case(
            session,
            case_id,
            event_ids,
            category_group=category_group,
            reason=reason,
            actor=principal.user.username,
            now=utcnow(),
        )

    return await _act(request, principal, case_id, action, "split")


class CaseNumbersInvalid(AbuseDeskError):
    """Raise when a list of case numbers typed into a form is not one."""


def _case_numbers(text: str) -> list[int]:
    numbers = [part.strip().lstrip("#") for part in text.replace(" ", ",").split(",")]
    found = [n for n in numbers if n]
    if not found or not all(n.isdigit() and len(n) < 19 for n in found):
        raise CaseNumbersInvalid(f"{text[:80]!r} is not a list of case numbers like 12, 15")
    return [int(n) for n in found]


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
