"""Corpus measures: how well the parsers read a folder laid out like the shared corpus.

Each collection module exposes ``measures(corpus) -> list[Measure]``; ``bench/corpus.py``
prints them and the corpus tests assert them, through this same code. Every module
documents its denominators (what one counted item is) in its docstring.
"""

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.registry import default_registry

# The collection modules under bench/measures, in the order they are printed.
COLLECTIONS = ("bounces", "arf", "xarf", "dmarc", "ses", "sms", "abuseio")


@dataclass(frozen=True)
class Measure:
    """One figure over a corpus collection: ``value`` against ``threshold`` over ``n`` items.

    ``at_least`` says which side of the threshold passes; ``failures`` names a few of the
    items that did not count as right, so that a failing figure can be looked into.
    """

    name: str
    value: float
    threshold: float
    n: int
    at_least: bool = True
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """Tell whether the figure meets its threshold (an empty collection never does)."""
        if self.n == 0:
            return False
        return self.value >= self.threshold if self.at_least else self.value <= self.threshold

    def as_json(self) -> dict[str, Any]:
        """Return the figure as the JSON object ``bench/corpus.py --json`` writes."""
        data = asdict(self)
        data["ok"] = self.ok
        data["failures"] = list(self.failures)
        return data


def ratio(
    name: str, good: int, n: int, threshold: float, failures: list[str] | None = None
) -> Measure:
    """Return a share measure: ``good`` of ``n`` items, which must reach ``threshold``."""
    return Measure(
        name=name,
        value=good / n if n else 0.0,
        threshold=threshold,
        n=n,
        failures=tuple((failures or [])[:20]),
    )


def parse_file(path: Path) -> ParsedReport | ParseError:
    """Return what the parser registry makes of the file at *path*: a report or the error."""
    return parse_bytes(path.read_bytes())


def parse_bytes(raw: bytes) -> ParsedReport | ParseError:
    """Return what the parser registry makes of *raw*: a report or the ParseError."""
    try:
        return default_registry().parse(raw)
    except ParseError as error:
        return error


def collection(name: str) -> Callable[[Path], list[Measure]]:
    """Return the ``measures`` function of collection module *name*."""
    module = import_module(f"bench.measures.{name}")
    function: Callable[[Path], list[Measure]] = module.measures
    return function


def all_measures(corpus: Path) -> Iterator[Measure]:
    """Yield every measure of every collection over *corpus*."""
    for name in COLLECTIONS:
        yield from collection(name)(corpus)
