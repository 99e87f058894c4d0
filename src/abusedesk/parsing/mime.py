"""A fast, bounded MIME reader that builds the same tree as the stdlib ``compat32`` parser.

The stdlib's feed parser reads a message line by line, runs a regular expression per
line against every enclosing boundary, and compiles one per multipart boundary. This
reader finds boundary lines with ``str.find`` over the whole text, reads each header
block with two precompiled regular expressions, and builds ``MimePart`` objects:
subclasses of ``email.message.Message`` with the ``compat32`` policy, so that every
method the parsers call (``get``, ``get_all``, ``get_param``, ``get_content_type``,
``walk``, ``get_payload(decode=True)`` ...) is the stdlib's own, with the stdlib's
semantics, and ``isinstance(part, Message)`` holds.

The tree is the one ``email.message_from_bytes(raw, policy=compat32)`` builds: header
values keep their folding and undecodable bytes (surrogateescape), ``message/*`` parts
(``message/feedback-report`` included) hold a one-item list with the enclosed message,
``message/delivery-status`` parts a list of header blocks, ``multipart/digest`` parts
default to ``message/rfc822``, and the line break before each boundary belongs to the
boundary.

Deliberate differences: ``defects`` stays empty; a ``Content-Type`` or
``Content-Disposition`` whose parameters make the stdlib's ``get_param`` fail with
TypeError (a parameter both whole and in RFC 2231 sections) raises MalformedReport
rather than failing later in a parser; and input the reader cannot reproduce exactly
(a lone carriage return, a boundary with a line break, a header block of a delivery
status that declares its own structure, an mbox ``From `` line before the blank line
ending a header block) raises ``MimeReaderDeclined`` so that the caller falls back on
the stdlib.

Work is linear in the size of the text times the nesting depth, which is bounded, as
are the number of parts and of header lines.
"""

import re
from email.message import Message
from email.policy import compat32
from typing import Any

from abusedesk.parsing.errors import MalformedReport

# Real reports nest a few levels (a report, its attached message, that message's
# alternatives); the stdlib recursion limit is hit a few hundred levels down.
MAX_DEPTH = 50
# Parts of every kind, header blocks of delivery statuses included.
MAX_PARTS = 10_000
# Header lines over all parts; a real report has a few hundred.
MAX_HEADER_LINES = 50_000
_PARAMETER_FIELDS = ("content-type", "content-disposition")

