"""Weeks as every insight counts them: Monday 00:00 to the next Monday 00:00, UTC."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Final

WEEK: Final = timedelta(days=7)


def week_start(moment: date | datetime) -> datetime:
    """Return the Monday 00:00 UTC that starts the week holding *moment*.

    An aware time is read in UTC first; a naive one is taken as UTC.
    """
    if isinstance(moment, datetime):
        aware = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
        moment = aware.date()
    monday = moment - timedelta(days=moment.weekday())
    return datetime.combine(monday, time(0), tzinfo=UTC)


def weeks_between(start: datetime, end: datetime) -> list[datetime]:
    """Return the starts of the weeks that overlap [*start*, *end*), oldest first."""
    found = []
    week = week_start(start)
    while week < end:
        found.append(week)
        week += WEEK
    return found
