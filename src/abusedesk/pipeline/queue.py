"""The scale job engine: ``abusedesk worker`` processes on PostgreSQL, through procrastinate.

The reports table stays the source of truth; procrastinate's jobs are only hints about
what to do next. A report is ``pending`` until ``process_report`` commits it ``done`` or
``quarantined``, and an event waits for aggregation until ``aggregated_at`` is set. A
job can therefore be lost, run twice or run late without losing or doubling anything:
both task functions are one transaction each and idempotent (see
``pipeline/processor.py``), and a periodic sweep turns every piece of unfinished work it
finds in our own tables back into a job.

Jobs, their locks and their queues:

- ``process_report(report_id)`` on the ``reports`` queue, with ``queueing_lock``
  ``report:<id>``: a report never has two jobs waiting. It has no ``lock``: procrastinate
  checks a job's lock against every other waiting job each time a worker fetches one,
  which with a lock per report costs a scan of the whole backlog per job. The rare
  overlap (a stalled job retried while its worker still runs) is harmless, because
  events are upserted by ``(report_id, seq)``. After the report's transaction commits,
  the job defers ``aggregate_account`` for every account its events were attributed to.
- ``aggregate_account(account_id)`` on the ``aggregation`` queue, with ``lock``
  ``account:<id>`` (jobs of one account run one at a time, in order) and
  ``queueing_lock`` ``aggregate:<id>`` (at most one waits). A defer that finds one
  already waiting is dropped: the waiting job folds every event of the account not yet
  aggregated, including the new ones, because ``fold_account_events`` takes them all.
- ``sweep`` on the ``sweep`` queue, periodic (``jobs.sweep_interval_seconds``), with
  ``queueing_lock`` ``sweep``. It (a) re-defers ``process_report`` for reports pending
  longer than ``jobs.stale_pending_seconds`` that have no job waiting or running,
  (b) re-defers aggregation for accounts with events awaiting it, and (c) retries jobs
  left ``doing`` by a worker that stopped sending heartbeats for
  ``jobs.stalled_after_seconds``, which frees the per-account lock they hold.

Both task functions retry with exponential backoff when they raise (a database that went
away, say); a report whose job gave up is still ``pending`` and the sweep hands it out
again later. Failures inside a stage are not job failures: the processor settles them on
the report (retry later, or quarantine), and a transient one is re-deferred for when the
processor's backoff ends.

What happens on a crash, at each point:

- Intake commits, then the process dies before deferring: the report is ``pending``
  with no job; the sweep defers it once it is ``stale_pending_seconds`` old.
- Deferring fails (database briefly unreachable): logged as ``report_defer_failed``;
  the same sweep picks the report up.
- A worker dies inside ``process_report``: its transaction rolls back, the job stays
  ``doing`` under a worker whose heartbeat stops; the sweep retries it once the worker
  is ``stalled_after_seconds`` silent.
- A worker dies after ``process_report`` committed but before deferring aggregation: the
  events wait with ``aggregated_at`` unset; the sweep defers their accounts. The job,
  still ``doing``, is retried too, finds the report ``done`` and does nothing.
- A worker dies inside ``aggregate_account``: the transaction and PostgreSQL's advisory
  lock go with the connection; the stalled job is retried and folds the same events.
- A worker is stopped with SIGINT or SIGTERM: it takes no new job, lets the running ones
  finish and records them, then leaves procrastinate's list of workers.
- A job is retried while an identical one already waits (same queueing lock): the
  retried copy is closed as failed instead, since the waiting job does the same work.
  procrastinate itself would raise there and leave the job ``doing`` for good, holding
  its lock; ``_SupersedingJobManager`` is the one change made to its behaviour.

The task functions reach the worker's ``Container`` through procrastinate's job context:
``run_worker`` passes it as ``additional_context["container"]``, built once per worker
process by ``abusedesk worker`` from the settings. Nothing is kept in module globals.
"""

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import psycopg
import structlog
from procrastinate import App, JobContext, PsycopgConnector, RetryStrategy, SyncPsycopgConnector
from procrastinate import exceptions as procrastinate_errors
from procrastinate import jobs as procrastinate_jobs
from procrastinate import manager as procrastinate_manager
from procrastinate import worker as procrastinate_worker
from procrastinate.connector import BaseConnector
from procrastinate.schema import SchemaManager
from sqlalchemy.engine import make_url

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.pipeline.casework import tend_cases
from abusedesk.storage.audit import anchor_if_moved
from abusedesk.storage.cases import accounts_awaiting_aggregation
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory_store import prune_send_log, retention_cutoff
from abusedesk.storage.privacy import purge_once
from abusedesk.storage.reports import ReportStatus

