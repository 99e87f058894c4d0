"""Spike maths: the count model's tails, the seasonal baseline, spikes, collapses, bursts."""

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abusedesk.spikes.baseline import seasonal_baseline
from abusedesk.spikes.counts import log_gamma, lower_tail, upper_tail
from abusedesk.spikes.detect import (
    baseline_of,
    detect,
    detect_bursts,
    detect_collapses,
    detect_with_baseline,
)
from abusedesk.spikes.model import BurstRule, CollapseRule, SpikeRule

# A Monday at midnight: column c is hour c % 24 of day c // 24 (Monday first).
START = datetime(2026, 9, 7, tzinfo=UTC)
WEEKS = 5
HOURS = WEEKS * 7 * 24
# A working day's shape: quiet at night, busiest at midday.
DIURNAL = np.array(
    [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2], dtype=float
)


def _poisson_nb_exact_upper(x: int, mean: float, dispersion: float) -> float:
    if dispersion == 0.0:
        below = sum(math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(x))
        return 1.0 - below
    size = 1.0 / dispersion
    return sum(_nb(k, mean, size) for k in range(x, x + 20_000))


def _nb(k: int, mean: float, size: float) -> float:
    return math.exp(
        math.lgamma(k + size)
        - math.lgamma(size)
        - math.lgamma(k + 1)
        + size * math.log(size / (size + mean))
        + k * math.log(mean / (size + mean))
    )


