"""Trends and the weekly report: daily roll-ups of events, a week's figures, stored reports.

**Roll-ups.** ``report_daily_counts`` holds, per day of arrival (the report's
``received_at``), the events counted by service, category, format, reporter (its domain,
never an address), recipient domain (``provider``; grouped into providers when read) and
account (``""`` when unattributed). `roll_up` adds the events that arrived since its mark,
one batch of event ids at a time, each event once: the mark and the counts commit
together. An event id is counted only once it was the newest id a settling time ago, so
that a transaction still writing lower ids on PostgreSQL has committed by then. An event
is counted as its report and recipients were when it was rolled up. Its account may come
later (the unattributed inbox, the resolver run again): the attribution marks the event's
day of arrival in ``report_dirty_days`` in its own transaction (`mark_accounts_stale`), and
the next roll-up counts that day's accounts afresh from the events it has counted.

**A week's figures.** `weekly_figures` reads the roll-ups for volumes, trends and top
accounts (so a week of millions of events is read as a few thousand rows), and the small
tables (cases, actions, appeals, messages, reports of the week, signals, reviews) for the
rest. Every figure is defined in ``docs/reports.md``.

**Stored reports.** `generate` freezes a week's figures in ``weekly_reports``, keeping the
lead's summary when the report is generated again; both are audited.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, and_, cast, delete, func, or_, select
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.insights import trends as model
from abusedesk.insights.trends import (
    DAY,
    TOP,
    Count,
    Incident,
    NotableSignal,
    ParserLine,
    Ring,
    Series,
    SlaLine,
    Summary,
    ThemeLine,
    TopAccount,
    WeeklyFigures,
)
from abusedesk.insights.voice import APPEAL, DEFAULT_THEMES, OTHER
from abusedesk.insights.weeks import WEEK
from abusedesk.insights.weeks import week_start as start_of_week
from abusedesk.parsing.health import SIGNAL_KIND as PARSER_SIGNAL_KIND
from abusedesk.storage import audit, voice
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.parser_health import reporter_key
from abusedesk.storage.reports import ReportStatus
from abusedesk.storage.tables import (
    Account,
    AccountCluster,
    AppealRow,
    Case,
    ClusterMember,
    CustomerMessage,
    EnforcementAction,
    Event,
    EventIndicator,
    IncidentReview,
    QueueRow,
    Report,
    ReportDailyCount,
    ReportDirtyDay,
    ReportRollupMark,
    Signal,
    WeeklyReport,
    table_of,
)

SERVICE = "service"
CATEGORY = "category"
FORMAT = "format"
REPORTER = "reporter"
PROVIDER = "provider"
ACCOUNT = "account"
DIMENSIONS = (SERVICE, CATEGORY, FORMAT, REPORTER, PROVIDER, ACCOUNT)
MARK = "events"
MAX_VALUE = 255
DEFAULT_BATCH = 200_000
DEFAULT_SETTLE = timedelta(minutes=2)
# Members of a ring the report names before "...".
RING_MEMBERS = 6
# High-severity signals the report lists at most.
MAX_SIGNALS = 25
AUDIT_SUBJECT = "weekly_report"


# --- roll-ups ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RollupStep:
    """What one roll-up step did: the event ids it counted, and how far it has read."""

    counted_from: int
    counted_to: int
    waiting: int

    @property
    def counted(self) -> bool:
        """Return whether the step counted any event ids."""
        return self.counted_to > self.counted_from


def epoch_day(moment: datetime) -> int:
    """Return the days since 1970-01-01 (UTC) of *moment*."""
    return int(moment.timestamp() // 86400)


def day_start(day: int) -> datetime:
    """Return the moment day number *day* starts."""
    return datetime.fromtimestamp(day * 86400, tz=UTC)


def _day_of(session: Session, column: Any) -> Any:
    """Return the SQL for the days since 1970 of a UTC time column."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / 86400), BigInteger)
    # Floor division: true division would give each second a group of its own.
    return cast(func.strftime("%s", column), BigInteger) // 86400