if TYPE_CHECKING:
    from abusedesk.bootstrap import Container

log = structlog.get_logger(__name__)

PROCESS_REPORT: Final = "abusedesk.process_report"
AGGREGATE_ACCOUNT: Final = "abusedesk.aggregate_account"
SWEEP: Final = "abusedesk.sweep"

REPORTS_QUEUE: Final = "reports"
AGGREGATION_QUEUE: Final = "aggregation"
SWEEP_QUEUE: Final = "sweep"
QUEUES: Final = (REPORTS_QUEUE, AGGREGATION_QUEUE, SWEEP_QUEUE)

CONTAINER_KEY: Final = "container"

# The sweep jumps the queue: a backlog of reports must not delay retrying a stalled job
# whose per-account lock holds up that account's aggregation.
SWEEP_PRIORITY: Final = 10
# How many reports and accounts one sweep looks at; the next sweep takes the rest.
SWEEP_BATCH: Final = 1000
# How long intake waits for the database when deferring; the sweep covers a failure.
DEFER_CONNECT_TIMEOUT_SECONDS: Final = 5

# Serialises concurrent ``db upgrade`` runs around procrastinate's schema.
_SCHEMA_LOCK_SQL: Final = "SELECT pg_advisory_xact_lock(hashtext('abusedesk:procrastinate-schema'))"
_SCHEMA_EXISTS_SQL: Final = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
# A job keeps its queueing lock while it runs, so this finds reports waiting or running.
_LIVE_QUEUEING_LOCKS_SQL: Final = (
    "SELECT DISTINCT queueing_lock FROM procrastinate_jobs"
    " WHERE status IN ('todo', 'doing') AND queueing_lock = ANY(%(locks)s)"
)
_WAITING_QUEUEING_LOCKS_SQL: Final = (
    "SELECT queueing_lock FROM procrastinate_jobs"
    " WHERE status = 'todo' AND queueing_lock = ANY(%(locks)s)"
)


class JobEngineUnavailable(AbuseDeskError):
    """Raise when the procrastinate engine cannot run on the configured database."""


def report_lock(report_id: int) -> str:
    """Return the queueing lock of a report's ``process_report`` jobs."""
    return f"report:{report_id}"


def account_lock(account_id: int) -> str:
    """Return the lock that serialises an account's aggregation jobs."""
    return f"account:{account_id}"


def aggregation_queueing_lock(account_id: int) -> str:
    """Return the queueing lock that keeps one aggregation job of an account waiting."""
    return f"aggregate:{account_id}"


