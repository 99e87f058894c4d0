"""The weekly leadership report: its figures, and the `Document` built from them.

Storage counts a week's figures (``storage/trends.py``) into a `WeeklyFigures`; the
figures are frozen as JSON when the report is generated, so that the report reads the
same later whatever happens to the data. `weekly_document` turns the figures and the
lead's written summary into a `Document` that renders as HTML, Markdown and PDF.

A week starts on Monday 00:00 UTC and lasts seven days.
"""

import math
import types
import typing
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar

from abusedesk.core.errors import AbuseDeskError
from abusedesk.insights.document import (
    BarChart,
    Block,
    BulletList,
    ChartSeries,
    Document,
    Figures,
    Heading,
    LineChart,
    Paragraph,
    Table,
)
from abusedesk.insights.weeks import WEEK, week_start

DAY = timedelta(days=1)
# Bumped when the frozen figures change shape; older reports are regenerated to read.
FIGURES_VERSION = 1
# Rows a ranked table shows (top accounts, reporters ...).
TOP = 10
MAX_SUMMARY = 20_000

T = TypeVar("T")


class InvalidWeek(AbuseDeskError):
    """Raise when a week is asked for with a date that cannot be read or is out of range."""


class SummaryTooLong(AbuseDeskError):
    """Raise when the lead's written summary is longer than a report holds."""


def parse_week(text: str, *, now: datetime) -> datetime:
    """Return the week start of the date *text* (YYYY-MM-DD); refuse junk and the future."""
    cleaned = text.strip()
    try:
        day = date.fromisoformat(cleaned)
    except ValueError:
        raise InvalidWeek(
            f"{cleaned[:40]!r} is not a date: give the week as YYYY-MM-DD, e.g. 2026-11-23"
        ) from None
    if day.year < 2000:
        raise InvalidWeek(f"{day.isoformat()} is too long ago: give a date from 2000 on")
    start = week_start(day)
    if start > week_start(now):
        raise InvalidWeek(f"the week of {day.isoformat()} has not started yet")
    return start


def check_summary(text: str) -> str:
    """Return the summary with line ends tidied and control characters (NUL, escapes, bells)
    dropped, tabs and line breaks kept; refuse one too long to keep."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    tidy = "".join(
        char for char in lines if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cs")
    ).strip()
    if len(tidy) > MAX_SUMMARY:
        raise SummaryTooLong(
            f"the summary is {len(tidy):,} characters long; keep it under {MAX_SUMMARY:,}"
        )
    return tidy


# --- the figures ------------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    """A value's count this week and the week before."""

    label: str
    count: int
    previous: int = 0


@dataclass(frozen=True)
class Series:
    """A value's weekly counts, oldest week first (as many as `WeeklyFigures.trend_weeks`)."""

    label: str
    counts: tuple[int, ...]


@dataclass(frozen=True)
class TopAccount:
    """An account among the week's most reported, with its standing and open cases."""

    account_id: int
    external_id: str
    standing: str
    events: int
    open_cases: int


@dataclass(frozen=True)
class Ring:
    """A cluster of linked accounts whose members were reported this week."""

    cluster_id: int
    size: int
    score: float
    events: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class Durations:
    """How many spans were measured and their median and 90th percentile, in minutes."""

    count: int
    median_minutes: float | None
    p90_minutes: float | None


@dataclass(frozen=True)
class SlaLine:
    """One queue's SLA clocks that fell due this week: met and breached."""

    queue: str
    tier: str
    response_met: int
    response_breached: int
    resolution_met: int
    resolution_breached: int


@dataclass(frozen=True)
class ParserLine:
    """One report format's reports received this week, by outcome."""

    report_format: str
    received: int
    read: int
    partial: int
    failed: int
    unknown: int
    stage_failed: int
    pending: int


@dataclass(frozen=True)
class Incident:
    """An incident review whose period overlaps the week."""

    review_id: int
    title: str
    state: str
    starts_at: datetime
    origin: str


@dataclass(frozen=True)
class NotableSignal:
    """A high-severity signal (a spike, a listing ...) raised during the week."""

    signal_id: int
    kind: str
    subject: str
    raised_at: datetime
    reason: str


