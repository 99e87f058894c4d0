"""Analyst metrics and utilisation, computed from what the audit trail says analysts did.

Nothing here is self-reported: storage reads the case history, escalations, enforcement
actions, appeals, the workbench's focus heartbeat and the shift records into
`AnalystFacts`, and `analyst_figures` turns them into `AnalystFigures` for any window.

Handle time is *active* time: the union of the stretches a case page was visible and
focused and a short span before each step the analyst took on the case (reading before
acting). Two cases open at once, or a note written while the page was in focus, never
count twice, and the wall time between opening and closing a case counts for nothing.
Utilisation is handling time over available time: time on shift, less breaks, training
and meetings. Every figure has its definition in `DEFINITIONS`, shown on
``/insights/definitions``.
"""

import csv
import io
import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from abusedesk.insights.weeks import WEEK, weeks_between

Interval = tuple[datetime, datetime]

ZERO = timedelta(0)


class ShiftKind:
    """What a period of an analyst's day was: on shift, or away from the queue inside it."""

    SHIFT = "shift"
    BREAK = "break"
    TRAINING = "training"
    MEETING = "meeting"

    ALL = (SHIFT, BREAK, TRAINING, MEETING)
    # Time inside a shift that is not available for casework.
    AWAY = (BREAK, TRAINING, MEETING)


# The status an analyst records: one of the kinds, or off (ends whatever is open).
OFF = "off"
STATUSES = (*ShiftKind.ALL, OFF)


class Figure:
    """The keys of the figures, the same in code, pages, anchors and docs."""

    CASES_HANDLED = "cases_handled"
    DECISIONS = "decisions"
    HANDLING_TIME = "handling_time"
    HANDLE_TIME = "handle_time"
    FIRST_RESPONSE = "first_response"
    SLA_ATTAINMENT = "sla_attainment"
    REOPEN_RATE = "reopen_rate"
    ESCALATION_RATE = "escalation_rate"
    OVERTURN_RATE = "overturn_rate"
    AVAILABLE_TIME = "available_time"
    UTILISATION = "utilisation"


@dataclass(frozen=True)
class Definition:
    """What a figure means, how it is computed, and where its numbers come from."""

    key: str
    label: str
    unit: str
    text: str
    source: str


DEFINITIONS: tuple[Definition, ...] = (
    Definition(
        Figure.CASES_HANDLED,
        "Cases handled",
        "cases",
        "Cases the analyst resolved or closed in the period, each case counted once however "
        "often it was resolved, closed or reopened.",
        "case history: transitions to resolved or closed made by the analyst",
    ),
    Definition(
        Figure.DECISIONS,
        "Decisions by type",
        "decisions",
        "Every decision the analyst made in the period, by type: resolve, close (by close "
        "reason), escalate, and each enforcement action proposed (by action).",
        "case history (transitions), escalations (raised by), enforcement actions (proposed by)",
    ),
    Definition(
        Figure.HANDLING_TIME,
        "Handling time",
        "hours",
        "Active time on any case in the period: the union of the stretches a case page was "
        "visible and in focus (the workbench heartbeat) and a short span before each step "
        "taken on a case. Time counted once even with two cases open at once.",
        "analyst activity (focus heartbeat), case history (steps)",
    ),
    Definition(
        Figure.HANDLE_TIME,
        "Handle time per case",
        "minutes",
        "Active time on the cases handled in the period, divided by the cases handled. "
        "Active time on a case is the union of its focus stretches and the span before each "
        "step on it, inside the period; never the wall time from opening to closing.",
        "analyst activity, case history",
    ),
    Definition(
        Figure.FIRST_RESPONSE,
        "Time to first response",
        "minutes",
        "The median time from a case opening to its first move out of new (taking it up, "
        "triaging, escalating or closing it), over the cases whose first response the analyst "
        "gave in the period.",
        "cases (opened at), case history (the first transition out of new)",
    ),
    Definition(
        Figure.SLA_ATTAINMENT,
        "SLA attainment",
        "%",
        "Of the cases handled in a queue's SLA, the share that met both targets: first "
        "response by the response due time, and resolved or closed by the resolution due "
        "time. Shown per queue and tier (the queue the case was in when handled).",
        "cases (due times, first response), case history (queue at the time)",
    ),
    Definition(
        Figure.REOPEN_RATE,
        "Reopen rate",
        "%",
        "Of the cases handled in the period, the share reopened afterwards (by new evidence, "
        "an analyst or an appeal), up to now.",
        "case history: a move out of resolved or closed after the analyst's",
    ),
    Definition(
        Figure.ESCALATION_RATE,
        "Escalation rate",
        "%",
        "Of the cases the analyst worked in the period (took any step on, or had in focus), "
        "the share they escalated.",
        "escalations (raised by), case history, analyst activity",
    ),
    Definition(
        Figure.OVERTURN_RATE,
        "Appeal overturn rate",
        "%",
        "Of the appeals decided in the period against enforcement actions the analyst "
        "proposed, the share overturned in whole or in part.",
        "appeals (state, decided at), enforcement actions (proposed by)",
    ),
    Definition(
        Figure.AVAILABLE_TIME,
        "Available time",
        "hours",
        "Time on shift in the period, less breaks, training and meetings inside the shift. "
        "An open period counts up to now.",
        "shifts, recorded in the workbench or imported from a rota",
    ),
    Definition(
        Figure.UTILISATION,
        "Utilisation",
        "%",
        "Handling time over available time. Empty when no shift was recorded; above 100% "
        "when casework was done off shift.",
        "analyst activity, case history, shifts",
    ),
)
DEFINITION_OF: Mapping[str, Definition] = {d.key: d for d in DEFINITIONS}