def conninfo(url: str) -> str:
    """Return the libpq connection string for a SQLAlchemy database URL; refuse non-PostgreSQL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend != "postgresql":
        raise JobEngineUnavailable(
            f"the procrastinate job engine needs PostgreSQL, but the database URL is {backend}; "
            "set ABUSEDESK_DATABASE__URL=postgresql://... or use ABUSEDESK_JOBS__BACKEND=embedded"
        )
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def sweep_cron(interval_seconds: int) -> str:
    """Return the cron line (with a seconds column) that runs the sweep every so often.

    Intervals under a minute are counted within each minute, so one that does not divide
    60 is shorter once at the top of the minute; longer ones are rounded to whole minutes.
    """
    seconds = max(1, int(interval_seconds))
    if seconds < 60:
        return f"* * * * * */{seconds}"
    minutes = min(59, seconds // 60)
    return f"*/{minutes} * * * *"


class _SupersedingJobManager(procrastinate_manager.JobManager):
    """procrastinate's job manager, closing a retried job that an identical waiting job supersedes."""

    async def retry_job_by_id_async(
        self,
        job_id: int,
        retry_at: datetime,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        """Put the job back to ``todo``, or close it when its queueing lock already waits."""
        try:
            await super().retry_job_by_id_async(
                job_id=job_id, retry_at=retry_at, priority=priority, queue=queue, lock=lock
            )
        except procrastinate_errors.UniqueViolation as exc:
            if exc.constraint_name != procrastinate_manager.QUEUEING_LOCK_CONSTRAINT:
                raise
            await self.finish_job_by_id_async(
                job_id=job_id, status=procrastinate_jobs.Status.FAILED, delete_job=False
            )
            log.info("job_superseded", job_id=job_id)


def make_app(
    url: str,
    *,
    sync: bool = False,
    pool_size: int = 4,
    max_attempts: int = 5,
    backoff_base_seconds: float = 2.0,
    sweep_interval_seconds: int = 30,
    periodic_sweep: bool = True,
) -> App:
    """Return a procrastinate App on the PostgreSQL database at *url*, with abusedesk's tasks.

    ``sync=True`` gives an App for processes that only defer jobs (intake, the CLI); a
    worker needs the asynchronous connector, opened by ``run_worker``. Without
    ``periodic_sweep`` its workers never schedule the sweep themselves (tests run it
    by hand with ``sweep_once``).
    """
    info = conninfo(url)
    connector: BaseConnector = (
        SyncPsycopgConnector(conninfo=info, min_size=1, max_size=2)
        if sync
        else PsycopgConnector(conninfo=info, min_size=1, max_size=max(2, pool_size))
    )
    app = App(connector=connector)
    app.job_manager = _SupersedingJobManager(connector=connector)
    # procrastinate's exponential wait is an integer base: 2 s gives 2, 4, 8, 16 ... seconds.
    retry = RetryStrategy(
        max_attempts=max_attempts, exponential_wait=max(2, round(backoff_base_seconds))
    )
    app.task(name=PROCESS_REPORT, queue=REPORTS_QUEUE, pass_context=True, retry=retry)(
        process_report_task
    )
    app.task(name=AGGREGATE_ACCOUNT, queue=AGGREGATION_QUEUE, pass_context=True, retry=retry)(
        aggregate_account_task
    )
    sweep = app.task(name=SWEEP, queue=SWEEP_QUEUE, pass_context=True, priority=SWEEP_PRIORITY)(
        sweep_task
    )
    if periodic_sweep:
        app.periodic(
            cron=sweep_cron(sweep_interval_seconds),
            periodic_id="sweep",
            queueing_lock="sweep",
            priority=SWEEP_PRIORITY,
        )(sweep)
    return app


def process_report_job(
    app: App, report_id: int, *, schedule_in_seconds: float | None = None, connection: Any = None
) -> procrastinate_jobs.JobDeferrer:
    """Return the deferrer of a ``process_report`` job for one report, with its locks."""
    return app.configure_task(
        PROCESS_REPORT,
        queueing_lock=report_lock(report_id),
        task_kwargs={"report_id": report_id},
        schedule_in=None if schedule_in_seconds is None else {"seconds": schedule_in_seconds},
        connection=connection,
    )


def aggregation_job(app: App, account_id: int) -> procrastinate_jobs.JobDeferrer:
    """Return the deferrer of an ``aggregate_account`` job for one account, with its locks."""
    return app.configure_task(
        AGGREGATE_ACCOUNT,
        lock=account_lock(account_id),
        queueing_lock=aggregation_queueing_lock(account_id),
        task_kwargs={"account_id": account_id},
    )


def defer_aggregations(app: App, account_ids: Iterable[int]) -> int:
    """Defer aggregation for each account unless one already waits; return how many were new."""
    deferred = 0
    for account_id in account_ids:
        try:
            aggregation_job(app, account_id).defer()
        except procrastinate_errors.AlreadyEnqueued:
            continue
        deferred += 1
    return deferred


def container_of(context: JobContext) -> "Container":
    """Return the worker's container from a job's context, or say how the worker was misstarted."""
    container = context.additional_context.get(CONTAINER_KEY)
    if container is None:
        raise JobEngineUnavailable(
            "this worker was started without abusedesk's container; run it with `abusedesk worker`"
        )
    return container  # type: ignore[no-any-return]  # additional_context is an untyped dict


def process_report_task(context: JobContext, report_id: int) -> str:
    """Process one report, then defer aggregation for the accounts its events name."""
    container = container_of(context)
    try:
        outcome = container.processor.process_report(report_id)
    except NotFound:
        # Nothing to do and nothing to retry: the report is gone (retention, a test reset).
        log.warning("report_missing", report_id=report_id)
        return "missing"
    if outcome.status == ReportStatus.PENDING:
        _defer_processor_retry(context.app, container, report_id)
    if outcome.accounts:
        try:
            defer_aggregations(context.app, outcome.accounts)
        except procrastinate_errors.ConnectorException:
            # The report is done and committed; the sweep aggregates its events later.
            log.warning(
                "aggregation_defer_failed", report_id=report_id, accounts=len(outcome.accounts)
            )
    return outcome.status


def _defer_processor_retry(app: App, container: "Container", report_id: int) -> None:
    # The processor recorded a transient failure and the time of the next attempt; a job
    # scheduled for that time carries it out (the sweep would, but only much later).
    with unit_of_work(container.sessions) as session:
        attempts = container.reports.get(session, report_id).attempts
    delay = container.processor.backoff_base_seconds * 2 ** max(0, attempts - 1)
    with contextlib.suppress(procrastinate_errors.AlreadyEnqueued):
        process_report_job(app, report_id, schedule_in_seconds=delay).defer()


def aggregate_account_task(context: JobContext, account_id: int) -> int:
    """Fold one account's events awaiting aggregation into its cases; return cases touched."""
    return len(container_of(context).processor.aggregate_account(account_id))


@dataclass(frozen=True)
class SweepOutcome:
    """What one sweep handed out again."""

    reports: int
    accounts: int
    stalled_jobs: int
    released_leases: int


async def sweep_task(context: JobContext, timestamp: int) -> dict[str, int]:
    """Run one sweep (the periodic job); *timestamp* is the tick it was deferred for."""
    del timestamp
    outcome = await sweep_once(context.app, container_of(context))
    return {
        "reports": outcome.reports,
        "accounts": outcome.accounts,
        "stalled_jobs": outcome.stalled_jobs,
    }


async def sweep_once(app: App, container: "Container") -> SweepOutcome:
    """Hand out again the work whose job was lost or stalled; idempotent, safe to run anywhere."""
    jobs = container.settings.jobs
    stalled = await _retry_stalled_jobs(app, stalled_after_seconds=jobs.stalled_after_seconds)
    released, report_ids, account_ids = await asyncio.to_thread(
        _find_unfinished_work, container, utcnow() - timedelta(seconds=jobs.stale_pending_seconds)
    )

    live = await _matching_locks(
        app, _LIVE_QUEUEING_LOCKS_SQL, [report_lock(i) for i in report_ids]
    )
    orphans = [i for i in report_ids if report_lock(i) not in live]
    if orphans:
        # A job may have finished between reading the reports and reading the jobs; only
        # reports still pending now were really left without one.
        orphans = await asyncio.to_thread(_still_pending, container, orphans)
    reports = 0
    for report_id in orphans:
        if await _defer_async(process_report_job(app, report_id).defer_async):
            reports += 1

    waiting = await _matching_locks(
        app, _WAITING_QUEUEING_LOCKS_SQL, [aggregation_queueing_lock(a) for a in account_ids]
    )
    accounts = 0
    for account_id in account_ids:
        if aggregation_queueing_lock(account_id) not in waiting and await _defer_async(
            aggregation_job(app, account_id).defer_async
        ):
            accounts += 1

    pruned = await asyncio.to_thread(_prune_send_log, container)
    if pruned:
        log.info("send_log_pruned", rows=pruned)
    # One batch per evidence class a sweep: evidence past its retention goes gradually.
    retention = container.settings.retention
    await asyncio.to_thread(
        purge_once,
        container.sessions,
        container.reports.evidence,
        retention.policy(),
        limit=retention.purge_batch_size,
    )
    await asyncio.to_thread(tend_cases, container.sessions)
    # The same further steps as the embedded sweep (enforcement retries, deliveries).
    await asyncio.to_thread(container.embedded.run_tenders, utcnow())
    await asyncio.to_thread(anchor_if_moved, container.sessions, now=utcnow())
    outcome = SweepOutcome(reports, accounts, stalled, released)
    if reports or accounts or stalled or released:
        log.info(
            "sweep",
            reports=reports,
            accounts=accounts,
            stalled_jobs=stalled,
            released_leases=released,
        )
    return outcome


def _find_unfinished_work(
    container: "Container", before: datetime
) -> tuple[int, list[int], list[int]]:
    with unit_of_work(container.sessions) as session:
        # Reports an embedded engine left under a lease that ran out (a deployment that
        # moved from the embedded engine to workers) are pending work like any other.
        released = container.reports.release_expired_leases(session, now=utcnow())
        report_ids = container.reports.stale_pending(session, before=before, limit=SWEEP_BATCH)
        account_ids = accounts_awaiting_aggregation(session, before=before, limit=SWEEP_BATCH)
    return released, report_ids, sorted(account_ids)


def _prune_send_log(container: "Container") -> int:
    # One batch a sweep: the send log past its retention shrinks without long locks.
    days = container.settings.inventory.send_log_retention_days
    cutoff = retention_cutoff(days, utcnow())
    if cutoff is None:
        return 0
    with unit_of_work(container.sessions) as session:
        return prune_send_log(session, cutoff, max_batches=1)


def _still_pending(container: "Container", report_ids: list[int]) -> list[int]:
    with unit_of_work(container.sessions) as session:
        return [
            report_id
            for report_id in report_ids
            if container.reports.get(session, report_id).status == ReportStatus.PENDING
        ]


async def _matching_locks(app: App, query: str, locks: list[str]) -> set[str]:
    if not locks:
        return set()
    rows = await app.connector.execute_query_all_async(query, locks=locks)
    return {next(iter(row.values())) for row in rows}


async def _defer_async(defer: Callable[[], Awaitable[int]]) -> bool:
    try:
        await defer()
    except procrastinate_errors.AlreadyEnqueued:
        return False
    return True


async def _retry_stalled_jobs(app: App, *, stalled_after_seconds: float) -> int:
    stalled = list(
        await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after_seconds)
    )
    retried = 0
    for job in stalled:
        try:
            await app.job_manager.retry_job(job)
        except procrastinate_errors.ConnectorException:
            # Finished or retried by someone else in the meantime: nothing left to do.
            log.info("stalled_job_already_settled", job_id=job.id)
            continue
        retried += 1
        log.warning("stalled_job_retried", job_id=job.id, task=job.task_name, lock=job.lock)
    # Dead workers' rows go too; their jobs were just retried.
    await app.job_manager.prune_stalled_workers(stalled_after_seconds)
    return retried


