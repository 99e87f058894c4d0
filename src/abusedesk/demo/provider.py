"""Generate the provider's accounts, resources, IP pools and allocation history from a seed.

The mix imitates a small cloud messaging provider: mostly legitimate senders of three
sizes, and a handful of the bad actors an abuse desk meets every week.
"""

import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from ipaddress import IPv4Address

from abusedesk.attribution.keys import ResourceKind
from abusedesk.core.clock import as_utc
from abusedesk.demo import content
from abusedesk.demo.model import (
    BOUNCE_DOMAIN,
    REGION,
    AccountKind,
    DemoAccount,
    DemoAllocation,
    DemoPool,
    DemoProvider,
    DemoResource,
    Sender,
    SendingProfile,
)

MIN_ACCOUNTS = 10
SHARED_POOLS = {"shared-a": ("198.51.100.10", 32), "shared-b": ("198.51.100.100", 32)}
CONFIGURATION_SET_NAMES = ("default", "marketing", "transactional", "newsletters", "alerts")
FROM_LOCAL_PARTS = ("news", "hello", "no-reply", "receipts", "info", "team", "updates")


@dataclass(frozen=True)
class _Traits:
    """What every account of one kind shares: its size, its plan and how it sends."""

    size_tier: str
    plan: str
    daily_volume: tuple[int, int]
    # None where the channel has neither bounces nor complaints (SMS): nothing is drawn.
    bounce_rate: tuple[float, float] | None
    complaint_rate: tuple[float, float] | None
    sample_per_day: int
    report_weight: float
    # One campaign, or the campaigns each account of the kind picks one from.
    campaign: str | tuple[str, ...]
    bursty: bool = False
    channel: str | None = None


_LEGIT_CAMPAIGNS = ("newsletter", "transactional")
_TRAITS = {
    AccountKind.LEGIT_SMALL: _Traits(
        size_tier="small", plan="pay-as-you-go", campaign=_LEGIT_CAMPAIGNS,
        daily_volume=(100, 2_000), bounce_rate=(0.01, 0.025), complaint_rate=(0.0001, 0.0005),
        sample_per_day=12, report_weight=0.3,
    ),
    AccountKind.LEGIT_MEDIUM: _Traits(
        size_tier="medium", plan="business", campaign=_LEGIT_CAMPAIGNS,
        daily_volume=(5_000, 50_000), bounce_rate=(0.008, 0.02), complaint_rate=(0.0001, 0.0004),
        sample_per_day=35, report_weight=1.0,
    ),
    AccountKind.LEGIT_LARGE: _Traits(
        size_tier="large", plan="enterprise", campaign=_LEGIT_CAMPAIGNS, channel="sales",
        daily_volume=(100_000, 600_000), bounce_rate=(0.005, 0.015),
        complaint_rate=(0.00005, 0.0003), sample_per_day=120, report_weight=3.0,
    ),
    AccountKind.SNOWSHOE: _Traits(
        size_tier="medium", plan="pay-as-you-go", campaign="spam", bursty=True,
        daily_volume=(20_000, 80_000), bounce_rate=(0.08, 0.15), complaint_rate=(0.005, 0.02),
        sample_per_day=100, report_weight=10.0,
    ),
    AccountKind.PHISHING: _Traits(
        size_tier="small", plan="pay-as-you-go", campaign="phishing", bursty=True,
        daily_volume=(800, 4_000), bounce_rate=(0.05, 0.12), complaint_rate=(0.01, 0.03),
        sample_per_day=60, report_weight=9.0,
    ),
    AccountKind.COMPROMISED_MAILBOX: _Traits(
        size_tier="small", plan="business", campaign="mailbox",
        daily_volume=(200, 600), bounce_rate=(0.008, 0.015), complaint_rate=(0.0001, 0.0003),
        sample_per_day=25, report_weight=6.0,
    ),
    AccountKind.SMS_PUMPING: _Traits(
        size_tier="small", plan="pay-as-you-go", campaign="sms_pumping", bursty=True,
        daily_volume=(2_000, 8_000), bounce_rate=None, complaint_rate=None,
        sample_per_day=30, report_weight=8.0,
    ),
    AccountKind.RING: _Traits(
        size_tier="small", plan="pay-as-you-go", campaign="spam", bursty=True,
        daily_volume=(3_000, 12_000), bounce_rate=(0.04, 0.09), complaint_rate=(0.003, 0.01),
        sample_per_day=50, report_weight=4.0,
    ),
}  # fmt: skip


