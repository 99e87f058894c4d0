"""Golden files: every input under tests/golden/<format>/ parses to its <name>.json.

An input is any file that does not end in ``.json``; its expected result is the
``.json`` file with the same name up to the first dot (``report.xml.gz`` ->
``report.json``). JSON inputs therefore take the format's name as their extension
(``bounce.ses``, ``spam.xarf``). With ``ABUSEDESK_UPDATE_GOLDEN=1`` (``make golden``)
the expected files are rewritten from the current output instead; review the diff.
"""

import json
import os
from pathlib import Path
from typing import Any

import pytest

from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.registry import default_registry

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("ABUSEDESK_UPDATE_GOLDEN") == "1"


def golden_inputs() -> list[Path]:
    """Return every golden input file, sorted."""
    return sorted(p for p in GOLDEN.glob("*/*") if p.is_file() and p.suffix != ".json")


def expected_path(source: Path) -> Path:
    """Return the expected-result file of a golden input."""
    return source.with_name(source.name.split(".", 1)[0] + ".json")


def as_json(report: ParsedReport) -> dict[str, Any]:
    """Return a ParsedReport as the plain JSON structure golden files hold."""
    data = {
        "format": report.report_format,
        "kind": report.kind,
        "warnings": list(report.warnings),
        "events": [
            {
                "category": event.category,
                "service": event.service,
                "occurred_at": event.occurred_at.isoformat() if event.occurred_at else None,
                "reported_at": event.reported_at.isoformat() if event.reported_at else None,
                "reporter": event.reporter,
                "indicators": {kind: list(values) for kind, values in event.indicators.items()},
                "details": dict(event.details),
            }
            for event in report.events
        ],
    }
    # A round trip makes tuples lists and fails loudly on anything JSON cannot hold.
    loaded: dict[str, Any] = json.loads(json.dumps(data))
    return loaded


def _id(source: Path) -> str:
    return f"{source.parent.name}/{source.name}"


@pytest.mark.parametrize("source", golden_inputs(), ids=_id)
def test_golden_input_parses_to_its_expected_report(source: Path) -> None:
    """Parsing a golden input gives exactly the report recorded beside it."""
    actual = as_json(default_registry().parse(source.read_bytes()))
    target = expected_path(source)
    if UPDATE:
        target.write_text(json.dumps(actual, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
        return
    assert target.is_file(), f"{target.name} is missing: run `make golden` and review it"
    expected = json.loads(target.read_text())
    assert expected == actual


@pytest.mark.parametrize("source", golden_inputs(), ids=_id)
def test_golden_input_sits_in_the_folder_of_its_format(source: Path) -> None:
    """A golden input is parsed by the parser its folder names."""
    assert source.parent.name == default_registry().parse(source.read_bytes()).report_format


def test_every_expected_file_has_an_input() -> None:
    """No expected-result file is left over without the input it describes."""
    expected_files = set(GOLDEN.glob("*/*.json"))
    described = {expected_path(source) for source in golden_inputs()}
    assert set() == expected_files - described


def test_every_format_has_golden_files() -> None:
    """Every registered parser has at least one golden pair."""
    folders = {p.parent.name for p in golden_inputs()}
    assert set(default_registry().names) == folders
