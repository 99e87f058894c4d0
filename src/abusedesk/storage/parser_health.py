"""How well reports parse, per reporter and format: the queries behind /metrics and the CLI.

Every report gets a reporter key: the reporter of its first event; else the domain of
the envelope sender; else the channel name. The key is a short, lowercased string and
never a whole address. Each report then has one outcome:

- ``parsed``: done, with at least one event and no warnings;
- ``partial``: done, with events and warnings (parts the parser could not read);
- ``recognised``: done, no events, but the parser said what it is (an SES delivery);
- ``empty``: done, with no events and no kind (a DMARC report of nothing);
- ``failed``: quarantined at the parse stage (a parser claimed it and could not read it);
- ``unknown``: in the unknown-format inbox, because no parser recognised it;
- ``stage_failed``: quarantined at a stage after parsing (enrich, attribute, store);
- ``pending``: not settled yet (pending or processing).

The database does the counting in one GROUP BY over the widest window; Python only
tidies the few grouped rows. The same counts feed the success-rate drop check, whose
decision lives in ``parsing/health.py``.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from abusedesk.parsing.health import (
    READ_OUTCOMES,
    SIGNAL_KIND,
    SIGNAL_SUBJECT,
    UNREAD_OUTCOMES,
    DropRule,
    SuccessDrop,
    WindowTally,
)
from abusedesk.storage.reports import ReportStatus
from abusedesk.storage.signals import open_signals, raise_signal
from abusedesk.storage.tables import Event, Report

OUTCOMES = (
    "parsed",
    "partial",
    "recognised",
    "empty",
    "failed",
    "unknown",
    "stage_failed",
    "pending",
)
# Outcomes that mean a reporter's reports are not being read.
PROBLEM_OUTCOMES = UNREAD_OUTCOMES
# Shown for a report whose format was never recorded (it failed before a parser finished).
NO_FORMAT = "none"
# Shown when a reporter key is empty once tidied.
NO_REPORTER = "unknown"
REPORTER_MAX_LENGTH = 100
# An envelope sender longer than an address can be is no address: no domain is read from it.
MAIL_FROM_MAX_LENGTH = 320
DEFAULT_WINDOWS: dict[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}


@dataclass(frozen=True)
class OutcomeCount:
    """How many reports of one reporter and format had one outcome within one window."""

    reporter: str
    report_format: str
    outcome: str
    window: str
    reports: int


@dataclass(frozen=True)
class ParserHealth:
    """One reporter and format's outcomes over a window, with its success rate."""

    reporter: str
    report_format: str
    counts: Mapping[str, int]

    @property
    def settled(self) -> int:
        """Return how many reports have an outcome other than pending."""
        return sum(n for outcome, n in self.counts.items() if outcome != "pending")

    @property
    def problems(self) -> int:
        """Return how many reports failed to parse or were not recognised."""
        return sum(self.counts.get(outcome, 0) for outcome in PROBLEM_OUTCOMES)

    @property
    def read(self) -> int:
        """Return how many reports a parser read (with or without events, warnings or not)."""
        return sum(self.counts.get(outcome, 0) for outcome in READ_OUTCOMES)

    @property
    def success_rate(self) -> float | None:
        """Return the share of reports with a parse outcome that were read, or None."""
        attempted = self.read + self.problems
        if not attempted:
            return None
        return self.read / attempted


def reporter_key(value: str | None) -> str:
    """Return *value* as a reporter key: lowercased, no local part, at most a set length."""
    key = (value or "").strip().lower()
    if "@" in key:
        # Privacy: a reporter is named by its domain, never by a whole address.
        key = key.rsplit("@", 1)[1]
    return key[:REPORTER_MAX_LENGTH] or NO_REPORTER


def count_outcomes(
    session: Session, *, now: datetime, windows: Mapping[str, timedelta] = DEFAULT_WINDOWS
) -> list[OutcomeCount]:
    """Count reports received within each window by reporter, format and outcome."""
    if not windows:
        return []
    per_report = _per_report().where(Report.received_at >= now - max(windows.values()))
    rows_in = per_report.subquery("per_report")
    names = list(windows)
    sums = [
        func.sum(case((rows_in.c.received_at >= now - windows[name], 1), else_=0)).label(f"w{i}")
        for i, name in enumerate(names)
    ]
    statement = select(rows_in.c.reporter, rows_in.c.report_format, rows_in.c.outcome, *sums)
    statement = statement.group_by(rows_in.c.reporter, rows_in.c.report_format, rows_in.c.outcome)
    totals: dict[tuple[str, str, str, str], int] = {}
    for row in session.execute(statement):
        reporter = reporter_key(row.reporter)
        report_format = row.report_format or NO_FORMAT
        for i, name in enumerate(names):
            key = (reporter, report_format, str(row.outcome), name)
            # Tidying may merge two raw keys (case, an address): add them up.
            totals[key] = totals.get(key, 0) + int(row[3 + i] or 0)
    return [OutcomeCount(*key, reports) for key, reports in sorted(totals.items()) if reports]


