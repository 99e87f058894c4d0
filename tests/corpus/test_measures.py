"""The corpus thresholds of the parsing issue, asserted through bench/measures.

Each collection is measured once; a missed figure fails with the items that missed it.
Skipped with the reason when the corpus folder is absent.
"""

from pathlib import Path

import pytest
from bench.measures import COLLECTIONS, collection


@pytest.mark.parametrize("name", COLLECTIONS)
def test_collection_meets_its_thresholds(corpus: Path, name: str) -> None:
    """Every measure of the collection reaches its threshold over a non-empty sample."""
    measures = collection(name)(corpus)
    missed = {
        m.name: f"{m.value:.2%} (goal {m.threshold:.0%}, n={m.n}); e.g. {list(m.failures[:5])}"
        for m in measures
        if not m.ok
    }
    assert (len(measures) > 0, missed) == (True, {})
