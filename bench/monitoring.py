"""Rate and spike evaluation speed: a full pass over 90 days of hourly figures, and one hour more.

Two measures, each printed beside its goal:

- **full pass**: ``--accounts`` accounts (10,000) with an hourly statistics row for every
  hour of ``--days`` days (90): 21.6 million rows. Timed: the rate monitor's first run
  (a whole read of the daily sums the imports kept, every account's and destination
  group's rates and statuses, statuses written), the hourly complaint series read back
  as an array (accounts x hours; the hours with complaints), and the spike detection of
  ``abusedesk.spikes`` over its last 24 hours. Goal: under 60 s on one core. Rebuilding
  the daily sums from every hourly row (``rebuild_daily``, a repair) is timed and printed
  beside it, with the total it would make.
- **hourly update**: ``--update-accounts`` accounts (100,000) with 90 days of daily sums;
  a monitor that has read them once gets one new hour of figures for every account.
  Timed: the rate monitor's next run (re-reads yesterday's and today's sums, judges every
  subject, writes the changes). Goal: under 5 s. The hour's import through the inventory
  store (which keeps the daily sums) is timed and printed beside it.

Figures are drawn from a seeded generator: most accounts send cleanly, a few per cent
complain or bounce too much, some hit spam traps. The loaded databases are kept under
``var/bench/`` (SQLite) or as databases of their own (PostgreSQL, ``--database-url`` of
a server the bench may create databases on) and reused while the parameters match.

Smaller runs: ``--accounts 500 --days 30 --update-accounts 5000``.
"""

import argparse
import hashlib
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from abusedesk.inventory.model import NumberedRecord, SendingStatRecord, Table
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.reputation.batch import day_number
from abusedesk.spikes.detect import detect
from abusedesk.storage.db import is_sqlite, make_engine, make_session_factory, unit_of_work
from abusedesk.storage.inventory_store import upsert_records
from abusedesk.storage.migrate import upgrade
from abusedesk.storage.reputation import rebuild_daily

GOAL_FULL_PASS_S = 60.0
GOAL_HOURLY_UPDATE_S = 5.0
LAYOUT_VERSION = 2
UPDATE_LAYOUT_VERSION = 3
NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
GROUP = "other"
_ROOT = Path(__file__).resolve().parent.parent
VAR = _ROOT / "var" / "bench"
MIGRATIONS = _ROOT / "src" / "abusedesk" / "storage" / "migrations" / "versions"
# Relative sending per UTC hour (a working day).
DIURNAL = np.array(
    [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2], dtype=float
)
_STATS_COLUMNS = (
    "account_id",
    "resource_key",
    "hour",
    "destination_group",
    "sent",
    "delivered",
    "hard_bounces",
    "hard_bounces_non_verified",
    "fbl_sent",
    "complaints",
    "trap_hits",
)
_DAILY_COLUMNS = (
    "account_id",
    "resource_key",
    "day",
    "destination_group",
    "sent",
    "hard_bounces_non_verified",
    "fbl_sent",
    "complaints",
    "trap_hits",
)


def main() -> int:
    """Run the measures asked for; return 0 when every goal was met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--update-accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server the bench may create its databases on (default: SQLite)",
    )
    parser.add_argument("--skip-full", action="store_true")
    parser.add_argument("--skip-update", action="store_true")
    args = parser.parse_args()
    met = True
    backend = "SQLite" if args.database_url is None else "PostgreSQL"
    print(f"rate and spike evaluation speed ({backend}, one process)")
    if not args.skip_full:
        met &= full_pass(args)
    if not args.skip_update:
        met &= hourly_update(args)
    return 0 if met else 1


# --- generated figures ----------------------------------------------------------------------


def account_habits(rng: np.random.Generator, count: int) -> dict[str, np.ndarray]:
    """Return each account's hourly volume and its complaint, bounce and trap rates."""
    volume = np.exp(rng.normal(3.0, 1.3, count))
    complaint = np.exp(rng.normal(np.log(0.0003), 0.6, count))
    bounce = np.exp(rng.normal(np.log(0.01), 0.5, count))
    bad = rng.random(count) < 0.03
    complaint[bad] *= 15
    bounce[bad] *= 6
    traps = np.where(rng.random(count) < 0.01, 0.0005, 0.0)
    return {"volume": volume, "complaint": complaint, "bounce": bounce, "traps": traps}


