"""Running untrusted SQL over the analytics views: read only, one statement, within limits.

Each query gets a connection of its own and is wrapped as ``SELECT * FROM (<sql>) AS q
LIMIT <rows + 1>``, so that only a query fits and no more rows than the limit plus one
(to tell that there were more) ever leave the database.

PostgreSQL: the connection logs in as the analytics role (``grant_role``), which may
SELECT the views in the schema ``analytics`` and nothing else; the transaction is READ
ONLY, the statement has a server-side time limit, and a watchdog here cancels it should
the limit not hold. The statement goes out on the extended protocol, which refuses two
statements in one. The application never switches its own session to that role: a query
could switch it back. The grant also caps the role's temporary files and takes the
advisory lock functions away from it (both need a superuser; the grant says when not).

Both: rows are fetched in batches and a result whose values pass a byte limit is refused
(on PostgreSQL a row past it is refused on the server before it is sent).

SQLite: the connection opens the file read only (``mode=ro``), with no attached databases
allowed, and an authorizer that allows a SELECT to read the analytics views and nothing
else, and to call a list of harmless functions. The views are created afresh on the
connection as temporary views over inner views with a random name; only reads made by
those inner views may touch the tables beneath. A query's own common table expression
named like a view is therefore still a query of its own: the authorizer reports the name
of the innermost view or CTE a read comes from, and a CTE may take any name but the
random one. A progress handler stops a statement past its time limit.
"""

import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import psycopg
import psycopg.errors
from sqlalchemy import Connection, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage import audit
from abusedesk.storage.analytics import READ_TABLES, SCHEMA, VIEW_NAMES, VIEWS, Dialect
from abusedesk.storage.tables import AuditEntry, table_of

# What the console says the queries read, in the messages it refuses with.
VIEWS_HINT: Final = "the console reads only the analytics views (analytics_events, ...)"
# The audit's tag, subject type and the longest query text kept in an audit row.
RUN_TAG: Final = "sql:query:run"
SUBJECT_TYPE: Final = "sql_console"
AUDITED_SQL_CHARS: Final = 20_000
# Seconds past the time limit the watchdog waits before cancelling a PostgreSQL query.
WATCHDOG_GRACE: Final = 1.0
# SQLite: the longest string or blob a query may make, and VM steps between deadline checks.
SQLITE_MAX_LENGTH: Final = 10_000_000
# PostgreSQL: what the wrapper's check says when one row is larger than the byte limit.
ROW_TOO_LARGE: Final = "abusedesk-console-row-too-large"
# PostgreSQL: the temporary files one console statement may write (sorts, hashes).
TEMP_FILE_LIMIT: Final = "1GB"
PROGRESS_STEPS: Final = 1000
# Rows fetched from the database at a time, so that the byte limit is checked as they come.
FETCH_BATCH: Final = 100

# Functions an untrusted SQLite query may call: arithmetic, text, dates, aggregates and
# window functions. Not load_extension, readfile, zeroblob and the like.
SQLITE_FUNCTIONS: Final = frozenset(
    [
        "abs",
        "avg",
        "ceil",
        "ceiling",
        "char",
        "coalesce",
        "count",
        "cume_dist",
        "date",
        "datetime",
        "dense_rank",
        "exp",
        "first_value",
        "floor",
        "format",
        "glob",
        "group_concat",
        "hex",
        "ifnull",
        "iif",
        "instr",
        "julianday",
        "lag",
        "last_value",
        "lead",
        "length",
        "like",
        "likelihood",
        "likely",
        "ln",
        "log",
        "log10",
        "log2",
        "lower",
        "ltrim",
        "max",
        "min",
        "mod",
        "nth_value",
        "ntile",
        "nullif",
        "percent_rank",
        "pi",
        "pow",
        "power",
        "printf",
        "quote",
        "random",
        "rank",
        "replace",
        "round",
        "row_number",
        "rtrim",
        "sign",
        "sqrt",
        "strftime",
        "string_agg",
        "substr",
        "substring",
        "sum",
        "time",
        "total",
        "trim",
        "trunc",
        "typeof",
        "unicode",
        "unixepoch",
        "unlikely",
        "upper",
    ]
)