def account_kinds(count: int) -> list[str]:
    """Return the kinds of *count* accounts: every bad actor at least once, the rest legitimate."""
    if count < MIN_ACCOUNTS:
        raise ValueError(f"a demo provider needs at least {MIN_ACCOUNTS} accounts, not {count}")
    bad = (
        [AccountKind.SNOWSHOE] * max(1, count // 20)
        + [AccountKind.PHISHING] * max(1, count // 20)
        + [AccountKind.COMPROMISED_MAILBOX] * max(1, count // 60)
        + [AccountKind.SMS_PUMPING] * max(1, count // 60)
        + [AccountKind.RING] * max(3, min(6, count // 15))
    )
    legit = count - len(bad)
    large = max(1, legit // 8)
    medium = max(1, legit * 3 // 10)
    small = legit - large - medium
    return (
        [AccountKind.LEGIT_LARGE] * large
        + [AccountKind.LEGIT_MEDIUM] * medium
        + [AccountKind.LEGIT_SMALL] * small
        + bad
    )


def generate_provider(*, seed: int, accounts: int, days: int, end: datetime) -> DemoProvider:
    """Return the provider for these arguments; the same arguments always give the same one.

    The window ``[end - days, end)`` is where traffic happens; *end* is truncated to the hour.
    """
    if days < 1:
        raise ValueError(f"a demo provider needs at least one day of traffic, not {days}")
    end = as_utc(end).replace(minute=0, second=0, microsecond=0)
    builder = _Builder(random.Random(f"{seed}:provider"), end - timedelta(days=days), end)
    return builder.build(seed, account_kinds(accounts))


class _Builder:
    """Hand out unique names and addresses while the accounts are made."""

    def __init__(self, rng: random.Random, start: datetime, end: datetime) -> None:
        self.rng = rng
        self.start = start
        self.end = end
        self.window = end - start
        self.external_ids: set[str] = set()
        self.domains: set[str] = set()
        # Origination numbers and sender ids, each held by one account only.
        self.numbers: set[str] = set()
        self.pools: list[DemoPool] = []
        self.allocations: list[DemoAllocation] = []
        self.next_ipv4 = int(IPv4Address("203.0.113.1"))
        self.next_ipv6 = 1
        self.next_signup_ip = 1
        ring_slug = content.slug(rng.choice(content.RING_BRANDS))
        self.ring_brand = ring_slug
        self.ring_fingerprint = self._fingerprint()
        self.ring_signup = start - self.window * rng.uniform(0.1, 0.3)
        self.ring_urls = (
            f"{ring_slug}-offers.test",
            f"go-{rng.choice(content.SNOWSHOE_WORDS)}{rng.randrange(10, 99)}.test",
            f"trk.{ring_slug}-media.test",
        )
        self.ring_members = 0
        for name, (first, size) in SHARED_POOLS.items():
            self.pools.append(DemoPool(name, "shared", None))
            for n in range(size):
                self.allocations.append(
                    DemoAllocation(
                        str(IPv4Address(first) + n), name, None, start - timedelta(days=400), None
                    )
                )

    # --- the whole provider ------------------------------------------------------------

    def build(self, seed: int, kinds: list[str]) -> DemoProvider:
        """Make one account per kind in a shuffled order, then the cross-account history."""
        self.rng.shuffle(kinds)
        makers = {
            AccountKind.LEGIT_SMALL: self._legit_small,
            AccountKind.LEGIT_MEDIUM: self._legit_medium,
            AccountKind.LEGIT_LARGE: self._legit_large,
            AccountKind.SNOWSHOE: self._snowshoe,
            AccountKind.PHISHING: self._phishing,
            AccountKind.COMPROMISED_MAILBOX: self._compromised_mailbox,
            AccountKind.SMS_PUMPING: self._sms_pumping,
            AccountKind.RING: self._ring_member,
        }
        mediums = 0
        accounts: list[DemoAccount] = []
        for kind in kinds:
            if kind == AccountKind.LEGIT_MEDIUM:
                # The first medium sender also hosts mailboxes, the second also sends SMS:
                # mailboxes and numbers are not only what bad actors have.
                accounts.append(self._legit_medium(mailboxes=mediums == 0, sms=mediums == 1))
                mediums += 1
            else:
                accounts.append(makers[kind]())
        accounts = self._move_an_ip(accounts)
        accounts = self._share_a_domain(accounts)
        accounts = [self._join_shared_pool(a) for a in accounts]
        return DemoProvider(
            seed=seed,
            start=self.start,
            end=self.end,
            accounts=tuple(accounts),
            pools=tuple(self.pools),
            allocations=tuple(self.allocations),
        )

    def _move_an_ip(self, accounts: list[DemoAccount]) -> list[DemoAccount]:
        """Return a large sender's dedicated IP to the shared pool, then give it to a spammer.

        Attribution by IP must use the allocation in force when the mail was sent.
        """
        donor = next(
            (
                a
                for a in accounts
                if a.kind in AccountKind.LEGITIMATE and a.resources_of(ResourceKind.DEDICATED_IP)
            ),
            None,
        )
        receiver = next((a for a in accounts if a.kind == AccountKind.SNOWSHOE), None)
        if donor is None or receiver is None:
            return accounts
        ip = donor.resources_of(ResourceKind.DEDICATED_IP)[-1].value
        # On the hour, as the provider's IP moves are scheduled (and the send log samples).
        released = _hour(self.start + self.window * 0.25)
        reassigned = _hour(self.start + self.window * 0.4)
        for index, allocation in enumerate(self.allocations):
            if allocation.ip == ip:
                self.allocations[index] = replace(allocation, valid_to=released)
        self.allocations.append(DemoAllocation(ip, "shared-b", None, released, reassigned))
        pool = f"dedicated-{receiver.external_id}"
        self.allocations.append(DemoAllocation(ip, pool, receiver.external_id, reassigned, None))
        donor_resources = tuple(
            replace(r, deleted_at=released)
            if r.kind == ResourceKind.DEDICATED_IP and r.value == ip
            else r
            for r in donor.resources
        )
        receiver_resources = (
            *receiver.resources,
            DemoResource(ResourceKind.DEDICATED_IP, ip, reassigned, {"pool": pool}),
        )
        return [
            replace(a, resources=donor_resources)
            if a is donor
            else replace(a, resources=receiver_resources)
            if a is receiver
            else a
            for a in accounts
        ]

    def _join_shared_pool(self, account: DemoAccount) -> DemoAccount:
        """Record, as an ``ip_pool`` resource, when an account began to send through its pool.

        Mail leaves through the shared pool whenever the account holds no dedicated IP
        (from sign-up, or from when its last one was taken away), and from hosted
        mailboxes always.
        """
        if not account.sends_email or account.shared_pool is None:
            return account
        own = [a for a in self.allocations if a.account == account.external_id]
        moments = [account.created_at, *(a.valid_to for a in own if a.valid_to is not None)]
        without_own = [t for t in moments if t < self.end and not any(a.holds_at(t) for a in own)]
        mailboxes = [
            s.active_from for s in account.senders if s.resource.kind == ResourceKind.MAILBOX
        ]
        joined = min(without_own + mailboxes, default=None)
        if joined is None:
            return account
        membership = DemoResource(
            ResourceKind.IP_POOL, account.shared_pool, joined, {"pool_kind": "shared"}
        )
        return replace(account, resources=(*account.resources, membership))

    def _share_a_domain(self, accounts: list[DemoAccount]) -> list[DemoAccount]:
        """Let an agency (a medium sender) verify a small client's domain too.

        Two accounts holding one domain make that domain useless for attribution.
        """
        agency = next((a for a in accounts if a.kind == AccountKind.LEGIT_MEDIUM), None)
        client = next(
            (
                a
                for a in accounts
                if a.kind == AccountKind.LEGIT_SMALL
                and a.resources_of(ResourceKind.IDENTITY_DOMAIN)
            ),
            None,
        )
        if agency is None or client is None:
            return accounts
        identity = client.resources_of(ResourceKind.IDENTITY_DOMAIN)[0]
        verified = self._round(self.start - self.window * 0.5)
        shared = DemoResource(
            ResourceKind.IDENTITY_DOMAIN, identity.value, verified, identity.attributes
        )
        sender = self._domain_sender(agency.name, shared, active_from=verified, weight=0.2)
        return [
            replace(a, resources=(*a.resources, shared), senders=(*a.senders, sender))
            if a is agency
            else a
            for a in accounts
        ]

    # --- legitimate senders --------------------------------------------------------------

    def _legit_small(self) -> DemoAccount:
        name, domain = self._company()
        created = self._before_window(30, 1500)
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        if self.rng.random() < 0.7:
            identity = self._domain_identity(domain, created)
            resources.append(identity)
            senders.append(self._domain_sender(name, identity, active_from=created))
        else:
            # Only an address verified: the From domain is nobody's identity here.
            _, local = content.person(self.rng)
            identity, sender = _address_identity(f"{local}@freemail.example", name, created)
            resources.append(identity)
            senders.append(sender)
        external_id = self._external_id()
        if self.rng.random() < 0.6:
            resources.extend(self._configuration_sets(external_id, created, 1))
        profile = replace(self._profile(AccountKind.LEGIT_SMALL), url_domains=(domain,), brand=name)
        return self._account(
            AccountKind.LEGIT_SMALL,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
            contact_domain=domain,
        )

    def _legit_medium(self, *, mailboxes: bool = False, sms: bool = False) -> DemoAccount:
        name, domain = self._company()
        created = self._before_window(60, 1500)
        external_id = self._external_id()
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        domains = [domain]
        if self.rng.random() < 0.4:
            domains.append(self._subdomain(domain, "mail"))
        for each in domains:
            identity = self._domain_identity(each, created)
            resources.append(identity)
            senders.append(self._domain_sender(name, identity, active_from=created))
        resources.extend(self._configuration_sets(external_id, created, self.rng.randint(1, 3)))
        if self.rng.random() < 0.3:
            resources.extend(self._dedicated_ips(external_id, self.rng.randint(1, 2), created))
        if mailboxes:
            org, boxes = self._mail_organization(domain, created, self.rng.randint(3, 8))
            resources.append(org)
            resources.extend(boxes)
            senders.extend(self._mailbox_senders(boxes, domain, weight=0.01))
        if sms:
            resources.append(self._origination_number(created))
            resources.append(self._sender_id(name, created))
            # The same company also pushes notifications from its app.
            resources.append(_push_application(external_id, domain, created))
        profile = replace(
            self._profile(AccountKind.LEGIT_MEDIUM), url_domains=tuple(domains), brand=name
        )
        return self._account(
            AccountKind.LEGIT_MEDIUM,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
            contact_domain=domain,
        )

    def _legit_large(self) -> DemoAccount:
        name, domain = self._company()
        created = self._before_window(300, 2500)
        external_id = self._external_id()
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        domains = [domain, self._subdomain(domain, "email")]
        if self.rng.random() < 0.5:
            domains.append(self._subdomain(domain, "notify"))
        for each in domains:
            identity = self._domain_identity(each, created, custom_mail_from=True)
            resources.append(identity)
            senders.append(self._domain_sender(name, identity, active_from=created))
        resources.extend(self._configuration_sets(external_id, created, self.rng.randint(2, 4)))
        ipv6 = not any(a.ip.startswith("2001:") for a in self.allocations)
        resources.extend(
            self._dedicated_ips(external_id, self.rng.randint(2, 4), created, ipv6=ipv6)
        )
        profile = replace(
            self._profile(AccountKind.LEGIT_LARGE),
            url_domains=tuple(domains),
            own_message_ids=self.rng.random() < 0.5,
            brand=name,
        )
        return self._account(
            AccountKind.LEGIT_LARGE,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
            contact_domain=domain,
        )

    # --- bad actors ------------------------------------------------------------------------

    def _snowshoe(self) -> DemoAccount:
        """Spread spam thin over many throwaway domains and IPs, rotating them over time."""
        created = self._round(self.start + self.window * self.rng.uniform(0.03, 0.2))
        external_id = self._external_id()
        word = self.rng.choice(content.SNOWSHOE_WORDS).title()
        name = f"{word} {self.rng.choice(('Media', 'Promotions', 'Direct', 'Reach'))} LLC"
        count = self.rng.randint(8, 16)
        span = (self.end - created) / count
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        for n in range(count):
            domain = self._snowshoe_domain()
            active_from = self._round(created + span * n)
            retired = None if n >= count - 2 else self._round(created + span * (n + 1.5))
            identity = replace(self._domain_identity(domain, active_from), deleted_at=retired)
            resources.append(identity)
            senders.append(
                self._domain_sender(name, identity, active_from=active_from, active_to=retired)
            )
        resources.extend(self._configuration_sets(external_id, created, 1))
        resources.extend(self._dedicated_ips(external_id, self.rng.randint(3, 6), created))
        profile = replace(
            self._profile(AccountKind.SNOWSHOE),
            url_domains=tuple(r.value for r in resources if r.kind == ResourceKind.IDENTITY_DOMAIN),
            brand=name,
        )
        return self._account(
            AccountKind.SNOWSHOE,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
        )

    def _phishing(self) -> DemoAccount:
        """Send credential phishing from lookalike domains of a (fictional) bank or service."""
        created = self._round(self.start + self.window * self.rng.uniform(0.3, 0.7))
        external_id = self._external_id()
        brand, brand_slug = self.rng.choice(content.PHISHED_BRANDS)
        patterns = self.rng.sample(content.PHISHING_PATTERNS, self.rng.randint(1, 2))
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        for pattern in patterns:
            domain = self._unique_domain(
                pattern.format(slug=brand_slug), self.rng.choice((".test", ".example"))
            )
            if self.rng.random() < 0.4:
                # Only the address verified: the provider signs, the domain proves nothing.
                identity, sender = _address_identity(f"security@{domain}", brand, created)
            else:
                identity = self._domain_identity(domain, created)
                sender = replace(
                    self._domain_sender(brand, identity, active_from=created),
                    from_address=f"security@{domain}",
                )
            resources.append(identity)
            senders.append(replace(sender, display_name=f"{brand} Security"))
        garden = f"blog.{self.rng.choice(content.FIRST_WORDS).lower()}-garden.example"
        profile = replace(
            self._profile(AccountKind.PHISHING),
            url_domains=(*(_domain_of(r.value) for r in resources), garden),
            brand=brand,
        )
        name = f"{brand_slug.title()} Services {self.rng.randrange(10, 99)}"
        return self._account(
            AccountKind.PHISHING,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
        )

    def _compromised_mailbox(self) -> DemoAccount:
        """A long-standing organisation whose hosted mailboxes suddenly send spam."""
        name, domain = self._company()
        created = self._before_window(200, 1500)
        external_id = self._external_id()
        identity = self._domain_identity(domain, created)
        org, boxes = self._mail_organization(domain, created, self.rng.randint(5, 15))
        senders = self._mailbox_senders(boxes, domain)
        compromised_at = self._round(self.end - self.window * self.rng.uniform(0.08, 0.15))
        profile = replace(
            self._profile(AccountKind.COMPROMISED_MAILBOX),
            url_domains=(domain, f"docs-share-{content.token(self.rng, 5)}.test"),
            brand=name,
        )
        return self._account(
            AccountKind.COMPROMISED_MAILBOX,
            external_id=external_id,
            name=name,
            created=created,
            resources=[identity, org, *boxes],
            profile=profile,
            senders=senders,
            contact_domain=domain,
            compromised_at=compromised_at,
            compromised_mailboxes=tuple(b.value for b in boxes[: self.rng.randint(2, 3)]),
        )

    def _sms_pumping(self) -> DemoAccount:
        """Pump one-time-passcode traffic to high-cost destinations, plus some SMS spam."""
        created = self._round(self.start - self.window * self.rng.uniform(0.1, 0.5))
        external_id = self._external_id()
        name = f"{self.rng.choice(content.FIRST_WORDS)} Verify Ltd"
        resources = [self._origination_number(created) for _ in range(self.rng.randint(2, 4))]
        resources.extend(self._sender_id(name, created) for _ in range(self.rng.randint(1, 2)))
        resources.append(_push_application(external_id, f"{content.slug(name)}.test", created))
        profile = replace(
            self._profile(AccountKind.SMS_PUMPING),
            url_domains=(f"claim-{content.token(self.rng, 6)}.test",),
            brand=name,
        )
        return self._account(
            AccountKind.SMS_PUMPING,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=[],
        )

    def _ring_member(self) -> DemoAccount:
        """One of several accounts run by one party: same card, same links, new names."""
        created = self._round(self.ring_signup + timedelta(hours=self.rng.uniform(0, 6)))
        external_id = self._external_id()
        self.ring_members += 1
        brand = self.ring_brand.replace("-", " ").title()
        name = (
            f"{brand}{content.RING_SUFFIXES[(self.ring_members - 1) % len(content.RING_SUFFIXES)]}"
        )
        if self.ring_members > len(content.RING_SUFFIXES):
            name = f"{name} {self.ring_members}"
        resources: list[DemoResource] = []
        senders: list[Sender] = []
        for _ in range(self.rng.randint(1, 2)):
            domain = self._unique_domain(
                f"{self.ring_brand}-{self.rng.choice(content.SNOWSHOE_WORDS)}", ".test"
            )
            identity = self._domain_identity(domain, created)
            resources.append(identity)
            senders.append(self._domain_sender(name, identity, active_from=created))
        resources.extend(self._configuration_sets(external_id, created, 1))
        profile = replace(self._profile(AccountKind.RING), url_domains=self.ring_urls, brand=name)
        return self._account(
            AccountKind.RING,
            external_id=external_id,
            name=name,
            created=created,
            resources=resources,
            profile=profile,
            senders=senders,
            contact_domain=resources[0].value,
            fingerprint=self.ring_fingerprint,
            signup_ip="192.0.2.250",
        )

    # --- parts -------------------------------------------------------------------------------

    def _account(
        self,
        kind: str,
        *,
        external_id: str,
        name: str,
        created: datetime,
        resources: list[DemoResource],
        profile: SendingProfile,
        senders: list[Sender],
        contact_domain: str | None = None,
        fingerprint: str | None = None,
        signup_ip: str | None = None,
        compromised_at: datetime | None = None,
        compromised_mailboxes: tuple[str, ...] = (),
    ) -> DemoAccount:
        """Return an account with the attributes any customer has (plan, signup, payment).

        Without *contact_domain* the contact address is at a free mailbox provider, as
        throwaway sign-ups give.
        """
        traits = _TRAITS[kind]
        _, local = content.person(self.rng)
        contact = (
            f"{local}@{contact_domain}"
            if contact_domain
            else f"{local}{self.rng.randrange(100, 999)}@freemail.example"
        )
        if fingerprint is None and traits.plan != "enterprise":
            fingerprint = self._fingerprint()
        attributes = {
            "plan": traits.plan,
            "signup_channel": traits.channel or self.rng.choice(("web", "web", "web", "partner")),
            "region": REGION,
            "signup_ip": signup_ip or self._signup_ip(),
            "production_access": True,
            # The number the account's ARNs carry (push applications).
            "account_number": push_account_number(external_id),
        }
        return DemoAccount(
            external_id=external_id,
            name=name,
            kind=kind,
            size_tier=traits.size_tier,
            contact_email=contact,
            country=self.rng.choice(content.COUNTRIES),
            payment_fingerprint=fingerprint,
            created_at=created,
            attributes=attributes,
            resources=tuple(resources),
            profile=profile,
            senders=tuple(senders),
            shared_pool=self.rng.choice(tuple(SHARED_POOLS)),
            compromised_at=compromised_at,
            compromised_mailboxes=compromised_mailboxes,
        )

    def _profile(self, kind: str) -> SendingProfile:
        """Draw the volume, the rates and the campaign of an account of *kind*, in that order.

        The URLs and the brand are left for the caller to fill in.
        """
        traits = _TRAITS[kind]
        return SendingProfile(
            daily_volume=self.rng.randrange(*traits.daily_volume),
            bounce_rate=self._rate(traits.bounce_rate),
            complaint_rate=self._rate(traits.complaint_rate),
            sample_per_day=traits.sample_per_day,
            report_weight=traits.report_weight,
            campaign=traits.campaign
            if isinstance(traits.campaign, str)
            else self.rng.choice(traits.campaign),
            bursty=traits.bursty,
        )

    def _rate(self, bounds: tuple[float, float] | None) -> float:
        return 0.0 if bounds is None else self.rng.uniform(*bounds)

    def _domain_identity(
        self, domain: str, created: datetime, *, custom_mail_from: bool = False
    ) -> DemoResource:
        """Return a verified domain identity with Easy-DKIM-style selectors."""
        selectors = [content.token(self.rng, 32) for _ in range(3)]
        attributes: dict[str, object] = {
            "dkim": "easy_dkim",
            "dkim_selectors": selectors,
            "verified_at": _iso(created),
        }
        if custom_mail_from:
            attributes["mail_from_domain"] = f"mail.{domain}"
        return DemoResource(ResourceKind.IDENTITY_DOMAIN, domain, created, attributes)

    def _domain_sender(
        self,
        name: str,
        identity: DemoResource,
        *,
        active_from: datetime,
        active_to: datetime | None = None,
        weight: float = 1.0,
    ) -> Sender:
        domain = identity.value
        selectors = identity.attributes.get("dkim_selectors") or [None]
        return Sender(
            resource=identity,
            from_address=f"{self.rng.choice(FROM_LOCAL_PARTS)}@{domain}",
            display_name=name,
            dkim_domain=domain,
            dkim_selector=selectors[0],
            mail_from_domain=identity.attributes.get("mail_from_domain") or BOUNCE_DOMAIN,
            active_from=active_from,
            active_to=active_to,
            weight=weight,
        )

    def _mail_organization(
        self, domain: str, created: datetime, count: int
    ) -> tuple[DemoResource, list[DemoResource]]:
        """Return a hosted-mailbox organisation and its mailboxes."""
        org_id = f"m-{self.rng.getrandbits(128):032x}"
        org = DemoResource(
            ResourceKind.MAIL_ORGANIZATION,
            org_id,
            created,
            {"alias": domain.partition(".")[0], "domain": domain},
        )
        boxes: list[DemoResource] = []
        locals_seen: set[str] = set()
        while len(boxes) < count:
            display, local = content.person(self.rng)
            if local in locals_seen:
                continue
            locals_seen.add(local)
            boxes.append(
                DemoResource(
                    ResourceKind.MAILBOX,
                    f"{local}@{domain}",
                    created,
                    {"organization": org_id, "display_name": display},
                )
            )
        return org, boxes

    def _mailbox_senders(
        self, boxes: list[DemoResource], domain: str, weight: float = 1.0
    ) -> list[Sender]:
        return [
            Sender(
                resource=box,
                from_address=box.value,
                display_name=str(box.attributes["display_name"]),
                dkim_domain=domain,
                dkim_selector="workmail",
                mail_from_domain=domain,
                active_from=box.created_at,
                active_to=None,
                weight=weight,
            )
            for box in boxes
        ]

    def _configuration_sets(
        self, external_id: str, created: datetime, count: int
    ) -> list[DemoResource]:
        """Return configuration sets whose Feedback-ID names the account."""
        return [
            DemoResource(
                ResourceKind.CONFIGURATION_SET,
                name,
                created,
                {"feedback_id": f"{name}:{external_id}:cloudmail", "event_destination": "sns"},
            )
            for name in CONFIGURATION_SET_NAMES[:count]
        ]

    def _dedicated_ips(
        self, external_id: str, count: int, since: datetime, *, ipv6: bool = False
    ) -> list[DemoResource]:
        """Return dedicated IPs in the account's own pool, and record their allocations."""
        pool = f"dedicated-{external_id}"
        if not any(p.name == pool for p in self.pools):
            self.pools.append(DemoPool(pool, "dedicated", external_id))
        resources = []
        for _ in range(count):
            ip = self._next_ip(ipv6=ipv6)
            self.allocations.append(DemoAllocation(ip, pool, external_id, since, None))
            resources.append(DemoResource(ResourceKind.DEDICATED_IP, ip, since, {"pool": pool}))
        return resources

    def _next_ip(self, *, ipv6: bool) -> str:
        if ipv6 or self.next_ipv4 > int(IPv4Address("203.0.113.254")):
            self.next_ipv6 += 1
            return f"2001:db8:10::{self.next_ipv6:x}"
        ip = str(IPv4Address(self.next_ipv4))
        self.next_ipv4 += 1
        return ip

    def _origination_number(self, created: datetime) -> DemoResource:
        number = content.fictional_number(self.rng, uk=self.rng.random() < 0.3)
        while number in self.numbers:
            number = content.fictional_number(self.rng, uk=self.rng.random() < 0.3)
        self.numbers.add(number)
        return DemoResource(
            ResourceKind.ORIGINATION_NUMBER,
            number,
            created,
            {
                "type": "long_code" if number.startswith("+44") else "toll_free",
                "country": number[:3],
            },
        )

    def _sender_id(self, name: str, created: datetime) -> DemoResource:
        letters = "".join(c for c in name.upper() if c.isalpha())
        value = letters[:6] + self.rng.choice(("ALRT", "OTP", "INFO", "VRFY"))
        while value in self.numbers:
            value = f"{letters[:5]}{self.rng.randrange(10, 99)}{self.rng.choice(('OTP', 'MSG'))}"
        self.numbers.add(value)
        return DemoResource(ResourceKind.SENDER_ID, value, created, {"countries": ["GB", "DE"]})

    def _company(self) -> tuple[str, str]:
        """Return a fictional company name and a fresh domain for it."""
        first = self.rng.choice(content.FIRST_WORDS)
        second = self.rng.choice(content.SECOND_WORDS)
        name = f"{first} {second}{self.rng.choice(content.COMPANY_SUFFIXES)}"
        return name, self._unique_domain(content.slug(f"{first} {second}"), ".example")

    def _subdomain(self, domain: str, prefix: str) -> str:
        label, _, tld = domain.rpartition(".")
        return self._unique_domain(f"{prefix}.{label}", f".{tld}")

    def _snowshoe_domain(self) -> str:
        words = self.rng.sample(content.SNOWSHOE_WORDS, 2)
        return self._unique_domain(f"{words[0]}{words[1]}{self.rng.randrange(10, 99)}", ".test")

    def _unique_domain(self, label: str, tld: str) -> str:
        candidate, n = f"{label}{tld}", 2
        while candidate in self.domains:
            candidate = f"{label}{n}{tld}"
            n += 1
        self.domains.add(candidate)
        return candidate

    def _external_id(self) -> str:
        while True:
            candidate = f"ac-{self.rng.getrandbits(32):08x}"
            if candidate not in self.external_ids:
                self.external_ids.add(candidate)
                return candidate

    def _fingerprint(self) -> str:
        return f"pf_{self.rng.getrandbits(64):016x}"

    def _signup_ip(self) -> str:
        self.next_signup_ip = self.next_signup_ip % 240 + 1
        return f"192.0.2.{self.next_signup_ip}"

    def _before_window(self, low_days: int, high_days: int) -> datetime:
        return self._round(self.start - timedelta(days=self.rng.uniform(low_days, high_days)))

    @staticmethod
    def _round(value: datetime) -> datetime:
        return value.replace(microsecond=0)


def _address_identity(
    address: str, display_name: str, created: datetime
) -> tuple[DemoResource, Sender]:
    """Return a verified address identity and its sender, which the provider signs for."""
    identity = DemoResource(
        ResourceKind.IDENTITY_ADDRESS, address, created, {"verified_at": _iso(created)}
    )
    sender = Sender(identity, address, display_name, None, None, BOUNCE_DOMAIN, created, None)
    return identity, sender


def push_account_number(external_id: str) -> str:
    """Return the twelve-digit number the provider's ARNs use for an account."""
    return f"{int(external_id.removeprefix('ac-'), 16):012d}"


def _push_application(external_id: str, domain: str, created: datetime) -> DemoResource:
    """Return an APNS platform application named after *domain*, as its ARN."""
    name = "".join(word.title() for word in domain.split(".", maxsplit=1)[0].split("-")) + "App"
    arn = f"arn:aws:sns:{REGION}:{push_account_number(external_id)}:app/APNS/{name}"
    return DemoResource(
        ResourceKind.PUSH_APPLICATION,
        arn,
        created,
        {
            "platform": "APNS",
            "name": name,
            "bundle_id": f"{'.'.join(reversed(domain.split('.')))}.app",
        },
    )


def _hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2]


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
