"""Enforcement actions in the workbench: propose on a case, approve, reject, run, reverse.

An approved action runs at once through the connector, and so does a proposal the policy
lets run without a second approver; when it executes, the customer's notice is queued.
A connector failure leaves the action failed, with its next attempt, and the page says
so; nothing shows executed that was not. ``/actions`` lists what waits for a second
analyst, what the connector failed, and what ran lately; ``/dead-letters`` lists what
the connector gave up on, with a button to try again. An action proposed on a case of an
advanced-tier queue is acted on only by analysts who may work that tier, as the case
itself: the lists show such actions without their buttons to everyone else.
"""

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import (
    ACTION_APPROVE,
    ACTION_PROPOSE,
    CASE_VIEW,
    CASE_WORK,
    CASE_WORK_ADVANCED,
    User,
)
from abusedesk.connectors import Connector, retry_policy
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.enforcement.signing import RetryPolicy
from abusedesk.pipeline.enforcement import Notify, notify_customer, run_action
from abusedesk.storage import action_views, enforcement, notices, suppressions
from abusedesk.storage.db import read_only
from abusedesk.storage.enforcement import ActionRecord, ActionState, InvalidEvidence
from abusedesk.storage.tables import Case
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui import cases as case_pages
from abusedesk.web.ui.case_panels import ACTION_DONE
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
MAX_REASON: Final = 2000
MAX_FIGURES: Final = 4000
MAX_FIGURE_LINES: Final = 40
ActionId = Path(ge=1, le=MAX_ID)
DONE: Final = ACTION_DONE
ACTIONS: Final = "/actions"
DEAD_LETTERS: Final = "/dead-letters"
_BACK = re.compile(r"^/(cases/[1-9][0-9]{0,18}|actions|dead-letters)$")
_FIGURE = re.compile(r"^([a-z][a-z0-9_]{0,59})\s*[:=]\s*(.{1,200})$")


class FiguresInvalid(AbuseDeskError):
    """Raise when the figures typed into the propose form are not ``name: value`` lines."""


@dataclass(frozen=True)
class Turn:
    """One analyst's step on the actions: its transaction, who acts and when, and the runner.

    An action runs through the app's connector with its retry schedule; when it executes,
    the customer's notice is queued.
    """

    session: Session
    actor: str
    now: datetime
    connector: Connector
    notify: Notify
    retry: RetryPolicy

    def run(self, action_id: int) -> ActionRecord:
        """Run action *action_id* now; return it as it ended (executed, failed, dead)."""
        return run_action(
            self.session,
            action_id,
            self.connector,
            actor=self.actor,
            now=self.now,
            notify=self.notify,
            retry=self.retry,
        )

    def run_unless_waiting(self, record: ActionRecord) -> ActionRecord:
        """Return *record* while it waits for a second analyst; otherwise run it now."""
        if record.needs_approval:
            return record
        return self.run(record.id)


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


def require_action_tier(session: Session, user: User, action_id: int) -> None:
    """Refuse acting on action *action_id* when its case is in a tier *user* may not work."""
    case_id = action_views.action_case_id(session, action_id)
    if case_id is not None:
        case_pages.require_case_tier(session, user, case_id)


def back_to(back: str, fallback: str) -> str:
    """Return *back* when it is one of the pages these forms come from, else *fallback*."""
    return back if _BACK.match(back) else fallback


