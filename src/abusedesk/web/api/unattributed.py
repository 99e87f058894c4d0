"""``/api/v1/unattributed`` and ``/api/v1/events/{id}``: the unattributed inbox over HTTP.

Events no resolver settled wait in the inbox; an analyst's tool lists them, reads one in
full, attributes it to an account by hand or dismisses it. The calling token's name is
the actor the audit log records.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from abusedesk.bootstrap import Container
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.storage import unattributed as inbox
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tokens import TokenInfo
from abusedesk.web import container_of
from abusedesk.web.api.root import PREFIX
from abusedesk.web.auth import require_token

router = APIRouter(prefix=PREFIX, tags=["unattributed"])

READ_SCOPE = "events:read"
ATTRIBUTE_SCOPE = "events:attribute"
MAX_LISTED = 500
# Ids are BIGINT on PostgreSQL; a larger number would be a database error, not a 404.
MAX_EVENT_ID = 2**63 - 1
INBOX_PATH = f"{PREFIX}/unattributed"


class ResourceName(BaseModel):
    """A resource the account holds, as its kind and value."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=40)
    value: str = Field(min_length=1, max_length=320)


class AttributionRequest(BaseModel):
    """An analyst's attribution of one event."""

    model_config = ConfigDict(extra="forbid")

    account: str = Field(min_length=1, max_length=64, description="the account's external id")
    resource: ResourceName | None = None
    reason: str = Field(min_length=1, max_length=inbox.MAX_REASON_LENGTH)
    force: bool = Field(False, description="re-attribute an event that is attributed already")


class DismissalRequest(BaseModel):
    """An analyst's dismissal of one event (not the provider's customer's), or its undoing."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=inbox.MAX_REASON_LENGTH)


def event_path(event_id: int) -> str:
    """Return the API path of one event."""
    return f"{PREFIX}/events/{event_id}"


@router.get(
    "/unattributed",
    summary="Events waiting for an account",
    dependencies=[Depends(require_token(READ_SCOPE))],
)
def list_unattributed(
    *,
    category: str | None = Query(None, max_length=40),
    service: str | None = Query(None, max_length=20),
    report_format: str | None = Query(None, max_length=40),
    reporter: str | None = Query(None, max_length=255),
    received_since: datetime | None = Query(None, description="reports received at or after"),
    received_until: datetime | None = Query(None, description="reports received before"),
    limit: int = Query(100, ge=1, le=MAX_LISTED),
    after_id: int = Query(0, ge=0, le=MAX_EVENT_ID, description="page on from this id"),
    container: Container = Depends(container_of),
) -> dict[str, Any]:
    """List the waiting events, oldest first, a page at a time; a full page links the next."""
    filters = inbox.InboxFilter(
        category=category,
        service=service,
        report_format=report_format,
        reporter=reporter,
        received_since=as_utc(received_since) if received_since else None,
        received_until=as_utc(received_until) if received_until else None,
    )
    with read_only(container.sessions) as session:
        rows = inbox.list_waiting(session, filters, after_id=after_id, limit=limit)
    page: dict[str, Any] = {"events": [_waiting_json(row) for row in rows]}
    if len(rows) == limit:
        query = {
            "category": category,
            "service": service,
            "report_format": report_format,
            "reporter": reporter,
            "received_since": filters.received_since.isoformat()
            if filters.received_since
            else None,
            "received_until": filters.received_until.isoformat()
            if filters.received_until
            else None,
            "limit": limit,
            "after_id": rows[-1].event_id,
        }
        page["links"] = {"next": _url(INBOX_PATH, query)}
    return page


@router.get(
    "/unattributed/summary",
    summary="How many events wait, by category and best guess",
    dependencies=[Depends(require_token(READ_SCOPE))],
)
def summarise_unattributed(container: Container = Depends(container_of)) -> dict[str, Any]:
    """Count the waiting events by category and by the method of their best guess."""
    with read_only(container.sessions) as session:
        counts = inbox.inbox_counts(session)
    return {
        "total": sum(c.events for c in counts),
        "counts": [
            {"category": c.category, "method": c.method, "events": c.events} for c in counts
        ],
    }


@router.get(
    "/events/{event_id}",
    summary="One event in full",
    dependencies=[Depends(require_token(READ_SCOPE))],
)
def get_event(
    event_id: int = Path(ge=1, le=MAX_EVENT_ID),
    container: Container = Depends(container_of),
) -> dict[str, Any]:
    """Show an event with its report, indicators, attribution, candidates and suggestion."""
    with read_only(container.sessions) as session:
        return _detail_json(inbox.event_detail(session, event_id))


@router.post(
    "/events/{event_id}/attribution", summary="Attribute an event by hand", response_model=None
)
def attribute_event(
    body: AttributionRequest,
    event_id: int = Path(ge=1, le=MAX_EVENT_ID),
    token: TokenInfo = Depends(require_token(ATTRIBUTE_SCOPE)),
    container: Container = Depends(container_of),
) -> Response | dict[str, Any]:
    """Attribute a waiting event to an account (audited), then fold it into the account's case."""
    resource = (body.resource.kind, body.resource.value) if body.resource else None
    with unit_of_work(container.sessions) as session:
        decision = inbox.attribute(
            session,
            [event_id],
            account=body.account,
            resource=resource,
            reason=body.reason,
            actor=token.name,
            now=utcnow(),
            force=body.force,
        )
    container.processor.aggregate_accounts(decision.accounts)
    return get_event(event_id, container)


