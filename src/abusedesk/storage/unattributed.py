"""The unattributed inbox: events no resolver settled, and an analyst's decisions on them.

An event waits here (``attribution_state = 'unattributed'``, no account) when nothing in the
inventory named its sender, or only with low confidence. An analyst attributes it by hand
to an account (and resource), or dismisses it as not the provider's customer; a dismissed
event can be restored to the inbox. ``reattribute_batch`` runs the resolver again over
waiting events once the inventory caught up. Every decision writes an audit row with the
event's attribution before and after, in the caller's transaction.

Attributed events keep ``aggregated_at`` empty: the entry point folds their accounts into
cases afterwards (``ReportProcessor.aggregate_accounts``), and the sweeper does it when that
fails.
"""

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, String, func, literal_column, select, update
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import ResourceKind
from abusedesk.attribution.model import AttributionState, Confidence, EventFacts, Method
from abusedesk.attribution.resolver import attribute_events
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import audit, trends
from abusedesk.storage.cases import refresh_case
from abusedesk.storage.events import attribution_columns
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.tables import Account, Case, Event, Report, Resource, table_of

EVENTS = table_of(Event)

# Written as a literal, never a bound value: only then do both databases use the partial
# index ix_events_unattributed, whose condition is this very comparison.
_WAITING: ColumnElement[bool] = Event.attribution_state == literal_column(
    f"'{AttributionState.UNATTRIBUTED}'", String
)

MAX_REASON_LENGTH = 2000
# The audit log's actor column holds 200 characters.
MAX_ACTOR_LENGTH = 200
# Ids per IN list: well below every database's limit on bound values.
_CHUNK = 500

TAG_ATTRIBUTE = "attribution:event:attribute"
TAG_REATTRIBUTE = "attribution:event:reattribute"
TAG_DISMISS = "attribution:event:dismiss"
TAG_RESTORE = "attribution:event:restore"
TAG_RESOLVE = "attribution:event:resolve"
SUBJECT = "event"


class EventNotFound(NotFound):
    """Raise when an event id names no stored event."""


class NotWaiting(AbuseDeskError):
    """Raise when a decision is asked for events that are not in the state it applies to."""


class UnknownAccount(AbuseDeskError):
    """Raise when an attribution names an account the inventory does not hold."""


class UnknownResource(AbuseDeskError):
    """Raise when an attribution names a resource the account does not hold."""


class DecisionInvalid(AbuseDeskError):
    """Raise when a decision lacks what it needs: a reason, an actor, event ids."""


@dataclass(frozen=True)
class InboxFilter:
    """Which waiting events to list; every field left empty matches all."""

    category: str | None = None
    service: str | None = None
    report_format: str | None = None
    reporter: str | None = None
    received_since: datetime | None = None
    received_until: datetime | None = None


@dataclass(frozen=True)
class AccountRef:
    """An account as an analyst knows it: the provider's external id and its name."""

    account_id: int
    external_id: str
    name: str


@dataclass(frozen=True)
class ResourceRef:
    """A resource as an analyst knows it: its kind and value."""

    resource_id: int
    kind: str
    value: str


@dataclass(frozen=True)
class WaitingEvent:
    """One line of the inbox: the event, when its report came, and why it waits."""

    event_id: int
    report_id: int
    category: str
    service: str
    report_format: str
    reporter: str | None
    occurred_at: datetime
    received_at: datetime
    method: str | None
    confidence: str | None
    reason: str | None
    suggested: AccountRef | None


@dataclass(frozen=True)
class InboxCount:
    """How many events wait with this category and best method (None: nothing matched)."""

    category: str
    method: str | None
    events: int


@dataclass(frozen=True)
class CandidateView:
    """An account a resolver pointed at, resolved to names."""

    account: AccountRef | None
    resource: ResourceRef | None
    method: str | None
    confidence: str | None


@dataclass(frozen=True)
class ReportBrief:
    """The report an event was read from, without its bytes."""

    report_id: int
    channel: str
    received_at: datetime
    status: str
    report_format: str | None
    report_kind: str | None


