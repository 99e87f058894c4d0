"""``abusedesk blocklists``: check our IPs and customers' domains now, and see the listings.

``check`` runs the blocklist watch once, whatever its interval, and raises its signals as
the monitoring sweep would (cases opened or escalated by rule). It needs the checks
configured and switched on (docs/blocklists.md). ``listings`` reads what is stored.

Exit codes: 0 done, 1 refused (checks switched off, the run failed, no such account),
2 invalid input.
"""

from datetime import datetime, timedelta

import typer
from rich.table import Table
from sqlalchemy import select

from abusedesk.blocklists.answers import InvalidQueryTarget
from abusedesk.blocklists.model import Listing, parse_target
from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.demo import DATE_FORMATS
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.pipeline.monitoring import MonitoringSweep
from abusedesk.storage import blocklists as store
from abusedesk.storage.db import read_only
from abusedesk.storage.tables import Account

app = typer.Typer(
    help="Check our IPs and customers' domains against blocklists; show the listings.",
    no_args_is_help=True,
)

# Errors printed after a check; the workbench page and the stored run keep more.
ERRORS_SHOWN = 20


@app.command("check")
def check(
    *,
    at: datetime | None = typer.Option(
        None, "--at", formats=DATE_FORMATS, help="The time the run counts as, UTC [default: now]."
    ),
) -> None:
    """Run the blocklist checks once now and raise the signals of what they found."""
    now = as_utc(at) if at else utcnow()
    with open_container() as container:
        settings = container.settings
        if not settings.blocklists.enabled:
            errors.print(
                plain(
                    "blocklist checks are switched off: set ABUSEDESK_BLOCKLISTS__ENABLED=true, "
                    "with our own resolver in ABUSEDESK_BLOCKLISTS__NAMESERVERS "
                    "(see docs/blocklists.md)"
                )
            )
            raise typer.Exit(1)
        monitor = BlocklistMonitor(settings.blocklists)
        sweep = MonitoringSweep(
            container.sessions,
            [monitor],
            settings.monitoring,
            reopen_grace=timedelta(days=settings.cases.reopen_grace_days),
            groups=settings.cases.groups(),
        )
        outcome = sweep.run_monitor(monitor, now, force=True)
        with read_only(container.sessions) as session:
            run = store.last_run(session)
    if outcome.error is not None:
        errors.print(plain("the check failed: ", outcome.error))
        raise typer.Exit(1)
    if run is None:
        errors.print(plain("the check recorded no run"))
        raise typer.Exit(1)
    _print_run(run)
    console.print(plain(f"signals raised: {outcome.raised}"))
    if run.status == "failed":
        raise typer.Exit(1)


def _print_run(run: store.RunView) -> None:
    """Print a run's summary, its tally per list and its first errors."""
    console.print(
        plain(
            f"run #{run.run_id} at {run.started_at:%Y-%m-%d %H:%M} UTC: {run.status}; "
            f"{run.finished_targets} of {run.targets} targets checked, {run.queries} lookups, "
            f"{run.listed} listed ({run.new_listings} new), {run.delistings} delisted, "
            f"{run.error_count} errors"
            + ("; the cap on lookups stopped it, the next run goes on" if run.cap_reached else "")
        )
    )
    if run.tallies:
        table = Table("list", "lookups", "listed", "not listed", "errors", "stopped")
        for name, tally in sorted(run.tallies.items()):
            table.add_row(
                plain(name),
                str(tally.get("queries", 0)),
                str(tally.get("listed", 0)),
                str(tally.get("not_listed", 0)),
                str(tally.get("errors", 0)),
                plain(tally.get("stopped", "") or "-"),
            )
        console.print(table)
    if run.errors:
        table = Table("target", "list", "error", "detail")
        for error in run.errors[:ERRORS_SHOWN]:
            table.add_row(
                plain(error.get("target") or "(whole list)"),
                plain(error.get("blocklist") or "-"),
                plain(error.get("error", "")),
                plain(error.get("detail", "")),
            )
        console.print(table)
        if run.error_count > ERRORS_SHOWN:
            console.print(plain(f"... and {run.error_count - ERRORS_SHOWN} more errors"))


@app.command("listings")
def listings(
    *,
    all_: bool = typer.Option(False, "--all", help="Also the listings that ended."),
    target: str | None = typer.Option(None, help="Only this IP address or domain."),
    account: str | None = typer.Option(None, help="Only listings naming this account (its id)."),
    limit: int = typer.Option(100, min=1, help="Show at most this many."),
) -> None:
    """Show the current listings (with --all, their history), newest first."""
    with open_container() as container, read_only(container.sessions) as session:
        account_id: int | None = None
        if account is not None:
            account_id = session.scalar(select(Account.id).where(Account.external_id == account))
            if account_id is None:
                errors.print(plain(f"no account {account!r}"))
                raise typer.Exit(1)
        found = store.listings(
            session,
            open_only=not all_,
            target=_target(target) if target else None,
            account_id=account_id,
            limit=limit,
        )
    if not found:
        console.print(plain("no listings" if all_ else "nothing is listed now"))
        return
    table = Table("target", "list", "why", "held by", "first seen", "last confirmed", "delisted")
    for listing in found:
        table.add_row(
            plain(listing.target),
            plain(listing.blocklist),
            plain(", ".join(listing.meanings)),
            plain(_holder(listing)),
            f"{listing.first_seen_at:%Y-%m-%d %H:%M}",
            f"{listing.last_confirmed_at:%Y-%m-%d %H:%M}",
            f"{listing.delisted_at:%Y-%m-%d %H:%M}" if listing.delisted_at else "-",
        )
    console.print(table)


def _target(text: str) -> str:
    """Return a typed IP or domain as listings store it, or print why not and exit 2."""
    try:
        return parse_target(text)[1]
    except InvalidQueryTarget as exc:
        errors.print(plain(exc))
        raise typer.Exit(2) from exc


def _holder(listing: Listing) -> str:
    """Return who held the target when it was listed, in words."""
    accounts = ", ".join(holder.external_id for holder in listing.accounts)
    if listing.holding == "shared":
        return f"shared pool {listing.pool or '?'}"
    if accounts:
        return f"account {accounts}" if len(listing.accounts) == 1 else f"accounts {accounts}"
    return "nobody (unallocated)"