async def _step(
    request: Request,
    principal: Principal,
    step: Callable[[Turn], ActionRecord | None],
    back: str,
    *,
    done: str | None = None,
) -> Response:
    """Run *step* in one transaction; go back with what happened, or show why it was refused."""
    container = container_of(request)
    actor = principal.user.username
    notify = notify_customer(container.notices)
    retry = retry_policy(container.settings.connector)

    def in_turn(session: Session) -> ActionRecord | None:
        return step(Turn(session, actor, utcnow(), container.connector, notify, retry))

    result = await run_step(container.sessions, in_turn)
    if not isinstance(result, AbuseDeskError):
        said = done or (outcome(result) if result is not None else "executed")
        separator = "&" if "?" in back else "?"
        return RedirectResponse(f"{back}{separator}done={said}", status_code=303)
    problem = str(result)
    mapped = http_error_for(result)
    status = 409 if mapped is None or mapped.status >= 500 else mapped.status
    if back.startswith("/cases/"):
        case_id = int(back.rsplit("/", 1)[1])
        return await run_in_threadpool(
            lambda: case_pages.show_case(
                request, principal, case_id, problem=problem, status_code=status
            )
        )
    page = DEAD_LETTERS if back == DEAD_LETTERS else ACTIONS
    return await run_in_threadpool(
        lambda: _show_list(request, principal, page, problem=problem, status=status)
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

    def step(turn: Turn) -> ActionRecord:
        case_pages.require_case_tier(turn.session, principal.user, case_id)
        case = turn.session.get(Case, case_id)
        if case is None:
            raise NotFound(f"no case {case_id}")
        record = enforcement.propose(
            turn.session,
            case.account_id,
            action.strip(),
            cause=cause,
            reason=reason,
            evidence={"case_ids": [case_id], "figures": parse_figures(figures)},
            actor=turn.actor,
            now=turn.now,
            case_id=case_id,
            resource_id=_resource(resource_id),
        )
        return turn.run_unless_waiting(record)

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

    def step(turn: Turn) -> ActionRecord:
        require_action_tier(turn.session, principal.user, action_id)
        enforcement.approve(turn.session, action_id, approver=turn.actor, now=turn.now)
        return turn.run(action_id)

    return await _step(request, principal, step, back_to(back, ACTIONS))


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

    def step(turn: Turn) -> ActionRecord:
        require_action_tier(turn.session, principal.user, action_id)
        return enforcement.reject(
            turn.session, action_id, reason=reason, actor=turn.actor, now=turn.now
        )

    return await _step(request, principal, step, back_to(back, ACTIONS))


@router.post("/actions/{action_id}/execute")
async def execute_action(
    request: Request,
    *,
    action_id: int = ActionId,
    back: str = Form("", max_length=400),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Run an approved action, one that needs no approver, or retry a failed one, now."""

    def step(turn: Turn) -> ActionRecord:
        require_action_tier(turn.session, principal.user, action_id)
        return turn.run(action_id)

    return await _step(request, principal, step, back_to(back, ACTIONS))


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

    def step(turn: Turn) -> ActionRecord:
        require_action_tier(turn.session, principal.user, action_id)
        return turn.run_unless_waiting(
            enforcement.reverse(
                turn.session, action_id, reason=reason, actor=turn.actor, now=turn.now
            )
        )

    return await _step(request, principal, step, back_to(back, ACTIONS))


@router.get(ACTIONS)
def actions_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show what waits for a second analyst (others' first), what failed, what ran lately."""
    return _show_list(request, principal, ACTIONS, notice=DONE.get(done or ""))


@router.get(DEAD_LETTERS)
def dead_letters_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the actions and suppression pushes the connector gave up on."""
    return _show_list(request, principal, DEAD_LETTERS, notice=DONE.get(done or ""))


def _locked(session: Session, user: User, case_ids: Iterable[int | None]) -> set[int]:
    """Return those of *case_ids* that *user* may not act on: cases of an advanced tier."""
    if user.may(CASE_WORK_ADVANCED):
        return set()
    return action_views.advanced_case_ids(session, case_ids)


def _actions(session: Session, user: User) -> dict[str, Any]:
    waiting = action_views.awaiting_approval(session)
    # Others' proposals first: those are the ones this analyst can approve.
    waiting.sort(key=lambda line: line.record.proposed_by == user.username)
    failing = action_views.failing(session)
    executed = action_views.recently_executed(session)
    lines = [*waiting, *failing, *executed]
    return {
        "waiting": waiting,
        "failing": failing,
        "executed": executed,
        "locked": _locked(session, user, (line.record.case_id for line in lines)),
    }


def _dead_letters(session: Session, user: User) -> dict[str, Any]:
    letters = enforcement.dead_letters(session)
    return {
        "letters": letters,
        "locked": _locked(session, user, (letter.case_id for letter in letters)),
    }


# The two list pages: their template and what they list, read for the analyst.
# ``locked`` holds the listed actions' cases the analyst may not act on (advanced tier).
_LISTS: Final[dict[str, tuple[str, Callable[[Session, User], dict[str, Any]]]]] = {
    ACTIONS: ("workbench/actions.html", _actions),
    DEAD_LETTERS: ("workbench/actions_dead_letters.html", _dead_letters),
}


def _show_list(
    request: Request,
    principal: Principal,
    page: str,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    """Render list page *page* (``/actions`` or ``/dead-letters``) for the analyst."""
    template, lists = _LISTS[page]
    user = principal.user
    with read_only(container_of(request).sessions) as session:
        shown = lists(session, user)
    return private_page(
        request,
        template,
        {
            "me": user.username,
            "may_propose": user.may(ACTION_PROPOSE),
            "may_approve": user.may(ACTION_APPROVE),
            **shown,
            "notice": notice,
            "problem": problem,
        },
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

    def step(turn: Turn) -> ActionRecord:
        require_action_tier(turn.session, principal.user, action_id)
        enforcement.retry_dead(turn.session, action_id, actor=turn.actor, now=turn.now)
        return turn.run(action_id)

    return await _step(request, principal, step, back_to(back, DEAD_LETTERS))


@router.post("/dead-letters/suppressions/{push_key}/retry")
async def retry_dead_push(
    request: Request,
    *,
    push_key: str = Path(max_length=128, pattern=r"^[A-Za-z0-9_-]{1,128}$"),
    principal: Principal = Depends(require_permission(ACTION_PROPOSE)),
) -> Response:
    """Put a dead suppression push back in line; the next sweep pushes it again."""

    def step(turn: Turn) -> None:
        suppressions.retry_dead_push(turn.session, push_key, actor=turn.actor, now=turn.now)

    return await _step(request, principal, step, DEAD_LETTERS, done="requeued")


@router.post("/cases/{case_id}/messages/{message_id}/resend")
async def resend_message(
    request: Request,
    *,
    case_id: int = Path(ge=1, le=MAX_ID),
    message_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(CASE_WORK)),
) -> Response:
    """Queue an undelivered message of the case (failed or dead) for another round of attempts."""

    def step(turn: Turn) -> None:
        case_pages.require_case_tier(turn.session, principal.user, case_id)
        if notices.message(turn.session, message_id).case_id != case_id:
            raise NotFound(f"case {case_id} has no message {message_id}")
        notices.resend(turn.session, message_id, actor=turn.actor, now=turn.now)

    return await _step(request, principal, step, f"/cases/{case_id}", done="resent")
