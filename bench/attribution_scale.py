"""Attribution throughput: the resolver against a generated inventory at a provider's scale.

The inventory is laid out by formula (no randomness in who holds what), so that every
synthetic event's true account is known without keeping the inventory in memory:

- accounts ``1..A``; each has a domain identity (one DKIM selector, a custom MAIL FROM
  domain), a configuration set with a Feedback-ID, membership of one shared IP pool, and
  every tenth an origination number;
- ``I / 4`` IPs with four allocation intervals each (the window's quarters, shifted per
  IP): a fifth are shared-pool IPs that move between pools, the rest dedicated IPs that
  move between accounts; IPv4 from the benchmarking range 198.18.0.0/15, then IPv6 from
  2001:db8::/32;
- ``S`` send-log rows in time order (time-ordered provider message ids, append-friendly):
  an IP and time are drawn, the account is the IP's holder then (or a member of its pool).

The loaded database is kept under ``var/bench/`` (SQLite) or as a database of its own
(PostgreSQL) and reused while the parameters match.
"""

import argparse
import hashlib
import json
import random
import resource
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from abusedesk.attribution.keys import resource_keys
from abusedesk.storage.db import is_sqlite, make_engine, make_session_factory, read_only
from abusedesk.storage.migrate import upgrade

GOAL_EVENTS_PER_S = 20_000
BATCH = 1_000
LAYOUT_VERSION = 1
END = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(days=90)
START = END - WINDOW
CREATED = START - timedelta(days=400)
POOL_SIZE = 1_000  # accounts per shared pool
SHARED_SHARE = 5  # one IP in five is in a shared pool
_V4_BASE = int(IPv4Address("198.18.0.0"))
_V4_COUNT = 1 << 17
_V6_BASE = int(IPv6Address("2001:db8::"))
_QUARTER = WINDOW / 4
_ROOT = Path(__file__).resolve().parent.parent
VAR = _ROOT / "var" / "bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the throughput options to the bench's command line."""
    group = parser.add_argument_group("throughput")
    group.add_argument("--scale-accounts", type=int, default=100_000)
    group.add_argument("--intervals", type=int, default=1_000_000)
    group.add_argument("--send-log", type=int, default=10_000_000)
    group.add_argument("--events", type=int, default=100_000, help="synthetic events to time")
    group.add_argument(
        "--drop", action="store_true", help="drop the PostgreSQL bench database afterwards"
    )
    group.add_argument("--throughput-child", help=argparse.SUPPRESS)


