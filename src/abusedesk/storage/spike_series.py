"""Hourly series for the spike monitor, counted by the database.

Complaint series count, per hour and per account, reporter, destination provider,
category or content fingerprint, the *distinct recipients* who complained (the
``recipient_hash`` indicator), else the distinct messages (``message_id``), else the
events themselves. One person reporting the same message fifty times in an hour counts
once, so nobody can fake a spike alone.

A complaint's hour is when the reporter made it (the event's ``reported_at``: an ARF
report's date, an SES complaint's timestamp), else when the reported thing happened
(``occurred_at``), so importing a backlog of old reports does not look like a spike. A
date after the report's arrival, or more than 90 days before it, is not trusted, and
the arrival hour (``reports.received_at``) counts instead. Reporter volumes count by arrival: a feed that stops shows as a gap at once.

Only reports that arrived in the window are read. Each query is one GROUP BY over the
window, reading reports through their arrival index and events through their report;
Python only lays the grouped rows out as numpy arrays.

Sending series (for new accounts' bursts) sum ``sending_stats`` over destination
groups, for the account as a whole (``resource_key = ''``).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session, aliased

from abusedesk.storage.tables import Account, Event, EventIndicator, Report, SendingStat

HOUR = timedelta(hours=1)
# A complaint dated more than this before it reached us is counted at its arrival (the
# longest history a baseline reads: older dates fall outside every window anyway).
MAX_REPORT_DELAY_HOURS = 90 * 24

ACCOUNT = "account"
REPORTER = "reporter"
PROVIDER = "provider"
CATEGORY = "category"
CONTENT = "content"
DIMENSIONS = (ACCOUNT, REPORTER, PROVIDER, CATEGORY, CONTENT)


@dataclass(frozen=True)
class HourlySeries:
    """Counts per hour for many series: row i is *keys[i]*, column 0 is *start*."""

    dimension: str
    start: datetime
    keys: tuple[str, ...]
    counts: npt.NDArray[np.int64]

    @property
    def hours(self) -> int:
        """Return how many hours the series cover."""
        return int(self.counts.shape[1])


def complaint_series(
    session: Session,
    dimension: str,
    *,
    start: datetime,
    end: datetime,
    excluded_categories: Iterable[str] = (),
    content_keys: Sequence[str] = (),
    provider_groups: Mapping[str, str] | None = None,
    candidates_since: datetime | None = None,
    candidate_min: int = 1,
) -> HourlySeries:
    """Return distinct complainants per hour in [start, end) for every value of *dimension*.

    *start* and *end* are on the hour. Events of *excluded_categories* (bounces, DMARC
    records ...) are left out. ``content`` series are per value of the indicators named
    in *content_keys*. ``provider`` series are per recipient domain, merged into a
    provider's name where *provider_groups* maps the domain to one. With
    *candidates_since*, only the series with at least *candidate_min* in one hour from
    then on are returned (the only ones that can spike).
    """
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown series dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
    return _distinct_series(
        session,
        dimension,
        start=start,
        end=end,
        excluded_categories=tuple(excluded_categories),
        content_keys=tuple(content_keys),
        provider_groups=provider_groups or {},
        candidates_since=candidates_since,
        candidate_min=candidate_min,
    )


def reporter_volume(session: Session, *, start: datetime, end: datetime) -> HourlySeries:
    """Return each reporter's distinct messages (or events) per hour, every category counted.

    What a feed normally brings: a parser or feed problem shows as this collapsing.
    """
    return _distinct_series(
        session,
        REPORTER,
        start=start,
        end=end,
        excluded_categories=(),
        content_keys=(),
        provider_groups={},
        by_arrival=True,
    )


@dataclass(frozen=True)
class NewAccounts:
    """New accounts' messages sent per hour, with when each account was created."""

    start: datetime
    account_ids: tuple[int, ...]
    external_ids: tuple[str, ...]
    created_at: tuple[datetime, ...]
    sent: npt.NDArray[np.int64]


