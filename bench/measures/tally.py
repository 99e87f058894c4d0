"""A share of corpus files that came out right, for the collection modules to count with."""

from collections.abc import Callable, Sequence
from pathlib import Path

from bench.measures import Measure, ratio


def share_right(
    name: str,
    paths: Sequence[Path],
    problem: Callable[[Path], str | None],
    corpus: Path,
    threshold: float = 1.0,
) -> Measure:
    """Return the share of *paths* in which *problem* finds nothing wrong.

    *problem* says what is wrong with one file, or None when it is right; the failures
    name each wrong file relative to *corpus*, with its problem.
    """
    failures = [
        f"{path.relative_to(corpus)}: {found}"
        for path in paths
        if (found := problem(path)) is not None
    ]
    return ratio(name, len(paths) - len(failures), len(paths), threshold, failures)
