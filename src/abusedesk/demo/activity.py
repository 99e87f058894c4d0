"""Turn the simulated traffic into hourly hosted-mailbox and SMS activity figures.

The simulator decides how much each organisation's mailboxes send per hour (and when
some were taken over) and which texts each SMS sender sent where. Here those become the
figures a provider counts: per mailbox and hour, messages, distinct recipients, client
IPs and countries, bounces, complaints and hits on known spam fingerprints; per
origination, hour, destination country and number range, texts sent, delivered and
(where the account reports them) converted. What the simulator does not model is drawn
from each account's own random stream:

* a mailbox is used from one or two client IPs in its organisation's country, and now
  and then from a fresh one (a new home router); a taken-over mailbox is used from
  several IPs abroad as well, bounces and draws complaints at the simulator's
  compromised rates, and a share of its messages (different for each takeover, from
  almost none to a quarter) matches known spam fingerprints;
* SMS to the ordinary destinations is delivered almost always; a pumping account's
  high-cost destinations take from a quarter to two thirds, and the codes it sends are
  almost never used; half the pumping and most other SMS senders report conversions.

Honest users also do odd things, so the figures carry *innocent surprises* that a
detector must not mistake for abuse: a mailbox sending one big announcement, a mailbox
used abroad for a few days, an SMS sender's one-day campaign, an SMS sender starting to
serve a new country. They are listed in ``Activity.surprises`` as ground truth.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from abusedesk.anomalies.model import MailboxHour, SmsHour
from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo import content
from abusedesk.demo.model import AccountKind, DemoAccount, DemoProvider, Sender, Traffic
from abusedesk.demo.traffic import (
    COMPROMISED_BOUNCE_RATE,
    COMPROMISED_COMPLAINT_RATE,
    HOUR,
    HourVolume,
    hourly_volumes,
)
from abusedesk.demo.traffic import binomial as _draw

# Where takeovers are run from, and where honest users travel to.
ABROAD = ("NG", "RU", "VN", "BR", "ID", "RO", "UA", "TR", "PK", "IT", "PT", "MX")
NEW_SMS_COUNTRIES = (("49", "DE"), ("33", "FR"), ("34", "ES"), ("31", "NL"))
# The share of mail sent to feedback-loop domains, where a complaint can come back.
FBL_SHARE = 0.45
PREMIUM_COUNTRIES = {country for _, country in content.PREMIUM_DESTINATIONS}


class Surprise:
    """The kinds of innocent surprise."""

    ANNOUNCEMENT = "announcement"
    TRAVEL = "travel"
    SMS_CAMPAIGN = "sms_campaign"
    SMS_NEW_COUNTRY = "sms_new_country"


@dataclass(frozen=True)
class InnocentSurprise:
    """Something an honest user did that looks odd, during [start, end)."""

    account: str
    subject: str
    kind: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Activity:
    """The provider's hourly mailbox and SMS figures, and the innocent surprises in them."""

    mailboxes: tuple[MailboxHour, ...]
    sms: tuple[SmsHour, ...]
    surprises: tuple[InnocentSurprise, ...]


def generate_activity(provider: DemoProvider, traffic: Traffic) -> Activity:
    """Return the activity figures of every account with mailboxes or SMS."""
    mailboxes: list[MailboxHour] = []
    sms: list[SmsHour] = []
    surprises: list[InnocentSurprise] = []
    texts: dict[str, list[tuple[datetime, str, str, str]]] = {}
    for message in traffic.sms:
        texts.setdefault(message.account, []).append(
            (
                _floor_hour(message.sent_at),
                message.origination.value,
                message.destination_country,
                number_range(message.destination),
            )
        )
    for account in provider.accounts:
        if any(s.resource.kind == ResourceKind.MAILBOX for s in account.senders):
            rows, found = _mailbox_activity(provider, account)
            mailboxes.extend(rows)
            surprises.extend(found)
        if account.external_id in texts:
            rows_sms, found = _sms_activity(provider, account, texts[account.external_id])
            sms.extend(rows_sms)
            surprises.extend(found)
    return Activity(tuple(mailboxes), tuple(sms), tuple(surprises))


