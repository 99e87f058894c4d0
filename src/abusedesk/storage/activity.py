"""Hourly hosted-mailbox and SMS activity: idempotent loading, reading, and episodes.

Rows name their account by external id and their mailbox or origination by value, as
an import does; a row naming something the inventory lacks, or carrying impossible
figures, is refused with its line and reason and the others are written. Writing the
same hour again replaces its figures, so loading twice changes nothing.
"""

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.orm import Session

from abusedesk.anomalies.model import (
    DestinationTotals,
    MailboxHour,
    MailboxTotals,
    SmsHour,
    SmsTotals,
    hours_between,
)
from abusedesk.attribution.keys import ResourceKind
from abusedesk.core.errors import AbuseDeskError
from abusedesk.demo.activity import generate_activity
from abusedesk.demo.model import DemoProvider, Traffic
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.tables import (
    Account,
    ActivityEpisode,
    MailboxStat,
    Resource,
    SmsStat,
)

SMS_RESOURCE_KINDS = (ResourceKind.ORIGINATION_NUMBER, ResourceKind.SENDER_ID)
_CHUNK = 500


@dataclass(frozen=True)
class RowProblem:
    """A refused row: its line (1-based, in the order given) and why."""

    line: int
    message: str


@dataclass
class ActivityLoad:
    """What one load wrote and refused."""

    written: int = 0
    refused: list[RowProblem] = field(default_factory=list)


class ActivityRejected(AbuseDeskError):
    """Raise when generated activity figures are refused (a generator bug)."""


def seed_activity(session: Session, provider: DemoProvider, traffic: Traffic) -> dict[str, int]:
    """Write a generated provider's mailbox and SMS figures; return the rows per table.

    The provider's inventory must be loaded first; the caller owns the transaction.
    """
    activity = generate_activity(provider, traffic)
    counts: dict[str, int] = {}
    for table, outcome in (
        ("mailbox_stats", write_mailbox_hours(session, activity.mailboxes)),
        ("sms_stats", write_sms_hours(session, activity.sms)),
    ):
        if outcome.refused:
            first = outcome.refused[0]
            raise ActivityRejected(
                f"{len(outcome.refused)} generated {table} rows were refused; "
                f"row {first.line}: {first.message}"
            )
        counts[table] = outcome.written
    return counts


# --- loading --------------------------------------------------------------------------------


def write_mailbox_hours(session: Session, rows: Sequence[MailboxHour]) -> ActivityLoad:
    """Upsert hourly mailbox figures; the caller owns the transaction."""
    outcome = ActivityLoad()
    resources = _resources(session, {(r.account, r.mailbox) for r in rows}, (ResourceKind.MAILBOX,))
    values: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=1):
        problems = row.problems()
        found = resources.get((row.account, row.mailbox))
        if found is None:
            problems.append(f"no mailbox {row.mailbox!r} of account {row.account!r}")
        if problems or found is None:
            outcome.refused.append(RowProblem(line, "; ".join(problems)))
            continue
        values.append(
            {
                "account_id": found[0],
                "resource_id": found[1],
                "hour": row.hour,
                "sent": row.sent,
                "recipients": row.recipients,
                "bounces": row.bounces,
                "complaints": row.complaints,
                "fingerprint_hits": row.fingerprint_hits,
                "client_ips": sorted(set(row.client_ips)),
                "client_countries": sorted({c.upper() for c in row.client_countries}),
            }
        )
    outcome.written = _upsert(session, MailboxStat, ("resource_id", "hour"), values)
    return outcome


def write_sms_hours(session: Session, rows: Sequence[SmsHour]) -> ActivityLoad:
    """Upsert hourly SMS figures; the caller owns the transaction."""
    outcome = ActivityLoad()
    resources = _resources(session, {(r.account, r.origination) for r in rows}, SMS_RESOURCE_KINDS)
    values: list[dict[str, Any]] = []
    for line, row in enumerate(rows, start=1):
        problems = row.problems()
        found = resources.get((row.account, row.origination))
        if found is None:
            problems.append(
                f"no origination number or sender id {row.origination!r} of account {row.account!r}"
            )
        if problems or found is None:
            outcome.refused.append(RowProblem(line, "; ".join(problems)))
            continue
        values.append(
            {
                "account_id": found[0],
                "resource_id": found[1],
                "hour": row.hour,
                "destination_country": row.country.upper(),
                "number_range": row.number_range,
                "sent": row.sent,
                "delivered": row.delivered,
                "converted": row.converted,
            }
        )
    key = ("resource_id", "hour", "destination_country", "number_range")
    outcome.written = _upsert(session, SmsStat, key, values)
    return outcome


