"""Asking blocklists about our targets over real DNS: listings apart from every failure."""

from collections.abc import Iterator
from dataclasses import replace

import pytest

from abusedesk.blocklists.answers import Blocklist, ListKind, blocklist
from abusedesk.blocklists.checks import CheckRun, check_targets
from abusedesk.blocklists.model import Holding, Target
from abusedesk.lookups.resolver import DnsResolver
from tests.support.dns import (
    CLEAN_DOMAIN,
    CLEAN_IP,
    DBL,
    DEDICATED_IP,
    DEDICATED_IPV6,
    LISTED_DOMAIN,
    PHISHING_DOMAIN,
    SHARED_IP,
    SURBL,
    ZEN,
    ZONES,
    FixtureDns,
    dns_server,
    domain_name,
    ip_name,
    scenario_zones,
)

IPS = [DEDICATED_IP, SHARED_IP, CLEAN_IP, DEDICATED_IPV6]
DOMAINS = [LISTED_DOMAIN, PHISHING_DOMAIN, CLEAN_DOMAIN]


@pytest.fixture
def dns() -> Iterator[FixtureDns]:
    with dns_server(scenario_zones()) as server:
        yield server


def _lists(*names: str) -> list[Blocklist]:
    return [replace(blocklist(name), zone=ZONES[name]) for name in names]


def _targets() -> list[Target]:
    return [Target(ListKind.IP, ip, Holding.DEDICATED) for ip in IPS] + [
        Target(ListKind.DOMAIN, domain, Holding.IDENTITY) for domain in DOMAINS
    ]


def _check(dns: FixtureDns, *names: str, max_queries: int = 1000, **options: bool) -> CheckRun:
    resolver = DnsResolver(
        nameservers=[dns.nameserver], port=dns.port, timeout_seconds=0.3, queries_per_second=1e4
    )
    return check_targets(_targets(), _lists(*names), resolver, max_queries=max_queries, **options)


def _listed(run: CheckRun) -> dict[tuple[str, str], tuple[str, ...]]:
    return {(c.target.value, c.blocklist): c.result.meanings for c in run.listed}


def test_ip_lists_read_ipv4_and_ipv6_listings(dns: FixtureDns) -> None:
    """ZEN lists the dedicated IP (SBL), the shared IP (XBL) and the IPv6 address (CSS)."""
    run = _check(dns, "spamhaus-zen")
    assert (_listed(run), run.errors) == (
        {
            (DEDICATED_IP, "spamhaus-zen"): ("SBL",),
            (SHARED_IP, "spamhaus-zen"): ("XBL",),
            (DEDICATED_IPV6, "spamhaus-zen"): ("CSS",),
        },
        [],
    )


def test_domain_lists_read_exact_codes_and_bitmasks(dns: FixtureDns) -> None:
    """DBL's phishing code, URIBL's black+grey and SURBL's MW+ABUSE bits are all read."""
    run = _check(dns, "spamhaus-dbl", "uribl", "surbl")
    assert _listed(run) == {
        (PHISHING_DOMAIN, "spamhaus-dbl"): ("DBL phishing",),
        (LISTED_DOMAIN, "uribl"): ("URIBL black", "URIBL grey"),
        (LISTED_DOMAIN, "surbl"): ("SURBL MW (malware)", "SURBL ABUSE"),
    }


def test_ips_are_never_sent_to_domain_lists_nor_domains_to_ip_lists(dns: FixtureDns) -> None:
    """Every name asked of DBL is a domain under DBL; none of ZEN's is a domain."""
    _check(dns, "spamhaus-zen", "spamhaus-dbl")
    dbl_asked = sorted(name for name in dns.asked if name.endswith(DBL))
    zen_asked = [name for name in dns.asked if name.endswith(ZEN)]
    expected_dbl = sorted(
        domain_name(domain, DBL) for domain in [*DOMAINS, "dbltest.com", "invalid"]
    )
    assert (dbl_asked, len(zen_asked)) == (expected_dbl, len(IPS) + 2)


def test_a_public_resolver_answer_fails_the_list_and_lists_nothing(dns: FixtureDns) -> None:
    """SBL answering 127.255.255.254 to its test point is asked nothing else."""
    run = _check(dns, "spamhaus-sbl")
    assert (
        run.listed,
        [(e.blocklist, e.error) for e in run.errors],
        run.tallies["spamhaus-sbl"].queries,
    ) == ([], [("spamhaus-sbl", "health_check_failed")], 1)


