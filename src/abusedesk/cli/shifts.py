"""``abusedesk shifts``: import analysts' shifts and breaks from a rota file.

The file is CSV with a header line ``username,kind,starts_at,ends_at[,note]``; kind is
shift, break, training or meeting; times are ISO 8601 with a timezone
(``2026-11-02T08:00Z``). Every line or none is imported: a file with problems is
refused with each problem and its line. Lines imported before are skipped, so the same
file imported twice changes nothing. Each imported period is audited, in the name of
``--actor`` (the operating-system user by default).
"""

from pathlib import Path

import typer

from abusedesk.cli.context import console, errors, open_container
from abusedesk.cli.unattributed import default_actor
from abusedesk.core.clock import utcnow
from abusedesk.storage.analyst_activity import ShiftImportRefused, import_periods
from abusedesk.storage.db import unit_of_work

app = typer.Typer(help="Import analysts' shifts and breaks from a rota file.", no_args_is_help=True)

# A rota bigger than this is refused unread.
MAX_BYTES = 20 * 1024 * 1024


@app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="The rota, CSV: username,kind,starts_at,ends_at[,note]."),
    actor: str | None = typer.Option(None, help="Who imports, for the audit log [OS user]."),
) -> None:
    """Import shifts, breaks, training and meetings from a CSV rota."""
    try:
        if file.stat().st_size > MAX_BYTES:
            errors.print(f"{file} is over {MAX_BYTES // (1024 * 1024)} MiB; split it")
            raise typer.Exit(2)
        text = file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        errors.print(f"cannot read {file}: {exc}")
        raise typer.Exit(2) from exc
    with open_container() as container:
        try:
            with unit_of_work(container.sessions) as session:
                outcome = import_periods(
                    session, text, actor=actor or default_actor(), now=utcnow()
                )
        except ShiftImportRefused as refused:
            errors.print(f"nothing imported: {len(refused.problems)} problem(s) in {file}")
            for problem in refused.problems:
                errors.print(f"  {problem}")
            raise typer.Exit(1) from refused
    console.print(f"imported {outcome.imported} period(s), skipped {outcome.skipped} already there")