class ProcrastinateQueue:
    """Tell procrastinate workers about stored reports: one ``process_report`` job each."""

    def __init__(self, url: str) -> None:
        self.conninfo = conninfo(url)
        self.app = make_app(url, sync=True)

    def defer_reports(self, report_ids: Sequence[int]) -> None:
        """Defer a job for each report; a failure is logged, and the sweep defers them later."""
        if not report_ids:
            return
        try:
            # One short connection per batch: nothing to close when the process ends. The
            # report is already committed, so a database that does not answer must not hold
            # the channel (and its acknowledgement) for long.
            with psycopg.connect(
                self.conninfo, autocommit=True, connect_timeout=DEFER_CONNECT_TIMEOUT_SECONDS
            ) as connection:
                deferred = self._defer(report_ids, connection)
        except (psycopg.Error, procrastinate_errors.ConnectorException) as exc:
            log.warning(
                "report_defer_failed",
                reports=len(report_ids),
                first_report_id=min(report_ids),
                error=type(exc).__name__,
            )
            return
        log.info("reports_deferred", reports=len(report_ids), deferred=deferred)

    def _defer(self, report_ids: Sequence[int], connection: psycopg.Connection[Any]) -> int:
        jobs = [process_report_job(self.app, report_id).make_new_job() for report_id in report_ids]
        try:
            self.app.job_manager.batch_defer_jobs(jobs, connection=connection)
        except procrastinate_errors.AlreadyEnqueued:
            # Some already wait (deferred twice, or by the sweep); the batch was refused
            # whole, so defer one by one and skip those.
            deferred = 0
            for report_id in report_ids:
                try:
                    process_report_job(self.app, report_id, connection=connection).defer()
                except procrastinate_errors.AlreadyEnqueued:
                    continue
                deferred += 1
            return deferred
        return len(jobs)


