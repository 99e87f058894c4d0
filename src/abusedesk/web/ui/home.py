"""``GET /``: the front door; it names the product and shows no data."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from abusedesk.web.ui.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(request: Request) -> Response:
    """Show the product name, its version and where to look next."""
    return render(request, "home.html")
