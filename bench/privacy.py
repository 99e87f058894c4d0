"""Retention purge and erasure: how fast evidence past its period goes, and one erasure.

    uv run python bench/privacy.py [--events N] [--database-url URL]

Fills the database with N settled reports (inline raw bytes) of one event each, stored
200 days ago, every tenth naming the address that is then erased. Times the purge of
every class in batches of 500 (what the sweep does), on a fresh copy of the data, and
one erasure over everything (a scan of every event and every raw report).

Without ``--database-url`` the bench runs on SQLite; a PostgreSQL URL names a server on
which the bench makes a database of its own (and drops it afterwards).
Exit status: 0 when every figure meets its goal, 1 otherwise.
"""

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from abusedesk.core.clock import utcnow  # noqa: E402
from abusedesk.core.hashing import sha256_hex  # noqa: E402
from abusedesk.privacy.model import RetentionPolicy  # noqa: E402
from abusedesk.storage.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from abusedesk.storage.evidence import FilesystemEvidenceStore  # noqa: E402
from abusedesk.storage.migrate import upgrade  # noqa: E402
from abusedesk.storage.privacy import erase_address, purge_expired  # noqa: E402
from abusedesk.storage.tables import Event, Report, table_of  # noqa: E402

# Goals: the purge keeps far ahead of intake (a million events a day is 12 a second; a
# sweep every 30 s purging 500 per class needs 50 a second); one erasure over a million
# events and reports takes at most a few minutes.
GOAL_PURGE_EVENTS_PER_SECOND = 1_000
GOAL_ERASURE_ROWS_PER_SECOND = 5_000
BATCH = 500
ADDRESS = "erase.me@mail.example.net"


def _fill(url: str, events: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    then = utcnow() - timedelta(days=200)
    for start in range(0, events, 5_000):
        numbers = range(start, min(events, start + 5_000))
        with unit_of_work(sessions) as session:
            reports = []
            for n in numbers:
                who = ADDRESS if n % 10 == 0 else f"person{n}@mail.example.net"
                raw = f"From: {who}\r\nSubject: report {n}\r\n\r\n{'x' * 2000}\r\n".encode()
                reports.append(
                    {
                        "id": n + 1,
                        "sha256": sha256_hex(raw),
                        "channel": "bench",
                        "size": len(raw),
                        "raw": raw,
                        "envelope": {"mail_from": who},
                        "received_at": then,
                        "status": "done",
                        "attempts": 1,
                        "next_attempt_at": then,
                    }
                )
            session.execute(insert(table_of(Report)), reports)
            session.execute(
                insert(table_of(Event)),
                [
                    {
                        "report_id": n + 1,
                        "seq": 0,
                        "category": "spam",
                        "service": "email",
                        "report_format": "freeform",
                        "occurred_at": then,
                        "indicators": {
                            "recipient_hash": [
                                sha256_hex((ADDRESS if n % 10 == 0 else f"person{n}@x").encode())
                            ],
                            "source_ip": ["192.0.2.1"],
                        },
                        "details": {"evidence_subject": f"offer {n}", "evidence": "body"},
                        "attribution_state": "unattributed",
                        "attribution_details": {},
                        "created_at": then,
                    }
                    for n in numbers
                ],
            )
    engine.dispose()


def run(purge_url: str, erase_url: str, events: int, evidence: Path) -> bool:
    """Fill both databases, time the purge on one and the erasure on the other."""
    _fill(purge_url, events)
    _fill(erase_url, events)
    store = FilesystemEvidenceStore(evidence)
    engine = make_engine(purge_url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    purged = 0
    while True:
        with unit_of_work(sessions) as session:
            result = purge_expired(session, store, utcnow(), RetentionPolicy(), BATCH)
        purged += result.counts["message_body"]
        if not result.more:
            break
    purge_seconds = time.perf_counter() - started
    engine.dispose()

    engine = make_engine(erase_url)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    with unit_of_work(sessions) as session:
        erased = erase_address(
            session, store, ADDRESS, actor="bench", reason="bench", now=utcnow(), key=b"k"
        )
    erase_seconds = time.perf_counter() - started
    engine.dispose()

    backend = engine.dialect.name
    purge_rate = events / purge_seconds
    erase_rate = 2 * events / erase_seconds
    print(
        f"{backend}: purge of {events:,} reports and events (every class, batches of"
        f" {BATCH}) in {purge_seconds:.1f} s: {purge_rate:,.0f} events/s"
        f" (goal >= {GOAL_PURGE_EVENTS_PER_SECOND:,}); bodies purged: {purged:,}"
    )
    print(
        f"{backend}: one erasure over {events:,} events and {events:,} reports in"
        f" {erase_seconds:.1f} s: {erase_rate:,.0f} rows/s"
        f" (goal >= {GOAL_ERASURE_ROWS_PER_SECOND:,}); changed {erased.counts}"
    )
    return (
        purged == events
        and purge_rate >= GOAL_PURGE_EVENTS_PER_SECOND
        and erase_rate >= GOAL_ERASURE_ROWS_PER_SECOND
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; return 0 when every goal is met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("ABUSEDESK_BENCH_DATABASE_URL"),
        help="a PostgreSQL server to use instead of SQLite",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        evidence = Path(tmp) / "evidence"
        if args.database_url is None:
            ok = run(
                f"sqlite:///{Path(tmp) / 'purge.db'}",
                f"sqlite:///{Path(tmp) / 'erase.db'}",
                args.events,
                evidence,
            )
            return 0 if ok else 1
        from bench.ingest import _create_pg_database, _drop_pg_database

        purge_url = _create_pg_database(args.database_url)
        erase_url = _create_pg_database(args.database_url)
        try:
            ok = run(purge_url, erase_url, args.events, evidence)
        finally:
            _drop_pg_database(args.database_url, purge_url)
            _drop_pg_database(args.database_url, erase_url)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
