"""The MIME reader against the stdlib ``compat32`` parser, and its bounds.

The differential tests generate MIME structures (folded and repeated headers, quoted and
RFC 2231 parameters, nesting, transfer encodings, message/rfc822, delivery statuses,
digests, CRLF and LF, missing final boundaries, preambles and epilogues, boundary-like
lines in bodies, undecodable bytes) and require the reader to build the very tree the
stdlib builds, read through the Message API the parsers use.
"""

import email
from email.message import Message
from email.policy import compat32
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport
from abusedesk.parsing.mime import (
    MAX_DEPTH,
    MAX_HEADER_LINES,
    MAX_PARTS,
    MimePart,
    MimeReaderDeclined,
    read_message,
)

_FIELD_NAMES = ("Subject", "X-Note", "received", "To", "Content-Description", "Comments")
_PARAMETER_NAMES = ("charset", "name", "filename", "format", "report-type", "x-odd")
_PARAMETER_VALUES = ('"a b; c"', "utf-8", "plain", '"quoted \\" part"', "''", "é.txt")
_WORDS = ("text", "--", "--b1", "--b1--", "From someone", "=3D", "é", "\t", " ", "a:b", "")
_ENCODINGS = ("7bit", "8bit", "base64", "quoted-printable", "binary", "BASE64", "x-token")


def _stdlib(raw: bytes) -> Message:
    """Return *raw* parsed by the stdlib the way parsing used to parse every report."""
    return email.message_from_bytes(raw, policy=compat32)


def _tree(message: Message) -> tuple[Any, ...]:
    """Return everything the parsers can see of *message*, through the Message API."""
    payload = message.get_payload()
    return (
        message.items(),
        message.keys(),
        message.get_unixfrom(),
        message.preamble,
        message.epilogue,
        message.get_content_type(),
        message.get_content_maintype(),
        message.get_content_subtype(),
        message.get_default_type(),
        message.get_params(),
        message.get_param("charset"),
        message.get_param("name"),
        message.get_filename(),
        message.get_boundary(),
        message.get_content_charset(),
        message.is_multipart(),
        message.get("content-type"),
        message.get_all("received"),
        "subject" in message,
        [_tree(part) for part in _subparts(message)] if isinstance(payload, list) else payload,
        None if message.is_multipart() else message.get_payload(decode=True),
    )


def _subparts(message: Message) -> list[Message]:
    """Return the parts a multipart or message/* part holds."""
    payload = message.get_payload()
    assert isinstance(payload, list)
    return [part for part in payload if isinstance(part, Message)]


def _assert_same_tree(raw: bytes) -> None:
    """Require the reader's tree of *raw* to be the stdlib's."""
    ours = read_message(raw)
    assert isinstance(ours, Message)
    assert _tree(ours) == _tree(_stdlib(raw))
    assert [part.get_content_type() for part in ours.walk()] == [
        part.get_content_type() for part in _stdlib(raw).walk()
    ]


def _assert_same_tree_or_fallback(raw: bytes) -> None:
    """Require the reader's tree of *raw* to be the stdlib's, or the reader to decline
    for one of its documented reasons and the message view to fall back on the stdlib."""
    try:
        _assert_same_tree(raw)
    except MalformedReport:
        # A parameter both whole and in sections: the stdlib fails with TypeError.
        assert _parameters_unreadable(raw)
    except MimeReaderDeclined:
        boundaries = [part.get_boundary() or "" for part in _stdlib(raw).walk()]
        assert b"From " in raw or "\n" in "".join(boundaries) or "\r" in "".join(boundaries)
        message = RawDocument(raw).message
        assert message is not None
        assert _tree(message) == _tree(_stdlib(raw))


def _parameters_unreadable(raw: bytes) -> bool:
    """Tell whether the stdlib fails to split the parameters of a part of *raw*."""
    try:
        for part in _stdlib(raw).walk():
            part.get_params()
            part.get_params(header="content-disposition")
    except TypeError:
        return True
    return False