@dataclass(frozen=True)
class EventDetail:
    """One event in full, as an analyst deciding on it needs it."""

    event_id: int
    seq: int
    category: str
    service: str
    report_format: str
    occurred_at: datetime
    reported_at: datetime | None
    reporter: str | None
    indicators: dict[str, Any]
    state: str
    method: str | None
    confidence: str | None
    reason: str | None
    account: AccountRef | None
    resource: ResourceRef | None
    case_id: int | None
    aggregated_at: datetime | None
    candidates: tuple[CandidateView, ...]
    conflicts: tuple[str, ...]
    suggested: CandidateView | None
    dismissal: dict[str, Any] | None
    report: ReportBrief


@dataclass(frozen=True)
class Decision:
    """What a decision changed: the events, and the accounts whose cases must be folded."""

    event_ids: tuple[int, ...]
    accounts: tuple[int, ...] = ()


@dataclass(frozen=True)
class ReattributeBatch:
    """One pass of the resolver over waiting events."""

    examined: int
    settled: int
    last_id: int
    accounts: tuple[int, ...]


# --- reading the inbox ----------------------------------------------------------------


def list_waiting(
    session: Session, filters: InboxFilter = InboxFilter(), *, after_id: int = 0, limit: int = 100
) -> list[WaitingEvent]:
    """Return waiting events with ids above *after_id*, oldest first, at most *limit*."""
    statement = (
        select(
            Event.id,
            Event.report_id,
            Event.category,
            Event.service,
            Event.report_format,
            Event.reporter,
            Event.occurred_at,
            Report.received_at,
            Event.attribution_method,
            Event.attribution_confidence,
            Event.attribution_reason,
            Event.attribution_details,
        )
        .join(Report, Report.id == Event.report_id)
        .where(_WAITING, Event.id > after_id, *_conditions(filters))
        .order_by(Event.id)
        .limit(limit)
    )
    rows = session.execute(statement).all()
    suggested_ids = {_suggested_account_id(row.attribution_details) for row in rows}
    accounts = _accounts(session, {i for i in suggested_ids if i is not None})
    return [
        WaitingEvent(
            event_id=row.id,
            report_id=row.report_id,
            category=row.category,
            service=row.service,
            report_format=row.report_format,
            reporter=row.reporter,
            occurred_at=row.occurred_at,
            received_at=row.received_at,
            method=row.attribution_method,
            confidence=row.attribution_confidence,
            reason=row.attribution_reason,
            suggested=accounts.get(_suggested_account_id(row.attribution_details) or 0),
        )
        for row in rows
    ]


def inbox_counts(session: Session) -> list[InboxCount]:
    """Return how many events wait, by category and by the method of their best guess."""
    rows = session.execute(
        select(Event.category, Event.attribution_method, func.count(Event.id))
        .where(_WAITING)
        .group_by(Event.category, Event.attribution_method)
    ).all()
    counts = [InboxCount(category, method, int(events)) for category, method, events in rows]
    return sorted(counts, key=lambda c: (-c.events, c.category, c.method or ""))


def inbox_size(session: Session) -> int:
    """Return how many events wait in the inbox."""
    return int(session.scalar(select(func.count(Event.id)).where(_WAITING)) or 0)


def waiting_events_of_report(session: Session, report_id: int) -> list[int]:
    """Return the ids of a report's events that wait in the inbox; raise NotFound without it."""
    if session.get(Report, report_id) is None:
        raise NotFound(f"no report {report_id}")
    return list(
        session.scalars(
            select(Event.id).where(_WAITING, Event.report_id == report_id).order_by(Event.id)
        )
    )


