"""What the blocklist watch checks and keeps: targets, their holders, checks and listings."""

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from abusedesk.blocklists.answers import BlocklistResult, ListKind, registrable_domain


class Holding(StrEnum):
    """Who holds a target when it is checked."""

    # An IP allocated to one account (alone, or in its dedicated pool).
    DEDICATED = "dedicated"
    # An IP of a shared pool: many accounts send from it, none is named by a listing.
    SHARED = "shared"
    # An IP of our space that nobody holds now (a configured range, or released).
    UNALLOCATED = "unallocated"
    # A domain that accounts hold as a sending identity.
    IDENTITY = "identity"


class CheckFailure(StrEnum):
    """Why a check concluded nothing, besides what answers.AnswerError names."""

    DNS_REFUSED = "dns_refused"
    DNS_SERVFAIL = "dns_servfail"
    DNS_TIMEOUT = "dns_timeout"
    DNS_FAILURE = "dns_failure"
    HEALTH_CHECK_FAILED = "health_check_failed"
    LIST_STOPPED = "list_stopped"
    INVALID_TARGET = "invalid_target"


@dataclass(frozen=True)
class Holder:
    """An account holding a target: its internal id and the id the provider knows it by."""

    account_id: int
    external_id: str


@dataclass(frozen=True)
class Target:
    """One thing of ours to check: an IP address of our space, or a customer's domain.

    *value* is the IP in its compressed form, or the registrable domain.
    """

    kind: ListKind
    value: str
    holding: Holding
    accounts: tuple[Holder, ...] = ()
    pool: str | None = None

    @property
    def key(self) -> str:
        """Return ``ip:<address>`` or ``domain:<domain>``: the target's name in a run."""
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class Check:
    """One conclusive answer: what *blocklist* said about *target* (listed or not)."""

    target: Target
    blocklist: str
    zone: str
    query: str
    result: BlocklistResult


@dataclass(frozen=True)
class CheckError:
    """One check that concluded nothing, and why; *target* is empty for a whole list."""

    target: str
    blocklist: str
    error: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        """Return the error as JSON-able values."""
        return {
            "target": self.target,
            "blocklist": self.blocklist,
            "error": self.error,
            "detail": self.detail,
        }


@dataclass
class ListTally:
    """What one blocklist gave in a run."""

    queries: int = 0
    listed: int = 0
    not_listed: int = 0
    errors: int = 0
    # Set when the list was given up on for the rest of the run, saying why.
    stopped: str = ""

    def as_dict(self) -> dict[str, int | str]:
        """Return the tally as JSON-able values."""
        return {
            "queries": self.queries,
            "listed": self.listed,
            "not_listed": self.not_listed,
            "errors": self.errors,
            "stopped": self.stopped,
        }


@dataclass(frozen=True)
class Listing:
    """One listing interval of a target on a blocklist, with who held the target then.

    Open while ``delisted_at`` is None; ``last_confirmed_at`` is the latest check that
    still found it listed.
    """

    listing_id: int
    target_kind: str
    target: str
    blocklist: str
    zone: str
    meanings: tuple[str, ...]
    answers: tuple[str, ...]
    holding: str
    pool: str | None
    accounts: tuple[Holder, ...]
    first_seen_at: datetime
    last_confirmed_at: datetime
    delisted_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Tell whether the target is still listed."""
        return self.delisted_at is None

    @property
    def key(self) -> tuple[str, str, str]:
        """Return (target kind, target, blocklist): one open listing at most per key."""
        return (self.target_kind, self.target, self.blocklist)


def parse_target(text: str) -> tuple[ListKind, str]:
    """Return what a typed target names as listings store it: an IP in compressed form, or
    a host's registrable domain. Raise ``InvalidQueryTarget`` for anything else."""
    value = text.strip()
    try:
        return ListKind.IP, str(ipaddress.ip_address(value))
    except ValueError:
        return ListKind.DOMAIN, registrable_domain(value)