# The outcomes an audit row records.
OK: Final = "ok"
TRUNCATED: Final = "truncated"
REFUSED: Final = "refused"
TIME_LIMIT: Final = "time_limit"
FAILED: Final = "error"


class ConsoleProblem(AbuseDeskError):
    """The console did not give a result; ``outcome`` says which way it ended."""

    outcome: str = FAILED


class QueryRefused(ConsoleProblem):
    """Raise when a query would do more than read the analytics views."""

    outcome = REFUSED


class QueryTimedOut(ConsoleProblem):
    """Raise when a query ran past its time limit and was stopped."""

    outcome = TIME_LIMIT


class QueryFailed(ConsoleProblem):
    """Raise when the database could not run a query (a mistake in it, an unknown column)."""


class ConsoleUnavailable(ConsoleProblem):
    """Raise when the console cannot reach the database as its read-only role."""


@dataclass(frozen=True)
class ConsoleLimits:
    """The limits every query runs within, set by the server."""

    row_limit: int = 1000
    time_limit_seconds: float = 10.0
    max_query_chars: int = 20_000
    # The most bytes of values one result may bring into the application (and one row,
    # on PostgreSQL, may leave the server with), whatever the number of rows.
    max_result_bytes: int = 64_000_000


class _Budget:
    """Count the bytes of the rows a result brings in; refuse once they pass the limit."""

    def __init__(self, limits: ConsoleLimits) -> None:
        self.limits = limits
        self.used = 0

    def take(self, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self.used += sum(_size(value) for value in row)
        if self.used > self.limits.max_result_bytes:
            raise QueryRefused(too_large(self.limits))


def too_large(limits: ConsoleLimits) -> str:
    """Say that a result passed the console's size limit, and what to do instead."""
    return (
        f"the result is larger than the console's limit of "
        f"{limits.max_result_bytes // 1_000_000:,} MB; select fewer or shorter columns, "
        "or aggregate"
    )


def _size(value: Any) -> int:
    if isinstance(value, str | bytes | bytearray | memoryview):
        return len(value)
    return 16 if value is not None else 1


def _fetch(cursor: Any, limits: ConsoleLimits) -> list[Any]:
    """Fetch at most row limit + 1 rows from *cursor*, in batches, within the byte limit."""
    budget = _Budget(limits)
    rows: list[Any] = []
    while len(rows) <= limits.row_limit:
        batch = cursor.fetchmany(min(FETCH_BATCH, limits.row_limit + 1 - len(rows)))
        if not batch:
            break
        budget.take(batch)
        rows.extend(batch)
    return rows


@dataclass(frozen=True)
class QueryResult:
    """What a query gave: its columns, at most the row limit of rows, and whether more."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool
    duration_ms: int

    @property
    def outcome(self) -> str:
        """Return ``truncated`` when rows were left out, else ``ok``."""
        return TRUNCATED if self.truncated else OK


_TRAILING = re.compile(r"[\s;]+$")
# Leading blanks, comments and opening parentheses, then the first word of the query.
_FIRST_WORD = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z_]+)", re.DOTALL)
_QUERY_WORDS: Final = frozenset({"SELECT", "WITH", "VALUES"})


def prepare(sql: str, limits: ConsoleLimits) -> str:
    """Return *sql* ready to wrap (trailing semicolons dropped), or refuse it, saying why."""
    if len(sql) > limits.max_query_chars:
        raise QueryRefused(
            f"the query is {len(sql):,} characters long; the console takes at most "
            f"{limits.max_query_chars:,}"
        )
    if "\x00" in sql:
        raise QueryRefused("the query holds a NUL character; remove it")
    cleaned = _TRAILING.sub("", sql.strip())
    if not cleaned:
        raise QueryRefused("write a query first: a SELECT over the analytics views")
    first = _FIRST_WORD.match(cleaned)
    word = first.group(1).upper() if first else ""
    if word not in _QUERY_WORDS:
        shown = f"{word} is" if word else "that is"
        raise QueryRefused(
            f"the console runs one SELECT over the analytics views; {shown} not a query it runs"
        )
    return cleaned


# --- SQLite -----------------------------------------------------------------------------


@dataclass
class _Guard:
    """The authorizer of one console connection: reads of the views, harmless functions."""

    inner: frozenset[str]
    # Every table and view of the database, so that a name that is none of them is a CTE.
    stored: frozenset[str]
    problem: str | None = field(default=None)

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, source: str | None
    ) -> int:
        # SQLite names tables and views as the query spelled them: compare without case.
        table = (arg1 or "").lower()
        origin = source.lower() if source is not None else None
        allowed = self._allows(action, table, arg2, origin)
        if not allowed and self.problem is None:
            self.problem = self._why(action, table, arg2)
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY

    def _allows(self, action: int, table: str, arg2: str | None, origin: str | None) -> bool:
        if action in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
            return True
        if action == sqlite3.SQLITE_READ:
            if origin in self.inner:
                # The definitions of the views, reading the tables beneath them.
                return True
            if table in self.inner:
                return origin in VIEW_NAMES
            if table in VIEW_NAMES:
                return True
            # count(*) over a view whose query SQLite folded into the outer one names the
            # tables beneath with no column: their row counts are answered, nothing else.
            # The same over a query's own CTE names the CTE.
            return arg2 == "" and (table in READ_TABLES or table not in self.stored)
        if action == sqlite3.SQLITE_FUNCTION:
            return origin in self.inner or (arg2 or "").lower() in SQLITE_FUNCTIONS
        return False

    def _why(self, action: int, table: str, arg2: str | None) -> str:
        if action == sqlite3.SQLITE_READ:
            # Never the inner views' random names: they are nobody's business.
            shown = "that" if table in self.inner else table
            return f"{shown} is not one of the analytics views: {VIEWS_HINT}"
        if action == sqlite3.SQLITE_FUNCTION:
            return f"the function {arg2}() is not allowed in the console"
        if action == sqlite3.SQLITE_PRAGMA:
            return "PRAGMA is not allowed: the console only reads the analytics views"
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return "ATTACH and DETACH are not allowed: the console reads only this database"
        return "the console only reads: writing, creating or changing anything is not allowed"


class SqliteConsole:
    """Run console queries on a SQLite database file, through a read-only connection."""

    def __init__(self, path: Path) -> None:
        """Remember the database file; nothing is opened until a query runs."""
        self.path = path.resolve()

    def _connect(self) -> sqlite3.Connection:
        uri = f"file:{quote(str(self.path))}?mode=ro"
        try:
            connection = sqlite3.connect(
                uri, uri=True, isolation_level=None, check_same_thread=False, timeout=5
            )
        except sqlite3.Error as problem:
            raise ConsoleUnavailable(f"the database cannot be opened to read: {problem}") from None
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, SQLITE_MAX_LENGTH)
        return connection

    def run(self, sql: str, limits: ConsoleLimits) -> QueryResult:
        """Run *sql* and return its result; raise a ConsoleProblem saying why not."""
        query = prepare(sql, limits)
        connection = self._connect()
        try:
            stored = frozenset(
                str(name).lower()
                for (name,) in connection.execute("SELECT name FROM sqlite_schema")
            ) | {"sqlite_schema", "sqlite_master", "sqlite_temp_schema", "sqlite_temp_master"}
            guard = _Guard(self._install_views(connection), stored)
            connection.execute("PRAGMA query_only = ON")
            connection.set_authorizer(guard)
            started = time.monotonic()
            deadline = started + limits.time_limit_seconds
            connection.set_progress_handler(
                lambda: 1 if time.monotonic() > deadline else 0, PROGRESS_STEPS
            )
            try:
                cursor = connection.execute(
                    f"SELECT * FROM (\n{query}\n) AS q LIMIT {limits.row_limit + 1}"  # noqa: S608  # the console's own wrapper around the query it is there to run
                )
                rows = _fetch(cursor, limits)
            except sqlite3.Error as problem:
                raise _sqlite_problem(problem, guard, limits) from None
            columns = tuple(str(item[0]) for item in cursor.description or ())
            return _result(columns, rows, limits, started)
        finally:
            connection.close()

    @staticmethod
    def _install_views(connection: sqlite3.Connection) -> frozenset[str]:
        """Create the views as temporary views over randomly named inner ones; return those."""
        dialect = Dialect("sqlite")
        secret = secrets.token_hex(12)
        inner = []
        for view in VIEWS:
            hidden = f"inner_{secret}_{view.name}"
            inner.append(hidden)
            connection.execute(f'CREATE TEMP VIEW "{hidden}" AS {view.select(dialect)}')
            connection.execute(f'CREATE TEMP VIEW {view.name} AS SELECT * FROM "{hidden}"')  # noqa: S608  # the console's own wrapper around the query it is there to run
        return frozenset(inner)


def _sqlite_problem(problem: sqlite3.Error, guard: _Guard, limits: ConsoleLimits) -> ConsoleProblem:
    message = str(problem)
    if guard.problem is not None:
        return QueryRefused(guard.problem)
    if message == "interrupted":
        return QueryTimedOut(
            f"the query ran past the console's limit of {limits.time_limit_seconds:g} s and "
            "was stopped; narrow it down (a WHERE on a time, fewer joins)"
        )
    if "one statement at a time" in message or 'near ";"' in message:
        return QueryRefused("one statement at a time: the console runs a single SELECT")
    if "readonly" in message or "read-only" in message or "not authorized" in message:
        return QueryRefused("the console only reads the analytics views")
    return QueryFailed(f"the database could not run the query: {message}")


# --- PostgreSQL -------------------------------------------------------------------------


class PostgresConsole:
    """Run console queries on PostgreSQL as the analytics login role."""

    def __init__(self, conninfo: str) -> None:
        """Remember how to log in as the analytics role; nothing is opened until a query."""
        self.conninfo = conninfo

    def run(self, sql: str, limits: ConsoleLimits) -> QueryResult:
        """Run *sql* and return its result; raise a ConsoleProblem saying why not."""
        query = prepare(sql, limits)
        timeout_ms = max(1, int(limits.time_limit_seconds * 1000))
        try:
            connection = psycopg.connect(
                self.conninfo,
                connect_timeout=10,
                options=f"-c statement_timeout={timeout_ms} -c search_path={SCHEMA}",
            )
        except psycopg.Error as problem:
            raise ConsoleUnavailable(
                "the console cannot log in to the database as its read-only role (has "
                f"`abusedesk analytics grant` been run?): {_first_line(problem)}"
            ) from None
        watchdog = threading.Timer(
            limits.time_limit_seconds + WATCHDOG_GRACE, _cancel, args=(connection,)
        )
        try:
            connection.read_only = True
            with connection.cursor() as setup:
                setup.execute(f"SET LOCAL statement_timeout = {timeout_ms}")
                setup.execute(f"SET LOCAL search_path = {SCHEMA}")
            # A cursor on the server: rows come in batches, checked against the byte limit.
            with connection.cursor(name="console") as cursor:
                started = time.monotonic()
                watchdog.start()
                try:
                    # Percent signs doubled: the placeholders are the row size limit and the
                    # row limit, and with parameters the statement goes out on the extended
                    # protocol. A row larger than the byte limit stops the query on the
                    # server (the cast fails, naming ROW_TOO_LARGE) before it is sent.
                    cursor.execute(
                        f"SELECT q.* FROM (\n{query.replace('%', '%%')}\n) AS q"  # noqa: S608  # the console's own wrapper around the query it is there to run
                        " WHERE CASE WHEN octet_length(CAST(ROW(q.*) AS text)) > %s"
                        " THEN CAST(left(CAST(ROW(q.*) AS text), 0)"
                        f" || '{ROW_TOO_LARGE}' AS integer) ELSE 0 END = 0 LIMIT %s",
                        (limits.max_result_bytes, limits.row_limit + 1),
                    )
                    rows = _fetch(cursor, limits)
                except psycopg.Error as problem:
                    raise _postgres_problem(problem, limits) from None
                finally:
                    watchdog.cancel()
                columns = tuple(column.name for column in cursor.description or ())
            return _result(columns, [tuple(row) for row in rows], limits, started)
        finally:
            watchdog.cancel()
            connection.close()


def _cancel(connection: psycopg.Connection[Any]) -> None:
    """Ask the server to cancel the running statement (the watchdog's one job)."""
    try:
        connection.cancel()
    except psycopg.Error:
        # The query ended and the connection closed meanwhile: nothing left to cancel.
        return


def _first_line(problem: Exception) -> str:
    return (str(problem).strip().splitlines() or [type(problem).__name__])[0]


def _postgres_problem(problem: psycopg.Error, limits: ConsoleLimits) -> ConsoleProblem:
    message = _first_line(problem)
    if ROW_TOO_LARGE in message:
        return QueryRefused(too_large(limits))
    if "permission denied for function" in message:
        function = message.rsplit(" ", 1)[-1]
        return QueryRefused(f"the function {function}() is not allowed in the console")
    if isinstance(problem, psycopg.errors.QueryCanceled):
        return QueryTimedOut(
            f"the query ran past the console's limit of {limits.time_limit_seconds:g} s and "
            "was stopped; narrow it down (a WHERE on a time, fewer joins)"
        )
    if isinstance(problem, psycopg.errors.InsufficientPrivilege):
        return QueryRefused(f"{VIEWS_HINT}: {message}")
    if isinstance(
        problem, psycopg.errors.ReadOnlySqlTransaction | psycopg.errors.ActiveSqlTransaction
    ):
        return QueryRefused(f"the console only reads: {message}")
    if "multiple commands" in message or 'near ";"' in message:
        return QueryRefused("one statement at a time: the console runs a single SELECT")
    if "INTO is not allowed" in message:
        return QueryRefused("the console only reads: SELECT ... INTO is not allowed")
    if isinstance(problem, psycopg.errors.UndefinedTable):
        return QueryRefused(f"{message}: {VIEWS_HINT}")
    return QueryFailed(f"the database could not run the query: {message}")


def _result(
    columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]], limits: ConsoleLimits, started: float
) -> QueryResult:
    kept = list(rows[: limits.row_limit])
    return QueryResult(
        columns=columns,
        rows=kept,
        truncated=len(rows) > limits.row_limit,
        duration_ms=int((time.monotonic() - started) * 1000),
    )


