"""Enforcement actions in the workbench: propose on a case, approve, reject, run, reverse.

An approved action runs at once through the connector, and so does a proposal the policy
lets run without a second approver; when it executes, the customer's notice is queued.
A connector failure leaves the action failed, with its next attempt, and the page says
so; nothing shows executed that was not. ``/actions`` lists what waits for a second
analyst, what the connector failed, and what ran lately; ``/dead-letters`` lists what
the connector gave up on, with a button to try again.
"""

import math
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, Protocol

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.errors import PermissionDenied
from abusedesk.access.model import ACTION_APPROVE, ACTION_PROPOSE, CASE_VIEW, CASE_WORK
from abusedesk.connectors import Connector, build_connector, retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.messaging.keys import NoticeContext, notice_context
from abusedesk.pipeline.enforcement import run_action
from abusedesk.storage import action_views, enforcement, notices, suppressions
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.enforcement import ActionRecord, ActionState, InvalidEvidence
from abusedesk.storage.tables import Case
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui import cases as case_pages
from abusedesk.web.ui.case_panels import ACTION_DONE
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
MAX_REASON: Final = 2000
MAX_FIGURES: Final = 4000
MAX_FIGURE_LINES: Final = 40
ActionId = Path(ge=1, le=MAX_ID)
DONE: Final = ACTION_DONE
_BACK = re.compile(r"^/(cases/[1-9][0-9]{0,18}|actions|dead-letters)$")
_FIGURE = re.compile(r"^([a-z][a-z0-9_]{0,59})\s*[:=]\s*(.{1,200})$")


class FiguresInvalid(AbuseDeskError):
    """Raise when the figures typed into the propose form are not ``name: value`` lines."""


def connector_of(request: Request) -> Connector:
    """Return the connector the app's actions run through (built once from settings)."""
    container = container_of(request)
    wired = getattr(container, "connector", None)
    if wired is not None:
        return wired  # type: ignore[no-any-return]  # the container's own connector
    state = request.app.state
    if getattr(state, "connector", None) is None:
        state.connector = build_connector(container.settings.connector)
    return state.connector  # type: ignore[no-any-return]  # built just above


def notices_of(request: Request) -> NoticeContext:
    """Return the notice context (keys, redactor, settings) customer notices are built with."""
    container = container_of(request)
    wired = getattr(container, "notices", None)
    if wired is not None:
        return wired  # type: ignore[no-any-return]  # the container's own context
    state = request.app.state
    if getattr(state, "notices", None) is None:
        state.notices = notice_context(container.settings)
    return state.notices  # type: ignore[no-any-return]  # built just above


def run_now(
    session: Session,
    action_id: int,
    *,
    connector: Connector,
    context: NoticeContext,
    retry: RetryPolicy,
    actor: str,
    now: datetime,
) -> ActionRecord:
    """Run the action through the connector; when it executes, queue the customer's notice."""

    def notify(session: Session, record: ActionRecord) -> None:
        notices.queue_action_notice(session, record, notices=context, now=now)

    return run_action(
        session, action_id, connector, actor=actor, now=now, notify=notify, retry=retry
    )


class Runner(Protocol):
    """Runs one action now, as `run_now` does with the app's connector, notices and retries."""

    def __call__(
        self, session: Session, action_id: int, *, actor: str, now: datetime
    ) -> ActionRecord:
        """Run action *action_id* as *actor* at *now*; return it as it ended."""


def runner(request: Request) -> Runner:
    """Return `run_now` bound to the app's connector, notice context and retry schedule."""
    connector, context = connector_of(request), notices_of(request)
    retry = retry_policy(container_of(request).settings.connector)

    def run(session: Session, action_id: int, *, actor: str, now: datetime) -> ActionRecord:
        return run_now(
            session,
            action_id,
            connector=connector,
            context=context,
            retry=retry,
            actor=actor,
            now=now,
        )

    return run


def outcome(record: ActionRecord) -> str:
    """Return the DONE key for an action's state after a step."""
    if record.state == ActionState.FAILED:
        return "dead" if record.dead else "failed"
    return record.state if record.state in DONE else "executed"


