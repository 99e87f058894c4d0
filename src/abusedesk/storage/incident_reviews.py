"""Incident reviews as stored: opened from a spike, a case or a period, edited, closed.

The timeline is not stored: it is read again whenever the review is shown or exported,
from events, signals, actions, notes, case history and customer messages in the
review's window about its accounts (every account when it names none). Each source
gives at most a limit of entries, the earliest first, and says when it held more.
Every change is audited under ``review:review:*`` and ``review:followup:*``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from sqlalchemy import BigInteger, ColumnElement, and_, cast, func, or_, select
from sqlalchemy import case as when_then
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.insights import reviews as model
from abusedesk.insights.reviews import (
    EventBucket,
    FollowUp,
    Review,
    ReviewClosed,
    ReviewInvalid,
    ReviewSummary,
    TimelineEntry,
    WindowRules,
)
from abusedesk.storage.audit import record
from abusedesk.storage.tables import (
    Account,
    Case,
    CaseHistoryEntry,
    CaseNote,
    CustomerMessage,
    EnforcementAction,
    Event,
    IncidentReview,
    ReviewFollowUp,
    Signal,
    User,
)

SUBJECT: Final = "incident_review"
FOLLOW_UP_SUBJECT: Final = "review_followup"
NOTE_EXCERPT: Final = 500
SUBJECT_EXCERPT: Final = 200
MAX_LIST: Final = 500


@dataclass(frozen=True)
class Timeline:
    """A review's timeline, the events per hour for its chart, and the sources cut short."""

    entries: tuple[TimelineEntry, ...]
    hourly_events: tuple[tuple[datetime, float], ...]
    truncated: tuple[str, ...]


@dataclass(frozen=True)
class OpenFollowUp:
    """An open follow-up item with the review it belongs to."""

    item: FollowUp
    review_title: str


# --- opening -----------------------------------------------------------------------------


def open_from_signal(
    session: Session,
    signal_id: int,
    *,
    rules: WindowRules,
    actor: str,
    now: datetime,
    title: str = "",
) -> tuple[int, bool]:
    """Open a review of a spike signal; return its id and whether it is new.

    A review of the same signal that is not closed yet is returned instead of a new one.
    """
    signal = session.get(Signal, signal_id)
    if signal is None:
        raise NotFound(f"no signal #{signal_id}")
    if not signal.kind.startswith("spike."):
        raise ReviewInvalid(
            f"Signal #{signal_id} is a {signal.kind} signal; reviews open from spikes only."
        )
    existing = _open_review_of(session, model.SPIKE, signal_id)
    if existing is not None:
        return existing, False
    hour = _spike_hour(signal)
    starts_at, ends_at = rules.around_spike(hour)
    accounts = [signal.account_id] if signal.account_id is not None else []
    subject = f"{signal.subject_type.replace('_', ' ')} {signal.subject_id}"
    if signal.account_id is not None:
        external_id = session.scalar(
            select(Account.external_id).where(Account.id == signal.account_id)
        )
        subject = f"account {external_id}"
    default = f"{signal.kind} on {subject} at {hour:%Y-%m-%d %H:00} UTC"
    return (
        _insert(
            session,
            title=model.check_title(title) if title.strip() else default[: model.MAX_TITLE],
            origin=model.SPIKE,
            origin_id=signal_id,
            account_ids=accounts,
            window=(starts_at, ends_at),
            actor=actor,
            now=now,
        ),
        True,
    )


