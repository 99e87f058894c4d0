"""Rates and statuses over arrays agree with the one-subject functions, subject by subject."""

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from abusedesk.enforcement.ladder import Standing
from abusedesk.enforcement.policy import Threshold
from abusedesk.reputation.batch import (
    day_number,
    day_start,
    representative_rates,
    standing_groups,
    status_codes,
    trap_codes,
)
from abusedesk.reputation.rates import (
    BOUNCE_RATE,
    COMPLAINT_RATE,
    HourFigures,
    RateWindow,
    representative_rate,
)
from abusedesk.reputation.status import Status, Step, metric_status

NOW = datetime(2026, 11, 29, 15, 30, tzinfo=UTC)
COLUMNS = 95
THRESHOLD = Threshold(review=0.001, pause=0.005)


def _random_subjects(seed: int, count: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Daily eligible messages and complaints of *count* subjects, each with its own habits."""
    rng = random.Random(seed)
    eligible = np.zeros((count, COLUMNS), dtype=np.int64)
    complaints = np.zeros((count, COLUMNS), dtype=np.int64)
    floors = []
    for s in range(count):
        daily = rng.choice([0, 3, 40, 300, 1500, 20_000])
        for c in range(COLUMNS):
            if rng.random() < 0.7:
                eligible[s, c] = rng.randint(0, 2 * daily)
                complaints[s, c] = rng.randint(0, max(0, eligible[s, c] // 200))
        floors.append(rng.choice([0, 0, 0, rng.randint(1, COLUMNS - 1)]))
    return eligible, complaints, floors


def _as_hours(eligible: np.ndarray, complaints: np.ndarray, row: int) -> list[HourFigures]:
    today = day_number(NOW)
    return [
        HourFigures(
            hour=day_start(today - (COLUMNS - 1 - c)) + timedelta(hours=int(c % 15)),
            fbl_sent=int(eligible[row, c]),
            complaints=int(complaints[row, c]),
        )
        for c in range(COLUMNS)
        if eligible[row, c] or complaints[row, c]
    ]


@pytest.mark.parametrize("window", [RateWindow(), RateWindow(3, 30, 2_000)])
def test_array_rates_equal_the_rate_of_each_subject(window: RateWindow) -> None:
    """Count, eligible messages, window and first day agree with representative_rate."""
    eligible, complaints, floors = _random_subjects(7, 300)
    floor_column = np.array(floors, dtype=np.int64)
    arrays = representative_rates(eligible, complaints, floor_column=floor_column, window=window)
    today = day_number(NOW)
    mismatches = []
    for row in range(len(floors)):
        floor = None if not floors[row] else day_start(today - (COLUMNS - 1 - floors[row]))
        expected = representative_rate(
            COMPLAINT_RATE, _as_hours(eligible, complaints, row), NOW, floor=floor, window=window
        )
        got = arrays.rate(row, COMPLAINT_RATE, today=today, now=NOW, window=window)
        if got != expected:
            mismatches.append((row, expected, got))
    assert mismatches == []


def test_too_few_columns_are_refused() -> None:
    """Arrays shorter than the longest window cannot give a representative rate."""
    with pytest.raises(ValueError, match="the window needs 90"):
        representative_rates(np.zeros((1, 30), np.int64), np.zeros((1, 30), np.int64))


STANDINGS = [Standing.HEALTHY, Standing.WARNED, Standing.UNDER_REVIEW, Standing.PAUSED]


def test_array_statuses_equal_the_status_of_each_rate() -> None:
    """Status and step agree with metric_status for every standing, proposal and size."""
    eligible, complaints, _ = _random_subjects(11, 400)
    arrays = representative_rates(eligible, complaints)
    rng = random.Random(3)
    standings = [rng.choice(STANDINGS) for _ in range(400)]
    proposed = np.array([rng.random() < 0.2 for _ in range(400)])
    statuses, steps = status_codes(arrays, THRESHOLD, standing_groups(standings), proposed)
    today = day_number(NOW)
    mismatches = []
    for row in range(400):
        rate = arrays.rate(row, BOUNCE_RATE, today=today, now=NOW, window=RateWindow())
        judged = metric_status(rate, THRESHOLD, standings[row], pause_proposed=bool(proposed[row]))
        got = (Status.ALL[statuses[row]], Step.ALL[steps[row]])
        if got != (judged.status, judged.step):
            mismatches.append((row, (judged.status, judged.step), got))
    assert mismatches == []


def test_trap_hits_read_against_their_two_thresholds() -> None:
    """No hit is healthy, one is a review, many a pending pause."""
    codes = trap_codes(np.array([0, 1, 24, 25]), review_hits=1, pause_hits=25)
    assert [Status.ALL[c] for c in codes] == [
        Status.HEALTHY,
        Status.UNDER_REVIEW,
        Status.UNDER_REVIEW,
        Status.PENDING_PAUSE,
    ]


def test_day_numbers_count_from_the_epoch() -> None:
    """Day 0 is 1 Jan 1970; a day number turns back into its midnight."""
    assert (day_number(datetime(1970, 1, 2, 23, tzinfo=UTC)), day_start(20_000)) == (
        1,
        datetime(2024, 10, 4, tzinfo=UTC),
    )
