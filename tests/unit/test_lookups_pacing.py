"""Pacing lookups per list and keeping replies: token buckets and a TTL cache on a hand clock."""

import pytest

from abusedesk.lookups.model import DnsReply, DnsStatus
from abusedesk.lookups.resolver import QueryPacer, ReplyCache


class Clock:
    """A clock the test moves by hand; sleeping moves it too."""

    def __init__(self) -> None:
        self.now = 50.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_bucket_waits_between_queries_at_its_rate() -> None:
    """At 4 a second, three queries at once wait 0, 0.25 and 0.25 seconds."""
    clock = Clock()
    pacer = QueryPacer(4.0, clock=clock, sleep=clock.sleep)
    waits = [pacer.wait("zen") for _ in range(3)]
    assert (waits, clock.slept) == ([0.0, 0.25, 0.25], [0.25, 0.25])


def test_buckets_do_not_wait_for_each_other() -> None:
    """One list's pace never slows another's."""
    clock = Clock()
    pacer = QueryPacer(1.0, clock=clock, sleep=clock.sleep)
    assert [pacer.wait(name) for name in ("zen", "dbl", "uribl")] == [0.0, 0.0, 0.0]


def test_time_that_passed_refills_the_bucket() -> None:
    """A query a full interval after the last one does not wait."""
    clock = Clock()
    pacer = QueryPacer(2.0, clock=clock, sleep=clock.sleep)
    pacer.wait("zen")
    clock.now += 0.5
    assert pacer.wait("zen") == 0.0


def test_pacing_needs_a_positive_rate() -> None:
    """A rate of zero is refused when the pacer is made."""
    with pytest.raises(ValueError, match="positive rate"):
        QueryPacer(0.0)


def test_the_cache_keeps_answers_not_failures() -> None:
    """An answer is kept; a timeout and a zero-TTL answer are not."""
    cache = ReplyCache(max_seconds=3600, clock=Clock())
    cache.put(DnsReply("a.test", DnsStatus.ANSWER, ("127.0.0.2",), ttl=60))
    cache.put(DnsReply("b.test", DnsStatus.TIMEOUT))
    cache.put(DnsReply("c.test", DnsStatus.ANSWER, ("127.0.0.2",), ttl=0))
    assert [cache.get(name) is not None for name in ("A.test.", "b.test", "c.test")] == [
        True,
        False,
        False,
    ]


def test_the_cache_forgets_the_oldest_beyond_its_size() -> None:
    """With room for two, a third reply pushes out the first."""
    cache = ReplyCache(max_seconds=3600, max_entries=2, clock=Clock())
    for name in ("a.test", "b.test", "c.test"):
        cache.put(DnsReply(name, DnsStatus.NXDOMAIN, ttl=60))
    assert [cache.get(name) is not None for name in ("a.test", "b.test", "c.test")] == [
        False,
        True,
        True,
    ]
