"""The audit log's hash chains: how fast rows are written, and how fast verify walks them.

    uv run python bench/audit.py [--rows N] [--writes W] [--database-url URL]

Writes W rows through ``audit.record`` (one transaction each, one writer: commit-bound)
and times them; fills the log up to N rows with correctly chained rows in bulk; anchors;
then times ``audit.verify`` over everything, and measures its peak Python memory in a
second pass.

Without ``--database-url`` the bench runs on SQLite; a PostgreSQL URL names a server on
which the bench makes a database of its own (and drops it afterwards).
Exit status: 0 when every figure meets its goal, 1 otherwise.
"""

import argparse
import dataclasses
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import func, insert, select  # noqa: E402
from sqlalchemy.orm import Session, sessionmaker  # noqa: E402

from abusedesk.core.audit_chain import (  # noqa: E402
    DEFAULT_PARTITIONS,
    AuditRow,
    chain_link,
    partition_of,
    row_hash,
)
from abusedesk.core.clock import utcnow  # noqa: E402
from abusedesk.storage import audit  # noqa: E402
from abusedesk.storage.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from abusedesk.storage.migrate import upgrade  # noqa: E402
from abusedesk.storage.tables import AuditEntry, table_of  # noqa: E402

# Goals: verify a year of a busy team's log (about ten million rows) within ten minutes;
# writing stays far below a request's budget.
GOAL_VERIFY_ROWS_PER_SECOND = 20_000
GOAL_WRITES_PER_SECOND = 100

LOG = table_of(AuditEntry)


def _fill(factory: sessionmaker[Session], rows: int) -> None:
    """Append correctly chained rows in bulk until the log holds *rows* rows."""
    with unit_of_work(factory) as session:
        have = session.execute(select(func.count()).select_from(LOG)).scalar_one()
        next_id = (session.execute(select(func.max(LOG.c.id))).scalar_one() or 0) + 1
        heads = {h.partition: (h.seq, h.hash) for h in audit.chain_heads(session)}
        start = utcnow()
        batch: list[dict[str, object]] = []
        for n in range(have, rows):
            subject_id = str(n % 5000)
            partition = partition_of("case", subject_id, DEFAULT_PARTITIONS)
            seq, prev = chain_link(heads.get(partition))
            row = AuditRow(
                next_id,
                partition,
                seq,
                start + timedelta(microseconds=n),
                f"analyst:{n % 40}",
                "case:state:change",
                "case",
                subject_id,
                {"state": "new", "priority": n % 5},
                {"state": "triaged", "queue": "basic", "priority": n % 5},
                "routine triage of a spam case",
                prev,
                "",
            )
            row = dataclasses.replace(row, hash=row_hash(row))
            heads[partition] = (seq, row.hash)
            next_id += 1
            batch.append(
                {
                    "id": row.id,
                    "occurred_at": row.occurred_at,
                    "actor": row.actor,
                    "tag": row.tag,
                    "subject_type": row.subject_type,
                    "subject_id": row.subject_id,
                    "before": row.before,
                    "after": row.after,
                    "reason": row.reason,
                    "partition_no": row.partition,
                    "seq": row.seq,
                    "prev_hash": row.prev_hash,
                    "row_hash": row.hash,
                }
            )
            if len(batch) == 5000:
                session.execute(insert(LOG), batch)
                batch.clear()
        if batch:
            session.execute(insert(LOG), batch)


def run(database_url: str, *, rows: int, writes: int) -> bool:
    """Measure one database; print the figures beside their goals; return whether all are met."""
    engine = make_engine(database_url)
    upgrade(engine)
    factory = make_session_factory(engine)

    started = time.perf_counter()
    for n in range(writes):
        with unit_of_work(factory) as session:
            audit.record(
                session,
                actor="bench",
                tag="case:note:add",
                subject_type="case",
                subject_id=n % 100,
                at=utcnow(),
                after={"note": n},
            )
    write_rate = writes / (time.perf_counter() - started)

    _fill(factory, rows)
    with unit_of_work(factory) as session:
        audit.write_anchor(session, at=utcnow())

    started = time.perf_counter()
    with audit.snapshot(factory) as session:
        report = audit.verify(session)
    elapsed = time.perf_counter() - started
    # Memory in a second pass: tracing slows Python down several times.
    tracemalloc.start()
    with audit.snapshot(factory) as session:
        audit.verify(session)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    engine.dispose()
    verify_rate = report.rows / elapsed

    backend = engine.dialect.name
    print(
        f"{backend}: record(), one transaction each: {write_rate:,.0f} rows/s"
        f" (goal >= {GOAL_WRITES_PER_SECOND:,})"
    )
    print(
        f"{backend}: verify {report.rows:,} rows in {elapsed:.1f} s: {verify_rate:,.0f} rows/s"
        f" (goal >= {GOAL_VERIFY_ROWS_PER_SECOND:,}); peak Python memory"
        f" {peak / 2**20:.1f} MiB; intact: {report.intact}"
    )
    return (
        report.intact
        and write_rate >= GOAL_WRITES_PER_SECOND
        and verify_rate >= GOAL_VERIFY_ROWS_PER_SECOND
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; return 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ABUSEDESK_BENCH_DATABASE_URL"),
        help="a PostgreSQL server to use instead of SQLite",
    )
    args = parser.parse_args(argv)
    if args.database_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            ok = run(f"sqlite:///{Path(tmp) / 'audit.db'}", rows=args.rows, writes=args.writes)
        return 0 if ok else 1
    from bench.ingest import _create_pg_database, _drop_pg_database

    url = _create_pg_database(args.database_url)
    try:
        ok = run(url, rows=args.rows, writes=args.writes)
    finally:
        _drop_pg_database(args.database_url, url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
