"""``abusedesk inventory``: keep the provider's inventory current, and look at one account.

``inventory import FILE --table T`` reads a CSV or JSON Lines file (gzipped or not) and
upserts its rows by their natural keys; a row that cannot be read or names something
unknown is reported with its line number, and every other row lands. Each batch is its
own transaction, so an interrupted import is finished by running it again.
"""

import csv
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import typer
from rich.table import Table as RichTable

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.core.clock import utcnow
from abusedesk.inventory.errors import InventoryFileUnreadable, RowRejected
from abusedesk.inventory.files import FORMATS, FileFormat, format_of, read_rows
from abusedesk.inventory.model import NumberedRecord, RowError, Table, dashed, table_named
from abusedesk.inventory.rows import parse_row
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.inventory_store import (
    CHUNK_SIZE,
    MAX_CHUNK_SIZE,
    PRUNE_BATCH,
    AccountNotFound,
    RowResult,
    account_inventory,
    prune_send_log,
    retention_cutoff,
    upsert_records,
)

app = typer.Typer(
    help="Keep the provider's inventory current: import files, prune the send log, show an account.",
    no_args_is_help=True,
)

ERRORS_SHOWN = 20
PROGRESS_EVERY_SECONDS = 2.0
TABLE_NAMES = ", ".join(dashed(t) for t in Table.ALL)


class _ErrorReport:
    """Where row errors go: all of them to a CSV file, or the first few to the terminal."""

    def __init__(self, stream: TextIO | None) -> None:
        self.writer = None if stream is None else csv.writer(stream)
        if self.writer is not None:
            self.writer.writerow(["line", "field", "message"])
        self.shown: list[RowError] = []
        self.count = 0

    def add(self, error: RowError) -> None:
        self.count += 1
        if self.writer is not None:
            self.writer.writerow([error.line, error.field, error.message])
        elif len(self.shown) < ERRORS_SHOWN:
            self.shown.append(error)

    def print_shown(self) -> None:
        if not self.shown:
            return
        more = (
            f" (the first {len(self.shown)} of {self.count:,})"
            if self.count > len(self.shown)
            else ""
        )
        errors.print(f"rejected rows{more}; pass --errors FILE for all of them:")
        for error in sorted(self.shown, key=lambda e: e.line):
            errors.print(plain(f"  line {error.line}: {error.field or 'row'}: {error.message}"))


class _Progress:
    """Say on stderr how far the import is, at most every few seconds."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = self.started
        self.rows = 0

    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.rows / elapsed if elapsed > 0 else 0.0

    def tick(self, rows: int) -> None:
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            errors.print(f"{self.rows:,} rows, {self.rate():,.0f} rows/s")

    def done(self) -> None:
        elapsed = time.monotonic() - self.started
        errors.print(f"read {self.rows:,} rows in {elapsed:,.1f} s ({self.rate():,.0f} rows/s)")


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="CSV or JSON Lines file; .gz files are read too."),
    *,
    table: str = typer.Option(..., "--table", help=f"The table the rows are for: {TABLE_NAMES}."),
    file_format: str | None = typer.Option(
        None, "--format", help="csv or jsonl [default: from the file name]."
    ),
    errors_path: Path | None = typer.Option(
        None, "--errors", help="Write every rejected row (line, field, message) to this CSV file."
    ),
    batch_size: int = typer.Option(
        CHUNK_SIZE, min=1, max=MAX_CHUNK_SIZE, help="Rows per statement and per transaction."
    ),
    reattribute: bool = typer.Option(
        True,
        help="When rows changed, run attribution again over the unattributed inbox.",
    ),
) -> None:
    """Upsert a file's rows into one inventory table; bad rows are reported, good ones land.

    Reports often arrive before the send log or a new identity does: when the import
    changed anything, the events waiting in the unattributed inbox are attributed again.
    Exits 1 when any row was rejected, 2 when the file cannot be read.
    """
    canonical = table_named(table)
    if canonical is None:
        errors.print(plain(f"no inventory table is called {table!r}; use one of {TABLE_NAMES}"))
        raise typer.Exit(2)
    chosen = _file_format(file, file_format)
    counts: Counter[str] = Counter()
    progress = _Progress()
    unreadable: str | None = None
    with ExitStack() as stack, open_container() as container:
        stream = None
        if errors_path is not None:
            stream = stack.enter_context(errors_path.open("w", encoding="utf-8", newline=""))
        report = _ErrorReport(stream)
        batch: list[NumberedRecord] = []

        def flush() -> None:
            if not batch:
                return
            with unit_of_work(container.sessions) as session:
                outcome = upsert_records(session, canonical, batch, chunk_size=batch_size)
            counts.update(outcome.counts())
            for error in outcome.errors:
                report.add(error)
            progress.tick(len(batch))
            batch.clear()

        try:
            for line, row in read_rows(file, chosen):
                record = _record(canonical, line, row, report.add)
                if record is None:
                    counts[RowResult.REJECTED] += 1
                    progress.tick(1)
                    continue
                batch.append(record)
                if len(batch) >= batch_size:
                    flush()
        except InventoryFileUnreadable as exc:
            unreadable = str(exc)
        flush()
        progress.done()
        changed = counts[RowResult.INSERTED] + counts[RowResult.UPDATED]
        if reattribute and changed:
            done = container.processor.reattribute_waiting(actor=f"inventory import {file.name}")
            if done.examined:
                console.print(
                    f"unattributed inbox: {done.settled:,} of {done.examined:,} waiting "
                    "event(s) attributed now"
                )
    console.print(
        plain(
            f"{dashed(canonical)}: {counts[RowResult.INSERTED]:,} inserted, "
            f"{counts[RowResult.UPDATED]:,} updated, {counts[RowResult.UNCHANGED]:,} unchanged, "
            f"{counts[RowResult.REJECTED]:,} rejected"
        )
    )
    report.print_shown()
    if errors_path is not None and report.count:
        errors.print(plain(f"{report.count:,} row errors written to {errors_path}"))
    if unreadable is not None:
        errors.print(plain(f"the file could not be read to the end: {unreadable}"))
        raise typer.Exit(2)
    if counts[RowResult.REJECTED]:
        raise typer.Exit(1)


def _file_format(file: Path, given: str | None) -> FileFormat:
    """Return the file's format from --format or its name, or exit 2 saying why not."""
    if not file.is_file():
        errors.print(plain(f"{file}: no such file"))
        raise typer.Exit(2)
    if given is not None:
        for known in FORMATS:
            if given.lower() == known:
                return known
        errors.print(plain(f"unknown format {given!r}; use csv or jsonl"))
        raise typer.Exit(2)
    guessed = format_of(file)
    if guessed is None:
        errors.print(plain(f"{file}: cannot tell the format from the name; pass --format"))
        raise typer.Exit(2)
    return guessed


