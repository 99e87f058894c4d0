"""The SQL console with hostile queries, on both databases: it cannot write, cannot read
tables outside the analytics views, and cannot run past its limits; each refusal says why."""

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select, text

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.storage import sql_console as sc
from abusedesk.storage.analytics import VIEW_NAMES
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import Event, User
from tests.support.access import create_user
from tests.support.analytics import console_of, scored_review
from tests.support.workbench import complaint_case

LIMITS = sc.ConsoleLimits(row_limit=5, time_limit_seconds=1.0, max_query_chars=5000)


@pytest.fixture
def console(container: Container) -> Iterator[sc.Console]:
    """Yield the console of the test database, with a user and one complaint's case."""
    create_user(container, "vera", "analyst_basic")
    complaint_case(container)
    with console_of(container) as running:
        yield running


def _postgres(container: Container) -> bool:
    return container.engine.dialect.name == "postgresql"


def test_a_query_of_the_views_gives_their_rows(console: sc.Console) -> None:
    """Counting events through the view gives the one event; a trailing semicolon and
    comments are fine, and percent signs reach the database as written."""
    result = console.run(
        "-- how many\nSELECT count(*) AS n FROM analytics_events "
        "WHERE category LIKE 'sp%' /* spam */;",
        LIMITS,
    )
    assert (result.columns, result.rows, result.truncated) == (("n",), [(1,)], False)


def test_a_count_over_a_view_is_the_views_count(console: sc.Console) -> None:
    """count(*) over a view is answered (SQLite folds the view into the query), however
    the view's name is spelled."""
    answers = [
        console.run(sql, LIMITS).rows
        for sql in (
            "SELECT count(*) FROM analytics_users",
            "SELECT COUNT(*) FROM ANALYTICS_USERS",
            'SELECT count("username") FROM "analytics_users"',
        )
    ]
    assert answers == [[(1,)], [(1,)], [(1,)]]


def test_count_and_a_constant_over_every_view_are_answered(console: sc.Console) -> None:
    """count(*) and SELECT 1 read no column of a view, and still work on every view."""
    answers = {}
    for name in VIEW_NAMES:
        counted = console.run(f"SELECT count(*) FROM {name}", LIMITS)  # noqa: S608  # our names
        console.run(f"SELECT 1 FROM {name}", LIMITS)  # noqa: S608  # our names
        answers[name] = counted.rows[0][0]
    assert (answers["analytics_events"], answers["analytics_users"]) == (1, 1)


def test_qa_ratings_are_read_through_their_view_only(
    console: sc.Console, container: Container
) -> None:
    """The ratings view unpacks a review's JSON; unpacking the table's JSON directly (and
    so the reviewer's comments) is refused."""
    with read_only(container.sessions) as session:
        case_id = session.execute(text("SELECT max(id) FROM cases")).scalar_one()
    scored_review(container, case_id)
    result = console.run(
        "SELECT rating, count(*) FROM analytics_qa_ratings GROUP BY rating ORDER BY rating",
        LIMITS,
    )
    assert result.rows == [("met", 2), ("not_met", 1)]
    with pytest.raises(sc.QueryRefused):
        console.run("SELECT * FROM json_each((SELECT ratings FROM qa_reviews))", LIMITS)


