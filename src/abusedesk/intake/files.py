"""Read reports from files: single messages, directories, mbox files and Maildir folders."""

import mailbox
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FileItem:
    """One report read from disk, or the reason it could not be read."""

    source: str
    raw: bytes | None
    error: str | None = None


def _is_maildir(path: Path) -> bool:
    return all((path / sub).is_dir() for sub in ("cur", "new", "tmp"))


def _looks_like_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def iter_reports(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    """Yield every report under *path*, in a stable order, with unreadable ones as errors.

    Files larger than *max_bytes* are not read at all; they come back as errors so that
    a huge file can neither exhaust memory nor be skipped without a word.
    """
    if path.is_dir() and _is_maildir(path):
        yield from _iter_maildir(path)
    elif path.is_dir():
        for root, dirs, files in os.walk(path):
            dirs.sort()
            # A Maildir inside a directory is read as a Maildir, not as loose files.
            for name in list(dirs):
                if _is_maildir(Path(root) / name):
                    dirs.remove(name)
                    yield from _iter_maildir(Path(root) / name)
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
        size = path.stat().st_size
        if size > max_bytes and not _looks_like_mbox(path):
            yield FileItem(
                source, None, f"too large: {size:,} bytes; the limit is {max_bytes:,} bytes"
            )
            return
        if _looks_like_mbox(path):
            yield from _iter_mbox(path, max_bytes=max_bytes)
            return
        yield FileItem(source, path.read_bytes())
    except OSError as exc:
        yield FileItem(source, None, f"unreadable: {exc.strerror or exc}")


def _iter_mbox(path: Path, *, max_bytes: int) -> Iterator[FileItem]:
    box = mailbox.mbox(path, create=False)
    try:
        for index, key in enumerate(box.iterkeys()):
            source = f"{path}#{index + 1}"
            raw = box.get_bytes(key, from_=False)
            if len(raw) > max_bytes:
                yield FileItem(
                    source, None, f"too large: {len(raw):,} bytes; the limit is {max_bytes:,} bytes"
                )
            else:
                yield FileItem(source, raw)
    finally:
        box.close()


def _iter_maildir(path: Path) -> Iterator[FileItem]:
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.iterkeys()):
        source = f"{path}/{key}"
        try:
            yield FileItem(source, box.get_bytes(key))
        except OSError as exc:
            yield FileItem(source, None, f"unreadable: {exc.strerror or exc}")
