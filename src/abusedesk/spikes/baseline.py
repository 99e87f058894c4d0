"""A robust seasonal baseline for many hourly count series at once.

The expected count of a series in an hour is

    level x (hour-of-day factor) x (day-of-week factor)

learnt from the series' history: *level* is its mean per hour, the hour-of-day factors
say that 14:00 is busier than 03:00, the day-of-week factors that Sunday is quieter than
Tuesday. A series with few counts has little to learn its own shape from, so its factors
lean on the shape of all series judged with it (a pseudo-count prior) until its own
evidence outweighs that.

Past spikes must not raise the baseline, or a series that spiked last week would be
blind this week: every hour's count is first capped at a generous upper bound of what
the baseline then expected (winsorised), and the baseline learnt again from the capped
counts, twice over. Finally the series' dispersion (how much more it swings than a
Poisson count would) is measured on the capped counts.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from abusedesk.spikes.model import SpikeRule

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# How far above the expected count a past hour may go before it is capped: z standard
# deviations plus a constant, so small counts (2 when 0.5 was expected) stay untouched.
_CAP_DEVIATIONS = 3.0
_CAP_SLACK = 2.0
_FIRST_DISPERSION = 0.5
_ROUNDS = 3
_WEEK = 7 * 24
_USUAL_QUANTILE = 0.98


@dataclass(frozen=True)
class Baseline:
    """Per series: level, daily and weekly shape, and dispersion."""

    level: FloatArray
    hour_of_day: FloatArray
    day_of_week: FloatArray
    dispersion: FloatArray

    def expected(self, start_hour: datetime, hours: int) -> FloatArray:
        """Return the expected counts, shape (series, hours), from *start_hour* on."""
        day, week = calendar_indices(start_hour, hours)
        result: FloatArray = (
            self.level[:, None] * self.hour_of_day[:, day] * self.day_of_week[:, week]
        )
        return result


def calendar_indices(start_hour: datetime, hours: int) -> tuple[IntArray, IntArray]:
    """Return each hour's hour of day (0-23) and day of week (Monday 0) in UTC."""
    offsets = np.arange(hours, dtype=np.int64) + start_hour.hour
    day: IntArray = offsets % 24
    week: IntArray = (start_hour.weekday() + offsets // 24) % 7
    return day, week


def seasonal_baseline(
    history: npt.ArrayLike, start_hour: datetime, rule: SpikeRule | None = None
) -> Baseline:
    """Learn each series' baseline from *history*, shape (series, hours), from *start_hour*."""
    rule = rule or SpikeRule()
    counts = np.asarray(history)
    if counts.ndim != 2:
        raise ValueError(f"history must be shaped (series, hours), not {counts.shape}")
    if counts.shape[1] == 0:
        raise ValueError("history must hold at least one hour")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("history must hold counts: finite and not negative")
    series, hours = counts.shape
    slots = _Slots(counts, start_hour)
    hours_per_day = slots.hours.reshape(7, 24).sum(axis=0)
    hours_per_weekday = slots.hours.reshape(7, 24).sum(axis=1)

    expected = np.repeat(_first_level(counts)[:, None], _WEEK, axis=1)
    dispersion = np.full(series, _FIRST_DISPERSION)
    level = np.zeros(series)
    day_factor = np.ones((series, 24))
    week_factor = np.ones((series, 7))
    # A series' own busy hours (a spammer's daily bursts) recur; a past spike does not.
    # Counts up to the series' own high quantile are never capped, so its bursts stay
    # in the dispersion and only the rare hours above them are trimmed.
    usual_high = np.quantile(counts, _USUAL_QUANTILE, axis=1)[:, None]
    for _ in range(_ROUNDS):
        spread = np.sqrt(expected + dispersion[:, None] * expected * expected)
        cap = np.maximum(expected + _CAP_DEVIATIONS * spread + _CAP_SLACK, usual_high)
        total, squares = slots.capped_sums(cap)
        level = total.sum(axis=1) / hours
        # A noisy series' counts say less about its shape than a Poisson one's: weigh
        # them down by how much more than Poisson it swings.
        weight = 1.0 / (1.0 + dispersion * level)
        by_slot = total.reshape(series, 7, 24)
        day_factor = _shape(by_slot.sum(axis=1), hours_per_day, level, weight, rule.prior_strength)
        deseasoned = (by_slot / day_factor[:, None, :]).sum(axis=2)
        week_factor = _shape(deseasoned, hours_per_weekday, level, weight, rule.prior_strength)
        expected = (
            level[:, None, None] * week_factor[:, :, None] * day_factor[:, None, :]
        ).reshape(series, _WEEK)
        dispersion = _dispersion(total, squares, expected, slots.hours, rule)
    return Baseline(level, day_factor, week_factor, dispersion)


class _Slots:
    """A history laid out by hour of the week (slot = weekday x 24 + hour), so that sums
    per slot, before and after capping, cost a pass over the hours or less.

    ``values[s, slot, j]`` is series s's j-th hour in that slot, 0 past the slot's hours.
    """

    def __init__(self, counts: npt.NDArray[Any], start_hour: datetime) -> None:
        series, hours = counts.shape
        day, week = calendar_indices(start_hour, hours)
        slot = week * 24 + day
        self.hours: FloatArray = np.bincount(slot, minlength=_WEEK).astype(np.float64)
        order = np.argsort(slot, kind="stable")
        first_of_slot = np.concatenate(([0], np.cumsum(self.hours)[:-1])).astype(np.int64)
        rank = np.arange(hours) - first_of_slot[slot[order]]
        depth = int(self.hours.max())
        # float32 halves the memory and time; counts stay exact up to 16 million.
        self.values = np.zeros((series, _WEEK, depth), dtype=np.float32)
        self.values[:, slot[order], rank] = counts[:, order]
        self.total = self.values.sum(axis=2, dtype=np.float64)
        self.squares = np.einsum("skj,skj->sk", self.values, self.values, dtype=np.float64)

    def capped_sums(self, cap: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return per slot the sums of the counts and of their squares, capped at *cap*."""
        above = np.nonzero(self.values > cap.astype(np.float32)[:, :, None])
        total = self.total.copy()
        squares = self.squares.copy()
        if above[0].size:
            where = (above[0], above[1])
            value = self.values[above].astype(np.float64)
            limit = cap[where]
            np.subtract.at(total, where, value - limit)
            np.subtract.at(squares, where, value * value - limit * limit)
        return total, squares


def _first_level(counts: FloatArray) -> FloatArray:
    """Return a first level that a few huge hours cannot inflate: the median day / 24."""
    series, hours = counts.shape
    days = hours // 24
    mean: FloatArray = counts.mean(axis=1)
    if days < 3:
        return mean
    daily = counts[:, hours - days * 24 :].reshape(series, days, 24).sum(axis=2)
    median: FloatArray = np.median(daily, axis=1) / 24.0
    # A series quiet on most days has a median of nothing; its mean is the better guess.
    result: FloatArray = np.where(median > 0.0, np.minimum(median, mean), mean)
    return result


def _shape(
    totals: FloatArray,
    slots: FloatArray,
    level: FloatArray,
    weight: FloatArray,
    prior_strength: float,
) -> FloatArray:
    """Return per-series factors for each slot, leaning on the common shape when thin.

    *totals* (series, slots) are the counts falling in each slot, *slots* how many hours
    each slot holds, *weight* (series,) what one count of each series is worth as
    evidence. Factors average 1 over the hours seen.
    """
    overall = totals.sum(axis=0)
    expected_all = slots * level.sum()
    common = np.where(expected_all > 0.0, overall / np.maximum(expected_all, 1e-12), 1.0)
    common = np.where(slots > 0, common, 1.0)
    common = _normalise(common[None, :], slots)[0]
    own_expected = slots[None, :] * level[:, None]
    w = weight[:, None]
    factors = (w * totals + prior_strength * common[None, :]) / (w * own_expected + prior_strength)
    # A series with neither counts nor prior (strength 0, level 0) keeps a flat shape.
    factors = np.where(w * own_expected + prior_strength > 0.0, factors, 1.0)
    factors = np.where(slots[None, :] > 0, factors, 1.0)
    return _normalise(np.maximum(factors, 1e-3), slots)


def _normalise(factors: FloatArray, slots: FloatArray) -> FloatArray:
    weight = slots.sum()
    mean = (factors * slots[None, :]).sum(axis=1) / max(float(weight), 1.0)
    result: FloatArray = factors / np.where(mean > 0.0, mean, 1.0)[:, None]
    return result


def _dispersion(
    total: FloatArray,
    squares: FloatArray,
    expected: FloatArray,
    hours: FloatArray,
    rule: SpikeRule,
) -> FloatArray:
    """Return each series' negative-binomial dispersion by the method of moments.

    Per slot, the sum over its hours of (count - expected)² - expected, from the sums of
    the counts and of their squares.
    """
    excess = (squares - 2.0 * expected * total + hours * expected * (expected - 1.0)).sum(axis=1)
    scale = (hours * expected * expected).sum(axis=1)
    raw = np.where(scale > 0.0, excess / np.maximum(scale, 1e-12), 0.0)
    result: FloatArray = np.clip(raw, rule.dispersion_floor, rule.dispersion_cap)
    return result