def number_range(destination: str) -> str:
    """Return the number range of a (masked) destination: its digits before the mask."""
    digits = destination.partition("X")[0]
    return digits[:8]


def binomial(rng: random.Random, n: int, p: float) -> int:
    """Return a Binomial(n, p) draw that stays close for likely events and small *n* too."""
    if p > 0.5:
        return n - _draw(rng, n, 1.0 - p)
    return _draw(rng, n, p)


# --- hosted mailboxes ---------------------------------------------------------------------


@dataclass
class _Mailbox:
    """One mailbox's places and plans while its figures are drawn."""

    sender: Sender
    country: str
    home_ips: list[str]
    travel: tuple[datetime, datetime, str, list[str]] | None = None
    announcement: datetime | None = None


def _mailbox_activity(
    provider: DemoProvider, account: DemoAccount
) -> tuple[list[MailboxHour], list[InnocentSurprise]]:
    rng = random.Random(f"{provider.seed}:activity:mailbox:{account.external_id}")
    volumes = hourly_volumes(provider, account)
    home = account.country
    boxes = {
        s.from_address: _Mailbox(s, home, [_client_ip(rng) for _ in range(rng.randint(1, 2))])
        for s in account.senders
        if s.resource.kind == ResourceKind.MAILBOX
    }
    surprises = _plan_mailbox_surprises(provider, account, rng, boxes)
    abroad = rng.sample([c for c in ABROAD if c != home], 2)
    attacker_ips = {_client_ip(rng): rng.choice(abroad) for _ in range(rng.randint(4, 8))}
    detection = rng.uniform(0.0, 0.25)
    rows: list[MailboxHour] = []
    day = None
    for volume in volumes:
        if volume.hour.date() != day:
            day = volume.hour.date()
            for box in boxes.values():
                if rng.random() < 0.03:
                    # A new home router or mobile network: a new IP in the usual country.
                    box.home_ips[rng.randrange(len(box.home_ips))] = _client_ip(rng)
        counts = _split_by_sender(rng, account, volume)
        for address, box in boxes.items():
            count = counts.get(address, 0)
            taken = volume.compromised and address in account.compromised_mailboxes
            announcing = box.announcement == volume.hour
            extra = rng.randint(150, 400) if announcing else 0
            if count + extra == 0:
                continue
            rows.append(
                _mailbox_hour(
                    rng,
                    account,
                    box,
                    hour=volume.hour,
                    count=count,
                    extra=extra,
                    attacker_ips=attacker_ips if taken else None,
                    detection=detection,
                )
            )
    return rows, surprises


