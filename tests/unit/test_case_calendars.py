"""Business-hours calendars: opening hours, holidays, time zones, DST and year ends."""

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.cases.calendars import ALL_DAY, BusinessCalendar, Hours
from abusedesk.cases.errors import InvalidCalendar, InvalidSpan

WORKDAYS = ("mon", "tue", "wed", "thu", "fri")


def office(timezone: str, holidays: list[dict[str, Any]] | None = None) -> BusinessCalendar:
    """Return a Monday-to-Friday 09:00-17:00 calendar in *timezone*."""
    return BusinessCalendar.from_dict(
        {
            "name": f"office {timezone}",
            "timezone": timezone,
            "hours": {day: ["09:00-17:00"] for day in WORKDAYS},
            "holidays": holidays or [],
        }
    )


LONDON = office("Europe/London")
BERLIN = office(
    "Europe/Berlin",
    [{"date": "2026-12-24", "hours": ["09:00-12:00"]}, {"date": "2026-12-25", "name": "Christmas"}],
)
UTC_OFFICE = office("UTC", [{"date": "2027-01-01", "name": "New Year"}])
NIGHT = BusinessCalendar.from_dict(
    {
        "name": "night",
        "timezone": "UTC",
        "hours": {d: ["00:00-02:00", "22:00-24:00"] for d in (*WORKDAYS, "sat", "sun")},
    }
)


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    """Return a UTC instant."""
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_adding_across_the_spring_dst_weekend() -> None:
    """Friday 16:00 GMT plus two business hours is Monday 10:00 BST, 09:00 UTC."""
    assert LONDON.add(at(2026, 3, 27, 16), timedelta(hours=2)) == at(2026, 3, 30, 9)


def test_adding_across_the_autumn_dst_weekend() -> None:
    """Friday 16:00 BST (15:00 UTC) plus two business hours is Monday 10:00 GMT."""
    assert LONDON.add(at(2026, 10, 23, 15), timedelta(hours=2)) == at(2026, 10, 26, 10)


def test_a_business_day_keeps_eight_hours_after_the_clocks_change() -> None:
    """The Monday after the spring change still has 09:00-17:00 local, eight hours."""
    assert LONDON.elapsed(at(2026, 3, 30), at(2026, 3, 31)) == timedelta(hours=8)


def test_adding_across_the_year_end_skips_the_holiday() -> None:
    """Thursday 31 December 16:00 plus two hours skips New Year's Day and the weekend."""
    assert UTC_OFFICE.add(at(2026, 12, 31, 16), timedelta(hours=2)) == at(2027, 1, 4, 10)


def test_a_partial_holiday_opens_only_its_hours() -> None:
    """Christmas Eve opens 09:00-12:00 in Berlin; Christmas is closed; then the weekend."""
    start = at(2026, 12, 23, 15)  # 16:00 in Berlin: one hour left that day
    assert BERLIN.add(start, timedelta(hours=8)) == at(2026, 12, 28, 12)


def test_hours_on_a_holiday_replace_the_weekday() -> None:
    """The holiday's own hours are the day's hours."""
    assert [str(h) for h in BERLIN.hours_on(date(2026, 12, 24))] == ["09:00-12:00"]


def test_opening_hours_run_across_midnight() -> None:
    """22:00-24:00 and 00:00-02:00 join into one stretch of business time."""
    assert (
        NIGHT.add(at(2026, 6, 10, 23), timedelta(hours=2)),
        NIGHT.elapsed(at(2026, 6, 10, 22), at(2026, 6, 11, 2)),
    ) == (at(2026, 6, 11, 1), timedelta(hours=4))


def test_a_weekend_adds_no_business_time() -> None:
    """From Saturday midnight to Monday midnight in London no business time passes."""
    assert LONDON.elapsed(at(2026, 6, 13), at(2026, 6, 15)) == timedelta(0)


@pytest.mark.parametrize(
    ("day", "hours"), [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 6, 1), 24)]
)
def test_a_24x7_day_lasts_as_long_as_the_local_day(day: date, hours: int) -> None:
    """In London the spring change day has 23 hours, the autumn one 25."""
    ((start, end),) = BusinessCalendar.always("Europe/London").open_periods(day)
    assert end - start == timedelta(hours=hours)