# --- intervals ----------------------------------------------------------------------


def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Return the intervals merged where they overlap or touch, in order; empty ones dropped."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def clip(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    """Return the parts of *intervals* inside *start*..*end*."""
    return [(max(a, start), min(b, end)) for a, b in intervals if min(b, end) > max(a, start)]


def subtract(intervals: Iterable[Interval], removed: Iterable[Interval]) -> list[Interval]:
    """Return *intervals* less every part covered by *removed*."""
    holes = union(removed)
    kept: list[Interval] = []
    for start, end in union(intervals):
        cursor = start
        for hole_start, hole_end in holes:
            if hole_end <= cursor or hole_start >= end:
                continue
            if hole_start > cursor:
                kept.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < end:
            kept.append((cursor, end))
    return kept


def total(intervals: Iterable[Interval]) -> timedelta:
    """Return the time the intervals cover, counting overlaps once."""
    return sum((end - start for start, end in union(intervals)), ZERO)


# --- facts and figures --------------------------------------------------------------


@dataclass(frozen=True)
class Focus:
    """A stretch the analyst had a case page visible and in focus."""

    case_id: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class CaseStep:
    """A step the analyst took on a case (any history entry they are the actor of)."""

    case_id: int
    at: datetime


@dataclass(frozen=True)
class Decision:
    """A decision the analyst made: resolve, close as …, escalate, propose an action."""

    kind: str
    at: datetime


@dataclass(frozen=True)
class Handled:
    """A case the analyst resolved or closed, when, in which queue, and how its clocks stood."""

    case_id: int
    at: datetime
    queue: str | None
    tier: str | None
    response_met: bool | None
    resolution_met: bool | None
    reopened: bool


@dataclass(frozen=True)
class FirstResponse:
    """A case whose first response the analyst gave, and how long after opening."""

    case_id: int
    at: datetime
    wait: timedelta


@dataclass(frozen=True)
class Escalated:
    """A case the analyst escalated."""

    case_id: int
    at: datetime


@dataclass(frozen=True)
class AppealOutcome:
    """A decided appeal against an action the analyst proposed."""

    action_id: int
    decided_at: datetime
    state: str


@dataclass(frozen=True)
class Period:
    """A period of availability: on shift, or on break, training or meeting (end: open)."""

    kind: str
    start: datetime
    end: datetime | None


@dataclass(frozen=True)
class AnalystFacts:
    """What the audit trail holds about one analyst, over a range of time."""

    username: str
    team: str
    tier: str
    focus: tuple[Focus, ...] = ()
    steps: tuple[CaseStep, ...] = ()
    decisions: tuple[Decision, ...] = ()
    handled: tuple[Handled, ...] = ()
    first_responses: tuple[FirstResponse, ...] = ()
    escalated: tuple[Escalated, ...] = ()
    appeals: tuple[AppealOutcome, ...] = ()
    periods: tuple[Period, ...] = ()


@dataclass(frozen=True)
class SlaLine:
    """SLA attainment of one queue (and its tier): cases handled with an SLA, and met."""

    queue: str
    tier: str
    handled: int
    met: int

    @property
    def rate(self) -> float | None:
        """Return met over handled, or None without cases."""
        return self.met / self.handled if self.handled else None


@dataclass(frozen=True)
class AnalystFigures:
    """The figures of one analyst (or a group of them) over one window."""

    name: str
    team: str
    tier: str
    start: datetime
    end: datetime
    analysts: int
    cases_handled: int
    decisions: Mapping[str, int]
    handling: timedelta
    handled_active: timedelta
    first_response_waits: tuple[timedelta, ...]
    sla: tuple[SlaLine, ...]
    reopened: int
    worked: int
    escalated: int
    appeals_decided: int
    appeals_overturned: int
    available: timedelta
    per_case: Mapping[int, timedelta] = field(default_factory=dict)

    @property
    def handle_time(self) -> timedelta | None:
        """Return the mean active time per case handled, or None without cases."""
        return self.handled_active / self.cases_handled if self.cases_handled else None

    @property
    def first_response(self) -> timedelta | None:
        """Return the median time to first response, or None without first responses."""
        return median_span(self.first_response_waits)

    @property
    def sla_handled(self) -> int:
        """Return how many handled cases had an SLA."""
        return sum(line.handled for line in self.sla)

    @property
    def sla_attainment(self) -> float | None:
        """Return the share of handled cases (with an SLA) that met both targets."""
        handled = self.sla_handled
        return sum(line.met for line in self.sla) / handled if handled else None

    @property
    def reopen_rate(self) -> float | None:
        """Return reopened over handled."""
        return self.reopened / self.cases_handled if self.cases_handled else None

    @property
    def escalation_rate(self) -> float | None:
        """Return escalated over worked."""
        return self.escalated / self.worked if self.worked else None

    @property
    def overturn_rate(self) -> float | None:
        """Return overturned (in whole or part) over decided appeals."""
        return self.appeals_overturned / self.appeals_decided if self.appeals_decided else None

    @property
    def utilisation(self) -> float | None:
        """Return handling time over available time, or None without available time."""
        if self.available <= ZERO:
            return None
        return self.handling / self.available

    def value(self, key: str) -> float | None:
        """Return the headline figure *key* as one number (hours, minutes or a share)."""
        return headline(self, key)


# Appeal states that reverse the analyst's action in whole or in part.
OVERTURNED = frozenset({"overturned", "partial"})


def _inside(at: datetime, start: datetime, end: datetime) -> bool:
    return start <= at < end


def active_intervals(
    focus: Iterable[Focus], steps: Iterable[CaseStep], *, action_span: timedelta
) -> dict[int, list[Interval]]:
    """Return each case's active intervals: focus stretches and the span before each step."""
    by_case: dict[int, list[Interval]] = {}
    for stretch in focus:
        by_case.setdefault(stretch.case_id, []).append((stretch.start, stretch.end))
    for step in steps:
        by_case.setdefault(step.case_id, []).append((step.at - action_span, step.at))
    return {case_id: union(parts) for case_id, parts in by_case.items()}


