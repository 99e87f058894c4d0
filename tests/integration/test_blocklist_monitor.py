"""The blocklist watch on a real database and a real DNS server: listings, holders, runs."""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.config import BlocklistSettings
from abusedesk.lookups.model import DnsReply
from abusedesk.lookups.resolver import ResolverNotConfigured
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind
from abusedesk.pipeline.blocklist_monitor import BlocklistMonitor
from abusedesk.storage import blocklists as store
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.tables import BlocklistRun, IpAllocation
from tests.factories.inventory import LONG_AGO
from tests.support.blocklists import MOVED_AT, make_inventory, watch_settings
from tests.support.dns import (
    DEDICATED_IP,
    DEDICATED_IPV6,
    LISTED_DOMAIN,
    PHISHING_DOMAIN,
    SHARED_IP,
    ZEN,
    FixtureDns,
    dns_server,
    ip_name,
    scenario_zones,
)

NOW = MOVED_AT - timedelta(days=2)


@dataclass(frozen=True)
class Inventory:
    """The scenario's accounts by external id."""

    accounts: dict[str, int]

    def external(self, account_id: int | None) -> str | None:
        """Return the external id of *account_id*."""
        names = {internal: external for external, internal in self.accounts.items()}
        return None if account_id is None else names[account_id]


@pytest.fixture
def dns() -> Iterator[FixtureDns]:
    with dns_server(scenario_zones()) as server:
        yield server


@pytest.fixture
def inventory(container: Container) -> Inventory:
    """Three accounts: dedicated IPv4 and IPv6 addresses, a shared pool, sending domains."""
    return Inventory(make_inventory(container.sessions))


def _settings(dns: FixtureDns, **changes: Any) -> BlocklistSettings:
    return watch_settings(dns, **changes)


def _listings(container: Container, *, open_only: bool = True) -> set[tuple[Any, ...]]:
    with read_only(container.sessions) as session:
        found = store.listings(session, open_only=open_only, limit=None)
    return {
        (x.target, x.blocklist, x.holding, tuple(h.external_id for h in x.accounts)) for x in found
    }


def _summary(drafts: list[SignalDraft], inventory: Inventory) -> set[tuple[Any, ...]]:
    return {
        (d.kind, d.subject_id, d.figures["blocklist"], inventory.external(d.account_id), d.severity)
        for d in drafts
    }


