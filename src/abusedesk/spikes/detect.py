"""Judge many hourly series at once: spikes, collapses and new-account bursts.

The public batch API. Every function takes a numpy array shaped (series, hours) whose
column 0 is the UTC hour *start_hour* and whose columns follow hour by hour, and judges
its last hours against a baseline learnt from the hours before them. Series are rows;
*keys* (optional) names them, and the results carry those names.

For hourly runs over very many series, ``seasonal_baseline`` (learnt once a day) and
``detect_with_baseline`` (each hour) give the same judgement at a fraction of the cost.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from abusedesk.spikes.baseline import Baseline, seasonal_baseline
from abusedesk.spikes.counts import lower_tail, upper_tail
from abusedesk.spikes.model import Burst, BurstRule, Collapse, CollapseRule, Spike, SpikeRule

HOUR = timedelta(hours=1)
FloatArray = npt.NDArray[np.float64]


def detect(
    counts: npt.ArrayLike,
    start_hour: datetime,
    *,
    evaluate_hours: int = 1,
    rule: SpikeRule | None = None,
    keys: Sequence[str] | None = None,
) -> list[Spike]:
    """Return the spikes in the last *evaluate_hours* hours of every series.

    *counts*: shape (series, hours), counts per hour (distinct recipients or messages),
    column 0 being *start_hour* (UTC, on the hour). The baseline of each series is learnt
    from up to ``rule.history_days`` days before the judged hours (fewer if the array
    holds fewer; none at all reads as a baseline of ``rule.min_expected``). The result is
    ordered by hour, then by score, highest first. Ten thousand series of 90 days take
    a few seconds on one core (``bench/spikes.py`` times it).
    """
    rule = rule or SpikeRule()
    matrix = _counts(counts, evaluate_hours, keys)
    judged, expected, dispersion = _split(matrix, start_hour, evaluate_hours, rule)
    first = start_hour + (matrix.shape[1] - evaluate_hours) * HOUR
    return _spikes(judged, expected, dispersion, first=first, rule=rule, keys=keys)


def detect_with_baseline(
    counts: npt.ArrayLike,
    first_hour: datetime,
    baseline: Baseline,
    *,
    rule: SpikeRule | None = None,
    keys: Sequence[str] | None = None,
) -> list[Spike]:
    """Return the spikes in *counts* (series, hours from *first_hour*) against *baseline*.

    For hourly runs over very many series: learn the baseline once a day with
    ``seasonal_baseline`` (rows in the same order) and judge each new hour against it,
    which costs next to nothing. ``detect`` learns it afresh each time.
    """
    rule = rule or SpikeRule()
    matrix = _counts(counts, 1, keys)
    if matrix.shape[0] != baseline.level.shape[0]:
        raise ValueError(
            f"{matrix.shape[0]} series given for a baseline of {baseline.level.shape[0]}"
        )
    expected = baseline.expected(first_hour, matrix.shape[1])
    return _spikes(matrix, expected, baseline.dispersion, first=first_hour, rule=rule, keys=keys)


def _spikes(
    judged: npt.NDArray[np.int64],
    expected: FloatArray,
    dispersion: FloatArray,
    *,
    first: datetime,
    rule: SpikeRule,
    keys: Sequence[str] | None,
) -> list[Spike]:
    """Return the judged hours that are spikes, ordered by hour then score."""
    observed = judged.astype(np.float64)
    expected = np.maximum(expected, rule.min_expected)
    candidates = (observed >= rule.min_count) & (observed >= rule.min_ratio * expected)
    rows, columns = np.nonzero(candidates)
    if rows.size == 0:
        return []
    probability = upper_tail(observed[rows, columns], expected[rows, columns], dispersion[rows])
    spikes = [
        Spike(
            index=int(row),
            series=_name(keys, int(row)),
            hour=first + int(column) * HOUR,
            observed=int(judged[row, column]),
            expected=float(expected[row, column]),
            probability=float(p),
            score=_score(float(p)),
        )
        for row, column, p in zip(rows, columns, probability, strict=True)
        if p < rule.alpha
    ]
    spikes.sort(key=lambda s: (s.hour, -s.score, s.index))
    return spikes


def baseline_of(
    counts: npt.ArrayLike,
    start_hour: datetime,
    *,
    evaluate_hours: int = 1,
    rule: SpikeRule | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Return the expected counts of the last *evaluate_hours* hours and each dispersion.

    The same baseline ``detect`` judges by, for charts and explanations: expected has
    shape (series, evaluate_hours), dispersion shape (series,).
    """
    rule = rule or SpikeRule()
    matrix = _counts(counts, evaluate_hours, None)
    _, expected, dispersion = _split(matrix, start_hour, evaluate_hours, rule)
    return np.maximum(expected, rule.min_expected), dispersion


