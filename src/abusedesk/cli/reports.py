"""``abusedesk report``: the weekly leadership report and the trend roll-ups it reads.

``weekly`` counts the events not yet rolled up, generates (or generates again) the report
of a week, keeping the lead's summary, prints its headline figures and writes it as PDF
or Markdown when asked. ``rollup`` counts every stored event not yet counted (``--rebuild``
forgets the counts first and counts everything again).

Exit codes: 0 done, 1 refused (a file that cannot be written), 2 invalid input.
"""

from pathlib import Path

import typer

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.unattributed import default_actor
from abusedesk.core.clock import utcnow
from abusedesk.documents.markdown import to_markdown
from abusedesk.documents.pdf import to_pdf
from abusedesk.insights.trends import InvalidWeek, change, parse_week, weekly_document
from abusedesk.insights.weeks import WEEK, week_start
from abusedesk.pipeline.weekly_reports import CATCH_UP_BATCHES, WeeklyReports
from abusedesk.storage import trends as store
from abusedesk.storage.db import unit_of_work

app = typer.Typer(
    help="Generate the weekly leadership report; keep the trend roll-ups up to date.",
    no_args_is_help=True,
)


@app.command("weekly")
def weekly(
    *,
    week: str | None = typer.Option(
        None, "--week", help="Any date of the week, YYYY-MM-DD [default: last week]."
    ),
    pdf: Path | None = typer.Option(None, "--pdf", help="Write the report as PDF to this file."),
    markdown: Path | None = typer.Option(
        None, "--markdown", help="Write the report as Markdown to this file."
    ),
    actor: str | None = typer.Option(None, help="Who generates, for the audit log [OS user]."),
) -> None:
    """Generate the report of a week and print its headline figures."""
    now = utcnow()
    try:
        start = parse_week(week, now=now) if week else week_start(now) - WEEK
    except InvalidWeek as problem:
        errors.print(plain(problem))
        raise typer.Exit(2) from problem
    with open_container() as container:
        reports = WeeklyReports(container.sessions, container.settings)
        record = reports.generate(start, actor=(actor or "").strip() or default_actor(), now=now)
    figures = record.figures
    assert figures is not None  # noqa: S101  # just generated in the current shape
    executed = sum(c.count for c in figures.actions_executed)
    console.print(plain(f"Weekly report, week of {start:%Y-%m-%d} (to {start + WEEK:%Y-%m-%d})"))
    console.print(
        plain(
            f"  events {figures.events:,} ({change(figures.events, figures.previous_events)}"
            f" against {figures.previous_events:,}), cases opened {figures.cases_opened:,},"
            f" closed {figures.cases_closed:,}, backlog {figures.backlog_end:,},"
            f" actions executed {executed:,}"
        )
    )
    doc = weekly_document(figures, summary=record.summary, generated_at=record.generated_at)
    for path, data in (
        (pdf, (lambda: to_pdf(doc)) if pdf else None),
        (markdown, (lambda: to_markdown(doc).encode("utf-8")) if markdown else None),
    ):
        if path is None or data is None:
            continue
        try:
            path.write_bytes(data())
        except OSError as problem:
            errors.print(plain(f"could not write {path}: {problem.strerror or problem}"))
            raise typer.Exit(1) from problem
        console.print(plain(f"  written to {path}"))


@app.command("rollup")
def rollup(
    *,
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Forget the counts and count every stored event again."
    ),
) -> None:
    """Count the stored events not yet counted in the trend roll-ups."""
    now = utcnow()
    with open_container() as container:
        if rebuild:
            with unit_of_work(container.sessions) as session:
                store.rebuild(session, now=now)
        reports = WeeklyReports(container.sessions, container.settings)
        counted = reports.roll_up(now, batches=CATCH_UP_BATCHES, settle=False)
    console.print(plain(f"counted {counted:,} event id{'' if counted == 1 else 's'}"))
