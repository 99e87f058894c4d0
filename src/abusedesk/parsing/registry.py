"""The one place parsers are registered, tried in order, and dispatched to."""

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from abusedesk.parsing import (
    acns,
    arf,
    autoreply,
    bounces,
    dmarc,
    dsn,
    feeds,
    freeform,
    mail,
    push,
    ses,
    sms,
    tlsrpt,
    xarf,
)
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import DuplicateParserName, UnknownReportFormat
from abusedesk.parsing.model import ParsedReport


class Parser(Protocol):
    """A report format: recognise it cheaply, then read it into events."""

    name: str

    def sniff(self, document: RawDocument) -> bool:
        """Tell whether this parser should read *document*."""

    def parse(self, document: RawDocument) -> ParsedReport:
        """Read *document*, or raise a ParseError saying why not."""


class ParserRegistry:
    """An ordered set of parsers with unique names; the first that sniffs wins."""

    def __init__(self, parsers: Iterable[Parser]) -> None:
        self._parsers: list[Parser] = []
        for parser in parsers:
            if any(p.name == parser.name for p in self._parsers):
                raise DuplicateParserName(f"two parsers are named {parser.name!r}")
            self._parsers.append(parser)

    @property
    def parsers(self) -> Sequence[Parser]:
        """Return the registered parsers in the order they are tried."""
        return tuple(self._parsers)

    @property
    def names(self) -> Sequence[str]:
        """Return the registered parser names in the order they are tried."""
        return [p.name for p in self._parsers]

    def parse(self, raw: bytes) -> ParsedReport:
        """Parse *raw* with the first parser that recognises it."""
        document = RawDocument(raw)
        for parser in self._parsers:
            if parser.sniff(document):
                try:
                    return _with_report_date(parser.parse(document), document)
                except Exception as error:
                    # Not handled here: only labelled, so that a failure records its format.
                    error.parser_name = parser.name  # type: ignore[attr-defined]  # a label
                    raise
        raise UnknownReportFormat("no parser recognises this report")


def _with_report_date(report: ParsedReport, document: RawDocument) -> ParsedReport:
    """Return *report* with each event's ``reported_at`` defaulting to the report's Date.

    A parser that knows better (an SES complaint's timestamp) sets it itself; for an
    emailed report, the report's own Date header is when the reporter made it.
    """
    if all(event.reported_at is not None for event in report.events):
        return report
    message = document.message
    reported_at = mail.date(message) if message is not None else None
    if reported_at is None:
        return report
    events = tuple(
        event if event.reported_at is not None else replace(event, reported_at=reported_at)
        for event in report.events
    )
    return replace(report, events=events)


def default_registry() -> ParserRegistry:
    """Return the registry of every built-in parser, most specific first.

    ARF and DSN are told apart by the multipart/report's report-type; DMARC by a
    ``<feedback>`` root (bare, compressed or attached); X-ARF and SES JSON by their keys
    (``xarf_version``; ``notificationType``/``eventType`` or an SNS envelope). Free-form
    takes any remaining email, so it stays last.
    """
    return ParserRegistry(
        [
            arf.ArfParser(),
            dsn.DsnParser(),
            bounces.BounceParser(),
            dmarc.DmarcAggregateParser(),
            tlsrpt.TlsReportParser(),
            xarf.XarfParser(),
            ses.SesParser(),
            acns.AcnsParser(),
            feeds.FeedParser(),
            autoreply.AutoReplyParser(),
            sms.SmsParser(),
            push.PushParser(),
            freeform.FreeformParser(),
        ]
    )