# Header lines as the stdlib sees them: an mbox ``From `` line, a field name and colon
# (the name may be empty), or a continuation; the block ends at the first other line.
_HEADER_BLOCK = re.compile(r"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\n]*(?:\n|\Z))*")
# One field with its continuation lines; its value from the first non-blank character.
_FIELD = re.compile(r"^([\041-\071\073-\176]*):[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)
# The same, where a lone carriage return also ends a line.
_HEADER_BLOCK_CR = re.compile(
    r"(?:(?:From |[\041-\071\073-\176]*:|[\t ])[^\r\n]*(?:\r\n|\r|\n|\Z))*"
)
# What may follow ``--boundary`` on a boundary line, before its line break.
_BOUNDARY_TAIL = re.compile(r"(?:--)?[ \t]*")
# A line with its line break (LF, CRLF or a lone CR), or a last line without one.
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")
_LINE_BREAK = re.compile(r"[\r\n]")


class MimeReaderDeclined(Exception):
    """Raised when the input has a shape this reader does not reproduce exactly."""


class MimePart(Message):
    """One part of a message read by ``read_message``: a ``compat32`` Message."""

    _headers: list[tuple[str, str]]
    _payload: Any

    def __init__(self, default_type: str) -> None:
        super().__init__(policy=compat32)
        if default_type != "text/plain":
            self.set_default_type(default_type)


def read_message(raw: bytes) -> MimePart:
    """Return the MIME tree of *raw*, the same tree the stdlib ``compat32`` parser builds.

    Raise MalformedReport (``mime_too_deep``, ``too_complex``) past the bounds, and
    MimeReaderDeclined on input this reader leaves to the stdlib.
    """
    lone_cr = raw.count(b"\r") != raw.count(b"\r\n")
    reader = _Reader(raw.decode("ascii", "surrogateescape"), lone_cr=lone_cr)
    part, _, _ = reader.part(0, len(reader.text), 0, "text/plain")
    return part


class _Boundary:
    """A boundary line found in the text: where it starts and ends, and whether it closes."""

    __slots__ = ("closes", "end", "start")

    def __init__(self, start: int, end: int, closes: bool) -> None:
        self.start = start
        self.end = end
        self.closes = closes


class _Reader:
    """Read parts out of one decoded text, keeping count of parts and header lines.

    Lines end with LF or CRLF; with *lone_cr*, as in the stdlib, a carriage return not
    followed by a line feed ends a line too, and the slower, line by line, paths run.
    """

    def __init__(self, text: str, *, lone_cr: bool = False) -> None:
        self.text = text
        self.lone_cr = lone_cr
        self.parts = 0
        self.header_lines = 0

    def _line_end(self, pos: int, end: int) -> int:
        """Return where the line starting at *pos* ends, after its line break."""
        text = self.text
        if not self.lone_cr:
            newline = text.find("\n", pos, end)
            return end if newline == -1 else newline + 1
        found = _LINE_BREAK.search(text, pos, end)
        if found is None:
            return end
        at = found.start()
        return at + 2 if text.startswith("\r\n", at, end) else at + 1

    def _lines(self, start: int, end: int) -> list[str]:
        """Return the lines of ``text[start:end]`` with their line breaks."""
        if self.lone_cr:
            return _LINE.findall(self.text, start, end)
        *lines, last = self.text[start:end].split("\n")
        return [line + "\n" for line in lines] + ([last] if last else [])

    def part(
        self, start: int, end: int, depth: int, default_type: str
    ) -> tuple[MimePart, MimePart, bool]:
        """Read the part spanning ``text[start:end]``.

        Return it, the last part created while reading it, whose final line break
        belongs to the boundary that follows (RFC 2046), and whether that last part is
        a multipart.
        """
        if depth > MAX_DEPTH:
            raise MalformedReport(
                f"MIME parts nested more than {MAX_DEPTH} levels deep", reason="mime_too_deep"
            )
        part = self._new_part(default_type)
        body_start = self._headers(part, start, end, stop_at_blank=False)
        _check_parameters(part)
        content_type = part.get_content_type()
        if content_type == "message/delivery-status":
            return part, self._status_blocks(part, body_start, end, depth), False
        maintype = content_type.partition("/")[0]
        if maintype == "message":
            inner, last, last_multipart = self.part(body_start, end, depth + 1, "text/plain")
            part._payload = [inner]
            return part, last, last_multipart
        if maintype == "multipart":
            self._multipart(part, content_type, body_start, end, depth)
            return part, part, True
        part._payload = self.text[body_start:end]
        return part, part, False

    def _new_part(self, default_type: str) -> MimePart:
        """Create a part, counting it against the bound."""
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise MalformedReport(f"more than {MAX_PARTS:,} MIME parts", reason="too_complex")
        return MimePart(default_type)

    def _headers(self, part: MimePart, start: int, end: int, *, stop_at_blank: bool) -> int:
        """Store on *part* the header fields from *start*; return where its body starts.

        The blank line after the headers is skipped, unless *stop_at_blank* (a header
        block of a delivery status, where it ends the block); a line that is no header
        starts the body.
        """
        text = self.text
        found = (_HEADER_BLOCK_CR if self.lone_cr else _HEADER_BLOCK).match(text, start, end)
        block_end = end if found is None else found.end()
        self.header_lines += text.count("\n", start, block_end) + self.lone_cr * text.count(
            "\r", start, block_end
        )
        if self.header_lines > MAX_HEADER_LINES:
            raise MalformedReport(
                f"more than {MAX_HEADER_LINES:,} header lines", reason="too_complex"
            )
        fields_start = start
        if text.startswith("From ", start, block_end):
            fields_start = self._line_end(start, block_end)
            part.set_unixfrom(_without_final_line_break(text[start:fields_start]))
        if fields_start < block_end and (
            self.lone_cr
            or text[fields_start] in " \t:"
            or text.startswith("From ", fields_start, block_end)
            or text.find("\nFrom ", fields_start, block_end) != -1
            or text.find("\n:", fields_start, block_end) != -1
        ):
            lines = self._lines(start, block_end)
            if self._set_headers(part, lines):
                # The last header line is an mbox From line: it starts the body.
                from_line = block_end - len(lines[-1])
                if not stop_at_blank and block_end < end and text[block_end] in "\r\n":
                    raise MimeReaderDeclined("an mbox From line before the blank line")
                return from_line
        else:
            part._headers = [
                (field[1], field[2].rstrip("\r\n"))
                for field in _FIELD.finditer(text, fields_start, block_end)
            ]
        if not stop_at_blank and block_end < end and text[block_end] in "\r\n":
            return self._line_end(block_end, end)
        return block_end

    def _set_headers(self, part: MimePart, lines: list[str]) -> bool:
        """Store the fields of *lines* on *part* as the stdlib's ``_parse_headers`` does,
        for header blocks with an mbox ``From `` line, a line without a field name, or a
        continuation first.

        Return True when the last line, an mbox ``From `` line, belongs to the body.
        """
        fields: list[tuple[str, str]] = []
        current: list[str] = []
        for number, line in enumerate(lines):
            if line[0] in " \t":
                if current:  # a continuation before any field is dropped
                    current.append(line)
                continue
            if current:
                fields.append(_field(current))
                current = []
            if line.startswith("From "):
                if number == 0:
                    part.set_unixfrom(_without_final_line_break(line))
                elif number == len(lines) - 1:
                    part._headers = fields
                    return True
                continue
            if line[0] != ":":  # a line without a field name is dropped
                current = [line]
        if current:
            fields.append(_field(current))
        part._headers = fields
        return False

    def _multipart(
        self, part: MimePart, content_type: str, start: int, end: int, depth: int
    ) -> None:
        """Split the multipart body ``text[start:end]`` on its boundary into subparts."""
        boundary = part.get_boundary()
        if boundary is None:
            part._payload = self.text[start:end]
            return
        if "\n" in boundary or "\r" in boundary:
            raise MimeReaderDeclined("a boundary with a line break")
        delimiter = "--" + boundary
        found = self._next_boundary(delimiter, start, end)
        if found is None or found.closes:
            # No first boundary: everything read is the payload, the rest is dropped.
            part._payload = self.text[start : end if found is None else found.start]
            part.epilogue = ""
            return
        if found.start > start:
            part.preamble = _without_final_line_break(self.text[start : found.start])
        subparts: list[Message] = []
        child_type = "message/rfc822" if content_type == "multipart/digest" else "text/plain"
        while True:
            pos = found.end
            # Boundary lines right after a boundary line delimit nothing.
            while (repeated := self._boundary_at(delimiter, pos, end)) is not None:
                pos = repeated.end
            following = self._next_boundary(delimiter, pos, end)
            subpart, last, last_multipart = self.part(
                pos, end if following is None else following.start, depth + 1, child_type
            )
            _drop_final_line_break(last, last_multipart)
            subparts.append(subpart)
            if following is None:
                break
            if following.closes:
                part.epilogue = self.text[following.end : end]
                break
            found = following
        part._payload = subparts

    def _status_blocks(self, part: MimePart, start: int, end: int, depth: int) -> MimePart:
        """Read a delivery status body into header blocks; return the last block."""
        if depth + 1 > MAX_DEPTH:
            raise MalformedReport(
                f"MIME parts nested more than {MAX_DEPTH} levels deep", reason="mime_too_deep"
            )
        text, blocks, pos = self.text, [], start
        while True:
            block = self._new_part("text/plain")
            body_start = self._headers(block, pos, end, stop_at_blank=True)
            _check_parameters(block)
            if block.get_content_maintype() in ("message", "multipart"):
                raise MimeReaderDeclined("a delivery status block with a structure of its own")
            pos = self._blank_line(body_start, end)
            block._payload = text[body_start:pos]
            blocks.append(block)
            if pos < end:  # step over the blank line that ended the block
                pos = self._line_end(pos, end)
            if pos >= end:
                break
        part._payload = blocks
        return blocks[-1]

    def _blank_line(self, start: int, end: int) -> int:
        """Return where the first blank line at or after *start* begins, or *end*."""
        text = self.text
        if not self.lone_cr:
            if start >= end or text[start] == "\n" or text.startswith("\r\n", start, end):
                return min(start, end)
            lf = text.find("\n\n", start, end)
            crlf = text.find("\n\r\n", start, end)
            found = [at + 1 for at in (lf, crlf) if at != -1]
            return min(found) if found else end
        pos = start
        while pos < end and text[pos] not in "\r\n":
            pos = self._line_end(pos, end)
        return min(pos, end)

    def _boundary_at(self, delimiter: str, pos: int, end: int) -> _Boundary | None:
        """Return the boundary line starting at *pos*, or None when there is none."""
        text = self.text
        if not text.startswith(delimiter, pos, end):
            return None
        tail = pos + len(delimiter)
        line_end = self._line_end(tail, end)
        tail_end = len(_without_final_line_break(text[tail:line_end])) + tail
        if _BOUNDARY_TAIL.fullmatch(text, tail, tail_end) is None:
            return None
        return _Boundary(pos, line_end, text.startswith("--", tail))

    def _next_boundary(self, delimiter: str, pos: int, end: int) -> _Boundary | None:
        """Return the first boundary line at or after the line starting at *pos*."""
        found = self._boundary_at(delimiter, pos, end)
        if found is not None:
            return found
        text = self.text
        if not self.lone_cr:
            needle = "\n" + delimiter
            while (at := text.find(needle, pos, end)) != -1:
                found = self._boundary_at(delimiter, at + 1, end)
                if found is not None:
                    return found
                pos = at + 1
            return None
        # Any line break may precede the boundary line.
        after_line_break = re.compile("[\r\n]" + re.escape(delimiter))
        while (match := after_line_break.search(text, pos, end)) is not None:
            found = self._boundary_at(delimiter, match.start() + 1, end)
            if found is not None:
                return found
            pos = match.start() + 1
        return None


def _field(lines: list[str]) -> tuple[str, str]:
    """Return the name and value of a field from its lines, as ``compat32`` does."""
    name, value = lines[0].split(":", 1)
    value = value.lstrip(" \t") + "".join(lines[1:])
    return name, value.rstrip("\r\n")


def _check_parameters(part: MimePart) -> None:
    """Raise MalformedReport when the stdlib cannot split the part's parameters.

    It fails with TypeError on a parameter given both whole and in RFC 2231 sections
    (``name*=...; name*0=...``); refusing the report here keeps that error out of the
    parsers, which read parameters with ``get_param``.
    """
    for name, value in part._headers:
        if "*" in value and name.lower() in _PARAMETER_FIELDS:
            try:
                part.get_params(header=name)
            except TypeError as error:
                raise MalformedReport(
                    f"unreadable {name} parameters", reason="malformed"
                ) from error


def _without_final_line_break(text: str) -> str:
    """Return *text* without its final line break."""
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith(("\n", "\r")):
        return text[:-1]
    return text


def _drop_final_line_break(last: MimePart, multipart: bool) -> None:
    """Give the line break before a boundary to the boundary, as the stdlib does."""
    if multipart:
        if last.epilogue == "":
            last.epilogue = None
        elif last.epilogue is not None:
            last.epilogue = _without_final_line_break(last.epilogue)
    elif isinstance(last._payload, str):
        last._payload = _without_final_line_break(last._payload)
