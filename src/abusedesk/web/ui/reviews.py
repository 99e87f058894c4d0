"""Incident and problem reviews in the workbench: the list, one review, its exports.

``/reviews`` lists reviews (the unclosed ones by default) with their open and overdue
follow-up items, every open follow-up item by due time, and a form to open a review of
a period. ``/reviews/open`` opens one from a spike signal, a case (buttons on the
monitoring, account and case pages) or a period. ``/reviews/{id}`` shows the timeline
assembled from events, signals, actions, notes, case history and customer messages, the
template (impact, root cause, what went well and badly), the follow-up items, and the
review's scope; ``/reviews/{id}.md`` and ``.pdf`` export it. Reading needs
``insight.view``; opening and changing need ``insight.write``. Every change is posted
with the session's CSRF token and answered by a redirect; a refused one shows the page
again with the reason.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import INSIGHT_VIEW, INSIGHT_WRITE
from abusedesk.config import ReviewSettings
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.documents.markdown import to_markdown
from abusedesk.documents.pdf import to_pdf
from abusedesk.insights import reviews as model
from abusedesk.insights.document import Document
from abusedesk.storage import incident_reviews as store
from abusedesk.storage.db import read_only
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.ui.charts import Series, line_chart
from abusedesk.web.ui.rendering import private_page
from abusedesk.web.ui.steps import run_step

router = APIRouter(include_in_schema=False)

MAX_ID: Final = 2**63 - 1
ReviewId = Path(ge=1, le=MAX_ID)
LISTS: Final = ("open", "closed", "all")
# Forms accept a little more than the rules allow, so that the rules say what is wrong.
FORM_TEXT: Final = model.MAX_TEXT * 2
FORM_SHORT: Final = model.MAX_FOLLOW_UP * 2
DONE: Final = {
    "opened": "The review is open. Its timeline is read afresh each time you look.",
    "existing": "A review of this is already open; here it is.",
    "saved": "Saved.",
    "scoped": "The review's window and accounts are changed.",
    "closed": "The review is closed. Its follow-up items stay tracked until done.",
    "reopened": "The review is open again.",
    "added": "The follow-up item is added.",
    "finished": "The follow-up item is closed.",
}


def _rules(settings: ReviewSettings) -> model.WindowRules:
    return model.WindowRules(
        settings.lead_hours,
        settings.follow_hours,
        settings.max_days,
        settings.every_account_max_hours,
    )


@router.get("/reviews")
def reviews_page(
    request: Request,
    *,
    state: str = Query("open", max_length=20),
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """List the reviews with their follow-ups, and every open follow-up item by due time."""
    if state not in LISTS:
        raise NotFound(f"no list of {state[:20]!r} reviews; choose {', '.join(LISTS)}")
    return show_list(request, principal, state=state)


def show_list(
    request: Request,
    principal: Principal,
    *,
    state: str = "open",
    problem: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """Render the list of reviews, with *problem* above it and the period form refilled."""
    container = container_of(request)
    now = utcnow()
    with read_only(container.sessions) as session:
        listed = store.list_reviews(session, now=now)
        items = store.open_follow_ups(session)
    if state == "open":
        listed = [entry for entry in listed if not entry.review.is_closed]
    elif state == "closed":
        listed = [entry for entry in listed if entry.review.is_closed]
    context: dict[str, Any] = {
        "reviews": listed,
        "state": state,
        "lists": LISTS,
        "follow_ups": items,
        "overdue": sum(1 for entry in items if entry.item.overdue(now)),
        "now": now,
        "may_write": principal.user.may(INSIGHT_WRITE),
        "problem": problem,
        "form": form or {},
    }
    return private_page(request, "workbench/reviews.html", context, status_code=status_code)


@router.post("/reviews/open")
async def open_review(
    request: Request,
    *,
    origin: str = Form(max_length=20),
    origin_id: int | None = Form(None, ge=1, le=MAX_ID),
    title: str = Form("", max_length=model.MAX_TITLE * 2),
    starts: str = Form("", max_length=40),
    ends: str = Form("", max_length=40),
    accounts: str = Form("", max_length=4000),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Open a review from a spike signal, a case or a period, then show it."""
    container = container_of(request)
    rules = _rules(container.settings.reviews)
    actor = principal.user.username

    def step(session: Session) -> tuple[int, bool]:
        now = utcnow()
        if origin == model.PERIOD:
            review_id = store.open_for_period(
                session,
                title=title,
                starts_at=model.parse_time(starts, what="start of the window"),
                ends_at=model.parse_time(ends, what="end of the window"),
                accounts=model.parse_accounts(accounts),
                rules=rules,
                actor=actor,
                now=now,
            )
            return review_id, True
        if origin not in (model.SPIKE, model.CASE):
            raise model.ReviewInvalid("A review opens from a spike, a case or a period.")
        if origin_id is None:
            raise model.ReviewInvalid(f"Say which {origin} the review is about.")
        opener = store.open_from_signal if origin == model.SPIKE else store.open_from_case
        return opener(session, origin_id, rules=rules, actor=actor, now=now, title=title)

    outcome = await run_step(container.sessions, step)
    if isinstance(outcome, AbuseDeskError):
        form = {"title": title, "starts": starts, "ends": ends, "accounts": accounts}
        return await run_in_threadpool(
            lambda: show_list(
                request,
                principal,
                problem=str(outcome),
                form=form if origin == model.PERIOD else None,
                status_code=_status(outcome),
            )
        )
    review_id, created = outcome
    done = "opened" if created else "existing"
    return RedirectResponse(f"/reviews/{review_id}?done={done}", status_code=303)


