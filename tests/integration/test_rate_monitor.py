"""The rate monitor on a real database: daily sums, statuses per subject, drafts on changes."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from abusedesk.bootstrap import Container
from abusedesk.config import RateSettings
from abusedesk.inventory.model import NumberedRecord, Table
from abusedesk.inventory.rows import parse_row
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.reputation.rates import COMPLAINT_RATE
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory_store import UpsertOutcome, upsert_records
from abusedesk.storage.rate_monitor import SPAM_TRAPS, current_statuses, rate_history
from abusedesk.storage.reputation import rebuild_daily
from abusedesk.storage.tables import Account, RateDaily

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
ACCOUNTS = [
    {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"},
    {"external_id": "4412", "name": "Contoso", "created_at": "2025-01-01T00:00:00Z"},
]
POOL = {"name": "shared-a", "kind": "shared"}
DOMAIN = {
    "account": "4411",
    "kind": "identity_domain",
    "value": "news.example.com",
    "created_at": "2025-01-01T00:00:00Z",
}


def _upsert(container: Container, table: str, rows: list[dict[str, Any]]) -> UpsertOutcome:
    records = [NumberedRecord(n, parse_row(table, n, row)) for n, row in enumerate(rows, 1)]
    with unit_of_work(container.sessions) as session:
        return upsert_records(session, table, records)


def _stats(
    account: str, *, days: int, sent: int, fbl: int, complaints: int, **part: Any
) -> list[dict[str, Any]]:
    """One row at 09:00 on each of the last *days* days (today included)."""
    return [
        {
            "account": account,
            "hour": (NOW.replace(hour=9) - timedelta(days=d)).isoformat(),
            "destination_group": "microsoft",
            "sent": sent,
            "fbl_sent": fbl,
            "complaints": complaints,
            **part,
        }
        for d in range(days)
    ]


@pytest.fixture
def inventory(container: Container) -> Container:
    """Two accounts, a shared pool, one identity."""
    _upsert(container, Table.ACCOUNTS, ACCOUNTS)
    _upsert(container, Table.IP_POOLS, [POOL])
    _upsert(container, Table.RESOURCES, [DOMAIN])
    return container


def _account_id(container: Container, external_id: str) -> int:
    with unit_of_work(container.sessions) as session:
        found = session.scalar(select(Account.id).where(Account.external_id == external_id))
    assert found is not None
    return found


def _kinds(drafts: list[SignalDraft] | Any) -> set[tuple[str, str, str]]:
    return {(d.kind, d.subject_type, d.figures.get("metric", "")) for d in drafts}


def test_daily_sums_follow_every_write_of_the_hourly_rows(inventory: Container) -> None:
    """Writing, rewriting and adding hourly rows keeps rate_daily equal to a rebuild."""
    _upsert(inventory, Table.SENDING_STATS, _stats("4411", days=3, sent=100, fbl=50, complaints=1))
    _upsert(inventory, Table.SENDING_STATS, _stats("4411", days=2, sent=70, fbl=20, complaints=4))
    _upsert(
        inventory,
        Table.SENDING_STATS,
        _stats("4411", days=2, sent=5, fbl=5, complaints=0, pool="shared-a", trap_hits=2),
    )
    with unit_of_work(inventory.sessions) as session:
        kept = _daily(session)
        rebuild_daily(session)
        rebuilt = _daily(session)
    assert kept == rebuilt
    assert len(kept) == 5


def _daily(session: Any) -> list[tuple[Any, ...]]:
    return sorted(
        tuple(row)
        for row in session.execute(
            select(
                RateDaily.account_id,
                RateDaily.resource_key,
                RateDaily.day,
                RateDaily.destination_group,
                RateDaily.sent,
                RateDaily.fbl_sent,
                RateDaily.complaints,
                RateDaily.trap_hits,
            )
        )
    )


def test_an_account_over_the_review_threshold_raises_a_review(inventory: Container) -> None:
    """0.4% complaints over 14,000 messages: the account goes under review, step review."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    drafts = RateMonitor().run(inventory.sessions, NOW)
    account = [d for d in drafts if d.subject_type == "account"]
    assert [(d.kind, d.step, d.severity, d.account_id) for d in account] == [
        (SignalKind.RATE_REVIEW, Step.REVIEW, Severity.MEDIUM, _account_id(inventory, "4411"))
    ]