@dataclass(frozen=True)
class ThemeLine:
    """A voice-of-the-customer theme and how often it came up this week, by source."""

    theme: str
    appeals: int
    replies: int


@dataclass(frozen=True)
class WeeklyFigures:
    """Everything the weekly report says, counted for the week starting *week_start*."""

    week_start: datetime
    events: int
    previous_events: int
    by_service: tuple[Count, ...]
    by_category: tuple[Count, ...]
    by_format: tuple[Count, ...]
    by_reporter: tuple[Count, ...]
    by_provider: tuple[Count, ...]
    trend_weeks: tuple[datetime, ...]
    service_trend: tuple[Series, ...]
    daily_events: tuple[int, ...]
    top_accounts: tuple[TopAccount, ...]
    rings: tuple[Ring, ...]
    cases_opened: int
    cases_closed: int
    backlog_start: int
    backlog_end: int
    daily_backlog: tuple[int, ...]
    first_response: Durations
    time_to_action: Durations
    sla: tuple[SlaLine, ...]
    actions_executed: tuple[Count, ...]
    actions_proposed: int
    actions_rejected: int
    appeals_submitted: int
    appeal_outcomes: tuple[Count, ...]
    daily_contacts: tuple[int, ...]
    contact_baseline: float
    contact_spike_days: tuple[datetime, ...]
    parser: tuple[ParserLine, ...]
    parser_signals: int
    incidents: tuple[Incident, ...]
    signals: tuple[NotableSignal, ...]
    voice: tuple[ThemeLine, ...]
    voice_available: bool

    @property
    def week_end(self) -> datetime:
        """Return the moment the week ends (the next Monday 00:00 UTC)."""
        return self.week_start + WEEK


def durations(minutes: Sequence[float]) -> Durations:
    """Return the count, median and 90th percentile (nearest rank) of *minutes*."""
    ordered = sorted(m for m in minutes if not math.isnan(m))
    if not ordered:
        return Durations(0, None, None)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    rank = max(1, math.ceil(0.9 * len(ordered)))
    return Durations(len(ordered), round(median, 1), round(ordered[rank - 1], 1))


def contact_spikes(
    daily: Sequence[int], baseline: float, *, factor: float, minimum: int
) -> tuple[int, ...]:
    """Return the indexes of the days whose contacts reached *factor* times the baseline.

    A day counts as a spike only with at least *minimum* contacts, so that two messages
    after a quiet month are no spike.
    """
    return tuple(
        i for i, count in enumerate(daily) if count >= minimum and count >= factor * baseline
    )


def change(count: int, previous: int) -> str:
    """Return the change from *previous* to *count* in words: ``+25%``, ``new``, ``-``."""
    if previous == 0:
        return "new" if count else "-"
    percent = (count - previous) * 100 / previous
    return f"{percent:+.0f}%"


# --- frozen as JSON ---------------------------------------------------------------------


def to_json(figures: WeeklyFigures) -> dict[str, Any]:
    """Return *figures* as JSON-ready data, with the shape's version."""
    data = _dump(figures)
    assert isinstance(data, dict)  # noqa: S101  # a dataclass dumps to a dict
    data["version"] = FIGURES_VERSION
    return data


def from_json(data: dict[str, Any]) -> WeeklyFigures:
    """Return the figures frozen in *data*; raise ValueError when their shape is not ours."""
    if data.get("version") != FIGURES_VERSION:
        raise ValueError(f"figures of version {data.get('version')!r}, not {FIGURES_VERSION}")
    figures: WeeklyFigures = _load(WeeklyFigures, data)
    return figures


