"""``abusedesk audit``: verify the audit log's hash chains, anchor them, show a subject's history."""

import json
import re
import time
from typing import Any

import typer
from rich.table import Column, Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.core.audit_chain import Anchor, VerifyReport, format_time, row_hash
from abusedesk.core.clock import utcnow
from abusedesk.storage import audit
from abusedesk.storage.db import unit_of_work

app = typer.Typer(help="Verify, anchor and read the hash-chained audit log.", no_args_is_help=True)

_EXPECTED = re.compile(r"^(\d+):([0-9a-f]{64})$")


@app.command("verify")
def verify(
    expect: list[str] = typer.Option(
        [],
        "--expect",
        help="An anchor exported earlier, as N:HASH (what `audit anchor` printed); repeat"
        " for several. Each must still be in the database with that hash.",
    ),
    show: int = typer.Option(100, "--show", min=1, help="Print at most this many problems."),
) -> None:
    """Recompute every chain and anchor; exit 0 when intact, 1 listing each problem."""
    expected = _parse_expected(expect)
    started = time.perf_counter()
    with open_container() as container, audit.snapshot(container.sessions) as session:
        report = audit.verify(session, expected_anchors=expected)
    elapsed = time.perf_counter() - started
    console.print(plain(_summary(report, elapsed)), soft_wrap=True)
    if report.intact:
        return
    console.print(plain(f"audit log damaged: {report.problem_count:,} problem(s)"))
    for problem in report.problems[:show]:
        console.print(plain(f"  {problem.describe()}"), soft_wrap=True)
    if report.problem_count > show:
        console.print(plain(f"  … and {report.problem_count - show:,} more (see --show)"))
    raise typer.Exit(1)


def _parse_expected(values: list[str]) -> dict[int, str]:
    expected: dict[int, str] = {}
    for value in values:
        match = _EXPECTED.match(value.strip().lower())
        if match is None:
            errors.print(
                plain(
                    f"--expect {value!r}: write it as N:HASH, the anchor number and its 64 hex"
                    " digits, e.g. 12:3f5a…, as `abusedesk audit anchor` printed it"
                )
            )
            raise typer.Exit(2)
        expected[int(match.group(1))] = match.group(2)
    return expected


def _summary(report: VerifyReport, elapsed: float) -> str:
    rate = report.rows / elapsed if elapsed > 0 else 0.0
    summary = (
        f"checked {report.rows:,} row(s) in {report.partitions} chain(s) and"
        f" {report.anchors:,} anchor(s) in {elapsed:.2f} s ({rate:,.0f} rows/s)"
    )
    if report.intact:
        summary += "; the audit log is intact"
    if report.latest_anchor is not None:
        summary += f"\nlatest anchor {_anchor_line(report.latest_anchor)}"
    return summary


def _anchor_line(anchor: Anchor) -> str:
    return f"{anchor.seq} at {format_time(anchor.created_at)}: {anchor.hash}"


@app.command("anchor")
def anchor(
    force: bool = typer.Option(
        False, "--force", help="Write an anchor even when no chain moved since the latest."
    ),
) -> None:
    """Record every chain's head now, and print the anchor to keep off this machine."""
    with open_container() as container, unit_of_work(container.sessions) as session:
        outcome = audit.write_anchor(session, at=utcnow(), force=force)
    if outcome.anchor is None:
        console.print("the audit log is empty: nothing to anchor (--force writes one anyway)")
        return
    if outcome.written:
        console.print(plain(f"wrote anchor {_anchor_line(outcome.anchor)}"))
    else:
        console.print(plain(f"no chain moved since anchor {_anchor_line(outcome.anchor)}"))
    console.print("keep this line elsewhere; `abusedesk audit verify --expect` checks it:")
    typer.echo(f"{outcome.anchor.seq}:{outcome.anchor.hash}")


@app.command("show")
def show(
    subject: str = typer.Argument(..., help="The subject as TYPE:ID, e.g. case:12 or token:3."),
    limit: int = typer.Option(1000, min=1, help="Show at most this many rows, oldest first."),
) -> None:
    """List one subject's audit history; a row whose columns no longer match its hash says so."""
    subject_type, sep, subject_id = subject.partition(":")
    if not sep or not subject_type or not subject_id:
        errors.print(plain(f"name the subject as TYPE:ID, e.g. case:12 (got {subject!r})"))
        raise typer.Exit(2)
    with open_container() as container, audit.snapshot(container.sessions) as session:
        rows = audit.history(session, subject_type, subject_id, limit=limit)
    if not rows:
        console.print(plain(f"no audit rows for {subject_type}:{subject_id}"))
        return
    table = Table(
        Column("id", no_wrap=True),
        Column("at", no_wrap=True),
        Column("actor", overflow="fold"),
        Column("tag", overflow="fold"),
        Column("reason", overflow="fold"),
        Column("before → after", overflow="fold"),
        Column("chain", no_wrap=True),
        Column("hash", no_wrap=True),
    )
    for row in rows:
        table.add_row(
            str(row.id),
            format_time(row.occurred_at),
            plain(row.actor),
            plain(row.tag),
            plain(row.reason or ""),
            plain(f"{_compact(row.before)} → {_compact(row.after)}"),
            f"{row.partition}/{row.seq}",
            "ok" if row_hash(row) == row.hash else "EDITED",
        )
    console.print(table)


def _compact(value: Any) -> str:
    if value is None:
        return "-"
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 200 else text[:199] + "…"
