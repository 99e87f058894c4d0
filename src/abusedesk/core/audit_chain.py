"""The audit log's hash chains: canonical encoding, hashes, partitions and verification.

Audit rows are kept in independent chains, one per *partition*. A row's partition
follows from its subject, so one subject's whole history lies in one chain. Each row
carries its sequence number in the chain, the previous row's hash and its own hash,
a SHA-256 over a canonical encoding of every column. *Anchors* record every chain's
head at a moment and are chained themselves; they make removal of a chain's newest
rows detectable. ``docs/audit.md`` states the format for outside verifiers.

This module is plain Python: the storage layer streams rows into ``ChainVerifier``.
"""

import hashlib
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from abusedesk.core.errors import AbuseDeskError

# The version of the encoding, hashed into every row and anchor.
FORMAT_VERSION: Final = 1
# The previous hash of the first row of every chain, and of the first anchor.
GENESIS: Final = "0" * 64
DEFAULT_PARTITIONS: Final = 16
# Partitions are numbered 0 .. count - 1; the upper bound keeps lock keys small.
MAX_PARTITIONS: Final = 1 << 16


class AuditValueInvalid(AbuseDeskError, ValueError):
    """Raise when an audit value cannot be encoded canonically (NaN, infinity, non-JSON)."""


@dataclass(frozen=True)
class AuditRow:
    """One audit row exactly as stored: content, place in its chain and hashes."""

    id: int
    partition: int
    seq: int
    occurred_at: datetime
    actor: str
    tag: str
    subject_type: str
    subject_id: str
    before: Any
    after: Any
    reason: str | None
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AnchorHead:
    """One chain's head as an anchor recorded it."""

    partition: int
    seq: int
    hash: str


@dataclass(frozen=True)
class Anchor:
    """Every chain's head at a moment, chained to the previous anchor."""

    seq: int
    created_at: datetime
    heads: tuple[AnchorHead, ...]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Problem:
    """One thing verification found wrong, with where it is."""

    kind: str
    detail: str
    partition: int | None = None
    seq: int | None = None
    row_id: int | None = None
    anchor: int | None = None

    def describe(self) -> str:
        """Return the problem as one line: kind, location, what is wrong."""
        where = []
        if self.partition is not None:
            where.append(f"partition {self.partition}")
        if self.seq is not None:
            where.append(f"seq {self.seq}")
        if self.row_id is not None:
            where.append(f"row {self.row_id}")
        if self.anchor is not None:
            where.append(f"anchor {self.anchor}")
        return f"{self.kind}: {', '.join(where) or '-'}: {self.detail}"


# The kinds of problem, as verification names them.
EDITED: Final = "edited"
REMOVED: Final = "removed"
OUT_OF_CHAIN: Final = "inserted out of chain"
TRUNCATED: Final = "truncated after anchor"
REWRITTEN: Final = "rewritten after anchor"
ANCHOR_EDITED: Final = "anchor edited"
ANCHOR_REMOVED: Final = "anchor removed"
ANCHOR_OUT_OF_CHAIN: Final = "anchor out of chain"
ANCHOR_UNKNOWN: Final = "anchor differs from export"


def format_time(value: datetime) -> str:
    """Return *value* in the chain's fixed format: UTC, microseconds, ``Z``."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    elif value.utcoffset():
        value = value.astimezone(UTC)
    # isoformat is several times faster than strftime, on verify's hot path.
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON of *value*: sorted keys, no spaces, no NaN."""
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        # Lone surrogates cannot be UTF-8: the encoding fails like a bad value.
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise AuditValueInvalid(f"audit value is not canonical JSON: {exc}") from exc


def normalise_json(value: Any) -> Any:
    """Return *value* as it reads back from a JSON column (tuples become lists, keys text).

    Hashing the read-back form keeps a row's hash the same before and after storage.
    """
    if value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        raise AuditValueInvalid("audit value is not canonical JSON: NaN or infinity")
    return json.loads(canonical_json(value))


