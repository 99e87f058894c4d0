"""``abusedesk privacy``: purge evidence past its retention, erase an address, list erasures.

An address to erase is read from standard input, never from the command line, so that
it stays out of shell history and process lists. See docs/privacy.md.
"""

import getpass
import sys

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound
from abusedesk.privacy.errors import EvidencePurged, InvalidAddress
from abusedesk.privacy.model import EvidenceClass
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.privacy import (
    due_counts,
    erase_address,
    erasures_of,
    list_erasures,
    purge_expired,
    raw_purge_state,
    read_raw_evidence,
)
from abusedesk.storage.reports import ReportSummary

app = typer.Typer(
    help="Purge evidence past its retention, erase one address, list erasure requests.",
    no_args_is_help=True,
)

# Items per class per transaction when purging from the command line.
PURGE_BATCH = 1000
KEY_HINT = (
    "set ABUSEDESK_RETENTION__ERASURE_KEY to a long random secret (and keep it: it is how "
    "recorded erasures are found again), then run this again"
)


def cli_actor() -> str:
    """Return who runs this command, as the audit log names them."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"cli:{user}"


def viewed_report(
    report_id: int, *, status: str | None = None, place: str = ""
) -> tuple[ReportSummary, bytes | None, str | None]:
    """Return a report's summary and raw bytes, the view audited; when its raw evidence
    was removed, None and a sentence saying so instead of the bytes. Exit 1 if there is
    no such report, or it is not in *status* (when given; *place* names it)."""
    with open_container() as container, unit_of_work(container.sessions) as session:
        try:
            summary = container.reports.get(session, report_id)
            if status is not None and summary.status != status:
                errors.print(
                    plain(f"report {report_id} is {summary.status}, not {place or status}")
                )
                raise typer.Exit(1)
            raw = read_raw_evidence(
                session, container.reports.evidence, report_id, cli_actor(), utcnow()
            )
        except EvidencePurged as exc:
            return summary, None, str(exc)
        except NotFound as exc:
            errors.print(plain(exc))
            raise typer.Exit(1) from exc
    return summary, raw, None


def refuse_purged(session: Session, report_ids: list[int]) -> list[int]:
    """Return *report_ids* without those whose raw evidence is gone, saying which went:
    such a report cannot be parsed again."""
    purged = raw_purge_state(session, report_ids)
    for report_id, (at, reason) in sorted(purged.items()):
        errors.print(
            plain(
                f"report {report_id}: its raw evidence was removed at {at:%Y-%m-%d %H:%M} UTC"
                f" ({reason}); it cannot be processed again"
            )
        )
    return [i for i in report_ids if i not in purged]


@app.command("purge")
def purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only count what is due per class."),
    batches: int = typer.Option(
        0, min=0, help="Stop after this many batches per class (0: until nothing is due)."
    ),
) -> None:
    """Remove the evidence past its retention period, a batch per transaction."""
    with open_container() as container:
        policy = container.settings.retention.policy()
        now = utcnow()
        if dry_run:
            with read_only(container.sessions) as session:
                due = due_counts(session, now, policy)
            table = Table("class", "kept for", "due now")
            for name in EvidenceClass.ALL:
                days = policy.days.get(name, 0)
                table.add_row(name, f"{days} days" if days else "ever", f"{due[name]:,}")
            console.print(table)
            return
        totals = dict.fromkeys(EvidenceClass.ALL, 0)
        blobs = done = 0
        while True:
            with unit_of_work(container.sessions) as session:
                result = purge_expired(
                    session, container.reports.evidence, now, policy, PURGE_BATCH
                )
            for name, count in result.counts.items():
                totals[name] += count
            blobs += result.blobs
            done += 1
            if not result.more or (batches and done >= batches):
                break
    for name in EvidenceClass.ALL:
        console.print(f"{name}: {totals[name]:,} purged")
    console.print(f"evidence files deleted: {blobs:,}")


def _address_from_stdin() -> str:
    # Typed at a terminal, the address is not echoed; piped in, it is read as is.
    line = getpass.getpass("address: ") if sys.stdin.isatty() else sys.stdin.readline()
    if not line.strip():
        errors.print("no address on standard input: pipe it in, e.g. from a file or a prompt")
        raise typer.Exit(2)
    return line.strip()


@app.command("erase")
def erase(
    address_stdin: bool = typer.Option(
        False, "--address-stdin", help="Read the address (email or E.164 number) from stdin."
    ),
    reason: str = typer.Option(..., help="Why: the request's ticket or reference."),
    actor: str = typer.Option(
        "", help="Who asked for the erasure [default: cli:<your user name>]."
    ),
) -> None:
    """Erase one address from reports, events and every other erasure target."""
    if not address_stdin:
        errors.print("pass --address-stdin and give the address on standard input")
        raise typer.Exit(2)
    if not reason.strip():
        errors.print("give a --reason: the request's ticket or reference")
        raise typer.Exit(2)
    with open_container() as container:
        secret = container.settings.retention.erasure_key
        if secret is None or not secret.get_secret_value():
            errors.print(f"no erasure key: {KEY_HINT}")
            raise typer.Exit(2)
        address = _address_from_stdin()
        try:
            with unit_of_work(container.sessions) as session:
                result = erase_address(
                    session,
                    container.reports.evidence,
                    address,
                    actor=actor.strip() or cli_actor(),
                    reason=reason,
                    now=utcnow(),
                    key=secret.get_secret_value().encode(),
                )
        except InvalidAddress as exc:
            errors.print(plain(f"{exc}; nothing was changed"))
            raise typer.Exit(2) from exc
    console.print(f"erasure request {result.request_id} recorded")
    for name, count in result.counts.items():
        console.print(f"{name}: {count:,} changed")


@app.command("erasures")
def erasures(
    limit: int = typer.Option(100, min=1, help="Show at most this many, newest first."),
    address_stdin: bool = typer.Option(
        False, "--address-stdin", help="Only the requests for the address on stdin."
    ),
) -> None:
    """List erasure requests: who asked, when, why, and what each changed."""
    with open_container() as container, read_only(container.sessions) as session:
        if address_stdin:
            secret = container.settings.retention.erasure_key
            if secret is None or not secret.get_secret_value():
                errors.print(f"no erasure key: {KEY_HINT}")
                raise typer.Exit(2)
            try:
                rows = erasures_of(
                    session, _address_from_stdin(), key=secret.get_secret_value().encode()
                )
            except InvalidAddress as exc:
                errors.print(plain(exc))
                raise typer.Exit(2) from exc
        else:
            rows = list_erasures(session, limit=limit)
    if not rows:
        console.print("no erasure requests")
        return
    table = Table("id", "requested", "by", "reason", "changed")
    for row in rows:
        table.add_row(
            str(row.id),
            f"{row.requested_at:%Y-%m-%d %H:%M}",
            plain(row.actor),
            plain(row.reason[:80]),
            ", ".join(f"{name} {count}" for name, count in sorted(row.counts.items())),
        )
    console.print(table)
