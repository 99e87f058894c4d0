"""``abusedesk worker`` as a real process: what it refuses, and how it stops."""

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from abusedesk.pipeline.queue import apply_schema, conninfo
from tests.functional.cli import cli_env, run_cli
from tests.support.jobs import job_database


@pytest.fixture
def postgres_database(tmp_path: Path) -> Iterator[str]:
    """Return a fresh migrated PostgreSQL database, without procrastinate's schema."""
    with job_database(tmp_path, job_schema=False) as url:
        yield url


def _wait_for_line(log: Path, text: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(
        f"the worker never printed {text!r} (exit code {process.poll()}):\n"
        + log.read_text(errors="replace")[-4000:]
    )


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    """On SQLite the worker exits with status 2 and says it needs PostgreSQL."""
    result = run_cli(
        "worker", database_url=f"sqlite:///{tmp_path / 'abusedesk.db'}", workdir=tmp_path
    )

    assert (result.returncode, "needs PostgreSQL" in result.stderr) == (2, True)


def test_worker_refuses_an_unknown_queue(tmp_path: Path) -> None:
    """Naming a queue that does not exist exits with status 2 and lists the known ones."""
    result = run_cli(
        "worker",
        "--queues",
        "reports,nonsense",
        database_url=f"sqlite:///{tmp_path / 'abusedesk.db'}",
        workdir=tmp_path,
    )

    assert (result.returncode, "unknown queue(s): nonsense" in result.stderr) == (2, True)


@pytest.mark.postgres
def test_worker_refuses_a_database_without_the_job_schema(
    postgres_database: str, tmp_path: Path
) -> None:
    """Without procrastinate's tables the worker exits with status 2 and names the fix."""
    result = run_cli("worker", database_url=postgres_database, workdir=tmp_path)

    assert (result.returncode, "run `abusedesk db upgrade` first" in result.stderr) == (2, True)


@pytest.mark.postgres
def test_db_upgrade_twice_keeps_the_job_schema(postgres_database: str, tmp_path: Path) -> None:
    """``abusedesk db upgrade`` may run again and again on PostgreSQL."""
    first = run_cli("db", "upgrade", database_url=postgres_database, workdir=tmp_path)
    second = run_cli("db", "upgrade", database_url=postgres_database, workdir=tmp_path)

    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr


@pytest.mark.postgres
def test_worker_stops_cleanly_on_sigterm(postgres_database: str, tmp_path: Path) -> None:
    """SIGTERM ends the worker with status 0 and removes it from procrastinate's workers."""
    apply_schema(postgres_database)
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "abusedesk", "worker", "--concurrency", "1"],
            cwd=tmp_path,
            env=cli_env(postgres_database, tmp_path, PYTHONUNBUFFERED="1"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_line(log, "running", process, timeout=60)
        process.send_signal(signal.SIGTERM)
        returncode = process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    with psycopg.connect(conninfo(postgres_database)) as connection:
        workers = connection.execute("SELECT count(*) FROM procrastinate_workers").fetchone()

    assert (returncode, "stopped" in log.read_text(), workers) == (0, True, (0,))
