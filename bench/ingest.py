"""End-to-end ingestion throughput on one core, SQLite and PostgreSQL, beside a stdlib baseline.

For each database: seed the simulated provider, then store and process generated
reports (intake group commit, parse, enrich, attribute, events, case folding) on one
thread, and print reports per second, CPU seconds per report and peak memory. The
baseline is the stdlib-only parse (``email`` with the compat32 policy, ``json``) of the
same reports: the floor any pipeline built on it pays.

Usage: uv run python bench/ingest.py [--reports N] [--seed S] [--postgres URL]
PostgreSQL runs when --postgres or ABUSEDESK_TEST_DATABASE_URL names a server; the
benchmark makes and drops a database of its own there.
"""

import argparse
import email
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from email.policy import compat32
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

# The goals the parsing work set for this path: end to end into SQLite at >= 5,000
# reports/s on one core, and at least twice the stdlib-parse-only rate of the same reports.
GOAL_PER_CORE = 5000
GOAL_OVER_STDLIB = 2.0
BATCH = 200


def _abusedesk(*args: str, env: dict[str, str], cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "abusedesk", *args],
        env=env,
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def _env(database_url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ABUSEDESK_")}
    env["ABUSEDESK_DATABASE__URL"] = database_url
    env["ABUSEDESK_STORAGE__EVIDENCE_DIR"] = str(workdir / "evidence")
    return env


def _read_reports(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()]


def stdlib_baseline(raws: list[bytes]) -> float:
    """Return reports/s of parsing each report with the stdlib alone."""
    start = time.process_time()
    for raw in raws:
        if raw.lstrip()[:1] in (b"{", b"["):
            json.loads(raw)
        else:
            email.message_from_bytes(raw, policy=compat32)
    return len(raws) / (time.process_time() - start)


def measure(database_url: str, workdir: Path, reports_dir: Path) -> dict[str, float]:
    """Store and process every report on this thread; return the figures."""
    from abusedesk.bootstrap import build  # after the child's environment is set
    from abusedesk.config import Settings
    from abusedesk.intake.service import Incoming

    raws = _read_reports(reports_dir)
    container = build(
        Settings(
            database={"url": database_url},
            storage={"evidence_dir": workdir / "evidence"},
            log_level="WARNING",
        ),
        configure_logs=True,
    )
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(raws), BATCH):
        container.intake.accept_many(
            [Incoming(raw, "bench", {}) for raw in raws[start : start + BATCH]]
        )
        while container.embedded.run_once():
            pass
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    with container.sessions() as session:
        counts = container.reports.count_by_status(session)
    container.close()
    return {
        "reports": len(raws),
        "wall_s": wall,
        "cpu_s": cpu,
        "per_s": len(raws) / wall,
        "done": counts.get("done", 0),
        "quarantined": counts.get("quarantined", 0),
        "unknown": counts.get("unknown_format", 0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _create_pg_database(server_url: str) -> str:
    name = f"abusedesk_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(server_url: str, url: str) -> None:
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def run_backend(
    name: str, database_url: str, workdir: Path, args: argparse.Namespace
) -> dict[str, float]:
    """Seed a fresh database and measure it in a child process (so peak memory is its own)."""
    env = _env(database_url, workdir)
    _abusedesk("db", "upgrade", env=env, cwd=workdir)
    _abusedesk(
        "demo",
        "seed",
        "--seed",
        str(args.seed),
        "--reports",
        "0",
        "--out",
        str(workdir / "seed-reports"),
        env=env,
        cwd=workdir,
    )
    child = subprocess.run(
        [sys.executable, __file__, "--child", database_url, str(workdir), str(args.reports_dir)],
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    figures: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    print(
        f"{name:<11} {figures['per_s']:>9,.0f} reports/s  "
        f"{1000 * figures['cpu_s'] / figures['reports']:>6.2f} ms CPU/report  "
        f"peak RSS {figures['peak_rss_mb']:>6.0f} MB  "
        f"({figures['done']:.0f} done, {figures['quarantined']:.0f} quarantined, "
        f"{figures['unknown']:.0f} unknown format "
        f"of {figures['reports']:.0f})"
    )
    return figures


def main() -> None:
    """Generate reports, then measure each database and the stdlib baseline."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--postgres", default=os.environ.get("ABUSEDESK_TEST_DATABASE_URL"))
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        database_url, workdir, reports_dir = args.child
        print(json.dumps(measure(database_url, Path(workdir), Path(reports_dir))))
        return

    with tempfile.TemporaryDirectory(prefix="abusedesk-bench-") as tmp:
        workdir = Path(tmp)
        args.reports_dir = workdir / "reports"
        env = _env(f"sqlite:///{workdir / 'generate.db'}", workdir)
        _abusedesk(
            "demo",
            "reports",
            "--count",
            str(args.reports),
            "--seed",
            str(args.seed),
            "--out",
            str(args.reports_dir),
            env=env,
            cwd=workdir,
        )
        raws = _read_reports(args.reports_dir)
        size = sum(len(r) for r in raws) / len(raws)
        print(
            f"{len(raws):,} generated reports, mean {size / 1024:.1f} KiB, one core, batches of {BATCH}"
        )
        baseline = stdlib_baseline(raws)
        print(
            f"goal: >= {GOAL_PER_CORE:,} reports/s per core end to end on SQLite, and >= "
            f"{GOAL_OVER_STDLIB:.0f}x the stdlib parse-only rate ({GOAL_OVER_STDLIB * baseline:,.0f}/s)"
        )
        print(
            f"{'stdlib parse':<11} {baseline:>9,.0f} reports/s  (baseline: parse only, no storage)"
        )
        sqlite = run_backend("sqlite", f"sqlite:///{workdir / 'bench.db'}", workdir, args)
        print(f"sqlite end to end: {sqlite['per_s'] / baseline:.2f}x the stdlib parse-only rate")
        if args.postgres:
            url = _create_pg_database(args.postgres)
            try:
                run_backend("postgresql", url, workdir, args)
            finally:
                _drop_pg_database(args.postgres, url)
        else:
            print("postgresql  skipped: pass --postgres URL or set ABUSEDESK_TEST_DATABASE_URL")


if __name__ == "__main__":
    main()
