"""``GET/POST /report``: the public report form for people who are not feedback-loop operators.

The form only ever creates a report; it changes nothing a visitor owns, so cross-site
request forgery gains an attacker nothing and the form carries no session or CSRF cookie.
Each rendered form does carry a token: an HMAC of the time it was rendered, under a key
made when the app first serves the form (or the configured secret). A post without a valid
token, or with one older than the configured age, is refused. That does not stop a
determined script, which can fetch a fresh form first, but it refuses blind posts and
replays of a captured request, and makes each automated post cost a page load that the
per-address rate limit also counts. A honeypot field, hidden from people by CSS, catches
the bots that fill every field: they get the usual thanks page and nothing is stored.

Whatever a reporter sends becomes one RFC 5322 message, stored by the intake like a report
mailed to ``abuse@``; the free-form parser reads it later.
"""

import math
import re
import secrets
import time
from dataclasses import dataclass
from email import errors as email_errors
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from typing import Any

import structlog
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import Response

from abusedesk.bootstrap import Container
from abusedesk.config import FormSettings
from abusedesk.core.clock import utcnow

# The token bucket the SMTP intake uses per peer; it knows nothing of SMTP.
from abusedesk.core.ratelimit import PeerRateLimiter
from abusedesk.intake.service import Incoming
from abusedesk.web import container_of
from abusedesk.web.errors import error_response
from abusedesk.web.public_forms import (
    BodyTooLarge,
    bounded,
    declared_length,
    form_token,
    form_token_is_fresh,
    peer,
    text_field,
)
from abusedesk.web.ui.rendering import render

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

CHANNEL = "webform"
NO_REPORTER = "webform@invalid"
HONEYPOT_FIELD = "website"
CATEGORIES = {
    "spam": "Spam email",
    "phishing": "Phishing (a message pretending to be someone else, asking for passwords)",
    "sms_spam": "SMS spam (unwanted text messages)",
    "other": "Something else",
}
# Room for the multipart boundaries, part headers and the small fields of one post.
FORM_OVERHEAD_BYTES = 64 * 1024
MAX_FIELD_CHARS = 500
MAX_FILENAME_CHARS = 100
_PURPOSE = "report-form"
_EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# The attached message is kept as it was sent: headers never refolded, lines never cut.
_VERBATIM = policy.SMTP.clone(refold_source="none", max_line_length=0)
_MESSAGE_HEADERS = ("from", "subject", "date", "message-id", "received", "return-path")


@dataclass
class FormState:
    """What the form keeps for the life of one app: its signing key, rate limiter, counts."""

    settings: FormSettings
    key: bytes
    limiter: PeerRateLimiter
    discarded: int = 0


@dataclass(frozen=True)
class FormInput:
    """The fields of one post as typed, before they are checked."""

    category: str
    reporter: str
    sender: str
    text: str

    def as_context(self) -> dict[str, str]:
        """Return the fields for a template that shows them back (escaped there)."""
        return {
            "category": self.category,
            "reporter": self.reporter,
            "sender": self.sender,
            "text": self.text,
        }


@dataclass(frozen=True)
class Attachment:
    """The file a reporter attached: its bytes and a harmless file name."""

    data: bytes
    filename: str


def issue_token(key: bytes, now: float) -> str:
    """Return a form token for the time *now* (seconds since the epoch)."""
    return form_token(key, _PURPOSE, now)


def token_is_fresh(token: str, key: bytes, *, now: float, max_age_seconds: int) -> bool:
    """Tell whether *token* was signed with *key* no longer than *max_age_seconds* ago."""
    return form_token_is_fresh(key, _PURPOSE, token, now=now, max_age_seconds=max_age_seconds)