# --- choosing the console, auditing, the PostgreSQL role --------------------------------

Console = SqliteConsole | PostgresConsole


def console_for(
    database_url: str, *, role: str, password: str | None = None, url: str | None = None
) -> Console:
    """Return the console for the application's database at *database_url*.

    On PostgreSQL it logs in as *role* (with *password*) to the same database, or at
    *url* when given.
    """
    parsed = make_url(database_url)
    if parsed.get_backend_name() == "sqlite":
        return SqliteConsole(Path(parsed.database or ""))
    target = make_url(url) if url else parsed.set(username=role, password=password)
    return PostgresConsole(
        target.set(drivername="postgresql").render_as_string(hide_password=False)
    )


def record_run(
    session: Session,
    *,
    actor: str,
    sql: str,
    outcome: str,
    rows: int,
    duration_ms: int,
    at: Any,
    purpose: str = "page",
    problem: str | None = None,
    saved_query_id: int | None = None,
) -> None:
    """Audit one console query, whatever became of it (the query text, outcome, rows, time)."""
    after: dict[str, Any] = {
        "sql": sql[:AUDITED_SQL_CHARS],
        "outcome": outcome,
        "rows": rows,
        "duration_ms": duration_ms,
        "purpose": purpose,
    }
    if saved_query_id is not None:
        after["saved_query_id"] = saved_query_id
    audit.record(
        session,
        actor=actor,
        tag=RUN_TAG,
        subject_type=SUBJECT_TYPE,
        subject_id=actor,
        at=at,
        after=after,
        reason=problem,
    )