def test_the_draft_carries_the_figures_a_notice_quotes(inventory: Container) -> None:
    """Rate, eligible messages, window start and the sentence travel with the draft."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    (draft,) = [
        d for d in RateMonitor().run(inventory.sessions, NOW) if d.subject_type == "account"
    ]
    expected = {
        "rate": 56 / 14_000,
        "eligible": 14_000,
        "window_since": "2026-11-23T00:00:00+00:00",
        "sentence": "complaint rate 0.40% over the last 14,000 messages to feedback-loop"
        " domains since 23 Nov",
    }
    assert {k: draft.figures[k] for k in expected} == expected


def test_running_again_at_the_same_moment_gives_the_same_drafts(inventory: Container) -> None:
    """A second run at one *now* returns drafts with the same dedupe keys; a later one none."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    monitor = RateMonitor()
    first = sorted(d.dedupe_key for d in monitor.run(inventory.sessions, NOW))
    again = sorted(d.dedupe_key for d in RateMonitor().run(inventory.sessions, NOW))
    later = monitor.run(inventory.sessions, NOW + timedelta(hours=1))
    assert (again, list(later)) == (first, [])


def test_a_healed_rate_resolves_its_signal(inventory: Container) -> None:
    """Complaints corrected to none: the rate falls below the threshold, the signal ends."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    raised = [d for d in RateMonitor().run(inventory.sessions, NOW) if d.subject_type == "account"]
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=0)
    )
    # A new monitor reads the daily sums whole (a running one, at its next whole read).
    healed = [
        d
        for d in RateMonitor().run(inventory.sessions, NOW + timedelta(hours=1))
        if d.subject_type == "account"
    ]
    assert [(d.kind, d.resolves) for d in healed] == [
        (SignalKind.RATE_HEALED, raised[0].dedupe_key)
    ]


def test_a_running_monitor_reads_todays_new_figures(inventory: Container) -> None:
    """An hour added today reaches a monitor that has read the sums whole before."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=0)
    )
    monitor = RateMonitor()
    before = list(monitor.run(inventory.sessions, NOW))
    hour = {"hour": NOW.replace(hour=11).isoformat(), "complaints": 60, "fbl_sent": 100}
    _upsert(inventory, Table.SENDING_STATS, [{"account": "4411", **hour}])
    after = monitor.run(inventory.sessions, NOW + timedelta(hours=1))
    assert (before, [d.kind for d in after if d.subject_type == "account"]) == (
        [],
        [SignalKind.RATE_REVIEW],
    )


def test_too_few_messages_are_shown_but_not_acted_on(inventory: Container) -> None:
    """A 10% complaint rate over 500 messages raises nothing."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=5, sent=100, fbl=100, complaints=10)
    )
    assert list(RateMonitor().run(inventory.sessions, NOW)) == []


def test_a_shared_pool_over_the_pause_threshold_is_an_incident(inventory: Container) -> None:
    """Two accounts' mail through a shared pool: the pool's draft names no account, severity high."""
    for account in ("4411", "4412"):
        rows = _stats(account, days=7, sent=2000, fbl=1000, complaints=6, pool="shared-a")
        _upsert(inventory, Table.SENDING_STATS, rows)
    pool = [d for d in RateMonitor().run(inventory.sessions, NOW) if d.subject_type == "ip_pool"]
    assert [(d.kind, d.account_id, d.severity, d.step) for d in pool] == [
        (SignalKind.RATE_PENDING_PAUSE, None, Severity.HIGH, Step.NONE)
    ]


def test_identity_feedback_id_and_destination_group_are_judged_apart(
    inventory: Container,
) -> None:
    """A bad identity and Feedback-ID raise their own drafts, naming the account."""
    identity = {"resource_kind": "identity_domain", "resource_value": "news.example.com"}
    bad = {"sent": 3000, "fbl": 2000, "complaints": 8}
    _upsert(inventory, Table.SENDING_STATS, _stats("4411", days=7, **bad, **identity))
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, **bad, feedback_id="c1:news:4411")
    )
    _upsert(inventory, Table.SENDING_STATS, _stats("4411", days=7, **bad))
    drafts = RateMonitor().run(inventory.sessions, NOW)
    account_id = _account_id(inventory, "4411")
    assert {(d.subject_type, d.account_id, d.step) for d in drafts} == {
        ("account", account_id, Step.REVIEW),
        ("identity", account_id, Step.NONE),
        ("feedback_id", account_id, Step.NONE),
        ("destination_group", account_id, Step.NONE),
    }


def test_spam_trap_hits_raise_a_spam_trap_signal(inventory: Container) -> None:
    """One trap hit in three weeks is enough for a review of the account."""
    rows = _stats("4411", days=2, sent=50, fbl=0, complaints=0)
    rows[1]["trap_hits"] = 1
    _upsert(inventory, Table.SENDING_STATS, rows)
    drafts = [d for d in RateMonitor().run(inventory.sessions, NOW) if d.subject_type == "account"]
    assert [(d.kind, d.step, d.figures["trap_hits"]) for d in drafts] == [
        (SignalKind.SPAM_TRAP, Step.REVIEW, 1)
    ]


def test_an_account_under_review_is_not_reviewed_again(inventory: Container) -> None:
    """The rate is under review, but the step is none: the review is already open."""
    with unit_of_work(inventory.sessions) as session:
        account = session.scalars(select(Account).where(Account.external_id == "4411")).one()
        account.standing = "under_review"
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    drafts = [d for d in RateMonitor().run(inventory.sessions, NOW) if d.subject_type == "account"]
    assert [(d.kind, d.step) for d in drafts] == [(SignalKind.RATE_REVIEW, Step.NONE)]


def test_current_statuses_list_the_worst_first(inventory: Container) -> None:
    """Pending pause before under review; labels are what an analyst calls the subject."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4412", days=7, sent=3000, fbl=2000, complaints=20)
    )
    RateMonitor(RateSettings(subjects=["account"])).run(inventory.sessions, NOW)
    with unit_of_work(inventory.sessions) as session:
        rows = current_statuses(session, worst_first=True, limit=10)
    assert [(r.label, r.metric, r.status) for r in rows] == [
        ("4412", COMPLAINT_RATE, "pending_pause"),
        ("4411", COMPLAINT_RATE, "under_review"),
    ]


