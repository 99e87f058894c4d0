"""Ask the configured blocklists about our targets, and keep listings apart from failures.

Each list is first asked about its test points (RFC 5782): a list that does not list its
listed point, or lists its unlisted one (a wildcard), or answers with an error, is not
asked anything else in this run. A list that refuses us (DNS REFUSED, "public resolver",
"excessive volume", a zone typo, a broken zone) is given up on at the first such answer;
one that times out or fails several times in a row, too. Every such answer is an error
of the run, never a listing and never a delisting. A cap bounds the lookups of one run:
the targets it did not reach are checked by the next run, which starts after the last
target this one finished.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from abusedesk.blocklists.answers import (
    AnswerError,
    Blocklist,
    InvalidQueryTarget,
    ListKind,
    Outcome,
    domain_query_name,
    ip_query_name,
    query_name,
    read_answers,
)
from abusedesk.blocklists.model import Check, CheckError, CheckFailure, ListTally, Target
from abusedesk.lookups.model import DnsReply, DnsStatus

# Answers that say the list will not answer us at all: stop asking it in this run.
STOPPING_ERRORS = frozenset(
    {
        AnswerError.QUERY_REFUSED,
        AnswerError.PUBLIC_RESOLVER,
        AnswerError.EXCESSIVE_VOLUME,
        AnswerError.ZONE_TYPO,
        AnswerError.LIST_ERROR,
        AnswerError.OUTSIDE_LOOPBACK,
    }
)
# Timeouts or failures in a row after which a list is given up on for the run.
FAILURES_IN_A_ROW = 3

_DNS_FAILURES = {
    DnsStatus.REFUSED: CheckFailure.DNS_REFUSED,
    DnsStatus.SERVFAIL: CheckFailure.DNS_SERVFAIL,
    DnsStatus.TIMEOUT: CheckFailure.DNS_TIMEOUT,
    DnsStatus.FAILURE: CheckFailure.DNS_FAILURE,
}


class AddressLookup(Protocol):
    """What the checks need from DNS: the A records of a name, paced per *bucket*."""

    def lookup_a(self, name: str, *, bucket: str = "") -> DnsReply:
        """Return the outcome of an A lookup of *name*."""
        ...


@dataclass
class CheckRun:
    """What one pass over the targets found.

    ``checks`` are the conclusive answers (listed or not listed); ``finished`` the keys
    of the targets every usable list was asked about; ``cap_reached`` tells whether the
    cap on lookups stopped the pass before the last target.
    """

    checks: list[Check] = field(default_factory=list)
    errors: list[CheckError] = field(default_factory=list)
    tallies: dict[str, ListTally] = field(default_factory=dict)
    finished: list[str] = field(default_factory=list)
    queries: int = 0
    cap_reached: bool = False

    @property
    def listed(self) -> list[Check]:
        """Return the checks that found a listing."""
        return [check for check in self.checks if check.result.listed]


def check_targets(
    targets: Sequence[Target],
    blocklists: Sequence[Blocklist],
    lookup: AddressLookup,
    *,
    max_queries: int,
    health_check: bool = True,
) -> CheckRun:
    """Ask every blocklist of the right kind about each target in turn, within *max_queries*."""
    run = CheckRun(tallies={b.name: ListTally() for b in blocklists})
    usable = [b for b in blocklists if not health_check or _healthy(b, lookup, run, max_queries)]
    in_a_row = dict.fromkeys((b.name for b in usable), 0)
    for target in targets:
        for blocklist in usable:
            tally = run.tallies[blocklist.name]
            if blocklist.kind is not target.kind or tally.stopped:
                continue
            if run.queries >= max_queries:
                run.cap_reached = True
                return run
            _check_one(target, blocklist, lookup, run, in_a_row)
        run.finished.append(target.key)
    return run


def _check_one(
    target: Target,
    blocklist: Blocklist,
    lookup: AddressLookup,
    run: CheckRun,
    in_a_row: dict[str, int],
) -> None:
    """Ask *blocklist* about *target* and file the answer as a check or an error."""
    tally = run.tallies[blocklist.name]
    try:
        name = query_name(blocklist, target.value)
    except InvalidQueryTarget as exc:
        _error(run, target.key, blocklist, CheckFailure.INVALID_TARGET, str(exc))
        return
    reply = _ask(lookup, blocklist, name, run)
    failure = _DNS_FAILURES.get(reply.status)
    if failure is not None:
        _error(run, target.key, blocklist, failure, reply.detail)
        in_a_row[blocklist.name] += 1
        if reply.status is DnsStatus.REFUSED:
            tally.stopped = f"the list's server refused our queries ({reply.detail})"
        elif in_a_row[blocklist.name] >= FAILURES_IN_A_ROW:
            tally.stopped = f"{FAILURES_IN_A_ROW} lookups in a row failed ({reply.detail})"
        return
    in_a_row[blocklist.name] = 0
    result = read_answers(blocklist, reply.addresses)
    if result.outcome is Outcome.ERROR:
        _error(run, target.key, blocklist, str(result.error), result.detail)
        if result.error in STOPPING_ERRORS:
            tally.stopped = result.detail
        return
    run.checks.append(Check(target, blocklist.name, blocklist.zone, name, result))
    if result.listed:
        tally.listed += 1
    else:
        tally.not_listed += 1


def _healthy(blocklist: Blocklist, lookup: AddressLookup, run: CheckRun, max_queries: int) -> bool:
    """Ask *blocklist* about its test points; tell whether it may be trusted this run."""
    listed_point, unlisted_point = blocklist.test_points()
    for point, must_list in ((listed_point, True), (unlisted_point, False)):
        if not point:
            continue
        if run.queries >= max_queries:
            run.cap_reached = True
            run.tallies[blocklist.name].stopped = "the cap on lookups was reached"
            return False
        name = _test_name(blocklist, point)
        problem = _health_problem(blocklist, _ask(lookup, blocklist, name, run), must_list)
        if problem:
            detail = f"test point {point}: {problem}"
            _error(run, "", blocklist, CheckFailure.HEALTH_CHECK_FAILED, detail)
            run.tallies[blocklist.name].stopped = f"failed its health check ({detail})"
            return False
    return True


def _health_problem(blocklist: Blocklist, reply: DnsReply, must_list: bool) -> str:
    """Return what is wrong with a test point's answer, or "" when it is as it must be."""
    if not reply.answered:
        return f"the lookup failed ({reply.status}): {reply.detail or 'no answer'}"
    result = read_answers(blocklist, reply.addresses)
    # A test point may carry codes the list does not document for real entries.
    answered = result.listed or result.error is AnswerError.UNKNOWN_CODE
    if result.outcome is Outcome.ERROR and result.error is not AnswerError.UNKNOWN_CODE:
        return result.detail
    if must_list and not answered:
        return "not listed, so the list is not answering (an empty or moved zone)"
    if not must_list and reply.addresses:
        return (
            f"listed ({', '.join(reply.addresses)}), so the list lists everything "
            "(a wildcard): nothing it says can be trusted"
        )
    return ""


def _test_name(blocklist: Blocklist, point: str) -> str:
    """Return the name a test point is asked by: the whole host for domain lists."""
    if blocklist.kind is ListKind.IP:
        return ip_query_name(point, blocklist.zone)
    return domain_query_name(point, blocklist.zone, whole_host=True)


def _ask(lookup: AddressLookup, blocklist: Blocklist, name: str, run: CheckRun) -> DnsReply:
    """Look *name* up, paced as *blocklist*'s, and count the lookup."""
    run.queries += 1
    run.tallies[blocklist.name].queries += 1
    return lookup.lookup_a(name, bucket=blocklist.name)


def _error(run: CheckRun, target: str, blocklist: Blocklist, error: str, detail: str) -> None:
    """File an error of the run against *blocklist*."""
    run.errors.append(CheckError(target, blocklist.name, error, detail))
    run.tallies[blocklist.name].errors += 1