def _resources(
    session: Session, names: Iterable[tuple[str, str]], kinds: Sequence[str]
) -> dict[tuple[str, str], tuple[int, int]]:
    """Return (account id, resource id) for each (external id, resource value) found."""
    wanted = set(names)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    values = sorted({value for _, value in wanted})
    for start in range(0, len(values), _CHUNK):
        statement = (
            select(Account.external_id, Resource.value, Account.id, Resource.id)
            .join(Resource, Resource.account_id == Account.id)
            .where(Resource.kind.in_(kinds), Resource.value.in_(values[start : start + _CHUNK]))
        )
        for external_id, value, account_id, resource_id in session.execute(statement):
            if (external_id, value) in wanted:
                found[(external_id, value)] = (account_id, resource_id)
    return found


def _upsert(
    session: Session, model: type[Any], key: Sequence[str], values: list[dict[str, Any]]
) -> int:
    if not values:
        return 0
    statement = insert_for(session, model)
    columns = [c for c in values[0] if c not in key]
    upsert = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in columns}
    )
    for start in range(0, len(values), _CHUNK):
        session.execute(upsert, values[start : start + _CHUNK])
    return len(values)


# --- reading --------------------------------------------------------------------------------


def mailbox_hours(
    session: Session, start: datetime, end: datetime, *, accounts: Iterable[str] | None = None
) -> list[MailboxHour]:
    """Return the mailbox figures of hours in [start, end), of *accounts* (external ids) only."""
    statement = (
        select(MailboxStat, Account.external_id, Resource.value)
        .join(Account, Account.id == MailboxStat.account_id)
        .join(Resource, Resource.id == MailboxStat.resource_id)
        .where(MailboxStat.hour >= start, MailboxStat.hour < end)
        .order_by(MailboxStat.account_id, MailboxStat.hour)
    )
    return [
        MailboxHour(
            account=external_id,
            mailbox=mailbox,
            hour=stat.hour,
            sent=stat.sent,
            recipients=stat.recipients,
            bounces=stat.bounces,
            complaints=stat.complaints,
            fingerprint_hits=stat.fingerprint_hits,
            client_ips=tuple(str(ip) for ip in stat.client_ips),
            client_countries=tuple(str(c) for c in stat.client_countries),
        )
        for chunk in _account_chunks(statement, Account.external_id, accounts)
        for stat, external_id, mailbox in session.execute(chunk)
    ]


def sms_hours(
    session: Session, start: datetime, end: datetime, *, accounts: Iterable[str] | None = None
) -> list[SmsHour]:
    """Return the SMS figures of hours in [start, end), of *accounts* (external ids) only."""
    statement = (
        select(SmsStat, Account.external_id, Resource.value)
        .join(Account, Account.id == SmsStat.account_id)
        .join(Resource, Resource.id == SmsStat.resource_id)
        .where(SmsStat.hour >= start, SmsStat.hour < end)
        .order_by(SmsStat.account_id, SmsStat.hour)
    )
    return [
        SmsHour(
            account=external_id,
            origination=origination,
            hour=stat.hour,
            country=stat.destination_country,
            number_range=stat.number_range,
            sent=stat.sent,
            delivered=stat.delivered,
            converted=stat.converted,
        )
        for chunk in _account_chunks(statement, Account.external_id, accounts)
        for stat, external_id, origination in session.execute(chunk)
    ]


def _account_chunks(statement: Any, column: Any, accounts: Iterable[str] | None) -> Iterator[Any]:
    if accounts is None:
        yield statement
        return
    chosen = sorted(set(accounts))
    for start in range(0, len(chosen), _CHUNK):
        yield statement.where(column.in_(chosen[start : start + _CHUNK]))


