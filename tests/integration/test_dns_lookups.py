"""The blocklist resolver against a real DNS server on 127.0.0.1: answers, failures, cache."""

from collections.abc import Iterator

import pytest

from abusedesk.lookups.model import DnsStatus
from abusedesk.lookups.resolver import DnsResolver
from tests.support.dns import FixtureDns, FixtureZones, dns_server, ip_name


class Clock:
    """A clock the test moves by hand; sleeping moves it too."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def dns() -> Iterator[FixtureDns]:
    zones = FixtureZones(refused=["refused.test"], servfail=["broken.test"], slow=["slow.test"])
    zones.add("listed.zone.test", "127.0.0.2", "127.0.0.4")
    zones.add(ip_name("2001:db8::10", "zone.test"), "127.0.0.3")
    zones.ttl = 300
    zones.negative_ttl = 60
    with dns_server(zones) as server:
        yield server


def _resolver(dns: FixtureDns, clock: Clock, **options: float) -> DnsResolver:
    settings: dict[str, float] = {"timeout_seconds": 0.5, "queries_per_second": 100.0}
    settings.update(options)
    return DnsResolver(
        nameservers=[dns.nameserver],
        port=dns.port,
        clock=clock,
        sleep=clock.sleep,
        **settings,
    )


def test_a_records_come_back_with_their_ttl(dns: FixtureDns) -> None:
    """An answered name gives its addresses and the record's TTL."""
    reply = _resolver(dns, Clock()).lookup_a("listed.zone.test")
    assert (reply.status, sorted(reply.addresses), reply.ttl) == (
        DnsStatus.ANSWER,
        ["127.0.0.2", "127.0.0.4"],
        300,
    )


def test_an_ipv6_nibble_name_is_answered(dns: FixtureDns) -> None:
    """The reversed-nibble name of an IPv6 address is asked and answered as served."""
    name = ip_name("2001:db8::10", "zone.test")
    reply = _resolver(dns, Clock()).lookup_a(name)
    assert (reply.addresses, dns.asked) == (("127.0.0.3",), [name])


def test_an_answer_is_kept_until_its_ttl_runs_out(dns: FixtureDns) -> None:
    """Within the TTL the cache answers; after it, the server is asked again."""
    clock = Clock()
    resolver = _resolver(dns, clock)
    first = resolver.lookup_a("listed.zone.test")
    clock.now += 299
    second = resolver.lookup_a("listed.zone.test")
    clock.now += 2
    third = resolver.lookup_a("listed.zone.test")
    assert ([first.cached, second.cached, third.cached], len(dns.asked)) == (
        [False, True, False],
        2,
    )


def test_the_cache_never_keeps_an_answer_longer_than_its_ceiling(dns: FixtureDns) -> None:
    """A 300-second TTL is kept 10 seconds when the ceiling says 10."""
    clock = Clock()
    resolver = _resolver(dns, clock, max_cache_seconds=10)
    resolver.lookup_a("listed.zone.test")
    clock.now += 11
    resolver.lookup_a("listed.zone.test")
    assert len(dns.asked) == 2


def test_nxdomain_is_kept_for_the_zones_negative_ttl(dns: FixtureDns) -> None:
    """NXDOMAIN holds for the SOA's minimum (60 s here, its TTL being 120 s)."""
    clock = Clock()
    resolver = _resolver(dns, clock)
    first = resolver.lookup_a("absent.zone.test")
    clock.now += 59
    cached = resolver.lookup_a("absent.zone.test")
    clock.now += 2
    resolver.lookup_a("absent.zone.test")
    assert (first.status, first.ttl, cached.cached, len(dns.asked)) == (
        DnsStatus.NXDOMAIN,
        60,
        True,
        2,
    )


def test_refused_is_a_failure_and_never_cached(dns: FixtureDns) -> None:
    """A REFUSED answer is returned as refused, and asked again next time."""
    resolver = _resolver(dns, Clock())
    replies = [resolver.lookup_a("x.refused.test") for _ in range(2)]
    assert ([r.status for r in replies], [r.answered for r in replies], len(dns.asked)) == (
        [DnsStatus.REFUSED, DnsStatus.REFUSED],
        [False, False],
        2,
    )


def test_servfail_is_a_failure(dns: FixtureDns) -> None:
    """SERVFAIL is returned as such, not as an empty answer."""
    assert _resolver(dns, Clock()).lookup_a("x.broken.test").status is DnsStatus.SERVFAIL


def test_a_server_too_slow_is_a_timeout(dns: FixtureDns) -> None:
    """No answer within the timeout gives a timeout, not NXDOMAIN."""
    reply = _resolver(dns, Clock(), timeout_seconds=0.3).lookup_a("x.slow.test")
    assert (reply.status, reply.answered) == (DnsStatus.TIMEOUT, False)


def test_lookups_of_one_bucket_are_paced(dns: FixtureDns) -> None:
    """At 2 queries a second, the second lookup of a list waits half a second."""
    clock = Clock()
    resolver = _resolver(dns, clock, queries_per_second=2.0)
    resolver.lookup_a("a.zone.test", bucket="zen")
    resolver.lookup_a("b.zone.test", bucket="zen")
    resolver.lookup_a("c.zone.test", bucket="dbl")
    assert clock.slept == [0.5]