def event_detail(session: Session, event_id: int) -> EventDetail:
    """Return one event with its report, reason, candidates and suggestion resolved to names."""
    event = session.get(Event, event_id)
    if event is None:
        raise EventNotFound(f"no event {event_id}")
    report = session.get(Report, event.report_id)
    assert report is not None, "an event's report is a foreign key"  # noqa: S101  # an invariant
    details = event.attribution_details or {}
    raw_candidates = [c for c in details.get("candidates", []) if isinstance(c, dict)]
    suggested = details.get("suggested") if isinstance(details.get("suggested"), dict) else None
    mentioned = [event.account_id, *(c.get("account_id") for c in raw_candidates)]
    resources = [event.resource_id, *(c.get("resource_id") for c in raw_candidates)]
    if suggested is not None:
        mentioned.append(suggested.get("account_id"))
        resources.append(suggested.get("resource_id"))
    accounts = _accounts(session, {i for i in mentioned if isinstance(i, int)})
    resource_refs = _resources(session, {i for i in resources if isinstance(i, int)})

    def view(entry: dict[str, Any]) -> CandidateView:
        return CandidateView(
            account=accounts.get(entry.get("account_id") or 0),
            resource=resource_refs.get(entry.get("resource_id") or 0),
            # The suggestion is the event's own low-confidence guess: its method and confidence.
            method=entry.get("method", event.attribution_method),
            confidence=entry.get("confidence", event.attribution_confidence),
        )

    dismissal = details.get("dismissal")
    return EventDetail(
        event_id=event.id,
        seq=event.seq,
        category=event.category,
        service=event.service,
        report_format=event.report_format,
        occurred_at=event.occurred_at,
        reported_at=event.reported_at,
        reporter=event.reporter,
        indicators=dict(event.indicators or {}),
        state=event.attribution_state,
        method=event.attribution_method,
        confidence=event.attribution_confidence,
        reason=event.attribution_reason,
        account=accounts.get(event.account_id or 0),
        resource=resource_refs.get(event.resource_id or 0),
        case_id=event.case_id,
        aggregated_at=event.aggregated_at,
        candidates=tuple(view(c) for c in raw_candidates),
        conflicts=tuple(str(c) for c in details.get("conflicts", [])),
        suggested=view(suggested) if suggested is not None else None,
        dismissal=dict(dismissal) if isinstance(dismissal, dict) else None,
        report=ReportBrief(
            report_id=report.id,
            channel=report.channel,
            received_at=report.received_at,
            status=report.status,
            report_format=report.report_format,
            report_kind=report.report_kind,
        ),
    )


# --- an analyst's decisions -----------------------------------------------------------


def attribute(
    session: Session,
    event_ids: Iterable[int],
    *,
    account: str,
    resource: tuple[str, str] | None = None,
    reason: str,
    actor: str,
    now: datetime,
    force: bool = False,
) -> Decision:
    """Attribute waiting events by hand to the account with external id *account*.

    *resource* is an optional ``(kind, value)`` the account holds. Events already
    attributed are refused unless *force* re-attributes them (their old case is
    recounted); dismissed events must be restored first. Nothing changes unless every
    event can be attributed.
    """
    ids = _check_ids(event_ids)
    clean_reason = _check_reason(reason)
    clean_actor = _check_actor(actor)
    target = _account_by_external_id(session, account)
    target_resource = _account_resource(session, target, resource) if resource else None
    rows = _events_for_update(session, ids)
    allowed = {AttributionState.UNATTRIBUTED}
    if force:
        allowed.add(AttributionState.ATTRIBUTED)
    _refuse_unless(rows, allowed, action="attribute", hint=_attribute_hint(rows, force))
    text = f"Attributed by {clean_actor}: {clean_reason}"
    values = {
        "account_id": target.account_id,
        "resource_id": target_resource.resource_id if target_resource else None,
        "attribution_method": Method.MANUAL,
        "attribution_confidence": Confidence.HIGH,
        "attribution_reason": text,
        "attribution_state": AttributionState.ATTRIBUTED,
        # Folded afresh into the account's case by the aggregation that follows.
        "case_id": None,
        "aggregated_at": None,
    }
    befores = _snapshots(session, rows)
    _update(session, ids, values)
    trends.mark_accounts_stale(session, ids, now=now)
    after = {
        "account_id": target.account_id,
        "account": target.external_id,
        "resource_id": values["resource_id"],
        "resource": _resource_label(target_resource),
        "attribution_state": AttributionState.ATTRIBUTED,
        "attribution_method": Method.MANUAL,
        "attribution_confidence": Confidence.HIGH,
        "attribution_reason": text,
        "case_id": None,
    }
    for event_id in ids:
        before = befores[event_id]
        audit.record(
            session,
            actor=clean_actor,
            tag=TAG_REATTRIBUTE
            if before["attribution_state"] == AttributionState.ATTRIBUTED
            else TAG_ATTRIBUTE,
            subject_type=SUBJECT,
            subject_id=event_id,
            at=now,
            before=before,
            after=after,
            reason=clean_reason,
        )
    _recount_cases(session, {row.case_id for row in rows.values() if row.case_id is not None})
    return Decision(ids, (target.account_id,))