def parse_figures(text: str) -> dict[str, float | str]:
    """Read ``name: value`` lines (numbers stay numbers); raise FiguresInvalid naming the line."""
    figures: dict[str, float | str] = {}
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) > MAX_FIGURE_LINES:
        raise FiguresInvalid(f"figures: at most {MAX_FIGURE_LINES} lines, not {len(lines)}")
    for number, line in enumerate(lines, start=1):
        found = _FIGURE.match(line)
        if found is None:
            raise FiguresInvalid(
                f"figures line {number}: write name: value, e.g. complaint_rate: 0.0062"
                f" (names are lowercase letters, digits and _), not {line[:60]!r}"
            )
        name, value = found.group(1), found.group(2).strip()
        figures[name] = _number(value)
    return figures


def _number(value: str) -> float | str:
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):
        return value
    return int(number) if number.is_integer() and "." not in value else number


def back_to(back: str, fallback: str) -> str:
    """Return *back* when it is one of the pages these forms come from, else *fallback*."""
    return back if _BACK.match(back) else fallback


async def _step(
    request: Request,
    principal: Principal,
    step: Callable[[Session], ActionRecord | None],
    back: str,
    *,
    done: str | None = None,
) -> Response:
    """Run *step* in one transaction; go back with what happened, or show why it was refused."""
    container = container_of(request)

    def run() -> tuple[str | None, AbuseDeskError | None]:
        try:
            with unit_of_work(container.sessions) as session:
                record = step(session)
        except PermissionDenied:
            raise
        except AbuseDeskError as problem:
            return None, problem
        return done or (outcome(record) if record is not None else "executed"), None

    result, problem = await run_in_threadpool(run)
    if problem is None:
        separator = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{separator}done={result}", status_code=303)
    mapped = http_error_for(problem)
    status = 409 if mapped is None or mapped.status >= 500 else mapped.status
    if back.startswith("/cases/"):
        case_id = int(back.rsplit("/", 1)[1])
        return await run_in_threadpool(
            lambda: case_pages.show_case(
                request, principal, case_id, problem=str(problem), status_code=status
            )
        )
    if back == "/dead-letters":
        return await run_in_threadpool(
            lambda: _show_dead_letters(request, principal, problem=str(problem), status=status)
        )
    return await run_in_threadpool(
        lambda: _show_actions(request, principal, problem=str(problem), status=status)
    )


@router.post("/cases/{case_id}/actions")
async def propose_action(
    request: Request,
    *,
    case_id: int = Path(ge=1, le=MAX_ID),
    action: str = Form(max_length=40),
    resource_id: str = Form("", max_length=20),
    cause: str = Form(max_length=80),
    reason: str = Form("", max_length=MAX_REASON),
    figures: str = Form("", max_length=MAX_FIGURES),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Propose an action on the case's account (or one of its resources), citing the case.

    The action runs at once when the policy needs no second approver for it.
    """
    user = principal.user
    run = runner(request)

    def step(session: Session) -> ActionRecord:
        case_pages.require_case_tier(session, user, case_id)
        case = session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        now = utcnow()
        record = enforcement.propose(
            session,
            case.account_id,
            action.strip(),
            cause=cause,
            reason=reason,
            evidence={"case_ids": [case_id], "figures": parse_figures(figures)},
            actor=user.username,
            now=now,
            case_id=case_id,
            resource_id=_resource(resource_id),
        )
        if record.needs_approval:
            return record
        return run(session, record.id, actor=user.username, now=now)

    return await _step(request, principal, step, f"/cases/{case_id}")


def _resource(text: str) -> int | None:
    value = text.strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 18 or int(value) < 1:
        raise InvalidEvidence(f"resource: choose one of the account's resources, not {value!r}")
    return int(value)


@router.post("/actions/{action_id}/approve")
async def approve_action(
    request: Request,
    *,
    action_id: int = ActionId,
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_APPROVE)),
) -> Response:
    """Approve another analyst's proposal; it runs through the connector at once."""
    user = principal.user
    run = runner(request)

    def step(session: Session) -> ActionRecord:
        now = utcnow()
        enforcement.approve(session, action_id, approver=user.username, now=now)
        return run(session, action_id, actor=user.username, now=now)

    return await _step(request, principal, step, back_to(back, "/actions"))


@router.post("/actions/{action_id}/reject")
async def reject_action(
    request: Request,
    *,
    action_id: int = ActionId,
    reason: str = Form("", max_length=MAX_REASON),
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_APPROVE)),
) -> Response:
    """Reject an action that has not run, saying why."""

    def step(session: Session) -> ActionRecord:
        return enforcement.reject(
            session, action_id, reason=reason, actor=principal.user.username, now=utcnow()
        )

    return await _step(request, principal, step, back_to(back, "/actions"))


