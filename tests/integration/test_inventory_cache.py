"""The in-process inventory copy: same answers as SQL, reloaded after every kind of write."""

from dataclasses import astuple
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.attribution.model import Attribution, EventFacts
from abusedesk.attribution.ports import InventoryLookup
from abusedesk.attribution.resolver import attribute_events
from abusedesk.bootstrap import Container
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import generate_traffic
from abusedesk.inventory.model import NumberedRecord
from abusedesk.inventory.rows import parse_row
from abusedesk.storage.db import make_engine, make_session_factory, read_only, unit_of_work
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.inventory_cache import (
    CachedInventoryLookup,
    InventoryCache,
    inventory_generation,
)
from abusedesk.storage.inventory_store import UpsertOutcome, upsert_records
from abusedesk.storage.seed import seed_provider
from abusedesk.storage.tables import Account
from abusedesk.web.app import create_app
from tests.factories.inventory import (
    make_account,
    make_dedicated_ip,
    make_resource,
    make_sent_mail,
    make_shared_pool,
)
from tests.support.web import bearer, issue, serving

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
SINCE = T0 - timedelta(days=30)
ACCOUNT = {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"}
DOMAIN = {
    "account": "4411",
    "kind": "identity_domain",
    "value": "news.example.com",
    "created_at": "2025-01-01T00:00:00Z",
    "attributes": {"dkim_selectors": ["s1"]},
}
# An event the domain row above makes attributable (its DKIM key).
SIGNED = EventFacts({"dkim_selector": ("s1._domainkey.news.example.com",)}, T0)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _upsert(
    sessions: sessionmaker[Session], table: str, rows: list[dict[str, Any]]
) -> UpsertOutcome:
    records = [NumberedRecord(n, parse_row(table, n, row)) for n, row in enumerate(rows, 1)]
    with unit_of_work(sessions) as session:
        return upsert_records(session, table, records)


def _attribute(
    sessions: sessionmaker[Session], cache: InventoryCache, events: list[EventFacts]
) -> tuple[list[Attribution], InventoryLookup]:
    with read_only(sessions) as session:
        lookup = cache.lookup(session)
        return attribute_events(events, lookup), lookup


def _generation(sessions: sessionmaker[Session]) -> int | None:
    with read_only(sessions) as session:
        return inventory_generation(session)


def _inventory(session: Session) -> dict[str, int]:
    """Write accounts with every kind of lookup the copy answers; return their ids."""
    a, identity = make_account(session, "4411", domain="news.example.com")
    b, _ = make_account(session, "4412", domain="shop.example")
    make_resource(
        session, a, "configuration_set", "marketing", {"feedback_id": "4411:mkt"}, since=SINCE
    )
    make_resource(session, b, "origination_number", "+15550100", since=SINCE, until=T0)
    make_dedicated_ip(session, a, "198.51.100.7", since=SINCE, until=T0 - timedelta(days=1))
    make_dedicated_ip(session, b, "198.51.100.7", since=T0 - timedelta(days=1))
    make_shared_pool(session, "shared-1", ["203.0.113.9"], [a, b], since=SINCE)
    make_sent_mail(session, a, identity, 1, domain="news.example.com", sent_at=T0)
    return {"a": a, "b": b, "identity": identity}


EVENTS = [
    EventFacts({"feedback_id": ("4411:mkt",)}, T0),
    EventFacts({"from_domain": ("mail.news.example.com",), "source_ip": ("203.0.113.9",)}, T0),
    EventFacts({"source_ip": ("198.51.100.7",)}, T0 - timedelta(days=2)),
    EventFacts({"source_ip": ("198.51.100.7",)}, T0),
    EventFacts({"origination_number": ("+1 555 0100",)}, T0 - timedelta(days=1)),
    EventFacts({"origination_number": ("+1 555 0100",)}, T0 + timedelta(days=1)),
    EventFacts({"sending_account_id": ("4412",)}, T0),
    EventFacts({"message_id": ("<msg-1-1@mail.news.example.com>",)}, T0),
    EventFacts({"from_domain": ("elsewhere.example",), "source_ip": ("192.0.2.1",)}, T0),
]


def test_the_copy_attributes_every_event_as_sql_does(container: Container) -> None:
    """Keys, parents, pools, IPs over time, numbers, account ids and names: equal results."""
    with unit_of_work(container.sessions) as session:
        _inventory(session)
    cache = InventoryCache()
    cached, lookup = _attribute(container.sessions, cache, EVENTS)
    with read_only(container.sessions) as session:
        direct = attribute_events(EVENTS, SqlInventoryLookup(session))
    assert (type(lookup), [astuple(a) for a in cached]) == (
        CachedInventoryLookup,
        [astuple(a) for a in direct],
    )


def test_the_copy_returns_the_rows_sql_returns(container: Container) -> None:
    """Each question of the port gets the same rows from the copy as from SQL."""
    with unit_of_work(container.sessions) as session:
        ids = _inventory(session)
    cache = InventoryCache()
    with read_only(container.sessions) as session:
        cached, sql = cache.lookup(session), SqlInventoryLookup(session)
        keys = [
            ("domain", "news.example.com"),
            ("dkim", "s1._domainkey.shop.example"),
            ("domain", "x"),
        ]
        pools = (["shared-1", "shared-2"], [ids["a"], ids["b"], 999])
        ips = ["198.51.100.7", "203.0.113.9", "192.0.2.1"]
        answers = [
            (
                sorted(lookup.key_holdings(keys)),
                sorted(lookup.pool_memberships(*pools)),
                sorted(lookup.ip_intervals(ips), key=repr),
                dict(lookup.account_ids(["4411", "4412", "nobody"])),
                lookup.names([ids["a"], ids["b"], 999], [ids["identity"], 999]),
            )
            for lookup in (cached, sql)
        ]
    assert answers[0] == answers[1]


def test_an_import_is_seen_by_the_next_batch(container: Container) -> None:
    """Rows written by the import path bump the generation; the copy is read again."""
    sessions = container.sessions
    cache = InventoryCache(min_reload_seconds=0)
    _upsert(sessions, "accounts", [ACCOUNT])
    (before,), _ = _attribute(sessions, cache, [SIGNED])
    generation = _generation(sessions)
    _upsert(sessions, "resources", [DOMAIN])
    (after,), lookup = _attribute(sessions, cache, [SIGNED])
    assert (before.account_id, after.method, type(lookup), cache.loads) == (
        None,
        "dkim_selector",
        CachedInventoryLookup,
        2,
    )
    assert _generation(sessions) != generation


def test_an_import_of_unchanged_rows_keeps_the_copy(container: Container) -> None:
    """Importing the same rows again changes nothing, so the copy is not read again."""
    sessions = container.sessions
    _upsert(sessions, "accounts", [ACCOUNT])
    _upsert(sessions, "resources", [DOMAIN])
    generation = _generation(sessions)
    outcome = _upsert(sessions, "resources", [DOMAIN])
    assert (outcome.counts()["unchanged"], _generation(sessions)) == (1, generation)


def test_a_new_standing_keeps_the_copy(container: Container) -> None:
    """Enforcement changes an account's standing, which attribution never reads."""
    sessions = container.sessions
    _upsert(sessions, "accounts", [ACCOUNT])
    generation = _generation(sessions)
    with unit_of_work(sessions) as session:
        session.execute(update(Account).values(standing="suspended"))
    assert _generation(sessions) == generation


def test_an_api_upsert_is_seen_by_the_next_batch(container: Container) -> None:
    """Rows sent to the inventory API bump the generation like an import."""
    cache = InventoryCache(min_reload_seconds=0)
    headers = bearer(issue(container, "inventory:write").token)
    with serving(create_app(container)) as base_url, httpx.Client(base_url=base_url) as http:
        http.put("/api/v1/inventory/accounts", json=[ACCOUNT], headers=headers)
        (before,), _ = _attribute(container.sessions, cache, [SIGNED])
        stored = http.put("/api/v1/inventory/resources", json=[DOMAIN], headers=headers)
    (after,), _ = _attribute(container.sessions, cache, [SIGNED])
    assert (stored.status_code, before.account_id, after.method, cache.loads) == (
        200,
        None,
        "dkim_selector",
        2,
    )


def test_the_demo_seed_is_seen_by_the_next_batch(container: Container) -> None:
    """Seeding a simulated provider into a database the copy was read from reloads it."""
    cache = InventoryCache(min_reload_seconds=0)
    _attribute(container.sessions, cache, [SIGNED])
    provider = generate_provider(seed=3, accounts=10, days=2, end=T0)
    with unit_of_work(container.sessions) as session:
        seed_provider(session, provider, generate_traffic(provider))
    with read_only(container.sessions) as session:
        lookup = cache.lookup(session)
        assert isinstance(lookup, CachedInventoryLookup)
        found = lookup.account_ids([a.external_id for a in provider.accounts])
    assert (len(found), cache.loads) == (10, 2)


def test_two_processes_see_each_others_writes(database_url: str) -> None:
    """Two engines on one database, each with its own copy: a write by one reaches the other."""
    engines = [make_engine(database_url), make_engine(database_url)]
    try:
        first, second = (make_session_factory(e) for e in engines)
        caches = [InventoryCache(min_reload_seconds=0), InventoryCache(min_reload_seconds=0)]
        _upsert(first, "accounts", [ACCOUNT])
        pairs = list(zip((first, second), caches, strict=True))
        seen = [_attribute(s, c, [SIGNED])[0][0].account_id for s, c in pairs]
        _upsert(second, "resources", [DOMAIN])
        now = [_attribute(s, c, [SIGNED])[0][0].method for s, c in pairs]
    finally:
        for engine in engines:
            engine.dispose()
    assert (seen, now, [c.loads for c in caches]) == (
        [None, None],
        ["dkim_selector", "dkim_selector"],
        [2, 2],
    )


def test_a_changed_inventory_is_asked_of_sql_until_the_reload_interval(
    container: Container,
) -> None:
    """Within the interval after a reload the batch asks SQL (and is right); then it reloads."""
    sessions = container.sessions
    clock = FakeClock()
    cache = InventoryCache(min_reload_seconds=30, clock=clock)
    _upsert(sessions, "accounts", [ACCOUNT])
    _attribute(sessions, cache, [SIGNED])
    _upsert(sessions, "resources", [DOMAIN])
    clock.now += 10
    (soon,), soon_lookup = _attribute(sessions, cache, [SIGNED])
    clock.now += 30
    (later,), later_lookup = _attribute(sessions, cache, [SIGNED])
    assert (
        soon.method,
        type(soon_lookup),
        later.method,
        type(later_lookup),
        cache.loads,
    ) == ("dkim_selector", SqlInventoryLookup, "dkim_selector", CachedInventoryLookup, 2)


def test_the_container_gives_the_report_processor_a_copy(container: Container) -> None:
    """The pipeline attributes through the process's copy, not SQL alone."""
    assert isinstance(container.processor.inventory, InventoryCache)


def test_a_transaction_sees_its_own_uncommitted_writes_and_the_copy_never_holds_them(
    container: Container,
) -> None:
    """Uncommitted inventory writes send their batch to SQL; after a rollback they are gone."""
    sessions = container.sessions
    cache = InventoryCache(min_reload_seconds=0)
    _upsert(sessions, "accounts", [ACCOUNT])
    _attribute(sessions, cache, [SIGNED])
    with sessions() as session:
        records = [NumberedRecord(1, parse_row("resources", 1, DOMAIN))]
        upsert_records(session, "resources", records)
        lookup = cache.lookup(session)
        (inside,) = attribute_events([SIGNED], lookup)
        session.rollback()
    (after,), after_lookup = _attribute(sessions, cache, [SIGNED])
    assert (
        type(lookup),
        inside.method,
        type(after_lookup),
        after.account_id,
    ) == (SqlInventoryLookup, "dkim_selector", CachedInventoryLookup, None)
