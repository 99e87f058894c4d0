"""Domain errors to HTTP answers, in one place: JSON for the API, a page for people."""

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, cast

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from abusedesk.access.errors import CsrfRefused, PermissionDenied
from abusedesk.core.errors import AbuseDeskError, NotFound, TransientError
from abusedesk.intake.service import EmptyInput, ReportRejected, ReportTooLarge
from abusedesk.search.query import QueryInvalid
from abusedesk.storage.tokens import InvalidToken, MissingScope, TokenRequestInvalid
from abusedesk.storage.unattributed import (
    DecisionInvalid,
    NotWaiting,
    UnknownAccount,
    UnknownResource,
)
from abusedesk.web.auth import MissingToken
from abusedesk.web.ui.rendering import render

log = structlog.get_logger(__name__)

# Paths whose answers are JSON whatever happens; every other path is a page for people.
JSON_PATH_PREFIXES = ("/api/", "/health", "/metrics")


@dataclass(frozen=True)
class HttpError:
    """How one kind of domain error is answered: status code and machine-readable name."""

    status: int
    error: str


ERRORS: dict[type[AbuseDeskError], HttpError] = {
    MissingToken: HttpError(401, "unauthorized"),
    PermissionDenied: HttpError(403, "forbidden"),
    CsrfRefused: HttpError(403, "csrf_refused"),
    InvalidToken: HttpError(401, "invalid_token"),
    MissingScope: HttpError(403, "insufficient_scope"),
    NotFound: HttpError(404, "not_found"),
    ReportTooLarge: HttpError(413, "too_large"),
    EmptyInput: HttpError(400, "empty"),
    ReportRejected: HttpError(422, "rejected"),
    TokenRequestInvalid: HttpError(422, "invalid_request"),
    NotWaiting: HttpError(409, "conflict"),
    UnknownAccount: HttpError(422, "invalid_request"),
    UnknownResource: HttpError(422, "invalid_request"),
    DecisionInvalid: HttpError(422, "invalid_request"),
    QueryInvalid: HttpError(422, "invalid_request"),
    TransientError: HttpError(503, "unavailable"),
}

INTERNAL_ERROR = HttpError(500, "internal_error")
INTERNAL_DETAIL = "something went wrong on our side; it has been logged"


def http_error_for(error: AbuseDeskError) -> HttpError | None:
    """Return how *error* is answered, by its most specific mapped class, or None."""
    for kind in type(error).__mro__:
        mapped = ERRORS.get(kind)
        if mapped is not None:
            return mapped
    return None


def wants_json(request: Request) -> bool:
    """Tell whether errors on this request's path are answered as JSON."""
    path = request.url.path
    return path == "/api" or path.startswith(JSON_PATH_PREFIXES)


def error_response(
    request: Request,
    status: int,
    error: str,
    detail: Any,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer with ``{"error": ..., "detail": ...}`` on JSON paths, else an error page."""
    if wants_json(request):
        return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)
    page = render(
        request,
        "error.html",
        {"status": status, "title": _phrase(status), "detail": detail},
        status_code=status,
    )
    if headers:
        page.headers.update(headers)
    return page


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into answers."""
    app.add_exception_handler(AbuseDeskError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


def unexpected_error_response(request: Request) -> Response:
    """Answer a failure nobody anticipated, without revealing anything about it."""
    return error_response(request, INTERNAL_ERROR.status, INTERNAL_ERROR.error, INTERNAL_DETAIL)


async def _domain_error(request: Request, exc: Exception) -> Response:
    exc = cast(AbuseDeskError, exc)  # registered for AbuseDeskError only
    mapped = http_error_for(exc)
    if mapped is None:
        # A domain error nobody mapped is a gap in this table, not the client's fault.
        log.error("unmapped_domain_error", error_class=type(exc).__qualname__)
        return unexpected_error_response(request)
    return error_response(request, mapped.status, mapped.error, str(exc), headers=_challenge(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    exc = cast(StarletteHTTPException, exc)  # registered for it only
    headers = dict(exc.headers or {})
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    return error_response(
        request, exc.status_code, _slug(exc.status_code), exc.detail, headers=headers
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    exc = cast(RequestValidationError, exc)  # registered for it only
    # Only where and what: echoing the offending input back serves nobody.
    problems = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in exc.errors()
    ]
    return error_response(request, 422, "invalid_request", problems)


def _challenge(exc: AbuseDeskError) -> dict[str, str] | None:
    # RFC 6750 section 3: how a bearer-token resource says what went wrong.
    if isinstance(exc, MissingToken):
        return {"WWW-Authenticate": 'Bearer realm="abusedesk"'}
    if isinstance(exc, InvalidToken):
        return {"WWW-Authenticate": 'Bearer realm="abusedesk", error="invalid_token"'}
    if isinstance(exc, MissingScope):
        scope = " ".join(exc.needed)
        return {
            "WWW-Authenticate": (
                f'Bearer realm="abusedesk", error="insufficient_scope", scope="{scope}"'
            )
        }
    return None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _slug(status: int) -> str:
    return _phrase(status).lower().replace(" ", "_").replace("-", "_").replace("'", "")