@router.post("/actions/{action_id}/execute")
async def execute_action(
    request: Request,
    *,
    action_id: int = ActionId,
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Run an approved action, one that needs no approver, or retry a failed one, now."""
    run = runner(request)

    def step(session: Session) -> ActionRecord:
        return run(session, action_id, actor=principal.user.username, now=utcnow())

    return await _step(request, principal, step, back_to(back, "/actions"))


@router.post("/actions/{action_id}/reverse")
async def reverse_action(
    request: Request,
    *,
    action_id: int = ActionId,
    reason: str = Form("", max_length=MAX_REASON),
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Propose the opposite of an executed action with its own reason; run it if it may."""
    user = principal.user
    run = runner(request)

    def step(session: Session) -> ActionRecord:
        now = utcnow()
        record = enforcement.reverse(
            session, action_id, reason=reason, actor=user.username, now=now
        )
        if record.needs_approval:
            return record
        return run(session, record.id, actor=user.username, now=now)

    return await _step(request, principal, step, back_to(back, "/actions"))


@router.get("/actions")
def actions_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show what waits for a second analyst (others' first), what failed, what ran lately."""
    return _show_actions(request, principal, notice=DONE.get(done or ""))


def _show_actions(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    container = container_of(request)
    me = principal.user.username
    with read_only(container.sessions) as session:
        waiting = action_views.awaiting_approval(session)
        failing = action_views.failing(session)
        executed = action_views.recently_executed(session)
    # Others' proposals first: those are the ones this analyst can approve.
    waiting.sort(key=lambda line: line.record.proposed_by == me)
    return private_page(
        request,
        "workbench/actions.html",
        {
            **_permissions(principal),
            "waiting": waiting,
            "failing": failing,
            "executed": executed,
            "notice": notice,
            "problem": problem,
        },
        status_code=status,
    )


def _permissions(principal: Principal) -> dict[str, Any]:
    user = principal.user
    return {
        "me": user.username,
        "may_propose": user.may(ACTION_PROPOSE),
        "may_approve": user.may(ACTION_APPROVE),
    }


@router.get("/dead-letters")
def dead_letters_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the actions and suppression pushes the connector gave up on."""
    return _show_dead_letters(request, principal, notice=DONE.get(done or ""))


def _show_dead_letters(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        letters = enforcement.dead_letters(session)
    return private_page(
        request,
        "workbench/actions_dead_letters.html",
        {**_permissions(principal), "letters": letters, "notice": notice, "problem": problem},
        status_code=status,
    )


@router.post("/dead-letters/{action_id}/retry")
async def retry_dead_letter(
    request: Request,
    *,
    action_id: int = ActionId,
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Put a dead-lettered action back in line and try it through the connector now."""
    run = runner(request)
    actor = principal.user.username

    def step(session: Session) -> ActionRecord:
        now = utcnow()
        enforcement.retry_dead(session, action_id, actor=actor, now=now)
        return run(session, action_id, actor=actor, now=now)

    return await _step(request, principal, step, back_to(back, "/dead-letters"))


@router.post("/dead-letters/suppressions/{push_key}/retry")
async def retry_dead_push(
    request: Request,
    *,
    push_key: str = Path(max_length=128, pattern=r"^[A-Za-z0-9_-]{1,128}$"),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Put a dead suppression push back in line; the next sweep pushes it again."""

    def step(session: Session) -> None:
        suppressions.retry_dead_push(session, push_key, actor=principal.user.username, now=utcnow())

    return await _step(request, principal, step, "/dead-letters", done="requeued")


@router.post("/cases/{case_id}/messages/{message_id}/resend")
async def resend_message(
    request: Request,
    *,
    case_id: int = Path(ge=1, le=MAX_ID),
    message_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Queue an undelivered message of the case (failed or dead) for another round of attempts."""
    user = principal.user

    def step(session: Session) -> None:
        case_pages.require_case_tier(session, user, case_id)
        if notices.message(session, message_id).case_id != case_id:
            raise NotFound(f"case {case_id} has no message {message_id}")
        notices.resend(session, message_id, actor=user.username, now=utcnow())

    return await _step(request, principal, step, f"/cases/{case_id}", done="resent")
