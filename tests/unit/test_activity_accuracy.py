"""The compromise and pumping checks meet their goals on the simulated providers.

``bench/anomalies.py`` does the measuring: it replays the checks over the last week of
several generated providers per seed and scores them against the planted accounts. The
figures and every miss or false alarm are printed, so a failing run shows what went wrong.
"""

import pytest
from bench.anomalies import (
    GOAL_MEDIAN_DELAY_HOURS,
    GOAL_PRECISION,
    GOAL_RECALL,
    Result,
    measure,
    print_result,
)

SEEDS = (11, 2027)


@pytest.fixture(scope="module", params=SEEDS)
def result(request: pytest.FixtureRequest) -> Result:
    """Return the figures of one seed, measured once for the module."""
    measured = measure(seed=request.param)
    print_result(measured)
    return measured


def test_compromised_organisations_are_found(result: Result) -> None:
    """Compromised organisations are found with few false alarms."""
    assert result.mailbox_accounts.precision >= GOAL_PRECISION
    assert result.mailbox_accounts.recall >= GOAL_RECALL


def test_takeovers_are_found_quickly(result: Result) -> None:
    """Half the takeovers are flagged within the goal's hours."""
    assert result.median_delay <= GOAL_MEDIAN_DELAY_HOURS


def test_sms_pumping_is_found(result: Result) -> None:
    """Pumping accounts are found with few false alarms."""
    assert result.sms.precision >= GOAL_PRECISION
    assert result.sms.recall >= GOAL_RECALL
