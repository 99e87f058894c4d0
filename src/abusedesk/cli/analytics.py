"""``abusedesk analytics grant``: set up the PostgreSQL login role of the SQL console.

The role (``ABUSEDESK_ANALYTICS__ROLE``, default ``abusedesk_analytics``) may log in,
use the schema ``analytics`` and SELECT its views: nothing else. Its sessions start read
only with a statement time limit, and it may hold only a few connections. Run as a
superuser, it also caps the role's temporary files and takes the advisory lock functions
from everyone but the application's own role (it says so when it could not). Run it as a
database user that may create roles, after ``abusedesk init`` (and again after an upgrade
that adds views). The password, when one is wanted, is read from standard input.
SQLite needs no role: the console opens the file read only, behind an authorizer.

Exit codes: 0 done, 1 refused (not PostgreSQL, no right to create roles).
"""

import sys

import typer
from sqlalchemy.exc import DBAPIError

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.sql_console import grant_role

app = typer.Typer(help="The SQL console's database role.", no_args_is_help=True)


@app.command("grant")
def grant(
    *,
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the role's password from standard input."
    ),
) -> None:
    """Create or update the console's read-only PostgreSQL role and its grants."""
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with open_container() as container:
        settings = container.settings.analytics
        if container.engine.dialect.name != "postgresql":
            console.print(
                plain(
                    "SQLite needs no role: the console opens the database read only, "
                    "behind an authorizer that lets it read the analytics views only"
                )
            )
            return
        try:
            with container.engine.begin() as connection:
                done = grant_role(
                    connection,
                    role=settings.role,
                    password=password,
                    connection_limit=settings.connection_limit,
                    time_limit_seconds=settings.time_limit_seconds,
                )
        except AbuseDeskError as problem:
            errors.print(plain(problem))
            raise typer.Exit(1) from None
        except DBAPIError as problem:
            first = str(problem.orig).strip().splitlines()[0] if problem.orig else str(problem)
            errors.print(plain(f"the database refused: {first}"))
            raise typer.Exit(1) from None
    for line in done:
        console.print(plain(line))
