"""``abusedesk ingest``: read reports from files, store them, process them, summarise."""

from collections import Counter
from pathlib import Path

import typer
from rich.progress import Progress
from rich.table import Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.intake.files import FileItem, iter_reports
from abusedesk.intake.service import Incoming, ReportIntake, ReportRejected
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.reports import ReportStatus, StoredReport

BATCH = 200
SUMMARY_ORDER = ("stored", "duplicate", "processed", "quarantined", "rejected", "unreadable")


def ingest(
    path: Path = typer.Argument(..., help="A file, directory, mbox file or Maildir folder."),
    process: bool = typer.Option(
        True, help="Process the stored reports now instead of leaving them to the workers."
    ),
    channel: str = typer.Option("file", help="The channel recorded on each report."),
) -> None:
    """Store every report under PATH; exit non-zero if any could not be stored or processed."""
    if not path.exists() and not path.is_symlink():
        errors.print(plain(f"no such file or directory: {path}"))
        raise typer.Exit(2)
    outcomes: Counter[str] = Counter()
    failures: list[tuple[str, str]] = []
    stored_ids: dict[int, str] = {}
    with open_container() as container:
        # With procrastinate, intake has already handed the reports to the worker processes.
        process = process and container.settings.jobs.backend == "embedded"
        intake = container.intake
        batch: list[FileItem] = []

        def flush() -> None:
            if not batch:
                return
            accepted, results = _store(intake, batch, channel, outcomes, failures)
            for item, result in zip(accepted, results, strict=True):
                outcomes["stored" if result.created else "duplicate"] += 1
                stored_ids[result.report_id] = item.source
            batch.clear()

        with Progress(console=errors, transient=True) as progress:
            task = progress.add_task("reading", total=None)
            for item in iter_reports(path, max_bytes=intake.max_bytes):
                progress.advance(task)
                if item.error is not None:
                    outcomes[
                        "unreadable" if item.error.startswith("unreadable") else "rejected"
                    ] += 1
                    failures.append((item.source, item.error))
                    continue
                batch.append(item)
                if len(batch) >= BATCH:
                    flush()
            flush()
            if process:
                progress.update(task, description="processing", total=None)
                while container.embedded.run_once():
                    progress.advance(task)

        if process and stored_ids:
            with unit_of_work(container.sessions) as session:
                for report_id, source in stored_ids.items():
                    summary = container.reports.get(session, report_id)
                    if summary.status == ReportStatus.DONE:
                        outcomes["processed"] += 1
                    elif summary.status == ReportStatus.QUARANTINED:
                        outcomes["quarantined"] += 1
                        failures.append(
                            (source, f"quarantined at {summary.stage}: {summary.last_error}")
                        )
                    elif summary.status == ReportStatus.UNKNOWN:
                        outcomes["unknown_format"] += 1
                        failures.append(
                            (source, f"no parser recognises it: abusedesk unknown show {report_id}")
                        )
                    else:
                        # Waiting for a retry after a transient failure, or claimed by a
                        # running worker: stored safely, but not finished by this command.
                        outcomes["pending"] += 1
                        failures.append((source, f"not processed yet: {summary.status}"))

    _print_summary(outcomes, failures)
    if failures:
        raise typer.Exit(1)


def _store(
    intake: ReportIntake,
    batch: list[FileItem],
    channel: str,
    outcomes: Counter[str],
    failures: list[tuple[str, str]],
) -> tuple[list[FileItem], list[StoredReport]]:
    """Store *batch* in one group commit; name each report the intake refuses, store the rest.

    The intake checks every report before it stores any, so the batch is checked once; only
    a batch that holds a refused report is checked report by report to say which one it was.
    """

    def incoming(items: list[FileItem]) -> list[Incoming]:
        return [Incoming(i.raw or b"", channel, {"source": i.source}) for i in items]

    try:
        return batch, intake.accept_many(incoming(batch))
    except ReportRejected:
        pass
    accepted: list[FileItem] = []
    for item in batch:
        try:
            intake.check(item.raw or b"")
        except ReportRejected as exc:
            outcomes["rejected"] += 1
            failures.append((item.source, f"{exc.reason}: {exc}"))
        else:
            accepted.append(item)
    return accepted, intake.accept_many(incoming(accepted)) if accepted else []


def _print_summary(outcomes: Counter[str], failures: list[tuple[str, str]]) -> None:
    if failures:
        table = Table("source", "problem", title="Not ingested or not processed")
        for source, problem in failures:
            table.add_row(plain(source), plain(problem))
        console.print(table)
    line = ", ".join(f"{name}: {outcomes[name]}" for name in SUMMARY_ORDER)
    if outcomes["unknown_format"]:
        line += f", unknown format: {outcomes['unknown_format']}"
    if outcomes["pending"]:
        line += f", pending: {outcomes['pending']}"
    console.print(line)
    if outcomes["pending"]:
        console.print(
            f"{outcomes['pending']} stored report(s) are not processed yet; "
            "the workers (abusedesk serve or abusedesk worker) will finish them"
        )