def open_from_case(
    session: Session,
    case_id: int,
    *,
    rules: WindowRules,
    actor: str,
    now: datetime,
    title: str = "",
) -> tuple[int, bool]:
    """Open a review of a case and its account; return its id and whether it is new.

    A review of the same case that is not closed yet is returned instead of a new one.
    """
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound(f"no case #{case_id}")
    existing = _open_review_of(session, model.CASE, case_id)
    if existing is not None:
        return existing, False
    first = min(t for t in (case.first_seen_at, case.opened_at) if t is not None)
    starts_at, ends_at = rules.around_case(first, case.closed_at or now)
    external_id = session.scalar(select(Account.external_id).where(Account.id == case.account_id))
    default = f"Case #{case_id}: {case.category_group} from account {external_id}"
    return (
        _insert(
            session,
            title=model.check_title(title) if title.strip() else default[: model.MAX_TITLE],
            origin=model.CASE,
            origin_id=case_id,
            account_ids=[case.account_id],
            window=(starts_at, ends_at),
            actor=actor,
            now=now,
        ),
        True,
    )


def open_for_period(
    session: Session,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    accounts: Sequence[str],
    rules: WindowRules,
    actor: str,
    now: datetime,
) -> int:
    """Open a review of a period, about the accounts named (every account when none)."""
    rules.check(starts_at, ends_at, accounts=len(accounts))
    return _insert(
        session,
        title=model.check_title(title),
        origin=model.PERIOD,
        origin_id=None,
        account_ids=account_ids_of(session, accounts),
        window=(starts_at, ends_at),
        actor=actor,
        now=now,
    )


def account_ids_of(session: Session, external_ids: Sequence[str]) -> list[int]:
    """Return the ids of the accounts named, in the order given; refuse unknown ones."""
    if len(external_ids) > model.MAX_ACCOUNTS:
        raise ReviewInvalid(f"A review covers at most {model.MAX_ACCOUNTS} accounts.")
    found = dict(
        session.execute(
            select(Account.external_id, Account.id).where(
                Account.external_id.in_(list(external_ids))
            )
        ).all()
    )
    missing = [name for name in external_ids if name not in found]
    if missing:
        shown = ", ".join(repr(name[:64]) for name in missing[:5])
        raise ReviewInvalid(f"No account {shown}; give accounts by their id, e.g. 4411.")
    return [found[name] for name in external_ids]


def _insert(
    session: Session,
    *,
    title: str,
    origin: str,
    origin_id: int | None,
    account_ids: list[int],
    window: tuple[datetime, datetime],
    actor: str,
    now: datetime,
) -> int:
    row = IncidentReview(
        title=model.check_title(title),
        origin=origin,
        origin_id=origin_id,
        account_ids=account_ids,
        starts_at=window[0],
        ends_at=window[1],
        state=model.DRAFT,
        impact="",
        root_cause="",
        went_well="",
        went_badly="",
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        tag="review:review:open",
        subject_type=SUBJECT,
        subject_id=row.id,
        at=now,
        after={
            "title": row.title,
            "origin": origin,
            "origin_id": origin_id,
            "account_ids": account_ids,
            "starts_at": window[0].isoformat(),
            "ends_at": window[1].isoformat(),
        },
    )
    return row.id


def _open_review_of(session: Session, origin: str, origin_id: int) -> int | None:
    found: int | None = session.scalar(
        select(IncidentReview.id)
        .where(
            IncidentReview.origin == origin,
            IncidentReview.origin_id == origin_id,
            IncidentReview.state != model.CLOSED,
        )
        .order_by(IncidentReview.id)
        .limit(1)
    )
    return found


def _spike_hour(signal: Signal) -> datetime:
    """Return the hour a spike signal is about: its figures' hour, else when it was raised."""
    raw = (signal.figures or {}).get("hour")
    if isinstance(raw, str):
        try:
            hour = datetime.fromisoformat(raw)
        except ValueError:
            hour = None
        if hour is not None and hour.tzinfo is not None:
            return hour
    return signal.raised_at.replace(minute=0, second=0, microsecond=0)


# --- reading -----------------------------------------------------------------------------


def review(session: Session, review_id: int) -> Review:
    """Return one review, or raise NotFound."""
    row = session.get(IncidentReview, review_id)
    if row is None:
        raise NotFound(f"no review #{review_id}")
    return _review(row, _external_ids(session, row.account_ids))


