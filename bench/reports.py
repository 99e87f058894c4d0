"""Weekly report speed: 90 days of a provider with 10,000,000 events, one week's report.

The database holds ``--days`` days (90) of ``--events`` events (10,000,000) from
``--accounts`` accounts (20,000), in reports of two events on average, with a recipient
domain on every email event, and the casework of those days: cases, actions, appeals,
customer messages, signals and clusters of linked accounts. Three measures, each printed
beside its goal:

- **report generation**: the last whole week's figures counted (from the daily roll-ups
  and the week's rows of the small tables), frozen in ``weekly_reports``, the document
  built, and written as HTML, PDF and Markdown. Goal: under 60 s.
- **hourly roll-up**: an hour of new events (the busiest hour's worth) counted into the
  roll-ups, as the weekly reports' tender does all day. Goal: under 5 s.
- **full roll-up**, besides: every one of the 10,000,000 events counted from nothing (what
  ``abusedesk report rollup --rebuild`` does once after an upgrade), with its rate.

The loaded database is kept under ``var/bench/`` (SQLite) or as a database of its own on
the server of ``--database-url`` (PostgreSQL) and reused while the parameters match.
Smaller runs: ``--events 1000000 --accounts 5000``.
"""

import argparse
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import func, select, text

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from abusedesk.config import Settings  # noqa: E402
from abusedesk.documents.markdown import to_markdown  # noqa: E402
from abusedesk.documents.pdf import to_pdf  # noqa: E402
from abusedesk.insights.trends import weekly_document  # noqa: E402
from abusedesk.insights.weeks import WEEK, week_start  # noqa: E402
from abusedesk.pipeline.weekly_reports import trend_options  # noqa: E402
from abusedesk.storage import trends  # noqa: E402
from abusedesk.storage.db import (  # noqa: E402
    is_sqlite,
    make_engine,
    make_session_factory,
    unit_of_work,
)
from abusedesk.storage.tables import Event  # noqa: E402
from abusedesk.web.ui.documents import document_html  # noqa: E402
from bench.monitoring import (  # noqa: E402
    _ACCOUNT_COLUMNS,
    _conninfo,
    account_rows,
    bulk_load,
    prepare,
)

GOAL_REPORT_S = 60.0
GOAL_HOURLY_ROLLUP_S = 5.0
LAYOUT_VERSION = 1
NOW = datetime(2026, 11, 25, 9, tzinfo=UTC)
CHUNK = 200_000
SETTLE = timedelta(minutes=2)
SERVICES = np.array(["email", "sms", "push"])
SERVICE_SHARE = [0.85, 0.12, 0.03]
EMAIL_CATEGORIES = np.array(["spam", "phishing", "bounce", "malware", "not_spam", "auto_reply"])
EMAIL_SHARE = [0.55, 0.08, 0.25, 0.02, 0.05, 0.05]
FORMATS = {"email": np.array(["arf", "ses", "xarf", "freeform"]), "sms": np.array(["sms"])}
FORMAT_SHARE = [0.6, 0.3, 0.05, 0.05]
REPORTERS = np.array(
    ["yahoo.com", "aol.com", "comcast.net", "spamcop.net", "abuse.ch", "gmx.net", "mail.ru"]
    + [f"isp{n}.example" for n in range(60)]
)
DOMAINS = np.array(
    ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "aol.com", "icloud.com", "gmx.de"]
    + [f"corp{n}.example" for n in range(300)]
)
DIURNAL = np.array(
    [1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2], dtype=float
)
_REPORT_COLUMNS = (
    "id",
    "sha256",
    "channel",
    "size",
    "envelope",
    "received_at",
    "status",
    "stage",
    "report_format",
    "attempts",
    "next_attempt_at",
    "processed_at",
)
_EVENT_COLUMNS = (
    "id",
    "report_id",
    "seq",
    "category",
    "service",
    "report_format",
    "occurred_at",
    "reporter",
    "indicators",
    "details",
    "account_id",
    "attribution_state",
    "attribution_details",
    "aggregated_at",
    "created_at",
)
_INDICATOR_COLUMNS = ("event_id", "key", "value")