def account_ids(session: Session, external_ids: Iterable[str]) -> dict[str, int]:
    """Return the ids of the accounts with these external ids."""
    chosen = sorted(set(external_ids))
    found: dict[str, int] = {}
    for start in range(0, len(chosen), _CHUNK):
        rows = session.execute(
            select(Account.external_id, Account.id).where(
                Account.external_id.in_(chosen[start : start + _CHUNK])
            )
        )
        found.update(dict(rows.all()))
    return found


# --- baselines, summed by the database -------------------------------------------------------

Period = tuple[datetime, datetime]


def mailbox_baselines(
    session: Session, periods: Mapping[str, Period]
) -> dict[tuple[str, str], MailboxTotals]:
    """Return each mailbox's totals over its account's period (external id -> [start, end)).

    A mailbox's period starts at its first hour with figures (as ``mailbox_totals`` with
    *since_first*). Rows with impossible counts are left out of the sums.
    """
    sums = select(
        Account.external_id,
        Resource.value,
        func.min(MailboxStat.hour),
        func.sum(MailboxStat.sent),
        func.sum(MailboxStat.recipients),
        func.sum(MailboxStat.bounces),
        func.sum(MailboxStat.complaints),
        func.sum(MailboxStat.fingerprint_hits),
    ).group_by(Account.external_id, Resource.value)
    places = select(
        Account.external_id,
        Resource.value,
        cast(MailboxStat.client_ips, Text),
        cast(MailboxStat.client_countries, Text),
    ).distinct()
    found: dict[tuple[str, str], MailboxTotals] = {}
    ips: dict[tuple[str, str], set[str]] = {}
    countries: dict[tuple[str, str], set[str]] = {}
    for (start, end), names in _by_period(periods).items():
        for chunk in _chunks(names):
            for account, mailbox, first, *counts in session.execute(
                _scoped(sums, start, end, chunk)
            ):
                sent, recipients, bounces, complaints, hits = (int(c or 0) for c in counts)
                found[account, mailbox] = MailboxTotals(
                    hours=hours_between(first, end),
                    sent=sent,
                    recipients=recipients,
                    bounces=bounces,
                    complaints=complaints,
                    fingerprint_hits=hits,
                )
            for account, mailbox, ip_list, country_list in session.execute(
                _scoped(places, start, end, chunk)
            ):
                ips.setdefault((account, mailbox), set()).update(_strings(ip_list))
                countries.setdefault((account, mailbox), set()).update(_strings(country_list))
    return {
        key: MailboxTotals(
            hours=totals.hours,
            sent=totals.sent,
            recipients=totals.recipients,
            bounces=totals.bounces,
            complaints=totals.complaints,
            fingerprint_hits=totals.fingerprint_hits,
            client_ips=frozenset(ips.get(key, ())),
            client_countries=frozenset(countries.get(key, ())),
        )
        for key, totals in found.items()
    }


def _scoped(statement: Any, start: datetime, end: datetime, accounts: list[str]) -> Any:
    """Return *statement* over the sound mailbox rows of *accounts* in [start, end)."""
    return (
        statement.join(Account, Account.id == MailboxStat.account_id)
        .join(Resource, Resource.id == MailboxStat.resource_id)
        .where(
            MailboxStat.hour >= start,
            MailboxStat.hour < end,
            Account.external_id.in_(accounts),
            MailboxStat.sent >= 0,
            MailboxStat.recipients >= 0,
            MailboxStat.bounces.between(0, MailboxStat.sent),
            MailboxStat.complaints.between(0, MailboxStat.sent),
            MailboxStat.fingerprint_hits.between(0, MailboxStat.sent),
        )
    )