def _seasonal(
    level: float, *, weekend: float = 0.6, hours: int = HOURS, seed: int = 7
) -> npt.NDArray[np.int64]:
    """Return Poisson counts with a working-day shape and quieter weekends."""
    rng = np.random.default_rng(seed)
    columns = np.arange(hours)
    shape = DIURNAL[columns % 24] / DIURNAL.mean()
    days = (columns // 24) % 7
    mean = level * shape * np.where(days >= 5, weekend, 1.0)
    counts: npt.NDArray[np.int64] = rng.poisson(mean)
    return counts


# --- the count model ---------------------------------------------------------------------


def test_log_gamma_matches_the_standard_library() -> None:
    """ln Γ agrees with math.lgamma from small to large arguments."""
    values = [0.25, 1.0, 2.5, 7.9, 8.0, 50.0, 12_345.6]
    assert np.allclose(log_gamma(values), [math.lgamma(v) for v in values], rtol=1e-9)


@pytest.mark.parametrize(
    ("count", "mean", "dispersion"),
    [(10, 2.0, 0.0), (40, 2.0, 0.5), (40, 2.0, 2.0), (15, 5.0, 0.3), (300, 100.0, 0.1)],
)
def test_upper_tail_bounds_the_exact_tail_closely(
    count: int, mean: float, dispersion: float
) -> None:
    """The upper tail is never below the exact one and within 10% above it."""
    exact = _poisson_nb_exact_upper(count, mean, dispersion)
    bound = float(upper_tail(count, mean, dispersion))
    assert exact <= bound <= 1.1 * exact


@pytest.mark.parametrize(
    ("count", "mean", "dispersion"), [(0, 50.0, 0.0), (3, 50.0, 0.2), (0, 20.0, 0.9)]
)
def test_lower_tail_bounds_the_exact_tail(count: int, mean: float, dispersion: float) -> None:
    """The lower tail is never below the exact one and within 20% above it."""
    if dispersion == 0.0:
        exact = sum(
            math.exp(k * math.log(mean) - mean - math.lgamma(k + 1)) for k in range(count + 1)
        )
    else:
        exact = sum(_nb(k, mean, 1.0 / dispersion) for k in range(count + 1))
    bound = float(lower_tail(count, mean, dispersion))
    assert exact <= bound <= 1.2 * exact


def test_tails_are_one_on_the_wrong_side_of_the_mean() -> None:
    """A count below the mean is no spike and one above it no collapse."""
    assert (float(upper_tail(1, 3.0, 0.1)), float(lower_tail(5, 3.0, 0.1))) == (1.0, 1.0)


# --- spikes ------------------------------------------------------------------------------


def test_two_to_forty_complaints_an_hour_fires() -> None:
    """A series around 2 an hour that jumps to 40 raises one spike at that hour."""
    counts = _seasonal(2.0)
    counts[-1] = 40
    spikes = detect(counts[None, :], START, keys=["account:4411"])
    assert [(s.series, s.hour, s.observed) for s in spikes] == [
        ("account:4411", START + timedelta(hours=HOURS - 1), 40)
    ]
    assert spikes[0].expected < 4.0
    assert spikes[0].score > 10.0


def test_daily_and_weekly_swings_do_not_fire() -> None:
    """A strongly seasonal series judged over its last week raises nothing."""
    counts = np.vstack([_seasonal(level, seed=seed) for seed, level in enumerate((1, 5, 30))])
    assert detect(counts, START, evaluate_hours=7 * 24) == []


def test_a_busy_midday_is_expected_and_a_busy_night_is_not() -> None:
    """The same count fires at 03:00, when the series is quiet, but not at midday."""
    counts = _seasonal(3.0, hours=HOURS + 24)
    last_day = HOURS
    counts[last_day:] = 0
    counts[last_day + 3] = 12
    counts[last_day + 12] = 12
    spikes = detect(counts[None, :], START, evaluate_hours=24)
    assert [s.hour.hour for s in spikes] == [3]


def test_past_spikes_do_not_raise_the_baseline() -> None:
    """Huge spikes in the history leave the baseline near the series' usual level."""
    clean = _seasonal(2.0)
    spiky = clean.copy()
    for column in (200, 201, 500, 700):
        spiky[column] = 400
    clean_expected, _ = baseline_of(clean[None, :], START, evaluate_hours=24)
    spiky_expected, _ = baseline_of(spiky[None, :], START, evaluate_hours=24)
    assert spiky_expected.sum() == pytest.approx(clean_expected.sum(), rel=0.1)


def test_a_few_complaints_on_a_quiet_series_are_not_a_spike() -> None:
    """From nothing to 3 complaints stays under the minimum count."""
    counts = np.zeros((1, HOURS), dtype=np.int64)
    counts[0, -1] = 3
    assert detect(counts, START) == []


def test_a_handful_on_a_silent_series_is_a_spike() -> None:
    """From nothing to 8 distinct complainants in an hour is a spike."""
    counts = np.zeros((1, HOURS), dtype=np.int64)
    counts[0, -1] = 8
    assert [s.observed for s in detect(counts, START)] == [8]


def test_a_bursty_series_does_not_fire_on_its_usual_bursts() -> None:
    """A sender whose complaints come in a few random bursts a day raises nothing for one."""
    rng = np.random.default_rng(3)
    counts = np.zeros(HOURS, dtype=np.int64)
    for day in range(HOURS // 24):
        for hour in rng.choice(24, size=3, replace=False):
            counts[day * 24 + hour] = rng.poisson(40)
    assert detect(counts[None, :], START, evaluate_hours=48) == []


def test_a_series_with_no_history_reads_as_a_small_baseline() -> None:
    """Judging every hour given (no history) compares counts with the minimum baseline."""
    counts = np.array([[0, 9, 1]])
    spikes = detect(counts, START, evaluate_hours=3, rule=SpikeRule(min_expected=0.1))
    assert [(s.hour, s.expected) for s in spikes] == [(START + timedelta(hours=1), 0.1)]


def test_many_series_are_judged_at_once() -> None:
    """Only the series that spiked are returned, with their row and name."""
    counts = np.vstack([_seasonal(2.0, seed=s) for s in range(50)])
    counts[17, -1] += 40
    counts[33, -1] += 60
    spikes = detect(counts, START, keys=[f"s{i}" for i in range(50)])
    assert sorted((s.index, s.series) for s in spikes) == [(17, "s17"), (33, "s33")]


def test_a_baseline_learnt_once_judges_as_detect_does() -> None:
    """Judging the last hours against a baseline learnt beforehand gives detect's spikes."""
    counts = np.vstack([_seasonal(2.0, seed=s) for s in range(20)])
    counts[4, -2] += 30
    counts[9, -1] += 25
    history = counts[:, -3 - 28 * 24 : -3]
    baseline = seasonal_baseline(history, START + timedelta(hours=HOURS - 3 - 28 * 24))
    first = START + timedelta(hours=HOURS - 3)
    cached = detect_with_baseline(counts[:, -3:], first, baseline)
    assert cached == detect(counts, START, evaluate_hours=3)
    assert [(s.index, s.hour) for s in cached] == [
        (4, START + timedelta(hours=HOURS - 2)),
        (9, START + timedelta(hours=HOURS - 1)),
    ]


@pytest.mark.parametrize(
    ("counts", "evaluate_hours", "message"),
    [
        (np.array([1, 2, 3]), 1, "shaped"),
        (np.array([[1, -2, 3]]), 1, "not negative"),
        (np.array([[1.0, np.nan, 3.0]]), 1, "finite"),
        (np.array([[1, 2, 3]]), 4, "evaluate_hours"),
    ],
)
def test_bad_counts_are_refused_with_the_reason(
    counts: npt.NDArray[np.float64], evaluate_hours: int, message: str
) -> None:
    """Counts of the wrong shape, negative or not finite raise a ValueError that says so."""
    with pytest.raises(ValueError, match=message):
        detect(counts, START, evaluate_hours=evaluate_hours)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.integers(min_value=0, max_value=500), min_size=30, max_size=30),
        min_size=1,
        max_size=4,
    ),
    st.integers(min_value=1, max_value=30),
)
def test_any_counts_give_spikes_within_the_judged_hours(
    rows: list[list[int]], evaluate_hours: int
) -> None:
    """Any non-negative counts give spikes only in judged hours, each above its baseline."""
    counts = np.array(rows)
    spikes = detect(counts, START, evaluate_hours=evaluate_hours)
    first = START + timedelta(hours=30 - evaluate_hours)
    for spike in spikes:
        assert first <= spike.hour < START + timedelta(hours=30)
        assert spike.observed == counts[spike.index, int((spike.hour - START) / timedelta(hours=1))]
        assert spike.observed >= 3 * spike.expected
        assert 0.0 <= spike.probability < 1e-5


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=200), st.integers(min_value=1, max_value=200))
def test_more_complaints_never_make_a_spike_go_away(count: int, extra: int) -> None:
    """If an hour is a spike, the same hour with more complaints is one too."""
    counts = _seasonal(2.0)
    counts[-1] = count
    more = counts.copy()
    more[-1] = count + extra
    if detect(counts[None, :], START):
        assert detect(more[None, :], START)


