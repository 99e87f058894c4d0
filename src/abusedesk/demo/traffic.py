"""Generate what the accounts sent: hourly sending figures, a sampled send log, and SMS.

Hourly figures imitate the counters a provider keeps per account and destination
mailbox provider (sent, delivered, hard bounces, mail to feedback-loop domains,
complaints). The send log is a sample of those messages: a few per hour, enough for
every report to quote a real one without storing every message a large sender sends.
Each account draws from its own random streams, so one account's traffic does not
change when another's does, and the send log is the same whether figures are made or not.
"""

import math
import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo import content
from abusedesk.demo.model import (
    DESTINATION_DOMAINS,
    DESTINATION_GROUPS,
    MESSAGE_ID_DOMAIN,
    AccountKind,
    DemoAccount,
    DemoProvider,
    DemoResource,
    HourlyStat,
    Sender,
    SentMessage,
    SmsMessage,
    Traffic,
)

HOUR = timedelta(hours=1)
GROUP_SHARES = {"gmail": 0.42, "microsoft": 0.24, "yahoo": 0.14, "other": 0.20}
# Gmail runs no per-message feedback loop; Microsoft and Yahoo do for everything; among
# the other providers only some (cable ISPs and the like) do.
FBL_SHARE = {"gmail": 0.0, "microsoft": 1.0, "yahoo": 1.0, "other": 0.35}
# Relative sending per UTC hour for senders who mail during the working day.
DIURNAL = (
    1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 11, 11, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 3, 2,
)  # fmt: skip
# What a taken-over mailbox does to the organisation's figures.
COMPROMISE_VOLUME_FACTOR = 40
COMPROMISED_BOUNCE_RATE = 0.18
COMPROMISED_COMPLAINT_RATE = 0.02
SOFT_BOUNCE_RATE = 0.004
VERIFIED_DESTINATION_SHARE = 0.03
# Share of messages that reach a spam trap: only bought or scraped lists hold traps.
TRAP_RATE = {AccountKind.SNOWSHOE: 0.0004, AccountKind.RING: 0.0002}


@dataclass(frozen=True)
class SourceIps:
    """The IPs an account could send from in one hour: its dedicated ones, its shared pool."""

    dedicated: tuple[str, ...]
    shared: tuple[str, ...]


@dataclass(frozen=True)
class HourVolume:
    """How many messages an account sent in one hour, and whether its mailboxes were taken."""

    hour: datetime
    sent: int
    compromised: bool = False


def generate_traffic(provider: DemoProvider, *, with_stats: bool = True) -> Traffic:
    """Return the provider's traffic; *with_stats* False skips the hourly figures (faster)."""
    messages: list[SentMessage] = []
    sms: list[SmsMessage] = []
    stats: list[HourlyStat] = []
    for account in provider.accounts:
        volumes = hourly_volumes(provider, account)
        if account.sends_email:
            messages.extend(_sample_messages(provider, account, volumes))
            if with_stats:
                rows = list(_hourly_stats(provider, account, volumes))
                stats.extend(rows)
                stats.extend(_part_stats(provider, account, rows))
        sms.extend(_sms_messages(provider, account, volumes))
    messages.sort(key=lambda m: (m.sent_at, m.provider_message_id))
    sms.sort(key=lambda m: (m.sent_at, m.message_id))
    return Traffic(tuple(messages), tuple(sms), tuple(stats))


