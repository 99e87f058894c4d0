"""A raw report with its lazily parsed views (RFC 5322 message, JSON), shared by parsers."""

import email
import json
from email.message import Message
from email.policy import compat32
from functools import cached_property
from typing import Any

from abusedesk.parsing.errors import EmptyReport, MalformedReport

# Bounds on structure, not size: the email package's cost grows with header lines and
# MIME boundaries, and real reports stay far below these (a feedback report has a few
# hundred header lines and a handful of parts).
MAX_HEADER_LINES = 20_000
MAX_BOUNDARY_LINES = 5_000


class RawDocument:
    """Wrap report bytes so that sniffing parsers share one parse of each view.

    The message view uses the ``compat32`` policy: it is several times faster than
    ``policy.default`` and has none of its super-linear header parsing on hostile input.
    """

    def __init__(self, raw: bytes) -> None:
        if not raw.strip():
            raise EmptyReport("the report is empty")
        self.raw = raw

    @cached_property
    def head(self) -> bytes:
        """Return the first 4 KiB with leading whitespace removed, for sniffing."""
        return self.raw[:4096].lstrip()

    @cached_property
    def json(self) -> Any:
        """Return the report parsed as JSON, or None when it is not JSON."""
        if not self.head.startswith((b"{", b"[")):
            return None
        try:
            return json.loads(self.raw)
        except (ValueError, RecursionError):
            return None

    @cached_property
    def message(self) -> Message | None:
        """Return the report parsed as an RFC 5322 message, or None when it has no headers.

        Raise MalformedReport when the message is too deeply nested to parse.
        """
        if not looks_like_message(self.head):
            return None
        check_structure(self.raw)
        try:
            return email.message_from_bytes(self.raw, policy=compat32)
        except RecursionError as error:
            # The email package recurses once per nested multipart; a hostile report
            # nests deep enough to exhaust the stack.
            raise MalformedReport(
                "the MIME structure is nested too deeply", reason="mime_too_deep"
            ) from error


def check_structure(raw: bytes) -> None:
    """Raise MalformedReport when *raw* has more header or boundary lines than any real report.

    Counting bytes is cheap; parsing millions of lines costs a worker tens of seconds.
    """
    lines = raw.count(b"\n")
    if lines <= min(MAX_HEADER_LINES, MAX_BOUNDARY_LINES):
        return
    boundaries = raw.count(b"\n--")
    if boundaries > MAX_BOUNDARY_LINES:
        raise MalformedReport(
            f"{boundaries:,} MIME boundary lines; the limit is {MAX_BOUNDARY_LINES:,}",
            reason="too_complex",
        )
    end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    if end == -1 or (crlf_end != -1 and crlf_end < end):
        end = crlf_end
    header_lines = raw.count(b"\n", 0, end if end != -1 else len(raw))
    if header_lines > MAX_HEADER_LINES:
        raise MalformedReport(
            f"{header_lines:,} header lines; the limit is {MAX_HEADER_LINES:,}",
            reason="too_complex",
        )


def require_message(document: RawDocument) -> Message:
    """Return the document's message view; raise MalformedReport when it is not an email."""
    message = document.message
    if message is None:
        raise MalformedReport("not an email message")
    return message


def looks_like_message(head: bytes) -> bool:
    """Tell whether *head* starts with header lines (``Name: value`` or an mbox ``From ``)."""
    first_line = head.split(b"\n", 1)[0]
    if first_line.startswith(b"From "):
        return True
    name, colon, _ = first_line.partition(b":")
    return bool(colon) and bool(name) and all(33 <= c <= 126 and c != 58 for c in name)
