"""The generated provider as plain frozen dataclasses: accounts, resources, IPs, traffic."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from abusedesk.attribution.keys import ResourceKind

# The provider's own names. Everything lives under reserved names (RFC 2606 / RFC 6761)
# and documentation address ranges (RFC 5737, RFC 3849) so that nothing real is named.
PROVIDER_DOMAIN = "cloudmail.example"
MESSAGE_ID_DOMAIN = f"email.{PROVIDER_DOMAIN}"
BOUNCE_DOMAIN = f"bounces.{PROVIDER_DOMAIN}"
REGION = "us-east-1"

# Recipient mailbox providers, grouped the way sending statistics group them.
DESTINATION_DOMAINS: Mapping[str, tuple[str, ...]] = {
    "gmail": ("gmail.example", "googlemail.example"),
    "microsoft": ("outlook.example", "hotmail.example"),
    "yahoo": ("yahoo.example", "aol.example"),
    "other": ("cablenet.example", "telemail.example", "isp-north.example", "uni-mail.example"),
}
DESTINATION_GROUPS = tuple(DESTINATION_DOMAINS)


class AccountKind:
    """What an account really is; known to the generator and the ground truth only."""

    LEGIT_SMALL = "legit_small"
    LEGIT_MEDIUM = "legit_medium"
    LEGIT_LARGE = "legit_large"
    SNOWSHOE = "snowshoe"
    PHISHING = "phishing"
    COMPROMISED_MAILBOX = "compromised_mailbox"
    SMS_PUMPING = "sms_pumping"
    RING = "ring"

    LEGITIMATE = (LEGIT_SMALL, LEGIT_MEDIUM, LEGIT_LARGE)
    BAD = (SNOWSHOE, PHISHING, COMPROMISED_MAILBOX, SMS_PUMPING, RING)
    ALL = LEGITIMATE + BAD


@dataclass(frozen=True)
class DemoResource:
    """Something that sends for an account: an identity, IP, number, mailbox ..."""

    kind: str
    value: str
    created_at: datetime
    # Left out of the hash (a dict has none); kind, value and times identify a resource.
    attributes: Mapping[str, Any] = field(default_factory=dict, hash=False)
    deleted_at: datetime | None = None

    def live_at(self, at: datetime) -> bool:
        """Tell whether the resource existed and was not deleted at *at*."""
        return self.created_at <= at and (self.deleted_at is None or at < self.deleted_at)


@dataclass(frozen=True)
class Sender:
    """A From identity an account sends mail with, and when it used it."""

    resource: DemoResource
    from_address: str
    display_name: str
    dkim_domain: str | None
    dkim_selector: str | None
    mail_from_domain: str
    active_from: datetime
    active_to: datetime | None
    weight: float = 1.0

    def active_at(self, at: datetime) -> bool:
        """Tell whether the account sent with this identity at *at*."""
        return self.active_from <= at and (self.active_to is None or at < self.active_to)


@dataclass(frozen=True)
class SendingProfile:
    """How an account sends: volume, bounce and complaint rates, and what its mail says."""

    daily_volume: int
    bounce_rate: float
    complaint_rate: float
    sample_per_day: int
    report_weight: float
    campaign: str
    url_domains: tuple[str, ...] = ()
    bursty: bool = False
    own_message_ids: bool = False
    brand: str = ""


@dataclass(frozen=True)
class DemoAccount:
    """A customer of the provider, with its resources and how it behaves."""

    external_id: str
    name: str
    kind: str
    size_tier: str
    contact_email: str
    country: str
    payment_fingerprint: str | None
    created_at: datetime
    attributes: Mapping[str, Any]
    resources: tuple[DemoResource, ...]
    profile: SendingProfile
    senders: tuple[Sender, ...] = ()
    shared_pool: str | None = None
    # A hosted-mailbox organisation whose mailboxes were taken over from this moment,
    # and the addresses of the mailboxes taken over.
    compromised_at: datetime | None = None
    compromised_mailboxes: tuple[str, ...] = ()

    def resources_of(self, kind: str) -> tuple[DemoResource, ...]:
        """Return the account's resources of one kind."""
        return tuple(r for r in self.resources if r.kind == kind)

    @property
    def sends_email(self) -> bool:
        """Tell whether the account sends email at all."""
        return bool(self.senders)


@dataclass(frozen=True)
class DemoPool:
    """An IP pool: shared by many accounts, or dedicated to one."""

    name: str
    kind: str
    account: str | None


