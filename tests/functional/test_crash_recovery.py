"""Nothing lost, nothing doubled: kill ``abusedesk serve`` mid-way and restart it."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import build
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Case, Event, Report
from tests.factories.arf import arf_report
from tests.factories.inventory import make_account, make_sent_mail
from tests.functional.cli import cli_env
from tests.support.databases import fresh_database
from tests.support.settings import private_settings

REPORTS = 3000
ACCOUNTS = 5
UNATTRIBUTABLE_EVERY = 7


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(database_url: str, workdir: Path) -> subprocess.Popen[bytes]:
    env = cli_env(
        database_url,
        workdir,
        ABUSEDESK_WEB__PORT=str(_free_port()),
        ABUSEDESK_SMTP__ENABLED="false",
        ABUSEDESK_JOBS__EMBEDDED_WORKERS="2",
        ABUSEDESK_JOBS__LEASE_SECONDS="2",
        ABUSEDESK_JOBS__SWEEP_INTERVAL_SECONDS="1",
    )
    with (workdir / "serve.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "abusedesk", "serve"],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=log,
        )


def _wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]  # a zero-argument callable
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.mark.slow
def test_killed_serve_process_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    """After SIGKILL and restart every report is processed once and case counts are exact."""
    with fresh_database("sqlite", tmp_path) as database_url:
        container = build(private_settings(database_url, tmp_path))
        raws: list[bytes] = []
        expected_per_account: dict[int, int] = {}
        with unit_of_work(container.sessions) as session:
            identities = [
                make_account(session, str(n), domain=f"sender{n}.example") for n in range(ACCOUNTS)
            ]
            for n in range(REPORTS):
                account_id, resource_id = identities[n % ACCOUNTS]
                domain = f"sender{n % ACCOUNTS}.example"
                if n % UNATTRIBUTABLE_EVERY == 0:
                    raws.append(
                        arf_report(
                            message_id=f"unknown-{n}@else.example",
                            from_domain="else.example",
                            serial=n,
                        )
                    )
                    continue
                mail = make_sent_mail(session, account_id, resource_id, n, domain=domain)
                raws.append(arf_report(message_id=mail.message_id, from_domain=domain, serial=n))
                expected_per_account[account_id] = expected_per_account.get(account_id, 0) + 1
        container.intake.accept_many([Incoming(raw, "test", {}) for raw in raws])

        def done() -> int:
            with unit_of_work(container.sessions) as session:
                return (
                    session.scalar(select(func.count(Report.id)).where(Report.status == "done"))
                    or 0
                )

        first = _serve(database_url, tmp_path)
        try:
            _wait_until(
                lambda: done() >= REPORTS // 5, 120, "a fifth of the reports to be processed"
            )
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        processed_before_restart = done()
        assert processed_before_restart < REPORTS, "the kill came too late to test recovery"

        second = _serve(database_url, tmp_path)
        try:

            def settled() -> bool:
                with unit_of_work(container.sessions) as session:
                    unfinished = session.scalar(
                        select(func.count(Report.id)).where(Report.status != "done")
                    )
                    unaggregated = session.scalar(
                        select(func.count(Event.id)).where(
                            Event.account_id.is_not(None), Event.aggregated_at.is_(None)
                        )
                    )
                return unfinished == 0 and unaggregated == 0

            _wait_until(settled, 300, "every report processed and aggregated after restart")
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)

        with unit_of_work(container.sessions) as session:
            events = session.scalar(select(func.count(Event.id)))
            distinct_keys = session.scalar(
                select(func.count()).select_from(
                    select(Event.report_id, Event.seq).distinct().subquery()
                )
            )
            cases = {
                account_id: (count, actual)
                for account_id, count, actual in session.execute(
                    select(
                        Case.account_id,
                        Case.event_count,
                        select(func.count(Event.id))
                        .where(Event.case_id == Case.id)
                        .scalar_subquery(),
                    )
                )
            }
            unattributed = session.scalar(
                select(func.count(Event.id)).where(Event.account_id.is_(None))
            )
        container.close()

    assert (events, distinct_keys) == (REPORTS, REPORTS)
    assert unattributed == len(range(0, REPORTS, UNATTRIBUTABLE_EVERY))
    assert {a: stored for a, (stored, _) in cases.items()} == expected_per_account
    assert all(stored == actual for stored, actual in cases.values())