def hourly_volumes(provider: DemoProvider, account: DemoAccount) -> list[HourVolume]:
    """Return the account's messages per hour over the window (hours with none left out).

    Transactional mail follows the working day and eases off at weekends; smaller
    newsletter senders mail in a few batches on working hours; spammers send in a few
    bursts at any hour; a compromised organisation jumps from its usual trickle to a
    flood when its mailboxes are taken over.
    """
    rng = random.Random(f"{provider.seed}:volume:{account.external_id}")
    profile = account.profile
    batches = profile.campaign == "newsletter" and account.size_tier != "large"
    first = max(provider.start, _ceil_hour(account.created_at))
    volumes: list[HourVolume] = []
    day_factor, bursts, day = 1.0, set[int](), None
    hour = first
    while hour < provider.end:
        if hour.date() != day:
            day = hour.date()
            weekend = hour.weekday() >= 5
            day_factor = rng.uniform(0.8, 1.2) * (0.6 if weekend and not profile.bursty else 1.0)
            hours = range(24) if profile.bursty else range(7, 19)
            bursts = set(rng.sample(hours, rng.randint(2, 5)))
            bursts |= {(h + 1) % 24 for h in bursts if rng.random() < 0.5}
        if hour == first and profile.bursty:
            # A fresh spammer starts sending at once, not at tomorrow's first burst.
            bursts.add(hour.hour)
        if account.compromised_at is not None and hour >= account.compromised_at:
            expected = profile.daily_volume * COMPROMISE_VOLUME_FACTOR / 24
            sent = round(expected * rng.uniform(0.6, 1.4))
            volumes.append(HourVolume(hour, sent, compromised=True))
        else:
            if profile.bursty or batches:
                in_burst = hour.hour in bursts
                expected = (profile.daily_volume / len(bursts) if in_burst else 0.0) * day_factor
            else:
                share = DIURNAL[hour.hour] / sum(DIURNAL)
                expected = profile.daily_volume * share * day_factor
            sent = round(expected * rng.uniform(0.85, 1.15))
            if sent > 0:
                volumes.append(HourVolume(hour, sent))
        hour += HOUR
    return volumes


# --- hourly figures --------------------------------------------------------------------------


def _hourly_stats(
    provider: DemoProvider, account: DemoAccount, volumes: Sequence[HourVolume]
) -> Iterator[HourlyStat]:
    """Yield the account's figures per hour and destination group, and per identity.

    Per-identity rows are made for accounts sending from more than one verified identity
    (and no mailboxes); the account's own row (no resource) is then the sum of them.
    """
    rng = random.Random(f"{provider.seed}:stats:{account.external_id}")
    # Trap hits draw from their own stream, so the other figures stay as they were.
    traps = _Traps(
        random.Random(f"{provider.seed}:traps:{account.external_id}"),
        TRAP_RATE.get(account.kind, 0.0),
    )
    shares = _group_shares(random.Random(f"{provider.seed}:shares:{account.external_id}"))
    identities = {s.resource for s in account.senders}
    per_resource = len(identities) > 1 and all(
        r.kind in (ResourceKind.IDENTITY_DOMAIN, ResourceKind.IDENTITY_ADDRESS) for r in identities
    )
    for volume in volumes:
        senders = _active_senders(account, volume)
        if not senders:
            continue
        bounce_rate, complaint_rate = _rates(account, compromised=volume.compromised)
        weights = [s.weight for s in senders]
        for group, group_sent in zip(
            DESTINATION_GROUPS, _split(rng, volume.sent, shares), strict=True
        ):
            if group_sent == 0:
                continue
            cell = _Cell(account.external_id, volume.hour, group, bounce_rate, complaint_rate)
            if not per_resource:
                yield traps.add(_figures(rng, cell, None, group_sent))
                continue
            by_resource: dict[DemoResource, int] = {}
            for sender, count in zip(senders, _split(rng, group_sent, weights), strict=True):
                by_resource[sender.resource] = by_resource.get(sender.resource, 0) + count
            rows = [
                traps.add(_figures(rng, cell, resource, count))
                for resource, count in by_resource.items()
                if count > 0
            ]
            yield from rows
            yield HourlyStat(
                account=account.external_id,
                resource=None,
                hour=volume.hour,
                destination_group=group,
                sent=sum(r.sent for r in rows),
                delivered=sum(r.delivered for r in rows),
                hard_bounces=sum(r.hard_bounces for r in rows),
                hard_bounces_non_verified=sum(r.hard_bounces_non_verified for r in rows),
                fbl_sent=sum(r.fbl_sent for r in rows),
                complaints=sum(r.complaints for r in rows),
                trap_hits=sum(r.trap_hits for r in rows),
            )