def dismiss(
    session: Session, event_ids: Iterable[int], *, reason: str, actor: str, now: datetime
) -> Decision:
    """Set waiting events aside as not the provider's customer's (a spoofed brand, say)."""
    ids = _check_ids(event_ids)
    clean_reason = _check_reason(reason)
    clean_actor = _check_actor(actor)
    rows = _events_for_update(session, ids)
    _refuse_unless(rows, {AttributionState.UNATTRIBUTED}, action="dismiss")
    dismissal = {"by": clean_actor, "reason": clean_reason, "at": now.isoformat()}
    for event_id in ids:
        row = rows[event_id]
        details = {**(row.attribution_details or {}), "dismissal": dismissal}
        session.execute(
            update(EVENTS)
            .where(EVENTS.c.id == event_id)
            .values(attribution_state=AttributionState.DISMISSED, attribution_details=details)
        )
        audit.record(
            session,
            actor=clean_actor,
            tag=TAG_DISMISS,
            subject_type=SUBJECT,
            subject_id=event_id,
            at=now,
            before={"attribution_state": row.attribution_state},
            after={"attribution_state": AttributionState.DISMISSED},
            reason=clean_reason,
        )
    return Decision(ids)


def restore(
    session: Session, event_ids: Iterable[int], *, reason: str, actor: str, now: datetime
) -> Decision:
    """Put dismissed events back in the inbox."""
    ids = _check_ids(event_ids)
    clean_reason = _check_reason(reason)
    clean_actor = _check_actor(actor)
    rows = _events_for_update(session, ids)
    _refuse_unless(rows, {AttributionState.DISMISSED}, action="restore")
    for event_id in ids:
        row = rows[event_id]
        details = {k: v for k, v in (row.attribution_details or {}).items() if k != "dismissal"}
        session.execute(
            update(EVENTS)
            .where(EVENTS.c.id == event_id)
            .values(attribution_state=AttributionState.UNATTRIBUTED, attribution_details=details)
        )
        audit.record(
            session,
            actor=clean_actor,
            tag=TAG_RESTORE,
            subject_type=SUBJECT,
            subject_id=event_id,
            at=now,
            before={
                "attribution_state": AttributionState.DISMISSED,
                "dismissal": (row.attribution_details or {}).get("dismissal"),
            },
            after={"attribution_state": AttributionState.UNATTRIBUTED},
            reason=clean_reason,
        )
    return Decision(ids)


def reattribute_batch(
    session: Session, *, after_id: int, limit: int, actor: str, now: datetime
) -> ReattributeBatch:
    """Run the resolver again over up to *limit* waiting events with ids above *after_id*.

    Events it now settles leave the inbox for their account (audited, to be folded); the
    others keep waiting with the resolver's fresh reason and candidates.
    """
    clean_actor = _check_actor(actor)
    rows = session.execute(
        select(Event.id, Event.indicators, Event.occurred_at, Event.category)
        .where(_WAITING, Event.id > after_id)
        .order_by(Event.id)
        .limit(limit)
    ).all()
    if not rows:
        return ReattributeBatch(0, 0, after_id, ())
    facts = [
        EventFacts(
            indicators={
                kind: tuple(str(v) for v in values)
                for kind, values in (row.indicators or {}).items()
                if isinstance(values, list)
            },
            occurred_at=row.occurred_at,
            category=row.category,
        )
        for row in rows
    ]
    attributions = attribute_events(facts, SqlInventoryLookup(session))
    settled = 0
    settled_ids: list[int] = []
    accounts: set[int] = set()
    for row, attribution in zip(rows, attributions, strict=True):
        columns = attribution_columns(attribution)
        # Only still-waiting events: an analyst may have decided on one meanwhile.
        result = session.execute(
            update(EVENTS).where(EVENTS.c.id == row.id, _WAITING).values(**columns)
        )
        changed = cast("CursorResult[Any]", result).rowcount
        if changed and columns["attribution_state"] == AttributionState.ATTRIBUTED:
            settled += 1
            settled_ids.append(row.id)
            accounts.add(columns["account_id"])
            audit.record(
                session,
                actor=clean_actor,
                tag=TAG_RESOLVE,
                subject_type=SUBJECT,
                subject_id=row.id,
                at=now,
                before={"attribution_state": AttributionState.UNATTRIBUTED, "account_id": None},
                after={
                    "attribution_state": AttributionState.ATTRIBUTED,
                    "account_id": columns["account_id"],
                    "resource_id": columns["resource_id"],
                    "attribution_method": columns["attribution_method"],
                    "attribution_confidence": columns["attribution_confidence"],
                    "attribution_reason": columns["attribution_reason"],
                },
                reason="the resolver ran again over the unattributed inbox",
            )
    if settled:
        trends.mark_accounts_stale(session, settled_ids, now=now)
    return ReattributeBatch(len(rows), settled, rows[-1].id, tuple(sorted(accounts)))