def sms_baselines(session: Session, periods: Mapping[str, Period]) -> dict[str, SmsTotals]:
    """Return each account's SMS totals per destination country over its period.

    An account's period starts at its first hour with figures; number ranges and
    originations are left empty (the checks read them from the window only). Rows with
    impossible counts are left out of the sums.
    """
    statement = select(
        Account.external_id,
        SmsStat.destination_country,
        func.min(SmsStat.hour),
        func.sum(SmsStat.sent),
        func.sum(SmsStat.delivered),
        func.sum(case((SmsStat.converted.is_not(None), SmsStat.sent), else_=0)),
        func.sum(func.coalesce(SmsStat.converted, 0)),
    ).group_by(Account.external_id, SmsStat.destination_country)
    firsts: dict[str, datetime] = {}
    ends: dict[str, datetime] = {}
    by_country: dict[str, dict[str, DestinationTotals]] = {}
    for (start, end), names in _by_period(periods).items():
        for chunk in _chunks(names):
            scoped = statement.join(Account, Account.id == SmsStat.account_id).where(
                SmsStat.hour >= start,
                SmsStat.hour < end,
                Account.external_id.in_(chunk),
                SmsStat.delivered.between(0, SmsStat.sent),
                func.coalesce(SmsStat.converted, 0).between(0, SmsStat.sent),
            )
            for account, country, first, *counts in session.execute(scoped):
                sent, delivered, tracked, converted = (int(c or 0) for c in counts)
                firsts[account] = min(firsts.get(account, first), first)
                ends[account] = end
                by_country.setdefault(account, {})[country] = DestinationTotals(
                    sent, delivered, tracked, converted
                )
    return {
        account: SmsTotals(
            hours=hours_between(firsts[account], ends[account]), by_country=countries
        )
        for account, countries in by_country.items()
    }


def _by_period(periods: Mapping[str, Period]) -> dict[Period, list[str]]:
    grouped: dict[Period, list[str]] = {}
    for account, period in sorted(periods.items()):
        grouped.setdefault(period, []).append(account)
    return grouped


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _strings(stored: str | None) -> list[str]:
    """Return the strings of a JSON list read back as text."""
    if not stored:
        return []
    values = json.loads(stored)
    return [str(v) for v in values] if isinstance(values, list) else []


# --- episodes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Episode:
    """An open (or just ended) compromise or pumping episode of one account."""

    account_id: int
    kind: str
    started_at: datetime
    baseline_end: datetime
    last_seen_at: datetime
    subjects: tuple[str, ...]


def open_episodes(session: Session, kind: str, *, seen_since: datetime) -> dict[int, Episode]:
    """Return each account's open episode of *kind* last seen at or after *seen_since*."""
    rows = session.scalars(
        select(ActivityEpisode).where(
            ActivityEpisode.kind == kind,
            ActivityEpisode.ended_at.is_(None),
            ActivityEpisode.last_seen_at >= seen_since,
        )
    )
    return {row.account_id: _episode(row) for row in rows}


def record_sighting(
    session: Session,
    *,
    account_id: int,
    kind: str,
    at: datetime,
    baseline_end: datetime,
    subjects: Sequence[str],
    figures: dict[str, Any],
    seen_since: datetime,
) -> Episode:
    """Extend the account's open episode of *kind*, or open one; return it.

    An episode is open while it was last seen at or after *seen_since*; a sighting at
    the same *at* twice changes nothing.
    """
    row = session.scalars(
        select(ActivityEpisode)
        .where(
            ActivityEpisode.account_id == account_id,
            ActivityEpisode.kind == kind,
            ActivityEpisode.ended_at.is_(None),
            ActivityEpisode.last_seen_at >= seen_since,
        )
        .order_by(ActivityEpisode.started_at.desc())
        .limit(1)
    ).first()
    if row is None:
        row = ActivityEpisode(
            account_id=account_id,
            kind=kind,
            started_at=at,
            baseline_end=baseline_end,
            last_seen_at=at,
            subjects=sorted(set(subjects)),
            figures=figures,
        )
        session.add(row)
    else:
        row.last_seen_at = max(row.last_seen_at, at)
        row.subjects = sorted(set(row.subjects) | set(subjects))
        row.figures = figures
    session.flush()
    return _episode(row)


def end_quiet_episodes(session: Session, kind: str, *, seen_before: datetime) -> list[Episode]:
    """End the open episodes of *kind* last seen before *seen_before*; return them."""
    rows = session.scalars(
        select(ActivityEpisode)
        .where(
            ActivityEpisode.kind == kind,
            ActivityEpisode.ended_at.is_(None),
            ActivityEpisode.last_seen_at < seen_before,
        )
        .order_by(ActivityEpisode.id)
    ).all()
    for row in rows:
        row.ended_at = row.last_seen_at
    return [_episode(row) for row in rows]


def _episode(row: ActivityEpisode) -> Episode:
    return Episode(
        account_id=row.account_id,
        kind=row.kind,
        started_at=row.started_at,
        baseline_end=row.baseline_end,
        last_seen_at=row.last_seen_at,
        subjects=tuple(str(s) for s in row.subjects),
    )
