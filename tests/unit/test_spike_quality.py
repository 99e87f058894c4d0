"""Spike detection measured on the simulator's complaint series with injected spikes.

The seeds here are fixed; ``bench/spikes.py --seed S`` measures the same on any other.
"""

import pytest

from abusedesk.demo.spikes import (
    PRECISION_GOAL,
    RECALL_GOAL,
    SpikeScenario,
    judge,
    judge_collapses,
    score,
    spike_scenario,
)


@pytest.fixture(scope="module", params=[101, 202])
def scenario(request: pytest.FixtureRequest) -> SpikeScenario:
    """Return the simulated provider's complaint series with spikes, for a fixed seed."""
    seed: int = request.param
    return spike_scenario(seed, accounts=200)


def test_precision_and_recall_meet_their_goals(scenario: SpikeScenario) -> None:
    """On the simulated provider, flagged hours are spikes and most spikes are flagged."""
    result = score(scenario, judge(scenario))
    assert (result.precision >= PRECISION_GOAL, result.recall >= RECALL_GOAL) == (True, True), (
        f"precision {result.precision:.3f}, recall {result.recall:.3f}"
    )


def test_collapses_are_found_without_false_alarms(scenario: SpikeScenario) -> None:
    """Busy series as they are never collapse; a feed falling to a trickle always does."""
    result = judge_collapses(scenario)
    assert (result.false_alarms, result.found) == (0, result.outages)


def test_injected_spikes_are_in_the_series_and_the_judged_days() -> None:
    """Every injected spike added its counts, and the requested number lie in the judged days."""
    scenario = spike_scenario(5, accounts=60, days=21, spikes=12, past_spikes=6)
    judged = scenario.judged_spikes
    assert (len(scenario.injected), len(judged)) == (18, 12)
    for spike in scenario.injected:
        counts = scenario.counts[spike.series, spike.first : spike.first + len(spike.added)]
        assert (counts >= spike.added).all()


def test_the_same_seed_gives_the_same_series() -> None:
    """A scenario is a function of its seed."""
    first = spike_scenario(9, accounts=60, days=21, spikes=4, past_spikes=2)
    second = spike_scenario(9, accounts=60, days=21, spikes=4, past_spikes=2)
    assert (first.keys, first.counts.tolist(), first.injected) == (
        second.keys,
        second.counts.tolist(),
        second.injected,
    )


def test_a_detector_that_flags_nothing_finds_nothing() -> None:
    """Scoring no flags gives recall 0: the score does not flatter."""
    scenario = spike_scenario(5, accounts=60, days=21, spikes=6, past_spikes=0)
    result = score(scenario, [])
    assert (result.recall, result.found, result.spikes) == (0.0, 0, 6)
