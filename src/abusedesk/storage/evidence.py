"""Raw evidence kept outside the database: an interface and its filesystem implementation."""

import os
import tempfile
from pathlib import Path
from typing import Protocol

from abusedesk.core.errors import NotFound
from abusedesk.core.hashing import sha256_hex


class EvidenceStore(Protocol):
    """Content-addressed storage for raw report bytes."""

    def put(self, data: bytes) -> str:
        """Store *data* durably and return its key (the same bytes give the same key)."""

    def get(self, key: str) -> bytes:
        """Return the bytes stored under *key*, or raise NotFound."""


class FilesystemEvidenceStore:
    """Keep each blob as ``<root>/<aa>/<bb>/<sha256>``, written atomically and fsynced."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise NotFound(f"not an evidence key: {key[:80]!r}")
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: bytes) -> str:
        """Write *data* unless the same content is already stored; return its SHA-256."""
        key = sha256_hex(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # The rename is durable only once the directory entry is on disk too.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return key

    def get(self, key: str) -> bytes:
        """Read the blob stored under *key*."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"no evidence blob {key}") from exc

    def delete(self, key: str) -> None:
        """Remove the blob stored under *key*; one already gone is no error (retention)."""
        self._path(key).unlink(missing_ok=True)