def build_report_message(fields: FormInput, attachment: Attachment | None) -> bytes:
    """Return one RFC 5322 message carrying what the reporter sent."""
    message = EmailMessage(policy=policy.SMTP)
    reporter = fields.reporter
    # An address only readable as SMTPUTF8 stays in the text; the header takes a placeholder.
    message["From"] = reporter if reporter and reporter.isascii() else NO_REPORTER
    message["Subject"] = f"[web form] {fields.category}"
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain="webform.invalid")
    message.set_content(_summary(fields, attachment))
    if attachment is not None:
        attached = _as_email(attachment.data)
        if attached is not None:
            message.add_attachment(attached, filename=attachment.filename)
        else:
            message.add_attachment(
                attachment.data,
                maintype="application",
                subtype="octet-stream",
                filename=attachment.filename,
            )
    return message.as_bytes(policy=_VERBATIM)


@router.get("/report")
async def report_form(request: Request) -> Response:
    """Show the empty report form with a fresh token."""
    state = _state(request)
    return _form_page(request, state, FormInput("spam", "", "", ""), errors=[])


@router.post("/report")
async def submit_report(request: Request) -> Response:
    """Check a post, store it as one report, and thank the reporter with its reference."""
    state = _state(request)
    settings = state.settings
    if not state.limiter.allow(peer(request)):
        log.warning("report_form_rate_limited")
        return error_response(
            request,
            429,
            "too_many_requests",
            "You have sent several reports in a short time. "
            "Please wait a few minutes, then send yours again.",
            headers={"Retry-After": str(math.ceil(1 / settings.per_second))},
        )
    limit = settings.max_message_bytes + settings.max_attachment_bytes + FORM_OVERHEAD_BYTES
    if declared_length(request) > limit:
        return _too_large(request, settings)
    try:
        async with bounded(request, limit).form(
            max_files=1, max_fields=10, max_part_size=limit
        ) as form:
            return await _handle(request, state, form)
    except BodyTooLarge:
        return _too_large(request, settings)


async def _handle(request: Request, state: FormState, form: FormData) -> Response:
    settings = state.settings
    if text_field(form, HONEYPOT_FIELD):
        state.discarded += 1
        log.info("report_form_honeypot_discarded", discarded=state.discarded)
        return render(request, "report_form_thanks.html", {"reference": None})
    fields = FormInput(
        category=text_field(form, "category"),
        reporter=text_field(form, "reporter").strip(),
        sender=" ".join(text_field(form, "sender").split()),
        text=text_field(form, "text"),
    )
    token_ok = token_is_fresh(
        text_field(form, "token"),
        state.key,
        now=time.time(),
        max_age_seconds=settings.token_max_age_seconds,
    )
    if not token_ok:
        log.info("report_form_token_refused")
        return _form_page(
            request,
            state,
            fields,
            errors=[
                "This form was open too long or did not come from our page. "
                "Please check your details and send it again."
            ],
            status_code=400,
        )
    try:
        attachment = await _attachment(form, settings.max_attachment_bytes)
    except BodyTooLarge:
        return _too_large(request, settings)
    typed = sum(
        len(value.encode("utf-8", "surrogatepass"))
        for value in (fields.reporter, fields.sender, fields.text)
    )
    if typed > settings.max_message_bytes:
        return _too_large(request, settings)
    errors = _problems(fields, attachment)
    if errors:
        return _form_page(request, state, fields, errors=errors, status_code=400)
    raw = build_report_message(fields, attachment)
    container: Container = container_of(request)
    incoming = Incoming(
        raw=raw, channel=CHANNEL, envelope={"peer": peer(request), "category": fields.category}
    )
    # The commit blocks; a worker thread keeps the event loop serving other requests.
    stored = await run_in_threadpool(container.intake.accept, incoming)
    log.info(
        "report_form_received",
        report_id=stored.report_id,
        created=stored.created,
        size=len(raw),
        attached=attachment is not None,
    )
    return render(
        request,
        "report_form_thanks.html",
        {
            "reference": stored.report_id,
            "category_label": CATEGORIES[fields.category],
            "fields": fields.as_context(),
        },
    )