def test_rows_past_the_limit_are_left_out_and_said_so(console: sc.Console) -> None:
    """A query of 50 rows shows the first 5 and says more were left out."""
    result = console.run(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) "
        "SELECT i FROM n",
        LIMITS,
    )
    assert (result.rows, result.truncated) == ([(1,), (2,), (3,), (4,), (5,)], True)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO users (username) VALUES ('mallory')",
        "UPDATE users SET role = 'admin'",
        "DELETE FROM events",
        "DROP TABLE users",
        "CREATE TABLE loot (x INTEGER)",
        "ATTACH DATABASE 'loot.db' AS loot",
        "PRAGMA writable_schema = 1",
        "SELECT 1; DELETE FROM events",
        "SELECT 1) AS q; DELETE FROM events; --",
        "SELECT * FROM users",
        "SELECT password_hash FROM users",
        "SELECT Password_Hash FROM Users",
        'SELECT "email" FROM "users"',
        "WITH ANALYTICS_USERS AS (SELECT email AS username FROM users) "
        "SELECT username FROM ANALYTICS_USERS",
        "SELECT name FROM sqlite_schema",
        "SELECT * FROM web_sessions",
        "SELECT count(*) FROM web_sessions",
        "SELECT * FROM cases",
        "SELECT body FROM case_notes",
        "WITH analytics_users AS (SELECT password_hash AS username FROM users) "
        "SELECT username FROM analytics_users",
        "SELECT * FROM analytics_users WHERE EXISTS (SELECT 1 FROM web_sessions)",
        "SELECT (SELECT email FROM users LIMIT 1) FROM analytics_users",
        "SELECT * INTO loot FROM analytics_users",
        "WITH gone AS (DELETE FROM events RETURNING id) SELECT * FROM gone",
        "SELECT * FROM (WITH gone AS (DELETE FROM events RETURNING id) SELECT id FROM gone) AS g",
        "SELECT 1) AS q LIMIT 100000000 --",
        "",
        ";;",
    ],
)
def test_hostile_queries_are_refused_and_change_nothing(
    console: sc.Console, container: Container, sql: str
) -> None:
    """Writing, two statements, other tables, a CTE posing as a view, escaping the wrapper:
    each ends in a sentence saying why, and the data stays as it was."""
    with pytest.raises(sc.ConsoleProblem) as refused:
        console.run(sql, LIMITS)
    assert str(refused.value)
    assert "inner_" not in str(refused.value)
    with read_only(container.sessions) as session:
        counts = (
            session.scalar(select(func.count()).select_from(User)),
            session.scalar(select(func.count()).select_from(Event)),
        )
    assert counts == (1, 1)


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM events", "DELETE is not a query it runs"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("SELECT password_hash FROM users", "analytics views"),
        ("SELECT count(*) FROM web_sessions", "analytics views"),
        (
            "WITH analytics_users AS (SELECT email FROM users) SELECT * FROM analytics_users",
            "analytics views",
        ),
    ],
)
def test_refusals_say_why(console: sc.Console, sql: str, words: str) -> None:
    """The refusal names what was wrong in words an analyst reads."""
    with pytest.raises(sc.QueryRefused, match=words):
        console.run(sql, LIMITS)


def test_functions_that_reach_outside_are_refused(
    console: sc.Console, container: Container
) -> None:
    """load_extension and readfile on SQLite; set_config('role'), pg_read_file and
    lo_import on PostgreSQL."""
    if _postgres(container):
        queries = [
            "SELECT set_config('role', 'postgres', false)",
            "SELECT pg_read_file('/etc/passwd')",
            "SELECT lo_import('/etc/passwd')",
            "SELECT set_config('transaction_read_only', 'off', true)",
        ]
    else:
        queries = [
            "SELECT load_extension('mod_spatialite')",
            "SELECT readfile('/etc/passwd')",
            "SELECT * FROM pragma_table_info('users')",
            "SELECT zeroblob(1000000000)",
        ]
    outcomes = []
    for sql in queries:
        with pytest.raises(sc.ConsoleProblem) as refused:
            console.run(sql, LIMITS)
        outcomes.append(refused.value.outcome)
    # readfile is not built into SQLite's library: it fails as an unknown function.
    expected = (
        [sc.REFUSED] * 4 if _postgres(container) else [sc.REFUSED, sc.FAILED] + [sc.REFUSED] * 2
    )
    assert outcomes == expected


def test_a_result_past_the_byte_limit_is_refused(console: sc.Console, container: Container) -> None:
    """One huge value, or rows that add up past the limit, are refused before they all
    reach the application; a result within the limit still comes back whole."""
    limits = sc.ConsoleLimits(row_limit=5, time_limit_seconds=5.0, max_result_bytes=1_000_000)
    if _postgres(container):
        huge, rows = (
            "SELECT repeat('x', 2000000)",
            "SELECT repeat('x', 400000) FROM generate_series(1, 4)",
        )
    else:
        huge = "SELECT printf('%2000000d', 1)"
        rows = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4)"
            " SELECT printf('%400000d', i) FROM n"
        )
    for sql in (huge, rows):
        with pytest.raises(sc.QueryRefused, match="larger than the console's limit of 1 MB"):
            console.run(sql, limits)
    fitting = console.run(rows.replace("400000", "200000"), limits)
    assert [len(row[0]) for row in fitting.rows] == [200000] * 4


