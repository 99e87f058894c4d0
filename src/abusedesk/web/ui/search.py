"""``GET /search``: the search box of the workbench, over cases, accounts and events."""

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from abusedesk.access.model import CASE_VIEW
from abusedesk.search.query import MAX_QUERY_LENGTH, QueryInvalid, parse_query
from abusedesk.storage.db import read_only
from abusedesk.storage.search import SearchResults, search
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)


@router.get("/search")
def search_page(
    request: Request,
    q: str = Query("", max_length=MAX_QUERY_LENGTH),
    principal: Principal = Depends(require_permission(CASE_VIEW)),
) -> Response:
    """Show what matches every term of *q*, and how the query was read."""
    del principal
    results: SearchResults | None = None
    problem = None
    if q.strip():
        try:
            query = parse_query(q)
        except QueryInvalid as invalid:
            problem = str(invalid)
        else:
            with read_only(container_of(request).sessions) as session:
                results = search(session, query)
    return private_page(
        request,
        "workbench/search.html",
        {"q": q, "results": results, "problem": problem},
        status_code=422 if problem else 200,
    )
