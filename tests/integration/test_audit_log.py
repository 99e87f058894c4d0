"""The hash-chained audit log on a real database: writing, anchoring, tampering, verifying."""

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.bootstrap import Container
from abusedesk.core.audit_chain import (
    ANCHOR_EDITED,
    ANCHOR_REMOVED,
    EDITED,
    OUT_OF_CHAIN,
    REMOVED,
    REWRITTEN,
    TRUNCATED,
    AuditRow,
    VerifyReport,
    chain_link,
    partition_of,
    row_hash,
)
from abusedesk.core.clock import utcnow
from abusedesk.pipeline.queue import make_app, sweep_once
from abusedesk.storage import audit
from abusedesk.storage.db import make_engine, make_session_factory, unit_of_work
from abusedesk.storage.migrate import downgrade, upgrade
from abusedesk.storage.tables import AuditAnchor, AuditAnchorHead, AuditEntry, table_of
from tests.support.audit import APPEND_ONLY_TABLES, seed, tampering, write
from tests.support.jobs import job_database, job_engine_container

LOG = table_of(AuditEntry)
ANCHORS = table_of(AuditAnchor)
HEADS = table_of(AuditAnchorHead)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """Return an engine on the test database, disposed after the test."""
    built = make_engine(database_url)
    yield built
    built.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory writing over the default partition count."""
    return make_session_factory(engine)


def check(factory: sessionmaker[Session], **options: Any) -> VerifyReport:
    """Verify the audit log as `abusedesk audit verify` does."""
    with audit.snapshot(factory) as session:
        return audit.verify(session, **options)


def anchor(factory: sessionmaker[Session]) -> int:
    """Write an anchor now and return its number."""
    with unit_of_work(factory) as session:
        outcome = audit.write_anchor(session, at=utcnow())
    assert outcome.anchor is not None
    return outcome.anchor.seq


def rows_of(engine: Engine, subject_id: str) -> list[Any]:
    """Return the rows of case *subject_id* in chain order."""
    with engine.connect() as connection:
        return list(
            connection.execute(
                select(LOG)
                .where(LOG.c.subject_type == "case", LOG.c.subject_id == subject_id)
                .order_by(LOG.c.seq)
            )
        )


def named(report: VerifyReport) -> set[tuple[str, int | None]]:
    """Return (kind, row id or anchor) for every problem found."""
    return {(p.kind, p.row_id if p.row_id is not None else p.anchor) for p in report.problems}


def rechain(connection: Connection, partition: int) -> None:
    """Recompute every hash of *partition* in seq order: a rewrite by someone who knows the format."""
    rows = connection.execute(
        select(LOG).where(LOG.c.partition_no == partition).order_by(LOG.c.seq)
    ).all()
    head: tuple[int, str] | None = None
    for row in rows:
        _, prev = chain_link(head)
        rebuilt = AuditRow(
            row.id,
            row.partition_no,
            row.seq,
            row.occurred_at,
            row.actor,
            row.tag,
            row.subject_type,
            row.subject_id,
            row.before,
            row.after,
            row.reason,
            prev,
            "",
        )
        digest = row_hash(rebuilt)
        connection.execute(
            update(LOG).where(LOG.c.id == row.id).values(prev_hash=prev, row_hash=digest)
        )
        head = (row.seq, digest)


# --- writing ------------------------------------------------------------------------------


def test_recorded_rows_form_valid_chains(sessions: sessionmaker[Session], engine: Engine) -> None:
    """Rows written one by one verify, and one subject's rows are one run of its chain."""
    seed(sessions)
    report = check(sessions)
    rows = rows_of(engine, "2")
    assert (report.intact, report.rows) == (True, 16)
    assert {r.partition_no for r in rows} == {partition_of("case", "2", 16)}
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)


