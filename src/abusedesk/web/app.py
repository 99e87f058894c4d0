"""The FastAPI application: routes, error handling and the headers every answer carries."""

from pathlib import Path

import structlog
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import abusedesk
from abusedesk.bootstrap import Container
from abusedesk.web.api import health, inventory, metrics, reports, root, sns, unattributed
from abusedesk.web.errors import install_error_handlers, unexpected_error_response
from abusedesk.web.ui import home, report_form
from abusedesk.web.ui.rendering import make_templates

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    # Nothing is loaded from anywhere but this origin; no page may be framed.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def create_app(container: Container) -> FastAPI:
    """Build the web application around *container*."""
    app = FastAPI(
        title="abusedesk",
        version=abusedesk.__version__,
        # The stock documentation pages load scripts from a CDN; the description is
        # served behind a token at /api/v1/openapi.json instead.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.container = container
    app.state.templates = make_templates()
    install_error_handlers(app)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(root.router)
    app.include_router(reports.router)
    app.include_router(sns.router)
    app.include_router(unattributed.router)
    app.include_router(inventory.router)
    app.include_router(home.router)
    app.include_router(report_form.router)
    return app


class SecurityHeadersMiddleware:
    """Add the security headers to every answer, including answers to unexpected failures."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; stamp the headers on the way out."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # The request handler's boundary: log the failure, answer without details.
            log.exception("request_failed", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise
            response = unexpected_error_response(Request(scope))
            await response(scope, receive, send_with_headers)
