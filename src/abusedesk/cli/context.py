"""What every command starts from: settings, logging, the wired container, safe output."""

import re
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.text import Text

from abusedesk.bootstrap import Container, build
from abusedesk.config import Settings
from abusedesk.core.errors import NotFound
from abusedesk.storage.db import read_only
from abusedesk.storage.reports import ReportSummary

# No markup or emoji codes anywhere: text from reports, files and errors prints as it is.
console = Console(highlight=False, markup=False, emoji=False)
errors = Console(stderr=True, highlight=False, markup=False, emoji=False)

# C0 controls except tab and newline, DEL and C1 controls drive terminals (colours, titles,
# cursor moves); lone surrogates cannot be encoded; bidirectional overrides and line
# separators make a value read differently from what it is.
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def terminal_safe(value: object) -> str:
    """Return *value* as text that cannot steer a terminal: unsafe characters become escapes."""
    return _UNSAFE.sub(_escape, str(value))


def plain(*parts: object) -> Text:
    """Join *parts* into escaped text that rich prints as is, never as markup or emoji."""
    return Text("".join(terminal_safe(part) for part in parts))


@contextmanager
def open_container() -> Iterator[Container]:
    """Build the container from the environment for one command, and close it after."""
    container = build(Settings(), configure_logs=True)
    try:
        yield container
    finally:
        container.close()


def stored_report(report_id: int) -> tuple[ReportSummary, bytes]:
    """Return a report's summary and raw bytes, or print why not and exit 1."""
    with open_container() as container, read_only(container.sessions) as session:
        try:
            return (
                container.reports.get(session, report_id),
                container.reports.raw(session, report_id),
            )
        except NotFound as exc:
            errors.print(plain(exc))
            raise typer.Exit(1) from exc
