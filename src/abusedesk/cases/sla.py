"""SLA maths: response and resolution targets per queue, measured in business time.

A clock runs from the case's opening over the queue's calendar, minus the intervals it
was paused (waiting on the customer, snoozed), and stops at the first response or at
resolution. A running clock is ``breached`` once the whole target has elapsed (so from the
due time on), ``due_soon`` once the warning fraction has; a stopped clock is ``met`` when
it stopped within its target.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from abusedesk.cases.calendars import BusinessCalendar
from abusedesk.cases.errors import InvalidSlaPolicy, InvalidSpan
from abusedesk.cases.states import SlaClock, sla_clock
from abusedesk.core.clock import as_utc

# Longer targets would only hide a mistake (hours typed as days) and make every due-time
# computation walk years of calendar.
MAX_TARGET = timedelta(days=366)


class SlaState:
    """Where a clock stands, most urgent first in :data:`URGENCY`."""

    BREACHED = "breached"
    DUE_SOON = "due_soon"
    OK = "ok"
    MET = "met"

    URGENCY = (BREACHED, DUE_SOON, OK, MET)


@dataclass(frozen=True)
class SlaPolicy:
    """A queue's targets: first response and resolution, on its calendar."""

    queue: str
    calendar: BusinessCalendar
    response: timedelta
    resolution: timedelta
    warning_fraction: float = 0.75

    def __post_init__(self) -> None:
        if self.response <= timedelta(0) or self.resolution <= timedelta(0):
            raise InvalidSlaPolicy(f"queue {self.queue}: SLA targets must be longer than zero")
        if self.resolution > MAX_TARGET:
            raise InvalidSlaPolicy(
                f"queue {self.queue}: SLA targets longer than {MAX_TARGET.days} days are not supported"
            )
        if self.resolution < self.response:
            raise InvalidSlaPolicy(
                f"queue {self.queue}: the resolution target ({self.resolution}) is shorter"
                f" than the response target ({self.response})"
            )
        if not 0 < self.warning_fraction < 1:
            raise InvalidSlaPolicy(
                f"queue {self.queue}: the warning fraction must lie between 0 and 1,"
                f" got {self.warning_fraction}"
            )


@dataclass(frozen=True)
class Pause:
    """An interval the clock did not run; an open pause has no end yet."""

    start: datetime
    end: datetime | None = None
    why: str = ""

    def __post_init__(self) -> None:
        if self.end is not None and as_utc(self.end) < as_utc(self.start):
            raise InvalidSpan(f"a pause ends ({self.end}) before it starts ({self.start})")


@dataclass(frozen=True)
class ClockReading:
    """One clock at one moment: target, business time used, due time, state."""

    target: timedelta
    elapsed: timedelta
    due_at: datetime | None
    state: str
    paused: bool = False
    stopped_at: datetime | None = None

    @property
    def remaining(self) -> timedelta:
        """Return the business time left before the target; negative once breached."""
        return self.target - self.elapsed


@dataclass(frozen=True)
class SlaStatus:
    """Both clocks of a case at one moment."""

    response: ClockReading
    resolution: ClockReading

    @property
    def state(self) -> str:
        """Return the most urgent state of the two clocks, for queue lists."""
        return min((self.response.state, self.resolution.state), key=SlaState.URGENCY.index)


def merge_pauses(pauses: Iterable[Pause]) -> tuple[Pause, ...]:
    """Return *pauses* sorted, with overlapping or touching ones joined."""
    merged: list[Pause] = []
    for pause in sorted(pauses, key=lambda p: as_utc(p.start)):
        start = as_utc(pause.start)
        end = None if pause.end is None else as_utc(pause.end)
        if merged and (merged[-1].end is None or start <= merged[-1].end):
            last = merged[-1]
            joined_end = None if last.end is None or end is None else max(last.end, end)
            merged[-1] = Pause(last.start, joined_end, last.why or pause.why)
        else:
            merged.append(Pause(start, end, pause.why))
    return tuple(merged)