@router.get("/reviews/{review_id}.md")
def review_markdown(
    request: Request,
    *,
    review_id: int = ReviewId,
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Download the review as Markdown."""
    text = to_markdown(_document(request, review_id))
    return Response(
        content=text.encode("utf-8"),
        media_type="text/markdown; charset=utf-8",
        headers=_download(f"review-{review_id}.md"),
    )


@router.get("/reviews/{review_id}.pdf")
def review_pdf(
    request: Request,
    *,
    review_id: int = ReviewId,
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Download the review as PDF."""
    data = to_pdf(_document(request, review_id))
    return Response(
        content=data, media_type="application/pdf", headers=_download(f"review-{review_id}.pdf")
    )


def review_document(session: Session, review_id: int, *, limit: int, now: datetime) -> Document:
    """Return the review *review_id* as a document, its timeline read afresh."""
    subject = store.review(session, review_id)
    assembled = store.timeline(session, subject, limit=limit)
    return model.review_document(
        subject,
        assembled.entries,
        store.follow_ups(session, review_id),
        hourly_events=assembled.hourly_events,
        truncated=assembled.truncated,
        limit=limit,
        generated_at=now,
    )


def _document(request: Request, review_id: int) -> Document:
    container = container_of(request)
    limit = container.settings.reviews.timeline_limit
    with read_only(container.sessions) as session:
        return review_document(session, review_id, limit=limit, now=utcnow())


def _download(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


@router.get("/reviews/{review_id}")
def review_page(
    request: Request,
    *,
    review_id: int = ReviewId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(INSIGHT_VIEW)),
) -> Response:
    """Show one review: scope, template, follow-up items and the timeline."""
    return show_review(request, principal, review_id, notice=DONE.get(done or ""))


def show_review(
    request: Request,
    principal: Principal,
    review_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    """Render the review page, with *notice* or *problem* above it and *form* refilled."""
    container = container_of(request)
    limit = container.settings.reviews.timeline_limit
    now = utcnow()
    with read_only(container.sessions) as session:
        subject = store.review(session, review_id)
        assembled = store.timeline(session, subject, limit=limit)
        items = store.follow_ups(session, review_id)
    context: dict[str, Any] = {
        "review": subject,
        "timeline": assembled.entries,
        "truncated": assembled.truncated,
        "limit": limit,
        "chart": (
            line_chart(
                [Series("events", assembled.hourly_events)],
                title="Events per hour",
            )
            if len(assembled.hourly_events) >= 2
            else None
        ),
        "follow_ups": items,
        "template": model.TEMPLATE,
        "now": now,
        "may_write": principal.user.may(INSIGHT_WRITE),
        "notice": notice,
        "problem": problem,
        "form": form or {},
    }
    return private_page(request, "workbench/review.html", context, status_code=status_code)


async def _change(
    request: Request,
    principal: Principal,
    review_id: int,
    change: Callable[[Session], object],
    *,
    done: str,
    form: dict[str, str] | None = None,
) -> Response:
    """Run *change* in one transaction; redirect on success, else show the page refused."""
    outcome = await run_step(container_of(request).sessions, change, raised=(NotFound,))
    if isinstance(outcome, AbuseDeskError):
        return await run_in_threadpool(
            lambda: show_review(
                request,
                principal,
                review_id,
                problem=str(outcome),
                status_code=_status(outcome),
                form=form,
            )
        )
    return RedirectResponse(f"/reviews/{review_id}?done={done}", status_code=303)


@router.post("/reviews/{review_id}/template")
async def save_template(
    request: Request,
    *,
    review_id: int = ReviewId,
    impact: str = Form("", max_length=FORM_TEXT),
    root_cause: str = Form("", max_length=FORM_TEXT),
    went_well: str = Form("", max_length=FORM_TEXT),
    went_badly: str = Form("", max_length=FORM_TEXT),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Keep the template's four texts."""
    texts = {
        "impact": impact,
        "root_cause": root_cause,
        "went_well": went_well,
        "went_badly": went_badly,
    }

    def step(session: Session) -> None:
        store.save_template(session, review_id, texts, actor=principal.user.username, now=utcnow())

    return await _change(request, principal, review_id, step, done="saved", form=texts)


@router.post("/reviews/{review_id}/scope")
async def change_scope(
    request: Request,
    *,
    review_id: int = ReviewId,
    title: str = Form(max_length=model.MAX_TITLE * 2),
    starts: str = Form(max_length=40),
    ends: str = Form(max_length=40),
    accounts: str = Form("", max_length=4000),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Change the review's title, window and accounts."""
    rules = _rules(container_of(request).settings.reviews)

    def step(session: Session) -> None:
        store.change_scope(
            session,
            review_id,
            title=title,
            starts_at=model.parse_time(starts, what="start of the window"),
            ends_at=model.parse_time(ends, what="end of the window"),
            accounts=model.parse_accounts(accounts),
            rules=rules,
            actor=principal.user.username,
            now=utcnow(),
        )

    form = {"title": title, "starts": starts, "ends": ends, "accounts": accounts}
    return await _change(request, principal, review_id, step, done="scoped", form=form)


@router.post("/reviews/{review_id}/close")
async def close_review(
    request: Request,
    *,
    review_id: int = ReviewId,
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Close the review."""

    def step(session: Session) -> None:
        store.close_review(session, review_id, actor=principal.user.username, now=utcnow())

    return await _change(request, principal, review_id, step, done="closed")


@router.post("/reviews/{review_id}/reopen")
async def reopen_review(
    request: Request,
    *,
    review_id: int = ReviewId,
    reason: str = Form("", max_length=FORM_SHORT),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Reopen a closed review, saying why."""

    def step(session: Session) -> None:
        store.reopen_review(
            session, review_id, reason=reason, actor=principal.user.username, now=utcnow()
        )

    return await _change(request, principal, review_id, step, done="reopened")


@router.post("/reviews/{review_id}/follow-ups")
async def add_follow_up(
    request: Request,
    *,
    review_id: int = ReviewId,
    title: str = Form("", max_length=FORM_SHORT),
    owner: str = Form("", max_length=200),
    due: str = Form("", max_length=40),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Add a follow-up item with an owner and, optionally, a due time."""

    def step(session: Session) -> int:
        due_at = model.parse_time(due, what="due time") if due.strip() else None
        return store.add_follow_up(
            session,
            review_id,
            title=title,
            owner=owner,
            due_at=due_at,
            actor=principal.user.username,
            now=utcnow(),
        )

    form = {"item_title": title, "item_owner": owner, "item_due": due}
    return await _change(request, principal, review_id, step, done="added", form=form)


@router.post("/reviews/{review_id}/follow-ups/{follow_up_id}")
async def finish_follow_up(
    request: Request,
    *,
    review_id: int = ReviewId,
    follow_up_id: int = Path(ge=1, le=MAX_ID),
    state: str = Form(max_length=20),
    outcome: str = Form("", max_length=FORM_SHORT),
    principal: Principal = Depends(require_permission(INSIGHT_WRITE)),
) -> Response:
    """Mark a follow-up item done or dropped, with its outcome."""

    def step(session: Session) -> None:
        store.finish_follow_up(
            session,
            review_id,
            follow_up_id,
            state=state,
            outcome=outcome,
            actor=principal.user.username,
            now=utcnow(),
        )

    return await _change(request, principal, review_id, step, done="finished")


def _status(problem: AbuseDeskError) -> int:
    """Return the status a refused change is answered with."""
    if isinstance(problem, NotFound):
        return 404
    if isinstance(problem, model.ReviewClosed | model.FollowUpClosed):
        return 409
    return 422
