"""The inventory store on a real database: idempotent upserts, references, keys, retention."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.bootstrap import Container
from abusedesk.inventory.model import NumberedRecord, RowError, Table
from abusedesk.inventory.rows import parse_row
from abusedesk.pipeline.embedded import EmbeddedEngine
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.inventory_store import (
    AccountNotFound,
    UpsertOutcome,
    account_inventory,
    prune_send_log,
    upsert_records,
)
from abusedesk.storage.tables import (
    Account,
    IpAllocation,
    Resource,
    ResourceKey,
    SendingStat,
    SendLogEntry,
)

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
ACCOUNTS = [
    {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"},
    {"external_id": "4412", "name": "Contoso", "created_at": "2025-01-01T00:00:00Z"},
]
DOMAIN = {
    "account": "4411",
    "kind": "identity_domain",
    "value": "news.example.com",
    "created_at": "2025-01-01T00:00:00Z",
    "attributes": {"dkim_selectors": ["s1"], "mail_from_domain": "bounce.news.example.com"},
}


def _upsert(
    container: Container, table: str, rows: list[dict[str, Any]], *, chunk_size: int = 1000
) -> UpsertOutcome:
    records = [NumberedRecord(n, parse_row(table, n, row)) for n, row in enumerate(rows, 1)]
    with unit_of_work(container.sessions) as session:
        return upsert_records(session, table, records, chunk_size=chunk_size)


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _keys(container: Container) -> set[tuple[str, str]]:
    with unit_of_work(container.sessions) as session:
        return {(k, v) for k, v in session.execute(select(ResourceKey.kind, ResourceKey.value))}


def _counts(outcome: UpsertOutcome) -> tuple[int, int, int, int]:
    c = outcome.counts()
    return (c["inserted"], c["updated"], c["unchanged"], c["rejected"])


@pytest.fixture
def accounts(container: Container) -> Container:
    """Return the container with two accounts stored."""
    _upsert(container, Table.ACCOUNTS, ACCOUNTS)
    return container


def test_new_rows_are_inserted_and_the_same_rows_again_are_unchanged(container: Container) -> None:
    """A second import of the same rows writes nothing and says so."""
    first = _upsert(container, Table.ACCOUNTS, ACCOUNTS)
    second = _upsert(container, Table.ACCOUNTS, ACCOUNTS)

    assert (_counts(first), _counts(second)) == ((2, 0, 0, 0), (0, 0, 2, 0))


def test_a_changed_row_is_updated_in_place(accounts: Container) -> None:
    """A row whose values changed updates the stored row under the same key."""
    outcome = _upsert(accounts, Table.ACCOUNTS, [{**ACCOUNTS[0], "name": "Northwind Ltd"}])

    with unit_of_work(accounts.sessions) as session:
        names = session.execute(select(Account.external_id, Account.name)).all()
    assert (_counts(outcome), sorted(names)) == (
        (0, 1, 0, 0),
        [("4411", "Northwind Ltd"), ("4412", "Contoso")],
    )


def test_an_import_keeps_the_standing_abusedesk_gave_an_account(accounts: Container) -> None:
    """Standing is abusedesk's own: updating the account row leaves it alone."""
    with unit_of_work(accounts.sessions) as session:
        session.execute(Account.__table__.update().values(standing="suspended"))
    _upsert(accounts, Table.ACCOUNTS, [{**ACCOUNTS[0], "name": "Renamed"}])

    with unit_of_work(accounts.sessions) as session:
        assert set(session.scalars(select(Account.standing))) == {"suspended"}


def test_a_key_repeated_in_one_chunk_is_written_in_order(container: Container) -> None:
    """The later of two rows with the same key wins, as if each came on its own."""
    rows = [ACCOUNTS[0], {**ACCOUNTS[0], "name": "Later"}]

    outcome = _upsert(container, Table.ACCOUNTS, rows)

    with unit_of_work(container.sessions) as session:
        assert (_counts(outcome), session.scalar(select(Account.name))) == ((1, 1, 0, 0), "Later")


def test_rows_naming_an_unknown_account_are_rejected_and_the_others_land(
    accounts: Container,
) -> None:
    """An unknown account is a row error for that row only."""
    rows = [DOMAIN, {**DOMAIN, "account": "9999"}, {**DOMAIN, "value": "shop.example.com"}]

    outcome = _upsert(accounts, Table.RESOURCES, rows)

    with unit_of_work(accounts.sessions) as session:
        stored = sorted(session.scalars(select(Resource.value)))
    assert (_counts(outcome), outcome.errors, stored) == (
        (2, 0, 0, 1),
        [RowError(2, "account", "no account '9999' in the inventory")],
        ["news.example.com", "shop.example.com"],
    )


