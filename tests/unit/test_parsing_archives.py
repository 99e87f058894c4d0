"""Bounded unpacking: archives open as they should, and bombs stop early in bounded memory."""

import base64
import functools
import gzip
import io
import random
import struct
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable

import pytest

from abusedesk.parsing import archives
from abusedesk.parsing.archives import BadArchive, DecompressionLimit, Limits
from abusedesk.parsing.errors import ParseError

MB = 1024 * 1024
TEXT = b"<feedback>" + b"a report line\n" * 200 + b"</feedback>"


@functools.cache
def gzip_bomb(size: int) -> bytes:
    """Return a gzip stream of *size* zero bytes, built without holding them."""
    deflater = zlib.compressobj(9, wbits=31)
    block = bytes(MB)
    chunks = [deflater.compress(block) for _ in range(size // MB)]
    return b"".join(chunks) + deflater.flush()


@functools.cache
def zip_bomb(size: int) -> bytes:
    """Return a zip whose one deflated member is *size* zero bytes, written as a stream."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("r.xml", "w", force_zip64=True) as member,
    ):
        for _ in range(size // MB):
            member.write(bytes(MB))
    return buffer.getvalue()


def zip_of(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """Return a zip archive holding *members*."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def peak_memory(action: Callable[[], object]) -> tuple[object, int]:
    """Run *action*; return what it returned or raised, and the peak bytes Python allocated."""
    tracemalloc.start()
    try:
        try:
            result: object = action()
        except ParseError as error:
            result = error
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# --- reading --------------------------------------------------------------------------------


def test_gunzip_returns_the_content() -> None:
    """A gzip stream inflates to what was compressed."""
    assert archives.gunzip(gzip.compress(TEXT)) == TEXT


def test_gunzip_reads_every_member_and_ignores_trailing_bytes() -> None:
    """Concatenated gzip members are one stream; a trailing line break is ignored."""
    data = gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:]) + b"\r\n"
    assert archives.gunzip(data) == TEXT


def test_unzip_returns_the_members_accepted() -> None:
    """unzip returns name and content of each member whose name is accepted, in order."""
    data = zip_of({"a.csv": b"1,2", "notes.txt": b"x", "b.csv": b"3,4"})
    assert archives.unzip(data, accept=lambda name: name.endswith(".csv")) == [
        ("a.csv", b"1,2"),
        ("b.csv", b"3,4"),
    ]