def available_intervals(
    periods: Iterable[Period], start: datetime, end: datetime, *, now: datetime
) -> list[Interval]:
    """Return the time on shift inside *start*..*end*, less breaks, training and meetings."""
    spans = [(p.kind, p.start, p.end if p.end is not None else max(p.start, now)) for p in periods]
    shifts = [(a, b) for kind, a, b in spans if kind == ShiftKind.SHIFT]
    away = [(a, b) for kind, a, b in spans if kind in ShiftKind.AWAY]
    return clip(subtract(shifts, away), start, end)


def analyst_figures(
    facts: AnalystFacts,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    action_span: timedelta,
) -> AnalystFigures:
    """Return the analyst's figures for the window *start*..*end* (end excluded)."""
    steps = [s for s in facts.steps if _inside(s.at, start, end)]
    focus = [f for f in facts.focus if f.end > start and f.start < end]
    per_case = {
        case_id: clip(parts, start, end)
        for case_id, parts in active_intervals(focus, steps, action_span=action_span).items()
    }
    per_case = {case_id: parts for case_id, parts in per_case.items() if parts}
    handled = _first_per_case(h for h in facts.handled if _inside(h.at, start, end))
    handled_active = sum((total(per_case.get(h.case_id, ())) for h in handled), ZERO)
    sla: dict[tuple[str, str], list[int]] = {}
    for case in handled:
        if case.queue is None or case.response_met is None or case.resolution_met is None:
            continue
        line = sla.setdefault((case.queue, case.tier or ""), [0, 0])
        line[0] += 1
        line[1] += int(case.response_met and case.resolution_met)
    escalated = {e.case_id for e in facts.escalated if _inside(e.at, start, end)}
    worked = set(per_case) | {s.case_id for s in steps}
    appeals = [a for a in facts.appeals if _inside(a.decided_at, start, end)]
    return AnalystFigures(
        name=facts.username,
        team=facts.team,
        tier=facts.tier,
        start=start,
        end=end,
        analysts=1,
        cases_handled=len(handled),
        decisions=dict(
            sorted(Counter(d.kind for d in facts.decisions if _inside(d.at, start, end)).items())
        ),
        handling=total(part for parts in per_case.values() for part in parts),
        handled_active=handled_active,
        first_response_waits=tuple(
            sorted(r.wait for r in facts.first_responses if _inside(r.at, start, end))
        ),
        sla=tuple(SlaLine(q, t, n, met) for (q, t), (n, met) in sorted(sla.items())),
        reopened=sum(1 for h in handled if h.reopened),
        worked=len(worked),
        escalated=len(escalated),
        appeals_decided=len(appeals),
        appeals_overturned=sum(1 for a in appeals if a.state in OVERTURNED),
        available=total(available_intervals(facts.periods, start, end, now=now)),
        per_case={case_id: total(parts) for case_id, parts in sorted(per_case.items())},
    )


