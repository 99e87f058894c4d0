"""The unattributed inbox in the browser: waiting events, one event in full, and decisions.

The list shows what waits, counted by category and by the method of its best guess, with
filters and keyset paging (``after_id``). An event's page shows its indicators,
candidates, conflicts and suggestion, and carries the forms to attribute it by hand, to
dismiss it, or to restore a dismissed one. Each decision is a form posted with the
session's CSRF token; the storage functions audit it, and the page comes back (post,
redirect, get). A refused decision shows the event again with the reason.
"""

from collections.abc import Callable, Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from abusedesk.access.model import EVENT_ATTRIBUTE, EVENT_VIEW
from abusedesk.attribution.keys import ResourceKind
from abusedesk.attribution.model import AttributionState
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import unattributed as inbox
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.web import container_of
from abusedesk.web.auth import Principal, require_permission
from abusedesk.web.errors import http_error_for
from abusedesk.web.ui.rendering import private_page

router = APIRouter(include_in_schema=False)

MAX_ID = 2**63 - 1
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
EventId = Path(ge=1, le=MAX_ID)
DONE = {
    "attributed": "The event is attributed and joins the account's case.",
    "dismissed": "The event is dismissed: it left the inbox.",
    "restored": "The event waits in the inbox again.",
}


@router.get("/unattributed")
def inbox_page(
    request: Request,
    *,
    category: str = Query("", max_length=40),
    service: str = Query("", max_length=20),
    report_format: str = Query("", max_length=40),
    reporter: str = Query("", max_length=255),
    after_id: int = Query(0, ge=0, le=MAX_ID),
    limit: int = Query(PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),
    principal: Principal = Depends(require_permission(EVENT_VIEW)),
) -> Response:
    """Show the waiting events, oldest first, a page at a time, with counts and filters."""
    del principal
    chosen = {
        "category": category.strip(),
        "service": service.strip(),
        "report_format": report_format.strip(),
        "reporter": reporter.strip(),
        "limit": str(limit) if limit != PAGE_SIZE else "",
    }
    filters = inbox.InboxFilter(
        category=chosen["category"] or None,
        service=chosen["service"] or None,
        report_format=chosen["report_format"] or None,
        reporter=chosen["reporter"] or None,
    )
    container = container_of(request)
    with read_only(container.sessions) as session:
        counts = inbox.inbox_counts(session)
        events = inbox.list_waiting(session, filters, after_id=after_id, limit=limit)
    next_url = (
        _url("/unattributed", {**chosen, "after_id": str(events[-1].event_id)})
        if len(events) == limit
        else None
    )
    return private_page(
        request,
        "workbench/inbox.html",
        {
            "counts": counts,
            "total": sum(count.events for count in counts),
            "categories": sorted({count.category for count in counts}),
            "events": events,
            "filters": chosen,
            "filtered": any(value for name, value in chosen.items() if name != "limit"),
            "paged": after_id > 0,
            "first_url": _url("/unattributed", chosen),
            "next_url": next_url,
        },
    )


@router.get("/unattributed/{event_id}")
def event_page(
    request: Request,
    event_id: int = EventId,
    done: str | None = None,
    principal: Principal = Depends(require_permission(EVENT_VIEW)),
) -> Response:
    """Show one event with its indicators, candidates, conflicts and suggestion."""
    return _show(request, principal, event_id, notice=DONE.get(done or ""))


