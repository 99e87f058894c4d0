"""The ``abusedesk`` command line: one module per command group."""

import typer

from abusedesk.cli import (
    analytics,
    audit,
    blocklists,
    database,
    demo,
    export,
    imap,
    ingest,
    inventory,
    parsers,
    privacy,
    qa,
    quarantine,
    queues,
    reports,
    search,
    serve,
    shifts,
    token,
    unattributed,
    unknown,
    user,
    worker,
)

app = typer.Typer(
    name="abusedesk",
    help="abusedesk: the Trust & Safety workbench for cloud messaging providers.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(database.app, name="db")
app.add_typer(quarantine.app, name="quarantine")
app.add_typer(parsers.app, name="parsers")
app.add_typer(unknown.app, name="unknown")
app.add_typer(unattributed.app, name="unattributed")
app.command("init")(database.init)
app.command("ingest")(ingest.ingest)
app.command("worker")(worker.worker)
app.command("serve")(serve.serve)
app.command("run", help="Same as serve.")(serve.serve)
app.add_typer(token.app, name="token")
app.add_typer(user.app, name="user")
app.add_typer(demo.app, name="demo")
app.add_typer(imap.app, name="imap")
app.add_typer(inventory.app, name="inventory")
app.add_typer(privacy.app, name="privacy")
app.add_typer(audit.app, name="audit")
app.add_typer(search.app, name="search")
app.add_typer(queues.queue_app, name="queue")
app.add_typer(queues.routing_app, name="routing")
app.add_typer(queues.calendar_app, name="calendar")
app.add_typer(blocklists.app, name="blocklists")
# insights commands: metrics (shifts import)
app.add_typer(shifts.app, name="shifts")
# insights commands: qa
app.add_typer(qa.app, name="qa")
# insights commands: reports
app.add_typer(reports.app, name="report")
# insights commands: analytics (export parquet)
app.add_typer(export.app, name="export")
app.add_typer(analytics.app, name="analytics")


def main() -> None:
    """Run the command line."""
    app()