def main() -> int:
    """Run the measures; return 0 when every goal was met."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server the bench may create its databases on (default: SQLite)",
    )
    args = parser.parse_args()
    backend = "SQLite" if args.database_url is None else "PostgreSQL"
    print(f"weekly report speed ({backend}, one process)")
    name = f"reports-v{LAYOUT_VERSION}-e{args.events}-a{args.accounts}-d{args.days}-s{args.seed}"
    url = prepare(name, args.database_url, lambda target: _load(target, args))
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    settings = Settings(database={"url": url})
    events = _count_events(sessions)

    # Besides: the whole history counted from nothing, as after an upgrade.
    held_back = _hold_back_last_hour(sessions)
    started = time.perf_counter()
    batches = _roll_all(sessions)
    full = _since(started)

    # The last hour's events arrive; the tender counts them.
    _release(sessions, held_back)
    started = time.perf_counter()
    _roll_all(sessions)
    hourly = _since(started)

    week = week_start(NOW) - WEEK
    timings: list[tuple[str, float]] = []
    started = time.perf_counter()
    with unit_of_work(sessions) as session:
        record = trends.generate(
            session, week, actor="bench", now=NOW, options=trend_options(settings)
        )
    timings.append(("figures counted and frozen in weekly_reports", _since(started)))
    figures = record.figures
    assert figures is not None  # noqa: S101  # just generated
    started = time.perf_counter()
    doc = weekly_document(figures, summary=record.summary, generated_at=NOW)
    html = document_html(doc)
    timings.append((f"document built, HTML written ({len(html):,} characters)", _since(started)))
    started = time.perf_counter()
    pdf = to_pdf(doc)
    timings.append((f"PDF written ({len(pdf):,} bytes)", _since(started)))
    started = time.perf_counter()
    markdown = to_markdown(doc)
    timings.append((f"Markdown written ({len(markdown):,} characters)", _since(started)))
    engine.dispose()

    total = sum(seconds for _, seconds in timings)
    report_met = total < GOAL_REPORT_S
    hourly_met = hourly < GOAL_HOURLY_ROLLUP_S
    print(
        f"\n{events:,} events over {args.days} days from {args.accounts:,} accounts;"
        f" the week of {week:%Y-%m-%d}: {figures.events:,} events,"
        f" {figures.cases_opened:,} cases opened, SLA clocks due in {len(figures.sla)} queue(s)"
    )
    for label, seconds in timings:
        print(f"  {seconds:8.2f} s  {label}")
    print(
        f"  {total:8.2f} s  report generation (goal < {GOAL_REPORT_S:.0f} s)"
        f" {'met' if report_met else 'NOT MET'}"
    )
    print(
        f"  {hourly:8.2f} s  hourly roll-up: {held_back[1]:,} new events counted"
        f" (goal < {GOAL_HOURLY_ROLLUP_S:.0f} s) {'met' if hourly_met else 'NOT MET'}"
    )
    rate = (events - held_back[1]) / full if full else 0.0
    print(
        f"  {full:8.2f} s  besides: every event counted from nothing ({batches} batches,"
        f" {rate:,.0f} events/s; once, after an upgrade)"
    )
    return 0 if report_met and hourly_met else 1


def _since(started: float) -> float:
    return time.perf_counter() - started


def _count_events(sessions: Any) -> int:
    with unit_of_work(sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Event)) or 0)


def _roll_all(sessions: Any) -> int:
    """Count every settled event not yet counted, as the tender does; return the batches."""
    batches = 0
    while True:
        with unit_of_work(sessions) as session:
            step = trends.roll_up(session, now=NOW, settle=SETTLE)
        if not step.counted:
            return batches
        batches += 1


def _hold_back_last_hour(sessions: Any) -> tuple[int, int]:
    """Forget every count; let the roll-up see all but the last hour's events as settled.

    Return the first id of the last hour and how many events it holds.
    """
    with unit_of_work(sessions) as session:
        first = session.scalar(
            select(func.min(Event.id)).where(Event.created_at >= NOW - timedelta(hours=1))
        )
        newest = int(session.scalar(select(func.max(Event.id))) or 0)
        first = int(first or newest + 1)
        trends.rebuild(session, now=NOW)
        session.execute(text("DELETE FROM weekly_reports"))
        _settled_up_to(session, first - 1)
    return first, newest - first + 1


def _release(sessions: Any, held_back: tuple[int, int]) -> None:
    """Let the roll-up see the last hour's events as settled."""
    with unit_of_work(sessions) as session:
        _settled_up_to(session, held_back[0] + held_back[1] - 1)


