"""The procrastinate job engine on PostgreSQL: deferring, running, sweeping, stalled jobs."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.pipeline.queue import (
    JobEngineUnavailable,
    ProcrastinateQueue,
    aggregation_job,
    apply_schema,
    make_app,
    run_worker,
    schema_exists,
    sweep_once,
)
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Case, Event, Report
from tests.factories.inventory import make_account
from tests.factories.reports import arf_complaint, forwarded_complaint
from tests.support.jobs import job_database, job_engine_container, sql
from tests.support.parsers import FlakyParser


@pytest.fixture
def queue_url(tmp_path: Path) -> Iterator[str]:
    """Return a fresh migrated PostgreSQL database with procrastinate's schema."""
    with job_database(tmp_path, job_schema=True) as url:
        yield url


@pytest.fixture
def engine_container(queue_url: str, tmp_path: Path) -> Iterator[Container]:
    """Return the application wired to the procrastinate engine on the queue database."""
    built = job_engine_container(queue_url, tmp_path, stale_pending_seconds=0)
    yield built
    built.close()


def _open_jobs(url: str) -> list[tuple[str, str]]:
    return [
        (task, status)
        for task, status in sql(
            url,
            "SELECT task_name, status::text FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') ORDER BY id",
        )
    ]


def _drain(container: Container) -> None:
    """Run an in-process worker until no job waits or runs (jobs may defer more jobs)."""
    url = container.settings.database.url
    app = make_app(url, periodic_sweep=False)
    for _ in range(10):
        asyncio.run(run_worker(app, container, concurrency=2, wait=False))
        if not _open_jobs(url):
            return
    raise AssertionError(f"jobs still open after 10 worker runs: {_open_jobs(url)}")


def _sweep(container: Container) -> tuple[int, int, int]:
    app = make_app(container.settings.database.url, periodic_sweep=False)

    async def once() -> tuple[int, int, int]:
        async with app.open_async():
            outcome = await sweep_once(app, container)
        return outcome.reports, outcome.accounts, outcome.stalled_jobs

    return asyncio.run(once())


def _accounts(container: Container) -> tuple[int, int]:
    with unit_of_work(container.sessions) as session:
        first, _ = make_account(session, "7001", domain="one.example")
        second, _ = make_account(session, "7002", domain="two.example")
    return first, second


def _store_without_job(container: Container, raw: bytes) -> int:
    # Committed but never deferred: what a crash between intake's commit and its defer leaves.
    with unit_of_work(container.sessions) as session:
        return container.reports.store(
            session, raw, channel="test", envelope={}, received_at=utcnow()
        ).report_id


def _case_counts(container: Container) -> dict[tuple[int, str], int]:
    with unit_of_work(container.sessions) as session:
        rows = session.execute(select(Case.account_id, Case.category_group, Case.event_count))
        return {(account_id, group): count for account_id, group, count in rows}


def _statuses(container: Container) -> dict[str, int]:
    with unit_of_work(container.sessions) as session:
        query = select(Report.status, func.count()).group_by(Report.status)
        return dict(session.execute(query).all())


@pytest.mark.postgres
def test_deferred_reports_are_processed_and_folded_into_cases(
    engine_container: Container,
) -> None:
    """Reports deferred by intake are processed by a worker and counted once in their cases."""
    first, second = _accounts(engine_container)
    raws = [
        arf_complaint(n, message_id=f"m{n}@one.example", from_domain="one.example")
        for n in range(6)
    ]
    raws += [
        forwarded_complaint(
            10 + n, message_id=f"m{n}@two.example", from_domain="two.example", subject="Phishing"
        )
        for n in range(3)
    ]
    raws += [
        arf_complaint(20 + n, message_id=f"m{n}@nobody.example", from_domain="nobody.example")
        for n in range(2)
    ]
    engine_container.intake.accept_many([Incoming(raw, "test", {}) for raw in raws])

    _drain(engine_container)

    with unit_of_work(engine_container.sessions) as session:
        events = session.scalar(select(func.count(Event.id)))
    assert {
        "statuses": _statuses(engine_container),
        "events": events,
        "cases": _case_counts(engine_container),
        "open_jobs": _open_jobs(engine_container.settings.database.url),
    } == {
        "statuses": {"done": 11},
        "events": 11,
        "cases": {(first, "spam"): 6, (second, "phishing"): 3},
        "open_jobs": [],
    }


@pytest.mark.postgres
def test_deferring_a_report_twice_leaves_one_job_and_one_event(
    engine_container: Container,
) -> None:
    """A second defer of a waiting report adds no job; processing yields one event."""
    first, _ = _accounts(engine_container)
    raw = arf_complaint(1, message_id="twice@one.example", from_domain="one.example")
    (stored,) = engine_container.intake.accept_many([Incoming(raw, "test", {})])
    ProcrastinateQueue(engine_container.settings.database.url).defer_reports([stored.report_id])
    waiting = _open_jobs(engine_container.settings.database.url)

    _drain(engine_container)

    assert (waiting, _case_counts(engine_container)) == (
        [("abusedesk.process_report", "todo")],
        {(first, "spam"): 1},
    )


@pytest.mark.postgres
def test_sweep_defers_a_pending_report_whose_job_was_lost(engine_container: Container) -> None:
    """A report committed without a job is deferred by the sweep and then processed."""
    first, _ = _accounts(engine_container)
    _store_without_job(
        engine_container, arf_complaint(1, message_id="lost@one.example", from_domain="one.example")
    )

    swept = _sweep(engine_container)
    _drain(engine_container)

    assert (swept, _statuses(engine_container), _case_counts(engine_container)) == (
        (1, 0, 0),
        {"done": 1},
        {(first, "spam"): 1},
    )


