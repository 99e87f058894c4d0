"""Retention and erasure in the database and the evidence store (docs/privacy.md).

``purge_expired`` removes, a batch at a time, what is past its retention period: the raw
bytes of settled reports (and their envelope's sender fields), and each evidence class
from events. Rows, counts, categories, accounts and case links stay; each item records
what was removed and when. ``erase_address`` removes one address from every table named
in ``ERASURE_TARGETS`` and records the request. ``read_raw_evidence`` is how raw bytes
are shown to a person: each view is audited. Every purge batch and erasure is audited.

Blobs in the content-addressed store are deleted only once the transaction that
removed their last reference commits: a rollback never leaves a row naming a lost blob.
"""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, runtime_checkable

import structlog
from sqlalchemy import JSON, ColumnElement, Text, bindparam, cast, func, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.privacy.errors import EvidencePurged
from abusedesk.privacy.model import EvidenceClass, RetentionPolicy
from abusedesk.privacy.policy import (
    ERASURE_MARK,
    AddressMatch,
    mark_purged,
    redact_envelope,
    redact_event,
)
from abusedesk.storage import audit
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.evidence import EvidenceStore
from abusedesk.storage.reports import SETTLED_STATUSES
from abusedesk.storage.search import reindex_events
from abusedesk.storage.tables import ErasureRequest, Event, Report, RetentionMark, table_of

log = structlog.get_logger(__name__)

REPORTS = table_of(Report)
EVENTS = table_of(Event)
# Who the scheduled purge acts as in the audit log.
PURGE_ACTOR: Final = "system:retention"
PURGE_TAG: Final = "privacy:evidence:purge"
VIEW_TAG: Final = "privacy:evidence:view"
ERASE_TAG: Final = "privacy:address:erase"
RETENTION: Final = "retention"
ERASURE: Final = "erasure"
# Reports whose raw bytes an erasure reads at once (inline ones are up to a few hundred KiB).
_ERASURE_SCAN_BATCH = 100
_EVENT_SCAN_BATCH = 1000
_PENDING_BLOBS: Final = "abusedesk_privacy_blob_deletions"
# The first key of the purge's two-key advisory locks; the second is the class's number.
PURGE_LOCK_SPACE: Final = 0x5052  # "PR"


@runtime_checkable
class ErasableEvidence(EvidenceStore, Protocol):
    """An evidence store that can also remove a blob."""

    def delete(self, key: str) -> None:
        """Remove the blob stored under *key*, if it is there."""


@dataclass(frozen=True)
class PurgeResult:
    """What one purge removed: items per evidence class, and blobs deleted at commit."""

    counts: dict[str, int]
    blobs: int
    # A batch was full: more may be due, for the next call.
    more: bool = False

    @property
    def total(self) -> int:
        """Return how many items were purged over all classes."""
        return sum(self.counts.values())


# --- retention ---------------------------------------------------------------------


def due_counts(session: Session, now: datetime, policy: RetentionPolicy) -> dict[str, int]:
    """Return how many items of each evidence class are past their period at *now*
    and not yet purged (0 for a class kept for ever)."""
    counts = dict.fromkeys(EvidenceClass.ALL, 0)
    cutoff = policy.cutoff(EvidenceClass.RAW_REPORT, now)
    if cutoff is not None:
        counts[EvidenceClass.RAW_REPORT] = int(
            session.scalar(select(func.count()).where(*_raw_due(cutoff))) or 0
        )
    for name in EvidenceClass.IN_EVENTS:
        cutoff = policy.cutoff(name, now)
        if cutoff is not None:
            counts[name] = int(
                session.scalar(
                    select(func.count(Event.id)).where(
                        Event.id > _mark(session, name), Event.created_at <= cutoff
                    )
                )
                or 0
            )
    return counts


def purge_expired(
    session: Session,
    store: EvidenceStore,
    now: datetime,
    policy: RetentionPolicy,
    limit: int = 500,
) -> PurgeResult:
    """Purge up to *limit* items of each evidence class past its period at *now*.

    Running it again purges nothing twice; what is left waits for the next call. Each
    class that purged anything writes one audit row.
    """
    counts: dict[str, int] = {}
    raw, blobs, more = _purge_raw(session, store, now, policy, limit)
    counts[EvidenceClass.RAW_REPORT] = raw
    for name in EvidenceClass.IN_EVENTS:
        counts[name], full = _purge_events(session, now, policy, name, limit)
        more = more or full
    return PurgeResult(counts=counts, blobs=blobs, more=more)


