"""``/mentions``: the notes that mention the signed-in user, newest first, a page at a time."""

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from abusedesk.access.model import CASE_VIEW
from abusedesk.storage import case_notes
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


@router.get("/mentions")
def mentions_page(
    request: Request,
    before_id: int | None = Query(None, ge=1, le=MAX_ID, description="page on below this note"),
    limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show the notes that mention the signed-in user, each linked to its case."""
    container = container_of(request)
    with read_only(container.sessions) as session:
        notes = case_notes.my_mentions(
            session, principal.user.username, limit=limit, before_id=before_id
        )
    next_url = None
    if len(notes) == limit:
        query = {"before_id": notes[-1].id, **({"limit": limit} if limit != PAGE_SIZE else {})}
        next_url = f"/mentions?{urlencode(query)}"
    return private_page(
        request,
        "workbench/mentions.html",
        {"notes": notes, "paged": before_id is not None, "next_url": next_url},
    )
