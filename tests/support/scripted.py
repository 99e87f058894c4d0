"""A parser plug-in whose report says what parsing should give: for outcome tests.

A scripted report is one line, ``SCRIPT <serial> <what> [reporter]``, where *what* is
``events``, ``partial`` (events and warnings), ``kind`` (no events, a kind),
``empty``, ``malformed`` (a ParseError) or ``unknown`` (the parser finds it unknown).
Reports that do not start with ``SCRIPT`` are left to no parser at all.
"""

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, UnknownReportFormat
from abusedesk.parsing.model import Category, EventDraft, ParsedReport, Service
from abusedesk.parsing.registry import ParserRegistry

NAME = "scripted"


def scripted(serial: int, what: str, reporter: str = "fbl.example.net") -> bytes:
    """Return the bytes of a scripted report."""
    return f"SCRIPT {serial} {what} {reporter}\n".encode()


class ScriptedParser:
    """Read a scripted report into what its line asks for."""

    name = NAME

    def sniff(self, document: RawDocument) -> bool:
        """Claim reports that start with ``SCRIPT``."""
        return document.head.startswith(b"SCRIPT ")

    def parse(self, document: RawDocument) -> ParsedReport:
        """Give the outcome the report's line names."""
        _, _, what, reporter = document.raw.decode().split()
        event = EventDraft(category=Category.SPAM, service=Service.EMAIL, reporter=reporter)
        if what == "events":
            return ParsedReport(NAME, (event, event))
        if what == "partial":
            return ParsedReport(NAME, (event,), warnings=("row 2: no IP address",))
        if what == "kind":
            return ParsedReport(NAME, (), kind="Delivery")
        if what == "empty":
            return ParsedReport(NAME, ())
        if what == "unknown":
            raise UnknownReportFormat("a scripted kind nobody knows")
        raise MalformedReport("the script asks for a failure")


def scripted_registry() -> ParserRegistry:
    """Return a registry holding only the scripted parser."""
    return ParserRegistry([ScriptedParser()])
