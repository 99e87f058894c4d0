"""A report as plain blocks, so that one report renders the same as HTML, Markdown and PDF.

Weekly reports and incident reviews build a `Document`; ``documents/`` writes it as
Markdown or PDF and ``web/ui/documents.py`` as HTML with the workbench's SVG charts.
Every text is plain: renderers escape it for their format.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the document's own sections, 2 and 3 below them."""

    text: str
    level: int = 1


@dataclass(frozen=True)
class Paragraph:
    """Running text; blank lines inside it separate paragraphs."""

    text: str


@dataclass(frozen=True)
class BulletList:
    """Items in a list, in order."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Figures:
    """Headline figures: label, value and an optional note (the definition, a change)."""

    rows: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Table:
    """A table of text cells with a caption; every row has as many cells as columns."""

    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ChartSeries:
    """One line of a line chart: its name and its points in time order."""

    name: str
    points: tuple[tuple[datetime, float], ...]


@dataclass(frozen=True)
class LineChart:
    """Lines over time, with optional dashed threshold lines (label, value)."""

    title: str
    series: tuple[ChartSeries, ...]
    unit: str = ""
    percent: bool = False
    thresholds: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class BarChart:
    """Labelled bars (label, value), drawn in the order given."""

    title: str
    bars: tuple[tuple[str, float], ...]
    unit: str = ""


Block = Heading | Paragraph | BulletList | Figures | Table | LineChart | BarChart


@dataclass(frozen=True)
class Document:
    """A titled report made of blocks, with when it was generated."""

    title: str
    generated_at: datetime
    subtitle: str = ""
    blocks: tuple[Block, ...] = field(default_factory=tuple)

    def with_blocks(self, blocks: Sequence[Block]) -> "Document":
        """Return a copy of the document holding *blocks*."""
        return Document(self.title, self.generated_at, self.subtitle, tuple(blocks))
