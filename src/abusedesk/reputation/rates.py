"""An account's complaint and bounce rates over a representative window, in words.

A rate over a handful of messages says little, so each rate is read over the last 7
days, extended back one day at a time (up to 90 days) until it covers at least 10,000
eligible messages. Days are UTC calendar days and today counts as one of them: the
window of 7 days at 09:00 on 29 Nov holds 23 Nov to 28 Nov and today until 09:00, so that
daily sums (``reputation.batch``) give the same figures as hourly ones. Eligible messages
differ per rate:

- complaint rate = complaints / messages sent to feedback-loop domains (only those
  domains report complaints back, so only they count);
- bounce rate = hard bounces to addresses never verified / messages sent.

The window never starts before *floor* (when the account was reinstated: its metrics
start afresh); a floor within a day moves to the next midnight, so only whole days after
the fresh start count. A rate also says it in a sentence a customer can check, such as
"complaint rate 0.62% over the last 12,400 messages to feedback-loop domains since 2 Nov".
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

BASE_DAYS: Final = 7
MAX_DAYS: Final = 90
MIN_MESSAGES: Final = 10_000

COMPLAINT_RATE: Final = "complaint_rate"
BOUNCE_RATE: Final = "bounce_rate"

# How each rate names the messages it is read over.
_ELIGIBLE_WORDS: Final = {
    COMPLAINT_RATE: "messages to feedback-loop domains",
    BOUNCE_RATE: "messages sent",
}
_RATE_WORDS: Final = {COMPLAINT_RATE: "complaint rate", BOUNCE_RATE: "bounce rate"}


@dataclass(frozen=True)
class HourFigures:
    """One hour of an account's sending, summed over destination groups."""

    hour: datetime
    sent: int = 0
    hard_bounces_non_verified: int = 0
    fbl_sent: int = 0
    complaints: int = 0