def _part_stats(
    provider: DemoProvider, account: DemoAccount, rows: Sequence[HourlyStat]
) -> Iterator[HourlyStat]:
    """Yield the account's figures per IP pool and per Feedback-ID campaign.

    All of an account's mail leaves through one pool: its own dedicated pool when it has
    dedicated IPs, else its shared pool; the pool's rows copy the account's. Gmail reports
    complaints only per Feedback-ID (no message-level feedback loop): the Gmail mail of
    an account with configuration sets is split among their Feedback-IDs, each with the
    complaints Gmail counted. Drawn from their own random stream.
    """
    names = {pool.name for pool in provider.pools}
    dedicated = f"dedicated-{account.external_id}"
    if account.resources_of(ResourceKind.DEDICATED_IP) and dedicated in names:
        pool: str | None = dedicated
    else:
        pool = account.shared_pool if account.shared_pool in names else None
    campaigns = [
        str(r.attributes["feedback_id"])
        for r in account.resources_of(ResourceKind.CONFIGURATION_SET)
        if r.attributes.get("feedback_id")
    ]
    rng = random.Random(f"{provider.seed}:parts:{account.external_id}")
    for row in rows:
        if row.resource is not None:
            continue
        if pool is not None:
            yield replace(row, pool=pool)
        if campaigns and row.destination_group == "gmail":
            weights = [1.0] * len(campaigns)
            for campaign, sent in zip(campaigns, _split(rng, row.sent, weights), strict=True):
                if sent == 0:
                    continue
                yield HourlyStat(
                    account=row.account,
                    resource=None,
                    hour=row.hour,
                    destination_group=row.destination_group,
                    sent=sent,
                    delivered=sent,
                    hard_bounces=0,
                    hard_bounces_non_verified=0,
                    fbl_sent=sent,
                    complaints=binomial(rng, sent, account.profile.complaint_rate),
                    feedback_id=campaign,
                )


@dataclass(frozen=True)
class _Traps:
    """Spam-trap hits among an account's messages, drawn from their own random stream."""

    rng: random.Random
    rate: float

    def add(self, stat: HourlyStat) -> HourlyStat:
        """Return *stat* with the trap hits among its delivered messages."""
        if self.rate <= 0.0:
            return stat
        return replace(stat, trap_hits=binomial(self.rng, stat.delivered, self.rate))


@dataclass(frozen=True)
class _Cell:
    """One account, hour and destination group, with the rates that apply to it."""

    account: str
    hour: datetime
    group: str
    bounce_rate: float
    complaint_rate: float


def _figures(
    rng: random.Random, cell: _Cell, resource: DemoResource | None, sent: int
) -> HourlyStat:
    hard = binomial(rng, sent, cell.bounce_rate)
    soft = binomial(rng, sent - hard, SOFT_BOUNCE_RATE)
    fbl_share = FBL_SHARE[cell.group]
    fbl_sent = sent if fbl_share == 1.0 else binomial(rng, sent, fbl_share)
    return HourlyStat(
        account=cell.account,
        resource=resource,
        hour=cell.hour,
        destination_group=cell.group,
        sent=sent,
        delivered=sent - hard - soft,
        hard_bounces=hard,
        hard_bounces_non_verified=hard - binomial(rng, hard, VERIFIED_DESTINATION_SHARE),
        fbl_sent=fbl_sent,
        complaints=binomial(rng, fbl_sent, cell.complaint_rate),
    )


def _rates(account: DemoAccount, *, compromised: bool) -> tuple[float, float]:
    if compromised:
        return COMPROMISED_BOUNCE_RATE, COMPROMISED_COMPLAINT_RATE
    return account.profile.bounce_rate, account.profile.complaint_rate