def _show(
    request: Request,
    principal: Principal,
    event_id: int,
    *,
    notice: str | None = None,
    problem: str | None = None,
    typed: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    container = container_of(request)
    with read_only(container.sessions) as session:
        detail = inbox.event_detail(session, event_id)
    suggestion = detail.suggested
    prefill = {"account": "", "resource_kind": "", "resource_value": "", "reason": ""}
    if suggestion is not None and suggestion.account is not None:
        prefill["account"] = suggestion.account.external_id
        if suggestion.resource is not None:
            prefill["resource_kind"] = suggestion.resource.kind
            prefill["resource_value"] = suggestion.resource.value
    # After a refusal the form keeps what the analyst typed, not the suggestion.
    prefill.update(typed or {})
    return private_page(
        request,
        "workbench/inbox_event.html",
        {
            "event": detail,
            "indicators": sorted(detail.indicators.items()),
            "waiting": detail.state == AttributionState.UNATTRIBUTED,
            "attributed": detail.state == AttributionState.ATTRIBUTED,
            "dismissed": detail.state == AttributionState.DISMISSED,
            "may_decide": principal.user.may(EVENT_ATTRIBUTE),
            "resource_kinds": ResourceKind.ALL,
            "prefill": prefill,
            "notice": notice,
            "problem": problem,
        },
        status_code=status_code,
    )


async def _decide(
    request: Request,
    principal: Principal,
    event_id: int,
    decision: Callable[[Session], inbox.Decision],
    done: str,
    *,
    typed: Mapping[str, str] | None = None,
) -> Response:
    """Run *decision* in one transaction, fold what it attributed, and show the outcome."""
    container = container_of(request)

    def run() -> inbox.Decision | AbuseDeskError:
        try:
            with unit_of_work(container.sessions) as session:
                return decision(session)
        except NotFound:
            raise
        except AbuseDeskError as problem:
            return problem

    outcome = await run_in_threadpool(run)
    if isinstance(outcome, inbox.Decision):
        if outcome.accounts:
            # As the JSON API does: fold at once; the sweeper catches up if this fails.
            await run_in_threadpool(container.processor.aggregate_accounts, outcome.accounts)
        return RedirectResponse(f"/unattributed/{event_id}?done={done}", status_code=303)
    mapped = http_error_for(outcome)
    return await run_in_threadpool(
        lambda: _show(
            request,
            principal,
            event_id,
            problem=str(outcome),
            typed=typed,
            status_code=mapped.status if mapped is not None else 409,
        )
    )


@router.post("/unattributed/{event_id}/attribute")
async def attribute_event(
    request: Request,
    *,
    event_id: int = EventId,
    account: str = Form("", max_length=64),
    resource_kind: str = Form("", max_length=40),
    resource_value: str = Form("", max_length=320),
    reason: str = Form("", max_length=inbox.MAX_REASON_LENGTH),
    force: bool = Form(False),
    principal: Principal = Depends(require_permission(EVENT_ATTRIBUTE)),
) -> Response:
    """Attribute the event by hand to an account (and one of its resources), with a reason."""
    kind, value = resource_kind.strip(), resource_value.strip()
    resource = (kind, value) if kind or value else None

    def decision(session: Session) -> inbox.Decision:
        return inbox.attribute(
            session,
            [event_id],
            account=account,
            resource=resource,
            reason=reason,
            actor=principal.user.username,
            now=utcnow(),
            force=force,
        )

    typed = {
        "account": account,
        "resource_kind": kind,
        "resource_value": value,
        "reason": reason,
    }
    return await _decide(request, principal, event_id, decision, "attributed", typed=typed)


@router.post("/unattributed/{event_id}/dismiss")
async def dismiss_event(
    request: Request,
    *,
    event_id: int = EventId,
    reason: str = Form("", max_length=inbox.MAX_REASON_LENGTH),
    principal: Principal = Depends(require_permission(EVENT_ATTRIBUTE)),
) -> Response:
    """Set the event aside as not a customer's (a spoofed brand, say), with a reason."""

    def decision(session: Session) -> inbox.Decision:
        return inbox.dismiss(
            session, [event_id], reason=reason, actor=principal.user.username, now=utcnow()
        )

    return await _decide(request, principal, event_id, decision, "dismissed")


@router.post("/unattributed/{event_id}/restore")
async def restore_event(
    request: Request,
    *,
    event_id: int = EventId,
    reason: str = Form("", max_length=inbox.MAX_REASON_LENGTH),
    principal: Principal = Depends(require_permission(EVENT_ATTRIBUTE)),
) -> Response:
    """Put a dismissed event back in the inbox, with a reason."""

    def decision(session: Session) -> inbox.Decision:
        return inbox.restore(
            session, [event_id], reason=reason, actor=principal.user.username, now=utcnow()
        )

    return await _decide(request, principal, event_id, decision, "restored")


def _url(path: str, query: Mapping[str, str]) -> str:
    kept = {name: value for name, value in query.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path