def roll_up(
    session: Session,
    *,
    now: datetime,
    settle: timedelta = DEFAULT_SETTLE,
    batch: int = DEFAULT_BATCH,
    catch_up: bool = False,
) -> RollupStep:
    """Count the next batch of settled events into the daily counts; commit it with the mark.

    With a *settle* of zero every stored event is settled (one process, or a repair).
    With *catch_up* (a report about to be generated) an event is settled once it was
    created *settle* ago, without waiting for the mark to have seen it; on SQLite, where
    one transaction writes at a time, every stored event is.
    Call again while `RollupStep.counted`: each call counts at most *batch* event ids.
    """
    if batch < 1:
        raise ValueError("a roll-up batch holds at least one event id")
    mark = _mark(session, now)
    newest = int(session.scalar(select(func.max(Event.id))) or 0)
    if settle <= timedelta(0) or (catch_up and session.get_bind().dialect.name == "sqlite"):
        ready = newest
    elif catch_up:
        # A transaction still writing lower ids began after this horizon, by its clock.
        ready = max(
            mark.last_event_id,
            int(
                session.scalar(select(func.max(Event.id)).where(Event.created_at <= now - settle))
                or 0
            ),
        )
    elif mark.seen_at is not None and mark.seen_at <= now - settle:
        ready = mark.seen_event_id
    else:
        ready = mark.last_event_id
    start = mark.last_event_id
    _recount_stale_days(session, start)
    end = min(ready, start + batch)
    if end > start:
        _count(session, start, end)
        mark.last_event_id = end
    if (mark.last_event_id >= mark.seen_event_id or mark.seen_at is None) and (
        mark.seen_event_id != newest or mark.seen_at is None
    ):
        mark.seen_event_id = newest
        mark.seen_at = now
    if session.is_modified(mark):
        mark.updated_at = now
    session.flush()
    return RollupStep(start, end if end > start else start, max(0, newest - mark.last_event_id))


def mark_accounts_stale(session: Session, event_ids: Iterable[int], *, now: datetime) -> None:
    """Note that *event_ids* changed account: their days' account counts are recounted.

    Call it in the transaction that changes them, so that the mark commits with the change.
    Marking a day already marked updates its row, which makes a roll-up recounting that day
    at the same time wait for this transaction, and so read its change.
    """
    ids = sorted(set(event_ids))
    days: set[int] = set()
    day = _day_of(session, Report.received_at)
    for i in range(0, len(ids), 500):
        found = session.scalars(
            select(day)
            .select_from(Event)
            .join(Report, Report.id == Event.report_id)
            .where(Event.id.in_(ids[i : i + 500]))
            .distinct()
        )
        days.update(int(number) for number in found)
    if not days:
        return
    statement = insert_for(session, ReportDirtyDay)
    session.execute(
        statement.on_conflict_do_update(index_elements=["day"], set_={"marked_at": now}),
        [{"day": number, "marked_at": now} for number in sorted(days)],
    )


def _recount_stale_days(session: Session, counted_to: int) -> None:
    """Count afresh the accounts of the events up to *counted_to* on each marked day."""
    dirty = table_of(ReportDirtyDay)
    # Taken off first: an attribution marking one of these days from now on marks it again.
    days = sorted(int(d) for d in session.scalars(delete(dirty).returning(dirty.c.day)))
    counts = table_of(ReportDailyCount)
    for number in days:
        session.execute(delete(counts).where(counts.c.dimension == ACCOUNT, counts.c.day == number))
        if counted_to <= 0:
            continue
        rows = session.execute(
            select(Event.account_id, func.count())
            .select_from(Event)
            .join(Report, Report.id == Event.report_id)
            .where(
                Report.received_at >= day_start(number),
                Report.received_at < day_start(number + 1),
                Event.id <= counted_to,
            )
            .group_by(Event.account_id)
        ).all()
        if rows:
            session.execute(
                insert_for(session, ReportDailyCount),
                [
                    {
                        "dimension": ACCOUNT,
                        "day": number,
                        "value": "" if account_id is None else str(account_id),
                        "events": int(n),
                    }
                    for account_id, n in rows
                ],
            )


def rebuild(session: Session, *, now: datetime) -> None:
    """Forget every daily count and the mark: the next roll-ups count every event again."""
    session.execute(delete(table_of(ReportDirtyDay)))
    session.execute(delete(table_of(ReportDailyCount)))
    session.execute(delete(table_of(ReportRollupMark)).where(ReportRollupMark.name == MARK))
    _mark(session, now)