@dataclass(frozen=True)
class HistoryLine:
    """One query a user ran in the console, as the audit log keeps it."""

    at: Any
    sql: str
    outcome: str
    rows: int
    duration_ms: int
    problem: str | None


def history(session: Session, actor: str, *, limit: int = 30) -> list[HistoryLine]:
    """Return the queries *actor* ran in the console, newest first, from the audit log."""
    log = table_of(AuditEntry)
    rows = session.execute(
        select(log.c.occurred_at, log.c.after, log.c.reason)
        .where(
            log.c.subject_type == SUBJECT_TYPE,
            log.c.subject_id == actor,
            log.c.tag == RUN_TAG,
        )
        .order_by(log.c.seq.desc())
        .limit(limit)
    ).mappings()
    lines = []
    for row in rows:
        after = row["after"] or {}
        lines.append(
            HistoryLine(
                at=row["occurred_at"],
                sql=str(after.get("sql", "")),
                outcome=str(after.get("outcome", "")),
                rows=int(after.get("rows", 0)),
                duration_ms=int(after.get("duration_ms", 0)),
                problem=row["reason"],
            )
        )
    return lines


_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def grant_role(
    connection: Connection,
    *,
    role: str,
    password: str | None,
    connection_limit: int,
    time_limit_seconds: float,
) -> list[str]:
    """Create or update the console's PostgreSQL login role; return what was done, in words.

    The role may connect, use the schema ``analytics`` and SELECT its views: nothing else.
    Its sessions start read only, with ``search_path = analytics`` and a statement time
    limit; it may hold at most *connection_limit* connections.
    """
    if connection.dialect.name != "postgresql":
        raise ConsoleUnavailable("the analytics role is for PostgreSQL; SQLite needs none")
    if not _ROLE.match(role):
        raise ConsoleUnavailable(f"{role!r} is not a plain role name (a-z, 0-9, _)")
    database = str(connection.execute(text("SELECT current_database()")).scalar_one())
    exists = connection.execute(
        text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).first()
    done = []
    if exists is None:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        done.append(f"created the login role {role}")
    superuser = bool(
        connection.execute(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ).scalar_one()
    )
    # Only a superuser may name the superuser, replication and RLS attributes, even to
    # deny them; a role that may create roles checks them instead.
    attributes = "LOGIN NOCREATEDB NOCREATEROLE NOINHERIT " + (
        "NOSUPERUSER NOREPLICATION NOBYPASSRLS " if superuser else ""
    )
    connection.execute(
        text(f'ALTER ROLE "{role}" {attributes}CONNECTION LIMIT {int(connection_limit)}')
    )
    powers = connection.execute(
        text(
            "SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role},
    ).scalar_one()
    if powers:
        raise ConsoleUnavailable(
            f"{role} is a superuser or may replicate or bypass row security: only a "
            "superuser can take that away; choose another role name or ask one"
        )
    if password is not None:
        conforming = connection.execute(text("SHOW standard_conforming_strings")).scalar_one()
        if conforming != "on" or "\x00" in password:
            raise ConsoleUnavailable("the password cannot be set safely on this server")
        literal = "'" + password.replace("'", "''") + "'"
        connection.exec_driver_sql(f'ALTER ROLE "{role}" PASSWORD {literal}'.replace("%", "%%"))
        done.append("set its password")
    timeout_ms = max(1, int(time_limit_seconds * 1000))
    quoted_db = database.replace('"', '""')
    for setting, value in (
        ("search_path", SCHEMA),
        ("default_transaction_read_only", "on"),
        ("statement_timeout", str(timeout_ms)),
        ("idle_in_transaction_session_timeout", str(timeout_ms * 2)),
        ("lock_timeout", str(timeout_ms)),
    ):
        connection.execute(
            text(f'ALTER ROLE "{role}" IN DATABASE "{quoted_db}" SET {setting} = \'{value}\'')
        )
    connection.execute(text(f'GRANT CONNECT ON DATABASE "{quoted_db}" TO "{role}"'))
    connection.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA public FROM "{role}"'))
    connection.execute(text(f'GRANT USAGE ON SCHEMA {SCHEMA} TO "{role}"'))
    connection.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM "{role}"'))
    views = ", ".join(f"{SCHEMA}.{name}" for name in VIEW_NAMES)
    connection.execute(text(f'GRANT SELECT ON {views} TO "{role}"'))
    done.append(
        f"{role} may log in to {database} (at most {connection_limit} connections), read "
        f"the {len(VIEW_NAMES)} views in schema {SCHEMA} and nothing else; its sessions "
        f"are read only, with a statement limit of {timeout_ms} ms"
    )
    done.append(_limit_temp_files(connection, role, quoted_db))
    done.append(_close_advisory_locks(connection, role))
    return done


def _application_roles(connection: Connection) -> list[str]:
    """Return the role running the grant and the owner of the application's tables."""
    owner = connection.execute(
        text(
            "SELECT tableowner FROM pg_tables"
            " WHERE tablename = 'events' AND schemaname = current_schema()"
        )
    ).scalar()
    current = str(connection.execute(text("SELECT current_user")).scalar_one())
    return sorted({current} | ({str(owner)} if owner else set()))


def _limit_temp_files(connection: Connection, role: str, quoted_db: str) -> str:
    """Cap the temporary files one statement of *role* may write; say whether it held.

    ``temp_file_limit`` is a superuser's setting: the role cannot lift it with SET or
    set_config, unlike the other limits, which the console sets again on every query.
    """
    try:
        with connection.begin_nested():
            connection.execute(
                text(
                    f'ALTER ROLE "{role}" IN DATABASE "{quoted_db}" '
                    f"SET temp_file_limit = '{TEMP_FILE_LIMIT}'"
                )
            )
    except DBAPIError as problem:
        first = str(problem.orig).strip().splitlines()[0] if problem.orig else str(problem)
        return (
            f"temp_file_limit not set ({first}): run the grant as a superuser to cap the "
            f"temporary files of one query at {TEMP_FILE_LIMIT}"
        )
    return f"one query of {role} may write at most {TEMP_FILE_LIMIT} of temporary files"


def _close_advisory_locks(connection: Connection, role: str) -> str:
    """Take the advisory lock functions from everyone but the application's own role (the
    role running the grant and the owner of the application's tables).

    PostgreSQL grants them to PUBLIC, so no grant on one role can take them away: a
    console query could otherwise take the application's per-account, audit or purge
    locks and hold them until its time limit. Only the functions' owner (a superuser)
    can revoke them; a role without that right leaves them as they are, and the line
    returned says so.
    """
    functions = list(
        connection.execute(
            text(
                "SELECT CAST(CAST(p.oid AS regprocedure) AS text) FROM pg_proc AS p"
                " JOIN pg_namespace AS n ON n.oid = p.pronamespace"
                " WHERE n.nspname = 'pg_catalog' AND p.proname LIKE 'pg%advisory%'"
                " ORDER BY 1"
            )
        ).scalars()
    )
    keepers = ", ".join(
        '"' + name.replace('"', '""') + '"' for name in _application_roles(connection)
    )
    for function in functions:
        try:
            with connection.begin_nested():
                connection.execute(text(f"GRANT EXECUTE ON FUNCTION {function} TO {keepers}"))
                connection.execute(text(f"REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC"))
        except DBAPIError:
            # Not the functions' owner: PostgreSQL usually only warns; either way the
            # check below tells what the role may still call.
            continue
    still = [
        function
        for function in functions
        if connection.execute(
            text("SELECT has_function_privilege(:role, :function, 'EXECUTE')"),
            {"role": role, "function": function},
        ).scalar_one()
    ]
    if still:
        return (
            f"{role} may still take advisory locks ({len(still)} functions): only a "
            "superuser can revoke them from PUBLIC; run the grant as one to close that"
        )
    return f"advisory locks: {role} may take none (the functions are the application's only)"


def revoke_role(connection: Connection, role: str) -> None:
    """Remove what ``grant_role`` gave *role* in this database (it stays, unable to read)."""
    if not _ROLE.match(role):
        raise ConsoleUnavailable(f"{role!r} is not a plain role name (a-z, 0-9, _)")
    connection.execute(text(f'DROP OWNED BY "{role}"'))
