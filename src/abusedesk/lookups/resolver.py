"""A DNS resolver for blocklist checks: our own nameservers, a TTL cache, paced queries.

Blocklists answer only resolvers they can attribute: the public mirrors refuse big public
resolvers, and a list asked too often answers "excessive volume". So queries go to the
nameservers configured (the system's when none are), each list (a *bucket*) is asked at
most so many times a second, and an answer is kept for as long as its TTL allows (an
NXDOMAIN for the zone's negative TTL), never longer than a configured ceiling. Failures
(REFUSED, SERVFAIL, timeouts) are returned as such and never cached.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.resolver

from abusedesk.core.errors import AbuseDeskError
from abusedesk.lookups.model import DnsReply, DnsStatus

# Used for an NXDOMAIN that carries no SOA to take its negative TTL from.
DEFAULT_NEGATIVE_TTL = 60


class ResolverNotConfigured(AbuseDeskError):
    """Raise when no nameserver is configured and the system names none either."""


class QueryPacer:
    """Let each bucket send at most *per_second* queries, one at a time (a token bucket).

    ``wait`` blocks until the bucket may send again and returns how long it waited.
    """

    def __init__(
        self,
        per_second: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("pacing needs a positive rate and a burst of at least 1")
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait(self, bucket: str) -> float:
        """Take one query from *bucket*, waiting first if it has none; return the wait."""
        with self._lock:
            now = self.clock()
            tokens, last = self._buckets.get(bucket, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.per_second)
            waited = 0.0
            if tokens < 1.0:
                waited = (1.0 - tokens) / self.per_second
                # Sleeping under the lock keeps every thread of this pacer in one queue.
                self.sleep(waited)
                tokens = 1.0
                now += waited
            self._buckets[bucket] = (tokens - 1.0, now)
            return waited


class ReplyCache:
    """Keep answered lookups until their TTL runs out, or *max_seconds* at most."""

    def __init__(
        self,
        *,
        max_seconds: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError("a cache holds at least one entry")
        self.max_seconds = max_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, DnsReply]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, name: str) -> DnsReply | None:
        """Return the kept reply for *name* while it is fresh, marked cached; else None."""
        key = name.lower().rstrip(".")
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            expires, reply = found
            if self.clock() >= expires:
                del self._entries[key]
                return None
            return DnsReply(
                reply.name, reply.status, reply.addresses, reply.ttl, reply.detail, cached=True
            )

    def put(self, reply: DnsReply) -> None:
        """Keep *reply* for its TTL (bounded by max_seconds); failures and TTL 0 are not kept."""
        seconds = min(float(reply.ttl), self.max_seconds)
        if not reply.answered or seconds <= 0:
            return
        key = reply.name.lower().rstrip(".")
        with self._lock:
            self._entries[key] = (self.clock() + seconds, reply)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        """Return how many replies are kept, fresh or not."""
        return len(self._entries)


class DnsResolver:
    """Ask A questions of configured nameservers through a TTL cache and per-bucket pacing.

    *nameservers* empty means the system's (``/etc/resolv.conf``); *port* applies to all
    of them. *timeout_seconds* bounds one lookup, retries included.
    """

    def __init__(
        self,
        *,
        nameservers: Sequence[str] = (),
        port: int = 53,
        timeout_seconds: float = 2.0,
        queries_per_second: float = 5.0,
        max_cache_seconds: float = 3600.0,
        max_cache_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("a lookup needs a positive timeout")
        try:
            resolver = dns.resolver.Resolver(configure=not nameservers)
        except dns.resolver.NoResolverConfiguration as exc:
            raise ResolverNotConfigured(
                "no nameserver configured and the system names none; set the nameservers"
            ) from exc
        if nameservers:
            resolver.nameservers = list(nameservers)
        resolver.port = port
        resolver.timeout = timeout_seconds
        resolver.lifetime = timeout_seconds
        # Our cache keeps answers; dnspython's would hide the lookups we count and pace.
        resolver.cache = None
        # A list's SERVFAIL is an answer about the list, not a reason to ask again at once.
        resolver.retry_servfail = False
        self._resolver = resolver
        self.cache = ReplyCache(
            max_seconds=max_cache_seconds, max_entries=max_cache_entries, clock=clock
        )
        self.pacer = QueryPacer(queries_per_second, clock=clock, sleep=sleep)
        self.queries_sent = 0
        self._count_lock = threading.Lock()

    @property
    def nameservers(self) -> tuple[str, ...]:
        """Return the nameservers asked, as configured or read from the system."""
        return tuple(str(server) for server in self._resolver.nameservers)

    def lookup_a(self, name: str, *, bucket: str = "") -> DnsReply:
        """Return the A records of *name*, from the cache when fresh; pace by *bucket*."""
        cached = self.cache.get(name)
        if cached is not None:
            return cached
        self.pacer.wait(bucket)
        with self._count_lock:
            self.queries_sent += 1
        reply = self._ask(name)
        self.cache.put(reply)
        return reply

    def _ask(self, name: str) -> DnsReply:
        """Send one question and read whatever came back into a reply."""
        try:
            answer = self._resolver.resolve(name, "A", search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN as exc:
            # dnspython leaves NXDOMAIN.responses untyped; it maps each name to its message.
            responses = exc.responses()  # type: ignore[no-untyped-call]
            return DnsReply(name, DnsStatus.NXDOMAIN, ttl=_negative_ttl(responses.values()))
        except dns.resolver.NoNameservers as exc:
            return _failed(name, exc)
        except dns.exception.Timeout:
            return DnsReply(name, DnsStatus.TIMEOUT, detail="no answer within the timeout")
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return DnsReply(name, DnsStatus.FAILURE, detail=_short(exc))
        if answer.rrset is None:
            return DnsReply(name, DnsStatus.NODATA, ttl=_negative_ttl([answer.response]))
        addresses = tuple(
            record.address for record in answer.rrset if record.rdtype == dns.rdatatype.A
        )
        return DnsReply(name, DnsStatus.ANSWER, addresses, ttl=answer.rrset.ttl)


def _negative_ttl(responses: Iterable[object]) -> int:
    """Return how long a negative answer holds: the SOA's TTL or minimum, whichever is less."""
    ttls = [
        min(rrset.ttl, rrset[0].minimum)
        for response in responses
        if isinstance(response, dns.message.Message)
        for rrset in response.authority
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset)
    ]
    return min(ttls) if ttls else DEFAULT_NEGATIVE_TTL


def _failed(name: str, exc: dns.resolver.NoNameservers) -> DnsReply:
    """Return the reply for a lookup every nameserver failed, naming their answers."""
    codes = [str(error[3]) for error in exc.kwargs.get("errors", []) if len(error) > 3]
    if codes and all(code == "REFUSED" for code in codes):
        return DnsReply(name, DnsStatus.REFUSED, detail="the server refused the query (REFUSED)")
    if codes and all(code == "SERVFAIL" for code in codes):
        return DnsReply(name, DnsStatus.SERVFAIL, detail="the server failed (SERVFAIL)")
    shown = ", ".join(dict.fromkeys(codes)) or "no usable answer"
    return DnsReply(name, DnsStatus.FAILURE, detail=f"every nameserver failed: {shown}"[:200])


def _short(exc: BaseException) -> str:
    """Return an exception as one short line."""
    return f"{type(exc).__name__}: {exc}"[:200]
