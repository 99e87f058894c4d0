"""Search across cases, accounts and events: exact indicators and free text.

Events are indexed as they are stored (`index_event_rows`, called by the event upsert):
each indicator, normalised by `abusedesk.search.query`, is a row of ``event_indicators``;
the event's words are a row of ``event_texts``, full-text indexed by the database's own
engine: an FTS5 table kept in step by triggers on SQLite, a GIN index over
``to_tsvector('simple', body)`` on PostgreSQL. Both match whole words and word prefixes.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import KeyKind, normal_key
from abusedesk.search.query import (
    SearchQuery,
    SearchTerm,
    TermKind,
    event_text,
    index_entries,
)
from abusedesk.storage.dialect import escape_like
from abusedesk.storage.tables import (
    Account,
    Case,
    Event,
    EventIndicator,
    EventText,
    IpAllocation,
    ResourceKey,
    table_of,
)

# Schema objects the migrations make outside the models (full-text engines differ per
# database); schema comparison leaves them alone.
FULL_TEXT_TABLE = "event_texts_fts"
FULL_TEXT_INDEX = "ix_event_texts_body"
_CHUNK = 500

# Which resource keys name the accounts a term points at.
_KEY_KINDS: dict[TermKind, tuple[str, ...]] = {
    TermKind.DOMAIN: (KeyKind.DOMAIN, KeyKind.MAIL_FROM_DOMAIN),
    TermKind.EMAIL: (KeyKind.ADDRESS, KeyKind.MAILBOX),
    TermKind.IP: (KeyKind.DEDICATED_IP,),
    TermKind.PHONE: (KeyKind.ORIGINATION_NUMBER, KeyKind.SENDER_ID),
}
_ALL_KEY_KINDS = frozenset(
    value for name, value in vars(KeyKind).items() if not name.startswith("_")
)


def include_in_schema_comparison(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the full-text objects, which the models do not describe, out of schema diffs."""
    del type_, parent_names
    return not (name and (name.startswith(FULL_TEXT_TABLE) or name == FULL_TEXT_INDEX))


# --- indexing ----------------------------------------------------------------------


