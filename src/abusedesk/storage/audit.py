"""The append-only audit log: who changed what, when and why, in hash chains.

Each row joins the chain of its subject's partition (``core/audit_chain.py``). On
PostgreSQL, writers to one partition take turns through a transaction-scoped advisory
lock, so writers to other partitions never wait; SQLite serialises every writer anyway.
A unique (partition, seq) index turns any race that slips through into an error, never
a fork. Anchors record every chain's head; the sweep and ``abusedesk audit anchor``
write them. ``verify`` streams every chain and the anchors and names what is wrong.
"""

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.audit_chain import (
    DEFAULT_PARTITIONS,
    GENESIS,
    Anchor,
    AnchorHead,
    AuditRow,
    ChainVerifier,
    VerifyReport,
    anchor_hash,
    chain_link,
    normalise_json,
    partition_of,
    row_hash,
)
from abusedesk.core.clock import as_utc
from abusedesk.storage.db import READ_ONLY, unit_of_work
from abusedesk.storage.tables import AuditAnchor, AuditAnchorHead, AuditEntry, table_of

# Session.info key holding the partition count sessions of a factory write with.
PARTITIONS_KEY: Final = "abusedesk_audit_partitions"
# The first key of the audit's two-key advisory locks; the second is the partition, or
# ANCHOR_LOCK for writing anchors (partitions are never negative).
AUDIT_LOCK_SPACE: Final = 0x4155  # "AU"
ANCHOR_LOCK: Final = -1
# Rows fetched per round trip while streaming a chain.
STREAM_BATCH: Final = 5_000

log = structlog.get_logger(__name__)

_log = table_of(AuditEntry)
_anchors = table_of(AuditAnchor)
_heads = table_of(AuditAnchorHead)


def use_partitions(factory: sessionmaker[Session], partitions: int) -> None:
    """Make every session *factory* opens write audit rows over *partitions* chains."""
    partition_of("", "", partitions)  # refuses a count out of range, naming it
    info = dict(factory.kw.get("info") or {})
    info[PARTITIONS_KEY] = partitions
    factory.configure(info=info)


