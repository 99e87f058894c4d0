"""Content hashes used as identities (reports, evidence blobs, tokens)."""

import hashlib


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex SHA-256 of *data*."""
    return hashlib.sha256(data).hexdigest()
