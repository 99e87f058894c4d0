"""Every key a parser writes into an event is classified for retention.

A new parser (or a new key in an old one) that is not in ``privacy/classes.py`` fails
here, so that no personal data outlives its retention period unnoticed.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import ReportGenerator
from abusedesk.demo.traffic import generate_traffic
from abusedesk.parsing.model import EventDraft
from abusedesk.parsing.registry import default_registry
from abusedesk.privacy.classes import DETAIL_CLASSES, INDICATOR_CLASSES, KEPT, unclassified
from abusedesk.privacy.model import EvidenceClass
from tests.unit.test_golden import golden_inputs


def _gaps(events: tuple[EventDraft, ...]) -> list[str]:
    kinds = {kind for event in events for kind in event.indicators}
    keys = {key for event in events for key in event.details}
    return unclassified(kinds, keys)


@pytest.mark.parametrize("source", golden_inputs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_key_of_a_golden_report_is_classified(source: Path) -> None:
    """The events of each golden file use only indicator kinds and detail keys that the
    retention tables classify."""
    parsed = default_registry().parse(source.read_bytes())
    assert _gaps(parsed.events) == []


def test_every_key_of_generated_reports_is_classified() -> None:
    """The simulator's reports of every kind use only classified keys too."""
    end = datetime(2026, 3, 2, 12, tzinfo=UTC)
    provider = generate_provider(seed=5, accounts=20, days=3, end=end)
    generator = ReportGenerator(provider, generate_traffic(provider, with_stats=False))
    registry = default_registry()
    events = tuple(
        e for report in generator.generate(300) for e in registry.parse(report.raw).events
    )
    assert events
    assert _gaps(events) == []


def test_a_key_missing_from_the_tables_is_named() -> None:
    """A key the tables do not know comes back as a gap, named by where it sits."""
    event = EventDraft(
        category="spam",
        service="email",
        indicators={"recipient_hash": ("ab",), "new_kind": ("x",)},
        details={"message_text": "hi", "new_detail": 1},
    )
    assert _gaps((event,)) == ["details.new_detail", "indicators.new_kind"]


def test_the_tables_name_only_known_classes() -> None:
    """Every entry is KEPT or an evidence class that events hold."""
    values = {*INDICATOR_CLASSES.values(), *DETAIL_CLASSES.values()}
    assert values <= {KEPT, *EvidenceClass.IN_EVENTS}