def test_unzip_skips_directories() -> None:
    """Directory entries are not members with content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("folder/", b"")
        archive.writestr("folder/report.xml", TEXT)
    assert archives.unzip(buffer.getvalue()) == [("folder/report.xml", TEXT)]


@pytest.mark.parametrize(
    "packed",
    [
        pytest.param(TEXT, id="plain"),
        pytest.param(gzip.compress(TEXT), id="gzip"),
        pytest.param(gzip.compress(gzip.compress(TEXT)), id="double-gzip"),
        pytest.param(zip_of({"r.xml": gzip.compress(TEXT)}), id="gzip-in-zip"),
        pytest.param(gzip.compress(zip_of({"r.xml": TEXT})), id="zip-in-gzip"),
        pytest.param(base64.encodebytes(gzip.compress(TEXT)), id="base64-gzip"),
        pytest.param(base64.encodebytes(TEXT), id="base64-markup"),
    ],
)
def test_unpack_peels_every_layer(packed: bytes) -> None:
    """unpack returns the document inside gzip, zip and base64 layers, in any order."""
    assert archives.unpack(packed) == TEXT


def test_unpack_reads_the_member_accepted() -> None:
    """From a zip, unpack reads the first member *accept* takes, not the first member."""
    data = zip_of({"README": b"read me", "r.xml": TEXT})
    assert archives.unpack(data, accept=lambda name: name.endswith(".xml")) == TEXT


def test_base64_of_plain_words_is_left_alone() -> None:
    """Base64 text that decodes to neither an archive nor markup is not a layer."""
    data = base64.encodebytes(b"plain words and nothing more " * 5)
    assert archives.unpack(data) == data


def test_peek_returns_the_start_of_the_document() -> None:
    """peek returns the first bytes of the document inside the layers."""
    assert archives.peek(gzip.compress(zip_of({"r.xml": TEXT})))[:10] == TEXT[:10]


def test_peek_sees_through_a_large_zip_inside_a_gzip() -> None:
    """A zip is read from its end: inside a gzip, peek inflates it whole (within a bound)."""
    noise = bytes(random.Random(1).randrange(256) for _ in range(100_000))
    data = gzip.compress(zip_of({"noise.bin": noise, "r.xml": TEXT}))
    assert archives.peek(data, 64, accept=lambda name: name.endswith(".xml")) == TEXT[:64]


def test_peek_returns_nothing_for_a_broken_archive() -> None:
    """A corrupt gzip gives an empty head, not an error."""
    assert archives.peek(b"\x1f\x8b\x08\x00garbage") == b""


# --- broken archives ------------------------------------------------------------------------


def encrypted_zip() -> bytes:
    """Return a zip whose one member is marked encrypted (flag bit 0), in both headers."""
    data = bytearray(zip_of({"r.xml": TEXT}, zipfile.ZIP_STORED))
    data[6] |= 0x1
    directory = data.rfind(b"PK\x01\x02")
    data[directory + 8] |= 0x1
    return bytes(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"\x1f\x8b\x08\x00garbage", id="corrupt-gzip"),
        pytest.param(gzip.compress(TEXT)[:40], id="truncated-gzip"),
        pytest.param(zip_of({}), id="empty-zip"),
        pytest.param(zip_of({"r.xml": TEXT}, zipfile.ZIP_BZIP2), id="bzip2-member"),
        pytest.param(zip_of({"r.xml": TEXT}, zipfile.ZIP_LZMA), id="lzma-member"),
        pytest.param(encrypted_zip(), id="encrypted-member"),
        pytest.param(zip_of({"r.xml": TEXT})[:-30], id="truncated-zip"),
    ],
)
def test_broken_archive_is_refused_as_bad_archive(data: bytes) -> None:
    """Corrupt, truncated, empty, encrypted or unread archives raise bad_archive."""
    with pytest.raises(BadArchive) as caught:
        archives.unpack(data)
    assert caught.value.reason == "bad_archive"


# --- bombs ----------------------------------------------------------------------------------


def test_gzip_bomb_stops_at_the_output_limit_in_bounded_memory() -> None:
    """A gzip of 128 MiB of zeros raises decompression_limit holding at most ~2x the limit."""
    bomb = gzip_bomb(128 * MB)
    limits = Limits(max_output=8 * MB, max_ratio=10_000)
    result, peak = peak_memory(lambda: archives.gunzip(bomb, limits))
    assert (getattr(result, "reason", None), peak < 3 * 8 * MB) == ("decompression_limit", True)


def test_gzip_ratio_limit_trips_below_the_output_limit() -> None:
    """5 MiB inflated from a few kilobytes is past the ratio, though under max_output."""
    bomb = gzip_bomb(5 * MB)
    with pytest.raises(DecompressionLimit):
        archives.gunzip(bomb, Limits(max_output=25 * MB, max_ratio=100, ratio_floor=MB))


def test_ratio_is_not_checked_below_its_floor() -> None:
    """Small documents may compress very well: under ratio_floor only max_output counts."""
    data = gzip.compress(bytes(500_000))
    assert len(archives.gunzip(data, Limits(max_ratio=2, ratio_floor=MB))) == 500_000


def test_zip_with_many_members_is_refused_before_reading_them() -> None:
    """A zip with more entries than max_members raises decompression_limit."""
    data = zip_of({f"r{n}.xml": b"x" for n in range(60)})
    with pytest.raises(DecompressionLimit) as caught:
        archives.unzip(data, Limits(max_members=50))
    assert "60 entries" in str(caught.value)


def test_zip_whose_end_record_claims_zip64_counts_is_refused() -> None:
    """An end record claiming 0xFFFF entries (a ZIP64 archive) raises decompression_limit."""
    data = bytearray(zip_of({"r.xml": TEXT}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 0xFFFF, 0xFFFF)
    with pytest.raises(DecompressionLimit):
        archives.unpack(bytes(data))


def test_zip_whose_directory_is_too_large_for_its_entries_is_refused() -> None:
    """An end record stating a central directory larger than max_members could fill is refused."""
    data = bytearray(zip_of({"r.xml": TEXT}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 12 : end + 16] = struct.pack("<I", 10 * MB)
    with pytest.raises(DecompressionLimit):
        archives.unpack(bytes(data))


def test_zip_whose_end_record_understates_its_entries_is_refused() -> None:
    """The entries actually in the directory count, not the number the end record states."""
    data = bytearray(zip_of({f"r{n}.xml": b"x" for n in range(60)}))
    end = data.rfind(b"PK\x05\x06")
    data[end + 8 : end + 12] = struct.pack("<HH", 1, 1)
    with pytest.raises(DecompressionLimit):
        archives.unpack(bytes(data), Limits(max_members=50))


def test_zip_member_with_a_high_ratio_stops_in_bounded_memory() -> None:
    """A deflated member of 128 MiB of zeros raises decompression_limit early."""
    data = zip_bomb(128 * MB)
    limits = Limits(max_output=8 * MB, max_ratio=10_000)
    result, peak = peak_memory(lambda: archives.unpack(data, limits))
    assert (getattr(result, "reason", None), peak < 3 * 8 * MB) == (
        "decompression_limit",
        True,
    )


def test_zip_members_share_one_output_budget() -> None:
    """Several members each under the limit but together over it raise decompression_limit."""
    data = zip_of({f"r{n}.csv": bytes(MB) for n in range(5)})
    with pytest.raises(DecompressionLimit):
        archives.unzip(data, Limits(max_output=3 * MB, max_ratio=10_000))


@pytest.mark.parametrize(("layers", "allowed"), [(3, True), (4, False)])
def test_nested_gzip_is_read_up_to_max_depth(layers: int, allowed: bool) -> None:
    """Three layers of gzip are read; a fourth raises decompression_limit."""
    data = TEXT
    for _ in range(layers):
        data = gzip.compress(data)
    try:
        outcome = archives.unpack(data, Limits(max_depth=3)) == TEXT
    except DecompressionLimit:
        outcome = False
    assert outcome == allowed


def test_peek_of_a_bomb_inflates_only_what_it_returns() -> None:
    """Peeking into a 128 MiB gzip bomb returns its first bytes in little memory."""
    bomb = gzip_bomb(128 * MB)
    result, peak = peak_memory(lambda: archives.peek(bomb, 16 * 1024))
    assert (result, peak < 2 * MB) == (bytes(16 * 1024), True)


def test_peek_reports_a_nesting_bomb() -> None:
    """peek raises decompression_limit when the layers go deeper than allowed."""
    data = TEXT
    for _ in range(6):
        data = gzip.compress(data)
    with pytest.raises(DecompressionLimit):
        archives.peek(data)


def test_output_cap_follows_input_size_above_the_floor() -> None:
    """The output cap is the ratio times the input, between the floor and max_output."""
    limits = Limits(max_output=10 * MB, max_ratio=100, ratio_floor=MB)
    assert [limits.output_cap(n) for n in (1_000, 50_000, 1 * MB)] == [MB, 5_000_000, 10 * MB]