def hourly_figures(
    rng: np.random.Generator, habits: dict[str, np.ndarray], rows: slice, hours: int
) -> dict[str, np.ndarray]:
    """Return (accounts, hours) arrays of sent, bounces, mail to FBL domains, complaints, traps."""
    pattern = np.resize(DIURNAL / DIURNAL.mean(), hours)
    expected = habits["volume"][rows, None] * pattern[None, :]
    sent = rng.poisson(expected)
    bounces = rng.binomial(sent, np.minimum(habits["bounce"][rows, None], 1.0))
    fbl = rng.binomial(sent, 0.55)
    complaints = rng.binomial(fbl, np.minimum(habits["complaint"][rows, None], 1.0))
    traps = rng.binomial(sent, habits["traps"][rows, None])
    return {"sent": sent, "bounces": bounces, "fbl": fbl, "complaints": complaints, "traps": traps}


def _hour_text(hour: datetime) -> str:
    # SQLAlchemy's SQLite DateTime storage format, in UTC.
    return hour.strftime("%Y-%m-%d %H:%M:%S.%f")


def stats_rows(accounts: int, days: int, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """Yield chunks of hourly statistics rows (one per account and hour), oldest hour first."""
    hours = days * 24
    first = NOW.replace(hour=0) - timedelta(days=days - 1)
    stamps = [first + timedelta(hours=h) for h in range(hours)]
    rng = np.random.default_rng(seed)
    habits = account_habits(rng, accounts)
    for start in range(0, accounts, 200):
        rows = slice(start, min(start + 200, accounts))
        figures = hourly_figures(rng, habits, rows, hours)
        chunk: list[tuple[Any, ...]] = []
        for offset in range(rows.stop - rows.start):
            account_id = start + offset + 1
            sent = figures["sent"][offset].tolist()
            bounces = figures["bounces"][offset].tolist()
            fbl = figures["fbl"][offset].tolist()
            complaints = figures["complaints"][offset].tolist()
            traps = figures["traps"][offset].tolist()
            chunk.extend(
                (
                    account_id,
                    "",
                    stamps[h],
                    GROUP,
                    sent[h],
                    sent[h] - bounces[h],
                    bounces[h],
                    bounces[h],
                    fbl[h],
                    complaints[h],
                    traps[h],
                )
                for h in range(hours)
            )
        yield chunk


def daily_rows(accounts: int, days: int, seed: int) -> Iterator[list[tuple[Any, ...]]]:
    """Yield chunks of daily sums (one per account and day), for the hourly update.

    Day by day, as a provider's sums are written while the days pass (and so lie in the
    table: a day's rows together).
    """
    rng = np.random.default_rng(seed)
    habits = account_habits(rng, accounts)
    today = day_number(NOW)
    figures = np.zeros((5, accounts, days), dtype=np.int64)
    for start in range(0, accounts, 2_000):
        rows = slice(start, min(start + 2_000, accounts))
        expected = habits["volume"][rows, None] * 24 * np.ones((1, days))
        sent = rng.poisson(expected)
        bounces = rng.binomial(sent, np.minimum(habits["bounce"][rows, None], 1.0))
        fbl = rng.binomial(sent, 0.55)
        complaints = rng.binomial(fbl, np.minimum(habits["complaint"][rows, None], 1.0))
        traps = rng.binomial(sent, habits["traps"][rows, None])
        figures[:, rows] = np.stack([sent, bounces, fbl, complaints, traps])
    for d in range(days):
        day = today - days + 1 + d
        columns = figures[:, :, d].T.tolist()
        yield [(a + 1, "", day, GROUP, *columns[a]) for a in range(accounts)]


def account_rows(accounts: int) -> list[tuple[Any, ...]]:
    """Return the accounts: ids 1..N, external ids ``bench-<n>``."""
    created = NOW - timedelta(days=400)
    return [
        (n, f"bench-{n}", f"Bench account {n}", "small", "healthy", created, "{}")
        for n in range(1, accounts + 1)
    ]


# --- loading ----------------------------------------------------------------------------------

_ACCOUNT_COLUMNS = (
    "id",
    "external_id",
    "name",
    "size_tier",
    "standing",
    "created_at",
    "attributes",
)


def schema_key() -> str:
    """Return a short hash of the migrations: a cached database made under others is stale."""
    digest = hashlib.sha256()
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def prepare(name: str, server_url: str | None, load: Any) -> str:
    """Return the URL of a database called *name* holding the figures *load* writes.

    A database loaded before under the same name and the same migrations is reused.
    """
    stamp = f"{name}@{schema_key()}"
    if server_url is None:
        VAR.mkdir(parents=True, exist_ok=True)
        path = VAR / f"{name}.db"
        url = f"sqlite:///{path}"
        if path.exists() and _is_loaded(url, stamp):
            return url
        for stale in VAR.glob(f"{name}.db*"):
            stale.unlink()
    else:
        database = "abusedesk_bench_" + name.replace("-", "_")
        url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
        if _is_loaded(url, stamp):
            return url
        with psycopg.connect(_conninfo(server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    load(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE bench_monitoring_loaded (name TEXT)"))
        connection.execute(text("INSERT INTO bench_monitoring_loaded VALUES (:n)"), {"n": stamp})
    engine.dispose()
    _progress(f"loaded {name} in {time.perf_counter() - started:,.0f} s")
    return url


def _is_loaded(url: str, name: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            marker = text("SELECT name FROM bench_monitoring_loaded")
            return connection.execute(marker).scalar() == name
    except Exception:  # A boundary of sorts: no marker table means not loaded yet.
        return False
    finally:
        engine.dispose()


def bulk_load(
    url: str, tables: list[tuple[str, tuple[str, ...], Iterator[list[tuple[Any, ...]]]]]
) -> None:
    """Write *tables* (name, columns, chunks of rows) fast: indexes are built after the rows."""
    if is_sqlite(url):
        _load_sqlite(Path(make_url(url).database or ""), tables)
    else:
        _load_postgres(url, tables)


def _load_sqlite(
    path: Path, tables: list[tuple[str, tuple[str, ...], Iterator[list[tuple[Any, ...]]]]]
) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-1000000"):
            connection.execute(f"PRAGMA {pragma}")
        names = [name for name, _, _ in tables]
        marks = ",".join("?" * len(names))
        indexes = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "  # noqa: S608  # our names
            f"AND tbl_name IN ({marks})",
            names,
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for table, columns, chunks in tables:
            _progress(f"loading {table}")
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  # our names
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            for chunk in chunks:
                connection.execute("BEGIN")
                connection.executemany(
                    statement,
                    [tuple(_sqlite_value(v) for v in row) for row in chunk],
                )
                connection.execute("COMMIT")
        for name, sql in indexes:
            _progress(f"indexing {name}")
            connection.execute(sql)
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _sqlite_value(value: Any) -> Any:
    return _hour_text(value) if isinstance(value, datetime) else value


def _load_postgres(
    url: str, tables: list[tuple[str, tuple[str, ...], Iterator[list[tuple[Any, ...]]]]]
) -> None:
    with psycopg.connect(_conninfo(url), autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET TimeZone = 'UTC'")
        names = [name for name, _, _ in tables]
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (names,),
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for table, columns, chunks in tables:
            _progress(f"loading {table}")
            with (
                connection.transaction(),
                connection.cursor().copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # our names
                ) as copy,
            ):
                for chunk in chunks:
                    for row in chunk:
                        copy.write_row(row)
        for name, sql in indexes:
            _progress(f"indexing {name}")
            connection.execute(sql)
        for table in names:
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608  # our names
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        connection.execute("VACUUM ANALYZE")


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _progress(message: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


# --- the full pass ------------------------------------------------------------------------------

# The hour of sending_stats.hour as hours since 1970-01-01, per dialect.
_HOUR_NUMBER = {
    "sqlite": "CAST(ROUND((julianday(hour) - 2440587.5) * 24) AS INTEGER)",
    "postgresql": "CAST(FLOOR(EXTRACT(EPOCH FROM hour) / 3600) AS BIGINT)",
}


def complaint_series(url: str, accounts: int, hours: int) -> np.ndarray:
    """Return every account's hourly complaints over the last *hours* hours as one array."""
    engine = make_engine(url)
    last = int(NOW.replace(hour=23).timestamp()) // 3600
    first = last - hours + 1
    series = np.zeros((accounts, hours), dtype=np.int64)
    try:
        with engine.connect() as connection:
            hour = _HOUR_NUMBER[engine.dialect.name]
            raw = connection.connection.dbapi_connection
            assert raw is not None  # noqa: S101  # an open connection has one
            cursor = raw.cursor()
            cursor.execute(
                f"SELECT account_id, {hour}, complaints FROM sending_stats "  # noqa: S608  # ours
                "WHERE resource_key = '' AND complaints > 0"
            )
            while rows := cursor.fetchmany(500_000):
                flat = np.array(rows, dtype=np.int64)
                columns = flat[:, 1] - first
                keep = (columns >= 0) & (columns < hours)
                np.add.at(series, (flat[keep, 0] - 1, columns[keep]), flat[keep, 2])
    finally:
        engine.dispose()
    return series


def full_pass(args: argparse.Namespace) -> bool:
    """Time the full pass; print the figures beside the goal; return whether it was met."""
    rows = args.accounts * args.days * 24
    name = f"monitoring-full-v{LAYOUT_VERSION}-a{args.accounts}-d{args.days}-s{args.seed}"

    def load(url: str) -> None:
        bulk_load(
            url,
            [
                ("accounts", _ACCOUNT_COLUMNS, iter([account_rows(args.accounts)])),
                ("sending_stats", _STATS_COLUMNS, stats_rows(args.accounts, args.days, args.seed)),
            ],
        )

    url = prepare(name, args.database_url, load)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with unit_of_work(sessions) as session:
        session.execute(text("DELETE FROM rate_statuses"))
    started = time.perf_counter()
    with unit_of_work(sessions) as session:
        daily = rebuild_daily(session)
    rebuild = _since(started)
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    monitor = RateMonitor()
    drafts = monitor.run(sessions, NOW)
    subjects = monitor.book.size
    timings.append(
        (
            f"rates: {daily:,} daily sums read, {subjects:,} subjects judged,"
            f" statuses written ({len(drafts):,} drafts)",
            _since(started),
        )
    )
    engine.dispose()
    hours = args.days * 24
    started = time.perf_counter()
    series = complaint_series(url, args.accounts, hours)
    timings.append(
        (
            f"spikes: hourly complaint series read ({series.shape[0]:,} x {series.shape[1]:,})",
            _since(started),
        )
    )
    _time_spikes(series, hours, timings)
    total = sum(seconds for _, seconds in timings)
    print(
        f"\nfull pass: {args.accounts:,} accounts x {args.days} days of hourly rows ({rows:,} rows)"
    )
    for label, seconds in timings:
        print(f"  {seconds:8.2f} s  {label}")
    met = total < GOAL_FULL_PASS_S
    print(
        f"  {total:8.2f} s  full pass (goal < {GOAL_FULL_PASS_S:.0f} s) {'met' if met else 'NOT MET'}"
    )
    print(
        f"  {rebuild:8.2f} s  besides: the daily sums rebuilt from all {rows:,} hourly rows"
        " (a repair: imports keep them as the rows arrive)"
    )
    with_rebuild = total + rebuild
    print(
        f"  {with_rebuild:8.2f} s  full pass rebuilding the daily sums first"
        f" ({'under' if with_rebuild < GOAL_FULL_PASS_S else 'over'} {GOAL_FULL_PASS_S:.0f} s)"
    )
    return met


def _time_spikes(series: np.ndarray, hours: int, timings: list[tuple[str, float]]) -> None:
    """Time the spike detection over the series' last 24 hours."""
    first = NOW.replace(hour=23) - timedelta(hours=hours - 1)
    started = time.perf_counter()
    spikes = detect(series, first, evaluate_hours=24)
    timings.append(
        (f"spikes: detection over the last 24 hours ({len(spikes):,} spikes)", _since(started))
    )


# --- the hourly update ------------------------------------------------------------------------


def hourly_update(args: argparse.Namespace) -> bool:
    """Time one hour's update for many accounts; print it beside the goal."""
    accounts = args.update_accounts
    days = 91
    name = f"monitoring-update-v{UPDATE_LAYOUT_VERSION}-a{accounts}-s{args.seed}"

    def load(url: str) -> None:
        bulk_load(
            url,
            [
                ("accounts", _ACCOUNT_COLUMNS, iter([account_rows(accounts)])),
                ("rate_daily", _DAILY_COLUMNS, daily_rows(accounts, days, args.seed)),
            ],
        )

    url = prepare(name, args.database_url, load)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with unit_of_work(sessions) as session:
        # A rerun starts from the loaded sums: the hour written last time goes again.
        session.execute(text("DELETE FROM rate_statuses"))
        session.execute(text("DELETE FROM sending_stats"))
        session.execute(
            text("DELETE FROM rate_daily WHERE day > :today"), {"today": day_number(NOW)}
        )
    if not is_sqlite(url):
        # What autovacuum does between hours: the rows a rerun rewrote are cleared away.
        with psycopg.connect(_conninfo(url), autocommit=True) as connection:
            connection.execute("VACUUM ANALYZE rate_daily")
            connection.execute("VACUUM ANALYZE rate_statuses")
    monitor = RateMonitor()
    started = time.perf_counter()
    monitor.run(sessions, NOW)
    first_read = _since(started)
    hour = NOW + timedelta(hours=1)
    rng = np.random.default_rng(args.seed + 1)
    sent = rng.poisson(30, accounts)
    complaints = rng.binomial(sent, 0.001)
    records = [
        NumberedRecord(
            n + 1,
            SendingStatRecord(
                account=f"bench-{n + 1}",
                hour=hour,
                destination_group=GROUP,
                sent=int(sent[n]),
                delivered=int(sent[n]),
                fbl_sent=int(sent[n]) // 2,
                complaints=int(complaints[n]),
            ),
        )
        for n in range(accounts)
    ]
    started = time.perf_counter()
    with unit_of_work(sessions) as session:
        upsert_records(session, Table.SENDING_STATS, records)
    imported = _since(started)
    started = time.perf_counter()
    drafts = monitor.run(sessions, hour + timedelta(minutes=5))
    update = _since(started)
    engine.dispose()
    met = update < GOAL_HOURLY_UPDATE_S
    print(f"\nhourly update: {accounts:,} accounts, 90 days of daily sums, one new hour")
    print(f"  {first_read:8.2f} s  first run: the sums read whole ({monitor.book.size:,} subjects)")
    print(f"  {imported:8.2f} s  the hour's {accounts:,} rows imported (daily sums kept)")
    print(
        f"  {update:8.2f} s  next run: yesterday's and today's sums read again, every subject"
        f" judged ({len(drafts):,} drafts) (goal < {GOAL_HOURLY_UPDATE_S:.0f} s)"
        f" {'met' if met else 'NOT MET'}"
    )
    return met


def _since(started: float) -> float:
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