def _first_per_case(handled: Iterable[Handled]) -> list[Handled]:
    first: dict[int, Handled] = {}
    for case in sorted(handled, key=lambda h: h.at):
        first.setdefault(case.case_id, case)
    return list(first.values())


def combine(
    name: str, figures: Sequence[AnalystFigures], *, team: str = "", tier: str = ""
) -> AnalystFigures:
    """Return the figures of a group (team, tier, everyone): counts and times added up,
    rates recomputed from the totals, first-response waits pooled for the median."""
    if not figures:
        raise ValueError("a group needs at least one analyst's figures")
    decisions: Counter[str] = Counter()
    sla: dict[tuple[str, str], list[int]] = {}
    for one in figures:
        decisions.update(one.decisions)
        for line in one.sla:
            entry = sla.setdefault((line.queue, line.tier), [0, 0])
            entry[0] += line.handled
            entry[1] += line.met
    return AnalystFigures(
        name=name,
        team=team,
        tier=tier,
        start=min(f.start for f in figures),
        end=max(f.end for f in figures),
        analysts=sum(f.analysts for f in figures),
        cases_handled=sum(f.cases_handled for f in figures),
        decisions=dict(sorted(decisions.items())),
        handling=sum((f.handling for f in figures), ZERO),
        handled_active=sum((f.handled_active for f in figures), ZERO),
        first_response_waits=tuple(sorted(w for f in figures for w in f.first_response_waits)),
        sla=tuple(SlaLine(q, t, n, met) for (q, t), (n, met) in sorted(sla.items())),
        reopened=sum(f.reopened for f in figures),
        worked=sum(f.worked for f in figures),
        escalated=sum(f.escalated for f in figures),
        appeals_decided=sum(f.appeals_decided for f in figures),
        appeals_overturned=sum(f.appeals_overturned for f in figures),
        available=sum((f.available for f in figures), ZERO),
    )


