"""Spam-trap hits in the simulated traffic: only list-buying senders hit traps."""

from collections import Counter
from datetime import UTC, datetime

import pytest

from abusedesk.demo.model import DemoProvider, Traffic
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import TRAP_RATE, generate_traffic

END = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 40 accounts over 5 days."""
    return generate_provider(seed=8, accounts=40, days=5, end=END)


@pytest.fixture(scope="module")
def traffic(provider: DemoProvider) -> Traffic:
    """Return the provider's traffic with hourly figures."""
    return generate_traffic(provider)


def _hits_by_kind(provider: DemoProvider, traffic: Traffic) -> Counter[str]:
    kind_of = {a.external_id: a.kind for a in provider.accounts}
    hits: Counter[str] = Counter()
    for stat in traffic.stats:
        if stat.is_account_row:
            hits[kind_of[stat.account]] += stat.trap_hits
    return hits


def test_only_senders_with_bought_lists_hit_traps(provider: DemoProvider, traffic: Traffic) -> None:
    """The kinds with a trap rate (here some) hit traps; every other kind hits none."""
    hits = _hits_by_kind(provider, traffic)
    sending = {a.kind for a in provider.accounts if a.sends_email}
    expected = {kind for kind in TRAP_RATE if kind in sending}
    assert ({kind for kind, n in hits.items() if n > 0}, bool(expected)) == (expected, True)