def _settled_up_to(session: Any, event_id: int) -> None:
    session.execute(
        text("UPDATE report_rollup_marks SET seen_event_id = :ready, seen_at = :at"),
        {"ready": event_id, "at": NOW - timedelta(days=1)},
    )


# --- generated data -----------------------------------------------------------------------------


def _times(rng: np.random.Generator, count: int, days: int) -> np.ndarray:
    """Return *count* arrival times (seconds since 1970) over *days* days up to NOW, sorted."""
    first_hour = int((NOW - timedelta(days=days)).timestamp()) // 3600
    hours = days * 24
    weights = np.resize(DIURNAL, hours)
    # A few busy days: a campaign or a feed catching up.
    weights = weights * np.repeat(1 + 2.0 * (rng.random(days) < 0.05), 24)
    chosen = rng.choice(hours, size=count, p=weights / weights.sum())
    seconds = (first_hour + chosen) * 3600 + rng.integers(0, 3600, count)
    seconds.sort()
    return seconds


def _stamp(seconds: np.ndarray) -> np.ndarray:
    """Return SQLAlchemy's stored text of UTC times given as seconds since 1970."""
    text_times = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="us")
    return np.char.replace(text_times, "T", " ")


def _load(url: str, args: argparse.Namespace) -> None:
    tables = [
        ("accounts", _ACCOUNT_COLUMNS, iter([account_rows(args.accounts)])),
        *_event_tables(args),
        *_casework_tables(args),
    ]
    if is_sqlite(url):
        bulk_load(url, tables)
        return
    # The shared PostgreSQL loader sets each table's id sequence: tables keyed otherwise
    # (indicators, cluster members) are copied here, after the others.
    keyed = [t for t in tables if t[1][0] == "id"]
    bulk_load(url, keyed)
    with psycopg.connect(_conninfo(url), autocommit=True) as connection:
        connection.execute("SET session_replication_role = replica")
        for table, columns, chunks in tables:
            if columns[0] == "id":
                continue
            with (
                connection.transaction(),
                connection.cursor().copy(
                    f"COPY {table} ({', '.join(columns)}) FROM STDIN"  # our names
                ) as copy,
            ):
                for chunk in chunks:
                    for row in chunk:
                        copy.write_row(row)
        connection.execute("VACUUM ANALYZE")