def _state(request: Request) -> FormState:
    """Return the app's form state, made on first use; 404 when the form is switched off."""
    state: FormState | None = getattr(request.app.state, "report_form", None)
    if state is None:
        # Both handlers run on the event loop, so no other request can interleave here.
        settings = container_of(request).settings.form
        secret = settings.token_secret
        state = FormState(
            settings=settings,
            key=secret.get_secret_value().encode() if secret else secrets.token_bytes(32),
            limiter=PeerRateLimiter(per_second=settings.per_second, burst=settings.burst),
        )
        request.app.state.report_form = state
    if not state.settings.enabled:
        raise HTTPException(status_code=404)
    return state


def _form_page(
    request: Request,
    state: FormState,
    fields: FormInput,
    *,
    errors: list[str],
    status_code: int = 200,
) -> Response:
    settings = state.settings
    context: dict[str, Any] = {
        "token": issue_token(state.key, time.time()),
        "categories": CATEGORIES,
        "values": fields.as_context(),
        "errors": errors,
        "honeypot": HONEYPOT_FIELD,
        "max_message_kb": settings.max_message_bytes // 1024,
        "max_attachment_kb": settings.max_attachment_bytes // 1024,
        "attachments_allowed": settings.max_attachment_bytes > 0,
    }
    response = render(request, "report_form.html", context, status_code=status_code)
    # Every rendering carries its own token; a cached copy would go stale.
    response.headers["Cache-Control"] = "no-store"
    return response


def _too_large(request: Request, settings: FormSettings) -> Response:
    log.info("report_form_too_large")
    return error_response(
        request,
        413,
        "too_large",
        f"Your report is too large. The message may be up to {settings.max_message_bytes // 1024:,}"
        f" KB and the attached file up to {settings.max_attachment_bytes // 1024:,} KB.",
    )


def _problems(fields: FormInput, attachment: Attachment | None) -> list[str]:
    problems = []
    if fields.category not in CATEGORIES:
        problems.append("Choose what happened from the list.")
    if fields.reporter and not _valid_address(fields.reporter):
        problems.append("Your email address does not look like name@example.net.")
    if len(fields.sender) > MAX_FIELD_CHARS:
        problems.append(f"The sender may be up to {MAX_FIELD_CHARS} characters long.")
    if not fields.text.strip() and attachment is None:
        problems.append("Paste the message or its headers, or attach the message you received.")
    return problems


def _valid_address(value: str) -> bool:
    if len(value) > 254 or not _EMAIL_SHAPE.fullmatch(value):
        return False
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, email_errors.MessageError):
        return False
    return bool(address.username and address.domain)


def _summary(fields: FormInput, attachment: Attachment | None) -> str:
    lines = [
        "Report sent through the public web form.",
        "",
        f"Category: {fields.category}",
        f"Reporter: {fields.reporter or '(not given)'}",
        f"Complained-about sender: {fields.sender or '(not given)'}",
        f"Attachment: {attachment.filename if attachment else '(none)'}",
        "",
        "Pasted message or headers:",
        "",
        fields.text.replace("\r\n", "\n") if fields.text.strip() else "(none)",
    ]
    return "\n".join(lines) + "\n"


def _as_email(data: bytes) -> EmailMessage | None:
    """Return *data* read as an email when it looks like one, else None."""
    parsed = BytesParser(policy=_VERBATIM).parsebytes(data)
    if any(isinstance(d, email_errors.MissingHeaderBodySeparatorDefect) for d in parsed.defects):
        return None
    names = {name.lower() for name in parsed}
    if not names.intersection(_MESSAGE_HEADERS):
        return None
    return parsed if isinstance(parsed, EmailMessage) else None


async def _attachment(form: FormData, max_bytes: int) -> Attachment | None:
    upload = form.get("attachment")
    if not isinstance(upload, UploadFile):
        return None
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise BodyTooLarge
    if not data:
        # Browsers send an empty file part when nothing was chosen.
        return None
    return Attachment(data=data, filename=_safe_filename(upload.filename))


def _safe_filename(name: str | None) -> str:
    # Only the last path segment, printable, short: the name is the reporter's to choose.
    base = re.split(r"[\\/]", name or "")[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in "\"'")
    return cleaned.strip()[:MAX_FILENAME_CHARS] or "attachment"