@dataclass(frozen=True)
class Layout:
    """The generated inventory's size; everything else follows from it by formula."""

    accounts: int
    intervals: int
    send_log: int

    @property
    def ips(self) -> int:
        """Return how many IPs there are (four intervals each)."""
        return max(2, self.intervals // 4)

    @property
    def shared_ips(self) -> int:
        """Return how many of the IPs are shared-pool IPs (the first ones)."""
        return max(1, self.ips // SHARED_SHARE)

    @property
    def pools(self) -> int:
        """Return how many shared pools there are."""
        return max(1, self.accounts // POOL_SIZE)

    @property
    def name(self) -> str:
        """Return the name the loaded database is kept under."""
        return f"attribution-v{LAYOUT_VERSION}-a{self.accounts}-i{self.intervals}-s{self.send_log}"

    def ip(self, k: int) -> str:
        """Return IP number *k*."""
        # Written out by hand (the canonical forms): ipaddress is slow for a million IPs.
        if k < _V4_COUNT:
            return f"198.{18 + (k >> 16)}.{(k >> 8) & 255}.{k & 255}"
        return f"2001:db8::{k >> 16:x}:{k & 0xFFFF:x}"

    def ip_number(self, ip: str) -> int:
        """Return the number of an IP made by ``ip``."""
        value = int(ip_address(ip))
        return value - _V4_BASE if value < _V6_BASE else value - _V6_BASE

    def boundary(self, k: int, q: int) -> datetime:
        """Return when IP *k*'s interval *q* (1..3) starts: the quarter, shifted per IP."""
        return START + q * _QUARTER + timedelta(seconds=(k * 7919) % 86_400)

    def quarter(self, k: int, at: datetime) -> int:
        """Return which of IP *k*'s intervals covers *at*."""
        q = 0
        while q < 3 and at >= self.boundary(k, q + 1):
            q += 1
        return q

    def holder(self, k: int, q: int) -> int:
        """Return the account a dedicated IP *k* has in interval *q*."""
        return 1 + (k * 2_654_435_761 + q * 40_503) % self.accounts

    def pool(self, k: int, q: int) -> int:
        """Return the pool (0-based) a shared IP *k* is in during interval *q*."""
        return (k + q) % self.pools

    def member(self, pool: int, r: int) -> int:
        """Return the *r*-th account of *pool*."""
        members = (self.accounts - pool + self.pools - 1) // self.pools
        return 1 + pool + self.pools * (r % max(1, members))

    def pool_of(self, account: int) -> int:
        """Return the shared pool an account is in."""
        return (account - 1) % self.pools


def domain(account: int) -> str:
    """Return the domain identity of an account."""
    return f"d{account}.bench.example"


def selector(account: int) -> str:
    """Return the DKIM selector an account signs with."""
    return f"s{account % 4}"


def feedback_id(account: int) -> str:
    """Return the Feedback-ID of an account's configuration set."""
    return f"{account}:cs{account}:bench"


def number(account: int) -> str | None:
    """Return the origination number of every tenth account."""
    return f"+1555{account:07d}" if account % 10 == 0 else None


def pool_name(pool: int) -> str:
    """Return a shared pool's name."""
    return f"shared-{pool:04d}"


# --- rows -------------------------------------------------------------------------------------


def account_rows(layout: Layout) -> Iterator[tuple[Any, ...]]:
    """Yield (id, external_id, name, size_tier, standing, created_at, attributes)."""
    for a in range(1, layout.accounts + 1):
        yield (a, f"acct-{a:07d}", f"Customer {a}", "small", "healthy", CREATED, "{}")


def pool_rows(layout: Layout) -> Iterator[tuple[Any, ...]]:
    """Yield (id, name, kind, account_id) for the shared pools."""
    for p in range(layout.pools):
        yield (p + 1, pool_name(p), "shared", None)


def resource_rows(layout: Layout) -> Iterator[tuple[Any, ...]]:
    """Yield (id, account_id, kind, value, attributes, created_at, deleted_at)."""
    rid = 0
    for a in range(1, layout.accounts + 1):
        resources: list[tuple[str, str, dict[str, Any]]] = [
            (
                "identity_domain",
                domain(a),
                {"dkim_selectors": [selector(a)], "mail_from_domain": f"bounce.{domain(a)}"},
            ),
            ("configuration_set", f"cs{a}", {"feedback_id": feedback_id(a)}),
            ("ip_pool", pool_name(layout.pool_of(a)), {}),
        ]
        if (phone := number(a)) is not None:
            resources.append(("origination_number", phone, {}))
        for kind, value, attributes in resources:
            rid += 1
            yield (rid, a, kind, value, attributes, CREATED, None)


def key_rows(resources: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Yield (id, resource_id, account_id, kind, value) for every resource's keys."""
    kid = 0
    for rid, account, kind, value, attributes, _, _ in resources:
        for key_kind, key_value in resource_keys(kind, value, attributes):
            kid += 1
            yield (kid, rid, account, key_kind, key_value)


def allocation_rows(layout: Layout) -> Iterator[tuple[Any, ...]]:
    """Yield (id, ip, pool_id, account_id, valid_from, valid_to): four intervals per IP."""
    aid = 0
    for k in range(layout.ips):
        ip = layout.ip(k)
        shared = k < layout.shared_ips
        starts = [CREATED, *(layout.boundary(k, q) for q in (1, 2, 3))]
        for q in range(4):
            aid += 1
            valid_to = starts[q + 1] if q < 3 else None
            if shared:
                yield (aid, ip, layout.pool(k, q) + 1, None, starts[q], valid_to)
            else:
                yield (aid, ip, None, layout.holder(k, q), starts[q], valid_to)


def send_rows(layout: Layout) -> Iterator[tuple[Any, ...]]:
    """Yield send-log rows in time order, ready to store (times as UTC text).

    (id, provider_message_id, message_id_header, account_id, resource_id,
    configuration_set, source_ip, mail_from, recipient_domain, recipient_hash, sent_at)

    Ten million rows: integer time and a closed-form interval, no datetime per row.
    """
    rng = random.Random(f"attribution-scale:{layout.name}")
    start_us = int(START.timestamp()) * 1_000_000
    step_us = int(WINDOW.total_seconds() * 1_000_000) // layout.send_log
    quarter_s = int(_QUARTER.total_seconds())
    start_s = int(START.timestamp())
    ips, shared, pools = layout.ips, layout.shared_ips, layout.pools
    ip_text = [layout.ip(k) for k in range(ips)]
    sha = hashlib.sha256
    domains = ("gmail.example", "outlook.example", "yahoo.example", "cablenet.example")
    minute, prefix = -1, ""
    for j in range(layout.send_log):
        at_us = start_us + j * step_us
        at_s = at_us // 1_000_000
        if at_s // 60 != minute:
            minute = at_s // 60
            prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%d %H:%M:")
        k = rng.randrange(ips)
        q = min(3, max(0, (at_s - start_s - (k * 7919) % 86_400) // quarter_s))
        if k < shared:
            account = layout.member((k + q) % pools, rng.getrandbits(20))
        else:
            account = layout.holder(k, q)
        pmid = f"0100{at_us // 1000:012x}-{j:08x}-bench-000000"
        rcpt_domain = domains[j & 3]
        yield (
            j + 1,
            pmid,
            f"{pmid}@email.cloudmail.example",
            account,
            _identity_resource(account),
            f"cs{account}",
            ip_text[k],
            f"bounce@bounce.d{account}.bench.example",
            rcpt_domain,
            sha(f"u{rng.getrandbits(40):x}@{rcpt_domain}".encode()).hexdigest(),
            f"{prefix}{at_s % 60:02d}.{at_us % 1_000_000:06d}",
        )


def _identity_resource(account: int) -> int:
    """Return the id of an account's domain identity (resources are numbered in order)."""
    # Three resources per account, plus one more for every tenth account before it.
    return 3 * (account - 1) + (account - 1) // 10 + 1


# --- loading ----------------------------------------------------------------------------------

_TABLES: Sequence[tuple[str, Sequence[str]]] = (
    (
        "accounts",
        ("id", "external_id", "name", "size_tier", "standing", "created_at", "attributes"),
    ),
    ("ip_pools", ("id", "name", "kind", "account_id")),
    (
        "resources",
        ("id", "account_id", "kind", "value", "attributes", "created_at", "deleted_at"),
    ),
    ("resource_keys", ("id", "resource_id", "account_id", "kind", "value")),
    ("ip_allocations", ("id", "ip", "pool_id", "account_id", "valid_from", "valid_to")),
    (
        "send_log",
        (
            "id",
            "provider_message_id",
            "message_id_header",
            "account_id",
            "resource_id",
            "configuration_set",
            "source_ip",
            "mail_from",
            "recipient_domain",
            "recipient_hash",
            "sent_at",
        ),
    ),
)


def _rows(layout: Layout, table: str) -> Iterator[tuple[Any, ...]]:
    if table == "accounts":
        return account_rows(layout)
    if table == "ip_pools":
        return pool_rows(layout)
    if table == "resources":
        return resource_rows(layout)
    if table == "resource_keys":
        return key_rows(resource_rows(layout))
    if table == "ip_allocations":
        return allocation_rows(layout)
    return send_rows(layout)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # SQLAlchemy's SQLite DateTime storage format, in UTC.
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def _pg_value(value: Any) -> Any:
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def load_sqlite(layout: Layout, path: Path) -> None:
    """Bulk-load the inventory into a migrated SQLite file; indexes are built after the rows."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-1000000")
        connection.execute("PRAGMA temp_store=MEMORY")
        names = [name for name, _ in _TABLES]
        marks = ",".join("?" * len(names))
        indexes = connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "  # noqa: S608  # our own table names
            f"AND tbl_name IN ({marks})",
            names,
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        # Triggers (the inventory generation's) would run once per row: made again after.
        triggers = connection.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "  # noqa: S608  # our own table names
            f"AND tbl_name IN ({marks})",
            names,
        ).fetchall()
        for name, _ in triggers:
            connection.execute(f'DROP TRIGGER "{name}"')
        for table, columns in _TABLES:
            _progress(f"loading {table}")
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608  # our own names
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            rows = _rows(layout, table)
            while chunk := _take(rows, 50_000):
                connection.execute("BEGIN")
                connection.executemany(
                    statement,
                    chunk
                    if table == "send_log"
                    else [tuple(_sqlite_value(v) for v in row) for row in chunk],
                )
                connection.execute("COMMIT")
        for name, sql in indexes:
            _progress(f"indexing {name}")
            connection.execute(sql)
        for _, sql in triggers:
            connection.execute(sql)
        connection.execute("ANALYZE")
        connection.execute("CREATE TABLE bench_attribution_loaded (name TEXT)")
        connection.execute("INSERT INTO bench_attribution_loaded VALUES (?)", (layout.name,))
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def load_postgres(layout: Layout, url: str) -> None:
    """Bulk-load the inventory into a migrated PostgreSQL database with COPY."""
    with psycopg.connect(_conninfo(url), autocommit=True) as connection:
        # The rows are consistent by construction; foreign-key triggers would double the load.
        connection.execute("SET session_replication_role = replica")
        # The send log's times are UTC text.
        connection.execute("SET TimeZone = 'UTC'")
        names = [name for name, _ in _TABLES]
        indexes = connection.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(%s) "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)",
            (names,),
        ).fetchall()
        for name, _ in indexes:
            connection.execute(f'DROP INDEX "{name}"')
        for table, columns in _TABLES:
            _progress(f"loading {table}")
            with (
                connection.transaction(),
                connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in _rows(layout, table):
                    copy.write_row(row if table == "send_log" else tuple(map(_pg_value, row)))
        for name, sql in indexes:
            _progress(f"indexing {name}")
            connection.execute(sql)
        for table, _ in _TABLES:
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608  # our names
                f"(SELECT coalesce(max(id), 1) FROM {table}))"
            )
        connection.execute("ANALYZE")
        connection.execute("CREATE TABLE bench_attribution_loaded (name TEXT)")
        connection.execute("INSERT INTO bench_attribution_loaded VALUES (%s)", (layout.name,))


def _take(rows: Iterator[tuple[Any, ...]], n: int) -> list[tuple[Any, ...]]:
    chunk = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == n:
            break
    return chunk


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _progress(message: str) -> None:
    print(f"    {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _is_loaded(url: str, layout: Layout) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            marker = text("SELECT name FROM bench_attribution_loaded")
            return connection.execute(marker).scalar() == layout.name
    except Exception:  # A boundary of sorts: no marker table means not loaded yet.
        return False
    finally:
        engine.dispose()


def prepare(layout: Layout, server_url: str | None) -> tuple[str, float | None]:
    """Return the URL of a database holding *layout*, loading it first when needed.

    Return also how long loading took (None when a loaded database was reused).
    """
    if server_url is None or is_sqlite(server_url):
        VAR.mkdir(parents=True, exist_ok=True)
        path = VAR / f"{layout.name}.db"
        url = f"sqlite:///{path}"
        if path.exists() and _is_loaded(url, layout) and _upgraded(url):
            return url, None
        path.unlink(missing_ok=True)
    else:
        database = "abusedesk_bench_" + layout.name.replace("-", "_")
        url = make_url(server_url).set(database=database).render_as_string(hide_password=False)
        if _is_loaded(url, layout) and _upgraded(url):
            return url, None
        with psycopg.connect(_conninfo(server_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{database}"')
    started = time.perf_counter()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    if is_sqlite(url):
        load_sqlite(layout, Path(make_url(url).database or ""))
    else:
        load_postgres(layout, url)
    return url, time.perf_counter() - started


def _upgraded(url: str) -> bool:
    """Bring a kept database to the newest migration; tell whether that worked.

    A database kept from before a migration was written gets it here; one the newest
    migrations cannot upgrade (its schema drifted from them) is loaded again.
    """
    engine = make_engine(url)
    try:
        upgrade(engine)
    except Exception:  # A boundary of sorts: any failure means "load it again".
        _progress("the kept database cannot be upgraded: loading it again")
        return False
    finally:
        engine.dispose()
    return True


def database_size(url: str) -> int:
    """Return the database's size in bytes."""
    if is_sqlite(url):
        path = Path(make_url(url).database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with psycopg.connect(_conninfo(url)) as connection:
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(size[0]) if size else 0


def drop_database(server_url: str, url: str) -> None:
    """Drop the PostgreSQL bench database."""
    with psycopg.connect(_conninfo(server_url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


# --- events -----------------------------------------------------------------------------------

# Synthetic event mix: kind -> share.
MIX = {
    "provider_message_id": 0.15,
    "message_id": 0.20,
    "feedback_id": 0.10,
    "dkim_selector": 0.10,
    "from_domain": 0.10,
    "dedicated_ip": 0.10,
    "shared_ip_recipient": 0.10,
    "sms_number": 0.05,
    "miss": 0.10,
}


@dataclass(frozen=True)
class Synthetic:
    """A synthetic event with the account truly behind it (None: not ours)."""

    kind: str
    indicators: dict[str, tuple[str, ...]]
    occurred_at: datetime
    truth: int | None


def synthesize(session: Any, layout: Layout, count: int) -> list[Synthetic]:
    """Return *count* events whose truth is known, drawing messages from the send log."""
    rng = random.Random(f"attribution-events:{layout.name}")
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    needed = Counter(kinds)
    sampled = _sample_sends(session, layout, rng, needed)
    events = []
    for n, kind in enumerate(kinds):
        if kind in ("provider_message_id", "message_id", "dedicated_ip", "shared_ip_recipient"):
            pmid, header, account, ip, rhash, sent_at = sampled[kind].pop()
            arrival = sent_at + timedelta(seconds=rng.randrange(5, 3_600))
            indicators: dict[str, tuple[str, ...]] = {
                "provider_message_id": {"provider_message_id": (pmid,)},
                "message_id": {
                    "message_id": (header,),
                    "from_domain": (domain(account),),
                    "source_ip": (ip,),
                },
                "dedicated_ip": {"source_ip": (ip,), "from_domain": (f"lookalike{n}.example",)},
                "shared_ip_recipient": {"source_ip": (ip,), "recipient_hash": (rhash,)},
            }[kind]
            at = sent_at if kind in ("dedicated_ip", "shared_ip_recipient") else arrival
            events.append(Synthetic(kind, indicators, at, account))
            continue
        at = START + rng.random() * WINDOW
        account = 1 + rng.randrange(layout.accounts)
        if kind == "feedback_id":
            indicators = {"feedback_id": (feedback_id(account),)}
        elif kind == "dkim_selector":
            indicators = {
                "dkim_domain": (domain(account),),
                "dkim_selector": (f"{selector(account)}._domainkey.{domain(account)}",),
                "from_domain": (domain(account),),
            }
        elif kind == "from_domain":
            indicators = {"from_domain": (domain(account),)}
        elif kind == "sms_number":
            account = 10 * (1 + rng.randrange(max(1, layout.accounts // 10)))
            indicators = {"origination_number": (number(account) or "",)}
        else:
            indicators = {
                "message_id": (f"{rng.getrandbits(64):x}@mx.elsewhere.example",),
                "from_domain": (f"elsewhere{n}.example",),
                "source_ip": (f"192.0.2.{1 + n % 250}",),
            }
            events.append(Synthetic(kind, indicators, at, None))
            continue
        events.append(Synthetic(kind, indicators, at, account))
    return events


def _sample_sends(
    session: Any, layout: Layout, rng: random.Random, needed: Counter[str]
) -> dict[str, list[tuple[Any, ...]]]:
    """Draw send-log rows for the events that quote a message, by what their IP must be."""
    wanted = {
        "provider_message_id": needed["provider_message_id"],
        "message_id": needed["message_id"],
        "dedicated_ip": needed["dedicated_ip"],
        "shared_ip_recipient": needed["shared_ip_recipient"],
    }
    found: dict[str, list[tuple[Any, ...]]] = {kind: [] for kind in wanted}
    statement = text(
        "SELECT provider_message_id, message_id_header, account_id, source_ip, "
        "recipient_hash, sent_at FROM send_log WHERE id IN :ids"
    ).bindparams(_expanding("ids"))
    while any(len(found[k]) < n for k, n in wanted.items()):
        ids = [1 + rng.randrange(layout.send_log) for _ in range(2_000)]
        for row in session.execute(statement, {"ids": ids}):
            pmid, header, account, ip, rhash, sent_at = row
            sent_at = _aware(sent_at)
            shared = layout.ip_number(ip) < layout.shared_ips
            for kind in ("provider_message_id", "message_id") + (
                ("shared_ip_recipient",) if shared else ("dedicated_ip",)
            ):
                if len(found[kind]) < wanted[kind]:
                    found[kind].append((pmid, header, account, ip, rhash, sent_at))
                    break
    return found


def _expanding(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name, expanding=True)


def _aware(value: Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# --- timing -----------------------------------------------------------------------------------


def _memory_mb(field: str) -> float:
    """Return this process's resident memory now (VmRSS) or at its peak (VmHWM), in MB.

    Not ``ru_maxrss``: Linux carries it over from the parent across exec, so a child
    started by a parent that just loaded the inventory would report the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _time_batches(
    sessions: Any, facts: Sequence[Any], lookup_for: Any
) -> tuple[list[tuple[bool, int | None, int]], dict[str, float]]:
    """Attribute *facts* in batches of BATCH, one read-only transaction each; time it.

    Return, per event, whether it settled, on which account, and a digest of the whole
    attribution: the pipeline stores a batch's attributions and lets them go, so the bench
    keeps no more of them either (100,000 live objects would only time the collector).
    """
    from abusedesk.attribution.resolver import attribute_events

    # One warm-up batch: the statement cache and connection pool are filled once per process.
    with read_only(sessions) as session:
        attribute_events(facts[:BATCH], lookup_for(session))
    outcomes: list[tuple[bool, int | None, int]] = []
    wall = cpu = 0.0
    for start in range(0, len(facts), BATCH):
        wall_at, cpu_at = time.perf_counter(), time.process_time()
        with read_only(sessions) as session:
            batch = attribute_events(facts[start : start + BATCH], lookup_for(session))
        wall += time.perf_counter() - wall_at
        cpu += time.process_time() - cpu_at
        # Outside the timing: the digest is the bench's, not the pipeline's.
        outcomes += [(a.settled, a.account_id, hash(repr(a))) for a in batch]
    return outcomes, {"wall_s": wall, "cpu_s": cpu, "per_s": len(facts) / wall}


def time_resolver(url: str, layout: Layout, count: int) -> dict[str, Any]:
    """Synthesize events, then attribute them in batches on this thread; return the figures.

    Twice: asking SQL for everything (``SqlInventoryLookup``), then as the pipeline does,
    through the process's in-memory copy of the inventory (``InventoryCache``), whose
    reading time and memory are measured on their own.
    """
    from abusedesk.attribution.model import EventFacts
    from abusedesk.storage.inventory import SqlInventoryLookup
    from abusedesk.storage.inventory_cache import InventoryCache

    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with read_only(sessions) as session:
        events = synthesize(session, layout, count)
    facts = [EventFacts(e.indicators, e.occurred_at) for e in events]
    rss_before = _memory_mb("VmRSS")
    direct, sql_figures = _time_batches(sessions, facts, SqlInventoryLookup)
    cache = InventoryCache()
    wall, cpu = time.perf_counter(), time.process_time()
    with read_only(sessions) as session:
        cache.lookup(session)
    load = {"wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}
    rss_cached = _memory_mb("VmRSS")
    attributions, cached_figures = _time_batches(sessions, facts, cache.lookup)
    engine.dispose()
    by_kind: dict[str, dict[str, int]] = {}
    for event, (settled, account_id, _) in zip(events, attributions, strict=True):
        tally = by_kind.setdefault(event.kind, {"n": 0, "settled": 0, "correct": 0})
        tally["n"] += 1
        if settled:
            tally["settled"] += 1
            tally["correct"] += account_id == event.truth
    figures = cache.figures
    return {
        "events": len(facts),
        "sql": sql_figures,
        "cached": cached_figures,
        "cache_load": load,
        "cache_rows": {
            "accounts": figures.accounts,
            "resources": figures.resources,
            "keys": figures.keys,
            "intervals": figures.intervals,
        }
        if figures
        else {},
        "differences": sum(a != b for a, b in zip(direct, attributions, strict=True)),
        "rss_before_mb": rss_before,
        "rss_cached_mb": rss_cached,
        "peak_rss_mb": _memory_mb("VmHWM"),
        "by_kind": by_kind,
    }


def run_throughput(args: argparse.Namespace) -> bool:
    """Load (or reuse) the inventory, time the resolver in a child process, print the figures."""
    layout = Layout(args.scale_accounts, args.intervals, args.send_log)
    if args.throughput_child:
        print(json.dumps(time_resolver(args.throughput_child, layout, args.events)))
        return True
    backend = (
        "sqlite" if args.database_url is None or is_sqlite(args.database_url) else "postgresql"
    )
    print(
        f"attribution throughput on {backend}: {layout.accounts:,} accounts, "
        f"{layout.ips * 4:,} IP allocation intervals ({layout.ips:,} IPs, "
        f"{layout.shared_ips:,} in {layout.pools} shared pools), {layout.send_log:,} send-log rows"
    )
    url, load_seconds = prepare(layout, args.database_url)
    size = database_size(url)
    loaded = "reused" if load_seconds is None else f"loaded in {load_seconds:,.0f} s"
    print(f"  inventory {loaded}, database {size / 2**30:.2f} GiB")
    child = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("attribution.py")),
            "--mode",
            "throughput",
            "--scale-accounts",
            str(layout.accounts),
            "--intervals",
            str(layout.intervals),
            "--send-log",
            str(layout.send_log),
            "--events",
            str(args.events),
            "--throughput-child",
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    if backend == "postgresql" and args.drop:
        drop_database(args.database_url, url)
        print("  bench database dropped")
    elif backend == "postgresql":
        print(f"  bench database {make_url(url).database} kept for the next run (--drop drops it)")
    n = figures["events"]
    for label, timed in (
        ("SQL for everything", figures["sql"]),
        ("with the inventory copy (the pipeline's path)", figures["cached"]),
    ):
        print(
            f"  {label}: {timed['per_s']:,.0f} events/s, {1e6 * timed['cpu_s'] / n:.0f} µs CPU "
            f"and {1e6 * timed['wall_s'] / n:.0f} µs wall per event"
        )
    ok = figures["cached"]["per_s"] >= GOAL_EVENTS_PER_S
    print(
        f"  {figures['cached']['per_s']:>9,.0f} events/s  goal >= {GOAL_EVENTS_PER_S:,} "
        f"{'ok' if ok else 'MISSED'}  ({n:,} events in batches of {BATCH:,}, one core)"
    )
    rows = figures["cache_rows"]
    print(
        f"  inventory copy: {rows.get('accounts', 0):,} accounts, {rows.get('resources', 0):,} "
        f"resources, {rows.get('keys', 0):,} keys, {rows.get('intervals', 0):,} IP intervals; "
        f"read in {figures['cache_load']['wall_s']:.1f} s "
        f"({figures['cache_load']['cpu_s']:.1f} s CPU), "
        f"{figures['rss_cached_mb'] - figures['rss_before_mb']:,.0f} MB"
    )
    print(
        f"  memory of the timing process: {figures['rss_before_mb']:,.0f} MB before attributing, "
        f"{figures['rss_cached_mb']:,.0f} MB with the copy, peak {figures['peak_rss_mb']:,.0f} MB"
    )
    print(f"  attributions that differ between SQL and the copy: {figures['differences']} (goal 0)")
    ok = ok and figures["differences"] == 0
    print("  sanity check on the synthetic events (truth known by construction):")
    print(f"    {'kind':<22} {'events':>7} {'settled':>8} {'correct':>8}")
    for kind, tally in sorted(figures["by_kind"].items()):
        print(f"    {kind:<22} {tally['n']:>7} {tally['settled']:>8} {tally['correct']:>8}")
    return ok
