"""``abusedesk db`` and ``abusedesk init``: create and upgrade the database."""

import typer

from abusedesk.cli.context import console, open_container
from abusedesk.storage import migrate

app = typer.Typer(help="Create and upgrade the database.", no_args_is_help=True)


@app.command("upgrade")
def upgrade() -> None:
    """Apply every pending migration (and the job engine's schema on PostgreSQL)."""
    with open_container() as container:
        before = migrate.current_revision(container.engine)
        migrate.upgrade(container.engine)
        after = migrate.current_revision(container.engine)
        if container.engine.dialect.name == "postgresql":
            from abusedesk.pipeline.queue import apply_schema  # noqa: PLC0415  # PostgreSQL only

            apply_schema(container.settings.database.url)
    console.print(f"database at revision {after} (was {before or 'empty'})")


@app.command("current")
def current() -> None:
    """Print the revision the database is at and the newest one the code knows."""
    with open_container() as container:
        console.print(
            f"database: {migrate.current_revision(container.engine) or 'empty'}; "
            f"code: {migrate.head_revision()}"
        )


def init() -> None:
    """Create the working folders and bring the database up to date."""
    with open_container() as container:
        container.settings.storage.evidence_dir.mkdir(parents=True, exist_ok=True)
    upgrade()