def test_a_public_resolver_answer_for_a_target_is_an_error_never_a_listing(
    dns: FixtureDns,
) -> None:
    """Without the health check, 127.255.255.254 for an IP is an error and stops the list."""
    run = _check(dns, "spamhaus-sbl", health_check=False)
    assert (run.listed, [(e.target, e.error) for e in run.errors]) == (
        [],
        [(f"ip:{DEDICATED_IP}", "public_resolver")],
    )


def test_excessive_volume_stops_the_list_for_the_run(dns: FixtureDns) -> None:
    """XBL's 127.255.255.255 for the first IP is an error; the later IPs are not asked."""
    run = _check(dns, "spamhaus-xbl")
    later = [ip_name(ip, "xbl.blocklists.test") for ip in (SHARED_IP, CLEAN_IP)]
    assert (
        run.listed,
        [(e.target, e.error) for e in run.errors],
        [name for name in later if name in dns.asked],
        bool(run.tallies["spamhaus-xbl"].stopped),
    ) == ([], [(f"ip:{DEDICATED_IP}", "excessive_volume")], [], True)


def test_a_refusing_server_is_an_error(dns: FixtureDns) -> None:
    """DNS REFUSED from the list's server fails the list; nothing is listed or cleared."""
    run = _check(dns, "barracuda")
    assert (run.checks, [e.error for e in run.errors]) == ([], ["health_check_failed"])


def test_refused_for_a_target_stops_the_list(dns: FixtureDns) -> None:
    """Without the health check, REFUSED for the first target stops the list at once."""
    run = _check(dns, "barracuda", health_check=False)
    assert (run.checks, [(e.target, e.error) for e in run.errors]) == (
        [],
        [(f"ip:{DEDICATED_IP}", "dns_refused")],
    )


def test_lookups_that_time_out_are_errors_and_three_in_a_row_stop_the_list(
    dns: FixtureDns,
) -> None:
    """A list that never answers in time gives timeouts, not "not listed", and is given up."""
    run = _check(dns, "spamhaus-pbl", health_check=False)
    assert (run.checks, [e.error for e in run.errors], run.tallies["spamhaus-pbl"].queries) == (
        [],
        ["dns_timeout"] * 3,
        3,
    )


def test_a_list_that_lists_its_unlisted_test_point_is_not_trusted(dns: FixtureDns) -> None:
    """A wildcard (127.0.0.1 listed) fails the health check: no listing comes from it."""
    dns.zones.add(ip_name("127.0.0.1", ZEN), "127.0.0.2")
    run = _check(dns, "spamhaus-zen")
    assert (run.checks, [e.error for e in run.errors]) == ([], ["health_check_failed"])


def test_a_list_that_does_not_list_its_test_point_is_not_trusted(dns: FixtureDns) -> None:
    """An empty or moved zone (127.0.0.2 not listed) would clear every listing: refused."""
    dns.zones.remove(ip_name("127.0.0.2", ZEN))
    run = _check(dns, "spamhaus-zen")
    assert (run.checks, [e.error for e in run.errors]) == ([], ["health_check_failed"])


def test_a_test_point_answered_with_an_undocumented_bit_still_passes(dns: FixtureDns) -> None:
    """SURBL answers its test point 127.0.0.254 (a retired bit among them): it is healthy."""
    run = _check(dns, "surbl")
    assert (run.errors, domain_name("test.surbl.org", SURBL) in dns.asked) == ([], True)


def test_an_answer_outside_loopback_is_an_error_and_stops_the_list(dns: FixtureDns) -> None:
    """A real IP as the answer (a hijacked zone) is never a listing."""
    dns.zones.add(ip_name(DEDICATED_IP, ZEN), "203.0.113.7")
    run = _check(dns, "spamhaus-zen")
    assert (run.listed, [e.error for e in run.errors]) == ([], ["outside_loopback"])


def test_the_cap_stops_the_run_and_names_the_targets_finished(dns: FixtureDns) -> None:
    """With 2 health lookups and 2 more allowed, two IPs are finished and the cap is reached."""
    run = _check(dns, "spamhaus-zen", max_queries=4)
    assert (run.cap_reached, run.finished, run.queries) == (
        True,
        [f"ip:{DEDICATED_IP}", f"ip:{SHARED_IP}"],
        4,
    )