def test_the_postgres_role_cannot_take_locks_or_lift_its_file_limit(
    console: sc.Console, container: Container
) -> None:
    """Advisory locks (the application's per-account and audit locks) are not the role's
    to take, and temp_file_limit is a setting it cannot change."""
    if not _postgres(container):
        pytest.skip("roles and advisory locks are PostgreSQL's")
    refusals = []
    for sql in (
        "SELECT pg_advisory_lock(1)",
        "SELECT pg_try_advisory_xact_lock(1, 2)",
        "SELECT set_config('temp_file_limit', '-1', true)",
    ):
        with pytest.raises(sc.QueryRefused) as refused:
            console.run(sql, LIMITS)
        refusals.append(str(refused.value))
    assert refusals[:2] == [
        "the function pg_advisory_lock() is not allowed in the console",
        "the function pg_try_advisory_xact_lock() is not allowed in the console",
    ]
    assert "temp_file_limit" in refusals[2]
    assert console.run("SELECT current_setting('temp_file_limit')", LIMITS).rows == [
        (sc.TEMP_FILE_LIMIT,)
    ]
    with container.engine.connect() as connection:
        # The application's own role keeps its locks.
        assert connection.execute(text("SELECT pg_try_advisory_xact_lock(7, 7)")).scalar_one()


def test_a_query_past_the_time_limit_is_stopped(console: sc.Console, container: Container) -> None:
    """An endless recursive CTE (and pg_sleep on PostgreSQL) stop at the limit."""
    queries = [
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    ]
    if _postgres(container):
        queries.append("SELECT pg_sleep(30)")
        # Lifting the limit from inside the query is too late: the statement's clock runs.
        queries.append("SELECT set_config('statement_timeout', '0', false), pg_sleep(30)")
    for sql in queries:
        with pytest.raises(sc.QueryTimedOut):
            console.run(sql, LIMITS)


def test_an_overlong_query_is_refused_unread(console: sc.Console) -> None:
    """A query longer than the limit is refused before it reaches the database."""
    with pytest.raises(sc.QueryRefused, match="at most 5,000"):
        console.run("SELECT 1 " + " " * 6000, LIMITS)


def test_the_postgres_role_can_only_read_the_views(container: Container) -> None:
    """Logged in as the role directly, without the console's wrapper, writes and other
    tables are refused and its sessions start read only with the time limit."""
    if not _postgres(container):
        pytest.skip("the login role is PostgreSQL's")
    import psycopg  # PostgreSQL only

    with console_of(container) as running:
        assert isinstance(running, sc.PostgresConsole)
        with psycopg.connect(running.conninfo, autocommit=True) as connection:
            settings = connection.execute(
                "SELECT current_setting('search_path'), current_setting('default_transaction_read_only')"
            ).fetchone()
            refused = []
            for sql in (
                "SELECT * FROM public.users",
                "SELECT * FROM public.web_sessions",
                "SET default_transaction_read_only = off; INSERT INTO public.users (username) VALUES ('m')",
                "SET ROLE postgres",
                "CREATE TABLE analytics.loot (x int)",
            ):
                try:
                    connection.execute(sql)
                except psycopg.Error as problem:
                    refused.append(type(problem).__name__)
    assert settings == ("analytics", "on")
    assert len(refused) == 5


def test_every_run_is_audited_and_listed_in_the_history(container: Container) -> None:
    """record_run keeps the text, outcome, rows and time; history lists them newest first."""
    now = utcnow()
    with unit_of_work(container.sessions) as session:
        sc.record_run(
            session, actor="vera", sql="SELECT 1", outcome="ok", rows=1, duration_ms=3, at=now
        )
        sc.record_run(
            session,
            actor="vera",
            sql="DELETE FROM events",
            outcome="refused",
            rows=0,
            duration_ms=0,
            at=now,
            problem="DELETE is not a query it runs",
        )
        sc.record_run(
            session, actor="other", sql="SELECT 2", outcome="ok", rows=1, duration_ms=1, at=now
        )
    with read_only(container.sessions) as session:
        lines = sc.history(session, "vera")
        tags = session.execute(
            text("SELECT count(*) FROM audit_log WHERE tag = 'sql:query:run'")
        ).scalar_one()
    assert [(h.sql, h.outcome, h.rows, h.problem) for h in lines] == [
        ("DELETE FROM events", "refused", 0, "DELETE is not a query it runs"),
        ("SELECT 1", "ok", 1, None),
    ]
    assert tags == 3


def test_without_the_role_the_console_says_how_to_set_it_up(container: Container) -> None:
    """On PostgreSQL, a role that was never granted cannot log in: the console says to run
    `abusedesk analytics grant`, and nothing runs as anyone else."""
    if not _postgres(container):
        pytest.skip("the login role is PostgreSQL's")
    missing = sc.console_for(container.settings.database.url, role="abusedesk_never_granted")
    with pytest.raises(sc.ConsoleUnavailable, match="abusedesk analytics grant"):
        missing.run("SELECT 1", LIMITS)
