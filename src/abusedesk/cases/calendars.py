"""Business-hours calendars: opening hours in a time zone, holidays, and time arithmetic.

Opening hours are wall-clock times in the calendar's IANA time zone. A day's interval
``[start, end)`` covers the instants from the first moment its local clock reads
``start`` to the first moment it reads ``end`` (``24:00`` is the next midnight). A start
inside a daylight-saving gap begins at the transition; an ambiguous time (the hour
repeated in autumn) means its first occurrence. So a 24x7 calendar covers every instant in
any zone, a day with a spring gap is shorter, and an autumn day is longer.

All instants given and returned are timezone-aware UTC (naive ones are taken as UTC).
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from abusedesk.cases.errors import InvalidCalendar, InvalidSpan
from abusedesk.core.clock import as_utc

DAY_SECONDS = 86400
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, order=True)
class Hours:
    """One opening interval within a local day, in seconds after midnight (end up to 24:00)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= DAY_SECONDS:
            raise InvalidCalendar([f"opening hours {self} must run forward within one day"])

    @classmethod
    def parse(cls, text: str) -> "Hours":
        """Return the interval written ``HH:MM-HH:MM`` (``24:00`` ends at midnight)."""
        try:
            first, last = (part.strip() for part in text.split("-"))
            return cls(_seconds(first), _seconds(last))
        except ValueError:
            raise InvalidCalendar(
                [f"opening hours {text!r} are not HH:MM-HH:MM, e.g. 09:00-17:30"]
            ) from None

    def __str__(self) -> str:
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _seconds(text: str) -> int:
    hours, minutes = text.split(":")
    if len(minutes) != 2 or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(text)
    value = int(hours) * 3600 + int(minutes) * 60
    if int(minutes) > 59 or value > DAY_SECONDS:
        raise ValueError(text)
    return value


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


ALL_DAY = (Hours(0, DAY_SECONDS),)


def _check_day(hours: Sequence[Hours], where: str) -> list[str]:
    ordered = sorted(hours)
    return [f"{where}: {a} overlaps {b}" for a, b in pairwise(ordered) if b.start < a.end]