def _record(
    table: str,
    line: int,
    row: dict[str, object] | RowError,
    report: Callable[[RowError], None],
) -> NumberedRecord | None:
    """Return the row as a numbered record, or report why it cannot be one."""
    if isinstance(row, RowError):
        report(row)
        return None
    try:
        return NumberedRecord(line, parse_row(table, line, row))
    except RowRejected as exc:
        for error in exc.errors:
            report(error)
        return None


@app.command("prune-send-log")
def prune_send_log_command(
    older_than_days: int | None = typer.Option(
        None,
        "--older-than-days",
        min=0,
        help="Delete rows sent more than this many days ago "
        "[default: inventory.send_log_retention_days; 0 keeps everything].",
    ),
) -> None:
    """Delete send-log rows past their retention, a batch per transaction."""
    with open_container() as container:
        days = (
            older_than_days
            if older_than_days is not None
            else container.settings.inventory.send_log_retention_days
        )
        cutoff = retention_cutoff(days, utcnow())
        if cutoff is None:
            console.print("send-log retention is 0 days: the send log is kept, nothing deleted")
            return
        deleted = 0
        while True:
            with unit_of_work(container.sessions) as session:
                count = prune_send_log(session, cutoff, batch_size=PRUNE_BATCH, max_batches=1)
            deleted += count
            if count < PRUNE_BATCH:
                break
    console.print(f"deleted {deleted:,} send-log rows sent before {cutoff:%Y-%m-%d %H:%M} UTC")


@app.command("show")
def show_command(
    external_id: str = typer.Argument(..., metavar="ACCOUNT_EXTERNAL_ID"),
) -> None:
    """Show an account with its resources (and when each was held) and its IPs."""
    with open_container() as container, read_only(container.sessions) as session:
        try:
            found = account_inventory(session, external_id)
        except AccountNotFound as exc:
            errors.print(plain(exc))
            raise typer.Exit(1) from exc
    account = found.account
    console.print(plain(f"account {account.external_id}: {account.name}"))
    console.print(
        plain(
            f"standing {found.standing}, size tier {account.size_tier}, "
            f"country {account.country or '-'}, contact {account.contact_email or '-'}, "
            f"created {_when(account.created_at)}"
        )
    )
    resources = RichTable("kind", "value", "held from", "held until", title="Resources")
    for resource in found.resources:
        resources.add_row(
            plain(resource.kind),
            plain(resource.value),
            _when(resource.created_at),
            _when(resource.deleted_at),
        )
    console.print(resources)
    ips = RichTable("ip", "pool", "dedicated to", "from", "until", title="IP allocations")
    for allocation in found.allocations:
        ips.add_row(
            plain(allocation.ip),
            plain(allocation.pool or "-"),
            plain(allocation.account or "-"),
            _when(allocation.valid_from),
            _when(allocation.valid_to),
        )
    console.print(ips)


def _when(value: object) -> str:
    return "-" if value is None else f"{value:%Y-%m-%d %H:%M}"
