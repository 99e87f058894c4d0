"""``abusedesk parsers``: how well each reporter's reports parse, worst first."""

from datetime import timedelta

import typer
from rich.table import Table

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.core.clock import utcnow
from abusedesk.parsing.health import DropRule
from abusedesk.pipeline.parser_health import ParserHealthWatch
from abusedesk.storage.db import read_only
from abusedesk.storage.parser_health import (
    OUTCOMES,
    ParserHealth,
    count_outcomes,
    health_table,
)

app = typer.Typer(help="See how well reports parse, per reporter and format.", no_args_is_help=True)

WINDOW = "window"
# A reporter whose failed and unrecognised reports exceed this share needs a look.
PROBLEM_SHARE = 0.1


@app.command("health")
def health(
    hours: int = typer.Option(
        24 * 7, "--hours", help="Count reports received this many hours back."
    ),
) -> None:
    """Show outcomes and success rate per reporter and format, worst first."""
    if hours < 1:
        errors.print("--hours must be at least 1")
        raise typer.Exit(2)
    with open_container() as container, read_only(container.sessions) as session:
        counts = count_outcomes(session, now=utcnow(), windows={WINDOW: timedelta(hours=hours)})
    rows = health_table(counts, window=WINDOW)
    if not rows:
        console.print(f"no reports in the last {hours} hour(s)")
        return
    table = Table(
        "reporter",
        "format",
        *(outcome.replace("_", " ") for outcome in OUTCOMES),
        "success",
        "note",
        title=f"parser health, last {hours} hour(s)",
    )
    for row in rows:
        table.add_row(
            # Reporter names come from reports: printed escaped, and on one line.
            plain(row.reporter.replace("\n", "\\n")),
            plain(row.report_format),
            *(str(row.counts.get(outcome, 0)) for outcome in OUTCOMES),
            "-" if row.success_rate is None else f"{row.success_rate:.0%}",
            note(row),
        )
    console.print(table)


@app.command("check")
def check(
    recent_hours: float = typer.Option(6, help="The recent window, in hours."),
    baseline_days: float = typer.Option(7, help="The baseline window before it, in days."),
    min_recent: int = typer.Option(20, help="Reports needed in the recent window."),
    min_baseline: int = typer.Option(50, help="Reports needed in the baseline window."),
    min_drop: float = typer.Option(0.25, help="The fall in the share read that is a drop."),
) -> None:
    """Compare each reporter's recent parse success with its baseline; signal the drops.

    Workers run this check on their own every few minutes with the default figures.
    """
    try:
        rule = DropRule(
            recent=timedelta(hours=recent_hours),
            baseline=timedelta(days=baseline_days),
            min_recent=min_recent,
            min_baseline=min_baseline,
            min_drop=min_drop,
        )
    except ValueError as exc:
        errors.print(plain(exc))
        raise typer.Exit(2) from exc
    with open_container() as container:
        raised = ParserHealthWatch(container.sessions, rule=rule).check()
    console.print(f"raised {len(raised)} signal(s)")


def note(row: ParserHealth) -> str:
    """Return a warning in words when too many of a row's reports fail or go unrecognised."""
    if not row.settled or row.problems / row.settled <= PROBLEM_SHARE:
        return ""
    return f"ATTENTION: {row.problems} of {row.settled} not read"
