"""``/api/v1/search``: cases, accounts and events by indicator, reference or free text."""

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from abusedesk.search.query import MAX_QUERY_LENGTH, parse_query
from abusedesk.storage.db import read_only
from abusedesk.storage.search import search
from abusedesk.web import container_of
from abusedesk.web.api.root import PREFIX
from abusedesk.web.api.unattributed import READ_SCOPE
from abusedesk.web.auth import require_token

router = APIRouter(prefix=PREFIX, tags=["search"])

MAX_LIMIT = 200


@router.get(
    "/search",
    summary="Search cases, accounts and events",
    dependencies=[Depends(require_token(READ_SCOPE))],
)
def search_everything(
    request: Request,
    q: str = Query(
        ...,
        max_length=MAX_QUERY_LENGTH,
        description="IPs, addresses, Message-IDs, URLs, domains, phone numbers, #case, "
        "account:<id>, key:value for any indicator, and words; every term must match",
    ),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Return what matches every term of *q*, with how the query was read."""
    query = parse_query(q)
    with read_only(container_of(request).sessions) as session:
        results = search(session, query, limit=limit)
    return asdict(results)