@st.composite
def _field(draw: st.DrawFn) -> str:
    """Draw one header field, folded or not, possibly with undecodable bytes."""
    name = draw(st.sampled_from(_FIELD_NAMES))
    words = draw(st.lists(st.sampled_from(_WORDS), max_size=4))
    folds = draw(st.lists(st.sampled_from(("\n ", "\n\t", "\n \n ")), max_size=2))
    space = draw(st.sampled_from((" ", "", "  ", "\t")))
    return f"{name}:{space}{' '.join(words)}{''.join(f'{f}x' for f in folds)}"


@st.composite
def _parameters(draw: st.DrawFn) -> str:
    """Draw a parameter list: plain, quoted, RFC 2231 and continuation parameters."""
    chosen = draw(
        st.lists(
            st.sampled_from(
                [f"{name}={value}" for name in _PARAMETER_NAMES for value in _PARAMETER_VALUES]
                + ["name*=utf-8''%E2%82%AC.txt", "name*0=a; name*1=b", 'filename="r.eml"', "x"]
                + ["name*0*=utf-8''%E2%82; name*1*=%AC", "title*=us-ascii'en'This%20is"]
            ),
            max_size=3,
        )
    )
    separator = draw(st.sampled_from(("; ", ";", ";\n\t", " ; ")))
    return "".join(separator + item for item in chosen)


def _body(draw: st.DrawFn) -> str:
    """Draw body lines, some of them boundary-like, blank or mbox From lines."""
    lines = draw(st.lists(st.sampled_from((*_WORDS, "a=\n", "SGVsbG8=", "x: y")), max_size=5))
    return "\n".join(lines)


@st.composite
def _part(draw: st.DrawFn, depth: int) -> str:
    """Draw one MIME part (headers, blank line, body), nesting up to *depth* levels."""
    fields = draw(st.lists(_field(), max_size=3))
    kinds = ["text/plain", "text/html", "application/octet-stream", "none"]
    if depth > 0:
        kinds += ["multipart/mixed", "multipart/digest", "message/rfc822", "multipart/report"]
        kinds += ["message/delivery-status", "message/feedback-report"]
    kind = draw(st.sampled_from(kinds))
    boundary = draw(st.sampled_from(("b1", "b2", "=_x", "b1-inner", "sp ace", "")))
    parameters = draw(_parameters())
    if kind.startswith("multipart/") and draw(st.booleans()):
        quoted = draw(st.booleans())
        parameters += f'; boundary="{boundary}"' if quoted else f"; boundary={boundary}"
    if kind != "none":
        fields.append(f"Content-Type: {kind}{parameters}")
    if draw(st.booleans()):
        fields.append(f"Content-Transfer-Encoding: {draw(st.sampled_from(_ENCODINGS))}")
    if draw(st.integers(0, 3)) == 0:
        disposition = draw(st.sampled_from(("attachment", "inline", "")))
        fields.append(f"Content-Disposition: {disposition}{draw(_parameters())}")
    draw(st.randoms()).shuffle(fields)
    separator = draw(st.sampled_from(("\n", "\n", "", "\n\n")))
    head = "".join(field + "\n" for field in fields) + separator
    if kind.startswith("multipart/"):
        body = _multipart_body(draw, boundary, depth)
    elif kind in {"message/rfc822", "message/feedback-report"}:
        body = draw(_part(depth - 1))
    elif kind == "message/delivery-status":
        blocks = draw(st.lists(st.lists(_field(), max_size=3), max_size=3))
        gaps = draw(st.sampled_from(("\n", "\n\n", "\n\n\n")))
        body = gaps.join("\n".join(block) for block in blocks) + draw(_optional_text())
    else:
        body = _body(draw)
    return head + body


