"""The parser registry: order, unique names, and sniffing that never claims another format."""

from pathlib import Path

import pytest

from abusedesk.parsing import ses
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import DuplicateParserName, ParseError
from abusedesk.parsing.registry import ParserRegistry, default_registry
from tests.unit.test_golden import golden_inputs

# Every parser but the last resort: each must claim its own inputs and nobody else's.
SPECIFIC = [p for p in default_registry().parsers if p.name != "freeform"]


def test_default_order_puts_specific_formats_first_and_free_form_last() -> None:
    """Structured formats are tried first; free-form takes what is left."""
    assert list(default_registry().names) == [
        "arf",
        "dsn",
        "bounces",
        "dmarc",
        "tlsrpt",
        "xarf",
        "ses",
        "acns",
        "feeds",
        "autoreply",
        "sms",
        "push",
        "freeform",
    ]


def test_two_parsers_with_one_name_fail_at_start() -> None:
    """Registering a name twice raises DuplicateParserName."""
    with pytest.raises(DuplicateParserName):
        ParserRegistry([ses.SesParser(), ses.SesParser()])


@pytest.mark.parametrize(
    "source",
    [p for p in golden_inputs() if p.parent.name != "freeform"],
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_exactly_one_specific_parser_recognises_each_golden_input(source: Path) -> None:
    """Sniffing is unambiguous: one structured parser, the right one, claims each input."""
    document = RawDocument(source.read_bytes())
    assert [p.name for p in SPECIFIC if p.sniff(document)] == [source.parent.name]


def test_json_that_no_format_claims_is_an_unknown_format() -> None:
    """A JSON object that is neither SES nor X-ARF raises unknown_format."""
    with pytest.raises(ParseError) as caught:
        default_registry().parse(b'{"hello": "world"}')
    assert caught.value.reason == "unknown_format"


def test_events_are_reported_when_the_report_is_dated() -> None:
    """An emailed report's Date is when its events were reported, unless a parser says."""
    raw = (
        b"From: someone@example.net\nTo: abuse@example.org\nSubject: spam from you\n"
        b"Date: Mon, 02 Nov 2026 10:14:00 +0100\n\n"
        b"I got this from 192.0.2.7: http://spam.example.com/offer\n"
    )
    (event,) = default_registry().parse(raw).events
    assert event.reported_at is not None
    assert event.reported_at.isoformat() == "2026-11-02T09:14:00+00:00"
