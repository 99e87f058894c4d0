"""Bounded unpacking of gzip, zip and base64 layers around a report, for every parser.

Reports come compressed (DMARC and TLS reports, CSV feeds), and every archive is
hostile. Nothing here inflates more than the caller's ``Limits`` allow:

- ``max_output``: bytes any one layer may inflate to, over all its members;
- ``max_ratio``: output per byte of compressed input, checked once the output passes
  ``ratio_floor`` (small files compress far better than large ones, legitimately);
- ``max_members``: entries in a zip archive, read from its end record before any member
  is opened;
- ``max_depth``: layers of compression around the document (a gzip inside a zip, a file
  gzipped twice are real; ten layers are not).

Decompression streams: it stops as soon as a bound is crossed, so a bomb costs about
``max_output`` bytes of memory (twice that for a moment), never its full size. Crossing a bound raises
``DecompressionLimit`` (reason ``decompression_limit``); a corrupt, truncated, encrypted
or empty archive raises ``BadArchive`` (reason ``bad_archive``).

The API::

    unpack(data, limits)          # peel every layer; return the document inside
    peek(data, size, limits)      # the document's first bytes, for sniffing: b"" when
                                  # unreadable, DecompressionLimit when a bomb
    Limits(...), LIMITS           # the bounds, and their defaults (25 MiB, 400:1, 50, 3)
    gunzip(data, limits)          # one gzip stream (all its members)
    unzip(data, limits, accept)   # the members of a zip archive whose names *accept* takes
    is_gzip(data), is_zip(data), is_compressed(data)
"""

import base64
import binascii
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from io import BytesIO

from abusedesk.parsing.errors import MalformedReport, ParseError

GZIP_MAGIC = b"\x1f\x8b"
# A local file header, or the end record that is all an empty archive holds.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_END_RECORD = b"PK\x05\x06"
_END_RECORD_SIZE = 22
_MAX_ZIP_COMMENT = 0xFFFF
# A central directory entry is 46 bytes plus its name, extra field and comment; real
# entries stay far below this, so a larger directory is refused before it is read.
_MAX_DIRECTORY_ENTRY = 4096
_ZIP_PEEK = 1024 * 1024
_READABLE_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# Base64 text: the alphabet, line breaks, padding; a report in base64 is at least a line.
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\r\n]{64,}")
_BASE64_SNIFF = 4096
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    RuntimeError,
    NotImplementedError,
    KeyError,
    IndexError,
    OverflowError,
    struct.error,
)


class DecompressionLimit(ParseError):
    """Raise when unpacking would cross a size, ratio, member-count or depth bound."""

    reason = "decompression_limit"


class BadArchive(MalformedReport):
    """Raise when an archive is corrupt, truncated, encrypted, empty or of an unread kind."""

    reason = "bad_archive"


@dataclass(frozen=True)
class Limits:
    """The bounds one unpacking must stay within (see the module docstring)."""

    max_output: int = 25 * 1024 * 1024
    max_ratio: int = 400
    ratio_floor: int = 1024 * 1024
    max_members: int = 50
    max_depth: int = 3

    def output_cap(self, compressed_size: int) -> int:
        """Return the most bytes that *compressed_size* input bytes may inflate to."""
        return min(self.max_output, max(self.ratio_floor, compressed_size * self.max_ratio))


LIMITS = Limits()


def is_gzip(data: bytes) -> bool:
    """Tell whether *data* starts like a gzip stream."""
    return data.startswith(GZIP_MAGIC)


def is_zip(data: bytes) -> bool:
    """Tell whether *data* starts like a zip archive."""
    return data.startswith(ZIP_MAGIC)


def is_compressed(data: bytes) -> bool:
    """Tell whether *data* starts like a gzip stream or a zip archive."""
    return is_gzip(data) or is_zip(data)


