"""``abusedesk search``: find cases, accounts and events, and rebuild the search index.

Exit codes: 0 done (also when nothing matched), 2 a query that cannot be run.
"""

import typer
from rich.table import Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.search.query import QueryInvalid, parse_query
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.search import reindex_all, search

app = typer.Typer(
    help="Search cases, accounts and events; rebuild the index.", no_args_is_help=True
)


@app.command("find")
def find(
    query: list[str] = typer.Argument(..., help="Terms, all of which must match."),
    limit: int = typer.Option(20, min=1, max=200, help="Show at most this many of each."),
) -> None:
    """Find by IP, address, Message-ID, URL, domain, phone, #case, account:<id>, or words."""
    try:
        parsed = parse_query(" ".join(query))
    except QueryInvalid as exc:
        errors.print(plain(exc))
        raise typer.Exit(2) from exc
    with open_container() as container, read_only(container.sessions) as session:
        results = search(session, parsed, limit=limit)
    console.print(plain(f"read as: {results.query}"))
    if results.cases:
        cases = Table("case", "account", "group", "status", "priority", "events")
        for case in results.cases:
            cases.add_row(
                str(case.id),
                str(case.account_id),
                case.category_group,
                case.status,
                str(case.priority),
                str(case.event_count),
            )
        console.print(cases)
    if results.accounts:
        accounts = Table("account", "external id", "name", "standing", "found by")
        for account in results.accounts:
            accounts.add_row(
                str(account.id),
                plain(account.external_id),
                plain(account.name),
                account.standing,
                plain(account.found_by),
            )
        console.print(accounts)
    if results.events:
        events = Table("event", "occurred", "category", "reporter", "account", "case")
        for event in results.events:
            events.add_row(
                str(event.id),
                f"{event.occurred_at:%Y-%m-%d %H:%M}",
                event.category,
                plain((event.reporter or "-")[:40]),
                str(event.account_id or "-"),
                str(event.case_id or "-"),
            )
        console.print(events)
        if results.more_events:
            console.print(f"more events match; showing the newest {limit}")
    if not (results.cases or results.accounts or results.events):
        console.print("nothing matches")


@app.command("reindex")
def reindex(batch: int = typer.Option(5000, min=1, help="Events per transaction.")) -> None:
    """Rebuild the search index of every stored event (after a restore, say)."""
    last: int | None = 0
    with open_container() as container:
        while last is not None:
            done = last
            with unit_of_work(container.sessions) as session:
                last = reindex_all(session, after_id=done, batch=batch)
    console.print(f"search index rebuilt for events up to id {done}")
