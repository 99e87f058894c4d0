"""Linking meets its precision and recall goals on the simulated provider's planted ring.

``bench/linking.py`` does the measuring: the provider, its sign-up facts and reports from a
seed, the reports parsed by the real parsers, the accounts linked and clustered, and the
clusters compared pairwise with the ring. Every cluster that is not the ring is printed.
"""

import pytest
from bench.linking import GOAL_PRECISION, GOAL_RECALL, measure, print_result

SEEDS = (11, 2027)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_clusters_find_the_planted_ring_and_little_else(seed: int) -> None:
    """Pairwise precision and recall reach the goals for each fixed seed."""
    result = measure(seed=seed, accounts=200, reports=2000)
    print_result(result)

    assert result.true_pairs > 0, "the provider planted no ring"
    assert result.precision >= GOAL_PRECISION, result.wrong()
    assert result.recall >= GOAL_RECALL, result.wrong()
