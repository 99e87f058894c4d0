"""``abusedesk worker``: run procrastinate jobs (reports, aggregation, the sweep) on PostgreSQL."""

import asyncio
import os
import socket

import psycopg
import structlog
import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from abusedesk.bootstrap import build
from abusedesk.cli.context import console, errors
from abusedesk.config import Settings
from abusedesk.pipeline import queue
from abusedesk.storage import migrate
from abusedesk.storage.db import is_sqlite

log = structlog.get_logger(__name__)


def worker(
    concurrency: int = typer.Option(
        2, min=1, help="How many jobs this process runs at once (each on its own thread)."
    ),
    queues: list[str] = typer.Option(
        [],
        "--queues",
        "-q",
        help=(
            f"Run only jobs of these queues ({', '.join(queue.QUEUES)}); repeat the option "
            "or separate names with commas. Default: every queue."
        ),
    ),
) -> None:
    """Process reports and aggregate accounts from the PostgreSQL job queue until stopped."""
    selected = [name.strip() for value in queues for name in value.split(",") if name.strip()]
    unknown = sorted(set(selected) - set(queue.QUEUES))
    if unknown:
        errors.print(f"unknown queue(s): {', '.join(unknown)}; known: {', '.join(queue.QUEUES)}")
        raise typer.Exit(2)
    settings = Settings()
    if is_sqlite(settings.database.url):
        errors.print(
            "abusedesk worker needs PostgreSQL: set ABUSEDESK_DATABASE__URL=postgresql://... "
            "(with SQLite, `abusedesk serve` runs the work on its own threads)"
        )
        raise typer.Exit(2)
    if settings.jobs.backend != "procrastinate":
        # Running a worker means the procrastinate engine, whatever the environment says:
        # reports this process stores (a quarantine requeue, say) must become jobs too.
        settings = settings.model_copy(
            update={"jobs": settings.jobs.model_copy(update={"backend": "procrastinate"})}
        )
    name = f"{socket.gethostname()}:{os.getpid()}"
    container = build(settings, configure_logs=True)
    try:
        try:
            problem = _schema_problem(container.engine, settings.database.url)
        except (OperationalError, psycopg.OperationalError) as exc:
            errors.print(f"cannot reach the database: {exc}".strip())
            raise typer.Exit(1) from exc
        if problem is not None:
            errors.print(problem)
            raise typer.Exit(2)
        jobs = settings.jobs
        app = queue.make_app(
            settings.database.url,
            pool_size=concurrency + 4,
            max_attempts=jobs.max_attempts,
            backoff_base_seconds=jobs.backoff_base_seconds,
            sweep_interval_seconds=jobs.sweep_interval_seconds,
        )
        shown = ", ".join(selected) if selected else "all"

        def ready(worker_id: int) -> None:
            console.print(
                f"abusedesk worker {name} running: queues {shown}, concurrency {concurrency}"
            )
            console.print(
                f"sweep every {jobs.sweep_interval_seconds}s; heartbeat every "
                f"{jobs.heartbeat_seconds:g}s; a worker silent for {jobs.stalled_after_seconds:g}s "
                "has its jobs retried"
            )
            console.print("Ctrl+C or SIGTERM stops it after the jobs it is running")
            log.info(
                "worker_started",
                worker_id=worker_id,
                name=name,
                queues=selected or "all",
                concurrency=concurrency,
            )

        try:
            asyncio.run(
                queue.run_worker(
                    app,
                    container,
                    concurrency=concurrency,
                    queues=selected or None,
                    name=name,
                    handle_signals=True,
                    on_ready=ready,
                )
            )
        except Exception as exc:
            # The process boundary: say what failed; the jobs it was running stay in the
            # queue and are retried once its heartbeat is missed.
            log.exception("worker_failed", name=name)
            errors.print(f"abusedesk worker {name} failed: {type(exc).__name__}: {exc}")
            raise typer.Exit(1) from exc
    finally:
        container.close()
    log.info("worker_stopped", name=name)
    console.print(f"abusedesk worker {name} stopped")


def _schema_problem(engine: Engine, url: str) -> str | None:
    current = migrate.current_revision(engine)
    head = migrate.head_revision()
    if current != head:
        return (
            f"the database is at revision {current or 'empty'} but this code needs {head}: "
            "run `abusedesk db upgrade` first"
        )
    if not queue.schema_exists(url):
        return "the job queue's tables are missing: run `abusedesk db upgrade` first"
    return None