def test_opening_hours_inside_the_spring_gap_start_at_the_change() -> None:
    """01:30-03:00 on the spring change day opens at 02:00 BST (01:00 UTC): one real hour."""
    calendar = BusinessCalendar.from_dict(
        {"name": "gap", "timezone": "Europe/London", "hours": {"sun": ["01:30-03:00"]}}
    )
    assert calendar.open_periods(date(2026, 3, 29)) == ((at(2026, 3, 29, 1), at(2026, 3, 29, 2)),)


def test_a_midnight_that_does_not_exist_starts_the_day_at_the_change() -> None:
    """Havana skips from midnight to 01:00 on 8 March 2026; that day begins at 05:00 UTC."""
    calendar = BusinessCalendar.always("America/Havana")
    assert (
        calendar.open_periods(date(2026, 3, 7))[0][1],
        calendar.open_periods(date(2026, 3, 8))[0][0],
    ) == (
        at(2026, 3, 8, 5),
        at(2026, 3, 8, 5),
    )


def test_is_open_and_next_open() -> None:
    """Saturday is closed and the next opening is Monday 09:00; Monday 10:00 is open."""
    assert (
        LONDON.is_open(at(2026, 6, 13, 10)),
        LONDON.next_open(at(2026, 6, 13, 10)),
        LONDON.is_open(at(2026, 6, 15, 9)),
    ) == (False, at(2026, 6, 15, 8), True)


def test_adding_nothing_returns_the_start_even_when_closed() -> None:
    """A zero duration is due at once."""
    assert LONDON.add(at(2026, 6, 13, 10), timedelta(0)) == at(2026, 6, 13, 10)


def test_a_naive_instant_is_taken_as_utc() -> None:
    """Naive datetimes (as SQLite returns them) count as UTC."""
    naive = datetime(2026, 3, 27, 16)  # noqa: DTZ001  # a naive value is what is tested
    assert LONDON.add(naive, timedelta(hours=2)) == at(2026, 3, 30, 9)


def test_negative_durations_and_backward_spans_are_refused() -> None:
    """Adding a negative duration or measuring a span that ends first raises InvalidSpan."""
    with pytest.raises(InvalidSpan):
        LONDON.add(at(2026, 1, 1), timedelta(seconds=-1))
    with pytest.raises(InvalidSpan):
        LONDON.elapsed(at(2026, 1, 2), at(2026, 1, 1))


def test_a_bad_calendar_lists_every_problem() -> None:
    """Name, time zone, weekday, hours format, overlaps and dates are all reported at once."""
    with pytest.raises(InvalidCalendar) as caught:
        BusinessCalendar.from_dict(
            {
                "name": "",
                "timezone": "Mars/Olympus",
                "hours": {"mon": ["9-17"], "tue": ["09:00-13:00", "12:00-17:00"], "funday": []},
                "holidays": [{"date": "2026-02-30"}],
            }
        )
    assert caught.value.problems == (
        "name: give the calendar a name",
        "timezone: 'Mars/Olympus' is not an IANA time zone name like Europe/Berlin",
        "hours: unknown weekday(s) ['funday']; use mon, tue, wed, thu, fri, sat, sun",
        "hours.mon: opening hours '9-17' are not HH:MM-HH:MM, e.g. 09:00-17:30",
        "hours.tue: 09:00-13:00 overlaps 12:00-17:00",
        "holidays[0].date: '2026-02-30' is not YYYY-MM-DD",
    )


def test_a_calendar_that_never_opens_is_refused() -> None:
    """Without any weekly hours no due time could ever be computed."""
    with pytest.raises(InvalidCalendar):
        BusinessCalendar.from_dict({"name": "never", "timezone": "UTC", "hours": {}})


def test_the_json_form_reads_back_the_same_calendar() -> None:
    """to_dict and from_dict round-trip, holidays included."""
    assert BusinessCalendar.from_dict(BERLIN.to_dict()) == BERLIN


def test_24x7_shortcut_is_open_all_week() -> None:
    """``"hours": "24x7"`` builds the always-open calendar."""
    calendar = BusinessCalendar.from_dict({"name": "24x7", "timezone": "UTC", "hours": "24x7"})
    assert calendar == BusinessCalendar.always("UTC")