def list_reviews(
    session: Session, *, now: datetime, state: str | None = None
) -> list[ReviewSummary]:
    """Return reviews, the newest first (at most MAX_LIST), with their follow-ups counted."""
    query = select(IncidentReview).order_by(IncidentReview.id.desc()).limit(MAX_LIST)
    if state is not None:
        query = query.where(IncidentReview.state == state)
    rows = list(session.scalars(query))
    ids = [row.id for row in rows]
    counts: dict[int, tuple[int, int]] = {}
    if ids:
        overdue = func.sum(
            when_then(
                (and_(ReviewFollowUp.due_at.is_not(None), ReviewFollowUp.due_at < now), 1),
                else_=0,
            )
        )
        for review_id, open_count, overdue_count in session.execute(
            select(ReviewFollowUp.review_id, func.count(ReviewFollowUp.id), overdue)
            .where(ReviewFollowUp.review_id.in_(ids), ReviewFollowUp.state == model.OPEN)
            .group_by(ReviewFollowUp.review_id)
        ):
            counts[review_id] = (int(open_count), int(overdue_count or 0))
    names = _external_ids(session, [i for row in rows for i in row.account_ids])
    return [
        ReviewSummary(
            _review(row, names),
            counts.get(row.id, (0, 0))[0],
            counts.get(row.id, (0, 0))[1],
        )
        for row in rows
    ]


def follow_ups(session: Session, review_id: int) -> list[FollowUp]:
    """Return a review's follow-up items: the open ones by due time first, then the rest."""
    rows = session.scalars(
        select(ReviewFollowUp)
        .where(ReviewFollowUp.review_id == review_id)
        .order_by(ReviewFollowUp.id)
    )
    items = [_follow_up(row) for row in rows]
    return sorted(items, key=_follow_up_order)


def open_follow_ups(session: Session, *, limit: int = MAX_LIST) -> list[OpenFollowUp]:
    """Return open follow-up items of every review, by due time (none due last)."""
    rows = session.execute(
        select(ReviewFollowUp, IncidentReview.title)
        .join(IncidentReview, IncidentReview.id == ReviewFollowUp.review_id)
        .where(ReviewFollowUp.state == model.OPEN)
        .order_by(ReviewFollowUp.id)
        .limit(limit)
    )
    found = [OpenFollowUp(_follow_up(row), title) for row, title in rows]
    return sorted(found, key=lambda entry: _follow_up_order(entry.item))


def _follow_up_order(item: FollowUp) -> tuple[int, int, datetime, int]:
    state_rank = (
        model.FOLLOW_UP_STATES.index(item.state) if item.state in model.FOLLOW_UP_STATES else 9
    )
    due = item.due_at or item.created_at
    return (state_rank, 0 if item.due_at is not None else 1, due, item.id)


def _external_ids(session: Session, account_ids: Sequence[Any]) -> dict[int, str]:
    ids = sorted({int(i) for i in account_ids})
    if not ids:
        return {}
    return dict(
        session.execute(select(Account.id, Account.external_id).where(Account.id.in_(ids))).all()
    )


def _review(row: IncidentReview, names: dict[int, str]) -> Review:
    ids = tuple(int(i) for i in row.account_ids or [])
    return Review(
        id=row.id,
        title=row.title,
        origin=row.origin,
        origin_id=row.origin_id,
        account_ids=ids,
        accounts=tuple(names.get(i, f"#{i}") for i in ids),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        state=row.state,
        impact=row.impact,
        root_cause=row.root_cause,
        went_well=row.went_well,
        went_badly=row.went_badly,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        closed_at=row.closed_at,
    )


def _follow_up(row: ReviewFollowUp) -> FollowUp:
    return FollowUp(
        id=row.id,
        review_id=row.review_id,
        title=row.title,
        owner=row.owner,
        due_at=row.due_at,
        state=row.state,
        outcome=row.outcome,
        closed_by=row.closed_by,
        closed_at=row.closed_at,
        created_at=row.created_at,
    )


# --- changing ----------------------------------------------------------------------------