@dataclass(frozen=True)
class Rate:
    """One rate as read: *count* events over *eligible* messages from *since* to *until*."""

    metric: str
    count: int
    eligible: int
    since: datetime | None
    until: datetime
    days: int
    min_messages: int = MIN_MESSAGES

    @property
    def value(self) -> float | None:
        """Return the rate as a fraction, or None when no message was eligible."""
        return None if self.eligible == 0 else self.count / self.eligible

    @property
    def representative(self) -> bool:
        """Tell whether the rate covers at least the minimum number of messages."""
        return self.eligible >= self.min_messages

    def sentence(self) -> str:
        """Return the rate in words, e.g. ``complaint rate 0.62% over the last 12,400 ...``."""
        name = _RATE_WORDS.get(self.metric, self.metric.replace("_", " "))
        eligible = _ELIGIBLE_WORDS.get(self.metric, "messages")
        if self.value is None or self.since is None:
            return f"{name} unknown: no {eligible} in the last {self.days} days"
        return (
            f"{name} {percent(self.value)} over the last {self.eligible:,} {eligible}"
            f" since {day_words(self.since, self.until)}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the rate as plain values (for an action's evidence or a template)."""
        return {
            "metric": self.metric,
            "value": self.value,
            "percent": None if self.value is None else percent(self.value),
            "count": self.count,
            "eligible": self.eligible,
            "since": None if self.since is None else self.since.isoformat(),
            "days": self.days,
            "representative": self.representative,
            "sentence": self.sentence(),
        }


def percent(value: float) -> str:
    """Return a fraction as a percentage with two decimals (``0.0062`` -> ``0.62%``)."""
    if 0 < value < 0.00005:
        return "<0.01%"
    return f"{value * 100:.2f}%"


def day_words(moment: datetime, now: datetime) -> str:
    """Return a day as ``2 Nov``, with the year when it is not *now*'s year."""
    if moment.year == now.year:
        return f"{moment.day} {moment:%b}"
    return f"{moment.day} {moment:%b %Y}"


@dataclass(frozen=True)
class RateWindow:
    """How far back a rate reads: *base_days*, extended up to *max_days* for *min_messages*."""

    base_days: int = BASE_DAYS
    max_days: int = MAX_DAYS
    min_messages: int = MIN_MESSAGES

    def __post_init__(self) -> None:
        """Refuse a window that ends before it starts or needs no message at all."""
        if not 1 <= self.base_days <= self.max_days:
            raise ValueError(
                f"base_days ({self.base_days}) must be at least 1 and at most max_days"
                f" ({self.max_days})"
            )
        if self.min_messages < 1:
            raise ValueError(f"min_messages must be at least 1, not {self.min_messages}")


DEFAULT_WINDOW: Final = RateWindow()


def representative_rate(
    metric: str,
    hours: Iterable[HourFigures],
    now: datetime,
    *,
    floor: datetime | None = None,
    window: RateWindow = DEFAULT_WINDOW,
) -> Rate:
    """Return *metric* over the shortest window of 7..90 days holding 10,000 eligible messages.

    When even 90 days hold fewer, the rate is read over all 90 (and is not
    representative). The window never starts before *floor* (see ``fresh_start_day``).
    Its ``since`` is the start of the first day in the window that had an eligible
    message. *window* changes the 7, 90 and 10,000.
    """
    if metric not in _RATE_WORDS:
        raise ValueError(f"unknown rate {metric!r}; known: {', '.join(_RATE_WORDS)}")
    first = None if floor is None else fresh_start_day(floor)
    figures = sorted(
        (h for h in hours if h.hour <= now and (first is None or h.hour >= first)),
        key=lambda h: h.hour,
        reverse=True,
    )
    today = start_of_day(now)
    days = window.base_days
    while True:
        start = today - timedelta(days=days - 1)
        inside = [h for h in figures if h.hour >= start]
        eligible = sum(_eligible(metric, h) for h in inside)
        reached_floor = first is not None and start <= first
        if eligible >= window.min_messages or days >= window.max_days or reached_floor:
            break
        days += 1
    counted = [h for h in inside if _eligible(metric, h) > 0]
    earliest = min((h.hour for h in counted), default=None)
    return Rate(
        metric=metric,
        count=sum(_count(metric, h) for h in inside),
        eligible=eligible,
        since=None if earliest is None else start_of_day(earliest),
        until=now,
        days=days,
        min_messages=window.min_messages,
    )


def start_of_day(moment: datetime) -> datetime:
    """Return midnight (UTC) of *moment*'s day."""
    moment = moment.astimezone(UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def fresh_start_day(floor: datetime) -> datetime:
    """Return the first whole day after a fresh start: *floor* itself when it is midnight."""
    day = start_of_day(floor)
    return day if day == floor else day + timedelta(days=1)


def _eligible(metric: str, hour: HourFigures) -> int:
    return hour.fbl_sent if metric == COMPLAINT_RATE else hour.sent


def _count(metric: str, hour: HourFigures) -> int:
    return hour.complaints if metric == COMPLAINT_RATE else hour.hard_bounces_non_verified


@dataclass(frozen=True)
class AccountFigures:
    """An account's rates now, each over its own representative window."""

    account_id: int
    at: datetime
    complaint: Rate
    bounce: Rate
    metrics_since: datetime | None = None

    def rate(self, metric: str) -> Rate:
        """Return the rate named *metric* (``complaint_rate`` or ``bounce_rate``)."""
        if metric == COMPLAINT_RATE:
            return self.complaint
        if metric == BOUNCE_RATE:
            return self.bounce
        raise ValueError(f"unknown rate {metric!r}")

    def sentence(self) -> str:
        """Return both rates in one sentence, complaints first."""
        return f"{self.complaint.sentence()}; {self.bounce.sentence()}"

    def evidence(self) -> dict[str, float | str]:
        """Return the figures as an action's evidence keeps them: {name: number or text}."""
        figures: dict[str, float | str] = {}
        for rate in (self.complaint, self.bounce):
            if rate.value is not None:
                figures[rate.metric] = round(rate.value, 6)
                figures[f"{rate.metric}_messages"] = rate.eligible
            figures[f"{rate.metric}_sentence"] = rate.sentence()
        return figures

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as plain values, for templates and pages."""
        return {
            "complaint_rate": self.complaint.to_dict(),
            "bounce_rate": self.bounce.to_dict(),
            "sentence": self.sentence(),
            "metrics_since": None if self.metrics_since is None else self.metrics_since.isoformat(),
        }