def partition_of(subject_type: str, subject_id: str, partitions: int) -> int:
    """Return the partition of a subject: SHA-256 of ``type:id``, first 8 bytes, modulo."""
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise AuditValueInvalid(f"partition count must be 1..{MAX_PARTITIONS}, not {partitions}")
    digest = hashlib.sha256(f"{subject_type}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % partitions


def row_hash(row: AuditRow) -> str:
    """Return the hash *row* should carry: SHA-256 over every column but the hash itself."""
    document = {
        "v": FORMAT_VERSION,
        "id": row.id,
        "partition": row.partition,
        "seq": row.seq,
        "occurred_at": format_time(row.occurred_at),
        "actor": row.actor,
        "tag": row.tag,
        "subject_type": row.subject_type,
        "subject_id": row.subject_id,
        "before": row.before,
        "after": row.after,
        "reason": row.reason,
        "prev_hash": row.prev_hash,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


def anchor_hash(
    *, seq: int, created_at: datetime, heads: Iterable[AnchorHead], prev_hash: str
) -> str:
    """Return the SHA-256 hex of the canonical encoding of one anchor."""
    document = {
        "v": FORMAT_VERSION,
        "seq": seq,
        "created_at": format_time(created_at),
        "heads": [[h.partition, h.seq, h.hash] for h in sorted(heads, key=lambda h: h.partition)],
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document)).hexdigest()


@dataclass
class _ChainState:
    partition: int
    seq: int = 0
    hash: str = GENESIS
    row_id: int | None = None


@dataclass
class VerifyReport:
    """What one verification saw and found."""

    rows: int = 0
    partitions: int = 0
    anchors: int = 0
    latest_anchor: Anchor | None = None
    problems: list[Problem] = field(default_factory=list)
    # Problems beyond ``max_problems`` are counted, not kept: memory stays bounded.
    problems_not_kept: int = 0
    max_problems: int = 10_000

    @property
    def intact(self) -> bool:
        """Tell whether nothing was found wrong."""
        return not self.problems and not self.problems_not_kept

    @property
    def problem_count(self) -> int:
        """Return how many problems were found, kept or not."""
        return len(self.problems) + self.problems_not_kept

    def add(self, problem: Problem) -> None:
        """Keep *problem*, or count it once ``max_problems`` are kept."""
        if len(self.problems) < self.max_problems:
            self.problems.append(problem)
        else:
            self.problems_not_kept += 1


class ChainVerifier:
    """Check streamed rows, anchors and anchor claims; memory stays constant per chain.

    Feed rows ordered by (partition, seq) to ``rows``, anchors ordered by seq to
    ``anchors``, then the claims anchors make that the rows do not honour to ``claims``.
    """

    def __init__(self, report: VerifyReport | None = None) -> None:
        self.report = report or VerifyReport()
        # The last seq seen in each partition: one integer per chain.
        self._tails: dict[int, int] = {}

    def rows(self, rows: Iterable[AuditRow]) -> None:
        """Check every row's hash, its sequence number and its link to the row before."""
        state: _ChainState | None = None
        for row in rows:
            self.report.rows += 1
            if not all(isinstance(v, int) for v in (row.id, row.partition, row.seq)):
                # SQLite stores whatever it is given: text where a number belongs.
                self.report.add(
                    Problem(EDITED, f"row {row.id!r} holds text where its chain needs numbers")
                )
                continue
            if state is None or row.partition != state.partition:
                if state is not None and row.partition < state.partition:
                    raise ValueError("rows must come ordered by partition and seq")
                state = _ChainState(row.partition)
                self.report.partitions += 1
            self._check_row(row, state)
            state.seq, state.hash, state.row_id = row.seq, row.hash, row.id
            self._tails[row.partition] = row.seq

    def _check_row(self, row: AuditRow, state: _ChainState) -> None:
        add = self.report.add
        where = {"partition": row.partition, "seq": row.seq, "row_id": row.id}
        try:
            edited = row_hash(row) != row.hash
        except AuditValueInvalid:
            edited = True
        if edited:
            add(Problem(EDITED, "its columns do not match its hash", **where))
        expected = state.seq + 1
        if row.seq <= state.seq:
            add(
                Problem(
                    OUT_OF_CHAIN,
                    f"seq {row.seq} repeats or goes back (after seq {state.seq})",
                    **where,
                )
            )
        elif row.seq > expected:
            missing = (
                f"seq {expected}" if row.seq == expected + 1 else f"seq {expected}..{row.seq - 1}"
            )
            add(Problem(REMOVED, f"{missing} missing before this row", **where))
        elif row.prev_hash != state.hash:
            before = "the chain's start" if state.row_id is None else f"row {state.row_id}"
            add(
                Problem(
                    OUT_OF_CHAIN,
                    f"its previous hash does not match {before}: a row was replaced or"
                    " inserted here",
                    **where,
                )
            )

    def anchors(self, anchors: Iterable[Anchor], expected: dict[int, str] | None = None) -> None:
        """Check the anchor chain: hashes, contiguous numbers, links; and exported hashes."""
        add = self.report.add
        expected = dict(expected or {})
        previous: Anchor | None = None
        for anchor in anchors:
            self.report.anchors += 1
            recomputed = anchor_hash(
                seq=anchor.seq,
                created_at=anchor.created_at,
                heads=anchor.heads,
                prev_hash=anchor.prev_hash,
            )
            if recomputed != anchor.hash:
                add(
                    Problem(
                        ANCHOR_EDITED, "its heads or time do not match its hash", anchor=anchor.seq
                    )
                )
            want = previous.seq + 1 if previous else 1
            if anchor.seq > want:
                gap = (
                    f"anchor {want}"
                    if anchor.seq == want + 1
                    else f"anchors {want}..{anchor.seq - 1}"
                )
                add(Problem(ANCHOR_REMOVED, f"{gap} missing before this one", anchor=anchor.seq))
            elif anchor.seq == want and anchor.prev_hash != (
                previous.hash if previous else GENESIS
            ):
                add(
                    Problem(
                        ANCHOR_OUT_OF_CHAIN,
                        "its previous hash does not match the anchor before",
                        anchor=anchor.seq,
                    )
                )
            exported = expected.pop(anchor.seq, None)
            if exported is not None and exported != anchor.hash:
                add(
                    Problem(
                        ANCHOR_UNKNOWN,
                        f"hash is {anchor.hash}, the exported copy says {exported}",
                        anchor=anchor.seq,
                    )
                )
            previous = anchor
        self.report.latest_anchor = previous
        for seq in sorted(expected):
            add(Problem(ANCHOR_REMOVED, "exported, but not in the database", anchor=seq))

    def claims(self, broken: Iterable[tuple[int, AnchorHead, int | None, str | None]]) -> None:
        """Report anchor heads the rows no longer honour: one problem per partition and kind.

        *broken* yields (anchor seq, head, id and hash of the row at that place or None)
        for the claims whose row is missing or carries another hash, ordered by
        partition, head seq and anchor seq. Call it after ``rows``: a missing row inside
        the chain is a gap ``rows`` already named; a missing tail is a truncation.
        """
        truncated: dict[int, tuple[int, AnchorHead]] = {}
        rewritten: dict[int, tuple[int, AnchorHead, int, str]] = {}
        for anchor_seq, head, row_id, stored_hash in broken:
            if row_id is None or stored_hash is None:
                if head.seq > self._tails.get(head.partition, 0):
                    truncated.setdefault(head.partition, (anchor_seq, head))
            else:
                rewritten.setdefault(head.partition, (anchor_seq, head, row_id, stored_hash))
        for partition, (anchor_seq, head) in sorted(truncated.items()):
            tail = self._tails.get(partition, 0)
            self.report.add(
                Problem(
                    TRUNCATED,
                    f"anchor {anchor_seq} recorded seq {head.seq}, the chain now ends at"
                    f" seq {tail}",
                    partition=partition,
                    seq=head.seq,
                    anchor=anchor_seq,
                )
            )
        for partition, (anchor_seq, head, row_id, stored_hash) in sorted(rewritten.items()):
            self.report.add(
                Problem(
                    REWRITTEN,
                    f"anchor {anchor_seq} recorded hash {head.hash[:16]}, the row has"
                    f" {stored_hash[:16]}: the chain was rebuilt from here or earlier",
                    partition=partition,
                    seq=head.seq,
                    row_id=row_id,
                    anchor=anchor_seq,
                )
            )


def chain_link(head: tuple[int, str] | None) -> tuple[int, str]:
    """Return the (seq, previous hash) of the row to append after *head* (None: empty chain)."""
    if head is None:
        return 1, GENESIS
    return head[0] + 1, head[1]
