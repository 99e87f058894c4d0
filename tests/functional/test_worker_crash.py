"""Nothing lost, nothing doubled: SIGKILL ``abusedesk worker`` processes mid-way, start others."""

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Case, Event, Report
from tests.factories.inventory import make_account, make_sent_mail
from tests.factories.reports import arf_complaint, forwarded_complaint
from tests.functional.cli import cli_env
from tests.support.jobs import job_database, job_engine_container, sql

REPORTS = 3000
ACCOUNTS = 8
BATCH = 500

WORKER_SETTINGS = {
    "ABUSEDESK_JOBS__BACKEND": "procrastinate",
    "ABUSEDESK_JOBS__HEARTBEAT_SECONDS": "0.5",
    "ABUSEDESK_JOBS__STALLED_AFTER_SECONDS": "3",
    "ABUSEDESK_JOBS__SWEEP_INTERVAL_SECONDS": "2",
    "ABUSEDESK_JOBS__STALE_PENDING_SECONDS": "5",
    "PYTHONUNBUFFERED": "1",
}


def _reports(container: Container) -> tuple[list[bytes], dict[tuple[int, str], int]]:
    """Insert the inventory and return distinct reports with the case counts they must make.

    Of every ten reports three quote a message in the send log, two more (ARF fraud) and
    two forwarded complaints name a customer's verified domain, and three name nobody.
    """
    raws: list[bytes] = []
    expected: dict[tuple[int, str], int] = {}
    with unit_of_work(container.sessions) as session:
        accounts = [
            (
                *make_account(session, f"90{n:02d}", domain=f"sender{n}.example"),
                f"sender{n}.example",
            )
            for n in range(ACCOUNTS)
        ]
        for n in range(REPORTS):
            account_id, resource_id, domain = accounts[n % ACCOUNTS]
            kind = n % 10
            if kind < 3:
                mail = make_sent_mail(session, account_id, resource_id, n, domain=domain)
                raws.append(arf_complaint(n, message_id=mail.message_id, from_domain=domain))
                group = "spam"
            elif kind < 5:
                raws.append(
                    arf_complaint(
                        n, message_id=f"f{n}@{domain}", from_domain=domain, feedback_type="fraud"
                    )
                )
                group = "phishing"
            elif kind < 7:
                subject = "Phishing page" if kind == 5 else "Unwanted mail"
                raws.append(
                    forwarded_complaint(
                        n, message_id=f"c{n}@{domain}", from_domain=domain, subject=subject
                    )
                )
                group = "phishing" if kind == 5 else "spam"
            else:
                stranger = f"stranger{n}.example"
                build_report = arf_complaint if kind < 9 else forwarded_complaint
                raws.append(build_report(n, message_id=f"u{n}@{stranger}", from_domain=stranger))
                continue
            expected[(account_id, group)] = expected.get((account_id, group), 0) + 1
    return raws, expected


def _start_worker(database_url: str, workdir: Path, name: str) -> subprocess.Popen[bytes]:
    with (workdir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "abusedesk", "worker", "--concurrency", "2"],
            cwd=workdir,
            env=cli_env(database_url, workdir, **WORKER_SETTINGS),
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _progress(database_url: str) -> dict[str, Any]:
    return {
        "reports": dict(sql(database_url, "SELECT status, count(*) FROM reports GROUP BY 1")),
        "jobs": dict(
            sql(
                database_url,
                "SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1",
            )
        ),
        "unaggregated": sql(
            database_url,
            "SELECT count(*) FROM events WHERE account_id IS NOT NULL AND aggregated_at IS NULL",
        )[0][0],
    }


def _wait_until(
    condition: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    database_url: str,
    workdir: Path,
    workers: list[subprocess.Popen[bytes]],
) -> None:
    deadline = time.monotonic() + timeout
    problem = f"timed out after {timeout:.0f}s waiting for {what}"
    while time.monotonic() < deadline:
        if condition():
            return
        if all(worker.poll() is not None for worker in workers):
            problem = f"every worker exited while waiting for {what}"
            break
        time.sleep(0.1)
    logs = "\n".join(
        f"--- {log.name} (last lines) ---\n" + "\n".join(log.read_text().splitlines()[-15:])
        for log in sorted(workdir.glob("*.log"))
    )
    raise AssertionError(f"{problem}; progress: {_progress(database_url)}\n{logs}")


