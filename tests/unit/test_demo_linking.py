"""The simulated provider's sign-up facts: deterministic, with an untidy ring and a common device."""

from collections import Counter
from datetime import UTC, datetime

from abusedesk.demo.linking import planted_rings, sign_up_facts
from abusedesk.demo.model import AccountKind, DemoProvider
from abusedesk.demo.provider import generate_provider

END = datetime(2026, 11, 1, tzinfo=UTC)


def _provider(seed: int = 5, accounts: int = 200) -> DemoProvider:
    return generate_provider(seed=seed, accounts=accounts, days=7, end=END)


def test_the_same_provider_always_gets_the_same_facts() -> None:
    """Facts depend on the seed only."""
    assert sign_up_facts(_provider()) == sign_up_facts(_provider())


def test_the_planted_ring_is_the_provider_s_ring_accounts() -> None:
    """The ground truth is the accounts of kind ring."""
    provider = _provider()
    ring = {a.external_id for a in provider.accounts if a.kind == AccountKind.RING}

    assert planted_rings(provider) == [frozenset(ring)]


def test_the_ring_signs_up_from_two_devices_at_most_and_its_first_two_share_a_card() -> None:
    """Ring members share at most two devices; the first two pay with the ring's card."""
    provider = _provider()
    facts = sign_up_facts(provider)
    members = [a for a in provider.accounts if a.kind == AccountKind.RING]

    assert len({facts[a.external_id].device_fingerprint for a in members}) <= 2
    assert facts[members[0].external_id].payment_fingerprint == members[0].payment_fingerprint
    assert facts[members[1].external_id].payment_fingerprint == members[0].payment_fingerprint


def test_one_device_fingerprint_is_common_to_many_legitimate_accounts() -> None:
    """A default browser build signs up a large share of the legitimate accounts."""
    provider = _provider()
    facts = sign_up_facts(provider)
    legit = [a for a in provider.accounts if a.kind in AccountKind.LEGITIMATE]

    _, count = Counter(facts[a.external_id].device_fingerprint for a in legit).most_common(1)[0]

    assert count >= len(legit) // 5