def detect_collapses(
    counts: npt.ArrayLike,
    start_hour: datetime,
    *,
    rule: CollapseRule | None = None,
    baseline_rule: SpikeRule | None = None,
    keys: Sequence[str] | None = None,
) -> list[Collapse]:
    """Return the series whose last ``rule.window_hours`` hours collapsed.

    *counts* as for ``detect``. The window's observed total is compared with the total
    its seasonal baseline expected (so a quiet night is not a collapse); the baseline
    follows *baseline_rule*.
    """
    rule = rule or CollapseRule()
    baseline_rule = baseline_rule or SpikeRule()
    matrix = _counts(counts, rule.window_hours, keys)
    judged, expected, dispersion = _split(matrix, start_hour, rule.window_hours, baseline_rule)
    observed = judged.sum(axis=1).astype(np.float64)
    total = expected.sum(axis=1)
    # The window's total is a sum of negative binomials: same mean, variance summed.
    squares = (expected * expected).sum(axis=1)
    window_dispersion = dispersion * squares / np.maximum(total * total, 1e-12)
    candidates = (total >= rule.min_expected) & (observed <= rule.max_ratio * total)
    (rows,) = np.nonzero(candidates)
    if rows.size == 0:
        return []
    probability = lower_tail(observed[rows], total[rows], window_dispersion[rows])
    since = start_hour + (matrix.shape[1] - rule.window_hours) * HOUR
    until = start_hour + matrix.shape[1] * HOUR
    collapses = [
        Collapse(
            index=int(row),
            series=_name(keys, int(row)),
            since=since,
            until=until,
            observed=int(observed[row]),
            expected=float(total[row]),
            probability=float(p),
            score=_score(float(p)),
        )
        for row, p in zip(rows, probability, strict=True)
        if p < rule.alpha
    ]
    collapses.sort(key=lambda c: (-c.score, c.index))
    return collapses


def detect_bursts(
    sent: npt.ArrayLike,
    start_hour: datetime,
    created_at: Sequence[datetime],
    *,
    evaluate_hours: int = 1,
    rule: BurstRule | None = None,
    keys: Sequence[str] | None = None,
) -> list[Burst]:
    """Return the hours in which a new account sent far more than it had so far.

    *sent*: shape (accounts, hours), messages sent per hour, column 0 at *start_hour*;
    *created_at*: when each account was created. Only the last *evaluate_hours* hours
    are judged, each against the account's earlier hours since it was created.
    """
    rule = rule or BurstRule()
    matrix = _counts(sent, evaluate_hours, keys)
    if len(created_at) != matrix.shape[0]:
        raise ValueError(f"{len(created_at)} creation times given for {matrix.shape[0]} series")
    hours = matrix.shape[1]
    start = start_hour.timestamp()
    # The column each account's life starts at (negative when before the array).
    born = np.array([(c.timestamp() - start) / 3600.0 for c in created_at], dtype=np.float64)
    bursts: list[Burst] = []
    for column in range(hours - evaluate_hours, hours):
        age = column - born
        young = (age >= 0.0) & (age < rule.new_account_days * 24)
        loud = young & (matrix[:, column] >= rule.min_messages)
        for row in np.nonzero(loud)[0]:
            first = max(0, int(np.ceil(born[row])))
            earlier = matrix[row, first:column]
            busy = earlier[earlier > 0]
            usual = float(np.quantile(busy, rule.busy_quantile)) if busy.size else 0.0
            sent_now = int(matrix[row, column])
            if usual and sent_now < rule.factor * usual:
                continue
            bursts.append(
                Burst(
                    index=int(row),
                    series=_name(keys, int(row)),
                    hour=start_hour + column * HOUR,
                    sent=sent_now,
                    usual=usual,
                    age_hours=float(age[row]),
                )
            )
    bursts.sort(key=lambda b: (b.hour, -b.sent, b.index))
    return bursts


def _counts(
    counts: npt.ArrayLike, evaluate_hours: int, keys: Sequence[str] | None
) -> npt.NDArray[np.int64]:
    matrix = np.asarray(counts)
    if matrix.ndim != 2:
        raise ValueError(f"counts must be shaped (series, hours), not {matrix.shape}")
    if not 1 <= evaluate_hours <= matrix.shape[1]:
        raise ValueError(
            f"evaluate_hours must lie between 1 and the {matrix.shape[1]} hours given,"
            f" not {evaluate_hours}"
        )
    if keys is not None and len(keys) != matrix.shape[0]:
        raise ValueError(f"{len(keys)} keys given for {matrix.shape[0]} series")
    if np.issubdtype(matrix.dtype, np.integer):
        if matrix.size and matrix.min() < 0:
            raise ValueError("counts must be finite and not negative")
        whole: npt.NDArray[np.int64] = matrix.astype(np.int64, copy=False)
        return whole
    if matrix.size and (not np.isfinite(matrix).all() or (matrix < 0).any()):
        raise ValueError("counts must be finite and not negative")
    result: npt.NDArray[np.int64] = np.rint(matrix).astype(np.int64)
    return result


def _split(
    matrix: npt.NDArray[np.int64], start_hour: datetime, evaluate_hours: int, rule: SpikeRule
) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    """Return the judged hours, their expected counts and each series' dispersion."""
    series, hours = matrix.shape
    judged_from = hours - evaluate_hours
    history_from = max(0, judged_from - rule.history_days * 24)
    judged = matrix[:, judged_from:]
    first_judged = start_hour + judged_from * HOUR
    if judged_from == history_from:
        expected = np.zeros((series, evaluate_hours))
        dispersion = np.full(series, rule.dispersion_floor)
        return judged, expected, dispersion
    baseline: Baseline = seasonal_baseline(
        matrix[:, history_from:judged_from], start_hour + history_from * HOUR, rule
    )
    return judged, baseline.expected(first_judged, evaluate_hours), baseline.dispersion


def _name(keys: Sequence[str] | None, row: int) -> str:
    return keys[row] if keys is not None else str(row)


def _score(probability: float) -> float:
    return float(-np.log10(max(probability, 1e-300)))
