"""The HTTP face of abusedesk: JSON under ``/api``, server-rendered pages elsewhere."""

from typing import TYPE_CHECKING, cast

from starlette.requests import Request

if TYPE_CHECKING:
    from abusedesk.bootstrap import Container


def container_of(request: Request) -> "Container":
    """Return the container the app was built with (a FastAPI dependency)."""
    return cast("Container", request.app.state.container)