def rollup_state(session: Session) -> tuple[int, int]:
    """Return the last event id counted and the newest event id stored."""
    last = session.scalar(
        select(ReportRollupMark.last_event_id).where(ReportRollupMark.name == MARK)
    )
    newest = session.scalar(select(func.max(Event.id)))
    return int(last or 0), int(newest or 0)


def _mark(session: Session, now: datetime) -> ReportRollupMark:
    session.execute(
        insert_for(session, ReportRollupMark)
        .values(name=MARK, last_event_id=0, seen_event_id=0, seen_at=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    # Two sweeps in two processes take turns: the row lock holds until commit.
    return session.scalars(
        select(ReportRollupMark)
        .where(ReportRollupMark.name == MARK)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _count(session: Session, start: int, end: int) -> None:
    """Add the events with ids in (start, end] to the daily counts."""
    day = _day_of(session, Report.received_at)
    in_range = and_(Event.id > start, Event.id <= end)
    joined = select(day.label("day")).select_from(Event).join(Report, Report.id == Event.report_id)
    totals: dict[tuple[str, int, str], int] = defaultdict(int)
    # One pass over the batch grouped by every plain dimension at once; Python adds the
    # grouped rows up per dimension (far fewer rows than events).
    reporter = func.lower(Event.reporter)
    columns = (Event.service, Event.category, Event.report_format, reporter, Event.account_id)
    grouped = joined.add_columns(*columns, func.count()).where(in_range).group_by(day, *columns)
    for (
        row_day,
        service,
        category,
        report_format,
        reporter_value,
        account_id,
        count,
    ) in session.execute(grouped):
        number, n = int(row_day), int(count)
        totals[(SERVICE, number, _tidy(SERVICE, service))] += n
        totals[(CATEGORY, number, _tidy(CATEGORY, category))] += n
        totals[(FORMAT, number, _tidy(FORMAT, report_format))] += n
        totals[(REPORTER, number, _tidy(REPORTER, reporter_value))] += n
        totals[(ACCOUNT, number, "" if account_id is None else str(account_id))] += n
    recipient = (
        joined.join(
            EventIndicator,
            and_(EventIndicator.event_id == Event.id, EventIndicator.key == "recipient_domain"),
        )
        .add_columns(func.lower(EventIndicator.value), func.count())
        .where(in_range)
        .group_by(day, func.lower(EventIndicator.value))
    )
    for row_day, value, count in session.execute(recipient):
        totals[(PROVIDER, int(row_day), _tidy(PROVIDER, value))] += int(count)
    if not totals:
        return
    statement = insert_for(session, ReportDailyCount)
    statement = statement.on_conflict_do_update(
        index_elements=["dimension", "day", "value"],
        set_={"events": table_of(ReportDailyCount).c.events + statement.excluded.events},
    )
    rows_out = [
        {"dimension": d, "day": day_number, "value": v, "events": n}
        for (d, day_number, v), n in sorted(totals.items())
    ]
    for i in range(0, len(rows_out), 5000):
        session.execute(statement, rows_out[i : i + 5000])


def _tidy(dimension: str, value: object) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    if dimension == REPORTER:
        return reporter_key(text)
    return text.lower()[:MAX_VALUE] if dimension == PROVIDER else text[:MAX_VALUE]


# --- reading the roll-ups ---------------------------------------------------------------


def dimension_counts(
    session: Session, dimension: str, *, start: datetime, end: datetime
) -> dict[str, int]:
    """Return the events per value of *dimension* that arrived in [start, end) (whole days)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}; known: {', '.join(DIMENSIONS)}")
    rows = session.execute(
        select(ReportDailyCount.value, func.sum(ReportDailyCount.events))
        .where(
            ReportDailyCount.dimension == dimension,
            ReportDailyCount.day >= epoch_day(start),
            ReportDailyCount.day < epoch_day(end),
        )
        .group_by(ReportDailyCount.value)
    )
    return {str(value): int(total or 0) for value, total in rows}


def daily_counts(
    session: Session, dimension: str, *, start: datetime, end: datetime
) -> dict[tuple[int, str], int]:
    """Return the events per (day number, value) of *dimension* in [start, end)."""
    rows = session.execute(
        select(ReportDailyCount.day, ReportDailyCount.value, ReportDailyCount.events).where(
            ReportDailyCount.dimension == dimension,
            ReportDailyCount.day >= epoch_day(start),
            ReportDailyCount.day < epoch_day(end),
        )
    )
    return {(int(d), str(v)): int(n) for d, v, n in rows}


# --- a week's figures -------------------------------------------------------------------


@dataclass(frozen=True)
class TrendOptions:
    """How a week's figures are counted: provider grouping, contact spikes, trend length."""

    provider_groups: Mapping[str, str] = field(default_factory=dict)
    contact_spike_factor: float = 2.0
    contact_spike_minimum: int = 5
    trend_weeks: int = 8


def weekly_figures(
    session: Session, week_start: datetime, *, now: datetime, options: TrendOptions | None = None
) -> WeeklyFigures:
    """Count every figure of the weekly report for the week starting *week_start*."""
    options = options or TrendOptions()
    start = start_of_week(week_start)
    end = start + WEEK
    before = start - WEEK
    service_now = dimension_counts(session, SERVICE, start=start, end=end)
    service_before = dimension_counts(session, SERVICE, start=before, end=start)
    counted = {
        SERVICE: (service_now, service_before),
        CATEGORY: (
            dimension_counts(session, CATEGORY, start=start, end=end),
            dimension_counts(session, CATEGORY, start=before, end=start),
        ),
        FORMAT: (
            dimension_counts(session, FORMAT, start=start, end=end),
            dimension_counts(session, FORMAT, start=before, end=start),
        ),
        REPORTER: (
            dimension_counts(session, REPORTER, start=start, end=end),
            dimension_counts(session, REPORTER, start=before, end=start),
        ),
        PROVIDER: (
            _grouped(dimension_counts(session, PROVIDER, start=start, end=end), options),
            _grouped(dimension_counts(session, PROVIDER, start=before, end=start), options),
        ),
    }
    trend_start = start - (options.trend_weeks - 1) * WEEK
    trend = daily_counts(session, SERVICE, start=trend_start, end=end)
    first_day = epoch_day(trend_start)
    per_service: dict[str, list[int]] = defaultdict(lambda: [0] * options.trend_weeks)
    for (day_number, value), n in trend.items():
        per_service[value][(day_number - first_day) // 7] += n
    daily = [0] * 7
    for (day_number, _), n in trend.items():
        index = day_number - epoch_day(start)
        if 0 <= index < 7:
            daily[index] += n
    accounts = dimension_counts(session, ACCOUNT, start=start, end=end)
    accounts.pop("", None)
    first_response, to_action = _spans(session, start, end)
    contacts, baseline = _contacts(session, start, end)
    spikes = model.contact_spikes(
        contacts,
        baseline,
        factor=options.contact_spike_factor,
        minimum=options.contact_spike_minimum,
    )
    voice, voice_available = _voice(session, start, end)
    executed = _actions_executed(session, start, end), _actions_executed(session, before, start)
    return WeeklyFigures(
        week_start=start,
        events=sum(service_now.values()),
        previous_events=sum(service_before.values()),
        by_service=_ranked(*counted[SERVICE]),
        by_category=_ranked(*counted[CATEGORY]),
        by_format=_ranked(*counted[FORMAT]),
        by_reporter=_ranked(*counted[REPORTER], top=TOP),
        by_provider=_ranked(*counted[PROVIDER], top=TOP),
        trend_weeks=tuple(trend_start + i * WEEK for i in range(options.trend_weeks)),
        service_trend=tuple(
            Series(label, tuple(counts)) for label, counts in sorted(per_service.items())
        ),
        daily_events=tuple(daily),
        top_accounts=_top_accounts(session, accounts),
        rings=_rings(session, accounts),
        cases_opened=_count_where(session, Case.opened_at >= start, Case.opened_at < end),
        cases_closed=_count_where(session, Case.closed_at >= start, Case.closed_at < end),
        backlog_start=_backlog(session, start),
        backlog_end=_backlog(session, min(end, max(now, start))),
        daily_backlog=tuple(
            _backlog(session, start + (i + 1) * DAY)
            for i in range(7)
            if start + (i + 1) * DAY <= max(now, start)
        ),
        first_response=model.durations(first_response),
        time_to_action=model.durations(to_action),
        sla=_sla(session, start, end, now),
        actions_executed=_ranked(*executed),
        actions_proposed=_count_where(
            session, EnforcementAction.proposed_at >= start, EnforcementAction.proposed_at < end
        ),
        actions_rejected=_count_where(
            session, EnforcementAction.rejected_at >= start, EnforcementAction.rejected_at < end
        ),
        appeals_submitted=_count_where(
            session, AppealRow.submitted_at >= start, AppealRow.submitted_at < end
        ),
        appeal_outcomes=_ranked(_appeals(session, start, end), _appeals(session, before, start)),
        daily_contacts=tuple(contacts),
        contact_baseline=round(baseline, 2),
        contact_spike_days=tuple(start + i * DAY for i in spikes),
        parser=_parser(session, start, end),
        parser_signals=_count_where(
            session,
            Signal.kind == PARSER_SIGNAL_KIND,
            Signal.raised_at >= start,
            Signal.raised_at < end,
        ),
        incidents=_incidents(session, start, end),
        signals=_signals(session, start, end),
        voice=voice,
        voice_available=voice_available,
    )


def _grouped(counts: Mapping[str, int], options: TrendOptions) -> dict[str, int]:
    grouped: dict[str, int] = defaultdict(int)
    for value, n in counts.items():
        grouped[options.provider_groups.get(value, value) or "unknown"] += n
    return dict(grouped)


def _ranked(
    now: Mapping[str, int], before: Mapping[str, int], *, top: int | None = None
) -> tuple[Count, ...]:
    labels = {k for k, v in now.items() if v} | {k for k, v in before.items() if v}
    ordered = sorted(labels, key=lambda k: (-now.get(k, 0), -before.get(k, 0), k))
    if top is not None:
        ordered = [k for k in ordered if now.get(k, 0)][:top]
    return tuple(Count(k or "unknown", now.get(k, 0), before.get(k, 0)) for k in ordered)


def _count_where(session: Session, *conditions: Any) -> int:
    model_of = conditions[0].left.table
    return int(session.scalar(select(func.count()).select_from(model_of).where(*conditions)) or 0)


def _backlog(session: Session, at: datetime) -> int:
    """Return the cases open at *at*: opened before it and not closed by then."""
    return _count_where(
        session,
        Case.opened_at < at,
        or_(Case.closed_at.is_(None), Case.closed_at >= at),
        Case.merged_into_id.is_(None),
    )


def _minutes(later: datetime | None, earlier: datetime) -> float:
    # Rows are read where *later* is in the week, so it is never missing.
    return (later - earlier).total_seconds() / 60 if later is not None else float("nan")


def _spans(session: Session, start: datetime, end: datetime) -> tuple[list[float], list[float]]:
    responses = [
        _minutes(answered, opened)
        for opened, answered in session.execute(
            select(Case.opened_at, Case.first_response_at).where(
                Case.first_response_at >= start, Case.first_response_at < end
            )
        )
    ]
    actions = [
        _minutes(executed, opened)
        for opened, executed in session.execute(
            select(Case.opened_at, EnforcementAction.executed_at)
            .join(Case, Case.id == EnforcementAction.case_id)
            .where(
                EnforcementAction.executed_at >= start,
                EnforcementAction.executed_at < end,
                EnforcementAction.reverses_action_id.is_(None),
            )
        )
    ]
    return responses, actions


def _sla(session: Session, start: datetime, end: datetime, now: datetime) -> tuple[SlaLine, ...]:
    """Count the clocks due in the week per queue: met on time, or breached by *now*."""
    lines: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    rows = session.execute(
        select(
            QueueRow.name,
            QueueRow.tier,
            Case.response_due_at,
            Case.first_response_at,
            Case.resolution_due_at,
            Case.resolved_at,
        )
        .join(QueueRow, QueueRow.id == Case.queue_id)
        .where(
            or_(
                and_(Case.response_due_at >= start, Case.response_due_at < end),
                and_(Case.resolution_due_at >= start, Case.resolution_due_at < end),
            )
        )
    )
    for name, tier, response_due, responded, resolution_due, resolved in rows:
        line = lines[(name, tier)]
        for offset, due, done in ((0, response_due, responded), (2, resolution_due, resolved)):
            if due is None or not start <= due < end:
                continue
            if done is not None and done <= due:
                line[offset] += 1
            elif done is not None or due <= now:
                line[offset + 1] += 1
    return tuple(SlaLine(name, tier, *figures) for (name, tier), figures in sorted(lines.items()))


def _actions_executed(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    rows = session.execute(
        select(EnforcementAction.action, func.count())
        .where(EnforcementAction.executed_at >= start, EnforcementAction.executed_at < end)
        .group_by(EnforcementAction.action)
    )
    return {str(action): int(n) for action, n in rows}


def _appeals(session: Session, start: datetime, end: datetime) -> dict[str, int]:
    rows = session.execute(
        select(AppealRow.state, func.count())
        .where(AppealRow.decided_at >= start, AppealRow.decided_at < end)
        .group_by(AppealRow.state)
    )
    return {str(state): int(n) for state, n in rows}


def _contacts(session: Session, start: datetime, end: datetime) -> tuple[list[int], float]:
    """Return inbound customer messages per day of the week, and the mean day of the 4 before."""
    since = start - 4 * WEEK
    daily = [0] * 7
    earlier = 0
    for (created_at,) in session.execute(
        select(CustomerMessage.created_at).where(
            CustomerMessage.direction == "in",
            CustomerMessage.created_at >= since,
            CustomerMessage.created_at < end,
        )
    ):
        if created_at >= start:
            daily[(created_at - start).days] += 1
        else:
            earlier += 1
    return daily, earlier / 28


def _parser(session: Session, start: datetime, end: datetime) -> tuple[ParserLine, ...]:
    warned = Report.parse_warnings.is_not(None)
    rows = session.execute(
        select(Report.report_format, Report.status, Report.stage, warned, func.count())
        .where(Report.received_at >= start, Report.received_at < end)
        .group_by(Report.report_format, Report.status, Report.stage, warned)
    )
    lines: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for report_format, status, stage, has_warnings, n in rows:
        if status == ReportStatus.DONE:
            outcome = "partial" if has_warnings else "read"
        elif status == ReportStatus.UNKNOWN:
            outcome = "unknown"
        elif status == ReportStatus.QUARANTINED:
            outcome = "failed" if stage in (None, "parse") else "stage_failed"
        else:
            outcome = "pending"
        line = lines[report_format or "none"]
        line[outcome] += int(n)
        line["received"] += int(n)
    return tuple(
        ParserLine(
            name,
            line["received"],
            line["read"],
            line["partial"],
            line["failed"],
            line["unknown"],
            line["stage_failed"],
            line["pending"],
        )
        for name, line in sorted(lines.items(), key=lambda item: (-item[1]["received"], item[0]))
    )


def _top_accounts(session: Session, accounts: Mapping[str, int]) -> tuple[TopAccount, ...]:
    ranked = sorted(
        ((n, int(key)) for key, n in accounts.items() if key.isdigit() and n),
        key=lambda item: (-item[0], item[1]),
    )[:TOP]
    if not ranked:
        return ()
    ids = [account_id for _, account_id in ranked]
    facts = {
        account_id: (external_id, standing)
        for account_id, external_id, standing in session.execute(
            select(Account.id, Account.external_id, Account.standing).where(Account.id.in_(ids))
        )
    }
    open_cases = {
        int(account_id): int(n)
        for account_id, n in session.execute(
            select(Case.account_id, func.count())
            .where(Case.account_id.in_(ids), Case.status != "closed")
            .group_by(Case.account_id)
        )
    }
    return tuple(
        TopAccount(
            account_id,
            facts.get(account_id, (f"account {account_id}", "unknown"))[0],
            facts.get(account_id, ("", "unknown"))[1],
            n,
            int(open_cases.get(account_id, 0)),
        )
        for n, account_id in ranked
    )


def _rings(session: Session, accounts: Mapping[str, int]) -> tuple[Ring, ...]:
    members: dict[int, list[tuple[int, str]]] = defaultdict(list)
    clusters: dict[int, tuple[int, float]] = {}
    for cluster_id, size, score, account_id, external_id in session.execute(
        select(
            AccountCluster.id,
            AccountCluster.size,
            AccountCluster.score,
            ClusterMember.account_id,
            Account.external_id,
        )
        .join(ClusterMember, ClusterMember.cluster_id == AccountCluster.id)
        .join(Account, Account.id == ClusterMember.account_id)
        .where(AccountCluster.dissolved_at.is_(None))
    ):
        clusters[cluster_id] = (int(size), float(score))
        members[cluster_id].append((accounts.get(str(account_id), 0), str(external_id)))
    rings = []
    for cluster_id, (size, score) in clusters.items():
        events = sum(n for n, _ in members[cluster_id])
        if not events:
            continue
        named = [name for _, name in sorted(members[cluster_id], key=lambda m: (-m[0], m[1]))]
        rings.append(Ring(cluster_id, size, round(score, 2), events, tuple(named[:RING_MEMBERS])))
    rings.sort(key=lambda r: (-r.events, -r.score, r.cluster_id))
    return tuple(rings[:TOP])


def _incidents(session: Session, start: datetime, end: datetime) -> tuple[Incident, ...]:
    rows = session.execute(
        select(
            IncidentReview.id,
            IncidentReview.title,
            IncidentReview.state,
            IncidentReview.starts_at,
            IncidentReview.origin,
        )
        .where(IncidentReview.starts_at < end, IncidentReview.ends_at >= start)
        .order_by(IncidentReview.starts_at, IncidentReview.id)
    )
    return tuple(Incident(int(i), t, s, at, o) for i, t, s, at, o in rows)


def _signals(session: Session, start: datetime, end: datetime) -> tuple[NotableSignal, ...]:
    rows = session.execute(
        select(
            Signal.id,
            Signal.kind,
            Signal.subject_type,
            Signal.subject_id,
            Signal.raised_at,
            Signal.reason,
            Account.external_id,
        )
        .outerjoin(Account, Account.id == Signal.account_id)
        .where(Signal.severity == "high", Signal.raised_at >= start, Signal.raised_at < end)
        .order_by(Signal.raised_at, Signal.id)
        .limit(MAX_SIGNALS)
    )
    return tuple(
        NotableSignal(
            int(signal_id),
            kind,
            external_id or f"{subject_type.replace('_', ' ')} {subject_id}",
            raised_at,
            reason[:300],
        )
        for signal_id, kind, subject_type, subject_id, raised_at, reason, external_id in rows
    )


def _voice(session: Session, start: datetime, end: datetime) -> tuple[tuple[ThemeLine, ...], bool]:
    """Return the themes of the week's appeals and customer replies, most frequent first."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in voice.theme_counts(session, start=start, end=end, themes=DEFAULT_THEMES):
        counts[row.theme][0 if row.source == APPEAL else 1] += row.count
    labels = {theme.key: theme.label for theme in DEFAULT_THEMES} | {OTHER: "Other (no theme)"}
    lines = sorted(counts.items(), key=lambda item: (-sum(item[1]), item[0]))
    return (
        tuple(ThemeLine(labels.get(key, key), a, r) for key, (a, r) in lines if a or r),
        True,
    )


# --- stored reports ---------------------------------------------------------------------


@dataclass(frozen=True)
class WeeklyReportRecord:
    """A stored weekly report: its frozen figures and the lead's summary."""

    week_start: datetime
    generated_at: datetime
    generated_by: str
    figures: WeeklyFigures | None
    summary: Summary


@dataclass(frozen=True)
class WeeklyReportLine:
    """A stored weekly report in the list."""

    week_start: datetime
    generated_at: datetime
    generated_by: str
    events: int
    has_summary: bool


def generate(
    session: Session,
    week_start: datetime,
    *,
    actor: str,
    now: datetime,
    options: TrendOptions | None = None,
) -> WeeklyReportRecord:
    """Count the week's figures and store them as its report, keeping the lead's summary."""
    start = start_of_week(week_start)
    figures = weekly_figures(session, start, now=now, options=options)
    data = model.to_json(figures)
    # Insert-or-nothing first: two generations of a new week at once queue on the row
    # instead of one failing on the unique week.
    inserted = session.execute(
        insert_for(session, WeeklyReport)
        .values(week_start=start, generated_at=now, generated_by=actor, figures=data, summary="")
        .on_conflict_do_nothing(index_elements=["week_start"])
        .returning(WeeklyReport.id)
    ).first()
    again = inserted is None
    row = session.scalars(
        select(WeeklyReport).where(WeeklyReport.week_start == start).with_for_update()
    ).one()
    if again:
        row.generated_at = now
        row.generated_by = actor
        row.figures = data
    session.flush()
    audit.record(
        session,
        actor=actor,
        tag="report:weekly:generate",
        subject_type=AUDIT_SUBJECT,
        subject_id=start.date().isoformat(),
        at=now,
        after={"events": figures.events, "again": again},
    )
    return _record(row)


def report_of(session: Session, week_start: datetime) -> WeeklyReportRecord:
    """Return the stored report of the week starting *week_start*; raise NotFound if none."""
    row = session.scalars(
        select(WeeklyReport).where(WeeklyReport.week_start == start_of_week(week_start))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no report for the week of {start_of_week(week_start):%Y-%m-%d}")
    return _record(row)


def has_report(session: Session, week_start: datetime) -> bool:
    """Return whether the week starting *week_start* has a stored report."""
    return (
        session.scalar(
            select(WeeklyReport.id).where(WeeklyReport.week_start == start_of_week(week_start))
        )
        is not None
    )


def first_arrival(session: Session) -> datetime | None:
    """Return when the first report still stored was received, or None when none is."""
    first: datetime | None = session.scalar(select(func.min(Report.received_at)))
    return first


def report_lines(session: Session, *, limit: int = 104) -> list[WeeklyReportLine]:
    """Return the stored reports, newest week first."""
    rows = session.execute(
        select(
            WeeklyReport.week_start,
            WeeklyReport.generated_at,
            WeeklyReport.generated_by,
            WeeklyReport.figures,
            WeeklyReport.summary,
        )
        .order_by(WeeklyReport.week_start.desc())
        .limit(limit)
    )
    return [
        WeeklyReportLine(
            start, generated_at, by, int((figures or {}).get("events") or 0), bool(summary)
        )
        for start, generated_at, by, figures, summary in rows
    ]


def set_summary(
    session: Session, week_start: datetime, text: str, *, actor: str, now: datetime
) -> WeeklyReportRecord:
    """Store the lead's written summary of the week's report; audited with before and after."""
    tidy = model.check_summary(text)
    row = session.scalars(
        select(WeeklyReport)
        .where(WeeklyReport.week_start == start_of_week(week_start))
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound(
            f"no report for the week of {start_of_week(week_start):%Y-%m-%d}: generate it first"
        )
    before = row.summary
    row.summary = tidy
    row.summary_by = actor
    row.summary_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        tag="report:weekly:summary",
        subject_type=AUDIT_SUBJECT,
        subject_id=row.week_start.date().isoformat(),
        at=now,
        before={"summary": before},
        after={"summary": tidy},
    )
    return _record(row)


def _record(row: WeeklyReport) -> WeeklyReportRecord:
    try:
        figures: WeeklyFigures | None = model.from_json(dict(row.figures or {}))
    except (ValueError, KeyError, TypeError):
        # Figures frozen in an older shape: the page offers to generate the report again.
        figures = None
    return WeeklyReportRecord(
        row.week_start,
        row.generated_at,
        row.generated_by,
        figures,
        Summary(row.summary or "", row.summary_by, row.summary_at),
    )


def weeks_without_report(session: Session, weeks: Iterable[datetime]) -> list[datetime]:
    """Return the week starts among *weeks* that have no stored report."""
    wanted = [start_of_week(w) for w in weeks]
    if not wanted:
        return []
    stored = set(
        session.scalars(select(WeeklyReport.week_start).where(WeeklyReport.week_start.in_(wanted)))
    )
    return [w for w in wanted if w not in stored]
