"""``GET /api/v1/``: what the API offers, for any valid token."""

from typing import Any

from fastapi import APIRouter, Depends, Request

import abusedesk
from abusedesk.storage.tokens import TokenInfo
from abusedesk.web.auth import require_token

PREFIX = "/api/v1"

router = APIRouter(prefix=PREFIX, tags=["api"])


@router.get("/", summary="API root")
def api_root(token: TokenInfo = Depends(require_token())) -> dict[str, Any]:
    """List the API's version, the calling token's scopes, and links to what exists."""
    return {
        "name": "abusedesk",
        "version": abusedesk.__version__,
        "token": {"name": token.name, "prefix": token.display_prefix, "scopes": token.scopes},
        "links": {
            "self": f"{PREFIX}/",
            "openapi": f"{PREFIX}/openapi.json",
            "health": "/health",
        },
    }


@router.get(
    "/openapi.json",
    summary="OpenAPI description",
    include_in_schema=False,
    dependencies=[Depends(require_token())],
)
def openapi(request: Request) -> dict[str, Any]:
    """Describe the API in OpenAPI; behind a token like the rest of it."""
    description: dict[str, Any] = request.app.openapi()
    return description
