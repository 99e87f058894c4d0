"""``GET /``: the signed-in user's start page: who they are and what their role allows."""

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from abusedesk.access.model import PERMISSIONS, ROLE_DESCRIPTIONS, WEB_SIGN_IN
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(
    request: Request, principal: Principal = Depends(require_permission(WEB_SIGN_IN))
) -> Response:
    """Show the user's name, role and permissions, and the way out."""
    user = principal.user
    allowed = [PERMISSIONS[name] for name in sorted(user.permissions)]
    response = render(
        request,
        "home.html",
        {
            "user": user,
            "role_description": ROLE_DESCRIPTIONS.get(user.role, ""),
            "permissions": allowed,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
