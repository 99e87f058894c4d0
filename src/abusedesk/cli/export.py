"""``abusedesk export parquet``: the analytics views as Parquet files, for DuckDB and friends.

Each view becomes ``<view>.parquet`` in the folder given, written in batches as the rows
stream from the database: never the whole view in memory. The columns keep the types of
the data dictionary (docs/analytics.md): whole numbers, decimals, text, UTC timestamps.
The export reads every view in one read transaction (``REPEATABLE READ`` on PostgreSQL), so
the files agree with one another as one moment's snapshot; it is audited.

Exit codes: 0 done, 1 refused (unknown view, folder not writable), 2 invalid input.
"""

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type hints
import pyarrow.parquet as pq  # type: ignore[import-untyped]  # pyarrow ships no type hints
import typer
from sqlalchemy import Connection, text

from abusedesk.cli.context import console, errors, open_container, plain
from abusedesk.cli.privacy import cli_actor
from abusedesk.core.clock import as_utc, utcnow
from abusedesk.storage import audit
from abusedesk.storage.analytics import VIEW_NAMES, VIEWS, Kind, View, qualified
from abusedesk.storage.db import unit_of_work

app = typer.Typer(help="Export the analytics views for analysis elsewhere.", no_args_is_help=True)

# Rows fetched from the database and written to a Parquet row group at a time.
BATCH_ROWS: Final = 50_000

_ARROW_TYPES: Final[dict[Kind, pa.DataType]] = {
    "int": pa.int64(),
    "flag": pa.int8(),
    "float": pa.float64(),
    "text": pa.string(),
    "time": pa.timestamp("us", tz="UTC"),
}


def arrow_schema(view: View) -> pa.Schema:
    """Return the Parquet schema of *view*: one typed column per view column."""
    return pa.schema([pa.field(c.name, _ARROW_TYPES[c.kind]) for c in view.columns])


def _time(value: Any) -> datetime | None:
    """Return a stored time as an aware UTC datetime (SQLite gives ISO text)."""
    if value is None:
        return None
    if isinstance(value, str):
        return as_utc(datetime.fromisoformat(value))
    return as_utc(value)


def _converter(kind: Kind) -> Any:
    if kind == "time":
        return _time
    if kind == "float":
        return lambda value: None if value is None else float(value)
    if kind in ("int", "flag"):
        return lambda value: None if value is None else int(value)
    return lambda value: None if value is None else str(value)


def export_view(
    connection: Connection, view: View, target: Path, *, batch_rows: int = BATCH_ROWS
) -> int:
    """Write *view* to the Parquet file *target* in batches; return the rows written."""
    schema = arrow_schema(view)
    converters = [_converter(column.kind) for column in view.columns]
    columns = ", ".join(view.column_names)
    query = text(f"SELECT {columns} FROM {qualified(view, connection.dialect.name)}")  # noqa: S608  # our view names and definitions
    written = 0
    partial = target.with_name(target.name + ".partial")
    with pq.ParquetWriter(partial, schema) as writer:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(
            query
        )
        for rows in result.partitions(batch_rows):
            writer.write_batch(_batch(schema, converters, rows))
            written += len(rows)
        if written == 0:
            writer.write_table(schema.empty_table())
    partial.replace(target)
    return written


def _batch(
    schema: pa.Schema, converters: Sequence[Any], rows: Iterable[Sequence[Any]]
) -> pa.RecordBatch:
    columns: list[list[Any]] = [[] for _ in converters]
    for row in rows:
        for index, convert in enumerate(converters):
            columns[index].append(convert(row[index]))
    return pa.RecordBatch.from_arrays(
        [pa.array(values, type=field.type) for values, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


@app.command("parquet")
def parquet(
    outdir: Path = typer.Argument(..., help="The folder to write <view>.parquet files into."),
    *,
    view: list[str] = typer.Option(  # typer reads the default at definition
        [], "--view", help="Export only this view (repeat for more) [default: every view]."
    ),
) -> None:
    """Write the analytics views as Parquet files, one per view, in batches."""
    unknown = sorted(set(view) - set(VIEW_NAMES))
    if unknown:
        errors.print(
            plain(f"no such view: {', '.join(unknown)}; the views are {', '.join(VIEW_NAMES)}")
        )
        raise typer.Exit(1)
    chosen = [v for v in VIEWS if not view or v.name in view]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as problem:
        errors.print(plain(f"cannot write to {outdir}: {problem.strerror or problem}"))
        raise typer.Exit(1) from None
    counts: dict[str, int] = {}
    with open_container() as container:
        snapshot = {"isolation_level": "REPEATABLE READ"}
        if container.engine.dialect.name != "postgresql":
            snapshot = {}
        with (
            container.engine.connect().execution_options(**snapshot) as connection,
            connection.begin(),
        ):
            for one in chosen:
                target = outdir / f"{one.name}.parquet"
                try:
                    counts[one.name] = export_view(connection, one, target)
                except OSError as problem:
                    errors.print(plain(f"cannot write {target}: {problem.strerror or problem}"))
                    raise typer.Exit(1) from None
                console.print(plain(f"{one.name}: {counts[one.name]} rows -> {target}"))
        with unit_of_work(container.sessions) as session:
            audit.record(
                session,
                actor=cli_actor(),
                tag="sql:export:parquet",
                subject_type="sql_console",
                subject_id=cli_actor(),
                at=utcnow(),
                after={"views": counts},
            )
