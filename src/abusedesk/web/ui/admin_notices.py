"""The notice templates admin pages: the templates in force, an editor with versions, a preview.

A template is kept per kind (an enforcement action, or a message such as
``appeal_decision``) and category group (``""`` for any). Saving writes the next version
with a note; the sandbox checks it first, and every problem is shown by place. A preview
renders the draft with the real data of a chosen case (its figures, redacted evidence,
the account) and sends nothing.
"""

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import NOTICE_ADMIN
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.messaging.templates import (
    MAX_SOURCE,
    MAX_SUBJECT,
    MESSAGE_KINDS,
    TEMPLATE_KINDS,
    RenderedNotice,
    variables,
)
from abusedesk.storage import notice_templates
from abusedesk.storage.db import read_only
from abusedesk.storage.notice_templates import TemplateVersion
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.admin_common import admin_pages, problems_of, transact
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_NOTE: Final = 2000
MAX_KIND: Final = 40
DONE: Final = {"saved": "The new template version is in force for new notices."}


@dataclass(frozen=True)
class Draft:
    """What the editor holds: the template as typed, and where it is saved."""

    kind: str
    category: str
    subject: str
    body: str
    note: str = ""


def draft_form(
    kind: str = Form(max_length=MAX_KIND),
    category: str = Form("", max_length=MAX_KIND),
    subject: str = Form("", max_length=MAX_SUBJECT * 5),
    body: str = Form("", max_length=MAX_SOURCE),
    note: str = Form("", max_length=MAX_NOTE),
) -> Draft:
    """Read the editor's fields (a dependency of the save and preview forms)."""
    return Draft(kind, category.strip(), subject, body, note)


def kinds() -> list[str]:
    """Return every template kind: the enforcement actions, then the messages."""
    actions = sorted(TEMPLATE_KINDS - MESSAGE_KINDS)
    return [*actions, *sorted(MESSAGE_KINDS)]


def in_force(session: Session, kind: str, category: str) -> TemplateVersion:
    """Return the template a notice of *kind* for *category* uses now.

    The newest version for the category, else for any category, else the built-in one.
    """
    for where in dict.fromkeys((category, "")):
        versions = notice_templates.template_versions(session, kind, where)
        if versions:
            return versions[0]
    return notice_templates.built_in(kind)


@router.get("/admin/notices")
def notices_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(NOTICE_ADMIN)),
) -> Response:
    """List the templates in force by kind and category, with a way to start a new one."""
    container = container_of(request)
    with read_only(container.sessions) as session:
        listed = notice_templates.templates(session)
    return private_page(
        request,
        "workbench/admin/notices.html",
        {
            "admin_pages": admin_pages(principal.user),
            "templates": listed,
            "kinds": kinds(),
            "notice": DONE.get(done or ""),
            "edit_url": edit_url,
        },
    )


def edit_url(kind: str, category: str) -> str:
    """Return the editor's address for (*kind*, *category*)."""
    return f"/admin/notices/edit?{urlencode({'kind': kind, 'category': category})}"


@router.get("/admin/notices/edit")
def edit_page(
    request: Request,
    *,
    kind: str = Query(max_length=MAX_KIND),
    category: str = Query("", max_length=MAX_KIND),
    done: str | None = None,
    principal: Principal = Depends(require_permission(NOTICE_ADMIN)),
) -> Response:
    """Show the template in force for (kind, category) in the editor, with its versions."""
    container = container_of(request)
    with read_only(container.sessions) as session:
        current = in_force(session, kind, category) if kind in TEMPLATE_KINDS else None
    if current is None:
        return _editor(
            request,
            principal,
            Draft(kind, category, "", ""),
            problems=[f"kind: {kind[:40]!r} is not an action or a message kind"],
            status_code=404,
        )
    draft = Draft(kind, category.strip(), current.subject, current.body)
    return _editor(request, principal, draft, notice=DONE.get(done or ""))


@router.post("/admin/notices/edit")
async def save_template(
    request: Request,
    *,
    draft: Draft = Depends(draft_form),
    principal: Principal = Depends(require_permission(NOTICE_ADMIN)),
) -> Response:
    """Save the draft as the next version for (kind, category); show every problem if refused."""

    def change(session: Session) -> None:
        notice_templates.save_template(
            session,
            kind=draft.kind,
            category=draft.category,
            subject=draft.subject,
            body=draft.body,
            actor=principal.user.username,
            note=draft.note,
            now=utcnow(),
        )

    problems = await transact(container_of(request), change)
    if not problems:
        target = edit_url(draft.kind, draft.category) + "&done=saved"
        return RedirectResponse(target, status_code=303)
    return await run_in_threadpool(
        lambda: _editor(request, principal, draft, problems=problems, status_code=422)
    )


@router.post("/admin/notices/preview")
async def preview_template(
    request: Request,
    *,
    draft: Draft = Depends(draft_form),
    case_id: int = Form(ge=1, le=2**63 - 1),
    principal: Principal = Depends(require_permission(NOTICE_ADMIN)),
) -> Response:
    """Render the draft with the real data of case *case_id*; nothing is saved or sent."""
    container = container_of(request)

    def render() -> tuple[RenderedNotice | None, list[str]]:
        try:
            with read_only(container.sessions) as session:
                rendered = notice_templates.preview(
                    session,
                    kind=draft.kind,
                    category=draft.category,
                    subject=draft.subject,
                    body=draft.body,
                    case_id=case_id,
                    notices=container.notices,
                    now=utcnow(),
                )
        except AbuseDeskError as error:
            return None, problems_of(error)
        return rendered, []

    rendered, problems = await run_in_threadpool(render)
    return await run_in_threadpool(
        lambda: _editor(
            request,
            principal,
            draft,
            preview=rendered,
            preview_case=case_id,
            preview_problems=problems,
            status_code=200 if rendered is not None else 422,
        )
    )


def _editor(
    request: Request,
    principal: Principal,
    draft: Draft,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    preview: RenderedNotice | None = None,
    preview_case: int | None = None,
    preview_problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    known = draft.kind in TEMPLATE_KINDS
    with read_only(container.sessions) as session:
        versions = (
            notice_templates.template_versions(session, draft.kind, draft.category) if known else []
        )
    return private_page(
        request,
        "workbench/admin/notice_template.html",
        {
            "admin_pages": admin_pages(principal.user),
            "draft": draft,
            "known": known,
            "versions": versions,
            "variables": sorted(variables(draft.kind)) if known else [],
            "notice": notice,
            "problems": problems or [],
            "preview": preview,
            "preview_case": preview_case,
            "preview_problems": preview_problems or [],
        },
        status_code=status_code,
    )
