"""Why a report could not be read; every parser failure is one of these."""

from abusedesk.core.errors import AbuseDeskError


class ParseError(AbuseDeskError):
    """Raise when a report cannot be turned into events; ``reason`` is machine-readable."""

    reason = "parse_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class EmptyReport(ParseError):
    """Raise when a report holds no bytes, or only whitespace."""

    reason = "empty"


class UnknownReportFormat(ParseError):
    """Raise when no parser recognises the report."""

    reason = "unknown_format"


class MalformedReport(ParseError):
    """Raise when a recognised format is broken beyond reading."""

    reason = "malformed"


class DuplicateParserName(AbuseDeskError):
    """Raise at start when two parsers register the same name."""