def record(
    session: Session,
    *,
    actor: str,
    tag: str,
    subject_type: str,
    subject_id: object,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    """Append one audit row in the caller's transaction, chained in its subject's partition.

    On PostgreSQL this holds the partition's lock until the caller's transaction ends.
    """
    subject = str(subject_id)
    partition = partition_of(
        subject_type, subject, int(session.info.get(PARTITIONS_KEY, DEFAULT_PARTITIONS))
    )
    postgres = _is_postgres(session)
    if postgres:
        _advisory_lock(session, partition)
    head = session.execute(
        select(_log.c.seq, _log.c.row_hash)
        .where(_log.c.partition_no == partition)
        .order_by(_log.c.seq.desc())
        .limit(1)
    ).first()
    seq, prev_hash = chain_link((head[0], head[1]) if head else None)
    row = AuditRow(
        id=_next_id(session, postgres=postgres),
        partition=partition,
        seq=seq,
        occurred_at=as_utc(at),
        actor=actor,
        tag=tag,
        subject_type=subject_type,
        subject_id=subject,
        # Hashed as they will read back from the JSON columns.
        before=normalise_json(before),
        after=normalise_json(after),
        reason=reason,
        prev_hash=prev_hash,
        hash="",
    )
    session.execute(
        insert(_log).values(
            id=row.id,
            occurred_at=row.occurred_at,
            actor=row.actor,
            tag=row.tag,
            subject_type=row.subject_type,
            subject_id=row.subject_id,
            before=row.before,
            after=row.after,
            reason=row.reason,
            partition_no=row.partition,
            seq=row.seq,
            prev_hash=row.prev_hash,
            row_hash=row_hash(row),
        )
    )


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _advisory_lock(session: Session, key: int) -> None:
    # Transaction-scoped, like lock_account in dialect.py: released at commit or rollback.
    session.execute(select(func.pg_advisory_xact_lock(AUDIT_LOCK_SPACE, key)))


def _next_id(session: Session, *, postgres: bool) -> int:
    # The id is hashed, so it is taken before the insert. Under the partition lock a
    # chain's ids grow with its seq on both databases.
    if postgres:
        query = text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")
    else:
        # The write lock every SQLite write transaction holds makes max + 1 safe.
        query = text("SELECT COALESCE(MAX(id), 0) + 1 FROM audit_log")
    return int(session.execute(query).scalar_one())


# --- anchors --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorOutcome:
    """The latest anchor after an anchoring, and whether this call wrote it."""

    anchor: Anchor | None
    written: bool


def chain_heads(session: Session) -> list[AnchorHead]:
    """Return the head (newest row) of every chain that holds rows, by partition."""
    heads: list[AnchorHead] = []
    after = -1
    while True:
        # One index probe per chain (a loose index scan), not a scan of the log.
        partition: int | None = session.execute(
            select(func.min(_log.c.partition_no)).where(_log.c.partition_no > after)
        ).scalar_one_or_none()
        if partition is None:
            return heads
        after = partition
        seq, digest = session.execute(
            select(_log.c.seq, _log.c.row_hash)
            .where(_log.c.partition_no == partition)
            .order_by(_log.c.seq.desc())
            .limit(1)
        ).one()
        heads.append(AnchorHead(partition, seq, digest))


def latest_anchor(session: Session) -> Anchor | None:
    """Return the newest anchor, or None when none was written yet."""
    seq = session.execute(select(func.max(_anchors.c.seq))).scalar_one_or_none()
    if seq is None:
        return None
    # Read to the end, so that no cursor stays open behind the caller's next statement.
    (anchor,) = _stream_anchors(session, only=seq)
    return anchor


def write_anchor(session: Session, *, at: datetime, force: bool = False) -> AnchorOutcome:
    """Anchor every chain's head now, unless no head moved since the latest anchor.

    *force* writes an anchor even then (the log may be empty). Runs in the caller's
    transaction; on PostgreSQL anchor writers take turns through an advisory lock.
    """
    if _is_postgres(session):
        _advisory_lock(session, ANCHOR_LOCK)
    previous = latest_anchor(session)
    heads = tuple(chain_heads(session))
    unchanged = heads == (previous.heads if previous else ())
    if unchanged and not force:
        return AnchorOutcome(previous, written=False)
    seq = previous.seq + 1 if previous else 1
    prev_hash = previous.hash if previous else GENESIS
    created_at = as_utc(at)
    digest = anchor_hash(seq=seq, created_at=created_at, heads=heads, prev_hash=prev_hash)
    session.execute(
        insert(_anchors).values(
            seq=seq, created_at=created_at, prev_hash=prev_hash, anchor_hash=digest
        )
    )
    if heads:
        session.execute(
            insert(_heads),
            [
                {"anchor_seq": seq, "partition_no": h.partition, "seq": h.seq, "row_hash": h.hash}
                for h in heads
            ],
        )
    return AnchorOutcome(Anchor(seq, created_at, heads, prev_hash, digest), written=True)


def anchor_if_moved(sessions: sessionmaker[Session], *, now: datetime) -> Anchor | None:
    """Write an anchor in a transaction of its own when a chain moved; return it if written.

    The periodic sweep calls this, so the newest rows are never long unanchored.
    """
    with unit_of_work(sessions) as session:
        outcome = write_anchor(session, at=now)
    if not outcome.written or outcome.anchor is None:
        return None
    log.info("audit_anchored", anchor=outcome.anchor.seq, chains=len(outcome.anchor.heads))
    return outcome.anchor


# --- reading and verifying ---------------------------------------------------------------


@contextmanager
def snapshot(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a read-only session whose statements all see one moment of the database.

    PostgreSQL gets a repeatable-read read-only transaction; a SQLite read transaction
    keeps one snapshot from its first read.
    """
    with factory() as session:
        options: dict[str, Any] = {READ_ONLY: True}
        if session.get_bind().dialect.name == "postgresql":
            options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        session.connection(execution_options=options)
        try:
            yield session
        finally:
            session.rollback()


def verify(
    session: Session, *, expected_anchors: dict[int, str] | None = None, max_problems: int = 10_000
) -> VerifyReport:
    """Verify every chain, the anchors and their claims; memory stays constant per chain.

    *expected_anchors* maps anchor numbers to hashes exported earlier: each must still
    be in the database with that hash.
    """
    verifier = ChainVerifier(VerifyReport(max_problems=max_problems))
    verifier.rows(stream_rows(session))
    verifier.anchors(_stream_anchors(session), expected_anchors)
    verifier.claims(_broken_claims(session))
    return verifier.report


def stream_rows(session: Session) -> Iterator[AuditRow]:
    """Yield every audit row in chain order (partition, seq), a batch at a time."""
    query = select(*_ROW_COLUMNS).order_by(_log.c.partition_no, _log.c.seq, _log.c.id)
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for row in result:
        yield _audit_row(row)


def history(
    session: Session, subject_type: str, subject_id: str, *, limit: int = 1000
) -> list[AuditRow]:
    """Return a subject's audit rows, oldest first."""
    query = (
        select(*_ROW_COLUMNS)
        .where(_log.c.subject_type == subject_type, _log.c.subject_id == subject_id)
        .order_by(_log.c.occurred_at, _log.c.id)
        .limit(limit)
    )
    return [_audit_row(row) for row in session.execute(query)]


_ROW_COLUMNS = (
    _log.c.id,
    _log.c.partition_no,
    _log.c.seq,
    _log.c.occurred_at,
    _log.c.actor,
    _log.c.tag,
    _log.c.subject_type,
    _log.c.subject_id,
    _log.c.before,
    _log.c.after,
    _log.c.reason,
    _log.c.prev_hash,
    _log.c.row_hash,
)


def _audit_row(row: Sequence[Any]) -> AuditRow:
    return AuditRow(*row)


def _stream_anchors(session: Session, *, only: int | None = None) -> Iterator[Anchor]:
    query = (
        select(
            _anchors.c.seq,
            _anchors.c.created_at,
            _anchors.c.prev_hash,
            _anchors.c.anchor_hash,
            _heads.c.partition_no,
            _heads.c.seq,
            _heads.c.row_hash,
        )
        .select_from(_anchors.outerjoin(_heads, _heads.c.anchor_seq == _anchors.c.seq))
        .order_by(_anchors.c.seq, _heads.c.partition_no)
    )
    if only is not None:
        query = query.where(_anchors.c.seq == only)
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for (seq, created_at, prev_hash, digest), rows in itertools.groupby(
        result, key=lambda r: (r[0], r[1], r[2], r[3])
    ):
        heads = tuple(AnchorHead(r[4], r[5], r[6]) for r in rows if r[4] is not None)
        yield Anchor(seq, created_at, heads, prev_hash, digest)


def _broken_claims(session: Session) -> Iterator[tuple[int, AnchorHead, int | None, str | None]]:
    # Rows whose stored hash does not match their columns were named by the row pass;
    # comparing stored hashes here is enough for the anchors' claims.
    query = (
        select(
            _heads.c.anchor_seq,
            _heads.c.partition_no,
            _heads.c.seq,
            _heads.c.row_hash,
            _log.c.id,
            _log.c.row_hash,
        )
        .select_from(
            _heads.outerjoin(
                _log,
                (_log.c.partition_no == _heads.c.partition_no) & (_log.c.seq == _heads.c.seq),
            )
        )
        .where(_log.c.id.is_(None) | (_log.c.row_hash != _heads.c.row_hash))
        .order_by(_heads.c.partition_no, _heads.c.seq, _heads.c.anchor_seq)
    )
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for anchor_seq, partition, seq, claimed, row_id, stored in result:
        yield anchor_seq, AnchorHead(partition, seq, claimed), row_id, stored
