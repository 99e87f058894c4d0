"""``abusedesk unknown``: the inbox of reports no parser recognises, and sending them again.

A report of a format no parser reads is not a failure to retry: it waits here, with its
raw bytes, until a parser for it lands; then ``reprocess`` sends it through again.
"""

import re

import typer
from rich.table import Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.privacy import refuse_purged, viewed_report
from abusedesk.core.clock import utcnow
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.reports import ReportStatus

app = typer.Typer(
    help="See reports of a format no parser recognises, and send them through again.",
    no_args_is_help=True,
)

# What ``show`` prints: the header block up to this size, then this much of the body.
MAX_HEADER_BYTES = 8 * 1024
BODY_SAMPLE_BYTES = 1024
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


@app.command("list")
def list_(
    limit: int = typer.Option(100, help="Show at most this many."),
    after: int = typer.Option(0, help="Show reports with ids above this one."),
) -> None:
    """List the reports in the unknown-format inbox, oldest first."""
    with open_container() as container, read_only(container.sessions) as session:
        rows = container.reports.with_status(
            session, ReportStatus.UNKNOWN, limit=limit, after_id=after
        )
    if not rows:
        console.print("the unknown-format inbox is empty")
        return
    table = Table("id", "received", "channel", "size", "claimed by", "from")
    for row in rows:
        table.add_row(
            str(row.report_id),
            f"{row.received_at:%Y-%m-%d %H:%M}",
            plain(row.channel),
            f"{row.size:,}",
            plain(row.report_format or "-"),
            # The envelope comes from the sender: cut, then escaped.
            plain(str(row.envelope.get("mail_from") or row.envelope.get("peer") or "")[:60]),
        )
    console.print(table)


@app.command("show")
def show(report_id: int) -> None:
    """Show one report of unknown format: where it came from, its headers and first KiB.

    Showing the bytes is a view of raw evidence, recorded in the audit log.
    """
    summary, raw, purged = viewed_report(
        report_id, status=ReportStatus.UNKNOWN, place="in the unknown-format inbox"
    )
    if raw is None:
        errors.print(plain(purged))
        raise typer.Exit(1)
    headers, body = split_sample(raw)
    # Every value below may come from the report or its sender: each is printed escaped.
    console.print(plain(f"report {summary.report_id} ({summary.status})"))
    console.print(
        plain(
            f"received: {summary.received_at.isoformat()} via {summary.channel} {summary.envelope}"
        )
    )
    console.print(plain(f"sha256: {summary.sha256}, {summary.size:,} bytes"))
    if summary.report_format:
        console.print(
            plain(f"claimed by the {summary.report_format} parser, which did not know it")
        )
    console.print(plain(f"reason: {summary.last_error}"))
    console.print("--- headers, control characters escaped ---")
    console.print(plain(_text(headers)))
    console.print(f"--- first {BODY_SAMPLE_BYTES:,} bytes of the body ---")
    console.print(plain(_text(body)))


@app.command("reprocess")
def reprocess(
    report_ids: list[int] = typer.Argument(None, help="Report ids; none with --all."),
    all_: bool = typer.Option(False, "--all", help="Reprocess the whole inbox."),
) -> None:
    """Send reports of unknown format through the pipeline again (after a new parser lands)."""
    with open_container() as container:
        with unit_of_work(container.sessions) as session:
            ids = list(report_ids or [])
            if all_:
                ids = [
                    r.report_id
                    for r in container.reports.with_status(
                        session, ReportStatus.UNKNOWN, limit=1_000_000
                    )
                ]
            if not ids:
                errors.print("name report ids or pass --all")
                raise typer.Exit(2)
            ids = refuse_purged(session, ids)
            count = container.reports.requeue(
                session, ids, now=utcnow(), from_status=ReportStatus.UNKNOWN
            )
        container.intake.notify(ids)
    console.print(f"sent {count} report(s) through again")


def split_sample(raw: bytes) -> tuple[bytes, bytes]:
    """Return a report's header block (bounded) and the first KiB of what follows it.

    Bytes with no blank line near the start are no mail: they are all body.
    """
    head = raw[: MAX_HEADER_BYTES + 4]
    blank = _BLANK_LINE.search(head)
    if blank is None or not _looks_like_headers(head[: blank.start()]):
        return b"", raw[:BODY_SAMPLE_BYTES]
    return raw[: blank.start()], raw[blank.end() : blank.end() + BODY_SAMPLE_BYTES]


def _looks_like_headers(block: bytes) -> bool:
    first = block.split(b"\n", 1)[0]
    name, colon, _ = first.partition(b":")
    return bool(colon) and bool(re.fullmatch(rb"[!-9;-~]+", name))


def _text(data: bytes) -> str:
    # Mail ends its lines with CRLF; only a lone carriage return is worth showing escaped.
    return data.decode("utf-8", "backslashreplace").replace("\r\n", "\n")
