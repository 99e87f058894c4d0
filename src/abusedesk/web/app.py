"""The FastAPI application: routes, error handling and the headers every answer carries."""

from pathlib import Path
from urllib.parse import quote

import structlog
from fastapi import FastAPI
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import abusedesk
from abusedesk.bootstrap import Container
from abusedesk.web import portal
from abusedesk.web.api import (
    health,
    inventory,
    metrics,
    reports,
    root,
    search,
    sns,
    unattributed,
)
from abusedesk.web.auth import SESSION_COOKIE, SignInRequired
from abusedesk.web.errors import (
    error_response,
    install_error_handlers,
    unexpected_error_response,
)
from abusedesk.web.ui import (
    actions,
    admin,
    admin_notices,
    admin_policy,
    cases,
    clusters,
    evidence,
    home,
    inbox,
    login,
    mentions,
    monitoring,
    queues,
    replies,
    report_form,
    sql_console,
)
from abusedesk.web.ui import appeals as appeal_pages
from abusedesk.web.ui import blocklists as blocklist_pages
from abusedesk.web.ui import escalations as escalation_pages
from abusedesk.web.ui import insights as insight_pages
from abusedesk.web.ui import qa as qa_pages
from abusedesk.web.ui import reports as report_pages
from abusedesk.web.ui import reviews as review_pages
from abusedesk.web.ui import search as search_page
from abusedesk.web.ui import voice as voice_pages
from abusedesk.web.ui.rendering import make_templates

log = structlog.get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"

SECURITY_HEADERS = {
    # Nothing is loaded from anywhere but this origin (so no inline script runs), forms post
    # only here, and no page may be framed.
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Nothing leaves for other sites; same-origin (not no-referrer) so that browsers still
    # send a real Origin with our own forms, which the CSRF check compares.
    "Referrer-Policy": "same-origin",
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
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(root.router)
    app.include_router(reports.router)
    app.include_router(sns.router)
    app.include_router(unattributed.router)
    app.include_router(search.router)
    app.include_router(inventory.router)
    app.include_router(home.router)
    app.include_router(login.router)
    app.include_router(report_form.router)
    app.include_router(queues.router)
    app.include_router(cases.router)
    app.include_router(evidence.router)
    app.include_router(search_page.router)
    app.include_router(admin.router)
    app.include_router(inbox.router)
    app.include_router(escalation_pages.router)
    app.include_router(mentions.router)
    app.include_router(replies.router)
    app.include_router(actions.router)
    app.include_router(appeal_pages.router)
    app.include_router(portal.router)
    app.include_router(admin_policy.router)
    app.include_router(blocklist_pages.router)
    app.include_router(monitoring.router)
    app.include_router(clusters.router)
    app.include_router(admin_notices.router)
    # insights routers: metrics
    app.include_router(insight_pages.router)
    # insights routers: qa
    app.include_router(qa_pages.router)
    # insights routers: reports
    app.include_router(report_pages.router)
    # insights routers: reviews
    app.include_router(review_pages.router)
    # insights routers: analytics
    app.include_router(sql_console.router)
    # insights routers: voice
    app.include_router(voice_pages.router)
    return app


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    """Send an anonymous browser to the sign-in form, and back to the page afterwards.

    Only a page can be returned to: a form posted without a session is answered 401,
    since repeating a post after signing in is the user's decision, not ours.
    """
    if request.method not in ("GET", "HEAD"):
        return error_response(
            request,
            401,
            "sign_in_required",
            "You are not signed in, or your session has ended, so nothing was done. "
            "Sign in again, then repeat what you were doing.",
        )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    target = f"/login?next={quote(here, safe='/')}"
    if request.headers.get("hx-request") == "true":
        # htmx would swap the sign-in page into a fragment; ask it to load the page instead.
        return Response(status_code=401, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


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
        cookies = Headers(scope=scope).get("cookie", "")
        signed_in = f"{SESSION_COOKIE}=" in cookies and not scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                if signed_in:
                    # What a signed-in user sees stays out of shared and browser caches.
                    headers.setdefault("Cache-Control", "no-store")
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
