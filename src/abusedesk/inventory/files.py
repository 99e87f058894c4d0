"""Read inventory rows from CSV or JSON Lines files, plain or gzipped.

Rows come out one at a time with their line number, so that a file of any size is read
in constant memory. A CSV file starts with a header naming its columns; its line numbers
count the header as line 1. A JSON Lines file holds one JSON object per line; blank
lines are skipped, and a line that is not an object is a row error, not the end.
"""

import contextlib
import csv
import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, TextIO

from abusedesk.inventory.errors import InventoryFileUnreadable
from abusedesk.inventory.model import RowError

FileFormat = Literal["csv", "jsonl"]
FORMATS: tuple[FileFormat, ...] = ("csv", "jsonl")
_GZIP_MAGIC = b"\x1f\x8b"
_EXTENSIONS: dict[str, FileFormat] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
# Cells longer than this are refused rather than held: no inventory field comes close.
_CSV_FIELD_LIMIT = 1024 * 1024

Row = tuple[int, dict[str, Any] | RowError]


def format_of(path: Path) -> FileFormat | None:
    """Return the format a file's name suggests (``.csv``, ``.jsonl``, with or without ``.gz``)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return _EXTENSIONS.get(suffixes[-1]) if suffixes else None


def read_rows(path: Path, file_format: FileFormat) -> Iterator[Row]:
    """Yield ``(line, row)`` for every row of the file, or ``(line, RowError)`` for a bad line.

    Raises InventoryFileUnreadable when the file cannot be opened, decompressed or
    decoded as UTF-8; rows already yielded stay good.
    """
    try:
        with contextlib.ExitStack() as stack:
            text = _open_text(path, stack)
            if file_format == "csv":
                yield from _csv_rows(text)
            else:
                yield from _jsonl_rows(text)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as exc:
        raise InventoryFileUnreadable(f"{path}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start} of a read block)"
    if isinstance(exc, EOFError):
        return "the compressed file ends too early"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    return str(exc) or type(exc).__name__


def _open_text(path: Path, stack: contextlib.ExitStack) -> TextIO:
    with path.open("rb") as probe:
        magic = probe.read(len(_GZIP_MAGIC))
    # utf-8-sig: spreadsheet programs start CSV files with a byte-order mark. Gzip is
    # told by its magic bytes, whatever the file is called.
    if magic == _GZIP_MAGIC:
        return stack.enter_context(gzip.open(path, "rt", encoding="utf-8-sig", newline=""))
    return stack.enter_context(path.open("r", encoding="utf-8-sig", newline=""))


def _csv_rows(text: TextIO) -> Iterator[Row]:
    csv.field_size_limit(_CSV_FIELD_LIMIT)
    reader = csv.reader(text)
    header: list[str] | None = None
    for values in reader:
        if header is None:
            header = [name.strip() for name in values]
            continue
        if not any(v.strip() for v in values):
            continue
        line = reader.line_num
        if len(values) > len(header):
            yield line, RowError(line, "", "the row has more values than the header has columns")
            continue
        yield line, dict(zip(header, values, strict=False))


def _jsonl_rows(text: TextIO) -> Iterator[Row]:
    for line, content in enumerate(text, start=1):
        if not content.strip():
            continue
        try:
            row = json.loads(content)
        except (ValueError, RecursionError):
            yield line, RowError(line, "", "not valid JSON")
            continue
        if not isinstance(row, dict):
            yield line, RowError(line, "", "each line must be one JSON object")
            continue
        yield line, row