def _event_tables(
    args: argparse.Namespace,
) -> list[tuple[str, tuple[str, ...], Iterator[list[tuple[Any, ...]]]]]:
    rng = np.random.default_rng(args.seed)
    times = _times(rng, args.events, args.days)
    # Two events a report on average: one to three.
    sizes = rng.integers(1, 4, args.events * 2 // 3 + 100)
    report_of = np.repeat(np.arange(1, len(sizes) + 1), sizes)[: args.events]
    reports = int(report_of[-1])
    seq = np.arange(args.events) - np.searchsorted(report_of, report_of)
    first_event = np.searchsorted(report_of, np.arange(1, reports + 1))
    # Most events come from a few accounts: a long tail, as complaints do.
    account = np.minimum(rng.zipf(1.3, args.events), args.accounts)
    account = ((account * 7919) % args.accounts) + 1
    attributed = rng.random(args.events) < 0.93
    service = SERVICES[rng.choice(3, args.events, p=SERVICE_SHARE)]
    category = EMAIL_CATEGORIES[rng.choice(len(EMAIL_CATEGORIES), args.events, p=EMAIL_SHARE)]
    category = np.where(
        service == "email", category, np.where(service == "sms", "sms_spam", "spam")
    )
    email_format = FORMATS["email"][rng.choice(4, args.events, p=FORMAT_SHARE)]
    event_format = np.where(
        service == "email", email_format, np.where(service == "sms", "sms", "xarf")
    )
    reporter = REPORTERS[rng.zipf(1.6, args.events) % len(REPORTERS)]
    domain = DOMAINS[rng.zipf(1.5, args.events) % len(DOMAINS)]
    stamps = _stamp(times)
    report_status = np.where(rng.random(reports) < 0.99, "done", "quarantined")

    def report_rows() -> Iterator[list[tuple[Any, ...]]]:
        for start in range(0, reports, CHUNK):
            stop = min(start + CHUNK, reports)
            firsts = first_event[start:stop]
            at = stamps[firsts].tolist()
            statuses = report_status[start:stop].tolist()
            formats = event_format[firsts].tolist()
            yield [
                (
                    r + 1,
                    f"{r + 1:064x}",
                    "smtp",
                    2000,
                    "{}",
                    when,
                    status,
                    None if status == "done" else "parse",
                    report_format,
                    1,
                    when,
                    when,
                )
                for r, when, status, report_format in zip(
                    range(start, stop), at, statuses, formats, strict=True
                )
            ]

    def event_rows() -> Iterator[list[tuple[Any, ...]]]:
        for start in range(0, args.events, CHUNK):
            stop = min(start + CHUNK, args.events)
            part = slice(start, stop)
            accounts = np.where(attributed[part], account[part], 0).tolist()
            yield [
                (
                    e,
                    report_id,
                    number,
                    event_category,
                    event_service,
                    report_format,
                    when,
                    event_reporter,
                    "{}",
                    "{}",
                    account_id or None,
                    "attributed" if account_id else "unattributed",
                    "{}",
                    when,
                    when,
                )
                for e, report_id, number, event_category, event_service, report_format, when, event_reporter, account_id in zip(
                    range(start + 1, stop + 1),
                    report_of[part].tolist(),
                    seq[part].tolist(),
                    category[part].tolist(),
                    service[part].tolist(),
                    event_format[part].tolist(),
                    stamps[part].tolist(),
                    reporter[part].tolist(),
                    accounts,
                    strict=True,
                )
            ]

    def indicator_rows() -> Iterator[list[tuple[Any, ...]]]:
        for start in range(0, args.events, CHUNK):
            stop = min(start + CHUNK, args.events)
            emails = np.flatnonzero(service[start:stop] == "email") + start
            yield [
                (e + 1, "recipient_domain", value)
                for e, value in zip(emails.tolist(), domain[emails].tolist(), strict=True)
            ]

    return [
        ("reports", _REPORT_COLUMNS, report_rows()),
        ("events", _EVENT_COLUMNS, event_rows()),
        ("event_indicators", _INDICATOR_COLUMNS, indicator_rows()),
    ]


def _casework_tables(
    args: argparse.Namespace,
) -> list[tuple[str, tuple[str, ...], Iterator[list[tuple[Any, ...]]]]]:
    """Cases, actions, appeals, customer messages, signals and clusters of the 90 days."""
    rng = np.random.default_rng(args.seed + 7)
    cases = max(100, args.events // 200)
    opened = _times(rng, cases, args.days)
    response = opened + rng.exponential(3 * 3600, cases).astype(np.int64)
    closed = opened + rng.exponential(3 * 86400, cases).astype(np.int64)
    still_open = closed > int(NOW.timestamp())
    account = rng.integers(1, args.accounts + 1, cases)
    # One open case per account and category group: open cases get accounts in turn.
    open_rank = np.cumsum(still_open) - 1
    account = np.where(still_open, open_rank % args.accounts + 1, account)
    group = np.where(
        still_open & (open_rank >= args.accounts),
        np.char.add("other", (open_rank // args.accounts).astype(str)),
        "spam",
    )
    case_rows = [
        (
            c + 1,
            int(account[c]),
            str(group[c]),
            "open" if still_open[c] else "closed",
            0,
            1,
            1,
            str(_stamp(opened[c : c + 1])[0]),
            None if still_open[c] else str(_stamp(closed[c : c + 1])[0]),
            1,
            str(_stamp(opened[c : c + 1] + 4 * 3600)[0]),
            str(_stamp(response[c : c + 1])[0]),
            str(_stamp(opened[c : c + 1] + 3 * 86400)[0]),
            None if still_open[c] else str(_stamp(closed[c : c + 1])[0]),
            "ok",
            False,
            0,
            "[]",
        )
        for c in range(cases)
    ]
    actions = cases // 3
    acted = rng.choice(cases, actions, replace=False) + 1
    kinds = np.array(["warn", "throttle", "pause", "suspend", "terminate"])[
        rng.choice(5, actions, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    ]
    action_rows = []
    for a in range(actions):
        case_id = int(acted[a])
        at = str(_stamp(opened[case_id - 1 : case_id] + 7200)[0])
        action_rows.append(
            (
                a + 1,
                int(account[case_id - 1]),
                str(kinds[a]),
                str(kinds[a]),
                "spam",
                "executed",
                1,
                "bench",
                False,
                "{}",
                "bench",
                "bench",
                at,
                at,
                "bench",
                1,
                case_id,
            )
        )
    appeals = actions // 10
    appeal_rows = []
    for p in range(appeals):
        action_id = p * 10 + 1
        case_id = int(acted[action_id - 1])
        submitted = opened[case_id - 1 : case_id] + 86400
        appeal_rows.append(
            (
                p + 1,
                action_id,
                case_id,
                int(account[case_id - 1]),
                "Our account was compromised",
                "We rotated the keys",
                "Two-factor sign-in",
                ("upheld", "overturned", "partial")[p % 3],
                str(_stamp(submitted)[0]),
                str(_stamp(submitted + 5 * 86400)[0]),
                str(_stamp(submitted + 2 * 86400)[0]),
                "[]",
                "[]",
            )
        )
    messages = cases
    message_case = rng.integers(1, cases + 1, messages)
    message_at = _stamp(_times(rng, messages, args.days))
    message_rows = [
        (
            m + 1,
            int(message_case[m]),
            int(account[message_case[m] - 1]),
            "in",
            "reply",
            "email",
            "customer@example.com",
            "abuse@provider.example",
            "Re: your account",
            "We fixed the list.",
            f"<bench-{m}@example.com>",
            "received",
            0,
            "customer",
            str(message_at[m]),
        )
        for m in range(messages)
    ]
    signals = max(50, cases // 20)
    signal_at = _stamp(_times(rng, signals, args.days))
    signal_rows = [
        (
            s + 1,
            "spike.jump",
            "account",
            str(int(account[s % cases])),
            "{}",
            "complaints far above the account's usual hour",
            "open",
            str(signal_at[s]),
            int(account[s % cases]),
            ("low", "medium", "high")[s % 3],
            "none",
            "{}",
        )
        for s in range(signals)
    ]
    clusters = 300
    cluster_rows = [
        (k + 1, f"bench-ring-{k}", 4, 0.7, str(message_at[0]), str(message_at[-1]))
        for k in range(clusters)
    ]
    member_rows = [
        (k + 1, int(((k * 4 + i) * 104729) % args.accounts) + 1)
        for k in range(clusters)
        for i in range(4)
    ]
    return [
        (
            "cases",
            (
                "id",
                "account_id",
                "category_group",
                "status",
                "priority",
                "event_count",
                "reporter_count",
                "opened_at",
                "closed_at",
                "queue_id",
                "response_due_at",
                "first_response_at",
                "resolution_due_at",
                "resolved_at",
                "sla_state",
                "snoozed_for_reply",
                "reopen_count",
                "priority_factors",
            ),
            iter([case_rows]),
        ),
        (
            "enforcement_actions",
            (
                "id",
                "account_id",
                "action",
                "proposed_action",
                "cause",
                "state",
                "policy_version",
                "policy_reason",
                "needs_approval",
                "evidence",
                "reason",
                "proposed_by",
                "proposed_at",
                "executed_at",
                "executed_by",
                "attempts",
                "case_id",
            ),
            iter([action_rows]),
        ),
        (
            "appeals",
            (
                "id",
                "action_id",
                "case_id",
                "account_id",
                "root_cause",
                "fix",
                "prevention",
                "state",
                "submitted_at",
                "due_at",
                "decided_at",
                "lifted_action_ids",
                "reversal_action_ids",
            ),
            iter([appeal_rows]),
        ),
        (
            "customer_messages",
            (
                "id",
                "case_id",
                "account_id",
                "direction",
                "kind",
                "channel",
                "from_address",
                "to_address",
                "subject",
                "body",
                "message_id",
                "state",
                "attempts",
                "created_by",
                "created_at",
            ),
            iter([message_rows]),
        ),
        (
            "signals",
            (
                "id",
                "kind",
                "subject_type",
                "subject_id",
                "figures",
                "reason",
                "state",
                "raised_at",
                "account_id",
                "severity",
                "step",
                "evidence",
            ),
            iter([signal_rows]),
        ),
        (
            "account_clusters",
            ("id", "key", "size", "score", "first_seen_at", "last_seen_at"),
            iter([cluster_rows]),
        ),
        ("cluster_members", ("cluster_id", "account_id"), iter([sorted(set(member_rows))])),
    ]


if __name__ == "__main__":
    sys.exit(main())