def save_template(
    session: Session, review_id: int, texts: dict[str, str], *, actor: str, now: datetime
) -> None:
    """Keep the template's texts (impact, root cause, went well, went badly)."""
    row = _editable(session, review_id)
    unknown = sorted(set(texts) - set(model.SECTION_NAMES))
    if unknown:
        raise ReviewInvalid(f"The template has no field {unknown[0][:40]!r}.")
    cleaned = {name: model.check_text(value, what=_heading(name)) for name, value in texts.items()}
    before = {name: getattr(row, name) for name in cleaned}
    changed = {name: value for name, value in cleaned.items() if before[name] != value}
    if not changed:
        return
    for name, value in changed.items():
        setattr(row, name, value)
    was = row.state
    if row.state == model.DRAFT:
        row.state = model.IN_REVIEW
    row.updated_at = now
    record(
        session,
        actor=actor,
        tag="review:review:edit",
        subject_type=SUBJECT,
        subject_id=review_id,
        at=now,
        before={**{name: before[name] for name in changed}, "state": was},
        after={**changed, "state": row.state},
    )


def change_scope(
    session: Session,
    review_id: int,
    *,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    accounts: Sequence[str],
    rules: WindowRules,
    actor: str,
    now: datetime,
) -> None:
    """Change a review's title, window and accounts (none: every account)."""
    row = _editable(session, review_id)
    cleaned = model.check_title(title)
    rules.check(starts_at, ends_at, accounts=len(accounts))
    ids = account_ids_of(session, accounts)
    before = _scope(row)
    row.title = cleaned
    row.starts_at = starts_at
    row.ends_at = ends_at
    row.account_ids = ids
    after = _scope(row)
    if before == after:
        return
    row.updated_at = now
    record(
        session,
        actor=actor,
        tag="review:review:scope",
        subject_type=SUBJECT,
        subject_id=review_id,
        at=now,
        before=before,
        after=after,
    )


def close_review(session: Session, review_id: int, *, actor: str, now: datetime) -> None:
    """Close a review whose impact and root cause are written."""
    row = _row(session, review_id)
    model.check_close(_review(row, {}))
    was = row.state
    row.state = model.CLOSED
    row.closed_at = now
    row.updated_at = now
    record(
        session,
        actor=actor,
        tag="review:review:close",
        subject_type=SUBJECT,
        subject_id=review_id,
        at=now,
        before={"state": was},
        after={"state": model.CLOSED},
    )


def reopen_review(
    session: Session, review_id: int, *, reason: str, actor: str, now: datetime
) -> None:
    """Reopen a closed review, saying why."""
    row = _row(session, review_id)
    if row.state != model.CLOSED:
        raise ReviewInvalid("The review is not closed.")
    why = model.check_text(reason, limit=model.MAX_FOLLOW_UP, what="The reason")
    if not why:
        raise ReviewInvalid("Say why the review is reopened.")
    row.state = model.IN_REVIEW
    row.closed_at = None
    row.updated_at = now
    record(
        session,
        actor=actor,
        tag="review:review:reopen",
        subject_type=SUBJECT,
        subject_id=review_id,
        at=now,
        before={"state": model.CLOSED},
        after={"state": model.IN_REVIEW},
        reason=why,
    )


def add_follow_up(
    session: Session,
    review_id: int,
    *,
    title: str,
    owner: str,
    due_at: datetime | None,
    actor: str,
    now: datetime,
) -> int:
    """Add a follow-up item owned by a workbench user; return its id."""
    _editable(session, review_id)
    what = model.check_text(title, limit=model.MAX_FOLLOW_UP, what="A follow-up item")
    if not what:
        raise ReviewInvalid("Say what the follow-up item is.")
    username = owner.strip().lower()
    if not username:
        raise ReviewInvalid("Name the follow-up item's owner (a username).")
    if session.scalar(select(User.id).where(User.username == username)) is None:
        raise ReviewInvalid(f"No user {username[:64]!r} to own the follow-up item.")
    row = ReviewFollowUp(
        review_id=review_id,
        title=what,
        owner=username,
        due_at=due_at,
        state=model.OPEN,
        created_at=now,
    )
    session.add(row)
    session.flush()
    record(
        session,
        actor=actor,
        tag="review:followup:add",
        subject_type=FOLLOW_UP_SUBJECT,
        subject_id=row.id,
        at=now,
        after={
            "review_id": review_id,
            "title": what,
            "owner": username,
            "due_at": due_at.isoformat() if due_at else None,
        },
    )
    return row.id