@dataclass(frozen=True)
class Holiday:
    """A date with its own opening hours: none (closed all day) or a few (a partial day)."""

    day: date
    hours: tuple[Hours, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class BusinessCalendar:
    """Weekly opening hours (Monday first) in a time zone, with holidays."""

    name: str
    timezone: str
    weekly: tuple[tuple[Hours, ...], ...]
    holidays: tuple[Holiday, ...] = ()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _by_day: dict[date, Holiday] = field(init=False, repr=False, compare=False)
    _cache: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        problems: list[str] = []
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                f"unknown time zone {self.timezone!r}; use an IANA name like Europe/Berlin"
            )
            zone = ZoneInfo("UTC")
        if len(self.weekly) != 7:
            problems.append(f"weekly hours need 7 days (Monday first), got {len(self.weekly)}")
        else:
            for name, hours in zip(WEEKDAYS, self.weekly, strict=True):
                problems += _check_day(hours, name)
            if not any(self.weekly):
                problems.append("the calendar is never open; give some weekly hours")
        by_day: dict[date, Holiday] = {}
        for holiday in self.holidays:
            if holiday.day in by_day:
                problems.append(f"holiday {holiday.day} is listed twice")
            by_day[holiday.day] = holiday
            problems += _check_day(holiday.hours, f"holiday {holiday.day}")
        if problems:
            raise InvalidCalendar(problems)
        object.__setattr__(self, "weekly", tuple(tuple(sorted(day)) for day in self.weekly))
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_by_day", by_day)
        object.__setattr__(self, "_cache", {})

    @classmethod
    def always(cls, timezone: str = "UTC", name: str = "24x7") -> "BusinessCalendar":
        """Return a calendar open every instant of every day."""
        return cls(name, timezone, (ALL_DAY,) * 7)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BusinessCalendar":
        """Build a calendar from its JSON form; raise InvalidCalendar listing every problem.

        ``{"name": ..., "timezone": "Europe/Berlin", "hours": {"mon": ["09:00-17:00"], ...}
        or "24x7", "holidays": [{"date": "2026-12-24", "hours": ["09:00-12:00"], "name": ...}]}``;
        a weekday left out is closed.
        """
        problems: list[str] = []
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.append("name: give the calendar a name")
        zone = data.get("timezone")
        if not isinstance(zone, str) or not _zone_exists(zone):
            problems.append(f"timezone: {zone!r} is not an IANA time zone name like Europe/Berlin")
        raw_hours = data.get("hours")
        weekly: list[tuple[Hours, ...]] = []
        if raw_hours == "24x7":
            weekly = [ALL_DAY] * 7
        elif isinstance(raw_hours, Mapping):
            strangers = sorted(set(raw_hours) - set(WEEKDAYS))
            if strangers:
                problems.append(f"hours: unknown weekday(s) {strangers}; use {', '.join(WEEKDAYS)}")
            weekly = [
                _hours_list(raw_hours.get(day, []), f"hours.{day}", problems) for day in WEEKDAYS
            ]
        else:
            problems.append('hours: give {"mon": ["09:00-17:00"], ...} or "24x7"')
        holidays: list[Holiday] = []
        raw_holidays = data.get("holidays", [])
        if not isinstance(raw_holidays, list):
            problems.append("holidays: give a list of {date, hours?, name?}")
            raw_holidays = []
        for index, item in enumerate(raw_holidays):
            where = f"holidays[{index}]"
            if not isinstance(item, Mapping):
                problems.append(f"{where}: give {{date, hours?, name?}}")
                continue
            try:
                day = date.fromisoformat(str(item.get("date")))
            except ValueError:
                problems.append(f"{where}.date: {item.get('date')!r} is not YYYY-MM-DD")
                continue
            hours = _hours_list(item.get("hours", []), f"{where}.hours", problems)
            holidays.append(Holiday(day, hours, str(item.get("name", ""))))
        if problems:
            raise InvalidCalendar(problems)
        # Both were checked above; the asserts narrow the types.
        assert isinstance(name, str)  # noqa: S101
        assert isinstance(zone, str)  # noqa: S101
        return cls(name.strip(), zone, tuple(weekly), tuple(holidays))

    def to_dict(self) -> dict[str, Any]:
        """Return the calendar in the JSON form :meth:`from_dict` reads."""
        return {
            "name": self.name,
            "timezone": self.timezone,
            "hours": {
                day: [str(h) for h in hours]
                for day, hours in zip(WEEKDAYS, self.weekly, strict=True)
                if hours
            },
            "holidays": [
                {"date": h.day.isoformat(), "hours": [str(x) for x in h.hours], "name": h.name}
                for h in sorted(self.holidays, key=lambda h: h.day)
            ],
        }

    def hours_on(self, day: date) -> tuple[Hours, ...]:
        """Return the local opening hours of *day*: the holiday's if it is one, else the weekday's."""
        holiday = self._by_day.get(day)
        return tuple(sorted(holiday.hours)) if holiday else self.weekly[day.weekday()]

    def open_periods(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        """Return the UTC instants the calendar is open on local *day*, as [start, end) pairs."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        periods = []
        for hours in self.hours_on(day):
            start, end = self._instant(day, hours.start), self._instant(day, hours.end)
            if start < end:
                periods.append((start, end))
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[day] = result = tuple(periods)
        return result

    def _instant(self, day: date, seconds: int) -> datetime:
        """Return the first instant whose local wall clock reads *seconds* after *day*'s midnight."""
        naive = datetime.combine(day, time()) + timedelta(seconds=seconds)
        early = naive.replace(tzinfo=self._zone).astimezone(UTC)
        if early.astimezone(self._zone).replace(tzinfo=None) == naive:
            return early
        # The wall time falls in a gap: find the transition, the first instant past it.
        late = naive.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        low, high = min(early, late), max(early, late)
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) // 2
            middle = middle.replace(microsecond=0)
            if middle.astimezone(self._zone).replace(tzinfo=None) >= naive:
                high = middle
            else:
                low = middle
        return high

    def periods_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the open periods from *start* on, the first one clipped to start there."""
        start = as_utc(start)
        day = start.astimezone(self._zone).date() - timedelta(days=1)
        while True:
            for begin, end in self.open_periods(day):
                if end > start:
                    yield max(begin, start), end
            day += timedelta(days=1)

    def is_open(self, at: datetime) -> bool:
        """Tell whether the calendar is open at instant *at*."""
        at = as_utc(at)
        return self.next_open(at) == at

    def next_open(self, at: datetime) -> datetime:
        """Return *at* if the calendar is open then, else the next instant it opens."""
        return next(self.periods_from(at))[0]

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the instant when *duration* of business time has passed since *start*."""
        if duration < timedelta(0):
            raise InvalidSpan(f"cannot add a negative business duration ({duration})")
        start = as_utc(start)
        if not duration:
            return start
        remaining = duration
        for begin, end in self.periods_from(start):
            if end - begin >= remaining:
                return begin + remaining
            remaining -= end - begin
        raise AssertionError("periods_from never ends")  # pragma: no cover

    def elapsed(self, start: datetime, end: datetime) -> timedelta:
        """Return the business time between *start* and *end* (end not before start)."""
        start, end = as_utc(start), as_utc(end)
        if end < start:
            raise InvalidSpan(
                f"the span ends ({end.isoformat()}) before it starts ({start.isoformat()})"
            )
        total = timedelta(0)
        for begin, finish in self.periods_from(start):
            if begin >= end:
                break
            total += min(finish, end) - begin
        return total


def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _hours_list(raw: object, where: str, problems: list[str]) -> tuple[Hours, ...]:
    if not isinstance(raw, list):
        problems.append(f'{where}: give a list like ["09:00-12:00", "13:00-17:00"]')
        return ()
    hours: list[Hours] = []
    for item in raw:
        try:
            hours.append(Hours.parse(str(item)))
        except InvalidCalendar as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
    day_problems = _check_day(hours, where)
    problems += day_problems
    return () if day_problems else tuple(hours)
