"""A real DNS server for tests: dnslib on 127.0.0.1, port 0, answering from fixture zones.

Records map a name to its A answers. Names under a *refused* zone are answered REFUSED,
under a *servfail* zone SERVFAIL, and under a *slow* zone only after ``slow_seconds`` (past
any test resolver's timeout). Every other name is NXDOMAIN, with an SOA whose minimum is
the negative TTL. Every question asked is kept in ``asked``, in order.
"""

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from dnslib import QTYPE, RCODE, RR, SOA, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from abusedesk.blocklists.answers import domain_query_name, ip_query_name


class _Quiet(DNSLogger):
    """Log nothing: the tests read ``asked`` instead."""

    def __init__(self) -> None:
        super().__init__("-recv,-send,-request,-reply,-truncated,-error,-data")


@dataclass
class FixtureZones:
    """What the server answers: A records per name, and zones that misbehave."""

    records: dict[str, list[str]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    servfail: list[str] = field(default_factory=list)
    slow: list[str] = field(default_factory=list)
    ttl: int = 300
    negative_ttl: int = 60
    slow_seconds: float = 5.0

    def add(self, name: str, *answers: str) -> None:
        """Serve *answers* as the A records of *name*."""
        self.records[_key(name)] = list(answers)

    def remove(self, name: str) -> None:
        """Stop serving *name*: it is NXDOMAIN from now on."""
        self.records.pop(_key(name), None)


def _key(name: str) -> str:
    return name.lower().rstrip(".")


def _under(name: str, zones: Sequence[str]) -> bool:
    return any(name == zone or name.endswith("." + zone) for zone in map(_key, zones))


class _Resolver(BaseResolver):  # type: ignore[misc]  # dnslib ships no type hints
    def __init__(self, zones: FixtureZones, asked: list[str], stop: threading.Event) -> None:
        self.zones = zones
        self.asked = asked
        self.stop = stop
        self.lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        name = _key(str(request.q.qname))
        with self.lock:
            self.asked.append(name)
        reply = request.reply()
        zones = self.zones
        if _under(name, zones.refused):
            reply.header.rcode = RCODE.REFUSED
        elif _under(name, zones.servfail):
            reply.header.rcode = RCODE.SERVFAIL
        elif _under(name, zones.slow):
            self.stop.wait(zones.slow_seconds)
            reply.header.rcode = RCODE.NXDOMAIN
        elif name in zones.records:
            if request.q.qtype == QTYPE.A:
                for address in zones.records[name]:
                    reply.add_answer(RR(name, QTYPE.A, rdata=A(address), ttl=zones.ttl))
        else:
            reply.header.rcode = RCODE.NXDOMAIN
            soa = SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, zones.negative_ttl))
            reply.add_auth(RR("test.", QTYPE.SOA, rdata=soa, ttl=zones.negative_ttl * 2))
        return reply


@dataclass
class FixtureDns:
    """A running fixture server: where it listens, what it serves, what it was asked."""

    zones: FixtureZones
    port: int
    asked: list[str]

    @property
    def nameserver(self) -> str:
        """Return the address to send questions to."""
        return "127.0.0.1"


@contextmanager
def dns_server(zones: FixtureZones) -> Iterator[FixtureDns]:
    """Serve *zones* over UDP on a free port of 127.0.0.1 until the block ends."""
    asked: list[str] = []
    stop = threading.Event()
    server = DNSServer(_Resolver(zones, asked, stop), address="127.0.0.1", port=0, logger=_Quiet())
    port = server.server.server_address[1]
    # A short poll interval: shutting the server down waits for one poll at most.
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield FixtureDns(zones, port, asked)
    finally:
        stop.set()
        server.stop()
        server.server.server_close()
        thread.join(5)


def ip_name(address: str, zone: str) -> str:
    """Return the name a list under *zone* is asked about *address* by."""
    return ip_query_name(address, zone)


def domain_name(domain: str, zone: str) -> str:
    """Return the name a domain list under *zone* is asked about *domain* (whole host) by."""
    return domain_query_name(domain, zone, whole_host=True)


# The zones of the standard scenario, one per catalogue list the tests configure.
ZEN = "zen.blocklists.test"
XBL = "xbl.blocklists.test"
SBL = "sbl.blocklists.test"
PBL = "slow.blocklists.test"
BARRACUDA = "refused.blocklists.test"
DBL = "dbl.blocklists.test"
URIBL = "uribl.blocklists.test"
SURBL = "surbl.blocklists.test"
ZONES: Mapping[str, str] = {
    "spamhaus-zen": ZEN,
    "spamhaus-xbl": XBL,
    "spamhaus-sbl": SBL,
    "spamhaus-pbl": PBL,
    "barracuda": BARRACUDA,
    "spamhaus-dbl": DBL,
    "uribl": URIBL,
    "surbl": SURBL,
}

# Our IP space in the scenario.
DEDICATED_IP = "198.51.100.10"
SHARED_IP = "198.51.100.20"
CLEAN_IP = "198.51.100.40"
DEDICATED_IPV6 = "2001:db8::10"
# Customers' domains in the scenario.
LISTED_DOMAIN = "promo-mail.example"
PHISHING_DOMAIN = "bad-shop.example"
CLEAN_DOMAIN = "clean-sender.example"


def scenario_zones() -> FixtureZones:
    """Return the standard scenario: listings on each kind of list, and lists that fail.

    ZEN lists the dedicated IP (SBL), the shared IP (XBL) and the dedicated IPv6 address
    (CSS); XBL passes its health check, then answers "excessive volume"; SBL answers
    "public resolver" to everything; PBL never answers in time; Barracuda refuses (DNS
    REFUSED). DBL lists the phishing domain; URIBL lists the promotional domain black and
    grey; SURBL lists it MW and ABUSE, and answers its test point with an undocumented bit.
    """
    zones = FixtureZones(refused=[BARRACUDA], slow=[PBL], slow_seconds=5.0)
    for zone in (ZEN, XBL):
        zones.add(ip_name("127.0.0.2", zone), "127.0.0.2")
    zones.add(ip_name(DEDICATED_IP, ZEN), "127.0.0.2")
    zones.add(ip_name(SHARED_IP, ZEN), "127.0.0.4")
    zones.add(ip_name(DEDICATED_IPV6, ZEN), "127.0.0.3")
    zones.add(ip_name(DEDICATED_IP, XBL), "127.255.255.255")
    for address in ("127.0.0.1", "127.0.0.2", DEDICATED_IP, SHARED_IP, CLEAN_IP):
        zones.add(ip_name(address, SBL), "127.255.255.254")
    zones.add(domain_name("dbltest.com", DBL), "127.0.1.2")
    zones.add(domain_name(PHISHING_DOMAIN, DBL), "127.0.1.4")
    zones.add(domain_name("test.uribl.com", URIBL), "127.0.0.14")
    zones.add(domain_name(LISTED_DOMAIN, URIBL), "127.0.0.6")
    zones.add(domain_name("test.surbl.org", SURBL), "127.0.0.254")
    zones.add(domain_name(LISTED_DOMAIN, SURBL), "127.0.0.80")
    return zones
