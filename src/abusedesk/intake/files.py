"""Read reports from files: single messages, directories, mbox files and Maildir folders."""

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# mbox files are read in pieces of at most this size, so that a line without an end
# (a hostile or broken file) never has to fit in memory whole.
_CHUNK = 64 * 1024
_MBOX_SEPARATOR = b"From "


@dataclass(frozen=True)
class FileItem:
    """One report read from disk, or the reason it could not be read."""

    source: str
    raw: bytes | None
    error: str | None = None


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _looks_like_mbox(path: Path) -> bool:
    """Tell whether the file starts with an mbox ``From sender date`` line.

    A CSV whose first column is named ``From ...`` starts the same way; its header line
    has delimiters where an mbox line has none.
    """
    with path.open("rb") as handle:
        first_line = handle.read(1024).split(b"\n", 1)[0]
    return first_line.startswith(_MBOX_SEPARATOR) and not any(
        delimiter in first_line for delimiter in (b",", b";", b"\t", b"|")
    )


def _too_large(source: str, size: int, max_bytes: int) -> FileItem:
    return FileItem(source, None, f"too large: {size:,} bytes; the limit is {max_bytes:,} bytes")


def iter_reports(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    """Yield every report under *path*, in a stable order, with unreadable ones as errors.

    A report larger than *max_bytes* (a file, or one message of an mbox file or Maildir)
    is not read into memory; it comes back as an error so that a huge report can neither
    exhaust memory nor be skipped without a word.
    """
    if path.is_dir() and _is_maildir(path):
        yield from _iter_maildir(path, max_bytes=max_bytes)
    elif path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            # A Maildir inside a directory is read as a Maildir, not as loose files.
            for name in list(dirs):
                if _is_maildir(Path(root) / name):
                    dirs.remove(name)
                    yield from _iter_maildir(Path(root) / name, max_bytes=max_bytes)
            for name in sorted(files):
                yield from _iter_file(Path(root) / name, max_bytes=max_bytes)
    else:
        yield from _iter_file(path, max_bytes=max_bytes)


def _iter_file(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    source = str(path)
    try:
        if not path.is_file():
            kind = "a broken link" if path.is_symlink() else "not a regular file"
            yield FileItem(source, None, f"unreadable: {kind}")
            return
        # An mbox file may be far larger than one report; its messages are measured one
        # by one as it is read.
        if _looks_like_mbox(path):
            yield from _iter_mbox(path, max_bytes=max_bytes)
            return
        yield _read_bounded(source, path, max_bytes=max_bytes)
    except OSError as exc:
        yield FileItem(source, None, f"unreadable: {exc.strerror or exc}")


def _read_bounded(source: str, path: Path, *, max_bytes: int) -> FileItem:
    """Read one message file unless it is larger than *max_bytes*."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            return _too_large(source, size, max_bytes)
        # The file may grow between the size check and the read: read one byte beyond the
        # limit to notice, never more.
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        return _too_large(source, len(raw), max_bytes)
    return FileItem(source, raw)


class _MboxMessage:
    """One message of an mbox file, kept only while it stays within the size limit."""

    def __init__(self, source: str, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.size = 0
        self.pieces: list[bytes] | None = []

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.max_bytes:
            # Too large: count the rest, keep none of it.
            self.pieces = None
        elif self.pieces is not None:
            self.pieces.append(piece)

    def item(self) -> FileItem:
        if self.pieces is None:
            return _too_large(self.source, self.size, self.max_bytes)
        return FileItem(self.source, b"".join(self.pieces))


def _iter_mbox(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    """Split an mbox file into its messages while reading it once, in bounded pieces.

    The split is the one Python's ``mailbox.mbox`` makes (so that the same message always
    has the same bytes, and so the same content hash): a message starts after a line
    beginning with ``From `` and ends before the next such line, less one empty line that
    separates the two.
    """
    with path.open("rb") as handle:
        yield from _split_mbox(handle, str(path), max_bytes=max_bytes)


def _split_mbox(handle: BinaryIO, name: str, *, max_bytes: int) -> Iterator[FileItem]:
    message: _MboxMessage | None = None
    at_line_start = True
    in_from_line = False
    # An empty line is held back: it belongs to the message unless a "From " line follows.
    held_empty_line = False
    count = 0
    while piece := handle.readline(_CHUNK):
        starts_line = at_line_start
        at_line_start = piece.endswith(b"\n")
        if starts_line and piece.startswith(_MBOX_SEPARATOR):
            if message is not None:
                yield message.item()
            count += 1
            message = _MboxMessage(f"{name}#{count}", max_bytes)
            held_empty_line = False
            in_from_line = not at_line_start
            continue
        if in_from_line:
            # The rest of an overlong "From " line is not part of the message either.
            in_from_line = not at_line_start
            continue
        if message is None:
            # Text before the first "From " line belongs to no message.
            continue
        if held_empty_line:
            message.add(b"\n")
            held_empty_line = False
        if starts_line and piece == b"\n":
            held_empty_line = True
        else:
            message.add(piece)
    if message is not None:
        yield message.item()


def _iter_maildir(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    """Yield the messages of a Maildir in the order of their keys, each size-checked first."""
    for key, file in sorted(_maildir_messages(path).items()):
        source = f"{path}/{key}"
        try:
            if not file.is_file():
                kind = "a broken link" if file.is_symlink() else "not a regular file"
                yield FileItem(source, None, f"unreadable: {kind}")
                continue
            yield _read_bounded(source, file, max_bytes=max_bytes)
        except OSError as exc:
            yield FileItem(source, None, f"unreadable: {exc.strerror or exc}")


def _maildir_messages(path: Path) -> dict[str, Path]:
    """Map each message key of a Maildir to its file, as ``mailbox.Maildir`` does.

    A key is the file name up to the flags after the colon; when a message is in both
    ``new`` and ``cur`` (moved while we looked), the one in ``cur`` wins.
    """
    messages: dict[str, Path] = {}
    for sub in ("new", "cur"):
        for entry in sorted(os.scandir(path / sub), key=lambda e: e.name):
            # Maildir readers leave names starting with a dot alone.
            if entry.name.startswith(".") or entry.is_dir():
                continue
            messages[entry.name.split(":", 1)[0]] = Path(entry.path)
    return messages