@dataclass(frozen=True)
class DemoAllocation:
    """Which account or pool held an IP during [valid_from, valid_to)."""

    ip: str
    pool: str | None
    account: str | None
    valid_from: datetime
    valid_to: datetime | None

    def holds_at(self, at: datetime) -> bool:
        """Tell whether this allocation was in force at *at*."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class DemoProvider:
    """The whole generated provider: accounts, pools and the IP allocation history."""

    seed: int
    start: datetime
    end: datetime
    accounts: tuple[DemoAccount, ...]
    pools: tuple[DemoPool, ...]
    allocations: tuple[DemoAllocation, ...]

    def account(self, external_id: str) -> DemoAccount:
        """Return the account with this external id."""
        for account in self.accounts:
            if account.external_id == external_id:
                return account
        raise KeyError(external_id)

    def pool_ips(self, pool: str, at: datetime) -> tuple[str, ...]:
        """Return the IPs in *pool* at *at*."""
        return tuple(a.ip for a in self.allocations if a.pool == pool and a.holds_at(at))

    def dedicated_ips(self, external_id: str, at: datetime) -> tuple[str, ...]:
        """Return the IPs dedicated to an account at *at*."""
        return tuple(a.ip for a in self.allocations if a.account == external_id and a.holds_at(at))

    def ip_holder(self, ip: str, at: datetime) -> str | None:
        """Return the account an IP was dedicated to at *at*, or None (shared or unknown)."""
        for allocation in self.allocations:
            if allocation.ip == ip and allocation.holds_at(at):
                return allocation.account
        return None

    def holds_ip(self, ip: str) -> bool:
        """Tell whether *ip* was ever the provider's (in any pool or dedicated to anyone)."""
        return any(allocation.ip == ip for allocation in self.allocations)

    def moved_ips(self) -> tuple[str, ...]:
        """Return the IPs dedicated to more than one account over time, in order."""
        holders: dict[str, set[str]] = {}
        for allocation in self.allocations:
            if allocation.account is not None:
                holders.setdefault(allocation.ip, set()).add(allocation.account)
        return tuple(sorted(ip for ip, accounts in holders.items() if len(accounts) > 1))

    def identity_holders(self, domain: str, at: datetime) -> tuple[str, ...]:
        """Return the accounts holding *domain* as a live verified identity at *at*."""
        return tuple(
            account.external_id
            for account in self.accounts
            for resource in account.resources
            if resource.kind == ResourceKind.IDENTITY_DOMAIN
            and resource.value == domain
            and resource.live_at(at)
        )

    def resource_holders(self, kind: str, value: str, at: datetime) -> tuple[str, ...]:
        """Return the accounts holding a live resource of *kind* and *value* at *at*."""
        return tuple(
            account.external_id
            for account in self.accounts
            for resource in account.resources
            if resource.kind == kind and resource.value == value and resource.live_at(at)
        )


@dataclass(frozen=True)
class SentMessage:
    """One email in the (sampled) send log, with what a recipient would see of it."""

    provider_message_id: str
    message_id_header: str
    account: str
    sender: Sender
    configuration_set: str | None
    feedback_id: str | None
    source_ip: str
    mail_from: str
    recipient: str
    destination_group: str
    subject: str
    urls: tuple[str, ...]
    campaign: str
    sent_at: datetime

    @property
    def recipient_domain(self) -> str:
        """Return the recipient's domain."""
        return self.recipient.rpartition("@")[2]


@dataclass(frozen=True)
class SmsMessage:
    """One text message an account sent (kept by the generator only; no table holds SMS)."""

    message_id: str
    account: str
    origination: DemoResource
    destination: str
    destination_country: str
    text: str
    sent_at: datetime


@dataclass(frozen=True)
class HourlyStat:
    """Sending figures for one account, hour and destination group.

    All of the account's mail, or one part of it: one identity (*resource*), its mail
    through one IP pool (*pool*), or one Feedback-ID campaign (*feedback_id*).
    """

    account: str
    resource: DemoResource | None
    hour: datetime
    destination_group: str
    sent: int
    delivered: int
    hard_bounces: int
    hard_bounces_non_verified: int
    fbl_sent: int
    complaints: int
    trap_hits: int = 0
    pool: str | None = None
    feedback_id: str | None = None

    @property
    def is_account_row(self) -> bool:
        """Tell whether the row holds all of the account's mail (no part of it)."""
        return self.resource is None and self.pool is None and self.feedback_id is None


@dataclass(frozen=True)
class Traffic:
    """What the provider's accounts sent: a sampled send log, SMS, and hourly figures."""

    messages: tuple[SentMessage, ...]
    sms: tuple[SmsMessage, ...]
    stats: tuple[HourlyStat, ...]
