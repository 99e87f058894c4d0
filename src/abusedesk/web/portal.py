"""The customer portal: what a notice's link opens, without any sign-in.

``GET /portal/{token}`` shows the notice, the evidence as the customer may see it
(recipients' addresses replaced by keyed tags, reporters as the policy says), the case's
messages, a reply form and, for an executed action that can be appealed, the appeal form:
what caused the problem, what was fixed, how it is kept from happening again, and a few
files (count, size and type limited by ``notices.appeal_*``; the type is read from the
bytes). ``POST /portal/{token}/reply`` and ``POST /portal/{token}/appeal`` store them.

The link's token is the only credential: it is signed and expires (see
``notices.links``). A link that is malformed, tampered with, expired or names nothing is
answered 403 with one page that says only that the link cannot be used, whatever the
cause. Each form carries a token bound to the portal link and the time it was rendered
(an HMAC under the link keyring's current key), so a post needs a page served for that
very link within the last hours; a post whose ``Origin`` is another site is refused. Each
client address has a request budget (a token bucket) across all portal pages. Pages carry
customer data: no browser or proxy may keep them.
"""

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import structlog
from fastapi import APIRouter, Path, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.responses import RedirectResponse, Response

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError

# The token bucket the SMTP intake uses per peer; it knows nothing of SMTP.
from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.messaging.keys import NoticeContext
from abusedesk.notices.links import LinkRefused
from abusedesk.storage import appeals, notices
from abusedesk.storage.appeals import AttachmentLimits, InvalidAppeal, Upload
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of, public_forms
from abusedesk.web.auth import same_origin
from abusedesk.web.errors import error_response
from abusedesk.web.public_forms import (
    BodyTooLarge,
    bounded,
    declared_length,
    peer,
    text_field,
)
from abusedesk.web.ui.rendering import render

log = structlog.get_logger(__name__)

T = TypeVar("T")

router = APIRouter(include_in_schema=False)

MAX_TOKEN: Final = 600
# Any text is taken as a token: one that is not a valid link gets the one refusal page.
PortalToken = Path()
# Each client address may load or post this many portal pages at once, refilled steadily.
BURST: Final = 30
PER_SECOND: Final = 0.5
# A rendered form may be posted for this long.
FORM_MAX_AGE_SECONDS: Final = 12 * 3600
FORM_FIELD: Final = "form_token"
_PURPOSE: Final = "portal-form"
# Room for the multipart boundaries, part headers and the text fields of one post.
FORM_OVERHEAD_BYTES: Final = 128 * 1024
MAX_REPLY_CHARS: Final = 20_000
# Beyond the allowed count, a few more file parts are read so the refusal can say how
# many were sent; more than that and the post is refused unread.
EXTRA_FILE_PARTS: Final = 5
DONE: Final = {
    "replied": "Thank you: your reply is on its way to our team.",
    "appealed": "Thank you: your appeal is received. An analyst who took no part in the"
    " action will review it; you will hear from us by the date shown.",
}
REFUSED: Final = (
    "This link cannot be used: it may have expired or been copied incompletely. "
    "Reply to our message and we will send you a new link."
)


@dataclass
class PortalState:
    """What the portal keeps for the life of one app: its per-client request budget."""

    limiter: PeerRateLimiter


def form_token(key: bytes, portal_token: str, now: float) -> str:
    """Return a form token for *portal_token* rendered at *now* (seconds since the epoch)."""
    return public_forms.form_token(key, _PURPOSE, now, bound=portal_token)


def form_token_is_fresh(key: bytes, portal_token: str, presented: str, *, now: float) -> bool:
    """Tell whether *presented* was made for *portal_token* under *key* recently enough."""
    return public_forms.form_token_is_fresh(
        key, _PURPOSE, presented, now=now, max_age_seconds=FORM_MAX_AGE_SECONDS, bound=portal_token
    )


def attachment_limits(context: NoticeContext) -> AttachmentLimits:
    """Return the appeal form's attachment limits from the notice settings."""
    settings = context.settings
    return AttachmentLimits(
        max_count=settings.appeal_max_attachments,
        max_bytes=settings.appeal_max_attachment_bytes,
        types=frozenset(t.strip().lower() for t in settings.appeal_attachment_types),
    )