def test_a_rolled_back_row_leaves_no_gap(sessions: sessionmaker[Session]) -> None:
    """A row in a transaction that rolls back is gone, and the next row takes its place."""
    write(sessions, "case:1")
    with sessions() as session:
        audit.record(
            session,
            actor="a",
            tag="case:note:add",
            subject_type="case",
            subject_id=1,
            at=utcnow(),
        )
        session.rollback()
    write(sessions, "case:1")
    report = check(sessions)
    assert (report.intact, report.rows) == (True, 2)


def test_rows_of_one_transaction_chain_in_order(sessions: sessionmaker[Session]) -> None:
    """Several rows about one subject in one transaction take consecutive places."""
    with unit_of_work(sessions) as session:
        for n in range(3):
            audit.record(
                session,
                actor="a",
                tag="case:note:add",
                subject_type="case",
                subject_id="5",
                at=utcnow(),
                after={"n": n},
            )
    with audit.snapshot(sessions) as session:
        rows = audit.history(session, "case", "5")
    assert [(r.seq, r.after) for r in rows] == [(1, {"n": 0}), (2, {"n": 1}), (3, {"n": 2})]


def test_the_configured_partition_count_bounds_the_chains(engine: Engine) -> None:
    """A factory told to use 3 partitions writes rows into partitions 0..2 only."""
    factory = make_session_factory(engine)
    audit.use_partitions(factory, 3)
    seed(factory, subjects=12, rows_each=1)
    with engine.connect() as connection:
        used = set(connection.scalars(select(LOG.c.partition_no).distinct()))
    assert (used <= {0, 1, 2}, len(used) > 1, check(factory).intact) == (True, True, True)


# --- the database refuses changes ----------------------------------------------------------


_CHANGES = {
    "audit_log": {"UPDATE": "UPDATE audit_log SET actor = 'x'", "DELETE": "DELETE FROM audit_log"},
    "audit_anchors": {
        "UPDATE": "UPDATE audit_anchors SET prev_hash = 'x'",
        "DELETE": "DELETE FROM audit_anchors",
    },
    "audit_anchor_heads": {
        "UPDATE": "UPDATE audit_anchor_heads SET row_hash = 'x'",
        "DELETE": "DELETE FROM audit_anchor_heads",
    },
}


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_the_database_refuses_changes_to_the_log_and_anchors(
    sessions: sessionmaker[Session], engine: Engine, table: str, verb: str
) -> None:
    """UPDATE and DELETE on the log and the anchor tables fail at the database."""
    seed(sessions, subjects=1, rows_each=2)
    anchor(sessions)
    statement = _CHANGES[table][verb]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))


# --- tampering is found --------------------------------------------------------------------

_EDITS: dict[str, Any] = {
    "id": 10_000,
    "occurred_at": timedelta(seconds=1),
    "actor": "mallory",
    "tag": "case:state:reopen",
    "subject_type": "account",
    "subject_id": "999",
    "before": {"state": "closed"},
    "after": None,
    "reason": "nothing to see",
    "partition_no": 999,
    "seq": 50,
    "prev_hash": "f" * 64,
    "row_hash": "e" * 64,
}


@pytest.mark.parametrize("column", sorted(_EDITS))
def test_an_edit_to_any_column_is_found(
    sessions: sessionmaker[Session], engine: Engine, column: str
) -> None:
    """Changing any one column of a middle row, triggers dropped, is reported as an edit of it."""
    seed(sessions)
    target = rows_of(engine, "3")[1]
    value = _EDITS[column]
    if isinstance(value, timedelta):
        value = target.occurred_at + value
    with tampering(engine) as connection:
        connection.execute(update(LOG).where(LOG.c.id == target.id).values({column: value}))
    report = check(sessions)
    edited_id = value if column == "id" else target.id
    assert (EDITED, edited_id) in named(report)