def _group_shares(rng: random.Random) -> list[float]:
    """Return one account's destination mix: the usual one, a little different per account."""
    return [GROUP_SHARES[g] * rng.uniform(0.8, 1.2) for g in DESTINATION_GROUPS]


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Return a draw from Binomial(n, p): exact, or its Poisson or normal approximation."""
    if n <= 0 or p <= 0.0:
        return 0
    if p >= 1.0:
        return n
    mean = n * p
    if n <= 40 and mean >= 2:
        return sum(1 for _ in range(n) if rng.random() < p)
    if mean < 15:
        # Knuth's Poisson sampler: good for rare events such as complaints.
        limit, k, product = math.exp(-mean), 0, rng.random()
        while product > limit:
            k += 1
            product *= rng.random()
        return min(n, k)
    return min(n, max(0, round(rng.gauss(mean, math.sqrt(mean * (1 - p))))))


def _split(rng: random.Random, total: int, weights: Sequence[float]) -> list[int]:
    """Split *total* into len(weights) counts drawn in proportion to the weights."""
    counts, remaining, weight_left = [], total, float(sum(weights))
    for weight in weights[:-1]:
        count = binomial(rng, remaining, weight / weight_left) if weight_left > 0 else 0
        counts.append(count)
        remaining -= count
        weight_left -= weight
    counts.append(remaining)
    return counts


# --- the sampled send log ------------------------------------------------------------------


def _sample_messages(
    provider: DemoProvider, account: DemoAccount, volumes: Sequence[HourVolume]
) -> Iterator[SentMessage]:
    """Yield a sample of the account's messages, about ``sample_per_day`` a day."""
    rng = random.Random(f"{provider.seed}:sample:{account.external_id}")
    profile = account.profile
    fraction = min(1.0, profile.sample_per_day / max(1, profile.daily_volume))
    shares = _group_shares(random.Random(f"{provider.seed}:shares:{account.external_id}"))
    dedicated = [a for a in provider.allocations if a.account == account.external_id]
    pooled = [a for a in provider.allocations if a.pool == (account.shared_pool or "shared-a")]
    for volume in volumes:
        # A flood is sampled more thinly, or the send log would be all flood.
        keep = fraction / 8 if volume.compromised else fraction
        expected = volume.sent * keep
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        senders = _active_senders(account, volume)
        if not senders or not count:
            continue
        weights = [s.weight for s in senders]
        # IPs move on the hour, so the addresses in force at the hour's start hold for it.
        ips = SourceIps(
            tuple(a.ip for a in dedicated if a.holds_at(volume.hour)),
            tuple(a.ip for a in pooled if a.holds_at(volume.hour)),
        )
        for _ in range(count):
            sent_at = volume.hour + timedelta(seconds=rng.randrange(3600))
            sender = rng.choices(senders, weights=weights)[0]
            group = rng.choices(DESTINATION_GROUPS, weights=shares)[0]
            yield _message(
                account,
                rng,
                sender=sender,
                group=group,
                sent_at=sent_at,
                ips=ips,
                compromised=volume.compromised,
            )


def _active_senders(account: DemoAccount, volume: HourVolume) -> list[Sender]:
    middle = volume.hour + HOUR / 2
    senders = [s for s in account.senders if s.active_at(middle)]
    if volume.compromised:
        taken = [s for s in senders if s.from_address in account.compromised_mailboxes]
        return taken or senders
    return senders


def _message(
    account: DemoAccount,
    rng: random.Random,
    *,
    sender: Sender,
    group: str,
    sent_at: datetime,
    ips: SourceIps,
    compromised: bool,
) -> SentMessage:
    millis = int(sent_at.timestamp() * 1000)
    provider_message_id = f"0100{millis:012x}-{_uuid(rng)}-000000"
    sender_domain = sender.from_address.rpartition("@")[2]
    is_mailbox = sender.resource.kind == ResourceKind.MAILBOX
    if is_mailbox:
        message_id = f"{_uuid(rng).replace('-', '')}@{sender_domain}"
        mail_from = sender.from_address
    else:
        message_id = (
            f"{rng.getrandbits(96):024x}.{rng.randrange(1_000_000)}@{sender_domain}"
            if account.profile.own_message_ids
            else f"{provider_message_id}@{MESSAGE_ID_DOMAIN}"
        )
        mail_from = f"{provider_message_id}@{sender.mail_from_domain}"
    configuration_sets = account.resources_of(ResourceKind.CONFIGURATION_SET)
    configuration_set = (
        rng.choice(configuration_sets)
        if configuration_sets and not is_mailbox and rng.random() < 0.85
        else None
    )
    campaign = "mailbox_spam" if compromised else account.profile.campaign
    subject, urls = _content(rng, account, sender, campaign)
    _, local = content.person(rng)
    return SentMessage(
        provider_message_id=provider_message_id,
        message_id_header=message_id,
        account=account.external_id,
        sender=sender,
        configuration_set=configuration_set.value if configuration_set else None,
        feedback_id=str(configuration_set.attributes["feedback_id"]) if configuration_set else None,
        # Hosted mailboxes always leave through the shared pool.
        source_ip=rng.choice(ips.shared if is_mailbox else ips.dedicated or ips.shared),
        mail_from=mail_from,
        recipient=f"{local}@{rng.choice(DESTINATION_DOMAINS[group])}",
        destination_group=group,
        subject=subject,
        urls=urls,
        campaign=campaign,
        sent_at=sent_at,
    )