def test_writing_a_resource_writes_its_lookup_keys(accounts: Container) -> None:
    """A domain identity gives its domain, DKIM selector and MAIL FROM domain as keys."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])

    assert _keys(accounts) == {
        ("domain", "news.example.com"),
        ("dkim", "s1._domainkey.news.example.com"),
        ("mail_from_domain", "bounce.news.example.com"),
    }


def test_changed_attributes_rewrite_the_lookup_keys(accounts: Container) -> None:
    """A new DKIM selector replaces the old one's key; nothing stale stays."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])
    changed = {**DOMAIN, "attributes": {"dkim_selectors": ["s2"]}}

    outcome = _upsert(accounts, Table.RESOURCES, [changed])

    assert (_counts(outcome), _keys(accounts)) == (
        (0, 1, 0, 0),
        {("domain", "news.example.com"), ("dkim", "s2._domainkey.news.example.com")},
    )


def test_reimporting_resources_leaves_one_set_of_keys(accounts: Container) -> None:
    """Unchanged resources keep exactly one copy of each key."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])
    _upsert(accounts, Table.RESOURCES, [DOMAIN])

    with unit_of_work(accounts.sessions) as session:
        assert _count(session, ResourceKey) == 3


def test_an_ip_that_moves_has_one_allocation_per_holder(accounts: Container) -> None:
    """Two allocations of one IP (before and after a move) are both kept, by valid_from."""
    rows = [
        {"ip": "192.0.2.9", "account": "4411", "valid_from": "2026-01-01T00:00:00Z",
         "valid_to": "2026-02-01T00:00:00Z"},
        {"ip": "192.0.2.9", "account": "4412", "valid_from": "2026-02-01T00:00:00Z"},
    ]  # fmt: skip

    first = _upsert(accounts, Table.IP_ALLOCATIONS, rows)
    again = _upsert(accounts, Table.IP_ALLOCATIONS, rows)

    with unit_of_work(accounts.sessions) as session:
        held = session.execute(
            select(Account.external_id, IpAllocation.valid_from)
            .join(Account, Account.id == IpAllocation.account_id)
            .order_by(IpAllocation.valid_from)
        ).all()
    assert (_counts(first), _counts(again), held) == (
        (2, 0, 0, 0),
        (0, 0, 2, 0),
        [("4411", datetime(2026, 1, 1, tzinfo=UTC)), ("4412", datetime(2026, 2, 1, tzinfo=UTC))],
    )


def test_closing_an_allocation_updates_it(accounts: Container) -> None:
    """The same (ip, valid_from) with a valid_to now set is an update, not a new row."""
    row = {"ip": "192.0.2.9", "account": "4411", "valid_from": "2026-01-01T00:00:00Z"}
    _upsert(accounts, Table.IP_ALLOCATIONS, [row])

    outcome = _upsert(accounts, Table.IP_ALLOCATIONS, [{**row, "valid_to": "2026-02-01"}])

    with unit_of_work(accounts.sessions) as session:
        ends = list(session.scalars(select(IpAllocation.valid_to)))
    assert (_counts(outcome), ends) == ((0, 1, 0, 0), [datetime(2026, 2, 1, tzinfo=UTC)])


def test_an_allocation_in_an_unknown_pool_is_rejected(accounts: Container) -> None:
    """A pool that does not exist is a row error naming the pool field."""
    outcome = _upsert(
        accounts,
        Table.IP_ALLOCATIONS,
        [{"ip": "192.0.2.1", "pool": "nope", "valid_from": "2026-01-01"}],
    )

    assert [(e.line, e.field) for e in outcome.errors] == [(1, "pool")]


def test_send_log_rows_resolve_their_resource_within_the_account(accounts: Container) -> None:
    """A send-log row names its resource by kind and value; another account's is unknown."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])
    base = {"sent_at": "2026-03-01T12:00:00Z", "resource_kind": "identity_domain",
            "resource_value": "news.example.com", "recipient": "a@example.net"}  # fmt: skip
    rows = [
        {**base, "provider_message_id": "m1", "account": "4411"},
        {**base, "provider_message_id": "m2", "account": "4412"},
    ]

    outcome = _upsert(accounts, Table.SEND_LOG, rows)

    with unit_of_work(accounts.sessions) as session:
        stored = session.execute(
            select(SendLogEntry.provider_message_id, Resource.value).join(
                Resource, Resource.id == SendLogEntry.resource_id
            )
        ).all()
    assert (_counts(outcome), [(e.line, e.field) for e in outcome.errors], stored) == (
        (1, 0, 0, 1),
        [(2, "resource_value")],
        [("m1", "news.example.com")],
    )


