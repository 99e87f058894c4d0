"""The raw document shared by the parsers."""

import pytest

from abusedesk.parsing.document import RawDocument
from abusedesk.parsing.errors import MalformedReport, ParseError


def test_message_nested_too_deeply_is_refused_with_its_reason() -> None:
    """A MIME structure deep enough to exhaust the stack raises mime_too_deep."""
    nested = "".join(
        f'--b{n}\nContent-Type: multipart/mixed; boundary="b{n + 1}"\n\n' for n in range(5000)
    )
    raw = f'From: a@example.org\nContent-Type: multipart/mixed; boundary="b0"\n\n{nested}'.encode()
    with pytest.raises(ParseError) as caught:
        _ = RawDocument(raw).message
    assert caught.value.reason == "mime_too_deep"


def test_millions_of_header_lines_are_refused_before_parsing() -> None:
    """A report with more header lines than any real one is malformed, said cheaply."""
    raw = b"From: a@example.com\n" + b"X-Filler: y\n" * 30_000 + b"\nbody\n"
    with pytest.raises(MalformedReport, match="header lines") as caught:
        _ = RawDocument(raw).message
    assert caught.value.reason == "too_complex"


def test_thousands_of_mime_parts_are_refused_before_parsing() -> None:
    """A multipart report with more boundaries than any real one is malformed."""
    parts = b"--b\nContent-Type: text/plain\n\nx\n" * 6_000
    raw = (
        b'From: a@example.com\nContent-Type: multipart/mixed; boundary="b"\n\n' + parts + b"--b--\n"
    )
    with pytest.raises(MalformedReport, match="boundary lines") as caught:
        _ = RawDocument(raw).message
    assert caught.value.reason == "too_complex"


def test_a_long_body_with_few_headers_still_parses() -> None:
    """Many body lines are no reason to refuse: only headers and boundaries are bounded."""
    raw = b"From: a@example.com\nSubject: long\n\n" + b"line of text\n" * 100_000
    message = RawDocument(raw).message
    assert message is not None
    assert message["Subject"] == "long"


def test_one_line_json_is_not_taken_for_a_message() -> None:
    """A JSON object on one line has no header view, however large it is."""
    document = RawDocument(b'{"xarf_version": "4.2.0", "evidence": "' + b"a" * 2_000_000 + b'"}')
    assert document.message is None