def new_account_sending(
    session: Session, *, created_since: datetime, start: datetime, end: datetime
) -> NewAccounts:
    """Return messages sent per hour in [start, end) by accounts created since *created_since*."""
    accounts = session.execute(
        select(Account.id, Account.external_id, Account.created_at)
        .where(Account.created_at >= created_since)
        .order_by(Account.id)
    ).all()
    hours = _hours_between(start, end)
    sent = np.zeros((len(accounts), hours), dtype=np.int64)
    if accounts:
        row_of = {account_id: row for row, (account_id, _, _) in enumerate(accounts)}
        hour = _epoch_hour(session, SendingStat.hour)
        first = _epoch(start)
        rows = session.execute(
            select(SendingStat.account_id, hour, func.sum(SendingStat.sent))
            .where(
                SendingStat.account_id.in_(list(row_of)),
                SendingStat.resource_key == "",
                SendingStat.hour >= start,
                SendingStat.hour < end,
            )
            .group_by(SendingStat.account_id, hour)
        ).all()
        for account_id, epoch_hour, total in rows:
            sent[row_of[account_id], int(epoch_hour) - first] = int(total or 0)
    return NewAccounts(
        start=start,
        account_ids=tuple(a[0] for a in accounts),
        external_ids=tuple(a[1] for a in accounts),
        created_at=tuple(a[2] for a in accounts),
        sent=sent,
    )


def main_categories(
    session: Session, spikes: Iterable[tuple[int, datetime]], *, excluded: Sequence[str]
) -> dict[tuple[int, datetime], str]:
    """Return, per (account id, hour), the category most of its complaints that hour had."""
    found: dict[tuple[int, datetime], str] = {}
    for account_id, hour in set(spikes):
        statement, category, complaint_hour, who = _counting(
            session,
            CATEGORY,
            start=hour,
            end=hour + (MAX_REPORT_DELAY_HOURS + 1) * HOUR,
            excluded=tuple(excluded),
            facet_keys=(),
            by_arrival=False,
        )
        count = func.count(func.distinct(who))
        row = session.execute(
            statement.where(Event.account_id == account_id, complaint_hour == _epoch(hour))
            .with_only_columns(category, count)
            .group_by(category)
            .order_by(count.desc(), category)
            .limit(1)
        ).first()
        if row is not None:
            found[(account_id, hour)] = str(row[0])
    return found


# --- the counting ------------------------------------------------------------------------


def _distinct_series(
    session: Session,
    dimension: str,
    *,
    start: datetime,
    end: datetime,
    excluded_categories: tuple[str, ...],
    content_keys: tuple[str, ...],
    provider_groups: Mapping[str, str],
    candidates_since: datetime | None = None,
    candidate_min: int = 1,
    by_arrival: bool = False,
) -> HourlySeries:
    keys = ("recipient_domain",) if dimension == PROVIDER else content_keys
    if dimension in (PROVIDER, CONTENT) and not keys:
        return HourlySeries(
            dimension, start, (), np.zeros((0, _hours_between(start, end)), dtype=np.int64)
        )
    statement, value, hour, who = _counting(
        session,
        dimension,
        start=start,
        end=end,
        excluded=excluded_categories,
        facet_keys=keys,
        by_arrival=by_arrival,
    )
    if candidates_since is not None:
        # Only series with a count worth judging in the recent hours are read whole: a
        # month of every link host ever reported would not fit in memory.
        recent, recent_value, recent_hour, recent_who = _counting(
            session,
            dimension,
            start=candidates_since,
            end=end,
            excluded=excluded_categories,
            facet_keys=keys,
            by_arrival=by_arrival,
        )
        candidates = (
            recent.with_only_columns(recent_value)
            .group_by(recent_value, recent_hour)
            .having(func.count(func.distinct(recent_who)) >= candidate_min)
            # Its reports and events are its own, not the outer query's.
            .correlate(None)
        )
        wanted = value.in_(candidates)
        if dimension == PROVIDER and provider_groups:
            # A provider's domains add up: each alone may be below the minimum.
            wanted = wanted | value.in_(sorted(provider_groups))
        statement = statement.where(wanted)
    grouped = statement.with_only_columns(value, hour, func.count(func.distinct(who))).group_by(
        value, hour
    )
    rows = [
        (_series_key(dimension, str(key), provider_groups), int(epoch_hour), int(count))
        for key, epoch_hour, count in session.execute(grouped)
        if key
    ]
    return _lay_out(dimension, start, end, rows)


