"""``/replies``: the saved replies analysts add to notes; leads and admins keep them."""

from collections.abc import Callable

from fastapi import APIRouter, Depends, Form, Path, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import CASE_VIEW, REPLY_ADMIN
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage import case_notes
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
DONE = {"saved": "The saved reply is stored.", "deleted": "The saved reply is gone."}


@router.get("/replies")
def reply_list(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show every saved reply; leads and admins get the forms to change them."""
    return _page(request, principal, notice=DONE.get(done or ""))


def _page(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> Response:
    with read_only(container_of(request).sessions) as session:
        replies = case_notes.saved_replies(session)
    return private_page(
        request,
        "workbench/replies.html",
        {
            "replies": replies,
            "may_edit": principal.user.may(REPLY_ADMIN),
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


async def _change(
    request: Request, principal: Principal, action: Callable[[Session], object], done: str
) -> Response:
    container = container_of(request)

    def run() -> str | None:
        try:
            with unit_of_work(container.sessions) as session:
                action(session)
        except AbuseDeskError as problem:
            return str(problem)
        return None

    problem = await run_in_threadpool(run)
    if problem is None:
        return RedirectResponse(f"/replies?done={done}", status_code=303)
    return await run_in_threadpool(
        lambda: _page(request, principal, problem=problem, status_code=409)
    )


@router.post("/replies")
async def create_reply(
    request: Request,
    *,
    title: str = Form(max_length=case_notes.MAX_TITLE),
    body: str = Form(max_length=case_notes.MAX_REPLY),
    category_group: str = Form("", max_length=case_notes.MAX_GROUP),
    principal: Principal = Depends(require_permission(REPLY_ADMIN)),
) -> Response:
    """Store a new saved reply (for one category group, or for every case)."""
    return await _change(
        request,
        principal,
        lambda session: case_notes.create_saved_reply(
            session,
            title,
            body,
            category_group=category_group.strip() or None,
            actor=principal.user.username,
            now=utcnow(),
        ),
        "saved",
    )


@router.post("/replies/{reply_id}")
async def update_reply(
    request: Request,
    *,
    reply_id: int = Path(ge=1, le=MAX_ID),
    title: str = Form(max_length=case_notes.MAX_TITLE),
    body: str = Form(max_length=case_notes.MAX_REPLY),
    category_group: str = Form("", max_length=case_notes.MAX_GROUP),
    principal: Principal = Depends(require_permission(REPLY_ADMIN)),
) -> Response:
    """Change a saved reply."""
    return await _change(
        request,
        principal,
        lambda session: case_notes.update_saved_reply(
            session,
            reply_id,
            title=title,
            body=body,
            category_group=category_group.strip() or None,
            actor=principal.user.username,
            now=utcnow(),
        ),
        "saved",
    )


@router.post("/replies/{reply_id}/delete")
async def delete_reply(
    request: Request,
    reply_id: int = Path(ge=1, le=MAX_ID),
    principal: Principal = Depends(require_permission(REPLY_ADMIN)),
) -> Response:
    """Retire a saved reply (the audit log keeps its text)."""
    return await _change(
        request,
        principal,
        lambda session: case_notes.delete_saved_reply(
            session, reply_id, actor=principal.user.username, now=utcnow()
        ),
        "deleted",
    )