def unpack(
    data: bytes,
    limits: Limits = LIMITS,
    *,
    accept: Callable[[str], bool] | None = None,
) -> bytes:
    """Return the document inside *data*, peeling gzip, zip and base64 layers.

    Data that is none of these is returned as it is. From a zip archive the first member
    whose name *accept* takes is read (the first member when *accept* is None or takes
    none). Raise DecompressionLimit past ``max_depth`` layers or ``max_output`` bytes.
    """
    for _ in range(limits.max_depth + 1):
        if is_gzip(data):
            data = gunzip(data, limits)
        elif is_zip(data):
            data = _first_member(data, limits, accept)
        elif (decoded := _base64_layer(data)) is not None:
            data = decoded
        else:
            return data
    raise DecompressionLimit(
        f"more than {limits.max_depth} layers of compression around the document"
    )


def peek(
    data: bytes,
    size: int = 16 * 1024,
    limits: Limits = LIMITS,
    *,
    accept: Callable[[str], bool] | None = None,
) -> bytes:
    """Return the first *size* bytes of the document inside *data*, or b"" when unreadable.

    Only *size* bytes are inflated per layer, so sniffing stays cheap on any input; a zip
    layer is looked into as ``unpack`` would (*accept*). Raise DecompressionLimit when
    the layers or a zip's entries are past *limits*: a sniffing parser may claim such
    input, so that it is refused with that reason rather than as unknown.
    """
    small = replace(limits, max_output=size, ratio_floor=size)
    for _ in range(limits.max_depth + 1):
        try:
            if is_gzip(data):
                inflated = _inflate_gzip(data, size, partial=True)
                # A zip is read from its end: inside a gzip it is inflated whole, up to a
                # bound that keeps sniffing cheap.
                if is_zip(inflated) and len(inflated) == size:
                    inflated = _inflate_gzip(data, min(limits.max_output, _ZIP_PEEK), partial=True)
                data = inflated
            elif is_zip(data):
                data = _first_member(data, small, accept, partial=True)
            elif (decoded := _base64_layer(data[: size * 2], partial=True)) is not None:
                data = decoded
            else:
                return data[:size]
        except DecompressionLimit:
            raise
        except ParseError:
            return b""
    raise DecompressionLimit(
        f"more than {limits.max_depth} layers of compression around the document"
    )


def gunzip(data: bytes, limits: Limits = LIMITS) -> bytes:
    """Return the content of a gzip stream, every member of it, within *limits*.

    Bytes after the last member that do not start another member (padding, a line
    break some mailers add) are ignored.
    """
    return _inflate_gzip(data, limits.output_cap(len(data)), partial=False)


def unzip(
    data: bytes, limits: Limits = LIMITS, accept: Callable[[str], bool] | None = None
) -> list[tuple[str, bytes]]:
    """Return ``(name, content)`` of every file member whose name *accept* takes, in order.

    The total content is bounded by *limits*; directories are skipped.
    """
    found: list[tuple[str, bytes]] = []
    budget = limits.output_cap(len(data))
    try:
        with _open_zip(data, limits) as archive:
            for info in _file_members(archive):
                if accept is not None and not accept(info.filename):
                    continue
                content = _read_member(archive, info, budget, limits, partial=False)
                budget -= len(content)
                found.append((info.filename, content))
    except _ZIP_ERRORS as error:
        raise BadArchive(f"the zip archive is unreadable: {error}") from error
    return found


def _first_member(
    data: bytes,
    limits: Limits,
    accept: Callable[[str], bool] | None,
    *,
    partial: bool = False,
) -> bytes:
    """Return the content of the first member *accept* takes, else of the first member."""
    try:
        with _open_zip(data, limits) as archive:
            members = _file_members(archive)
            if not members:
                raise BadArchive("the zip archive holds no file")
            chosen = next(
                (info for info in members if accept is not None and accept(info.filename)),
                members[0],
            )
            cap = limits.output_cap(len(data))
            return _read_member(archive, chosen, cap, limits, partial=partial)
    except _ZIP_ERRORS as error:
        raise BadArchive(f"the zip archive is unreadable: {error}") from error