def pauses_from_history(history: Sequence[tuple[datetime, str]]) -> tuple[Pause, ...]:
    """Return the pauses in a case's state history, given as (entered at, state) in order.

    The clock pauses from entering a state whose clock is paused until leaving it.
    """
    pauses: list[Pause] = []
    started: datetime | None = None
    for at, state in history:
        paused = sla_clock(state) == SlaClock.PAUSED
        if paused and started is None:
            started = as_utc(at)
        elif not paused and started is not None:
            pauses.append(Pause(started, as_utc(at), "waiting on customer"))
            started = None
    if started is not None:
        pauses.append(Pause(started, None, "waiting on customer"))
    return tuple(pauses)


def due_at(
    calendar: BusinessCalendar, start: datetime, target: timedelta, pauses: Iterable[Pause] = ()
) -> datetime | None:
    """Return when *target* business time has run from *start*, skipping pauses.

    None while an open pause stops the clock before the target is reached.
    """
    cursor, remaining = as_utc(start), target
    for pause in merge_pauses(pauses):
        if pause.end is not None and pause.end <= cursor:
            continue
        if pause.start > cursor:
            running = calendar.elapsed(cursor, pause.start)
            if running >= remaining:
                return calendar.add(cursor, remaining)
            remaining -= running
        if pause.end is None:
            return None
        cursor = max(cursor, pause.end)
    return calendar.add(cursor, remaining)


def running_time(
    calendar: BusinessCalendar, start: datetime, end: datetime, pauses: Iterable[Pause] = ()
) -> timedelta:
    """Return the business time from *start* to *end* that no pause covers."""
    start, end = as_utc(start), as_utc(end)
    total = calendar.elapsed(start, end)
    for pause in merge_pauses(pauses):
        low = max(pause.start, start)
        high = end if pause.end is None else min(pause.end, end)
        if low < high:
            total -= calendar.elapsed(low, high)
    return total


def read_clock(
    calendar: BusinessCalendar,
    target: timedelta,
    *,
    started_at: datetime,
    now: datetime,
    stopped_at: datetime | None = None,
    pauses: Sequence[Pause] = (),
    warning_fraction: float = 0.75,
) -> ClockReading:
    """Return one clock's reading at *now*: elapsed business time, due time and state."""
    now = as_utc(now)
    end = now if stopped_at is None else min(now, as_utc(stopped_at))
    if end < as_utc(started_at):
        raise InvalidSpan(f"the clock is read ({end}) before it started ({started_at})")
    elapsed = running_time(calendar, started_at, end, pauses)
    due = due_at(calendar, started_at, target, pauses)
    if stopped_at is not None and as_utc(stopped_at) <= now:
        state = SlaState.MET if elapsed <= target else SlaState.BREACHED
        return ClockReading(target, elapsed, due, state, stopped_at=as_utc(stopped_at))
    paused = any(p.start <= end and (p.end is None or end < p.end) for p in merge_pauses(pauses))
    if elapsed >= target:
        state = SlaState.BREACHED
    elif elapsed >= target * warning_fraction:
        state = SlaState.DUE_SOON
    else:
        state = SlaState.OK
    return ClockReading(target, elapsed, due, state, paused=paused)


def sla_status(
    policy: SlaPolicy,
    *,
    opened_at: datetime,
    now: datetime,
    responded_at: datetime | None = None,
    resolved_at: datetime | None = None,
    pauses: Sequence[Pause] = (),
) -> SlaStatus:
    """Return a case's response and resolution clocks at *now* under *policy*."""

    def read(target: timedelta, stopped_at: datetime | None) -> ClockReading:
        return read_clock(
            policy.calendar,
            target,
            started_at=opened_at,
            now=now,
            stopped_at=stopped_at,
            pauses=pauses,
            warning_fraction=policy.warning_fraction,
        )

    return SlaStatus(
        response=read(policy.response, responded_at or resolved_at),
        resolution=read(policy.resolution, resolved_at),
    )
