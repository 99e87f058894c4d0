"""``abusedesk quarantine``: see why reports failed, and send them through again.

Reports no parser recognises are not here: they wait in the unknown-format inbox
(``abusedesk unknown``).
"""

import typer
from rich.table import Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.privacy import refuse_purged, viewed_report
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work

app = typer.Typer(help="Show and requeue reports that failed processing.", no_args_is_help=True)


@app.command("list")
def list_(limit: int = typer.Option(100, help="Show at most this many.")) -> None:
    """List quarantined reports with the failing stage and reason."""
    with open_container() as container, read_only(container.sessions) as session:
        rows = container.reports.quarantined(session, limit=limit)
    if not rows:
        console.print("quarantine is empty")
        return
    table = Table("id", "received", "channel", "format", "stage", "attempts", "reason")
    for row in rows:
        table.add_row(
            str(row.report_id),
            f"{row.received_at:%Y-%m-%d %H:%M}",
            plain(row.channel),
            plain(row.report_format or "-"),
            plain(row.stage or ""),
            str(row.attempts),
            # Cut before escaping, so that an escape is never cut in half.
            plain((row.last_error or "")[:120]),
        )
    console.print(table)


@app.command("show")
def show(report_id: int) -> None:
    """Show one quarantined report: where it came from, what failed, its first bytes.

    Showing the bytes is a view of raw evidence, recorded in the audit log.
    """
    summary, raw, purged = viewed_report(report_id)
    # Every value below may come from the report or its sender: each is printed escaped.
    console.print(plain(f"report {summary.report_id} ({summary.status})"))
    console.print(
        plain(
            f"received: {summary.received_at.isoformat()} via {summary.channel} {summary.envelope}"
        )
    )
    console.print(plain(f"sha256: {summary.sha256}, {summary.size:,} bytes"))
    console.print(
        plain(
            f"format: {summary.report_format or '-'}; stage: {summary.stage};"
            f" attempts: {summary.attempts}"
        )
    )
    console.print(plain(f"error: {summary.error_class}"))
    console.print(plain(f"reason: {summary.last_error}"))
    if raw is None:
        errors.print(plain(purged))
        raise typer.Exit(1)
    console.print("--- first 2 KiB, control characters escaped ---")
    # Mail ends its lines with CRLF; only a lone carriage return is worth showing escaped.
    text = raw[:2048].decode("utf-8", "backslashreplace").replace("\r\n", "\n")
    console.print(plain(text))


@app.command("requeue")
def requeue(
    report_ids: list[int] = typer.Argument(None, help="Report ids; none with --all."),
    all_: bool = typer.Option(False, "--all", help="Requeue every quarantined report."),
) -> None:
    """Send quarantined reports back through the pipeline."""
    with open_container() as container:
        with unit_of_work(container.sessions) as session:
            ids = list(report_ids or [])
            if all_:
                ids = [r.report_id for r in container.reports.quarantined(session, limit=1_000_000)]
            if not ids:
                errors.print("name report ids or pass --all")
                raise typer.Exit(2)
            ids = refuse_purged(session, ids)
            count = container.reports.requeue(session, ids, now=utcnow())
        container.intake.notify(ids)
    console.print(f"requeued {count} report(s)")
