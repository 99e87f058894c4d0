"""One Jinja2 environment for every page: autoescaped, strict about undefined names."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

import abusedesk

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


def make_templates() -> Jinja2Templates:
    """Return the template renderer the app keeps for its whole life."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        # Everything a page shows may come from a hostile report: escape all of it, always.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["product"] = "abusedesk"
    environment.globals["version"] = abusedesk.__version__
    environment.filters["duration"] = duration
    return Jinja2Templates(env=environment)


def duration(span: timedelta) -> str:
    """Return a duration in the largest whole unit that fits: ``3 days``, ``4 h``, ``20 min``."""
    minutes = int(span.total_seconds() // 60)
    if minutes and minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return f"{days} day{'s' if days != 1 else ''}"
    if minutes >= 60:
        return f"{minutes / 60:g} h"
    return f"{minutes} min"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """Render the page *name* with *context* as an HTML response."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)


def private_page(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """Render a page that holds customer or user data: no browser or proxy may keep it."""
    response = render(request, name, context, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    return response
