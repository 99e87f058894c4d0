"""A raw report with its lazily parsed views (RFC 5322 message, JSON), shared by parsers."""

import email
import json
from email.message import Message
from email.policy import compat32
from functools import cached_property
from typing import Any

from abusedesk.parsing.errors import EmptyReport, MalformedReport
from abusedesk.parsing.mime import MimeReaderDeclined, read_message

# Bounds on structure, not size: the email package's cost grows with header lines and
# MIME boundaries, and real reports stay far below these (a feedback report has a few
# hundred header lines and a handful of parts).
MAX_HEADER_LINES = 20_000
MAX_BOUNDARY_LINES = 5_000
# The top-level header block: a few KiB in real reports, a few hundred KiB with a long
# Received chain. Past this the stdlib's linear-but-slow address and date parsers cost
# seconds per header.
MAX_HEADER_BYTES = 1024 * 1024
# Content-Type and Content-Disposition fields: the email package splits their parameters
# in time quadratic in the number of ``;`` (CPython gh-87075), even with compat32, and it
# does so for every multipart part while parsing. Real fields carry a handful.
MAX_PARAMETER_FIELD_BYTES = 16 * 1024
MAX_PARAMETER_SEPARATORS = 100
_PARAMETER_FIELD_NAMES = (b"content-type", b"content-disposition")


class RawDocument:
    """Wrap report bytes so that sniffing parsers share one parse of each view.

    The message view has the ``compat32`` semantics: it is several times faster than
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

        The MIME reader of parsing/mime.py builds the tree the stdlib ``compat32`` parser
        would, several times faster; on input it declines (see MimeReaderDeclined) the
        stdlib parser reads the report instead. Raise MalformedReport when the message is
        nested too deeply or has more parts or header lines than any real report.
        """
        if not looks_like_message(self.head):
            return None
        check_structure(self.raw)
        try:
            return read_message(self.raw)
        except MimeReaderDeclined:
            pass
        try:
            return email.message_from_bytes(self.raw, policy=compat32)
        except RecursionError as error:
            # The email package recurses once per nested multipart; a hostile report
            # nests deep enough to exhaust the stack.
            raise MalformedReport(
                "the MIME structure is nested too deeply", reason="mime_too_deep"
            ) from error


def check_structure(raw: bytes) -> None:
    """Raise MalformedReport when *raw* is shaped like no real report: too many header or
    boundary lines, a huge header block, or parameter fields crafted to be slow to split.

    Counting bytes is cheap; parsing millions of lines costs a worker tens of seconds.
    """
    lines = raw.count(b"\n")
    if lines <= min(MAX_HEADER_LINES, MAX_BOUNDARY_LINES) and len(raw) <= MAX_HEADER_BYTES:
        _check_parameter_fields(raw)
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
    header_end = end if end != -1 else len(raw)
    header_lines = raw.count(b"\n", 0, header_end)
    if header_lines > MAX_HEADER_LINES:
        raise MalformedReport(
            f"{header_lines:,} header lines; the limit is {MAX_HEADER_LINES:,}",
            reason="too_complex",
        )
    if header_end > MAX_HEADER_BYTES:
        raise MalformedReport(
            f"a header block of {header_end:,} bytes; the limit is {MAX_HEADER_BYTES:,}",
            reason="too_complex",
        )
    _check_parameter_fields(raw)


def _check_parameter_fields(raw: bytes) -> None:
    """Raise MalformedReport when a Content-Type or Content-Disposition field anywhere in
    *raw* is longer, or has more ``;``, than a real one."""
    folded = raw.lower()
    for name in _PARAMETER_FIELD_NAMES:
        # One field per MIME part at most; the boundary limit bounds the parts.
        if folded.count(name) > 2 * MAX_BOUNDARY_LINES:
            raise MalformedReport(
                f"more than {2 * MAX_BOUNDARY_LINES:,} {name.decode()} fields",
                reason="too_complex",
            )
        start = folded.find(name)
        while start != -1:
            if start == 0 or folded[start - 1] == 10:  # at the start of a line
                end = _field_end(folded, start)
                field = folded[start:end]
                if len(field) > MAX_PARAMETER_FIELD_BYTES or (
                    field.count(b";") > MAX_PARAMETER_SEPARATORS
                ):
                    raise MalformedReport(
                        "a Content-Type or Content-Disposition field too long or with too "
                        f"many parameters ({len(field):,} bytes, {field.count(b';'):,} ';')",
                        reason="too_complex",
                    )
                start = end
            start = folded.find(name, start + 1)


def _field_end(raw: bytes, start: int) -> int:
    """Return where the header field starting at *start* ends, after its folded lines,
    looking no further than just past the longest allowed field."""
    limit = min(len(raw), start + MAX_PARAMETER_FIELD_BYTES + 1)
    end = raw.find(b"\n", start, limit)
    while end != -1 and end + 1 < limit and raw[end + 1] in (9, 32):
        end = raw.find(b"\n", end + 1, limit)
    return limit if end == -1 else end


def require_message(document: RawDocument) -> Message:
    """Return the document's message view; raise MalformedReport when it is not an email."""
    message = document.message
    if message is None:
        raise MalformedReport("not an email message")
    return message


def looks_like_message(head: bytes) -> bool:
    """Tell whether *head* starts with header lines (``Name: value`` or an mbox ``From ``)."""
    if head[:1] in (b"{", b"["):
        # JSON: ``{"key": ...`` would otherwise pass for a header line.
        return False
    first_line = head.split(b"\n", 1)[0]
    if first_line.startswith(b"From "):
        return True
    name, colon, _ = first_line.partition(b":")
    return bool(colon) and bool(name) and all(33 <= c <= 126 and c != 58 for c in name)
