"""The simulated provider: deterministic, every bad actor present, nothing real named."""

import ipaddress
import re
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo.model import AccountKind, DemoProvider
from abusedesk.demo.provider import MIN_ACCOUNTS, account_kinds, generate_provider

END = datetime(2026, 3, 2, 12, tzinfo=UTC)
DOCUMENTATION_NETWORKS = [
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


@pytest.fixture(scope="module")
def provider() -> DemoProvider:
    """Return a provider of 60 accounts over 14 days."""
    return generate_provider(seed=1, accounts=60, days=14, end=END)


def _kinds(provider: DemoProvider, kind: str) -> list:
    return [a for a in provider.accounts if a.kind == kind]


def test_same_seed_gives_the_same_provider() -> None:
    """Two runs with the same arguments produce equal providers."""
    first = generate_provider(seed=7, accounts=20, days=3, end=END)
    second = generate_provider(seed=7, accounts=20, days=3, end=END)
    assert first == second


def test_different_seeds_give_different_accounts() -> None:
    """Another seed gives other external ids and names."""
    first = generate_provider(seed=7, accounts=20, days=3, end=END)
    second = generate_provider(seed=8, accounts=20, days=3, end=END)
    assert {a.external_id for a in first.accounts} != {a.external_id for a in second.accounts}


@pytest.mark.parametrize("count", [MIN_ACCOUNTS, 25, 60, 200])
def test_every_kind_of_account_is_present(count: int) -> None:
    """Each legitimate size and each bad actor appears at least once, whatever the count."""
    kinds = account_kinds(count)
    assert (len(kinds), set(kinds)) == (count, set(AccountKind.ALL))


def test_fewer_accounts_than_the_minimum_are_refused() -> None:
    """A provider too small to hold every kind of account is an error, not a silent gap."""
    with pytest.raises(ValueError, match="at least"):
        generate_provider(seed=1, accounts=MIN_ACCOUNTS - 1, days=3, end=END)


def test_most_accounts_are_legitimate(provider: DemoProvider) -> None:
    """Legitimate senders outnumber bad actors several times over."""
    legit = sum(1 for a in provider.accounts if a.kind in AccountKind.LEGITIMATE)
    assert legit >= 4 * (len(provider.accounts) - legit)


def test_external_ids_are_unique(provider: DemoProvider) -> None:
    """No two accounts share an external id."""
    ids = [a.external_id for a in provider.accounts]
    assert len(ids) == len(set(ids))


def test_account_attributes_never_carry_the_kind(provider: DemoProvider) -> None:
    """Nothing stored with an account says what it really is."""
    labels = set(AccountKind.ALL)
    leaked = [
        a.external_id
        for a in provider.accounts
        if labels & {str(v) for v in a.attributes.values()}
        or labels & set(a.attributes)
        or any(label in a.name.lower() for label in labels)
    ]
    assert leaked == []


def test_ring_accounts_share_one_payment_fingerprint_nobody_else_has(
    provider: DemoProvider,
) -> None:
    """The linked accounts pay with the same card, and only they do."""
    ring = _kinds(provider, AccountKind.RING)
    fingerprints = {a.payment_fingerprint for a in ring}
    holders = [a for a in provider.accounts if a.payment_fingerprint in fingerprints]
    assert (len(fingerprints), len(holders)) == (1, len(ring))


def test_ring_accounts_link_to_the_same_url_domains(provider: DemoProvider) -> None:
    """Every account of the ring spreads the same links."""
    ring = _kinds(provider, AccountKind.RING)
    assert len({a.profile.url_domains for a in ring}) == 1


def test_snowshoe_spammers_rotate_through_many_domains(provider: DemoProvider) -> None:
    """A snowshoe account holds many domain identities, most of them already deleted."""
    for account in _kinds(provider, AccountKind.SNOWSHOE):
        domains = account.resources_of(ResourceKind.IDENTITY_DOMAIN)
        live = [d.value for d in domains if d.deleted_at is None]
        assert len(domains) >= 8
        assert len(live) == 2


def test_phishing_domains_imitate_a_brand(provider: DemoProvider) -> None:
    """Phishing senders use lookalike login and security names of a fictional brand."""
    for account in _kinds(provider, AccountKind.PHISHING):
        from_addresses = [s.from_address for s in account.senders]
        assert all(re.search(r"(secure|login|verify|alerts|account)", a) for a in from_addresses), (
            from_addresses
        )


def test_compromised_organisation_has_mailboxes_taken_over(provider: DemoProvider) -> None:
    """The hosted-mailbox organisation has an organisation, mailboxes, and some taken over."""
    (account,) = _kinds(provider, AccountKind.COMPROMISED_MAILBOX)
    mailboxes = {r.value for r in account.resources_of(ResourceKind.MAILBOX)}
    assert len(account.resources_of(ResourceKind.MAIL_ORGANIZATION)) == 1
    assert account.compromised_mailboxes
    assert set(account.compromised_mailboxes) <= mailboxes
    assert account.compromised_at is not None
    assert provider.start < account.compromised_at < provider.end


def test_sms_pumping_account_sends_from_numbers_and_sender_ids(provider: DemoProvider) -> None:
    """The pumping account holds E.164 origination numbers and alphanumeric sender ids."""
    (account,) = _kinds(provider, AccountKind.SMS_PUMPING)
    numbers = [r.value for r in account.resources_of(ResourceKind.ORIGINATION_NUMBER)]
    sender_ids = [r.value for r in account.resources_of(ResourceKind.SENDER_ID)]
    assert numbers
    assert sender_ids
    assert [n for n in numbers if not re.fullmatch(r"\+[1-9]\d{7,14}", n)] == []
    assert [s for s in sender_ids if not re.fullmatch(r"[A-Z0-9]{3,11}", s)] == []


def test_every_ip_is_in_a_documentation_range(provider: DemoProvider) -> None:
    """Sending IPs come from RFC 5737 and RFC 3849 ranges only."""
    ips = {a.ip for a in provider.allocations}
    outside = [
        ip
        for ip in ips
        if not any(ipaddress.ip_address(ip) in net for net in DOCUMENTATION_NETWORKS)
    ]
    assert outside == []


def test_every_domain_is_under_a_reserved_name(provider: DemoProvider) -> None:
    """Identities, mailboxes and contact addresses end in .example or .test."""
    names = [a.contact_email for a in provider.accounts] + [
        r.value
        for a in provider.accounts
        for r in a.resources
        if r.kind
        in (ResourceKind.IDENTITY_DOMAIN, ResourceKind.IDENTITY_ADDRESS, ResourceKind.MAILBOX)
    ]
    assert [n for n in names if not n.endswith((".example", ".test"))] == []


def test_one_ip_moved_from_one_account_to_another(provider: DemoProvider) -> None:
    """An IP was dedicated to one account, then shared, then dedicated to a spammer, in turn."""
    history: dict[str, list] = {}
    for allocation in provider.allocations:
        history.setdefault(allocation.ip, []).append(allocation)
    moved = [h for h in history.values() if len({a.account for a in h if a.account}) > 1]
    (steps,) = moved
    steps.sort(key=lambda a: a.valid_from)
    assert [
        (a.pool is not None and a.pool.startswith("shared"), a.account is not None) for a in steps
    ] == [(False, True), (True, False), (False, True)]
    assert all(a.valid_to == b.valid_from for a, b in pairwise(steps))


def test_a_domain_is_verified_by_two_accounts(provider: DemoProvider) -> None:
    """One client domain is also an agency's identity, so it names nobody alone."""
    holders = Counter(
        r.value for a in provider.accounts for r in a.resources_of(ResourceKind.IDENTITY_DOMAIN)
    )
    assert [d for d, n in holders.items() if n > 1] != []


def test_configuration_sets_carry_a_feedback_id_naming_the_account(
    provider: DemoProvider,
) -> None:
    """Each configuration set's Feedback-ID contains its account's external id."""
    wrong = [
        (a.external_id, r.attributes["feedback_id"])
        for a in provider.accounts
        for r in a.resources_of(ResourceKind.CONFIGURATION_SET)
        if a.external_id not in r.attributes["feedback_id"]
    ]
    assert wrong == []


def test_domain_identities_are_lowercase_with_dkim_selectors(provider: DemoProvider) -> None:
    """Domain identities are stored lowercased, each with its DKIM selectors."""
    bad = [
        r.value
        for a in provider.accounts
        for r in a.resources_of(ResourceKind.IDENTITY_DOMAIN)
        if r.value != r.value.lower() or not r.attributes.get("dkim_selectors")
    ]
    assert bad == []


def test_every_resource_is_of_a_kind_the_inventory_knows(provider: DemoProvider) -> None:
    """Resource kinds are the attribution inventory's own, nothing of the generator's."""
    kinds = {r.kind for a in provider.accounts for r in a.resources}
    assert kinds - set(ResourceKind.ALL) == set()
    assert {ResourceKind.IP_POOL, ResourceKind.PUSH_APPLICATION} <= kinds


def test_push_applications_carry_the_account_number_in_their_arn(provider: DemoProvider) -> None:
    """Each push application's ARN names the number recorded with its account."""
    apps = [
        (a.attributes["account_number"], r.value)
        for a in provider.accounts
        for r in a.resources_of(ResourceKind.PUSH_APPLICATION)
    ]
    assert apps
    assert [arn for number, arn in apps if f":{number}:app/APNS/" not in arn] == []


def test_pool_memberships_start_when_the_account_first_needs_the_pool(
    provider: DemoProvider,
) -> None:
    """An account with a dedicated IP all along joins its pool only for hosted mailboxes."""
    wrong = [
        a.external_id
        for a in provider.accounts
        for pool in a.resources_of(ResourceKind.IP_POOL)
        if pool.value != a.shared_pool
        or (
            not a.resources_of(ResourceKind.MAILBOX)
            and any(ip.live_at(pool.created_at) for ip in a.resources_of(ResourceKind.DEDICATED_IP))
        )
    ]
    assert wrong == []