def health_table(counts: Iterable[OutcomeCount], *, window: str) -> list[ParserHealth]:
    """Return one row per reporter and format within *window*, worst first."""
    grouped: dict[tuple[str, str], dict[str, int]] = {}
    for count in counts:
        if count.window != window:
            continue
        outcomes = grouped.setdefault((count.reporter, count.report_format), {})
        outcomes[count.outcome] = outcomes.get(count.outcome, 0) + count.reports
    rows = [ParserHealth(reporter, fmt, outcomes) for (reporter, fmt), outcomes in grouped.items()]
    return sorted(rows, key=_worst_first)


def _worst_first(row: ParserHealth) -> tuple[float, int, str, str]:
    rate = 1.0 if row.success_rate is None else row.success_rate
    return (rate, -row.problems, row.reporter, row.report_format)


def tally_windows(session: Session, *, now: datetime, rule: DropRule) -> list[WindowTally]:
    """Count reports read and not read per reporter and format, recent and baseline windows.

    The recent window ends at *now*; the baseline window ends where the recent one starts.
    """
    recent_start = now - rule.recent
    baseline_start = recent_start - rule.baseline
    rows_in = _per_report().where(Report.received_at >= baseline_start).subquery("per_report")
    is_recent = rows_in.c.received_at >= recent_start
    statement = select(
        rows_in.c.reporter,
        rows_in.c.report_format,
        rows_in.c.outcome,
        func.sum(case((is_recent, 1), else_=0)).label("recent"),
        func.sum(case((is_recent, 0), else_=1)).label("baseline"),
    ).group_by(rows_in.c.reporter, rows_in.c.report_format, rows_in.c.outcome)
    totals: dict[tuple[str, str], list[int]] = {}
    for row in session.execute(statement):
        outcome = str(row.outcome)
        if outcome in READ_OUTCOMES:
            offset = 0
        elif outcome in UNREAD_OUTCOMES:
            offset = 1
        else:
            continue
        key = (reporter_key(row.reporter), row.report_format or NO_FORMAT)
        counts = totals.setdefault(key, [0, 0, 0, 0])
        counts[offset] += int(row.recent or 0)
        counts[2 + offset] += int(row.baseline or 0)
    return [WindowTally(*key, *counts) for key, counts in sorted(totals.items())]


def record_drops(
    session: Session, drops: Iterable[SuccessDrop], *, rule: DropRule, now: datetime
) -> list[int]:
    """Raise one signal per drop unless one is open for that reporter and format; return ids.

    A drop that lasts raises no new signal while its signal is open; once resolved, a drop
    still there raises again at most once a day (the dedupe key carries the date).
    """
    open_subjects = {
        signal.subject_id
        for signal in open_signals(session, subject_type=SIGNAL_SUBJECT)
        if signal.kind == SIGNAL_KIND
    }
    raised = []
    for drop in drops:
        if drop.subject_id in open_subjects:
            continue
        signal_id = raise_signal(
            session,
            kind=SIGNAL_KIND,
            subject_type=SIGNAL_SUBJECT,
            subject_id=drop.subject_id,
            reason=drop.reason(),
            figures=drop.figures(rule),
            at=now,
            dedupe_key=f"{SIGNAL_KIND}:{drop.subject_id}:{now:%Y-%m-%d}",
        )
        if signal_id is not None:
            raised.append(signal_id)
    return raised


def _per_report() -> Any:
    """Return a SELECT of each report's raw reporter key, format, outcome and arrival."""
    first_reporter = (
        select(Event.reporter)
        .where(Event.report_id == Report.id)
        .order_by(Event.seq)
        .limit(1)
        .correlate(Report)
        .scalar_subquery()
    )
    has_events = exists().where(Event.report_id == Report.id)
    done = Report.status == ReportStatus.DONE
    outcome = case(
        (Report.status.in_((ReportStatus.PENDING, ReportStatus.PROCESSING)), literal("pending")),
        (and_(done, has_events, Report.parse_warnings.is_not(None)), literal("partial")),
        (and_(done, has_events), literal("parsed")),
        (and_(done, Report.report_kind.is_not(None)), literal("recognised")),
        (done, literal("empty")),
        (Report.status == ReportStatus.UNKNOWN, literal("unknown")),
        (
            and_(Report.status == ReportStatus.QUARANTINED, Report.stage == "parse"),
            literal("failed"),
        ),
        (Report.status == ReportStatus.QUARANTINED, literal("stage_failed")),
        # A status added later shows up under its own name rather than vanish.
        else_=Report.status,
    )
    reporter = func.coalesce(first_reporter, _sender_domain(), Report.channel)
    return select(
        cast(reporter, String).label("reporter"),
        Report.report_format.label("report_format"),
        outcome.label("outcome"),
        Report.received_at.label("received_at"),
    )


def _sender_domain() -> Any:
    """Return SQL for the domain after the last ``@`` of the envelope sender, else NULL.

    ``rtrim(s, <s without @>)`` strips every trailing character that is not ``@``, which
    leaves ``s`` up to its last ``@``; the same functions exist on SQLite and PostgreSQL.
    """
    mail_from = Report.envelope["mail_from"].as_string()
    up_to_last_at = func.rtrim(mail_from, func.replace(mail_from, "@", ""))
    domain = func.lower(func.substr(mail_from, func.length(up_to_last_at) + 1))
    return case(
        (
            and_(mail_from.like("%@%"), func.length(mail_from) <= MAIL_FROM_MAX_LENGTH),
            func.nullif(domain, ""),
        ),
        else_=None,
    )
