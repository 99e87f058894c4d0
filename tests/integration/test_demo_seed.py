"""Seeding the demo provider into a real database, and attributing its reports end to end."""

import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abusedesk.attribution.keys import resource_keys
from abusedesk.bootstrap import Container
from abusedesk.demo.model import DemoProvider, Traffic
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import Evidence, ReportGenerator, ReportKind
from abusedesk.demo.traffic import generate_traffic
from abusedesk.intake.service import Incoming
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.seed import has_accounts, seed_provider
from abusedesk.storage.tables import (
    Account,
    Event,
    IpAllocation,
    IpPool,
    Report,
    Resource,
    ResourceKey,
    SendingStat,
    SendLogEntry,
)

END = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a small provider: 14 accounts over 2 days."""
    return generate_provider(seed=11, accounts=14, days=2, end=END)


@pytest.fixture(scope="module")
def traffic(provider: DemoProvider) -> Traffic:
    """Return the provider's traffic with hourly figures."""
    return generate_traffic(provider)


@pytest.fixture
def seeded(container: Container, provider: DemoProvider, traffic: Traffic) -> Container:
    """Return the container with the provider loaded."""
    with unit_of_work(container.sessions) as session:
        seed_provider(session, provider, traffic, chunk_size=500)
    return container


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_seeding_loads_every_generated_row(
    seeded: Container, provider: DemoProvider, traffic: Traffic
) -> None:
    """Each inventory table holds exactly what the generator made."""
    with unit_of_work(seeded.sessions) as session:
        counts = {
            "accounts": _count(session, Account),
            "ip_pools": _count(session, IpPool),
            "resources": _count(session, Resource),
            "ip_allocations": _count(session, IpAllocation),
            "send_log": _count(session, SendLogEntry),
            "sending_stats": _count(session, SendingStat),
        }
    assert counts == {
        "accounts": len(provider.accounts),
        "ip_pools": len(provider.pools),
        "resources": sum(len(a.resources) for a in provider.accounts),
        "ip_allocations": len(provider.allocations),
        "send_log": len(traffic.messages),
        "sending_stats": len(traffic.stats),
    }


def test_seed_reports_the_rows_it_wrote(
    container: Container, provider: DemoProvider, traffic: Traffic
) -> None:
    """The counts seed_provider returns are the rows in the tables."""
    with unit_of_work(container.sessions) as session:
        written = seed_provider(session, provider, traffic)
    with unit_of_work(container.sessions) as session:
        assert written["send_log"] == _count(session, SendLogEntry)
        assert written["sending_stats"] == _count(session, SendingStat)


def test_has_accounts_tells_an_empty_inventory_from_a_seeded_one(
    container: Container, provider: DemoProvider, traffic: Traffic
) -> None:
    """has_accounts is false before seeding and true after."""
    with unit_of_work(container.sessions) as session:
        before = has_accounts(session)
        seed_provider(session, provider, traffic)
    with unit_of_work(container.sessions) as session:
        after = has_accounts(session)
    assert (before, after) == (False, True)


def _table_counts(session: Session) -> dict[str, int]:
    models = (Account, IpPool, Resource, ResourceKey, IpAllocation, SendLogEntry, SendingStat)
    return {model.__tablename__: _count(session, model) for model in models}


def test_loading_the_same_provider_twice_changes_nothing(seeded: Container) -> None:
    """A second load of the same provider upserts onto the first and adds no row anywhere."""
    with unit_of_work(seeded.sessions) as session:
        before = _table_counts(session)
    provider = generate_provider(seed=11, accounts=14, days=2, end=END)
    with unit_of_work(seeded.sessions) as session:
        seed_provider(session, provider, generate_traffic(provider))
    with unit_of_work(seeded.sessions) as session:
        assert _table_counts(session) == before


def test_every_resource_gets_its_lookup_keys(seeded: Container, provider: DemoProvider) -> None:
    """Each seeded resource has exactly the keys attribution.keys derives from it."""
    expected = {
        (a.external_id, r.kind, r.value, key)
        for a in provider.accounts
        for r in a.resources
        for key in resource_keys(r.kind, r.value, r.attributes)
    }
    with unit_of_work(seeded.sessions) as session:
        stored = {
            (external_id, kind, value, (key_kind, key_value))
            for external_id, kind, value, key_kind, key_value in session.execute(
                select(
                    Account.external_id,
                    Resource.kind,
                    Resource.value,
                    ResourceKey.kind,
                    ResourceKey.value,
                )
                .join(Resource, Resource.id == ResourceKey.resource_id)
                .join(Account, Account.id == ResourceKey.account_id)
            )
        }
    assert stored == expected