CALENDARS = [
    LONDON,
    BERLIN,
    UTC_OFFICE,
    NIGHT,
    BusinessCalendar.from_dict(
        {
            "name": "split",
            "timezone": "Australia/Lord_Howe",
            "hours": {d: ["08:00-12:00", "13:00-18:30"] for d in WORKDAYS},
        }
    ),
    # Sunday hours that end inside London's spring gap and start right after it.
    BusinessCalendar.from_dict(
        {
            "name": "gap",
            "timezone": "Europe/London",
            "hours": {"sun": ["00:00-01:30", "02:00-03:00"]},
        }
    ),
    BusinessCalendar.from_dict(
        {
            "name": "havana",
            "timezone": "America/Havana",
            "hours": {d: ["00:00-01:30", "23:00-24:00"] for d in ("sat", "sun")},
        }
    ),
]
ZONES = [
    "UTC",
    "Europe/London",
    "America/Havana",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Kolkata",
]
PROPERTY = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
# Hypothesis takes naive bounds and attaches the time zone itself.
INSTANTS = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001
    max_value=datetime(2029, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
DURATIONS = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=6))


@PROPERTY
@given(calendar=st.sampled_from(CALENDARS), start=INSTANTS, duration=DURATIONS)
def test_elapsed_undoes_add(
    calendar: BusinessCalendar, start: datetime, duration: timedelta
) -> None:
    """The business time from start to start + d is exactly d."""
    assert calendar.elapsed(start, calendar.add(start, duration)) == duration


@PROPERTY
@given(calendar=st.sampled_from(CALENDARS), start=INSTANTS, first=DURATIONS, second=DURATIONS)
def test_add_is_monotonic_and_never_goes_back(
    calendar: BusinessCalendar, start: datetime, first: timedelta, second: timedelta
) -> None:
    """A longer duration is never due earlier, and nothing is due before the start."""
    short, long = sorted((first, second))
    assert start <= calendar.add(start, short) <= calendar.add(start, long)


@PROPERTY
@given(calendar=st.sampled_from(CALENDARS), a=INSTANTS, b=INSTANTS, c=INSTANTS)
def test_elapsed_adds_up_over_consecutive_spans(
    calendar: BusinessCalendar, a: datetime, b: datetime, c: datetime
) -> None:
    """Business time from a to c is that from a to b plus that from b to c."""
    a, b, c = sorted((a, b, c))
    c = min(c, a + timedelta(days=60))
    b = min(b, c)
    assert calendar.elapsed(a, c) == calendar.elapsed(a, b) + calendar.elapsed(b, c)


@PROPERTY
@given(
    zone=st.sampled_from(ZONES),
    start=INSTANTS,
    duration=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
)
def test_a_24x7_calendar_is_wall_clock_time_in_any_zone(
    zone: str, start: datetime, duration: timedelta
) -> None:
    """Open all the time, business time is plain UTC arithmetic, across DST and year ends."""
    calendar = BusinessCalendar.always(zone)
    end = calendar.add(start, duration)
    assert (end, calendar.elapsed(start, start + duration)) == (start + duration, duration)


@pytest.mark.parametrize(
    "document",
    [
        {"name": "a", "timezone": "UTC", "hours": "nine to five"},
        {"name": "a", "timezone": "UTC", "hours": {"mon": "09:00-17:00"}},
        {"name": "a", "timezone": "UTC", "hours": {"mon": ["09:00-17:0"]}},
        {"name": "a", "timezone": "UTC", "hours": {"mon": ["09:60-17:00"]}},
        {"name": "a", "timezone": "UTC", "hours": {"mon": ["17:00-09:00"]}},
        {"name": "a", "timezone": "UTC", "hours": "24x7", "holidays": "christmas"},
        {"name": "a", "timezone": "UTC", "hours": "24x7", "holidays": ["2026-12-25"]},
        {"name": "a", "timezone": "UTC", "hours": "24x7", "holidays": [{"date": "2026-12-25"}] * 2},
    ],
)
def test_malformed_calendar_documents_are_refused(document: dict[str, Any]) -> None:
    """Wrong shapes, bad times, backward hours and repeated holidays raise InvalidCalendar."""
    with pytest.raises(InvalidCalendar):
        BusinessCalendar.from_dict(document)


@pytest.mark.parametrize(
    ("timezone", "weekly"),
    [
        ("Nowhere/Zone", (ALL_DAY,) * 7),
        ("UTC", (ALL_DAY,) * 6),
        ("../../etc/passwd", (ALL_DAY,) * 7),
    ],
)
def test_a_calendar_built_in_code_is_checked_too(
    timezone: str, weekly: tuple[tuple[Hours, ...], ...]
) -> None:
    """An unknown or hostile zone name and a week of six days are refused by the constructor."""
    with pytest.raises(InvalidCalendar):
        BusinessCalendar("direct", timezone, weekly)