def _dump(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _dump(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _load(kind: Any, value: Any) -> Any:
    if isinstance(kind, type) and is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        if not isinstance(value, dict):
            raise ValueError(f"{kind.__name__}: expected an object")
        return kind(**{f.name: _load(hints[f.name], value[f.name]) for f in fields(kind)})
    origin = typing.get_origin(kind)
    if origin is tuple:
        (item, _) = typing.get_args(kind)
        return tuple(_load(item, v) for v in value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        return _load(options[0], value)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is float:
        return float(value)
    if kind in (int, str, bool):
        if not isinstance(value, kind):
            raise ValueError(f"expected {kind.__name__}, got {type(value).__name__}")
        return value
    raise ValueError(f"cannot read {kind!r}")


# --- the document -----------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """The lead's written summary of the week, and who wrote it when."""

    text: str = ""
    author: str | None = None
    written_at: datetime | None = None


def weekly_document(
    figures: WeeklyFigures, *, summary: Summary, generated_at: datetime
) -> Document:
    """Return the weekly report as a `Document`: summary first, then every section."""
    start = figures.week_start
    last_day = figures.week_end - DAY
    blocks: list[Block] = []
    blocks += _summary(summary)
    blocks += _volumes(figures)
    blocks += _accounts(figures)
    blocks += _casework(figures)
    blocks += _enforcement(figures)
    blocks += _contacts(figures)
    blocks += _parsers(figures)
    blocks += _incidents(figures)
    blocks += _voice(figures)
    return Document(
        title=f"Weekly report: week of {start:%Y-%m-%d}",
        generated_at=generated_at,
        subtitle=f"{start:%A %d %B %Y} to {last_day:%A %d %B %Y} (UTC)",
        blocks=tuple(blocks),
    )


def _summary(summary: Summary) -> list[Block]:
    blocks: list[Block] = [Heading("Summary")]
    if summary.text:
        blocks.append(Paragraph(summary.text))
        if summary.author and summary.written_at:
            blocks.append(
                Paragraph(f"Written by {summary.author}, {summary.written_at:%Y-%m-%d %H:%M} UTC.")
            )
    else:
        blocks.append(Paragraph("The lead has not written the summary of this week yet."))
    return blocks


def _count_table(caption: str, name: str, counts: Sequence[Count]) -> Table:
    return Table(
        caption,
        (name, "This week", "Week before", "Change"),
        tuple(
            (c.label, f"{c.count:,}", f"{c.previous:,}", change(c.count, c.previous))
            for c in counts
        ),
    )


def _volumes(f: WeeklyFigures) -> list[Block]:
    blocks: list[Block] = [
        Heading("Volumes"),
        Figures(
            (
                ("Events received", f"{f.events:,}", f"week before: {f.previous_events:,}"),
                ("Change", change(f.events, f.previous_events), "events, against the week before"),
            )
        ),
    ]
    if f.trend_weeks and f.service_trend:
        blocks.append(
            LineChart(
                f"Events per week by service, last {len(f.trend_weeks)} weeks",
                tuple(
                    ChartSeries(
                        s.label,
                        tuple(zip(f.trend_weeks, (float(c) for c in s.counts), strict=True)),
                    )
                    for s in f.service_trend
                ),
                unit="events",
            )
        )
    blocks.append(
        BarChart(
            "Events per day this week",
            tuple(
                ((f.week_start + i * DAY).strftime("%a %d"), float(n))
                for i, n in enumerate(f.daily_events)
            ),
            unit="events",
        )
    )
    for caption, name, counts in (
        ("Events by service", "Service", f.by_service),
        ("Events by category", "Category", f.by_category),
        (f"Top {TOP} reporters", "Reporter", f.by_reporter),
        (f"Top {TOP} destination providers", "Provider", f.by_provider),
        ("Events by report format", "Format", f.by_format),
    ):
        if counts:
            blocks.append(_count_table(caption, name, counts))
        else:
            blocks.append(Paragraph(f"{caption}: none this week."))
    return blocks


def _accounts(f: WeeklyFigures) -> list[Block]:
    blocks: list[Block] = [Heading("Top accounts and rings")]
    if f.top_accounts:
        blocks.append(
            Table(
                f"Top {TOP} accounts by events",
                ("Account", "Standing", "Events", "Open cases"),
                tuple(
                    (
                        a.external_id,
                        a.standing.replace("_", " "),
                        f"{a.events:,}",
                        str(a.open_cases),
                    )
                    for a in f.top_accounts
                ),
            )
        )
    else:
        blocks.append(Paragraph("No attributed events this week."))
    if f.rings:
        blocks.append(
            Table(
                "Rings: clusters of linked accounts reported this week",
                ("Cluster", "Accounts", "Score", "Events", "Members"),
                tuple(
                    (
                        f"cluster {r.cluster_id}",
                        str(r.size),
                        f"{r.score:.2f}",
                        f"{r.events:,}",
                        ", ".join(r.members) + (" ..." if r.size > len(r.members) else ""),
                    )
                    for r in f.rings
                ),
            )
        )
    else:
        blocks.append(Paragraph("No cluster of linked accounts was reported this week."))
    return blocks


def _minutes(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 120:
        return f"{value / 60:.1f} h"
    return f"{value:.0f} min"


def _casework(f: WeeklyFigures) -> list[Block]:
    blocks: list[Block] = [
        Heading("Backlog, time to action and SLA"),
        Figures(
            (
                ("Cases opened", f"{f.cases_opened:,}", ""),
                ("Cases closed", f"{f.cases_closed:,}", ""),
                (
                    "Backlog",
                    f"{f.backlog_end:,}",
                    f"open cases at the end of the week; {f.backlog_start:,} at its start",
                ),
                (
                    "Time to first response",
                    _minutes(f.first_response.median_minutes),
                    f"median of {f.first_response.count} cases; 90th percentile "
                    f"{_minutes(f.first_response.p90_minutes)}",
                ),
                (
                    "Time to action",
                    _minutes(f.time_to_action.median_minutes),
                    f"median from case opened to action executed, {f.time_to_action.count} "
                    f"actions; 90th percentile {_minutes(f.time_to_action.p90_minutes)}",
                ),
            )
        ),
        LineChart(
            "Open cases at the end of each day",
            (
                ChartSeries(
                    "backlog",
                    tuple(
                        (f.week_start + (i + 1) * DAY, float(n))
                        for i, n in enumerate(f.daily_backlog)
                    ),
                ),
            ),
            unit="cases",
        ),
    ]
    if f.sla:
        blocks.append(
            Table(
                "SLA clocks due this week, per queue",
                (
                    "Queue",
                    "Tier",
                    "Response met",
                    "Response attainment",
                    "Resolution met",
                    "Resolution attainment",
                ),
                tuple(
                    (
                        s.queue,
                        s.tier,
                        f"{s.response_met} of {s.response_met + s.response_breached}",
                        _share(s.response_met, s.response_met + s.response_breached),
                        f"{s.resolution_met} of {s.resolution_met + s.resolution_breached}",
                        _share(s.resolution_met, s.resolution_met + s.resolution_breached),
                    )
                    for s in f.sla
                ),
            )
        )
    else:
        blocks.append(Paragraph("No SLA clock fell due this week."))
    return blocks


def _share(part: int, whole: int) -> str:
    return f"{part * 100 / whole:.1f}%" if whole else "-"


def _enforcement(f: WeeklyFigures) -> list[Block]:
    executed = sum(c.count for c in f.actions_executed)
    decided = sum(c.count for c in f.appeal_outcomes)
    overturned = sum(c.count for c in f.appeal_outcomes if c.label in ("overturned", "partial"))
    blocks: list[Block] = [
        Heading("Enforcement and appeals"),
        Figures(
            (
                ("Actions executed", f"{executed:,}", ""),
                ("Actions proposed", f"{f.actions_proposed:,}", ""),
                ("Proposals rejected", f"{f.actions_rejected:,}", "by the approving analyst"),
                ("Appeals submitted", f"{f.appeals_submitted:,}", ""),
                ("Appeals decided", f"{decided:,}", ""),
                (
                    "Overturn rate",
                    _share(overturned, decided),
                    "appeals overturned in whole or in part, of those decided",
                ),
            )
        ),
    ]
    if f.actions_executed:
        blocks.append(
            BarChart(
                "Actions executed by kind",
                tuple((c.label, float(c.count)) for c in f.actions_executed),
                unit="actions",
            )
        )
        blocks.append(_count_table("Actions executed", "Action", f.actions_executed))
    if f.appeal_outcomes:
        blocks.append(_count_table("Appeals decided, by outcome", "Outcome", f.appeal_outcomes))
    return blocks


def _contacts(f: WeeklyFigures) -> list[Block]:
    total = sum(f.daily_contacts)
    blocks: list[Block] = [
        Heading("Customer contacts"),
        Figures(
            (
                ("Messages from customers", f"{total:,}", "replies and appeals received"),
                (
                    "Usual day",
                    f"{f.contact_baseline:.1f}",
                    "mean per day over the four weeks before",
                ),
            )
        ),
        BarChart(
            "Messages from customers per day",
            tuple(
                ((f.week_start + i * DAY).strftime("%a %d"), float(n))
                for i, n in enumerate(f.daily_contacts)
            ),
            unit="messages",
        ),
    ]
    if f.contact_spike_days:
        blocks.append(
            BulletList(
                tuple(
                    f"Spike on {day:%A %d %B}: "
                    f"{f.daily_contacts[(day - f.week_start).days]} messages"
                    for day in f.contact_spike_days
                )
            )
        )
    else:
        blocks.append(Paragraph("No spike in customer contacts this week."))
    return blocks


def _parsers(f: WeeklyFigures) -> list[Block]:
    received = sum(p.received for p in f.parser)
    read = sum(p.read + p.partial for p in f.parser)
    problems = sum(p.failed + p.unknown + p.stage_failed for p in f.parser)
    blocks: list[Block] = [
        Heading("Parser health"),
        Figures(
            (
                ("Reports received", f"{received:,}", ""),
                (
                    "Read",
                    _share(read, read + problems),
                    "of the reports settled, read in full or part",
                ),
                ("Not read", f"{problems:,}", "failed, unknown format or failed after parsing"),
                ("Parser health signals", str(f.parser_signals), "success-rate drops raised"),
            )
        ),
    ]
    if f.parser:
        blocks.append(
            Table(
                "Reports by format",
                (
                    "Format",
                    "Received",
                    "Read",
                    "Partial",
                    "Failed",
                    "Unknown",
                    "Later stage",
                    "Pending",
                ),
                tuple(
                    (
                        p.report_format,
                        f"{p.received:,}",
                        f"{p.read:,}",
                        f"{p.partial:,}",
                        f"{p.failed:,}",
                        f"{p.unknown:,}",
                        f"{p.stage_failed:,}",
                        f"{p.pending:,}",
                    )
                    for p in f.parser
                ),
            )
        )
    return blocks


def _incidents(f: WeeklyFigures) -> list[Block]:
    blocks: list[Block] = [Heading("Notable incidents")]
    if f.incidents:
        blocks.append(
            Table(
                "Incident reviews of the week",
                ("Review", "Title", "Opened from", "Starts", "State"),
                tuple(
                    (
                        f"#{i.review_id}",
                        i.title,
                        i.origin,
                        f"{i.starts_at:%Y-%m-%d %H:%M}",
                        i.state.replace("_", " "),
                    )
                    for i in f.incidents
                ),
            )
        )
    if f.signals:
        blocks.append(
            Table(
                "High-severity signals raised",
                ("Signal", "Kind", "Subject", "Raised", "Reason"),
                tuple(
                    (
                        f"#{s.signal_id}",
                        s.kind,
                        s.subject,
                        f"{s.raised_at:%Y-%m-%d %H:%M}",
                        s.reason,
                    )
                    for s in f.signals
                ),
            )
        )
    if not f.incidents and not f.signals:
        blocks.append(Paragraph("No incident review and no high-severity signal this week."))
    return blocks


def _voice(f: WeeklyFigures) -> list[Block]:
    blocks: list[Block] = [Heading("Voice of the customer")]
    if not f.voice_available:
        blocks.append(Paragraph("Themes of appeals and replies are not counted in this install."))
    elif f.voice:
        blocks.append(
            BarChart(
                "Themes in appeals and customer replies",
                tuple((t.theme, float(t.appeals + t.replies)) for t in f.voice),
                unit="mentions",
            )
        )
        blocks.append(
            Table(
                "Themes this week",
                ("Theme", "Appeals", "Replies"),
                tuple((t.theme, str(t.appeals), str(t.replies)) for t in f.voice),
            )
        )
    else:
        blocks.append(Paragraph("No appeal or customer reply this week."))
    return blocks