def test_a_run_opens_listings_naming_who_holds_each_target(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """IPs name their dedicated account or shared pool; a domain names every holder."""
    BlocklistMonitor(_settings(dns)).run(container.sessions, NOW)
    assert _listings(container) == {
        (DEDICATED_IP, "spamhaus-zen", "dedicated", ("4411",)),
        (SHARED_IP, "spamhaus-zen", "shared", ()),
        (DEDICATED_IPV6, "spamhaus-zen", "dedicated", ("5522",)),
        (PHISHING_DOMAIN, "spamhaus-dbl", "identity", ("5522",)),
        (LISTED_DOMAIN, "uribl", "identity", ("4411", "5522")),
        (LISTED_DOMAIN, "surbl", "identity", ("4411", "5522")),
    }


def test_a_run_drafts_one_listing_signal_per_account_and_one_for_the_shared_pool(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """The shared pool's listing has no account and is high; each domain holder gets one."""
    drafts = list(BlocklistMonitor(_settings(dns)).run(container.sessions, NOW))
    listed = SignalKind.BLOCKLIST_LISTED
    assert _summary(drafts, inventory) == {
        (listed, DEDICATED_IP, "spamhaus-zen", "4411", Severity.MEDIUM),
        (listed, SHARED_IP, "spamhaus-zen", None, Severity.HIGH),
        (listed, DEDICATED_IPV6, "spamhaus-zen", "5522", Severity.MEDIUM),
        (listed, PHISHING_DOMAIN, "spamhaus-dbl", "5522", Severity.HIGH),
        (listed, LISTED_DOMAIN, "uribl", "4411", Severity.MEDIUM),
        (listed, LISTED_DOMAIN, "uribl", "5522", Severity.MEDIUM),
        (listed, LISTED_DOMAIN, "surbl", "4411", Severity.HIGH),
        (listed, LISTED_DOMAIN, "surbl", "5522", Severity.HIGH),
    }


def test_refusals_public_resolver_volume_and_timeouts_are_the_runs_errors(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """Lists that refuse or fail are errors of the run, and list nothing."""
    outcome = BlocklistMonitor(_settings(dns)).check(container.sessions, NOW)
    failing = {"spamhaus-sbl", "spamhaus-pbl", "barracuda", "spamhaus-xbl"}
    assert (
        outcome.run.status,
        {(e["blocklist"], e["error"]) for e in outcome.run.errors},
        [row for row in _listings(container) if row[1] in failing],
    ) == (
        "errors",
        {
            ("spamhaus-sbl", "health_check_failed"),
            ("spamhaus-pbl", "health_check_failed"),
            ("barracuda", "health_check_failed"),
            ("spamhaus-xbl", "excessive_volume"),
        },
        [],
    )


def test_running_twice_at_the_same_time_raises_nothing_new(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """The second run offers the same dedupe keys and opens no second listing."""
    monitor = BlocklistMonitor(_settings(dns))
    first = {d.dedupe_key for d in monitor.run(container.sessions, NOW)}
    second = {d.dedupe_key for d in monitor.run(container.sessions, NOW)}
    with read_only(container.sessions) as session:
        listings = len(store.listings(session, limit=None))
    assert (second, listings) == (first, 6)


def test_a_listing_is_confirmed_then_delisted_and_the_delisting_resolves_it(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """NXDOMAIN later ends the interval; its draft resolves the listing's dedupe key."""
    monitor = BlocklistMonitor(_settings(dns, max_cache_seconds=0))
    listed = {
        d.subject_id: d.dedupe_key
        for d in monitor.run(container.sessions, NOW)
        if d.figures["blocklist"] == "spamhaus-zen"
    }
    monitor.run(container.sessions, NOW + timedelta(hours=1))
    dns.zones.remove(ip_name(DEDICATED_IP, ZEN))
    drafts = monitor.run(container.sessions, NOW + timedelta(hours=2))
    with read_only(container.sessions) as session:
        (ended,) = store.listings(session, target=DEDICATED_IP, limit=None)
    delisted = [d for d in drafts if d.kind == SignalKind.BLOCKLIST_DELISTED]
    assert (
        ended.first_seen_at,
        ended.last_confirmed_at,
        ended.delisted_at,
        [(d.subject_id, d.resolves) for d in delisted],
    ) == (
        NOW,
        NOW + timedelta(hours=1),
        NOW + timedelta(hours=2),
        [(DEDICATED_IP, listed[DEDICATED_IP])],
    )


def test_a_failing_list_never_ends_a_listing(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """When every list refuses, the open listings stay open and no delisting is drafted."""
    monitor = BlocklistMonitor(_settings(dns, max_cache_seconds=0))
    monitor.run(container.sessions, NOW)
    dns.zones.refused.append("blocklists.test")
    drafts = monitor.run(container.sessions, NOW + timedelta(hours=1))
    assert (
        len(_listings(container)),
        [d for d in drafts if d.kind == SignalKind.BLOCKLIST_DELISTED],
    ) == (6, [])


def test_a_listing_names_the_account_holding_the_ip_when_it_was_seen(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """Listed while 4411 held the IP: 4411. Listed again after it moved to 6633: 6633."""
    monitor = BlocklistMonitor(_settings(dns, max_cache_seconds=0, lists=["spamhaus-zen"]))
    monitor.run(container.sessions, NOW)
    dns.zones.remove(ip_name(DEDICATED_IP, ZEN))
    monitor.run(container.sessions, MOVED_AT + timedelta(hours=1))
    dns.zones.add(ip_name(DEDICATED_IP, ZEN), "127.0.0.2")
    monitor.run(container.sessions, MOVED_AT + timedelta(hours=2))
    with read_only(container.sessions) as session:
        history = store.listings(session, target=DEDICATED_IP, limit=None)
    assert [
        (tuple(h.external_id for h in listing.accounts), listing.open) for listing in history
    ] == [(("6633",), True), (("4411",), False)]


def test_the_cap_on_lookups_carries_the_rest_over_to_the_next_run(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """Two health lookups and two targets per run: the next run goes on where this stopped,
    and stops before coming round to the first run's targets again."""
    settings = _settings(dns, lists=["spamhaus-zen"], check_domains=False, max_queries_per_run=4)
    monitor = BlocklistMonitor(settings)
    first = monitor.check(container.sessions, NOW).run
    asked_before = len(dns.asked)
    second = monitor.check(container.sessions, NOW + timedelta(hours=1)).run
    later = dns.asked[asked_before:]
    assert (
        (first.cap_reached, first.cursor, first.finished_targets),
        (second.cap_reached, second.cursor, second.finished_targets),
        ip_name(DEDICATED_IP, ZEN) in later,
        {row[0] for row in _listings(container)},
    ) == (
        (True, f"ip:{SHARED_IP}", 2),
        (True, f"ip:{DEDICATED_IPV6}", 2),
        False,
        {DEDICATED_IP, SHARED_IP, DEDICATED_IPV6},
    )


def test_configured_ranges_are_checked_whole_and_name_nobody(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """An address of a configured range that nobody holds is checked; its listing names none."""
    dns.zones.add(ip_name("192.0.2.3", ZEN), "127.0.0.2")
    settings = _settings(dns, lists=["spamhaus-zen"], check_domains=False, ranges=["192.0.2.0/30"])
    drafts = BlocklistMonitor(settings).run(container.sessions, NOW)
    assert ("192.0.2.3", "spamhaus-zen", "unallocated", ()) in _listings(container)
    assert [d.account_id for d in drafts if d.subject_id == "192.0.2.3"] == [None]


def test_bad_inventory_data_is_recorded_and_the_run_goes_on(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """An allocation that is no IP address is an error of the run; the rest is checked."""
    with unit_of_work(container.sessions) as session:
        session.add(IpAllocation(ip="999.1.2.3", account_id=None, valid_from=LONG_AGO))
    settings = _settings(dns, lists=["spamhaus-zen"], check_domains=False)
    outcome = BlocklistMonitor(settings).check(container.sessions, NOW)
    assert (
        [e["error"] for e in outcome.run.errors],
        outcome.run.finished_targets,
        len(_listings(container)),
    ) == (["inventory"], 4, 3)


def test_switched_off_the_watch_asks_nothing_and_records_nothing(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """The default: no DNS question, no run, no draft."""
    drafts = BlocklistMonitor(_settings(dns, enabled=False)).run(container.sessions, NOW)
    with read_only(container.sessions) as session:
        runs = session.scalar(select(func.count()).select_from(BlocklistRun))
    assert (list(drafts), dns.asked, runs) == ([], [], 0)


def test_the_default_settings_are_switched_off() -> None:
    """Nothing is asked of any list unless the checks are switched on."""
    assert BlocklistSettings().enabled is False


class UnconfiguredDns:
    """DNS on a machine with no resolver configured: every lookup fails to start."""

    def lookup_a(self, name: str, *, bucket: str = "") -> DnsReply:
        raise ResolverNotConfigured("no nameserver configured and the system names none")


def test_a_run_without_any_resolver_is_recorded_as_failed_and_keeps_the_listings(
    container: Container, dns: FixtureDns, inventory: Inventory
) -> None:
    """The failure is the run's, with its reason; open listings stay open and are offered."""
    BlocklistMonitor(_settings(dns)).run(container.sessions, NOW)
    broken = BlocklistMonitor(_settings(dns), lookup=UnconfiguredDns())
    outcome = broken.check(container.sessions, NOW + timedelta(hours=1))
    assert (
        outcome.run.status,
        "no nameserver configured" in outcome.run.note,
        len(_listings(container)),
        {d.kind for d in outcome.drafts},
    ) == ("failed", True, 6, {SignalKind.BLOCKLIST_LISTED})