# Per campaign: its subjects, the URLs in its body, and how long the random token in
# them is ({link} is drawn for every message).
_CAMPAIGNS: dict[str, tuple[tuple[str, ...], tuple[str, ...], int]] = {
    "newsletter": (
        content.NEWSLETTER_SUBJECTS,
        ("https://{domain}/news/{link}?utm_source=email", "https://{domain}/unsubscribe?u={token}"),
        16,
    ),
    "transactional": (content.TRANSACTIONAL_SUBJECTS, ("https://{domain}/account/{link}",), 0),
    "spam": (content.SPAM_SUBJECTS, ("http://{domain}/o/{link}", "http://{domain}/u/{token}"), 8),
    "phishing": (
        content.PHISHING_SUBJECTS,
        ("https://{domain}/secure/login.php?session={token}",),
        24,
    ),
    "mailbox_spam": (content.MAILBOX_SPAM_SUBJECTS, ("https://{domain}/view?doc={token}",), 20),
}
_PLAIN_MAILBOX = (content.MAILBOX_SUBJECTS, (), 0)


def _content(
    rng: random.Random, account: DemoAccount, sender: Sender, campaign: str
) -> tuple[str, tuple[str, ...]]:
    """Return a subject and the URLs in the body for one message of *campaign*."""
    profile = account.profile
    number = rng.randrange(10_000, 999_999)
    domain = sender.from_address.rpartition("@")[2]
    link = content.token(rng, 10)
    subjects, templates, token_length = _CAMPAIGNS.get(campaign, _PLAIN_MAILBOX)
    subject = rng.choice(subjects)
    urls: tuple[str, ...] = ()
    if templates:
        # A snowshoe spammer links to the throwaway domain it sends from; a ring shares
        # its tracking domains across every account it runs; a compromised mailbox links
        # to the document-sharing domain it was given last.
        if campaign == "spam" and account.kind == AccountKind.SNOWSHOE:
            url_domain = domain
        elif campaign == "mailbox_spam":
            url_domain = profile.url_domains[-1]
        else:
            url_domain = rng.choice(profile.url_domains or (domain,))
        token = content.token(rng, token_length) if token_length else ""
        urls = tuple(t.format(domain=url_domain, link=link, token=token) for t in templates)
    return subject.format(brand=profile.brand, number=number), urls


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _ceil_hour(value: datetime) -> datetime:
    floor = value.replace(minute=0, second=0, microsecond=0)
    return floor if floor == value else floor + HOUR


# --- SMS ----------------------------------------------------------------------------------


def _sms_messages(
    provider: DemoProvider, account: DemoAccount, volumes: Sequence[HourVolume]
) -> Iterator[SmsMessage]:
    """Yield a sample of the account's text messages.

    A pumping account's bursts go mostly to high-cost destinations and carry one-time
    passcodes nobody asked for, with some plain SMS spam among them; a legitimate
    sender's texts are logins and reminders to ordinary numbers.
    """
    originations = account.resources_of(ResourceKind.ORIGINATION_NUMBER) + account.resources_of(
        ResourceKind.SENDER_ID
    )
    if not originations:
        return
    rng = random.Random(f"{provider.seed}:sms:{account.external_id}")
    pumping = account.kind == AccountKind.SMS_PUMPING
    if pumping:
        fraction = min(1.0, account.profile.sample_per_day / max(1, account.profile.daily_volume))
        hours = [(v.hour, v.sent * fraction) for v in volumes]
    else:
        hours = [
            (hour, 0.3)
            for hour in _hours(provider.start, provider.end)
            if hour >= account.created_at
        ]
    for hour, expected in hours:
        count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        for _ in range(count):
            origination = rng.choice(originations)
            code = f"{rng.randrange(1_000_000):06d}"
            if pumping and rng.random() < 0.8:
                calling_code, country = rng.choice(content.PREMIUM_DESTINATIONS)
            else:
                calling_code, country = rng.choice(content.NORMAL_DESTINATIONS)
            if not pumping:
                text = rng.choice(content.SMS_LEGIT_TEXTS).format(
                    brand=account.profile.brand.split()[0], code=code
                )
            elif rng.random() < 0.75:
                text = rng.choice(content.SMS_OTP_TEXTS).format(code=code)
            else:
                url = f"https://{account.profile.url_domains[0]}/{content.token(rng, 6)}"
                text = rng.choice(content.SMS_SPAM_TEXTS).format(url=url)
            yield SmsMessage(
                message_id=_uuid(rng),
                account=account.external_id,
                origination=origination,
                destination=content.masked_destination(rng, calling_code),
                destination_country=country,
                text=text,
                sent_at=hour + timedelta(seconds=rng.randrange(3600)),
            )


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = start
    while hour < end:
        yield hour
        hour += HOUR