@router.get("/portal/{token}")
async def portal_page(request: Request, token: str = PortalToken) -> Response:
    """Show what the link opens, or the one refusal page."""
    limited = _over_budget(request)
    if limited is not None:
        return limited
    done = request.query_params.get("done", "")
    return await run_in_threadpool(lambda: _show(request, token, notice=DONE.get(done)))


@router.post("/portal/{token}/reply")
async def portal_reply(request: Request, token: str = PortalToken) -> Response:
    """Store the customer's reply on the case and show the page again."""
    context = container_of(request).notices

    async def read(form: FormData) -> str:
        return text_field(form, "body")

    body = await _read_post(
        request,
        context,
        token,
        read,
        limit=MAX_REPLY_CHARS * 4 + FORM_OVERHEAD_BYTES,
        max_files=0,
        max_fields=10,
    )
    if isinstance(body, Response):
        return body
    if len(body) > MAX_REPLY_CHARS:
        return await run_in_threadpool(
            lambda: _show(
                request,
                token,
                problems=[f"A reply may be up to {MAX_REPLY_CHARS:,} characters long."],
                typed={"body": body[:MAX_REPLY_CHARS]},
                status_code=400,
            )
        )

    def store() -> Response:
        container = container_of(request)
        now = utcnow()
        try:
            with unit_of_work(container.sessions) as session:
                # Only the link's own refusal is answered with the refusal page.
                try:
                    view = notices.open_portal(session, token, context, now)
                except LinkRefused:
                    return _refused(request)
                notices.record_reply(
                    session,
                    case_id=view.case_id,
                    body=body,
                    channel=notices.Channel.PORTAL,
                    subject=f"Re: {view.message.subject}"[:250],
                    now=now,
                )
        except AbuseDeskError as problem:
            return _show(
                request, token, problems=[str(problem)], typed={"body": body}, status_code=400
            )
        log.info("portal_reply_stored", case_id=view.case_id)
        return RedirectResponse(f"/portal/{token}?done=replied", status_code=303)

    return await run_in_threadpool(store)


@router.post("/portal/{token}/appeal")
async def portal_appeal(request: Request, token: str = PortalToken) -> Response:
    """Store the customer's appeal of the notice's action and show the page again."""
    context = container_of(request).notices
    limits = attachment_limits(context)

    async def read(form: FormData) -> tuple[dict[str, str], list[Upload]]:
        typed = {name: text_field(form, name) for name in ("root_cause", "fix", "prevention")}
        return typed, await _uploads(form, limits.max_bytes)

    posted = await _read_post(
        request,
        context,
        token,
        read,
        limit=(limits.max_count + 1) * limits.max_bytes + FORM_OVERHEAD_BYTES,
        max_files=limits.max_count + EXTRA_FILE_PARTS,
        max_fields=20,
    )
    if isinstance(posted, Response):
        return posted
    typed, uploads = posted

    def store() -> Response:
        container = container_of(request)
        now = utcnow()
        try:
            with unit_of_work(container.sessions) as session:
                # Only the link's own refusal is answered with the refusal page.
                try:
                    view = notices.open_portal(session, token, context, now)
                except LinkRefused:
                    return _refused(request)
                filed = appeals.submit_appeal(
                    session,
                    _action_of(view),
                    message_id=view.message.id,
                    uploads=uploads,
                    limits=limits,
                    notices=context,
                    now=now,
                    **typed,
                )
        except InvalidAppeal as problem:
            return _show(
                request, token, problems=list(problem.problems), typed=typed, status_code=400
            )
        except appeals.AppealRefused as problem:
            return _show(request, token, problems=[str(problem)], typed=typed, status_code=409)
        log.info("portal_appeal_stored", appeal_id=filed.id, attachments=len(filed.attachments))
        return RedirectResponse(f"/portal/{token}?done=appealed", status_code=303)

    return await run_in_threadpool(store)


def _action_of(view: notices.PortalView) -> int:
    """Return the id of the action the notice is about, or refuse the appeal."""
    if view.action is None:
        raise appeals.AppealRefused(
            "this message is not about an action that can be appealed; reply to it instead"
        )
    return view.action.id