def schema_exists(url: str) -> bool:
    """Tell whether procrastinate's tables exist in the database at *url*."""
    with psycopg.connect(conninfo(url)) as connection:
        row = connection.execute(_SCHEMA_EXISTS_SQL).fetchone()
    return bool(row and row[0])


def apply_schema(url: str) -> bool:
    """Create procrastinate's schema unless it exists; return whether it was created now."""
    with psycopg.connect(conninfo(url)) as connection:
        connection.execute(_SCHEMA_LOCK_SQL)
        row = connection.execute(_SCHEMA_EXISTS_SQL).fetchone()
        if row and row[0]:
            return False
        connection.execute(SchemaManager.get_schema())
    log.info("job_schema_applied")
    return True


async def run_worker(
    app: App,
    container: "Container",
    *,
    concurrency: int = 1,
    queues: Sequence[str] | None = None,
    wait: bool = True,
    name: str | None = None,
    handle_signals: bool = False,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run a procrastinate worker with *container* for its tasks until stopped.

    With ``wait=False`` it returns once no job is left to start. With
    ``handle_signals=True`` the first SIGINT or SIGTERM stops it gracefully (running jobs
    finish and are recorded) and a second one ends the process. *on_ready* is called
    with the worker's id once it is registered.
    """
    jobs = container.settings.jobs
    async with app.open_async():
        worker = procrastinate_worker.Worker(
            app=app,
            queues=list(queues) if queues else None,
            name=name or "abusedesk",
            concurrency=concurrency,
            wait=wait,
            # A worker that runs until stopped hears of new jobs at once instead of at the
            # next poll; one that drains the queue and returns needs no listener.
            listen_notify=wait,
            delete_jobs=procrastinate_jobs.DeleteJobCondition.SUCCESSFUL,
            additional_context={CONTAINER_KEY: container},
            install_signal_handlers=False,
            update_heartbeat_interval=jobs.heartbeat_seconds,
            stalled_worker_timeout=jobs.stalled_after_seconds,
        )
        running = asyncio.create_task(
            worker.run(),  # type: ignore[no-untyped-call]  # procrastinate leaves run() unannotated
            name="abusedesk-worker",
        )
        # Let run() start (it clears any earlier stop request) before signals can stop it.
        await asyncio.sleep(0)
        with _stop_on_signals(worker.stop) if handle_signals else contextlib.nullcontext():
            while worker.worker_id is None and not running.done():
                await asyncio.sleep(0.05)
            if on_ready is not None and worker.worker_id is not None:
                on_ready(worker.worker_id)
            await running


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Any:
    loop = asyncio.get_running_loop()
    watched = (signal.SIGINT, signal.SIGTERM)

    def first_signal() -> None:
        log.info("worker_stopping", reason="signal")
        for number in watched:
            loop.remove_signal_handler(number)
        stop()

    for number in watched:
        loop.add_signal_handler(number, first_signal)
    try:
        yield
    finally:
        for number in watched:
            loop.remove_signal_handler(number)