@router.post(
    "/events/{event_id}/dismissal",
    summary="Dismiss an event: not a customer's",
    response_model=None,
)
def dismiss_event(
    body: DismissalRequest,
    event_id: int = Path(ge=1, le=MAX_EVENT_ID),
    token: TokenInfo = Depends(require_token(ATTRIBUTE_SCOPE)),
    container: Container = Depends(container_of),
) -> Response | dict[str, Any]:
    """Set a waiting event aside as not the provider's customer's (audited)."""
    with unit_of_work(container.sessions) as session:
        inbox.dismiss(session, [event_id], reason=body.reason, actor=token.name, now=utcnow())
    return get_event(event_id, container)


@router.post(
    "/events/{event_id}/restoration",
    summary="Put a dismissed event back in the inbox",
    response_model=None,
)
def restore_event(
    body: DismissalRequest,
    event_id: int = Path(ge=1, le=MAX_EVENT_ID),
    token: TokenInfo = Depends(require_token(ATTRIBUTE_SCOPE)),
    container: Container = Depends(container_of),
) -> Response | dict[str, Any]:
    """Undo a dismissal: the event waits in the unattributed inbox again (audited)."""
    with unit_of_work(container.sessions) as session:
        inbox.restore(session, [event_id], reason=body.reason, actor=token.name, now=utcnow())
    return get_event(event_id, container)


def _url(path: str, query: Mapping[str, object]) -> str:
    return f"{path}?{urlencode({k: v for k, v in query.items() if v is not None})}"


def _account_json(account: inbox.AccountRef | None) -> dict[str, Any] | None:
    if account is None:
        return None
    return {"id": account.account_id, "external_id": account.external_id, "name": account.name}


def _resource_json(resource: inbox.ResourceRef | None) -> dict[str, Any] | None:
    if resource is None:
        return None
    return {"id": resource.resource_id, "kind": resource.kind, "value": resource.value}


def _candidate_json(candidate: inbox.CandidateView) -> dict[str, Any]:
    return {
        "account": _account_json(candidate.account),
        "resource": _resource_json(candidate.resource),
        "method": candidate.method,
        "confidence": candidate.confidence,
    }


def _waiting_json(row: inbox.WaitingEvent) -> dict[str, Any]:
    return {
        "event_id": row.event_id,
        "report_id": row.report_id,
        "category": row.category,
        "service": row.service,
        "report_format": row.report_format,
        "reporter": row.reporter,
        "occurred_at": row.occurred_at.isoformat(),
        "received_at": row.received_at.isoformat(),
        "method": row.method,
        "confidence": row.confidence,
        "reason": row.reason,
        "suggested": _account_json(row.suggested),
        "links": {"self": event_path(row.event_id)},
    }


def _detail_json(detail: inbox.EventDetail) -> dict[str, Any]:
    report = detail.report
    return {
        "event_id": detail.event_id,
        "seq": detail.seq,
        "category": detail.category,
        "service": detail.service,
        "report_format": detail.report_format,
        "occurred_at": detail.occurred_at.isoformat(),
        "reported_at": detail.reported_at.isoformat() if detail.reported_at else None,
        "reporter": detail.reporter,
        "indicators": detail.indicators,
        "attribution": {
            "state": detail.state,
            "account": _account_json(detail.account),
            "resource": _resource_json(detail.resource),
            "method": detail.method,
            "confidence": detail.confidence,
            "reason": detail.reason,
            "candidates": [_candidate_json(c) for c in detail.candidates],
            "conflicts": list(detail.conflicts),
            "suggested": _candidate_json(detail.suggested) if detail.suggested else None,
            "dismissal": detail.dismissal,
        },
        "case_id": detail.case_id,
        "report": {
            "report_id": report.report_id,
            "channel": report.channel,
            "received_at": report.received_at.isoformat(),
            "status": report.status,
            "format": report.report_format,
            "kind": report.report_kind,
        },
        "links": {
            "self": event_path(detail.event_id),
            "report": f"{PREFIX}/reports/{report.report_id}",
        },
    }
