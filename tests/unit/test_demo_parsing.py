"""Every report the simulator writes is one our parsers read: none unknown, none failing."""

from datetime import UTC, datetime

import pytest

from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import ReportGenerator, ReportKind
from abusedesk.demo.traffic import generate_traffic
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.registry import default_registry

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
COUNT = 800


@pytest.mark.parametrize("seed", [3, 17, 2024])
def test_every_generated_report_parses_into_events(seed: int) -> None:
    """A few thousand reports over three seeds all parse, each into at least one event."""
    provider = generate_provider(seed=seed, accounts=40, days=7, end=END)
    generator = ReportGenerator(provider, generate_traffic(provider, with_stats=False))
    registry = default_registry()
    kinds: set[str] = set()
    failed: list[tuple[str, str]] = []
    for report in generator.generate(COUNT):
        kinds.add(report.truth.report_kind)
        try:
            parsed = registry.parse(report.raw)
        except (UnknownReportFormat, ParseError) as error:
            failed.append((report.file_name, f"{type(error).__name__}: {error}"))
            continue
        if not parsed.events:
            failed.append((report.file_name, f"{parsed.report_format}: no events"))
    assert failed == []
    assert kinds == set(ReportKind.ALL)