# --- headline numbers, medians and outliers -----------------------------------------

# The figures compared between analysts, in the order pages show them.
HEADLINE = (
    Figure.CASES_HANDLED,
    Figure.HANDLING_TIME,
    Figure.HANDLE_TIME,
    Figure.FIRST_RESPONSE,
    Figure.SLA_ATTAINMENT,
    Figure.REOPEN_RATE,
    Figure.ESCALATION_RATE,
    Figure.OVERTURN_RATE,
    Figure.AVAILABLE_TIME,
    Figure.UTILISATION,
)
# Figures where a lower value is the better one (for the outlier's wording).
LOWER_IS_BETTER = frozenset(
    {Figure.HANDLE_TIME, Figure.FIRST_RESPONSE, Figure.REOPEN_RATE, Figure.OVERTURN_RATE}
)


def _minutes(span: timedelta | None) -> float | None:
    return None if span is None else span.total_seconds() / 60


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def headline(figures: AnalystFigures, key: str) -> float | None:
    """Return figure *key* as one number: hours, minutes, a count or a share (0..1)."""
    values: dict[str, float | None] = {
        Figure.CASES_HANDLED: float(figures.cases_handled),
        Figure.HANDLING_TIME: _hours(figures.handling),
        Figure.HANDLE_TIME: _minutes(figures.handle_time),
        Figure.FIRST_RESPONSE: _minutes(figures.first_response),
        Figure.SLA_ATTAINMENT: figures.sla_attainment,
        Figure.REOPEN_RATE: figures.reopen_rate,
        Figure.ESCALATION_RATE: figures.escalation_rate,
        Figure.OVERTURN_RATE: figures.overturn_rate,
        Figure.AVAILABLE_TIME: _hours(figures.available),
        Figure.UTILISATION: figures.utilisation,
    }
    if key not in values:
        raise KeyError(f"no headline figure {key!r}")
    return values[key]


def median_span(values: Sequence[timedelta]) -> timedelta | None:
    """Return the median of *values*, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def median(values: Iterable[float | None]) -> float | None:
    """Return the median of the values that are there, or None when none are."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


# For a normal distribution the median absolute deviation is the mean absolute deviation
# times sqrt(pi / 2) * 0.6745 (its third quartile): about 0.845.
MEAN_TO_MEDIAN_DEVIATION: Final = math.sqrt(math.pi / 2) * statistics.NormalDist().inv_cdf(0.75)


@dataclass(frozen=True)
class Outlier:
    """An analyst whose figure is far from the group's median."""

    name: str
    key: str
    value: float
    median: float
    spread: float

    @property
    def direction(self) -> str:
        """Return "above" or "below" the median."""
        return "above" if self.value > self.median else "below"


def outliers(
    values: Mapping[str, float | None], key: str, *, factor: float, min_group: int = 3
) -> list[Outlier]:
    """Return the analysts whose *key* is more than *factor* median absolute deviations
    from the median of the group (at least *min_group* analysts with a value).

    The median absolute deviation resists the outliers it looks for, unlike a standard
    deviation. When most analysts agree exactly it is 0, and the spread is then the mean
    absolute deviation from the median times 0.845 (the two agree for a normal
    distribution): one analyst away from a team that otherwise agrees is still found.
    """
    present = {name: v for name, v in values.items() if v is not None}
    if len(present) < min_group:
        return []
    middle = statistics.median(present.values())
    deviations = [abs(v - middle) for v in present.values()]
    spread = statistics.median(deviations) or MEAN_TO_MEDIAN_DEVIATION * statistics.fmean(
        deviations
    )
    if spread == 0:
        return []
    return [
        Outlier(name, key, value, middle, spread)
        for name, value in sorted(present.items())
        if abs(value - middle) > factor * spread
    ]


