"""``abusedesk unattributed``: events no resolver settled, and deciding on them by hand.

An event waits here when nothing in the inventory named its sender, or only with low
confidence. Attribute it to an account, dismiss it as not the provider's customer's, or
run the resolver again once the inventory caught up. Every decision is audited.

Exit codes: 0 done, 1 refused (no such event, not in the inbox), 2 invalid input.
"""

import getpass
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import typer
from rich.table import Table
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.demo import DATE_FORMATS
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.core.errors import AbuseDeskError, NotFound
from abusedesk.storage import unattributed as inbox
from abusedesk.storage.db import read_only, unit_of_work

app = typer.Typer(
    help="See events no account was found for, and attribute or dismiss them by hand.",
    no_args_is_help=True,
)

T = TypeVar("T")

REASON_SHOWN = 90
# Waiting events the resolver reads per transaction.


def default_actor() -> str:
    """Return who runs the command: the operating system's user name."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # No user name in the environment or the password database (a bare container).
        return "cli"


_ACTOR = typer.Option(None, help="Who decides, for the audit log [default: the OS user].")
_REASON = typer.Option(..., help="Why, in words an analyst reads later (audited).")


@app.command("list")
def list_(
    *,
    category: str | None = typer.Option(None, help="Only this category (spam, phishing ...)."),
    service: str | None = typer.Option(None, help="Only this service (email, sms, push ...)."),
    report_format: str | None = typer.Option(None, "--format", help="Only this report format."),
    reporter: str | None = typer.Option(None, help="Only this reporter."),
    since: datetime | None = typer.Option(
        None, formats=DATE_FORMATS, help="Only reports received at or after this time, UTC."
    ),
    until: datetime | None = typer.Option(
        None, formats=DATE_FORMATS, help="Only reports received before this time, UTC."
    ),
    limit: int = typer.Option(100, min=1, help="Show at most this many."),
    after_id: int = typer.Option(0, min=0, help="Show events with ids above this one."),
) -> None:
    """List the events waiting for an account, oldest first."""
    filters = inbox.InboxFilter(
        category=category,
        service=service,
        report_format=report_format,
        reporter=reporter,
        received_since=as_utc(since) if since else None,
        received_until=as_utc(until) if until else None,
    )
    with open_container() as container, read_only(container.sessions) as session:
        rows = inbox.list_waiting(session, filters, after_id=after_id, limit=limit)
    if not rows:
        narrowed = after_id or filters != inbox.InboxFilter()
        console.print(
            "no more waiting events match"
            if narrowed
            else "no events wait in the unattributed inbox"
        )
        return
    table = Table(
        "event", "report", "occurred", "category", "format", "reporter", "guess", "reason"
    )
    for row in rows:
        guess = "-"
        if row.suggested is not None:
            guess = f"{row.suggested.external_id} ({row.method}, {row.confidence})"
        table.add_row(
            str(row.event_id),
            str(row.report_id),
            f"{row.occurred_at:%Y-%m-%d %H:%M}",
            plain(row.category),
            plain(row.report_format),
            # Reporter names and reasons quote reports: cut, then escaped.
            plain((row.reporter or "-")[:40]),
            plain(guess),
            plain((row.reason or "-")[:REASON_SHOWN]),
        )
    console.print(table)
    if len(rows) == limit:
        console.print(f"more with --after-id {rows[-1].event_id}")


@app.command("summary")
def summary() -> None:
    """Count the waiting events by category and by the method of their best guess."""
    with open_container() as container, read_only(container.sessions) as session:
        counts = inbox.inbox_counts(session)
    if not counts:
        console.print("no events wait in the unattributed inbox")
        return
    table = Table("category", "best guess by", "events")
    for count in counts:
        table.add_row(plain(count.category), plain(count.method or "nothing"), f"{count.events:,}")
    console.print(table)
    console.print(f"{sum(c.events for c in counts):,} event(s) wait")


@app.command("show")
def show(event_id: int) -> None:
    """Show one event: its report, indicators, why it waits, candidates and suggestion."""
    with open_container() as container, read_only(container.sessions) as session:
        try:
            detail = inbox.event_detail(session, event_id)
        except NotFound as exc:
            errors.print(plain(exc))
            raise typer.Exit(1) from exc
    report = detail.report
    # Every value below may come from a report: each is printed escaped.
    console.print(plain(f"event {detail.event_id} ({detail.state})"))
    console.print(
        plain(
            f"report {report.report_id} (seq {detail.seq}):"
            f" {' '.join(filter(None, (report.report_format, report.report_kind))) or '-'},"
            f" received {report.received_at.isoformat()}"
            f" via {report.channel}, {report.status}"
        )
    )
    console.print(
        plain(
            f"{detail.category} on {detail.service}, occurred {detail.occurred_at.isoformat()},"
            f" reported by {detail.reporter or '-'}"
        )
    )
    if detail.account is not None:
        resource = f", {detail.resource.kind} {detail.resource.value}" if detail.resource else ""
        console.print(
            plain(f"account: {detail.account.external_id} ({detail.account.name}){resource}")
        )
        console.print(plain(f"case: {detail.case_id or 'not folded yet'}"))
    console.print(plain(f"method: {detail.method or '-'}, confidence: {detail.confidence or '-'}"))
    console.print(plain(f"reason: {detail.reason or '-'}"))
    if detail.dismissal:
        console.print(
            plain(
                f"dismissed by {detail.dismissal.get('by')} at {detail.dismissal.get('at')}:"
                f" {detail.dismissal.get('reason')}"
            )
        )
    if detail.suggested is not None:
        console.print(plain(f"suggested: {_candidate(detail.suggested)}"))
    for candidate in detail.candidates:
        console.print(plain(f"candidate: {_candidate(candidate)}"))
    for conflict in detail.conflicts:
        console.print(plain(f"conflict: {conflict}"))
    console.print("indicators:")
    for kind, values in sorted(detail.indicators.items()):
        console.print(plain(f"  {kind}: {', '.join(str(v) for v in values)}"))


@app.command("attribute")
def attribute(
    event_ids: list[int] = typer.Argument(None, help="Event ids; none with --report."),
    *,
    report_id: int | None = typer.Option(
        None, "--report", help="Every waiting event of this report."
    ),
    account: str = typer.Option(..., help="The account's external id."),
    resource_kind: str | None = typer.Option(
        None, help="The resource's kind (identity_domain ...)."
    ),
    resource_value: str | None = typer.Option(None, help="The resource's value."),
    reason: str = _REASON,
    actor: str | None = _ACTOR,
    force: bool = typer.Option(
        False, "--force", help="Re-attribute events that are attributed already."
    ),
) -> None:
    """Attribute events to an account by hand, then fold them into its cases."""
    if (resource_kind is None) != (resource_value is None):
        errors.print("name a resource with both --resource-kind and --resource-value")
        raise typer.Exit(2)
    resource = (resource_kind, resource_value) if resource_kind and resource_value else None
    with open_container() as container:
        ids = _event_ids(container, event_ids, report_id)
        decision = _decide(
            container,
            lambda session: inbox.attribute(
                session,
                ids,
                account=account,
                resource=resource,
                reason=reason,
                actor=actor or default_actor(),
                now=utcnow(),
                force=force,
            ),
        )
        container.processor.aggregate_accounts(decision.accounts)
    console.print(
        plain(f"attributed {len(decision.event_ids)} event(s) to account {account.strip()}")
    )


@app.command("dismiss")
def dismiss(
    event_ids: list[int] = typer.Argument(..., help="Event ids."),
    reason: str = _REASON,
    actor: str | None = _ACTOR,
) -> None:
    """Set events aside as not a customer's (a spoofed brand, someone else's network)."""
    with open_container() as container:
        decision = _decide(
            container,
            lambda session: inbox.dismiss(
                session, event_ids, reason=reason, actor=actor or default_actor(), now=utcnow()
            ),
        )
    console.print(f"dismissed {len(decision.event_ids)} event(s)")


@app.command("restore")
def restore(
    event_ids: list[int] = typer.Argument(..., help="Event ids."),
    reason: str = _REASON,
    actor: str | None = _ACTOR,
) -> None:
    """Put dismissed events back in the unattributed inbox."""
    with open_container() as container:
        decision = _decide(
            container,
            lambda session: inbox.restore(
                session, event_ids, reason=reason, actor=actor or default_actor(), now=utcnow()
            ),
        )
    console.print(f"restored {len(decision.event_ids)} event(s) to the inbox")


@app.command("reattribute")
def reattribute(
    limit: int | None = typer.Option(None, min=1, help="Look at most at this many events."),
    actor: str | None = _ACTOR,
) -> None:
    """Run the resolver again over the waiting events (after the inventory caught up)."""
    with open_container() as container:
        done = container.processor.reattribute_waiting(actor=actor or default_actor(), limit=limit)
    console.print(
        f"looked at {done.examined:,} waiting event(s): {done.settled:,} attributed,"
        f" {done.examined - done.settled:,} still waiting"
    )


def _event_ids(
    container: Container, event_ids: list[int] | None, report_id: int | None
) -> list[int]:
    ids = list(event_ids or [])
    if report_id is not None:
        with read_only(container.sessions) as session:
            try:
                waiting = inbox.waiting_events_of_report(session, report_id)
            except NotFound as exc:
                errors.print(plain(exc))
                raise typer.Exit(1) from exc
        if not waiting:
            errors.print(f"report {report_id} has no events waiting in the unattributed inbox")
            raise typer.Exit(1)
        ids += waiting
    if not ids:
        errors.print("name event ids or pass --report")
        raise typer.Exit(2)
    return ids


def _decide(container: Container, decision: Callable[[Session], T]) -> T:
    """Run *decision* in one transaction; print why it was refused and exit when it was."""
    try:
        with unit_of_work(container.sessions) as session:
            return decision(session)
    except AbuseDeskError as exc:
        errors.print(plain(exc))
        raise typer.Exit(_exit_code(exc)) from exc


def _candidate(candidate: inbox.CandidateView) -> str:
    account = (
        f"{candidate.account.external_id} ({candidate.account.name})"
        if candidate.account
        else "an account no longer known"
    )
    resource = (
        f", {candidate.resource.kind} {candidate.resource.value}" if candidate.resource else ""
    )
    return f"{account}{resource} by {candidate.method or '-'}, {candidate.confidence or '-'}"


def _exit_code(error: AbuseDeskError) -> int:
    invalid = (inbox.DecisionInvalid, inbox.UnknownAccount, inbox.UnknownResource)
    return 2 if isinstance(error, invalid) else 1
