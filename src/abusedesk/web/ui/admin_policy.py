"""The enforcement policy admin page: the policy in force, its versions, and a JSON editor.

The policy is never edited in place: saving writes the next version, with a note saying
what changed, and every action cites the version it was taken under. The form carries
the version it was made from, so an edit made while someone else saved a newer version is
refused with a clear message instead of overwriting it (as on the routing page).
"""

from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Request
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import POLICY_ADMIN
from abusedesk.core.clock import utcnow
from abusedesk.enforcement.errors import InvalidPolicy
from abusedesk.enforcement.policy import Policy
from abusedesk.storage import enforcement
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.admin_common import (
    FORM_KEYS,
    admin_pages,
    editor_json,
    refusal_status,
    save_next_version,
)
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_POLICY_TEXT: Final = 100_000
MAX_NOTE: Final = 2000
HISTORY: Final = 50
DONE: Final = {"saved": "The new policy version is in force."}
STALE: Final = "version: the policy changed meanwhile"
_EXPECTED: Final = '{"thresholds": ..., "approval_required": ...}'


def editable_json(policy: Policy) -> str:
    """Return the part of *policy* an admin edits (all but version, author, note) as JSON."""
    document = policy.to_dict()
    return editor_json({k: v for k, v in document.items() if k not in FORM_KEYS})


@router.get("/admin/policy")
def policy_page(
    request: Request,
    done: str | None = None,
    principal: Principal = Depends(require_permission(POLICY_ADMIN)),
) -> Response:
    """Show the policy in force, its versions and the editor."""
    return _show(request, principal, notice=DONE.get(done or ""))


@router.post("/admin/policy")
async def save_policy(
    request: Request,
    *,
    policy_json: str = Form(max_length=MAX_POLICY_TEXT),
    note: str = Form("", max_length=MAX_NOTE),
    base_version: int = Form(ge=1, le=2**31 - 1),
    principal: Principal = Depends(require_permission(POLICY_ADMIN)),
) -> Response:
    """Save the edited policy as the next version; list every problem if it is refused."""
    actor = principal.user.username

    def save(session: Session, data: dict[str, Any]) -> None:
        enforcement.save_policy(session, data, actor=actor, now=utcnow())

    problems = await save_next_version(
        container_of(request),
        policy_json,
        note=note,
        base_version=base_version,
        invalid=InvalidPolicy,
        expected=_EXPECTED,
        save=save,
    )
    if not problems:
        return RedirectResponse("/admin/policy?done=saved", status_code=303)
    return _show(
        request,
        principal,
        problems=problems,
        draft=policy_json,
        note=note,
        base_version=base_version,
        status_code=refusal_status(problems, STALE),
    )


def _show(
    request: Request,
    principal: Principal,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    draft: str | None = None,
    note: str = "",
    base_version: int | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        versions = enforcement.policy_versions(session, limit=HISTORY)
    policy = versions[0]
    return private_page(
        request,
        "workbench/admin/policy.html",
        {
            "admin_pages": admin_pages(principal.user),
            "policy": policy,
            "versions": versions,
            "draft": draft if draft is not None else editable_json(policy),
            "note": note,
            # A draft keeps the version it was made from: saving it again stays refused
            # while it is stale, so a newer version is never overwritten unseen.
            "base_version": base_version or policy.version,
            "notice": notice,
            "problems": problems or [],
        },
        status_code=status_code,
    )
