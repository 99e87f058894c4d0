"""Sign-up facts a provider feeds in about its accounts, and the rings planted among them.

The generated provider gives every ring member one card; real rings are less tidy. Here,
from the provider and its seed, each account gets the fingerprints its provider would
feed in (hashed, as a provider keeps them), with the untidiness a linker must cope with:

* a ring pays with its own card for its first two accounts, then with a fresh card half
  of the time, and signs up from one of two devices;
* a large share of legitimate accounts sign up from one common device fingerprint (a
  browser's default build behind a corporate image): a value so common it says nothing;
* enterprise accounts pay by invoice and have no payment fingerprint at all.

The ground truth is the provider's own: the accounts of kind ``ring`` are one ring.
"""

import hashlib
import random
from dataclasses import dataclass

from abusedesk.demo.model import AccountKind, DemoProvider

# Share of legitimate accounts signing up from the common device fingerprint.
COMMON_DEVICE_SHARE = 0.3
# Share of ring accounts (after the first two) that pay with a fresh card.
FRESH_CARD_SHARE = 0.5
RING_DEVICES = 2


@dataclass(frozen=True)
class SignUpFacts:
    """What the provider knows of one account's sign-up, hashed."""

    external_id: str
    payment_fingerprint: str | None
    device_fingerprint: str


def sign_up_facts(provider: DemoProvider) -> dict[str, SignUpFacts]:
    """Return the sign-up facts of every account; the same provider always gives the same."""
    rng = random.Random(f"{provider.seed}:linking")
    common_device = _hashed(rng, "device")
    ring_devices = [_hashed(rng, "device") for _ in range(RING_DEVICES)]
    facts: dict[str, SignUpFacts] = {}
    ring_seen = 0
    for account in provider.accounts:
        card = account.payment_fingerprint
        if account.kind == AccountKind.RING:
            ring_seen += 1
            if ring_seen > 2 and rng.random() < FRESH_CARD_SHARE:
                card = f"pf_{rng.getrandbits(64):016x}"
            device = rng.choice(ring_devices)
        elif account.kind in AccountKind.LEGITIMATE and rng.random() < COMMON_DEVICE_SHARE:
            device = common_device
        else:
            device = _hashed(rng, "device")
        facts[account.external_id] = SignUpFacts(account.external_id, card, device)
    return facts


def planted_rings(provider: DemoProvider) -> list[frozenset[str]]:
    """Return the rings the provider holds, each as its members' external ids."""
    ring = frozenset(a.external_id for a in provider.accounts if a.kind == AccountKind.RING)
    return [ring] if len(ring) > 1 else []


def _hashed(rng: random.Random, what: str) -> str:
    return hashlib.sha256(f"{what}:{rng.getrandbits(64)}".encode()).hexdigest()