def weeks(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """Return the weeks (Monday to Monday) that overlap *start*..*end*, oldest first."""
    return [(week, week + WEEK) for week in weeks_between(start, end)]


# --- shift rows as a rota file gives them -------------------------------------------


@dataclass(frozen=True)
class ShiftLine:
    """One period of a rota file, checked: who, what, from, to, note."""

    line: int
    username: str
    kind: str
    start: datetime
    end: datetime
    note: str


MAX_PERIOD = timedelta(hours=24)


def check_period(kind: str, start: datetime, end: datetime | None) -> list[str]:
    """Return what is wrong with a period of availability, in sentences (empty: nothing)."""
    problems = []
    if kind not in ShiftKind.ALL:
        problems.append(f"kind {kind[:40]!r} is not one of {', '.join(ShiftKind.ALL)}")
    if end is not None and end <= start:
        problems.append("the period ends before it starts")
    elif end is not None and end - start > MAX_PERIOD:
        problems.append("a period longer than 24 hours is not a shift; split it by day")
    return problems


MAX_NOTE = 500
# A rota with more lines than this is refused.
MAX_IMPORT_LINES = 50_000
IMPORT_COLUMNS = ("username", "kind", "starts_at", "ends_at")


def clean_text(text: str) -> str:
    """Return *text* with control characters (NUL, escapes, bidi controls) left out."""
    return "".join(ch for ch in text if ch.isprintable() or ch == " ")


def parse_rota(text: str) -> tuple[list[ShiftLine], list[str]]:
    """Read a rota file (CSV: username, kind, starts_at, ends_at[, note]); return the lines
    and the problems, each naming its line."""
    reader = csv.reader(io.StringIO(text))
    lines: list[ShiftLine] = []
    problems: list[str] = []
    header = next(reader, None)
    if header is None:
        return [], ["the file is empty; the first line names the columns"]
    names = [h.strip().lower() for h in header]
    if names[:4] != list(IMPORT_COLUMNS):
        return [], [
            f"line 1: the columns must start {', '.join(IMPORT_COLUMNS)} (then note, optional)"
        ]
    for number, row in enumerate(reader, start=2):
        if number > MAX_IMPORT_LINES:
            problems.append(f"more than {MAX_IMPORT_LINES:,} lines; split the file")
            break
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < 4 or len(row) > 5:
            problems.append(f"line {number}: expected 4 or 5 columns, found {len(row)}")
            continue
        username, kind, starts, ends = (cell.strip() for cell in row[:4])
        note = clean_text(row[4]).strip() if len(row) == 5 else ""
        found: list[str] = []
        start = _time(starts, number, "starts_at", found)
        end = _time(ends, number, "ends_at", found)
        if not username:
            found.append(f"line {number}: no username")
        elif clean_text(username) != username:
            found.append(f"line {number}: the username holds control characters")
        if start is not None and end is not None:
            found.extend(f"line {number}: {p}" for p in check_period(kind, start, end))
        elif kind not in ShiftKind.ALL:
            found.append(
                f"line {number}: kind {kind[:40]!r} is not one of {', '.join(ShiftKind.ALL)}"
            )
        if found or start is None or end is None:
            problems.extend(found)
            continue
        lines.append(ShiftLine(number, username[:200], kind, start, end, note[:MAX_NOTE]))
    return lines, problems


def _time(value: str, number: int, column: str, problems: list[str]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        problems.append(
            f"line {number}: {column} {value[:40]!r} is not a date and time like 2026-11-02T08:00Z"
        )
        return None
    if parsed.tzinfo is None:
        problems.append(f"line {number}: {column} {value[:40]!r} has no timezone (add Z for UTC)")
        return None
    return parsed.astimezone(UTC)