def test_send_log_keeps_recipient_hashes_not_addresses(seeded: Container, traffic: Traffic) -> None:
    """Each send-log row carries the SHA-256 of its lowercased recipient, and no address."""
    expected = {
        m.provider_message_id: hashlib.sha256(m.recipient.lower().encode()).hexdigest()
        for m in traffic.messages
    }
    with unit_of_work(seeded.sessions) as session:
        rows = session.execute(
            select(SendLogEntry.provider_message_id, SendLogEntry.recipient_hash)
        ).all()
    assert dict(rows) == expected


def test_no_account_kind_reaches_the_database(seeded: Container) -> None:
    """No stored account column or attribute holds the generator's label."""
    with unit_of_work(seeded.sessions) as session:
        rows = session.execute(
            select(Account.name, Account.size_tier, Account.standing, Account.attributes)
        ).all()
    labels = {"legit_small", "legit_medium", "legit_large", "snowshoe", "phishing"}
    labels |= {"compromised_mailbox", "sms_pumping", "ring"}
    text = repr(rows).lower()
    assert [label for label in labels if label in text] == []


def test_send_log_resources_belong_to_the_sending_account(seeded: Container) -> None:
    """Every send-log entry's resource is one of its own account's resources."""
    with unit_of_work(seeded.sessions) as session:
        mismatched = session.scalar(
            select(func.count())
            .select_from(SendLogEntry)
            .join(Resource, Resource.id == SendLogEntry.resource_id)
            .where(Resource.account_id != SendLogEntry.account_id)
        )
    assert mismatched == 0


def test_identity_figures_point_at_the_accounts_own_resources(seeded: Container) -> None:
    """A per-identity resource_key names a resource of that kind held by that account."""
    with unit_of_work(seeded.sessions) as session:
        keys = session.execute(
            select(SendingStat.account_id, SendingStat.resource_key)
            .where(
                SendingStat.resource_key != "",
                SendingStat.resource_key.not_like("pool:%"),
                SendingStat.resource_key.not_like("feedback_id:%"),
            )
            .distinct()
        ).all()
        owners = {
            (kind, resource_id): account_id
            for resource_id, kind, account_id in session.execute(
                select(Resource.id, Resource.kind, Resource.account_id)
            )
        }
    assert keys
    wrong = [
        (account_id, key)
        for account_id, key in keys
        if owners.get((key.partition(":")[0], int(key.partition(":")[2]))) != account_id
    ]
    assert wrong == []


def test_pool_figures_name_the_pools_of_the_inventory(seeded: Container) -> None:
    """Every pool a statistics row names is one of the inventory's IP pools."""
    with unit_of_work(seeded.sessions) as session:
        named = {
            int(key.partition(":")[2])
            for key in session.scalars(
                select(SendingStat.resource_key)
                .where(SendingStat.resource_key.like("pool:%"))
                .distinct()
            )
        }
        pools = set(session.scalars(select(IpPool.id)))
    assert (bool(named), named - pools) == (True, set())


def test_arf_reports_attribute_to_the_ground_truth_account(
    seeded: Container, provider: DemoProvider, traffic: Traffic
) -> None:
    """ARF reports quoting a Message-ID, ingested and processed, land on the true account."""
    chosen = [
        r
        for r in ReportGenerator(provider, traffic).generate(300)
        if r.truth.report_kind == ReportKind.ARF and r.truth.evidence == Evidence.MESSAGE_ID
    ][:8]
    assert len(chosen) == 8
    stored = seeded.intake.accept_many(
        [Incoming(r.raw, "file", {"source": r.file_name}) for r in chosen]
    )
    while seeded.embedded.run_once():
        pass
    with unit_of_work(seeded.sessions) as session:
        found = dict(
            session.execute(
                select(Report.id, Account.external_id)
                .join(Event, Event.report_id == Report.id)
                .join(Account, Account.id == Event.account_id)
                .where(Report.id.in_([s.report_id for s in stored]))
            ).all()
        )
    assert [found.get(s.report_id) for s in stored] == [r.truth.account for r in chosen]
