"""One Jinja2 environment for every page: autoescaped, strict about undefined names."""

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
    return Jinja2Templates(env=environment)


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response:
    """Render the page *name* with *context* as an HTML response."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context or {}, status_code=status_code)