def finish_follow_up(
    session: Session,
    review_id: int,
    follow_up_id: int,
    *,
    state: str,
    outcome: str,
    actor: str,
    now: datetime,
) -> None:
    """Mark a follow-up item done or dropped, with what came of it (or why it was dropped)."""
    if state not in (model.DONE, model.DROPPED):
        raise ReviewInvalid("A follow-up item ends done or dropped.")
    row = session.get(ReviewFollowUp, follow_up_id)
    if row is None or row.review_id != review_id:
        raise NotFound(f"no follow-up item #{follow_up_id} on review #{review_id}")
    if row.state != model.OPEN:
        raise model.FollowUpClosed(f"The follow-up item is already {row.state}.")
    said = model.check_text(outcome, limit=model.MAX_FOLLOW_UP, what="The outcome")
    if not said:
        raise ReviewInvalid(
            "Say what was done." if state == model.DONE else "Say why the item is dropped."
        )
    row.state = state
    row.outcome = said
    row.closed_by = actor
    row.closed_at = now
    record(
        session,
        actor=actor,
        tag=f"review:followup:{'done' if state == model.DONE else 'drop'}",
        subject_type=FOLLOW_UP_SUBJECT,
        subject_id=follow_up_id,
        at=now,
        before={"state": model.OPEN},
        after={"state": state, "outcome": said, "review_id": review_id},
    )


def _row(session: Session, review_id: int) -> IncidentReview:
    row = session.get(IncidentReview, review_id)
    if row is None:
        raise NotFound(f"no review #{review_id}")
    return row


def _editable(session: Session, review_id: int) -> IncidentReview:
    row = _row(session, review_id)
    if row.state == model.CLOSED:
        raise ReviewClosed("The review is closed; reopen it to change it.")
    return row


def _scope(row: IncidentReview) -> dict[str, Any]:
    return {
        "title": row.title,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "account_ids": list(row.account_ids),
    }


def _heading(name: str) -> str:
    return next(section.heading for section in model.TEMPLATE if section.name == name)


# --- the timeline ------------------------------------------------------------------------


def timeline(session: Session, subject: Review, *, limit: int) -> Timeline:
    """Assemble the review's timeline from every source, each cut at *limit* entries."""
    truncated: list[str] = []
    buckets = _event_buckets(session, subject, limit)
    if len(buckets) > limit:
        truncated.append(model.SOURCE_LABELS[model.EVENTS])
        buckets = buckets[:limit]
    sources = [model.event_entries(buckets)]
    for source, read in (
        (model.SIGNAL, _signal_entries),
        (model.CASE_HISTORY, _history_entries),
        (model.NOTE, _note_entries),
        (model.ACTION, _action_entries),
        (model.MESSAGE, _message_entries),
    ):
        entries = read(session, subject, limit + 1)
        if len(entries) > limit:
            truncated.append(model.SOURCE_LABELS[source])
            entries = entries[:limit]
        sources.append(entries)
    return Timeline(
        entries=model.merge_timeline(*sources),
        hourly_events=model.events_per_hour(buckets),
        truncated=tuple(truncated),
    )


def _in_window(column: Any, subject: Review) -> ColumnElement[bool]:
    return and_(column >= subject.starts_at, column < subject.ends_at)


def _accounts(column: Any, subject: Review) -> ColumnElement[bool] | None:
    return column.in_(list(subject.account_ids)) if subject.account_ids else None