def index_event_rows(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """(Re)index the stored events behind *rows* (event upsert rows: report_id, seq ...)."""
    if not rows:
        return
    report_ids = sorted({row["report_id"] for row in rows})
    ids: dict[tuple[int, int], int] = {}
    for start in range(0, len(report_ids), _CHUNK):
        chunk = report_ids[start : start + _CHUNK]
        for event_id, report_id, seq in session.execute(
            select(Event.id, Event.report_id, Event.seq).where(Event.report_id.in_(chunk))
        ):
            ids[(report_id, seq)] = event_id
    indexed = [
        (ids[(row["report_id"], row["seq"])], row["reporter"], row["indicators"], row["details"])
        for row in rows
        if (row["report_id"], row["seq"]) in ids
    ]
    _write_index(session, indexed)


def reindex_events(session: Session, event_ids: Iterable[int]) -> int:
    """Rebuild the index of the given stored events (after a purge or an erasure)."""
    wanted = sorted(set(event_ids))
    count = 0
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        found = session.execute(
            select(Event.id, Event.reporter, Event.indicators, Event.details).where(
                Event.id.in_(chunk)
            )
        ).all()
        _write_index(session, [tuple(row) for row in found])
        count += len(found)
    return count


def reindex_all(session: Session, *, after_id: int = 0, batch: int = 5000) -> int | None:
    """Index the next *batch* of events after *after_id*; return the last id, None when done."""
    event_ids = list(
        session.scalars(select(Event.id).where(Event.id > after_id).order_by(Event.id).limit(batch))
    )
    if not event_ids:
        return None
    reindex_events(session, event_ids)
    return event_ids[-1]


def _write_index(session: Session, events: Sequence[tuple[Any, ...]]) -> None:
    indicators: list[dict[str, Any]] = []
    texts: list[dict[str, Any]] = []
    for event_id, reporter, event_indicators, details in events:
        indicators.extend(
            {"event_id": event_id, "key": key, "value": value}
            for key, value in index_entries(event_indicators or {})
        )
        body = event_text(reporter, details or {})
        if body:
            texts.append({"event_id": event_id, "body": body})
    event_ids = [event[0] for event in events]
    for start in range(0, len(event_ids), _CHUNK):
        chunk = event_ids[start : start + _CHUNK]
        session.execute(delete(table_of(EventIndicator)).where(EventIndicator.event_id.in_(chunk)))
        session.execute(delete(table_of(EventText)).where(EventText.event_id.in_(chunk)))
    if indicators:
        session.execute(insert(table_of(EventIndicator)), indicators)
    if texts:
        session.execute(insert(table_of(EventText)), texts)


# --- searching ---------------------------------------------------------------------


@dataclass(frozen=True)
class EventHit:
    """An event the search found."""

    id: int
    occurred_at: datetime
    category: str
    service: str
    reporter: str | None
    account_id: int | None
    case_id: int | None
    attribution_state: str


@dataclass(frozen=True)
class CaseHit:
    """A case the search found, directly or through its events or account."""

    id: int
    account_id: int
    category_group: str
    status: str
    priority: int
    event_count: int
    last_seen_at: datetime | None


@dataclass(frozen=True)
class AccountHit:
    """An account the search found, with how."""

    id: int
    external_id: str
    name: str
    standing: str
    found_by: str


@dataclass(frozen=True)
class SearchResults:
    """What a search found, each list newest or most urgent first and capped at its limit."""

    query: str
    cases: list[CaseHit]
    accounts: list[AccountHit]
    events: list[EventHit]
    more_events: bool


def search(session: Session, query: SearchQuery, *, limit: int = 50) -> SearchResults:
    """Run *query*: events matching every term, their cases and accounts, and direct hits."""
    event_ids = _matching_events(session, query, limit + 1)
    events = _event_hits(session, event_ids[:limit])
    accounts = _account_hits(session, query, limit)
    account_ids = {hit.id for hit in accounts}
    case_ids = {int(t.value) for t in query.terms if t.kind in (TermKind.CASE, TermKind.NUMBER)}
    case_ids |= {hit.case_id for hit in events if hit.case_id is not None}
    cases = _case_hits(session, case_ids, account_ids, limit)
    return SearchResults(
        query=query.describe(),
        cases=cases,
        accounts=accounts,
        events=events,
        more_events=len(event_ids) > limit,
    )


def _matching_events(session: Session, query: SearchQuery, limit: int) -> list[int]:
    exact = [term for term in query.terms if term.lookups()]
    numbers = [t for t in query.terms if t.kind in (TermKind.NUMBER, TermKind.CASE)]
    if not exact and not query.words:
        # Only references: the events of the report a bare number may name.
        report_ids = [int(t.value) for t in numbers if t.kind == TermKind.NUMBER]
        if not report_ids:
            return []
        statement = select(Event.id).where(Event.report_id.in_(report_ids))
    else:
        statement = select(Event.id)
        for term in exact:
            statement = statement.where(Event.id.in_(_indicator_match(term)))
        if query.words:
            statement = statement.where(Event.id.in_(_text_match(session, query.words)))
    return list(
        session.scalars(statement.order_by(Event.occurred_at.desc(), Event.id.desc()).limit(limit))
    )


def _indicator_match(term: SearchTerm) -> Select[int]:
    pairs = term.lookups()
    return select(EventIndicator.event_id).where(
        tuple_(EventIndicator.key, EventIndicator.value).in_(pairs)
        if len(pairs) > 1
        else (EventIndicator.key == pairs[0][0]) & (EventIndicator.value == pairs[0][1])
    )


def _text_match(session: Session, words: Sequence[str]) -> Select[int]:
    # Words are \w+ runs (see parse_query): nothing in them can change the match syntax.
    safe = [re.sub(r"\W", "", word) for word in words]
    if session.get_bind().dialect.name == "postgresql":
        tsquery = " & ".join(f"{word}:*" for word in safe)
        return select(EventText.event_id).where(
            func.to_tsvector(literal_column("'simple'"), EventText.body).op("@@")(
                func.to_tsquery(literal_column("'simple'"), tsquery)
            )
        )
    match = " AND ".join(f'"{word}"*' for word in safe)
    return (
        select(literal_column("rowid"))
        .select_from(text(FULL_TEXT_TABLE))
        .where(text(f"{FULL_TEXT_TABLE} MATCH :match").bindparams(match=match))
    )


def _event_hits(session: Session, event_ids: list[int]) -> list[EventHit]:
    if not event_ids:
        return []
    rows = session.execute(
        select(
            Event.id,
            Event.occurred_at,
            Event.category,
            Event.service,
            Event.reporter,
            Event.account_id,
            Event.case_id,
            Event.attribution_state,
        )
        .where(Event.id.in_(event_ids))
        .order_by(Event.occurred_at.desc(), Event.id.desc())
    ).all()
    return [EventHit(*row) for row in rows]


def _account_hits(session: Session, query: SearchQuery, limit: int) -> list[AccountHit]:
    found: dict[int, str] = {}
    for term in query.terms:
        for account_id, how in _accounts_for_term(session, term, limit):
            found.setdefault(account_id, how)
    for word in query.words:
        pattern = f"%{escape_like(word.lower())}%"
        for account_id in session.scalars(
            select(Account.id)
            .where(func.lower(Account.name).like(pattern, escape="\\"))
            .order_by(Account.id)
            .limit(limit)
        ):
            found.setdefault(account_id, f"name contains {word!r}")
    if not found:
        return []
    rows = session.execute(
        select(Account.id, Account.external_id, Account.name, Account.standing).where(
            Account.id.in_(list(found)[:limit])
        )
    ).all()
    return [AccountHit(*row, found_by=found[row[0]]) for row in rows]


def _accounts_for_term(session: Session, term: SearchTerm, limit: int) -> list[tuple[int, str]]:
    if term.kind == TermKind.ACCOUNT:
        lowered = term.value.lower()
        statement = select(Account.id).where(
            or_(
                Account.external_id == term.value,
                func.lower(Account.name).like(f"%{escape_like(lowered)}%", escape="\\"),
            )
        )
        return [(i, f"account {term.value}") for i in session.scalars(statement.limit(limit))]
    if term.kind == TermKind.NUMBER:
        statement = select(Account.id).where(
            or_(Account.id == int(term.value), Account.external_id == term.value)
        )
        return [(i, f"account number {term.value}") for i in session.scalars(statement)]
    kinds = _KEY_KINDS.get(term.kind, ())
    if term.kind == TermKind.INDICATOR and term.key is not None and term.key in _ALL_KEY_KINDS:
        kinds = (term.key,)
    pairs = [(k, v) for k in kinds if (v := normal_key(k, term.value)) is not None]
    if term.kind == TermKind.EMAIL:
        domain = term.value.rpartition("@")[2]
        pairs.append((KeyKind.DOMAIN, domain))
    hits: list[tuple[int, str]] = []
    if pairs:
        keys = session.execute(
            select(ResourceKey.account_id, ResourceKey.kind, ResourceKey.value)
            .where(tuple_(ResourceKey.kind, ResourceKey.value).in_(pairs))
            .limit(limit)
        )
        hits += [(a, f"{kind} {value} is theirs") for a, kind, value in keys]
    if term.kind == TermKind.IP:
        holders = session.execute(
            select(IpAllocation.account_id, IpAllocation.valid_from)
            .where(IpAllocation.ip == term.value, IpAllocation.account_id.is_not(None))
            .order_by(IpAllocation.valid_from.desc())
            .limit(limit)
        )
        hits += [
            (account_id, f"held IP {term.value} from {since:%Y-%m-%d}")
            for account_id, since in holders
            if account_id is not None
        ]
    return hits


def _case_hits(
    session: Session, case_ids: set[int], account_ids: set[int], limit: int
) -> list[CaseHit]:
    if not case_ids and not account_ids:
        return []
    conditions: list[ColumnElement[bool]] = []
    if case_ids:
        conditions.append(Case.id.in_(sorted(case_ids)))
    if account_ids:
        conditions.append(Case.account_id.in_(sorted(account_ids)) & (Case.status != "closed"))
    rows = session.execute(
        select(
            Case.id,
            Case.account_id,
            Case.category_group,
            Case.status,
            Case.priority,
            Case.event_count,
            Case.last_seen_at,
        )
        .where(or_(*conditions))
        .order_by(Case.priority.desc(), Case.id.desc())
        .limit(limit)
    ).all()
    return [CaseHit(*row) for row in rows]