def test_statistics_rows_upsert_per_account_resource_hour_and_group(accounts: Container) -> None:
    """The same hour and group again updates the figures; a resource row is its own key."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])
    whole = {"account": "4411", "hour": "2026-03-01T12:00:00Z", "destination_group": "gmail"}
    per_identity = {**whole, "resource_kind": "identity_domain", "resource_value": DOMAIN["value"]}
    _upsert(accounts, Table.SENDING_STATS, [{**whole, "sent": 5}, {**per_identity, "sent": 3}])

    outcome = _upsert(
        accounts, Table.SENDING_STATS, [{**whole, "sent": 6}, {**per_identity, "sent": 3}]
    )

    with unit_of_work(accounts.sessions) as session:
        sent = sorted(session.execute(select(SendingStat.resource_key, SendingStat.sent)).all())
    assert _counts(outcome) == (0, 1, 1, 0)
    assert [(key.partition(":")[0], n) for key, n in sent] == [("", 6), ("identity_domain", 3)]


def test_small_chunks_give_the_same_result_as_one(container: Container) -> None:
    """Rows spread over many chunks are all written, each counted once."""
    rows = [
        {"external_id": f"a{n}", "name": f"Account {n}", "created_at": "2025-01-01"}
        for n in range(25)
    ]

    outcome = _upsert(container, Table.ACCOUNTS, rows, chunk_size=4)

    with unit_of_work(container.sessions) as session:
        assert (_counts(outcome), _count(session, Account)) == ((25, 0, 0, 0), 25)


def test_an_account_reads_back_with_resources_pools_and_ips(accounts: Container) -> None:
    """account_inventory gives the account's rows in the shape they were imported in."""
    _upsert(accounts, Table.RESOURCES, [DOMAIN])
    _upsert(accounts, Table.IP_POOLS, [{"name": "dedicated-4411", "kind": "dedicated",
                                        "account": "4411"}])  # fmt: skip
    _upsert(accounts, Table.IP_ALLOCATIONS, [{"ip": "192.0.2.7", "pool": "dedicated-4411",
                                              "valid_from": "2026-01-01"}])  # fmt: skip

    with unit_of_work(accounts.sessions) as session:
        found = account_inventory(session, "4411")
        with pytest.raises(AccountNotFound):
            account_inventory(session, "nobody")
    assert (
        found.account.name,
        [r.value for r in found.resources],
        [p.name for p in found.pools],
        [(a.ip, a.pool) for a in found.allocations],
    ) == ("Northwind", ["news.example.com"], ["dedicated-4411"], [("192.0.2.7", "dedicated-4411")])


def _send_log_at(container: Container, times: list[datetime]) -> None:
    rows = [
        {"provider_message_id": f"m{n}", "account": "4411", "sent_at": at.isoformat()}
        for n, at in enumerate(times)
    ]
    _upsert(container, Table.SEND_LOG, rows)


def test_pruning_deletes_only_rows_older_than_the_cutoff(accounts: Container) -> None:
    """Rows sent before the cutoff go, in batches; later ones stay."""
    _send_log_at(accounts, [T0 - timedelta(days=d) for d in (100, 95, 91, 89, 1)])

    with unit_of_work(accounts.sessions) as session:
        deleted = prune_send_log(session, T0 - timedelta(days=90), batch_size=2)
    with unit_of_work(accounts.sessions) as session:
        left = sorted(session.scalars(select(SendLogEntry.provider_message_id)))
    assert (deleted, left) == (3, ["m3", "m4"])


def test_pruning_stops_after_the_batches_it_was_allowed(accounts: Container) -> None:
    """max_batches bounds one call; the next call goes on where it stopped."""
    _send_log_at(accounts, [T0 - timedelta(days=d) for d in (100, 99, 98)])
    cutoff = T0 - timedelta(days=90)

    with unit_of_work(accounts.sessions) as session:
        first = prune_send_log(session, cutoff, batch_size=2, max_batches=1)
    with unit_of_work(accounts.sessions) as session:
        second = prune_send_log(session, cutoff, batch_size=2, max_batches=1)

    assert (first, second) == (2, 1)


def test_the_embedded_sweep_prunes_the_send_log_past_retention(accounts: Container) -> None:
    """A sweep with a retention period deletes what is older than it; 0 keeps everything."""
    now = datetime.now(UTC)
    _send_log_at(accounts, [now - timedelta(days=40), now - timedelta(days=1)])
    keeping = EmbeddedEngine(
        accounts.sessions, accounts.reports, accounts.processor, send_log_retention_days=0
    )
    pruning = EmbeddedEngine(
        accounts.sessions, accounts.reports, accounts.processor, send_log_retention_days=30
    )

    keeping.sweep()
    with unit_of_work(accounts.sessions) as session:
        kept = _count(session, SendLogEntry)
    pruning.sweep()
    with unit_of_work(accounts.sessions) as session:
        left = list(session.scalars(select(SendLogEntry.provider_message_id)))

    assert (kept, left) == (2, ["m1"])