def _multipart_body(draw: st.DrawFn, boundary: str, depth: int) -> str:
    """Draw a multipart body: preamble, parts, a final boundary or none, an epilogue."""
    parts = draw(st.lists(_part(depth - 1), max_size=3))
    after = draw(st.sampled_from(("", "  ", "\t", "--", "x")))
    chunks = [draw(_optional_text())]
    for part in parts:
        chunks.append(f"--{boundary}{after if after != '--' else ''}")
        if draw(st.integers(0, 5)) == 0:
            chunks.append(f"--{boundary}")  # a repeated boundary line
        chunks.append(part)
    if draw(st.booleans()):
        chunks.append(f"--{boundary}--{draw(st.sampled_from(('', ' ', 'x')))}")
        chunks.append(draw(_optional_text()))
    return "\n".join(chunks)


def _optional_text() -> st.SearchStrategy[str]:
    """Return a strategy for a preamble, epilogue or trailing text, often empty."""
    return st.sampled_from(("", "", "\n", "preamble text", "tail\n\n", "--b1\nx"))


@st.composite
def _message(draw: st.DrawFn) -> bytes:
    """Draw a whole message as bytes, with LF, CRLF, lone CR or mixed line breaks."""
    text = "From: a@example.org\n" + draw(_part(3))
    if draw(st.booleans()):
        text = "From MAILER-DAEMON Mon Jan  1 00:00:00 2024\n" + text
    if draw(st.booleans()):
        text += "\n"
    raw = text.encode("utf-8", "surrogateescape")
    line_breaks = draw(st.sampled_from(("lf", "crlf", "mixed", "cr", "cr-mixed")))
    if line_breaks == "crlf":
        raw = raw.replace(b"\n", b"\r\n")
    elif line_breaks == "mixed":
        raw = raw.replace(b"e\n", b"e\r\n")
    elif line_breaks == "cr":
        raw = raw.replace(b"\n", b"\r")
    elif line_breaks == "cr-mixed":
        raw = raw.replace(b"t\n", b"t\r").replace(b"e\n", b"e\r\n")
    return raw


@given(_message())
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_the_reader_builds_the_stdlib_tree(raw: bytes) -> None:
    """On generated MIME structures the reader's tree is the stdlib compat32 tree."""
    _assert_same_tree_or_fallback(raw)


@given(st.binary(max_size=300), st.sampled_from((b"", b"\n", b"--b\n", b"\r\n", b"\r--b\r")))
@settings(max_examples=300, deadline=None)
def test_the_reader_agrees_on_arbitrary_bytes_or_declines(body: bytes, joint: bytes) -> None:
    """Arbitrary bytes after a multipart header give the stdlib tree, or a fallback."""
    raw = b'From: a@example.org\nContent-Type: multipart/mixed; boundary="b"\n' + joint + body
    _assert_same_tree_or_fallback(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b'From: a@example.org\nContent-Type: multipart/mixed;\n boundary="a\n b"\n\nx\n',
        b"Subject: x\nFrom someone\n\nbody\n",
        b"From: a@example.org\nContent-Type: message/delivery-status\n\n"
        b"Content-Type: multipart/mixed; boundary=x\n\n--x\n",
    ],
    ids=["boundary-with-line-break", "from-line-ends-headers", "structured-status"],
)
def test_input_the_reader_declines_falls_back_to_the_stdlib(raw: bytes) -> None:
    """Shapes the reader does not reproduce are left to the stdlib parser, same tree."""
    with pytest.raises(MimeReaderDeclined):
        read_message(raw)
    message = RawDocument(raw).message
    assert message is not None
    assert not isinstance(message, MimePart)
    assert _tree(message) == _tree(_stdlib(raw))


def test_old_mac_line_breaks_are_read_like_the_stdlib_reads_them() -> None:
    """A lone carriage return ends a line, as it does for the stdlib."""
    raw = (
        b"From: a@example.org\rContent-Type: multipart/mixed; boundary=b\r\r"
        b"--b\rContent-Type: text/plain\r\rone\r--b\r\ntwo\r\n--b--\repilogue\r"
    )
    message = read_message(raw)
    assert [part.get_payload() for part in _subparts(message)] == ["one", "two"]
    _assert_same_tree(raw)