def test_a_rule_that_could_never_fire_is_refused() -> None:
    """A rule with alpha outside (0, 1) is refused."""
    with pytest.raises(ValueError, match="alpha"):
        SpikeRule(alpha=1.5)


def test_baseline_learns_the_daily_shape() -> None:
    """The learnt hour-of-day factors put midday well above the night."""
    counts = _seasonal(10.0)
    baseline = seasonal_baseline(counts[None, :], START)
    assert baseline.hour_of_day[0, 11] > 4 * baseline.hour_of_day[0, 2]


# --- collapses ---------------------------------------------------------------------------


def test_a_reporter_going_silent_collapses() -> None:
    """A feed bringing about 30 an hour that brings nothing for 6 hours has collapsed."""
    counts = _seasonal(30.0)
    counts[-6:] = 0
    collapses = detect_collapses(counts[None, :], START, keys=["fbl.example.net"])
    assert [(c.series, c.observed, c.until) for c in collapses] == [
        ("fbl.example.net", 0, START + timedelta(hours=HOURS))
    ]


def test_a_quiet_night_is_not_a_collapse() -> None:
    """A series ending on its quiet night hours has not collapsed."""
    counts = _seasonal(30.0, hours=HOURS + 5)
    assert detect_collapses(counts[None, :], START, rule=CollapseRule(window_hours=5)) == []


def test_a_small_reporter_cannot_collapse() -> None:
    """A feed too small to expect the minimum over the window is never judged collapsed."""
    counts = _seasonal(1.0)
    counts[-6:] = 0
    assert detect_collapses(counts[None, :], START) == []


# --- bursts ------------------------------------------------------------------------------


def test_a_new_account_sending_far_more_than_before_bursts() -> None:
    """A 3-day-old account going from 100 to 20,000 messages an hour bursts."""
    hours = 4 * 24
    sent = np.zeros((2, hours), dtype=np.int64)
    sent[:, 24:-1] = 100
    sent[:, -1] = 20_000
    created = [START + timedelta(hours=23), START - timedelta(days=400)]
    bursts = detect_bursts(sent, START, created, keys=["new", "old"])
    assert [(b.series, b.sent, b.usual) for b in bursts] == [("new", 20_000, 100.0)]


def test_a_new_account_sending_steadily_does_not_burst() -> None:
    """A new account sending 5,000 an hour from its first hour on bursts only at its start."""
    hours = 48
    sent = np.full((1, hours), 5_000, dtype=np.int64)
    created = [START]
    bursts = detect_bursts(sent, START, created, evaluate_hours=hours)
    assert [b.hour for b in bursts] == [START]


def test_a_burst_below_the_minimum_is_not_one() -> None:
    """Ten times nothing much is still nothing much: below min_messages no burst."""
    sent = np.array([[10, 10, 10, 1_000]])
    bursts = detect_bursts(sent, START, [START], rule=BurstRule(min_messages=2_000))
    assert bursts == []