def test_a_removed_middle_row_is_found(sessions: sessionmaker[Session], engine: Engine) -> None:
    """Deleting a row inside a chain is reported at the row after the gap."""
    seed(sessions)
    rows = rows_of(engine, "1")
    with tampering(engine) as connection:
        connection.execute(delete(LOG).where(LOG.c.id == rows[1].id))
    report = check(sessions)
    assert named(report) == {(REMOVED, rows[2].id)}


def test_removing_the_newest_rows_after_an_anchor_is_found(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """Cutting a chain's anchored tail is reported as a truncation after that anchor."""
    seed(sessions)
    first = anchor(sessions)
    write(sessions, "case:4", 9)
    second = anchor(sessions)
    rows = rows_of(engine, "4")
    with tampering(engine) as connection:
        connection.execute(delete(LOG).where(LOG.c.id.in_([rows[-1].id, rows[-2].id])))
    report = check(sessions)
    truncations = [(p.kind, p.anchor, p.seq) for p in report.problems]
    assert truncations == [(TRUNCATED, first, rows[-2].seq)]
    assert second == first + 1


def test_a_forged_row_out_of_chain_is_found(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """A row appended by hand, with hashes copied from elsewhere, is reported."""
    seed(sessions)
    last = rows_of(engine, "2")[-1]
    with tampering(engine) as connection:
        connection.execute(
            insert(LOG).values(
                id=5_000,
                occurred_at=utcnow(),
                actor="mallory",
                tag="case:state:close",
                subject_type="case",
                subject_id="2",
                before=None,
                after=None,
                reason=None,
                partition_no=last.partition_no,
                seq=last.seq + 1,
                prev_hash=last.prev_hash,
                row_hash=last.row_hash,
            )
        )
    report = check(sessions)
    assert {(EDITED, 5_000), (OUT_OF_CHAIN, 5_000)} <= named(report)


def test_a_row_spliced_in_with_the_chain_rebuilt_contradicts_the_anchor(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """Inserting a row mid-chain and rehashing everything after it is caught by the anchor."""
    seed(sessions)
    number = anchor(sessions)
    rows = rows_of(engine, "1")
    partition = rows[0].partition_no
    with tampering(engine) as connection:
        # Shift the tail up one place (in two steps: the unique index checks each row).
        tail = (LOG.c.partition_no == partition) & (LOG.c.seq >= rows[1].seq)
        connection.execute(update(LOG).where(tail).values(seq=LOG.c.seq + 1_000_000))
        moved = (LOG.c.partition_no == partition) & (LOG.c.seq >= 1_000_000)
        connection.execute(update(LOG).where(moved).values(seq=LOG.c.seq - 999_999))
        connection.execute(
            insert(LOG).values(
                id=5_001,
                occurred_at=rows[1].occurred_at,
                actor="mallory",
                tag="case:state:close",
                subject_type="case",
                subject_id="1",
                before=None,
                after=None,
                reason="forged",
                partition_no=partition,
                seq=rows[1].seq,
                prev_hash="",
                row_hash="",
            )
        )
        rechain(connection, partition)
    report = check(sessions)
    assert {p.kind for p in report.problems} == {REWRITTEN}
    assert [(p.anchor, p.partition) for p in report.problems] == [(number, partition)]


def test_reordered_rows_are_found(sessions: sessionmaker[Session], engine: Engine) -> None:
    """Swapping the places of two rows reports both."""
    seed(sessions)
    rows = rows_of(engine, "3")
    a, b = rows[1], rows[2]
    with tampering(engine) as connection:
        connection.execute(update(LOG).where(LOG.c.id == a.id).values(seq=-1))
        connection.execute(update(LOG).where(LOG.c.id == b.id).values(seq=a.seq))
        connection.execute(update(LOG).where(LOG.c.id == a.id).values(seq=b.seq))
    report = check(sessions)
    assert {(EDITED, a.id), (EDITED, b.id)} <= named(report)


def test_an_edited_or_removed_anchor_is_found(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """An anchor whose time changed, and a gap in the anchors' numbers, are reported."""
    numbers = []
    for n in range(3):
        write(sessions, "case:1", n)
        numbers.append(anchor(sessions))
    with tampering(engine) as connection:
        connection.execute(
            update(ANCHORS)
            .where(ANCHORS.c.seq == numbers[0])
            .values(created_at=utcnow() - timedelta(days=1))
        )
        connection.execute(delete(HEADS).where(HEADS.c.anchor_seq == numbers[1]))
        connection.execute(delete(ANCHORS).where(ANCHORS.c.seq == numbers[1]))
    report = check(sessions)
    assert named(report) == {(ANCHOR_EDITED, numbers[0]), (ANCHOR_REMOVED, numbers[2])}


def test_the_newest_anchor_removed_is_found_from_its_exported_copy(
    sessions: sessionmaker[Session], engine: Engine
) -> None:
    """Deleting the latest anchor and the rows it covered needs the exported hash to show."""
    seed(sessions, subjects=1, rows_each=2)
    anchor(sessions)
    write(sessions, "case:1", 5)
    with unit_of_work(sessions) as session:
        latest = audit.write_anchor(session, at=utcnow()).anchor
    assert latest is not None
    rows = rows_of(engine, "1")
    with tampering(engine) as connection:
        connection.execute(delete(HEADS).where(HEADS.c.anchor_seq == latest.seq))
        connection.execute(delete(ANCHORS).where(ANCHORS.c.seq == latest.seq))
        connection.execute(delete(LOG).where(LOG.c.id == rows[-1].id))
    without_export = check(sessions)
    with_export = check(sessions, expected_anchors={latest.seq: latest.hash})
    assert (without_export.intact, named(with_export)) == (
        True,
        {(ANCHOR_REMOVED, latest.seq)},
    )


# --- anchors -------------------------------------------------------------------------------


def test_an_anchor_is_written_only_when_a_chain_moved(sessions: sessionmaker[Session]) -> None:
    """Anchoring twice with no new row writes one anchor; a new row makes the next one."""
    write(sessions, "case:1")
    with unit_of_work(sessions) as session:
        first = audit.write_anchor(session, at=utcnow())
        again = audit.write_anchor(session, at=utcnow())
    write(sessions, "case:2")
    with unit_of_work(sessions) as session:
        moved = audit.write_anchor(session, at=utcnow())
    assert (first.written, again.written, moved.written) == (True, False, True)
    assert moved.anchor is not None
    assert len(moved.anchor.heads) == len(
        {partition_of("case", "1", 16), partition_of("case", "2", 16)}
    )
    assert check(sessions).anchors == 2


def test_the_sweep_anchors_new_rows(container: Container) -> None:
    """The embedded engine's periodic sweep writes an anchor once rows were added."""
    write(container.sessions, "case:1")
    container.embedded.sweep()
    container.embedded.sweep()
    report = check(container.sessions)
    assert (report.anchors, report.intact) == (1, True)


def test_the_procrastinate_sweep_anchors_new_rows(tmp_path: Path) -> None:
    """The workers' periodic sweep job writes an anchor once rows were added."""
    with job_database(tmp_path, job_schema=True) as url:
        container = job_engine_container(url, tmp_path)
        try:
            write(container.sessions, "case:1")
            app = make_app(url, periodic_sweep=False)

            async def sweep() -> None:
                async with app.open_async():
                    await sweep_once(app, container)

            asyncio.run(sweep())
            report = check(container.sessions)
        finally:
            container.close()
    assert (report.anchors, report.intact) == (1, True)


# --- concurrent writers ----------------------------------------------------------------------


def test_concurrent_writers_leave_valid_chains(engine: Engine) -> None:
    """Threads with their own connections, on shared and separate partitions, never fork a chain."""
    factory = make_session_factory(engine)
    audit.use_partitions(factory, 3)
    failures: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for n in range(15):
                # Subjects repeat across workers: same partitions and different ones.
                write(factory, f"case:{(worker * 7 + n) % 10}", n)
        except BaseException as exc:  # handed to the test thread to fail it
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = check(factory)
    assert (failures, report.intact, report.rows) == ([], True, 90)


def _subject_in(partition: int, partitions: int, skip: set[str]) -> str:
    for n in range(1000):
        if str(n) not in skip and partition_of("case", str(n), partitions) == partition:
            return str(n)
    raise AssertionError("no subject found")


def test_writers_wait_only_for_their_own_partition_on_postgresql(
    database_url: str, engine: Engine
) -> None:
    """An open transaction blocks the next writer of its partition, not writers of others."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every writer by design")
    factory = make_session_factory(engine)
    audit.use_partitions(factory, 4)
    holder_subject = _subject_in(0, 4, set())
    same = _subject_in(0, 4, {holder_subject})
    other = _subject_in(1, 4, set())
    holder = factory()
    audit.record(
        holder, actor="a", tag="t:x:y", subject_type="case", subject_id=holder_subject, at=utcnow()
    )
    done: dict[str, bool] = {}

    def run(name: str, subject: str) -> None:
        write(factory, f"case:{subject}")
        done[name] = True

    other_writer = threading.Thread(target=run, args=("other", other))
    other_writer.start()
    other_writer.join(timeout=60)
    same_writer = threading.Thread(target=run, args=("same", same))
    same_writer.start()
    waited = _wait_for_advisory_waiter(engine)
    finished_while_held = done.get("same", False)
    holder.commit()
    holder.close()
    same_writer.join(timeout=60)
    rows = rows_of(engine, holder_subject) + rows_of(engine, same)
    assert (done, waited, finished_while_held) == ({"other": True, "same": True}, True, False)
    assert sorted(r.seq for r in rows) == [1, 2]
    assert check(factory).intact


def _wait_for_advisory_waiter(engine: Engine) -> bool:
    # Polls the lock table until a writer waits for partition 0's lock (or a minute passes).
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            waiting = connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    " AND classid = :space AND objid = 0 AND objsubid = 2 AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"space": audit.AUDIT_LOCK_SPACE},
            )
        if waiting:
            return True
        time.sleep(0.05)
    return False


# --- the migration ---------------------------------------------------------------------------


def test_the_migration_chains_rows_written_before_it(database_url: str, engine: Engine) -> None:
    """Rows stored before revision 0004 are chained in id order, and verify passes after it."""
    downgrade(engine, "0003")
    with engine.begin() as connection:
        for n, (subject_id, before) in enumerate(
            [("1", None), ("2", '{"state": "new"}'), ("1", '{"ü": [1, 2.5]}'), ("3", None)]
        ):
            connection.execute(
                text(
                    "INSERT INTO audit_log (occurred_at, actor, tag, subject_type, subject_id,"
                    " before, after, reason) VALUES (:at, 'cli', 'case:state:change', 'case',"
                    " :subject, :before, NULL, :reason)"
                ),
                {
                    "at": utcnow() + timedelta(seconds=n),
                    "subject": subject_id,
                    "before": before,
                    "reason": f"r{n}",
                },
            )
    upgrade(engine)
    factory = make_session_factory(engine)
    write(factory, "case:1", 9)
    report = check(factory)
    rows = rows_of(engine, "1")
    assert (report.intact, report.rows) == (True, 5)
    assert ([r.seq for r in rows], [r.reason for r in rows]) == (
        [1, 2, 3],
        ["r0", "r2", "checked the evidence"],
    )


def test_history_lists_a_subject_oldest_first(sessions: sessionmaker[Session]) -> None:
    """A subject's history holds its rows only, oldest first."""
    seed(sessions, subjects=2, rows_each=3)
    with audit.snapshot(sessions) as session:
        rows = audit.history(session, "case", "2")
    assert [(r.subject_id, r.before["n"]) for r in rows] == [("2", 0), ("2", 1), ("2", 2)]