def _plan_mailbox_surprises(
    provider: DemoProvider,
    account: DemoAccount,
    rng: random.Random,
    boxes: dict[str, _Mailbox],
) -> list[InnocentSurprise]:
    surprises = []
    span_hours = int((provider.end - provider.start) / HOUR)
    for address, box in boxes.items():
        if rng.random() < 0.3:
            day = provider.start + timedelta(days=rng.randrange(max(1, span_hours // 24)))
            box.announcement = day.replace(hour=rng.randint(8, 17))
            surprises.append(
                InnocentSurprise(
                    account.external_id,
                    address,
                    Surprise.ANNOUNCEMENT,
                    box.announcement,
                    box.announcement + HOUR,
                )
            )
        if rng.random() < 0.25:
            start = provider.start + HOUR * rng.randrange(span_hours)
            end = start + timedelta(days=rng.randint(2, 4))
            country = rng.choice([c for c in ABROAD if c != box.country])
            box.travel = (start, end, country, [_client_ip(rng) for _ in range(rng.randint(1, 2))])
            surprises.append(
                InnocentSurprise(account.external_id, address, Surprise.TRAVEL, start, end)
            )
    return surprises


def _split_by_sender(
    rng: random.Random, account: DemoAccount, volume: HourVolume
) -> dict[str, int]:
    """Split an hour's messages among the senders active then, as the simulator does."""
    middle = volume.hour + HOUR / 2
    senders = [s for s in account.senders if s.active_at(middle)]
    if volume.compromised:
        senders = [s for s in senders if s.from_address in account.compromised_mailboxes] or senders
    counts: dict[str, int] = {}
    remaining, weight_left = volume.sent, sum(s.weight for s in senders)
    for index, sender in enumerate(senders):
        last = index == len(senders) - 1
        count = remaining if last else binomial(rng, remaining, sender.weight / weight_left)
        counts[sender.from_address] = counts.get(sender.from_address, 0) + count
        remaining -= count
        weight_left -= sender.weight
    return counts


def _mailbox_hour(
    rng: random.Random,
    account: DemoAccount,
    box: _Mailbox,
    *,
    hour: datetime,
    count: int,
    extra: int,
    attacker_ips: dict[str, str] | None,
    detection: float,
) -> MailboxHour:
    """Return one mailbox's figures for one hour: its own mail, an announcement, or a flood."""
    if box.travel is not None and box.travel[0] <= hour < box.travel[1]:
        places = dict.fromkeys(box.travel[3], box.travel[2])
    else:
        places = dict.fromkeys(
            rng.sample(box.home_ips, rng.randint(1, 2) if len(box.home_ips) > 1 else 1), box.country
        )
    if attacker_ips is not None:
        chosen = rng.sample(sorted(attacker_ips), rng.randint(1, min(3, len(attacker_ips))))
        places = ({} if rng.random() < 0.7 else places) | {ip: attacker_ips[ip] for ip in chosen}
        bounce_rate, complaint_rate, hit_rate = (
            COMPROMISED_BOUNCE_RATE,
            COMPROMISED_COMPLAINT_RATE,
            detection,
        )
        recipients = count
    else:
        bounce_rate, complaint_rate, hit_rate = (
            account.profile.bounce_rate,
            account.profile.complaint_rate,
            0.0002,
        )
        recipients = max(1, binomial(rng, count, 0.75)) if count else 0
    sent = count + extra
    return MailboxHour(
        account=account.external_id,
        mailbox=box.sender.from_address,
        hour=hour,
        sent=sent,
        recipients=recipients + extra,
        bounces=binomial(rng, count, bounce_rate) + binomial(rng, extra, 0.02),
        complaints=binomial(rng, binomial(rng, sent, FBL_SHARE), complaint_rate),
        fingerprint_hits=binomial(rng, count, hit_rate),
        client_ips=tuple(sorted(places)),
        client_countries=tuple(sorted(set(places.values()))),
    )


def _client_ip(rng: random.Random) -> str:
    """Return a client address in the IPv6 documentation range, apart from the provider's."""
    return f"2001:db8:{0xC000 + rng.randrange(0x1000):x}::{rng.randrange(1, 0xFFFF):x}"


# --- SMS ------------------------------------------------------------------------------------


_Cell = tuple[datetime, str, str, str]


def _sms_activity(
    provider: DemoProvider, account: DemoAccount, texts: Sequence[_Cell]
) -> tuple[list[SmsHour], list[InnocentSurprise]]:
    rng = random.Random(f"{provider.seed}:activity:sms:{account.external_id}")
    pumping = account.kind == AccountKind.SMS_PUMPING
    cells = _scaled_cells(provider, account, texts) if pumping else _counted(texts)
    surprises: list[InnocentSurprise] = []
    if not pumping:
        surprises = _plan_sms_surprises(provider, account, rng, cells)
    premium_delivery = rng.uniform(0.25, 0.67)
    ordinary_delivery = rng.uniform(0.9, 0.98)
    tracked = rng.random() < (0.5 if pumping else 0.8)
    conversion = rng.uniform(0.0, 0.03) if pumping else rng.uniform(0.55, 0.85)
    rows = []
    for (hour, origination, country, prefix), sent in sorted(cells.items()):
        delivery = premium_delivery if country in PREMIUM_COUNTRIES else ordinary_delivery
        delivered = binomial(rng, sent, delivery)
        rows.append(
            SmsHour(
                account=account.external_id,
                origination=origination,
                hour=hour,
                country=country,
                number_range=prefix,
                sent=sent,
                delivered=delivered,
                converted=binomial(rng, delivered, conversion) if tracked else None,
            )
        )
    return rows, surprises


def _counted(texts: Sequence[_Cell]) -> dict[_Cell, int]:
    cells: dict[_Cell, int] = {}
    for cell in texts:
        cells[cell] = cells.get(cell, 0) + 1
    return cells


def _scaled_cells(
    provider: DemoProvider, account: DemoAccount, texts: Sequence[_Cell]
) -> dict[_Cell, int]:
    """Scale a pumping account's sampled texts up to the hour's real volume.

    The simulator keeps only a sample of a pumping account's texts; each hour's
    messages are shared among the sampled ones' destinations by largest remainder.
    """
    volumes = {v.hour: v.sent for v in hourly_volumes(provider, account)}
    by_hour: dict[datetime, dict[_Cell, int]] = {}
    for cell in texts:
        sampled = by_hour.setdefault(cell[0], {})
        sampled[cell] = sampled.get(cell, 0) + 1
    cells: dict[_Cell, int] = {}
    for hour, sampled in by_hour.items():
        total, kept = volumes.get(hour, 0), sum(sampled.values())
        if total <= kept:
            cells.update(sampled)
            continue
        shares = {cell: total * n / kept for cell, n in sampled.items()}
        floors = {cell: int(share) for cell, share in shares.items()}
        left = total - sum(floors.values())
        for cell in sorted(shares, key=lambda c: floors[c] - shares[c])[:left]:
            floors[cell] += 1
        cells.update(floors)
    return cells


def _plan_sms_surprises(
    provider: DemoProvider,
    account: DemoAccount,
    rng: random.Random,
    cells: dict[_Cell, int],
) -> list[InnocentSurprise]:
    """Add an honest sender's campaign day and a new country it starts to serve."""
    originations = [
        r.value
        for r in account.resources
        if r.kind in (ResourceKind.ORIGINATION_NUMBER, ResourceKind.SENDER_ID)
    ]
    if not originations:
        return []
    surprises = []
    days = max(1, int((provider.end - provider.start) / timedelta(days=1)))
    if rng.random() < 0.6:
        start = provider.start + timedelta(days=rng.randrange(days), hours=rng.randint(8, 12))
        hours = rng.randint(4, 8)
        for n in range(hours):
            for _ in range(rng.randint(80, 250)):
                calling_code, country = rng.choice(content.NORMAL_DESTINATIONS)
                cell = (
                    start + HOUR * n,
                    rng.choice(originations),
                    country,
                    _range(rng, calling_code),
                )
                cells[cell] = cells.get(cell, 0) + 1
        surprises.append(
            InnocentSurprise(
                account.external_id,
                originations[0],
                Surprise.SMS_CAMPAIGN,
                start,
                start + HOUR * hours,
            )
        )
    if rng.random() < 0.6:
        calling_code, country = rng.choice(NEW_SMS_COUNTRIES)
        start = _floor_hour(provider.end - timedelta(days=rng.uniform(2, 10)))
        hour = start
        while hour < provider.end:
            for _ in range(binomial(rng, 40, 0.25 if 7 <= hour.hour < 21 else 0.05)):
                cell = (hour, rng.choice(originations), country, _range(rng, calling_code))
                cells[cell] = cells.get(cell, 0) + 1
            hour += HOUR
        surprises.append(
            InnocentSurprise(
                account.external_id, originations[0], Surprise.SMS_NEW_COUNTRY, start, provider.end
            )
        )
    return surprises


def _range(rng: random.Random, calling_code: str) -> str:
    return f"+{calling_code}{rng.randrange(10, 99)}"


def _floor_hour(value: datetime) -> datetime:
    return value.replace(minute=0, second=0, microsecond=0)