def test_rate_history_gives_a_point_per_day(inventory: Container) -> None:
    """Each day's point is the rate as it stood that day; trap hits are counted per day."""
    _upsert(
        inventory, Table.SENDING_STATS, _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    )
    with unit_of_work(inventory.sessions) as session:
        history = rate_history(session, _account_id(inventory, "4411"), days=10, now=NOW)
    complaints = history[COMPLAINT_RATE]
    assert (len(complaints), len(history[SPAM_TRAPS])) == (10, 10)
    assert [p.eligible for p in complaints[-3:]] == [10_000, 12_000, 14_000]
    assert complaints[0].value is None


def test_a_row_naming_an_unknown_pool_is_rejected(inventory: Container) -> None:
    """The pool must be in the inventory; the other rows of the import still land."""
    rows = _stats("4411", days=1, sent=10, fbl=5, complaints=0, pool="nowhere")
    rows += _stats("4411", days=1, sent=10, fbl=5, complaints=0)
    outcome = _upsert(inventory, Table.SENDING_STATS, rows)
    assert ([(e.line, e.field) for e in outcome.errors], outcome.counts()["inserted"]) == (
        [(1, "pool")],
        1,
    )


def test_a_status_that_stays_gets_fresh_figures(inventory: Container) -> None:
    """Still under review an hour later: no new draft, but the page shows the new figures."""
    rows = _stats("4411", days=7, sent=3000, fbl=2000, complaints=8)
    rows[3]["trap_hits"] = 2
    _upsert(inventory, Table.SENDING_STATS, rows)
    monitor = RateMonitor(RateSettings(subjects=["account"]))
    monitor.run(inventory.sessions, NOW)
    hour = {"hour": NOW.replace(hour=11).isoformat(), "fbl_sent": 1000, "complaints": 4}
    _upsert(inventory, Table.SENDING_STATS, [{"account": "4411", **hour}])
    later = monitor.run(inventory.sessions, NOW + timedelta(hours=1))
    with unit_of_work(inventory.sessions) as session:
        rows_now = current_statuses(session, statuses=["under_review"])
    assert (list(later), [(r.metric, r.eligible, r.count, r.since) for r in rows_now]) == (
        [],
        [(COMPLAINT_RATE, 15_000, 60, NOW), (SPAM_TRAPS, 0, 2, NOW)],
    )


def test_the_reason_names_the_subject_as_an_analyst_knows_it(inventory: Container) -> None:
    """An identity's draft names its domain, not its internal id."""
    identity = {"resource_kind": "identity_domain", "resource_value": "news.example.com"}
    rows = _stats("4411", days=7, sent=3000, fbl=2000, complaints=8, **identity)
    _upsert(inventory, Table.SENDING_STATS, rows)
    (draft,) = RateMonitor(RateSettings(subjects=["identity"])).run(inventory.sessions, NOW)
    assert (draft.reason.split(":")[0], draft.figures["label"]) == (
        "identity news.example.com",
        "news.example.com",
    )