def _epoch_hour(session: Session, column: Any) -> ColumnElement[Any]:
    """Return the SQL for the whole hours since 1970 of a UTC time column."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), BigInteger)
    return cast(func.strftime("%s", column), BigInteger) // 3600


def _event_buckets(session: Session, subject: Review, limit: int) -> list[EventBucket]:
    hour = _epoch_hour(session, Event.occurred_at).label("hour")
    query = (
        select(
            hour,
            Account.external_id,
            Event.category,
            Event.service,
            func.count(Event.id),
            func.count(func.distinct(Event.reporter)),
        )
        .join(Account, Account.id == Event.account_id)
        .where(_in_window(Event.occurred_at, subject))
        .group_by(hour, Account.external_id, Event.category, Event.service)
        .order_by(hour, Account.external_id, Event.category, Event.service)
        .limit(limit + 1)
    )
    scope = _accounts(Event.account_id, subject)
    if scope is not None:
        query = query.where(scope)
    return [
        EventBucket(
            hour=datetime.fromtimestamp(int(epoch_hour) * 3600, tz=UTC),
            account=external_id,
            category=category,
            service=service,
            count=int(count),
            reporters=int(reporters),
        )
        for epoch_hour, external_id, category, service, count, reporters in session.execute(query)
    ]


def _signal_entries(session: Session, subject: Review, limit: int) -> list[TimelineEntry]:
    query = (
        select(Signal, Account.external_id)
        .outerjoin(Account, Account.id == Signal.account_id)
        .where(or_(_in_window(Signal.raised_at, subject), _in_window(Signal.resolved_at, subject)))
        .order_by(Signal.raised_at, Signal.id)
        .limit(limit)
    )
    scope = _accounts(Signal.account_id, subject)
    if scope is not None:
        if subject.origin == model.SPIKE and subject.origin_id is not None:
            scope = or_(scope, Signal.id == subject.origin_id)
        query = query.where(scope)
    entries = []
    for signal, external_id in session.execute(query):
        link = (
            f"/cases/{signal.case_id}"
            if signal.case_id is not None
            else f"/accounts/{quote(external_id, safe='')}"
            if external_id
            else ""
        )
        about = f" about account {external_id}" if external_id else ""
        if subject.starts_at <= signal.raised_at < subject.ends_at:
            entries.append(
                TimelineEntry(
                    at=signal.raised_at,
                    source=model.SIGNAL,
                    what=f"signal #{signal.id} {signal.kind} ({signal.severity}){about}",
                    actor=f"monitor:{signal.kind.split('.', 1)[0]}",
                    detail=signal.reason
                    + (f" Decision: {signal.decision}" if signal.decision else ""),
                    link=link,
                    key=signal.id,
                )
            )
        ended = signal.resolved_at
        if ended is not None and subject.starts_at <= ended < subject.ends_at:
            entries.append(
                TimelineEntry(
                    at=ended,
                    source=model.SIGNAL,
                    what=f"signal #{signal.id} {signal.kind} ended",
                    actor=signal.resolved_by or "",
                    detail=signal.resolution or "",
                    link=link,
                    key=signal.id,
                )
            )
    return entries


def _case_scope(subject: Review) -> ColumnElement[bool] | None:
    return _accounts(Case.account_id, subject)


def _history_entries(session: Session, subject: Review, limit: int) -> list[TimelineEntry]:
    query = (
        select(CaseHistoryEntry)
        .join(Case, Case.id == CaseHistoryEntry.case_id)
        .where(_in_window(CaseHistoryEntry.at, subject))
        .order_by(CaseHistoryEntry.at, CaseHistoryEntry.id)
        .limit(limit)
    )
    scope = _case_scope(subject)
    if scope is not None:
        query = query.where(scope)
    entries = []
    for step in session.scalars(query):
        change = ""
        if step.from_value and step.to_value:
            change = f": {step.from_value} to {step.to_value}"
        elif step.to_value:
            change = f": {step.to_value}"
        elif step.from_value:
            change = f": was {step.from_value}"
        entries.append(
            TimelineEntry(
                at=step.at,
                source=model.CASE_HISTORY,
                what=f"case #{step.case_id} {step.kind.replace('_', ' ')}{change}",
                actor=step.actor,
                detail=step.reason or "",
                link=f"/cases/{step.case_id}",
                key=step.id,
            )
        )
    return entries


def _note_entries(session: Session, subject: Review, limit: int) -> list[TimelineEntry]:
    query = (
        select(CaseNote)
        .join(Case, Case.id == CaseNote.case_id)
        .where(_in_window(CaseNote.created_at, subject))
        .order_by(CaseNote.created_at, CaseNote.id)
        .limit(limit)
    )
    scope = _case_scope(subject)
    if scope is not None:
        query = query.where(scope)
    return [
        TimelineEntry(
            at=note.created_at,
            source=model.NOTE,
            what=f"note on case #{note.case_id}",
            actor=note.author,
            detail=_excerpt(note.body, NOTE_EXCERPT),
            link=f"/cases/{note.case_id}",
            key=note.id,
        )
        for note in session.scalars(query)
    ]


def _action_entries(session: Session, subject: Review, limit: int) -> list[TimelineEntry]:
    steps = (
        EnforcementAction.proposed_at,
        EnforcementAction.approved_at,
        EnforcementAction.rejected_at,
        EnforcementAction.executed_at,
        EnforcementAction.dead_at,
    )
    query = (
        select(EnforcementAction, Account.external_id)
        .join(Account, Account.id == EnforcementAction.account_id)
        .where(or_(*(_in_window(column, subject) for column in steps)))
        .order_by(EnforcementAction.proposed_at, EnforcementAction.id)
        .limit(limit)
    )
    scope = _accounts(EnforcementAction.account_id, subject)
    if scope is not None:
        query = query.where(scope)
    entries = []
    for action, external_id in session.execute(query):
        link = (
            f"/cases/{action.case_id}"
            if action.case_id
            else f"/accounts/{quote(external_id, safe='')}"
        )
        name = action.action.replace("_", " ")
        happened = (
            (action.proposed_at, "proposed", action.proposed_by, action.reason),
            (action.approved_at, "approved", action.approved_by, ""),
            (action.rejected_at, "rejected", action.rejected_by, ""),
            (action.executed_at, "executed", action.executed_by, ""),
            (action.dead_at, "failed for good", "", action.failure or ""),
        )
        for at, verb, who, detail in happened:
            if at is None or not subject.starts_at <= at < subject.ends_at:
                continue
            entries.append(
                TimelineEntry(
                    at=at,
                    source=model.ACTION,
                    what=f"action #{action.id} {name} on account {external_id} {verb}",
                    actor=who or "",
                    detail=detail,
                    link=link,
                    key=action.id,
                )
            )
    return entries


def _message_entries(session: Session, subject: Review, limit: int) -> list[TimelineEntry]:
    query = (
        select(CustomerMessage)
        .where(_in_window(CustomerMessage.created_at, subject))
        .order_by(CustomerMessage.created_at, CustomerMessage.id)
        .limit(limit)
    )
    scope = _accounts(CustomerMessage.account_id, subject)
    if scope is not None:
        query = query.where(scope)
    entries = []
    for message in session.scalars(query):
        inbound = message.direction == "in"
        kind = message.kind.replace("_", " ")
        what = (
            f"the customer wrote on case #{message.case_id} ({kind})"
            if inbound
            else f"{kind} to the customer on case #{message.case_id} ({message.state})"
        )
        entries.append(
            TimelineEntry(
                at=message.created_at,
                source=model.MESSAGE,
                what=what,
                actor="customer" if inbound else message.created_by,
                detail=_excerpt(message.subject, SUBJECT_EXCERPT),
                link=f"/cases/{message.case_id}",
                key=message.id,
            )
        )
    return entries


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
