"""Rates and statuses of many subjects at once, over arrays of daily sums.

The same rules as ``rates.representative_rate`` and ``status.metric_status``, written over
numpy arrays so that a pass over every account, identity, configuration set, IP pool and
Feedback-ID takes milliseconds per thousand subjects. Arrays are shaped (subjects, days):
column 0 is the oldest day, the last column is today (days count in UTC). Only subjects
whose status changes need the scalar functions afterwards, for their sentences.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Final

import numpy as np
from numpy.typing import NDArray

from abusedesk.enforcement.ladder import Standing
from abusedesk.enforcement.policy import Threshold
from abusedesk.reputation.rates import DEFAULT_WINDOW, Rate, RateWindow
from abusedesk.reputation.status import MIN_MESSAGES_TO_ACT, Status, Step

Counts = NDArray[np.int64]

EPOCH: Final = date(1970, 1, 1)

# Standings grouped as the status rules read them.
REVIEWABLE, WATCHED, STOPPED = 0, 1, 2
_STANDING_GROUP: Final = {
    Standing.HEALTHY: REVIEWABLE,
    Standing.WARNED: REVIEWABLE,
    Standing.UNDER_REVIEW: WATCHED,
    Standing.THROTTLED: WATCHED,
    Standing.PAUSED: STOPPED,
    Standing.SUSPENDED: STOPPED,
    Standing.TERMINATED: STOPPED,
}
# Status and step as small integers: their index in Status.ALL and Step.ALL.
_HEALTHY, _ALMOST, _REVIEW, _PENDING, _PAUSED = range(len(Status.ALL))
_NONE, _STEP_REVIEW, _STEP_PAUSE = range(len(Step.ALL))


def day_number(moment: datetime | date) -> int:
    """Return the day of *moment* as days since 1970-01-01 (UTC)."""
    day = moment.date() if isinstance(moment, datetime) else moment
    return (day - EPOCH).days


def day_start(number: int) -> datetime:
    """Return midnight (UTC) of day *number* (days since 1970-01-01)."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=number)


def standing_groups(standings: list[str]) -> NDArray[np.int8]:
    """Return each standing's group: 0 may be reviewed, 1 is watched, 2 sends nothing."""
    return np.array([_STANDING_GROUP[s] for s in standings], dtype=np.int8)


@dataclass(frozen=True)
class RateArrays:
    """Many subjects' rates: count over eligible messages, the window in days, its first day.

    ``first_day`` is the column of the first day in the window with an eligible message,
    or ``columns`` (the number of days given) when there was none.
    """

    count: Counts
    eligible: Counts
    days: NDArray[np.int64]
    first_day: NDArray[np.int64]
    columns: int

    @property
    def values(self) -> NDArray[np.float64]:
        """Return each rate as a fraction, NaN when no message was eligible."""
        safe = np.maximum(self.eligible, 1)
        return np.where(self.eligible > 0, self.count / safe, np.nan)

    def rate(self, row: int, metric: str, *, today: int, now: datetime, window: RateWindow) -> Rate:
        """Return subject *row*'s rate as ``rates.Rate``; *today* is the last column's day."""
        since = None
        if self.eligible[row] > 0:
            since = day_start(today - (self.columns - 1 - int(self.first_day[row])))
        return Rate(
            metric=metric,
            count=int(self.count[row]),
            eligible=int(self.eligible[row]),
            since=since,
            until=now,
            days=int(self.days[row]),
            min_messages=window.min_messages,
        )