def _done(database_url: str) -> int:
    return int(sql(database_url, "SELECT count(*) FROM reports WHERE status = 'done'")[0][0])


def _settled(database_url: str) -> bool:
    progress = _progress(database_url)
    open_jobs = progress["jobs"].get("todo", 0) + progress["jobs"].get("doing", 0)
    return (
        progress["reports"] == {"done": REPORTS}
        and progress["unaggregated"] == 0
        and open_jobs == 0
    )


def _kill_mid_way(
    workers: list[subprocess.Popen[bytes]],
    victim: subprocess.Popen[bytes],
    *,
    reached: int,
    database_url: str,
    workdir: Path,
) -> None:
    _wait_until(
        lambda: _done(database_url) >= reached,
        timeout=180,
        what=f"{reached} reports to be processed",
        database_url=database_url,
        workdir=workdir,
        workers=workers,
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)


def _outcome(container: Container) -> dict[str, Any]:
    with unit_of_work(container.sessions) as session:
        statuses = dict(
            session.execute(select(Report.status, func.count()).group_by(Report.status)).all()
        )
        events = session.scalar(select(func.count(Event.id)))
        duplicate_keys = session.execute(
            select(Event.report_id, Event.seq)
            .group_by(Event.report_id, Event.seq)
            .having(func.count() > 1)
        ).all()
        attributed_without_case = session.scalar(
            select(func.count(Event.id)).where(
                Event.account_id.is_not(None), Event.case_id.is_(None)
            )
        )
        cases = session.execute(
            select(
                Case.account_id,
                Case.category_group,
                Case.event_count,
                select(func.count(Event.id)).where(Event.case_id == Case.id).scalar_subquery(),
            )
        ).all()
    return {
        "statuses": statuses,
        "events": events,
        "duplicate_keys": duplicate_keys,
        "attributed_without_case": attributed_without_case,
        "case_counts": {(account, group): stored for account, group, stored, _ in cases},
        "cases_whose_count_disagrees": [
            (account, group) for account, group, stored, actual in cases if stored != actual
        ],
    }


@pytest.mark.slow
@pytest.mark.postgres
def test_killed_workers_lose_nothing_and_double_nothing(tmp_path: Path) -> None:
    """After SIGKILLs mid-way and replacement workers, every effect happened exactly once."""
    with job_database(tmp_path, job_schema=True) as database_url:
        container = job_engine_container(database_url, tmp_path)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            raws, expected_cases = _reports(container)
            for start in range(0, REPORTS, BATCH):
                container.intake.accept_many(
                    [Incoming(raw, "test", {}) for raw in raws[start : start + BATCH]]
                )
            workers = [_start_worker(database_url, tmp_path, name) for name in ("a", "b")]
            _kill_mid_way(
                workers,
                workers[0],
                reached=REPORTS // 3,
                database_url=database_url,
                workdir=tmp_path,
            )
            workers.append(_start_worker(database_url, tmp_path, "c"))
            _kill_mid_way(
                workers,
                workers[1],
                reached=2 * REPORTS // 3,
                database_url=database_url,
                workdir=tmp_path,
            )
            killed_with_work_left = _done(database_url) < REPORTS
            workers.append(_start_worker(database_url, tmp_path, "d"))

            _wait_until(
                lambda: _settled(database_url),
                timeout=300,
                what="every report processed and aggregated, and no job left",
                database_url=database_url,
                workdir=tmp_path,
                workers=workers,
            )
            for worker in workers[2:]:
                worker.send_signal(signal.SIGTERM)
            stopped = [worker.wait(60) for worker in workers[2:]]
            outcome = _outcome(container)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait(10)
            container.close()

    assert killed_with_work_left, "the second kill came after the last report; nothing to test"
    assert stopped == [0, 0]
    assert outcome == {
        "statuses": {"done": REPORTS},
        "events": REPORTS,
        "duplicate_keys": [],
        "attributed_without_case": 0,
        "case_counts": expected_cases,
        "cases_whose_count_disagrees": [],
    }
    assert sum(expected_cases.values()) == REPORTS * 7 // 10