def _open_zip(data: bytes, limits: Limits) -> zipfile.ZipFile:
    """Open *data* as a zip archive once its end record shows it within *limits*."""
    entries, directory_size = _end_record(data)
    if entries > limits.max_members:
        raise DecompressionLimit(
            f"the zip archive has {entries:,} entries; the limit is {limits.max_members}"
        )
    if directory_size > limits.max_members * _MAX_DIRECTORY_ENTRY:
        raise DecompressionLimit(
            f"the zip directory is {directory_size:,} bytes, more than "
            f"{limits.max_members} entries can fill"
        )
    archive = zipfile.ZipFile(BytesIO(data))
    # The end record may understate the entries; the directory actually read decides.
    if len(archive.infolist()) > limits.max_members:
        count = len(archive.infolist())
        archive.close()
        raise DecompressionLimit(
            f"the zip archive has {count:,} entries; the limit is {limits.max_members}"
        )
    return archive


def _end_record(data: bytes) -> tuple[int, int]:
    """Return the entry count and directory size that a zip archive's end record states."""
    start = max(0, len(data) - _END_RECORD_SIZE - _MAX_ZIP_COMMENT)
    at = data.rfind(_END_RECORD, start)
    if at == -1 or len(data) - at < _END_RECORD_SIZE:
        raise BadArchive("the zip archive has no end record")
    entries, directory_size = struct.unpack("<HI", data[at + 10 : at + 16])
    # 0xFFFF entries means a ZIP64 archive: more entries than any report needs.
    return entries, directory_size


def _file_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    return [info for info in archive.infolist() if not info.is_dir()]


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: Limits, *, partial: bool
) -> bytes:
    """Read one member, stopping past its share of *budget* and of the ratio bound."""
    if info.flag_bits & 0x1:
        raise BadArchive(f"the zip member {info.filename[:80]!r} is encrypted")
    if info.compress_type not in _READABLE_METHODS:
        # bzip2 and LZMA members inflate without an output bound in the zip module.
        raise BadArchive(
            f"the zip member {info.filename[:80]!r} uses compression method "
            f"{info.compress_type}, which is not read"
        )
    cap = min(budget, limits.output_cap(info.compress_size))
    with archive.open(info) as member:
        content = member.read(cap + 1)
    if len(content) > cap:
        if partial:
            return content[:cap]
        raise _too_big(cap)
    return content


def _inflate_gzip(data: bytes, cap: int, *, partial: bool) -> bytes:
    """Inflate gzip members one after the other, never holding more than *cap* + 1 bytes.

    With *partial*, return what was inflated when the stream is cut short or too big
    (for sniffing) instead of raising.
    """
    output = bytearray()
    remaining = memoryview(data)
    try:
        while bytes(remaining[:2]) == GZIP_MAGIC:
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            # At most one byte past the cap is inflated: that byte proves the stream
            # goes on, and input left over stays unread.
            output += inflater.decompress(remaining, cap + 1 - len(output))
            if len(output) > cap:
                if partial:
                    return bytes(output[:cap])
                raise _too_big(cap)
            if not inflater.eof:
                if partial:
                    return bytes(output)
                raise BadArchive("the gzip stream is truncated")
            remaining = memoryview(inflater.unused_data)
    except zlib.error as error:
        if partial:
            return bytes(output)
        raise BadArchive(f"the gzip stream is corrupt: {error}") from error
    return bytes(output)


def _base64_layer(data: bytes, *, partial: bool = False) -> bytes | None:
    """Return *data* decoded when it is base64 text of an archive or a markup document.

    With *partial*, *data* is the start of a longer text: decode what whole groups it has.
    """
    sample = data[: _BASE64_SNIFF + 64].strip()[:_BASE64_SNIFF]
    if not _BASE64_TEXT.fullmatch(sample):
        return None
    head = _base64_bytes(sample, partial=True)
    if head is None or not (is_compressed(head) or head.lstrip().startswith((b"<", b"{"))):
        return None
    text = data.strip()
    if not _BASE64_TEXT.fullmatch(text):
        return None
    return _base64_bytes(text, partial=partial)


def _base64_bytes(text: bytes, *, partial: bool) -> bytes | None:
    compact = text.replace(b"\r", b"").replace(b"\n", b"")
    if partial:
        compact = compact[: len(compact) // 4 * 4]
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None


def _too_big(cap: int) -> DecompressionLimit:
    return DecompressionLimit(f"the archive inflates to more than {cap:,} bytes")