def representative_rates(
    eligible: Counts,
    counts: Counts,
    *,
    floor_column: NDArray[np.int64] | None = None,
    window: RateWindow = DEFAULT_WINDOW,
) -> RateArrays:
    """Return every subject's rate over its shortest window of base..max days holding enough.

    *eligible* and *counts* are (subjects, days) arrays with today last; they need at
    least ``window.max_days`` columns. *floor_column* gives, per subject, the first column
    that counts (the first whole day after a fresh start), 0 when all do.
    """
    subjects, columns = eligible.shape
    if columns < window.max_days:
        raise ValueError(f"{columns} days given; the window needs {window.max_days}")
    floor = np.zeros(subjects, dtype=np.int64) if floor_column is None else floor_column
    if floor.any():
        counted = np.arange(columns)[None, :] >= floor[:, None]
        eligible = np.where(counted, eligible, 0)
        counts = np.where(counted, counts, 0)
    # The sum of the last k + 1 columns, for every k: windows read from today backwards.
    eligible_back = np.cumsum(eligible[:, ::-1], axis=1)
    counts_back = np.cumsum(counts[:, ::-1], axis=1)
    widths = np.arange(window.base_days, window.max_days + 1, dtype=np.int64)
    candidates = eligible_back[:, widths - 1]
    starts = columns - widths
    enough = candidates >= window.min_messages
    enough |= starts[None, :] <= floor[:, None]
    enough[:, -1] = True
    chosen = widths[np.argmax(enough, axis=1)]
    rows = np.arange(subjects)
    total = eligible_back[rows, chosen - 1]
    # The window's first day with an eligible message: where the sum from today backwards
    # first reaches the window's total.
    reached = np.argmax(eligible_back >= total[:, None], axis=1)
    first_day = np.where(total > 0, columns - 1 - reached, columns)
    return RateArrays(
        count=counts_back[rows, chosen - 1],
        eligible=total,
        days=chosen,
        first_day=first_day,
        columns=columns,
    )


def status_codes(
    rates: RateArrays,
    threshold: Threshold,
    groups: NDArray[np.int8],
    pause_proposed: NDArray[np.bool_],
    *,
    min_to_act: int = MIN_MESSAGES_TO_ACT,
) -> tuple[NDArray[np.int8], NDArray[np.int8]]:
    """Return each subject's status and step as indexes into ``Status.ALL`` and ``Step.ALL``.

    The rules of ``status.metric_status`` (every rate taken as a cause of an open review):
    *groups* are the accounts' standing groups (``standing_groups``), *pause_proposed*
    says a pause already waits for approval.
    """
    values = rates.values
    size = values.shape[0]
    status = np.full(size, _HEALTHY, dtype=np.int8)
    step = np.full(size, _NONE, dtype=np.int8)
    thin = np.isnan(values) | (rates.eligible < min_to_act)
    value = np.where(thin, 0.0, values)
    stopped, watched, reviewable = groups == STOPPED, groups == WATCHED, groups == REVIEWABLE
    at_pause = ~thin & ~stopped & (value >= threshold.pause)
    at_review = ~thin & ~stopped & ~at_pause & (value >= threshold.review)
    below = ~thin & ~stopped & ~at_pause & ~at_review
    # Too few messages: the status follows the standing.
    status[thin & stopped] = _PAUSED
    status[thin & watched] = _REVIEW
    # Sending stopped: paused while at or above the review threshold, else almost healed.
    status[~thin & stopped] = np.where(value[~thin & stopped] >= threshold.review, _PAUSED, _ALMOST)
    status[at_pause] = _PENDING
    step[at_pause & ~pause_proposed] = _STEP_PAUSE
    status[at_review & pause_proposed] = _PENDING
    status[at_review & ~pause_proposed] = _REVIEW
    step[at_review & ~pause_proposed & reviewable] = _STEP_REVIEW
    status[below & watched] = _ALMOST
    return status, step


def trap_codes(hits: Counts, review_hits: int, pause_hits: int) -> NDArray[np.int8]:
    """Return each subject's spam-trap status index: healthy, under review or pending pause."""
    status = np.full(hits.shape[0], _HEALTHY, dtype=np.int8)
    status[hits >= review_hits] = _REVIEW
    status[hits >= pause_hits] = _PENDING
    return status