# --- helpers --------------------------------------------------------------------------


def _conditions(filters: InboxFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.category:
        conditions.append(Event.category == filters.category)
    if filters.service:
        conditions.append(Event.service == filters.service)
    if filters.report_format:
        conditions.append(Event.report_format == filters.report_format)
    if filters.reporter:
        conditions.append(Event.reporter == filters.reporter)
    if filters.received_since is not None:
        conditions.append(Report.received_at >= filters.received_since)
    if filters.received_until is not None:
        conditions.append(Report.received_at < filters.received_until)
    return conditions


def _suggested_account_id(details: dict[str, Any] | None) -> int | None:
    suggested = (details or {}).get("suggested")
    if isinstance(suggested, dict) and isinstance(suggested.get("account_id"), int):
        return int(suggested["account_id"])
    return None


def _accounts(session: Session, account_ids: Collection[int]) -> dict[int, AccountRef]:
    found: dict[int, AccountRef] = {}
    ids = sorted(account_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(Account.id, Account.external_id, Account.name).where(
                Account.id.in_(ids[start : start + _CHUNK])
            )
        )
        found.update({row.id: AccountRef(row.id, row.external_id, row.name) for row in rows})
    return found


def _resources(session: Session, resource_ids: Collection[int]) -> dict[int, ResourceRef]:
    found: dict[int, ResourceRef] = {}
    ids = sorted(resource_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(Resource.id, Resource.kind, Resource.value).where(
                Resource.id.in_(ids[start : start + _CHUNK])
            )
        )
        found.update({row.id: ResourceRef(row.id, row.kind, row.value) for row in rows})
    return found


def _account_by_external_id(session: Session, external_id: str) -> AccountRef:
    clean = external_id.strip()
    if not clean:
        raise UnknownAccount("name the account by its external id")
    row = session.execute(
        select(Account.id, Account.external_id, Account.name).where(Account.external_id == clean)
    ).first()
    if row is None:
        raise UnknownAccount(f"no account has the external id {clean!r}")
    return AccountRef(row.id, row.external_id, row.name)


def _account_resource(
    session: Session, account: AccountRef, resource: tuple[str, str]
) -> ResourceRef:
    kind, value = resource[0].strip(), resource[1].strip()
    if kind not in ResourceKind.ALL:
        raise UnknownResource(
            f"unknown resource kind {kind!r}; known kinds: {', '.join(ResourceKind.ALL)}"
        )
    if not value:
        raise UnknownResource("name the resource's value as well as its kind")
    row = session.execute(
        select(Resource.id, Resource.kind, Resource.value)
        .where(
            Resource.account_id == account.account_id,
            Resource.kind == kind,
            # Domains and addresses are stored in lower case; numbers and names as given.
            Resource.value.in_({value, value.lower()}),
        )
        .order_by(Resource.id)
    ).first()
    if row is None:
        raise UnknownResource(f"account {account.external_id} holds no {kind} {value!r}")
    return ResourceRef(row.id, row.kind, row.value)


def _events_for_update(session: Session, ids: Sequence[int]) -> dict[int, Any]:
    """Return the events' attribution columns, locked against a concurrent decision."""
    found: dict[int, Any] = {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(
                Event.id,
                Event.account_id,
                Event.resource_id,
                Event.attribution_state,
                Event.attribution_method,
                Event.attribution_confidence,
                Event.attribution_reason,
                Event.attribution_details,
                Event.case_id,
            )
            .where(Event.id.in_(ids[start : start + _CHUNK]))
            .order_by(Event.id)
            .with_for_update()
        )
        found.update({row.id: row for row in rows})
    missing = [event_id for event_id in ids if event_id not in found]
    if missing:
        raise EventNotFound(f"no event {', '.join(str(i) for i in missing)}")
    return found


def _refuse_unless(
    rows: dict[int, Any], allowed: Collection[str], *, action: str, hint: str = ""
) -> None:
    refused = [
        (event_id, row) for event_id, row in rows.items() if row.attribution_state not in allowed
    ]
    if not refused:
        return
    described = ", ".join(
        f"event {event_id} is {row.attribution_state}" for event_id, row in refused
    )
    raise NotWaiting(f"cannot {action}: {described}; nothing was changed{hint}")


def _attribute_hint(rows: dict[int, Any], force: bool) -> str:
    states = {row.attribution_state for row in rows.values()}
    hints = []
    if AttributionState.ATTRIBUTED in states and not force:
        hints.append("force re-attributes an attributed event")
    if AttributionState.DISMISSED in states:
        hints.append("restore a dismissed event to the inbox first")
    return f" ({'; '.join(hints)})" if hints else ""


def _snapshots(session: Session, rows: dict[int, Any]) -> dict[int, dict[str, Any]]:
    accounts = _accounts(session, {r.account_id for r in rows.values() if r.account_id})
    resources = _resources(session, {r.resource_id for r in rows.values() if r.resource_id})
    return {
        event_id: {
            "account_id": row.account_id,
            "account": accounts[row.account_id].external_id if row.account_id in accounts else None,
            "resource_id": row.resource_id,
            "resource": _resource_label(resources.get(row.resource_id or 0)),
            "attribution_state": row.attribution_state,
            "attribution_method": row.attribution_method,
            "attribution_confidence": row.attribution_confidence,
            "attribution_reason": row.attribution_reason,
            "case_id": row.case_id,
        }
        for event_id, row in rows.items()
    }


def _resource_label(resource: ResourceRef | None) -> str | None:
    return None if resource is None else f"{resource.kind}:{resource.value}"


def _update(session: Session, ids: Sequence[int], values: dict[str, Any]) -> None:
    for start in range(0, len(ids), _CHUNK):
        session.execute(
            update(EVENTS).where(EVENTS.c.id.in_(ids[start : start + _CHUNK])).values(**values)
        )


def _recount_cases(session: Session, case_ids: Collection[int]) -> None:
    """Recount the cases events were taken from: counts are derived from their events."""
    for case_id, group in session.execute(
        select(Case.id, Case.category_group).where(Case.id.in_(sorted(case_ids))).order_by(Case.id)
    ).all():
        refresh_case(session, case_id, group)


def _check_ids(event_ids: Iterable[int]) -> tuple[int, ...]:
    ids = tuple(dict.fromkeys(event_ids))
    if not ids:
        raise DecisionInvalid("name at least one event")
    return ids


def _check_reason(reason: str) -> str:
    return _clean_text(
        reason, "a decision needs a reason an analyst can read later", "a reason", MAX_REASON_LENGTH
    )


def _check_actor(actor: str) -> str:
    return _clean_text(
        actor, "a decision needs an actor: who made it", "an actor", MAX_ACTOR_LENGTH
    )


def _clean_text(value: str, empty: str, what: str, limit: int) -> str:
    """Return *value* on one line with single spaces; refuse it empty, too long or unprintable."""
    clean = " ".join(value.split())
    if not clean:
        raise DecisionInvalid(empty)
    if len(clean) > limit or not clean.isprintable():
        raise DecisionInvalid(f"{what} is at most {limit} printable characters")
    return clean