def purge_once(
    sessions: sessionmaker[Session],
    store: EvidenceStore,
    policy: RetentionPolicy,
    *,
    limit: int,
    now: datetime | None = None,
) -> PurgeResult:
    """Run one purge batch in a transaction of its own and log what it removed: what
    the periodic sweeps call."""
    with unit_of_work(sessions) as session:
        result = purge_expired(session, store, now or utcnow(), policy, limit)
    if result.total:
        log.info("evidence_purged", blobs=result.blobs, **result.counts)
    return result


def _raw_due(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    # Reports still in the pipeline keep their bytes: the parser needs them.
    return (
        Report.raw_purged_at.is_(None),
        Report.received_at <= cutoff,
        Report.status.in_(SETTLED_STATUSES),
    )


def _purge_raw(
    session: Session,
    store: EvidenceStore,
    now: datetime,
    policy: RetentionPolicy,
    limit: int,
) -> tuple[int, int, bool]:
    cutoff = policy.cutoff(EvidenceClass.RAW_REPORT, now)
    if cutoff is None:
        return 0, 0, False
    _lock_purge(session, EvidenceClass.RAW_REPORT)
    rows = session.execute(
        select(Report.id, Report.blob_path, Report.envelope)
        .where(*_raw_due(cutoff))
        .order_by(Report.received_at, Report.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0, 0, False
    blobs = _remove_raw(
        session, store, rows, now=now, reason=RETENTION, envelope_of=_envelope_without_sender
    )
    audit.record(
        session,
        actor=PURGE_ACTOR,
        tag=PURGE_TAG,
        subject_type="evidence_class",
        subject_id=EvidenceClass.RAW_REPORT,
        at=now,
        after={
            "items": len(rows),
            "report_ids": _id_span([row.id for row in rows]),
            "blobs_deleted": blobs,
            "received_before": cutoff.isoformat(),
        },
        reason=f"retention period of {policy.days.get(EvidenceClass.RAW_REPORT)} days",
    )
    return len(rows), blobs, len(rows) == limit


def _envelope_without_sender(envelope: dict[str, Any]) -> dict[str, Any]:
    return redact_envelope(envelope, {EvidenceClass.RAW_REPORT})


_REMOVE_RAW = (
    update(REPORTS)
    .where(REPORTS.c.id == bindparam("b_id"))
    .values(
        raw=None,
        blob_path=None,
        raw_purged_at=bindparam("b_now"),
        raw_purge_reason=bindparam("b_reason"),
        envelope=bindparam("b_envelope", type_=JSON),
    )
)


def _remove_raw(
    session: Session,
    store: EvidenceStore,
    rows: Sequence[Any],
    *,
    now: datetime,
    reason: str,
    envelope_of: Callable[[dict[str, Any]], dict[str, Any]],
) -> int:
    """Remove the raw bytes of *rows* (id, blob_path, envelope); return how many blobs
    no report needs any more, which are deleted once the transaction commits."""
    session.execute(
        _REMOVE_RAW,
        [
            {
                "b_id": row.id,
                "b_now": now,
                "b_reason": reason,
                "b_envelope": envelope_of(dict(row.envelope or {})),
            }
            for row in rows
        ],
    )
    keys = {row.blob_path for row in rows if row.blob_path}
    if not keys:
        return 0
    # Content-addressed: another report may name the same blob and still need it.
    needed = set(
        session.scalars(select(Report.blob_path).where(Report.blob_path.in_(keys)).distinct())
    )
    unused = keys - needed
    _delete_after_commit(session, store, unused)
    return len(unused)


def _delete_after_commit(session: Session, store: EvidenceStore, keys: Iterable[str]) -> None:
    """Delete blobs *keys* when *session* commits; forget them if it rolls back."""
    keys = list(keys)
    if not keys:
        return
    if not isinstance(store, ErasableEvidence):
        raise TypeError(f"{type(store).__name__} cannot delete blobs: retention needs it")
    pending: dict[str, ErasableEvidence] | None = session.info.get(_PENDING_BLOBS)
    if pending is None:
        pending = {}
        session.info[_PENDING_BLOBS] = pending

        def committed(finished: Session) -> None:
            for key, owner in list(pending.items()):
                owner.delete(key)
            pending.clear()

        def rolled_back(finished: Session) -> None:
            pending.clear()

        sa_event.listen(session, "after_commit", committed)
        sa_event.listen(session, "after_rollback", rolled_back)
    for key in keys:
        pending[key] = store


def _lock_purge(session: Session, evidence_class: str) -> None:
    """Let one purge of *evidence_class* run at a time (the service's sweep and a command
    at once); SQLite's single writer needs nothing."""
    if session.get_bind().dialect.name == "postgresql":
        number = EvidenceClass.ALL.index(evidence_class)
        session.execute(select(func.pg_advisory_xact_lock(PURGE_LOCK_SPACE, number)))


def _mark(session: Session, evidence_class: str) -> int:
    found = session.scalar(
        select(RetentionMark.last_event_id).where(RetentionMark.evidence_class == evidence_class)
    )
    return int(found or 0)


def _set_mark(session: Session, evidence_class: str, last_event_id: int, now: datetime) -> None:
    statement = insert_for(session, RetentionMark).values(
        evidence_class=evidence_class, last_event_id=last_event_id, updated_at=now
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["evidence_class"],
            set_={"last_event_id": last_event_id, "updated_at": now},
        )
    )


_REDACT_EVENT = (
    update(EVENTS)
    .where(EVENTS.c.id == bindparam("b_id"))
    .values(
        indicators=bindparam("b_indicators", type_=JSON),
        details=bindparam("b_details", type_=JSON),
        purged_classes=bindparam("b_marks", type_=JSON),
    )
)


def _purge_events(
    session: Session, now: datetime, policy: RetentionPolicy, evidence_class: str, limit: int
) -> tuple[int, bool]:
    """Remove *evidence_class* from up to *limit* events stored before its cutoff.

    Events are walked in id order from the class's mark: ids follow storage time, so the
    walk stops at the first event not yet due and never reads an event twice. Return
    how many events changed, and whether the batch was full (more may be due).
    """
    cutoff = policy.cutoff(evidence_class, now)
    if cutoff is None:
        return 0, False
    _lock_purge(session, evidence_class)
    mark = _mark(session, evidence_class)
    rows = session.execute(
        select(Event.id, Event.created_at, Event.indicators, Event.details, Event.purged_classes)
        .where(Event.id > mark)
        .order_by(Event.id)
        .limit(limit)
    ).all()
    changes: list[dict[str, Any]] = []
    last = mark
    walked = 0
    for row in rows:
        if row.created_at > cutoff:
            break
        last = row.id
        walked += 1
        if evidence_class in (row.purged_classes or {}):
            continue
        redaction = redact_event(row.indicators or {}, row.details or {}, {evidence_class})
        changes.append(
            {
                "b_id": row.id,
                "b_indicators": redaction.indicators,
                "b_details": redaction.details,
                "b_marks": mark_purged(row.purged_classes, {evidence_class}, now),
            }
        )
    if last == mark:
        return 0, False
    if changes:
        session.execute(_REDACT_EVENT, changes)
        reindex_events(session, [change["b_id"] for change in changes])
    _set_mark(session, evidence_class, last, now)
    if changes:
        audit.record(
            session,
            actor=PURGE_ACTOR,
            tag=PURGE_TAG,
            subject_type="evidence_class",
            subject_id=evidence_class,
            at=now,
            after={
                "items": len(changes),
                "event_ids": _id_span([change["b_id"] for change in changes]),
                "stored_before": cutoff.isoformat(),
            },
            reason=f"retention period of {policy.days.get(evidence_class)} days",
        )
    return len(changes), walked == limit


def _id_span(ids: Sequence[int]) -> dict[str, int]:
    return {"first": min(ids), "last": max(ids)} if ids else {}


# --- viewing raw evidence ----------------------------------------------------------


def read_raw_evidence(
    session: Session, store: EvidenceStore, report_id: int, viewer: str, now: datetime
) -> bytes:
    """Return a report's raw bytes for *viewer* to see, and audit the view.

    Raises NotFound for no such report and EvidencePurged when retention or an erasure
    removed the bytes.
    """
    if not viewer.strip():
        raise ValueError("a view of raw evidence names its viewer")
    row = session.execute(
        select(Report.raw, Report.blob_path, Report.raw_purged_at, Report.raw_purge_reason).where(
            Report.id == report_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no report {report_id}")
    if row.raw_purged_at is not None:
        raise EvidencePurged(report_id, row.raw_purged_at.isoformat(), row.raw_purge_reason)
    data = bytes(row.raw) if row.raw is not None else store.get(str(row.blob_path))
    audit.record(
        session,
        actor=viewer,
        tag=VIEW_TAG,
        subject_type="report",
        subject_id=report_id,
        at=now,
        after={"bytes": len(data)},
    )
    return data


def raw_purge_state(session: Session, report_ids: Sequence[int]) -> dict[int, tuple[datetime, str]]:
    """Return when and why the raw evidence of each of *report_ids* was removed, for
    those whose evidence is gone."""
    rows = session.execute(
        select(Report.id, Report.raw_purged_at, Report.raw_purge_reason).where(
            Report.id.in_(list(report_ids)), Report.raw_purged_at.is_not(None)
        )
    )
    return {int(row.id): (row.raw_purged_at, str(row.raw_purge_reason)) for row in rows}


# --- erasure -----------------------------------------------------------------------


@dataclass
class ErasureContext:
    """What every erasure target gets: the address, when, and what earlier targets found."""

    session: Session
    store: EvidenceStore
    match: AddressMatch
    now: datetime
    # Reports whose events named the address: their raw bytes hold it in some form.
    related_reports: set[int] = field(default_factory=set)


# A target removes the address from one table and returns how many rows it changed.
ErasureStep = Callable[[ErasureContext], int]


@dataclass(frozen=True)
class ErasureResult:
    """The erasure request recorded, and the rows changed in each target."""

    request_id: int
    counts: dict[str, int]


def erase_address(
    session: Session,
    store: EvidenceStore,
    address: str,
    *,
    actor: str,
    reason: str,
    now: datetime,
    key: bytes,
) -> ErasureResult:
    """Remove *address* (email address or phone number, any case, or its hashes) from
    every erasure target; record the request under the address's keyed hash and audit it.

    Raises InvalidAddress for something that is no address, ValueError for an empty
    actor or reason or key.
    """
    match = AddressMatch.of(address)
    if not actor.strip() or not reason.strip():
        raise ValueError("an erasure names who asked and why")
    if not key:
        raise ValueError("an erasure needs a key for the address hash")
    context = ErasureContext(session, store, match, now)
    counts = {name: step(context) for name, step in ERASURE_TARGETS}
    request_id = session.execute(
        insert_for(session, ErasureRequest)
        .values(
            address_hash=match.keyed_hash(key),
            actor=actor.strip()[:200],
            reason=reason.strip(),
            requested_at=now,
            counts=counts,
        )
        .returning(ErasureRequest.id)
    ).scalar_one()
    audit.record(
        session,
        actor=actor.strip()[:200],
        tag=ERASE_TAG,
        subject_type="erasure_request",
        subject_id=request_id,
        at=now,
        after={"counts": counts},
        reason=reason.strip(),
    )
    return ErasureResult(request_id=int(request_id), counts=counts)


def _search_terms(match: AddressMatch) -> list[str]:
    # JSON text escapes non-ASCII characters; look for both spellings.
    terms = list(match.search_terms)
    terms += [json.dumps(t)[1:-1] for t in match.search_terms if json.dumps(t)[1:-1] != t]
    return terms


def _mentions(columns: Sequence[Any], match: AddressMatch) -> ColumnElement[bool]:
    """Return a coarse SQL test that *columns* mention the address (confirmed in Python)."""
    return or_(
        *(
            func.lower(cast(column, Text)).contains(term, autoescape=True)
            for column in columns
            for term in _search_terms(match)
        )
    )


_ERASE_EVENT = (
    update(EVENTS)
    .where(EVENTS.c.id == bindparam("b_id"))
    .values(
        indicators=bindparam("b_indicators", type_=JSON),
        details=bindparam("b_details", type_=JSON),
        reporter=bindparam("b_reporter"),
        attribution_reason=bindparam("b_reason"),
        attribution_details=bindparam("b_attribution", type_=JSON),
        purged_classes=bindparam("b_marks", type_=JSON),
    )
)


def _erase_from_events(context: ErasureContext) -> int:
    """Remove the address from events' indicators, details, reporter and attribution."""
    session, match = context.session, context.match
    columns = (
        Event.indicators,
        Event.details,
        Event.reporter,
        Event.attribution_reason,
        Event.attribution_details,
    )
    changed_ids: list[int] = []
    after = 0
    while True:
        rows = session.execute(
            select(Event.id, Event.report_id, *columns, Event.purged_classes)
            .where(Event.id > after, _mentions(columns, match))
            .order_by(Event.id)
            .limit(_EVENT_SCAN_BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        changes = []
        for row in rows:
            indicators, n1 = match.scrub_mapping(row.indicators or {})
            details, n2 = match.scrub_mapping(row.details or {})
            attribution, n3 = match.scrub_mapping(row.attribution_details or {})
            reporter, n4 = _scrub_text(match, row.reporter)
            reason, n5 = _scrub_text(match, row.attribution_reason)
            if not n1 + n2 + n3 + n4 + n5:
                continue
            marks = {**(row.purged_classes or {}), ERASURE_MARK: context.now.isoformat()}
            changes.append(
                {
                    "b_id": row.id,
                    "b_indicators": indicators,
                    "b_details": details,
                    "b_reporter": reporter,
                    "b_reason": reason,
                    "b_attribution": attribution,
                    "b_marks": marks,
                }
            )
            context.related_reports.add(int(row.report_id))
        if changes:
            session.execute(_ERASE_EVENT, changes)
            changed_ids.extend(change["b_id"] for change in changes)
    if changed_ids:
        reindex_events(session, changed_ids)
    return len(changed_ids)


def _scrub_text(match: AddressMatch, text: str | None) -> tuple[str | None, int]:
    if text is None:
        return None, 0
    scrubbed, count = match.scrub(text)
    if not count:
        return text, 0
    return (None if not isinstance(scrubbed, str) else scrubbed), count


def _erase_from_reports(context: ErasureContext) -> int:
    """Remove the raw bytes of every report that holds the address, or whose events
    named it; scrub the address from every report's envelope."""
    session, match = context.session, context.match
    erased: list[Any] = []
    envelopes: list[tuple[int, dict[str, Any]]] = []
    after = 0
    while True:
        rows = session.execute(
            select(Report.id, Report.raw, Report.blob_path, Report.envelope, Report.raw_purged_at)
            .where(Report.id > after)
            .order_by(Report.id)
            .limit(_ERASURE_SCAN_BATCH)
        ).all()
        if not rows:
            break
        after = rows[-1].id
        for row in rows:
            envelope, in_envelope = match.scrub_mapping(dict(row.envelope or {}))
            if row.raw_purged_at is None and (
                row.id in context.related_reports or _raw_mentions(context, row)
            ):
                erased.append(row)
            elif in_envelope:
                envelopes.append((int(row.id), envelope))
    if erased:

        def scrubbed(envelope: dict[str, Any]) -> dict[str, Any]:
            return match.scrub_mapping(envelope)[0]

        _remove_raw(
            session, context.store, erased, now=context.now, reason=ERASURE, envelope_of=scrubbed
        )
    for report_id, envelope in envelopes:
        session.execute(update(REPORTS).where(REPORTS.c.id == report_id).values(envelope=envelope))
    return len(erased) + len(envelopes)


def _raw_mentions(context: ErasureContext, row: Any) -> bool:
    if row.raw is not None:
        return context.match.raw_mentions(bytes(row.raw))
    if row.blob_path is None:
        return False
    try:
        data = context.store.get(str(row.blob_path))
    except NotFound:
        return False
    return context.match.raw_mentions(data)


# Every table an address may live in, in order: events first, so that reports know
# which of them the events tied to the address. A new table (notices, say) is one entry:
# a name for the request's counts and a function of the context.
ERASURE_TARGETS: tuple[tuple[str, ErasureStep], ...] = (
    ("events", _erase_from_events),
    ("reports", _erase_from_reports),
)


@dataclass(frozen=True)
class ErasureRecord:
    """One recorded erasure request, as listed."""

    id: int
    requested_at: datetime
    actor: str
    reason: str
    counts: dict[str, Any]


def list_erasures(session: Session, *, limit: int = 100) -> list[ErasureRecord]:
    """Return the latest erasure requests, newest first."""
    rows = session.execute(
        select(
            ErasureRequest.id,
            ErasureRequest.requested_at,
            ErasureRequest.actor,
            ErasureRequest.reason,
            ErasureRequest.counts,
        )
        .order_by(ErasureRequest.id.desc())
        .limit(limit)
    )
    return [ErasureRecord(*row) for row in rows]


def erasures_of(session: Session, address: str, *, key: bytes) -> list[ErasureRecord]:
    """Return the erasure requests recorded for *address* (found by its keyed hash);
    raise InvalidAddress for something that is no address."""
    address_hash = AddressMatch.of(address).keyed_hash(key)
    rows = session.execute(
        select(
            ErasureRequest.id,
            ErasureRequest.requested_at,
            ErasureRequest.actor,
            ErasureRequest.reason,
            ErasureRequest.counts,
        )
        .where(ErasureRequest.address_hash == address_hash)
        .order_by(ErasureRequest.id)
    )
    return [ErasureRecord(*row) for row in rows]
