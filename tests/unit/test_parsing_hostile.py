"""Crafted reports aimed at the parsers: each gives a report or a ParseError with its
reason, within bounded memory.

Shapes from the parsing issue: MIME nested 100 deep, a 10 MB header block, parameter
fields stuffed with ``;`` (CPython gh-87075, quadratic even with compat32), broken
charsets and encodings, NUL bytes, a 50 MB attachment. Archive and XML bombs are tested
with the formats that open archives and XML (DMARC, feeds).
"""

import base64
import tracemalloc
from collections.abc import Callable

import pytest

from abusedesk.parsing.errors import ParseError
from abusedesk.parsing.model import ParsedReport
from abusedesk.parsing.registry import default_registry

REGISTRY = default_registry()
MB = 1024 * 1024


def outcome(raw: bytes) -> ParsedReport | ParseError:
    """Return what the registry makes of *raw*: a report, or the ParseError it raised."""
    try:
        return REGISTRY.parse(raw)
    except ParseError as error:
        return error


def peak_memory(action: Callable[[], object]) -> int:
    """Return the peak bytes Python allocated while running *action*."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def nested_multipart(depth: int) -> bytes:
    """Return a message whose multiparts nest *depth* levels deep, with text at the bottom."""
    lines = [b"From: someone@example.net", b"Subject: nested", b"MIME-Version: 1.0"]
    for level in range(depth):
        lines += [f'Content-Type: multipart/mixed; boundary="b{level}"'.encode(), b""]
        lines += [f"--b{level}".encode()]
    lines += [b"Content-Type: text/plain", b"", b"http://spam.example.com/x"]
    for level in reversed(range(depth)):
        lines += [f"--b{level}--".encode()]
    return b"\n".join(lines) + b"\n"


def test_mime_nested_100_deep_gives_a_report_or_its_reason() -> None:
    """A hundred nested multiparts parse or are refused; nothing escapes."""
    result = outcome(nested_multipart(100))
    assert isinstance(result, ParsedReport) or result.reason == "mime_too_deep"


def test_a_10_mb_header_block_is_refused_before_parsing() -> None:
    """Ten megabytes of headers end as too_complex, without parsing them."""
    raw = b"From: a@example.net\nX-Filler: " + b"a, " * (10 * MB // 3) + b"\n\nbody\n"
    result = outcome(raw)
    assert isinstance(result, ParseError)
    assert result.reason == "too_complex"


@pytest.mark.parametrize(
    "field",
    [
        b"Content-Type: multipart/report; report-type=feedback-report;"
        + b";" * 200_000
        + b' boundary="x"',
        b'Content-Type: text/plain; name="' + b";" * 200_000,
        b"Content-Disposition: attachment;" + b" a=b;" * 50_000,
    ],
    ids=["multipart", "quoted", "disposition"],
)
def test_parameter_fields_stuffed_with_separators_are_refused(field: bytes) -> None:
    """Fields that make the email package's parameter split quadratic are refused first."""
    raw = (
        b"From: a@example.net\nSubject: s\nMIME-Version: 1.0\n" + field + b"\n\n--x\n\nhi\n--x--\n"
    )
    result = outcome(raw)
    assert isinstance(result, ParseError)
    assert result.reason == "too_complex"


def test_stuffed_parameter_fields_inside_a_part_are_refused() -> None:
    """The same crafted field in a nested part's headers is caught too."""
    raw = (
        b'From: a@example.net\nSubject: s\nContent-Type: multipart/mixed; boundary="o"\n\n'
        b"--o\nContent-Type: text/plain; charset=" + b";" * 100_000 + b"\n\nhi\n--o--\n"
    )
    result = outcome(raw)
    assert isinstance(result, ParseError)
    assert result.reason == "too_complex"


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@example.net\nSubject: =?x-no-such-charset?q?hello?=\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\n\nhttp://spam.example.com/\n",
        b"From: =?utf-8?b?////?= <a@example.net>\nSubject: \xff\xfe\xc3\x28\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        b"!!!not base64!!!\n",
        b"From: a@example.net\nSubject: q\nContent-Type: text/plain; charset=utf-16\n"
        b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=0=\xff\n",
        b"From: a@example.net\nSubject: =?utf-8?q?=E2=82?= =?iso-2022-jp?b?GyRC?=\n\nhi\n",
    ],
    ids=["unknown-charset", "bad-base64", "bad-qp", "truncated-encoded-words"],
)
def test_broken_charsets_and_encodings_give_a_report_or_its_reason(raw: bytes) -> None:
    """Unknown charsets, undecodable bytes and broken transfer encodings never escape."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)


def test_nul_bytes_everywhere_give_a_report_or_its_reason() -> None:
    """NUL bytes in header names, values and bodies never escape the parsers."""
    raw = (
        b"From: a\x00@example.net\nSub\x00ject: \x00\nMessage-ID: <\x00@x>\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="\x00"\n\n'
        b"--\x00\nContent-Type: message/feedback-report\n\nFeedback-Type: ab\x00use\n--\x00--\n"
    )
    result = outcome(raw)
    assert isinstance(result, ParsedReport | ParseError)


def test_a_50_mb_attachment_parses_within_bounded_memory() -> None:
    """A complaint carrying a 50 MB attachment is read without blowing up memory.

    The stdlib holds the raw bytes, their decoded text and the part's payload: a small
    multiple of the input, never growing with anything but the input.
    """
    payload = base64.encodebytes(b"\x00\x01binary" * (50 * MB // 8))
    raw = (
        b'From: victim@example.net\nSubject: spam\nContent-Type: multipart/mixed; boundary="o"\n'
        b"\n--o\nContent-Type: text/plain\n\nSee http://spam.example.com/offer\n"
        b"--o\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
        + payload
        + b"\n--o--\n"
    )
    results: list[ParsedReport | ParseError] = []
    peak = peak_memory(lambda: results.append(outcome(raw)))
    assert isinstance(results[0], ParsedReport | ParseError)
    assert peak < 8 * len(raw), f"peak {peak / MB:.0f} MB for a {len(raw) / MB:.0f} MB report"


@pytest.mark.parametrize(
    "raw",
    [
        b"From: " + b"(" * 100_000 + b"\nSubject: x\n\nx",
        b"From: " + b"a@" * 200_000 + b"a\nSubject: x\n\nx",
        b"From: a@b\nContent-Type: text/plain; charset=undefined\n\n\xc3\xa5\n",
        b"From: mailer-daemon@example.net\nSubject: Undelivered Mail\n"
        b"Content-Type: text/plain; charset=idna\n\n\xc3\xa5 user unknown\n",
    ],
    ids=["nested-comments", "address-run", "undefined-charset", "idna-bounce"],
)
def test_crafted_addresses_and_charsets_give_a_report_or_its_reason(raw: bytes) -> None:
    """Addresses nested past the stack and charsets that cannot decode never escape."""
    assert isinstance(outcome(raw), ParsedReport | ParseError)