def test_the_document_message_view_is_read_by_the_reader() -> None:
    """A plain report's message view comes from the reader and reads like a Message."""
    raw = (
        b"From: a@example.org\nSubject: =?utf-8?q?caf=C3=A9?=\nContent-Type: multipart/mixed;"
        b' boundary="b"\n\n--b\nContent-Type: text/plain; charset=utf-8\n'
        b"Content-Transfer-Encoding: base64\n\naMOpIQ==\n--b--\n"
    )
    message = RawDocument(raw).message
    assert isinstance(message, MimePart)
    [text] = _subparts(message)
    assert text.get_payload(decode=True) == "hé!".encode()
    assert text.get_content_charset() == "utf-8"


def test_a_parameter_both_whole_and_in_sections_is_malformed() -> None:
    """The stdlib's get_param fails with TypeError on it; the reader refuses the report."""
    raw = b"From: a@example.org\nContent-Type: text/plain; name*=x; name*0=y\n\nhi\n"
    assert _parameters_unreadable(raw)
    with pytest.raises(MalformedReport) as caught:
        _ = RawDocument(raw).message
    assert caught.value.reason == "malformed"


def test_nesting_past_the_limit_is_refused_as_too_deep() -> None:
    """Multiparts nested past MAX_DEPTH raise mime_too_deep; at the limit they parse."""

    def nested(depth: int) -> bytes:
        opening = "".join(
            f'Content-Type: multipart/mixed; boundary="b{n}"\n\n--b{n}\n' for n in range(depth)
        )
        return f"From: a@example.org\n{opening}\nbottom\n".encode()

    assert read_message(nested(MAX_DEPTH)).get_content_type() == "multipart/mixed"
    with pytest.raises(MalformedReport) as caught:
        read_message(nested(MAX_DEPTH + 1))
    assert caught.value.reason == "mime_too_deep"


def test_message_rfc822_nesting_counts_toward_the_depth_limit() -> None:
    """Messages attached inside messages are nested parts too."""
    raw = b"From: a@example.org\n" + b"Content-Type: message/rfc822\n\n" * (MAX_DEPTH + 1) + b"x\n"
    with pytest.raises(MalformedReport) as caught:
        read_message(raw)
    assert caught.value.reason == "mime_too_deep"


def test_more_parts_than_the_limit_are_refused() -> None:
    """A delivery status of more header blocks than MAX_PARTS is too complex."""
    head = b"From: a@example.org\nContent-Type: message/delivery-status\n\n"
    read_message(head + b"Status: 5.0.0\n\n" * (MAX_PARTS - 2))
    with pytest.raises(MalformedReport) as caught:
        _ = RawDocument(head + b"Status: 5.0.0\n\n" * MAX_PARTS).message
    assert caught.value.reason == "too_complex"


def test_more_header_lines_than_the_limit_are_refused() -> None:
    """Header lines are counted over every part, attached messages included."""
    head = b"From: a@example.org\nContent-Type: message/rfc822\n\n"
    read_message(head + b"X-Filler: y\n" * (MAX_HEADER_LINES - 2))
    with pytest.raises(MalformedReport) as caught:
        _ = RawDocument(head + b"X-Filler: y\n" * MAX_HEADER_LINES).message
    assert caught.value.reason == "too_complex"


def test_boundary_like_lines_inside_parts_do_not_split_them() -> None:
    """Only whole boundary lines split a body: longer lines and mid-line text do not."""
    raw = (
        b"From: a@example.org\nContent-Type: multipart/mixed; boundary=b\n\n"
        b"--b\n\n--bb\nx --b\n--b--x\n--b \t\nsecond\n--b--\nepilogue\n"
    )
    message = read_message(raw)
    assert [part.get_payload() for part in _subparts(message)] == [
        "--bb\nx --b\n--b--x",
        "second",
    ]
    assert message.epilogue == "epilogue\n"
    _assert_same_tree(raw)
