"""Real-world reports from the shared corpus, read in place (skipped when it is absent)."""

import re
from pathlib import Path

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import Category, ParsedReport
from abusedesk.parsing.registry import default_registry

SES_FOLDER = "ses-notifications-fx-private-relay"
DMARC_FOLDER = "dmarc-parsedmarc-samples/samples/aggregate"
# The corpus names SES files after their type: "<subtype>_<type>_notification...",
# "<type>_event...", "<subtype>_<type>_sns_body..."; the word before the marker is the type.
_SES_TYPE = re.compile(r"([a-z]+)_(?:notification|event|sns)")


def outcome(path: Path) -> ParsedReport | ParseError:
    """Return what the registry makes of the file at *path*."""
    try:
        return default_registry().parse(path.read_bytes())
    except ParseError as error:
        return error


def ses_files(corpus: Path) -> list[Path]:
    """Return every SES JSON file in the corpus."""
    return sorted(p for p in (corpus / SES_FOLDER).rglob("*.json") if p.is_file())


def ses_type(path: Path) -> str | None:
    """Return the notification type a corpus file is named after."""
    match = _SES_TYPE.search(path.name)
    return match.group(1) if match else None


def test_every_ses_file_parses_or_says_why(corpus: Path) -> None:
    """Every SES corpus file gives an SES report or a ParseError; nothing else escapes."""
    files = ses_files(corpus)
    results = {path.name: outcome(path) for path in files}
    unexpected = {
        name: result
        for name, result in results.items()
        if not isinstance(result, ParseError)
        and not (isinstance(result, ParsedReport) and result.report_format == "ses")
    }
    assert (len(files) > 0, unexpected) == (True, {})


def test_ses_bounces_and_complaints_give_their_events(corpus: Path) -> None:
    """Every SES corpus file named bounce or complaint gives events of the matching kind."""
    wanted = {"bounce": {Category.BOUNCE}, "complaint": {Category.SPAM, Category.NOT_SPAM}}
    files = [p for p in ses_files(corpus) if ses_type(p) in wanted]
    failures = []
    for path in files:
        result = outcome(path)
        categories = (
            {event.category for event in result.events}
            if isinstance(result, ParsedReport)
            else set()
        )
        if not categories or not categories <= wanted[ses_type(path) or ""]:
            failures.append((path.name, getattr(result, "reason", categories)))
    assert (len(files) > 0, failures) == (True, [])


def test_dmarc_aggregate_samples_give_records(corpus: Path) -> None:
    """Every valid aggregate sample gives at least one dmarc_aggregate event."""
    files = sorted(
        p
        for p in (corpus / DMARC_FOLDER).iterdir()
        if p.is_file() and not p.name.startswith("invalid")
    )
    failures = {}
    for path in files:
        result = outcome(path)
        if isinstance(result, ParseError):
            failures[path.name] = result.reason
        elif not any(e.category == Category.DMARC_AGGREGATE for e in result.events):
            failures[path.name] = f"no records (format {result.report_format})"
    parsed = len(files) - len(failures)
    assert (len(files) > 0, failures) == (True, {}), f"{parsed}/{len(files)} samples parsed"


def test_invalid_dmarc_samples_are_refused_with_a_reason(corpus: Path) -> None:
    """The samples named invalid raise a ParseError (with its reason) rather than parse."""
    files = sorted((corpus / DMARC_FOLDER).glob("invalid*"))
    results = {path.name: outcome(path) for path in files}
    parsed = sorted(name for name, result in results.items() if isinstance(result, ParsedReport))
    assert (len(files) > 0, parsed) == (True, [])


def test_valid_xarf_v4_samples_give_one_event_each(corpus: Path) -> None:
    """Every valid X-ARF v4 sample of the specification and library gives one event."""
    files = sorted(
        [
            *(corpus / "xarf-spec/samples/v4").glob("*.json"),
            *(corpus / "xarf-python/samples/valid/v4").rglob("*.json"),
        ]
    )
    failures = {}
    for path in files:
        result = outcome(path)
        if isinstance(result, ParseError) or len(result.events) != 1:
            failures[path.name] = getattr(result, "reason", result)
    parsed = len(files) - len(failures)
    assert (len(files) > 0, failures) == (True, {}), f"{parsed}/{len(files)} samples parsed"