def _counting(
    session: Session,
    dimension: str,
    *,
    start: datetime,
    end: datetime,
    excluded: tuple[str, ...],
    facet_keys: tuple[str, ...],
    by_arrival: bool,
) -> tuple[Select[Any], Any, ColumnElement[Any], ColumnElement[Any]]:
    """Return the events received in [start, end) with their series value, hour and
    complainant; the hour is the complaint's (see the module) unless *by_arrival*."""
    recipient = aliased(EventIndicator)
    message = aliased(EventIndicator)
    # Prefixes keep a recipient hash, a message id and an event id from ever colliding.
    who = func.coalesce(
        literal("r:") + recipient.value,
        literal("m:") + message.value,
        literal("e:") + cast(Event.id, String),
    )
    arrived = _epoch_hour(session, Report.received_at)
    hour = arrived
    if not by_arrival:
        # The reporter's own date, else the reported thing's, unless missing or
        # implausible (after arrival, or long before it): reporters write them.
        reported = _epoch_hour(session, Event.reported_at)
        occurred = _epoch_hour(session, Event.occurred_at)
        hour = case(
            (_plausible(Event.reported_at, reported, arrived), reported),
            (_plausible(Event.occurred_at, occurred, arrived), occurred),
            else_=arrived,
        )
    statement = (
        select(Report.id)
        .join(Event, Event.report_id == Report.id)
        .outerjoin(
            recipient,
            and_(recipient.event_id == Event.id, recipient.key == "recipient_hash"),
        )
        .outerjoin(message, and_(message.event_id == Event.id, message.key == "message_id"))
        .where(Report.received_at >= start, Report.received_at < end)
    )
    if excluded:
        statement = statement.where(Event.category.not_in(excluded))
    value: Any
    if dimension == ACCOUNT:
        value = cast(Event.account_id, String)
        statement = statement.where(Event.account_id.is_not(None))
    elif dimension == REPORTER:
        value = func.lower(Event.reporter)
        statement = statement.where(Event.reporter.is_not(None))
    elif dimension == CATEGORY:
        value = Event.category
    else:
        facet = aliased(EventIndicator)
        statement = statement.join(
            facet, and_(facet.event_id == Event.id, facet.key.in_(facet_keys))
        )
        value = facet.value if dimension == PROVIDER else facet.key + literal(":") + facet.value
    return statement, value, hour, who


def _series_key(dimension: str, value: str, provider_groups: Mapping[str, str]) -> str:
    if dimension == PROVIDER:
        domain = value.lower().rstrip(".")
        return provider_groups.get(domain, domain)
    return value


def _lay_out(
    dimension: str, start: datetime, end: datetime, rows: Sequence[tuple[str, int, int]]
) -> HourlySeries:
    """Return the rows as a (series, hours) array; rows of one key and hour are summed.

    Summing is exact for provider domains merged into one provider: a recipient's
    address has one domain, so no complainant is counted under two.
    """
    keys = sorted({key for key, _, _ in rows})
    row_of = {key: index for index, key in enumerate(keys)}
    hours = _hours_between(start, end)
    counts = np.zeros((len(keys), hours), dtype=np.int64)
    first = _epoch(start)
    for key, epoch_hour, count in rows:
        column = epoch_hour - first
        if 0 <= column < hours:
            counts[row_of[key], column] += count
    return HourlySeries(dimension, start, tuple(keys), counts)


def _epoch_hour(session: Session, column: Any) -> ColumnElement[Any]:
    """Return the SQL for the whole hours since 1970 of a UTC time column."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 3600), BigInteger)
    # Floor division: true division would give each minute a group of its own.
    return cast(func.strftime("%s", column), BigInteger) // 3600


def _plausible(column: Any, hour: ColumnElement[Any], arrived: ColumnElement[Any]) -> Any:
    return and_(column.is_not(None), hour <= arrived, hour >= arrived - MAX_REPORT_DELAY_HOURS)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp()) // 3600


def _hours_between(start: datetime, end: datetime) -> int:
    if end < start:
        raise ValueError(f"a series window ends ({end}) before it starts ({start})")
    return int((end - start) / HOUR)
