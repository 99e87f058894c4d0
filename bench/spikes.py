"""Spikes: precision and recall on the simulated provider's complaint series, spikes injected.

    uv run python bench/spikes.py --seed S [--accounts N --days D --judged-days J --spikes K]

Builds, from the seed, the simulated provider's hourly complaint series
(``abusedesk.demo.spikes``: per account, per account and destination provider, per
destination provider; daily and weekly swings, newsletter batches, spammers' bursts),
injects K spikes into the last J days and K/2 into the days before (which the baseline
must shrug off), and judges the last J days a day at a time as the monitor would
(``abusedesk.spikes.detect``). A flagged hour is right when a spike was injected there,
and wrong otherwise, except in the simulator's own incidents (a new account starting, a
mailbox taken over): real jumps, left out of precision and counted apart. Recall is the
share of injected spikes flagged in at least one of their hours.

Collapses: the collapse check runs every judged hour over the busy series as they are
(any collapse flagged is a false alarm; goal: none), then over destination providers'
feeds made to fall to 0-15% of their volume for 6 to 24 hours (goal: every one found).

Also times one full judgement of 10,000 series x 90 days of hours.

Exit status: 0 when precision and recall meet their goals, 1 otherwise.
"""

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abusedesk.demo.spikes import (  # noqa: E402
    DEFAULT_END,
    PRECISION_GOAL,
    RECALL_GOAL,
    CollapseScore,
    SpikeScenario,
    SpikeScore,
    judge,
    judge_collapses,
    score,
    spike_scenario,
)
from abusedesk.spikes.detect import detect  # noqa: E402

SCALE_SERIES = 10_000
SCALE_HOURS = 90 * 24
SCALE_GOAL_SECONDS = 60.0


def print_result(scenario: SpikeScenario, result: SpikeScore, seconds: float) -> None:
    """Print the figures beside their goals, the misses and the false alarms."""
    series, hours = scenario.counts.shape
    judged = hours - scenario.judged_from
    print(
        f"seed {scenario.seed}: {series} series x {hours} hours, last {judged} judged "
        f"({series * judged:,} series-hours); {len(scenario.injected)} spikes injected, "
        f"{result.spikes} in the judged hours; judged in {seconds:.2f} s"
    )
    print(
        f"  precision {result.precision:.3f} (goal >= {PRECISION_GOAL}), "
        f"recall {result.recall:.3f} (goal >= {RECALL_GOAL}); "
        f"flagged hours {result.flagged}: {result.true_flags} injected, "
        f"{result.false_flags} false, {result.incident_flags} in the simulator's own incidents"
    )
    for spike in result.false:
        print(
            f"  false alarm: {spike.series} at {spike.hour:%Y-%m-%d %H:00}: "
            f"{spike.observed} vs {spike.expected:.2f} expected (score {spike.score:.1f})"
        )
    for missed in result.missed:
        print(
            f"  missed: {missed.key} at column {missed.first}: added {list(missed.added)} "
            f"to give {scenario.counts[missed.series, missed.first : missed.first + len(missed.added)].tolist()}"
        )


def print_collapses(result: CollapseScore) -> None:
    """Print the collapse figures beside their goals."""
    print(
        f"  collapses: {result.series} busy series judged every hour, "
        f"{result.false_alarms} false alarms (goal 0); "
        f"outages found {result.found}/{result.outages} (goal all)"
    )


def time_scale(seed: int) -> float:
    """Return the seconds one judgement of 10,000 series x 90 days takes (last hour)."""
    rng = np.random.default_rng(seed)
    columns = np.arange(SCALE_HOURS)
    shape = 1.0 + 0.8 * np.sin((columns % 24 - 6) / 24 * 2 * np.pi)
    levels = rng.gamma(0.5, 2.0, size=SCALE_SERIES)
    counts = rng.poisson(levels[:, None] * shape[None, :])
    started = time.perf_counter()
    detect(counts, DEFAULT_END, evaluate_hours=1)
    return time.perf_counter() - started


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench for one seed and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--days", type=int, default=42)
    parser.add_argument("--judged-days", type=int, default=7)
    parser.add_argument("--spikes", type=int, default=80)
    parser.add_argument("--no-scale", action="store_true", help="skip the 10,000-series timing")
    args = parser.parse_args(argv)
    scenario = spike_scenario(
        args.seed,
        accounts=args.accounts,
        days=args.days,
        judged_days=args.judged_days,
        spikes=args.spikes,
        past_spikes=args.spikes // 2,
    )
    started = time.perf_counter()
    flagged = judge(scenario)
    seconds = time.perf_counter() - started
    result = score(scenario, flagged)
    print_result(scenario, result, seconds)
    collapses = judge_collapses(scenario)
    print_collapses(collapses)
    if not args.no_scale:
        scale = time_scale(args.seed)
        print(
            f"  {SCALE_SERIES:,} series x {SCALE_HOURS:,} hours judged in {scale:.2f} s "
            f"(goal < {SCALE_GOAL_SECONDS:.0f} s, one core)"
        )
    meets = (
        result.precision >= PRECISION_GOAL
        and result.recall >= RECALL_GOAL
        and collapses.false_alarms == 0
        and collapses.found == collapses.outages
    )
    return 0 if meets else 1


if __name__ == "__main__":
    sys.exit(main())