@pytest.mark.postgres
def test_sweep_leaves_a_report_whose_job_waits(engine_container: Container) -> None:
    """A stale pending report that still has a waiting job gets no second one."""
    raw = arf_complaint(1, message_id="waits@one.example", from_domain="one.example")
    engine_container.intake.accept_many([Incoming(raw, "test", {})])

    swept = _sweep(engine_container)

    assert (swept, _open_jobs(engine_container.settings.database.url)) == (
        (0, 0, 0),
        [("abusedesk.process_report", "todo")],
    )


@pytest.mark.postgres
def test_sweep_defers_aggregation_that_a_crash_skipped(engine_container: Container) -> None:
    """Events of a processed report whose aggregation was never deferred reach their case."""
    first, _ = _accounts(engine_container)
    for n in range(3):
        report_id = _store_without_job(
            engine_container,
            arf_complaint(n, message_id=f"agg{n}@one.example", from_domain="one.example"),
        )
        # Processed and committed, then the worker died before deferring aggregation.
        engine_container.processor.process_report(report_id)

    swept = _sweep(engine_container)
    _drain(engine_container)

    assert (swept, _case_counts(engine_container)) == ((0, 1, 0), {(first, "spam"): 3})


def _defer_aggregation(url: str, account_id: int) -> int:
    app = make_app(url, sync=True, periodic_sweep=False)
    with app.open():
        return aggregation_job(app, account_id).defer()


async def _take_job_and_die(url: str) -> int:
    """Let a worker that then stops heartbeating take the next job; return the job's id."""
    app = make_app(url, periodic_sweep=False)
    async with app.open_async():
        worker_id = await app.job_manager.register_worker()
        job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
    assert job is not None
    assert job.id is not None
    sql(
        url,
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour' WHERE id = %s",
        worker_id,
    )
    return job.id


@pytest.mark.postgres
def test_sweep_retries_a_stalled_job_and_frees_its_account_lock(
    engine_container: Container,
) -> None:
    """An aggregation job left running by a dead worker is retried and the case is counted."""
    first, _ = _accounts(engine_container)
    url = engine_container.settings.database.url
    report_id = _store_without_job(
        engine_container, arf_complaint(1, message_id="st@one.example", from_domain="one.example")
    )
    engine_container.processor.process_report(report_id)
    _defer_aggregation(url, first)
    asyncio.run(_take_job_and_die(url))

    swept = _sweep(engine_container)
    _drain(engine_container)

    assert (swept, _case_counts(engine_container), _open_jobs(url)) == (
        (0, 0, 1),
        {(first, "spam"): 1},
        [],
    )


@pytest.mark.postgres
def test_stalled_job_with_a_waiting_twin_is_closed_as_failed(engine_container: Container) -> None:
    """Retrying a stalled job whose queueing lock already waits closes it; the twin stays."""
    first, _ = _accounts(engine_container)
    url = engine_container.settings.database.url
    _defer_aggregation(url, first)
    stalled_id = asyncio.run(_take_job_and_die(url))
    twin_id = _defer_aggregation(url, first)

    _sweep(engine_container)

    statuses = dict(sql(url, "SELECT id, status::text FROM procrastinate_jobs ORDER BY id"))
    assert statuses == {stalled_id: "failed", twin_id: "todo"}


@pytest.mark.postgres
def test_transient_failure_schedules_the_next_attempt_after_the_backoff(
    engine_container: Container,
) -> None:
    """A report whose stage failed transiently stays pending, with a job due after the backoff."""
    engine_container.processor = ReportProcessor(
        engine_container.sessions,
        engine_container.reports,
        ParserRegistry([FlakyParser()]),
        max_attempts=3,
        backoff_base_seconds=600,
    )
    url = engine_container.settings.database.url
    engine_container.intake.accept_many([Incoming(b"Subject: hi\r\n\r\nbody", "test", {})])

    asyncio.run(run_worker(make_app(url, periodic_sweep=False), engine_container, wait=False))

    jobs = sql(
        url,
        "SELECT task_name, status::text, scheduled_at > now() + interval '5 minutes'"
        " FROM procrastinate_jobs WHERE status IN ('todo', 'doing')",
    )
    assert (_statuses(engine_container), jobs) == (
        {"pending": 1},
        [("abusedesk.process_report", "todo", True)],
    )


@pytest.mark.postgres
def test_failed_defer_keeps_the_report_pending_for_the_sweep(engine_container: Container) -> None:
    """When the queue is unreachable, deferring logs and returns; the report stays pending."""
    report_id = _store_without_job(
        engine_container, arf_complaint(1, message_id="down@one.example", from_domain="one.example")
    )
    unreachable = ProcrastinateQueue("postgresql://postgres@127.0.0.1:1/nothing")

    unreachable.defer_reports([report_id])

    with unit_of_work(engine_container.sessions) as session:
        status = session.scalar(select(Report.status).where(Report.id == report_id))
    assert (status, _open_jobs(engine_container.settings.database.url)) == ("pending", [])


@pytest.mark.postgres
def test_apply_schema_creates_once_and_then_does_nothing(tmp_path: Path) -> None:
    """Applying procrastinate's schema twice creates it the first time only."""
    with job_database(tmp_path, job_schema=False) as url:
        before = schema_exists(url)
        results = [apply_schema(url), apply_schema(url)]
        after = schema_exists(url)
    assert (before, results, after) == (False, [True, False], True)


def test_queue_refuses_sqlite(tmp_path: Path) -> None:
    """The procrastinate engine refuses a SQLite database with a clear error."""
    with pytest.raises(JobEngineUnavailable, match="needs PostgreSQL"):
        ProcrastinateQueue(f"sqlite:///{tmp_path / 'abusedesk.db'}")
