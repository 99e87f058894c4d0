"""The one place parsers are registered, tried in order, and dispatched to."""

from collections.abc import Iterable, Sequence
from typing import Protocol

from abusedesk.parsing import arf, dmarc, dsn, freeform, ses, xarf
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
    def names(self) -> Sequence[str]:
        """Return the registered parser names in the order they are tried."""
        return [p.name for p in self._parsers]

    def parse(self, raw: bytes) -> ParsedReport:
        """Parse *raw* with the first parser that recognises it."""
        document = RawDocument(raw)
        for parser in self._parsers:
            if parser.sniff(document):
                return parser.parse(document)
        raise UnknownReportFormat("no parser recognises this report")


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
            dmarc.DmarcAggregateParser(),
            xarf.XarfParser(),
            ses.SesParser(),
            freeform.FreeformParser(),
        ]
    )
