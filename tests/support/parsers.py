"""Parser plug-ins for tests that need a parse stage to fail in a particular way."""

from abusedesk.core.errors import TransientError
from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.model import ParsedReport


class FlakyParser:
    """A parser plug-in whose backing service is down: every parse is a transient failure."""

    name = "flaky"

    def sniff(self, document: RawDocument) -> bool:
        """Claim every document."""
        return True

    def parse(self, document: RawDocument) -> ParsedReport:
        """Fail as a service that is down would."""
        raise TransientError("lookup service unavailable")


class BrokenParser:
    """A parser plug-in with a bug: it claims every document and fails with a KeyError."""

    name = "broken"

    def sniff(self, document: RawDocument) -> bool:
        """Claim every document."""
        return True

    def parse(self, document: RawDocument) -> ParsedReport:
        """Fail as a bug would."""
        fields: dict[str, str] = {}
        return ParsedReport(report_format=fields["missing"], events=())
