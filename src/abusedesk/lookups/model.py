"""What a DNS lookup gave: addresses, a name that does not exist, or why it failed.

Plain values, so that code deciding what an answer means never needs the resolver.
"""

from dataclasses import dataclass
from enum import StrEnum


class DnsStatus(StrEnum):
    """How a DNS question ended."""

    # A records came back.
    ANSWER = "answer"
    # The name does not exist (NXDOMAIN): for a blocklist, "not listed".
    NXDOMAIN = "nxdomain"
    # The name exists but holds no A record.
    NODATA = "nodata"
    # The server said REFUSED: a list turning away our resolver, never an answer.
    REFUSED = "refused"
    # SERVFAIL or another failing response code.
    SERVFAIL = "servfail"
    # No answer within the configured time.
    TIMEOUT = "timeout"
    # Anything else that kept the question from an answer (bad name, network error).
    FAILURE = "failure"


# Statuses that answer the question; the others say the lookup failed.
ANSWERED = frozenset({DnsStatus.ANSWER, DnsStatus.NXDOMAIN, DnsStatus.NODATA})


@dataclass(frozen=True)
class DnsReply:
    """The outcome of one A lookup: its status, the addresses, and for how long they hold.

    ``ttl`` is the seconds the answer may be kept (the record's TTL, or the zone's
    negative TTL for NXDOMAIN); ``detail`` says why a lookup failed; ``cached`` tells
    whether the reply came from the cache rather than the network.
    """

    name: str
    status: DnsStatus
    addresses: tuple[str, ...] = ()
    ttl: int = 0
    detail: str = ""
    cached: bool = False

    @property
    def answered(self) -> bool:
        """Tell whether the server answered the question (addresses, NXDOMAIN or no data)."""
        return self.status in ANSWERED
