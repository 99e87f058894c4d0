"""``abusedesk token``: issue, list and revoke service API tokens."""

import typer
from rich.table import Column, Table

from abusedesk.cli.context import console, errors, open_container
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tokens import PREFIX_BYTES, SCOPES, SqlTokenRepository

app = typer.Typer(help="Issue, list and revoke service API tokens.", no_args_is_help=True)

ACTOR = "cli"


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what uses the token, e.g. 'ses-forwarder'."),
    scopes: list[str] = typer.Option(
        [],
        "--scope",
        help=f"A scope to grant; repeat for several. Known: {', '.join(sorted(SCOPES))}.",
    ),
) -> None:
    """Create a token and print it once; only its hash is kept."""
    tokens = SqlTokenRepository()
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                issued = tokens.create(session, name, scopes, actor=ACTOR, now=utcnow())
        except AbuseDeskError as exc:
            errors.print(str(exc), markup=False)
            raise typer.Exit(2) from exc
    info = issued.info
    console.print(
        f"created token {info.token_id} ({info.display_prefix}) named {info.name!r} "
        f"with scopes {', '.join(info.scopes)}",
        markup=False,
        soft_wrap=True,
    )
    # Printed plainly on a line of its own so that no terminal width wraps it.
    typer.echo(issued.token)
    console.print("Store it now: it is shown only this once and cannot be recovered.")


@app.command("list")
def list_() -> None:
    """List every token: name, prefix, scopes, and when it was created, last used, revoked."""
    tokens = SqlTokenRepository()
    with open_container() as container, unit_of_work(container.sessions) as session:
        rows = tokens.list_tokens(session)
    if not rows:
        console.print("no tokens yet; create one with `abusedesk token create NAME --scope ...`")
        return
    # The prefix is how a token is named for revocation: it must never be cut short.
    table = Table(
        Column("id", no_wrap=True),
        Column("name", overflow="fold"),
        Column("prefix", no_wrap=True, min_width=len("abd_") + 2 * PREFIX_BYTES),
        Column("scopes", overflow="fold"),
        Column("created", overflow="fold"),
        Column("last used", overflow="fold"),
        Column("state", overflow="fold"),
    )
    for info in rows:
        table.add_row(
            str(info.token_id),
            info.name,
            info.display_prefix,
            " ".join(info.scopes),
            f"{info.created_at:%Y-%m-%d %H:%M}",
            f"{info.last_used_at:%Y-%m-%d %H:%M}" if info.last_used_at else "never",
            f"revoked {info.revoked_at:%Y-%m-%d %H:%M}" if info.revoked_at else "active",
        )
    console.print(table)


@app.command("revoke")
def revoke(
    identifier: str = typer.Argument(..., help="The token's id, or its prefix (abd_<prefix>)."),
    reason: str | None = typer.Option(None, help="Why, for the audit log."),
) -> None:
    """Revoke a token at once; requests that present it are refused from now on."""
    tokens = SqlTokenRepository()
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                outcome = tokens.revoke(
                    session, identifier, actor=ACTOR, now=utcnow(), reason=reason
                )
        except AbuseDeskError as exc:
            errors.print(str(exc), markup=False)
            raise typer.Exit(1) from exc
    info = outcome.info
    if outcome.changed:
        console.print(f"revoked token {info.token_id} ({info.display_prefix})", markup=False)
    else:
        console.print(
            f"token {info.token_id} ({info.display_prefix}) was already revoked "
            f"at {info.revoked_at:%Y-%m-%d %H:%M}",
            markup=False,
        )
