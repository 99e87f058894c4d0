"""The embedded job engine: worker threads inside the ``serve`` process, on any database."""

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.pipeline.casework import tend_cases
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.privacy.model import RetentionPolicy
from abusedesk.storage.audit import anchor_if_moved
from abusedesk.storage.cases import accounts_awaiting_aggregation
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory_store import prune_send_log, retention_cutoff
from abusedesk.storage.privacy import purge_once
from abusedesk.storage.reports import SqlReportRepository

log = structlog.get_logger(__name__)


class EmbeddedEngine:
    """Claim pending reports from the database and process them on threads.

    The reports table is the queue: a claimed report carries a lease, and a sweeper
    returns reports whose lease ran out (their worker died) and re-runs aggregation
    that a crash interrupted.
    """

    def __init__(
        self,
        sessions: sessionmaker[Session],
        reports: SqlReportRepository,
        processor: ReportProcessor,
        *,
        workers: int = 2,
        lease_seconds: int = 300,
        sweep_interval_seconds: float = 30,
        batch_size: int = 100,
        send_log_retention_days: int = 0,
        retention: RetentionPolicy | None = None,
        purge_batch_size: int = 500,
        tenders: Sequence[Callable[[datetime], object]] = (),
    ) -> None:
        # Further periodic work (e.g. enforcement retries and suppression pushes), each
        # called with the sweep's time; one that raises is logged and the others still run.
        self.tenders = list(tenders)
        # With a policy, each sweep also purges one batch of evidence past its period.
        self.retention = retention
        self.purge_batch_size = purge_batch_size
        self.sessions = sessions
        self.reports = reports
        self.processor = processor
        self.workers = workers
        self.lease = timedelta(seconds=lease_seconds)
        self.sweep_interval = sweep_interval_seconds
        self.batch_size = batch_size
        # 0 keeps the send log for ever; otherwise each sweep prunes one batch past it.
        self.send_log_retention_days = send_log_retention_days
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def notify(self, report_ids: Sequence[int]) -> None:
        """Wake the workers: new reports are waiting."""
        del report_ids
        self._wake.set()

    def start(self) -> None:
        """Reclaim what a previous run left in flight, then start the threads."""
        with unit_of_work(self.sessions) as session:
            released = self.reports.release_all_processing(session)
            accounts = accounts_awaiting_aggregation(session, before=utcnow(), limit=100_000)
        for account_id in accounts:
            self.processor.aggregate_account(account_id)
        if released or accounts:
            log.info("work_reclaimed", reports=released, accounts=len(accounts))
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._work_loop, name=f"abusedesk-worker-{n}", daemon=True)
            for n in range(self.workers)
        ]
        self._threads.append(
            threading.Thread(target=self._sweep_loop, name="abusedesk-sweeper", daemon=True)
        )
        for thread in self._threads:
            thread.start()
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        """Ask the threads to finish their current report and wait for them."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)

    def run_once(self) -> int:
        """Claim and process one batch on the calling thread; return how many were handled."""
        with unit_of_work(self.sessions) as session:
            ids = self.reports.claim(session, now=utcnow(), lease=self.lease, limit=self.batch_size)
        accounts: set[int] = set()
        if ids:
            for outcome in self.processor.process_reports(ids):
                accounts.update(outcome.accounts)
        if accounts:
            self.processor.aggregate_accounts(sorted(accounts))
        return len(ids)

    def sweep(self) -> None:
        """Return expired leases to the queue and finish aggregation a crash interrupted."""
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            released = self.reports.release_expired_leases(session, now=now)
            accounts = accounts_awaiting_aggregation(session, before=now - self.lease, limit=1000)
        for account_id in accounts:
            self.processor.aggregate_account(account_id)
        if released or accounts:
            log.info("sweep", released=released, accounts=len(accounts))
            self._wake.set()
        cutoff = retention_cutoff(self.send_log_retention_days, now)
        if cutoff is not None:
            with unit_of_work(self.sessions) as session:
                pruned = prune_send_log(session, cutoff, max_batches=1)
            if pruned:
                log.info("send_log_pruned", rows=pruned)
        if self.retention is not None:
            purge_once(
                self.sessions,
                self.reports.evidence,
                self.retention,
                limit=self.purge_batch_size,
                now=now,
            )
        tend_cases(self.sessions)
        self.run_tenders(now)
        anchor_if_moved(self.sessions, now=now)

    def run_tenders(self, now: datetime) -> None:
        """Run each further sweep step at *now*; one that raises is logged, the rest still run."""
        for tend in self.tenders:
            try:
                tend(now)
            except Exception:
                log.exception("sweep_tender_failed", tender=getattr(tend, "__name__", repr(tend)))

    def _work_loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:
                # A loop boundary: log and carry on; the claimed reports' leases expire
                # and the sweeper hands them out again, so nothing is lost.
                log.exception("worker_batch_failed")
                handled = 0
            if handled == 0:
                self._wake.wait(timeout=1.0)
                self._wake.clear()

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.sweep_interval):
            try:
                self.sweep()
            except Exception:
                log.exception("sweep_failed")