def _show(
    request: Request,
    token: str,
    *,
    notice: str | None = None,
    problems: list[str] | None = None,
    typed: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """Render the portal page for *token*, or the refusal page."""
    context = container_of(request).notices
    container = container_of(request)
    now = utcnow()
    if len(token) > MAX_TOKEN:
        return _refused(request)
    try:
        with read_only(container.sessions) as session:
            view = notices.open_portal(session, token, context, now)
            appeal = None
            refusal = None
            if view.action is not None:
                appeal = appeals.appeal_of_action(session, view.action.id)
                refusal = appeals.appealable(session, view.action.id)
    except LinkRefused:
        return _refused(request)
    limits = attachment_limits(context)
    page: dict[str, Any] = {
        "view": view,
        "token": token,
        "form_token": form_token(_key(context), token, time.time()),
        "form_field": FORM_FIELD,
        "appeal": appeal,
        "may_appeal": view.action is not None and refusal is None,
        "appeal_refusal": refusal,
        "limits": limits,
        "max_kb": limits.max_bytes // 1024,
        "notice": notice,
        "problems": problems or [],
        "typed": typed or {},
        "max_reply": MAX_REPLY_CHARS,
        "max_text": appeals.MAX_TEXT,
    }
    return _private(render(request, "portal/page.html", page, status_code=status_code))


def _refused(request: Request) -> Response:
    log.info("portal_link_refused")
    return _private(render(request, "portal/refused.html", {"detail": REFUSED}, status_code=403))


async def _read_post(
    request: Request,
    context: NoticeContext,
    token: str,
    read: Callable[[FormData], Awaitable[T]],
    *,
    limit: int,
    max_files: int,
    max_fields: int,
) -> T | Response:
    """Return what *read* takes from a post of at most *limit* bytes, or the refusal to send.

    A client over its request budget is refused first; then a post that is too large,
    from another site, or without a fresh form token.
    """
    limited = _over_budget(request)
    if limited is not None:
        return limited
    if declared_length(request) > limit:
        return _too_large(request, context)
    try:
        async with bounded(request, limit).form(
            max_files=max_files, max_fields=max_fields, max_part_size=limit
        ) as form:
            refused = await _refuse_post(request, context, token, form)
            if refused is not None:
                return refused
            return await read(form)
    except BodyTooLarge:
        return _too_large(request, context)


async def _refuse_post(
    request: Request, context: NoticeContext, token: str, form: FormData
) -> Response | None:
    """Return the answer to a post from another site or without a fresh form token."""
    if not same_origin(request):
        return _private(
            error_response(
                request,
                403,
                "csrf_refused",
                "This form was sent from another site, so nothing was done. Open the link"
                " from our message and send the form again.",
            )
        )
    if form_token_is_fresh(_key(context), token, text_field(form, FORM_FIELD), now=time.time()):
        return None
    typed = {k: text_field(form, k) for k in ("body", "root_cause", "fix", "prevention")}
    return await run_in_threadpool(
        lambda: _show(
            request,
            token,
            problems=[
                "This form was open too long or did not come from this page, so nothing was"
                " sent. Please check what you wrote and send it again."
            ],
            typed=typed,
            status_code=400,
        )
    )


def _over_budget(request: Request) -> Response | None:
    state: PortalState | None = getattr(request.app.state, "portal", None)
    if state is None:
        state = PortalState(PeerRateLimiter(per_second=PER_SECOND, burst=BURST))
        request.app.state.portal = state
    if state.limiter.allow(peer(request)):
        return None
    log.warning("portal_rate_limited")
    return error_response(
        request,
        429,
        "too_many_requests",
        "You have opened or sent portal pages many times in a short while. Please wait a"
        " minute, then try again.",
        headers={"Retry-After": str(math.ceil(1 / state.limiter.per_second))},
    )


def _too_large(request: Request, context: NoticeContext) -> Response:
    settings = context.settings
    return _private(
        error_response(
            request,
            413,
            "too_large",
            f"What you sent is too large. Attach at most {settings.appeal_max_attachments}"
            f" files of up to {settings.appeal_max_attachment_bytes // 1024:,} KB each.",
        )
    )


async def _uploads(form: FormData, max_bytes: int) -> list[Upload]:
    found = []
    for value in form.getlist("attachments"):
        if not isinstance(value, UploadFile):
            continue
        # One byte more than allowed tells a too-large file without reading all of it.
        data = await value.read(max_bytes + 1)
        found.append(Upload(value.filename or "", value.content_type or "", data))
    return found


def _private(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


def _key(context: NoticeContext) -> bytes:
    keyring = context.keyring
    return keyring.key(keyring.current)
