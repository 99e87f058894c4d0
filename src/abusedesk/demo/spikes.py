"""Hourly complaint series from the simulated provider, with spikes injected where we know them.

The series are what the spike monitor reads: per hour, the complaints (distinct
complaining recipients) about each account, about each account at each destination
mailbox provider, and at each destination provider as a whole. They come from the
simulator's own sending model (``demo.traffic.hourly_volumes``: working-day and weekend
swings, newsletter batches, spammers' bursts, compromised mailboxes' floods) and its
complaint rates, drawn per destination provider as the hourly figures are.

Onto these, spikes are injected: a few hours in which many more recipients complain
than the series' usual level at that hour of day, for 1 to 3 hours. They are the ground
truth a detector is scored against. Jumps the simulator makes itself (a mailbox taken
over, a new spammer starting) are real too; they are listed as incidents, which a
detector may or may not flag without being counted right or wrong.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from abusedesk.demo.model import DESTINATION_GROUPS, DemoAccount, DemoProvider
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.traffic import (
    COMPROMISED_COMPLAINT_RATE,
    FBL_SHARE,
    GROUP_SHARES,
    binomial,
    hourly_volumes,
)
from abusedesk.spikes.detect import detect, detect_collapses
from abusedesk.spikes.model import CollapseRule, Spike, SpikeRule

HOUR = timedelta(hours=1)
# How long after a new account starts, or a mailbox is taken over, its jump is the
# simulator's own incident rather than a false alarm.
INCIDENT_HOURS = 7 * 24
# Spikes last 1, 2 or 3 hours, shorter ones more often.
SPIKE_HOURS = (1, 2, 3)
SPIKE_HOUR_WEIGHTS = (0.5, 0.3, 0.2)
# An injected spike adds, per hour, this many times the series' usual count at that
# hour of day, and never fewer than the floor: 2 -> 8..20, 0 -> 6..15.
SPIKE_FACTOR = (4.0, 10.0)
SPIKE_FLOOR = (6, 15)
DEFAULT_END = datetime(2026, 11, 2, tzinfo=UTC)
# What the spike detector must reach on every seed (bench/spikes.py prints both).
PRECISION_GOAL = 0.95
RECALL_GOAL = 0.8


@dataclass(frozen=True)
class InjectedSpike:
    """Extra complaints added to one series from column *first* on, one count per hour."""

    series: int
    key: str
    first: int
    added: tuple[int, ...]

    @property
    def columns(self) -> range:
        """Return the columns (hours) the spike covers."""
        return range(self.first, self.first + len(self.added))


@dataclass(frozen=True)
class Incident:
    """A jump the simulator made itself, in columns [first, last)."""

    series: int
    first: int
    last: int
    reason: str


@dataclass(frozen=True)
class SpikeScenario:
    """Complaint series with injected spikes: what a detector sees, and the truth."""

    seed: int
    start: datetime
    keys: tuple[str, ...]
    counts: npt.NDArray[np.int64]
    judged_from: int
    injected: tuple[InjectedSpike, ...]
    incidents: tuple[Incident, ...]

    @property
    def judged_spikes(self) -> tuple[InjectedSpike, ...]:
        """Return the injected spikes that start in the judged hours."""
        return tuple(s for s in self.injected if s.first >= self.judged_from)


@dataclass(frozen=True)
class SpikeScore:
    """How a detector did: flagged hours right and wrong, spikes found and missed."""

    flagged: int
    true_flags: int
    false_flags: int
    incident_flags: int
    spikes: int
    found: int
    missed: tuple[InjectedSpike, ...]
    false: tuple[Spike, ...]

    @property
    def precision(self) -> float:
        """Return the share of flags (outside the simulator's incidents) that were spikes."""
        judged = self.true_flags + self.false_flags
        return self.true_flags / judged if judged else 1.0

    @property
    def recall(self) -> float:
        """Return the share of injected spikes flagged in at least one of their hours."""
        return self.found / self.spikes if self.spikes else 1.0


def spike_scenario(
    seed: int,
    *,
    accounts: int = 150,
    days: int = 42,
    judged_days: int = 7,
    spikes: int = 80,
    past_spikes: int = 40,
    end: datetime | None = None,
) -> SpikeScenario:
    """Return the provider's complaint series for *seed* with spikes injected.

    The last *judged_days* days are the ones a detector is scored on and hold *spikes*
    spikes; the days before are its history and hold *past_spikes*, which a robust
    baseline must shrug off.
    """
    if judged_days < 1 or days <= judged_days:
        raise ValueError(f"need judged_days >= 1 and more days than that, not {judged_days}")
    end = end or DEFAULT_END
    provider = generate_provider(seed=seed, accounts=accounts, days=days, end=end)
    keys, counts, incidents = complaint_series(provider)
    rng = random.Random(f"{seed}:spikes")
    judged_from = counts.shape[1] - judged_days * 24
    injected = [
        *_inject(rng, keys, counts, past_spikes, low=24, high=judged_from),
        *_inject(rng, keys, counts, spikes, low=judged_from, high=counts.shape[1]),
    ]
    return SpikeScenario(
        seed=seed,
        start=provider.start,
        keys=tuple(keys),
        counts=counts,
        judged_from=judged_from,
        injected=tuple(injected),
        incidents=tuple(incidents),
    )


def complaint_series(
    provider: DemoProvider,
) -> tuple[list[str], npt.NDArray[np.int64], list[Incident]]:
    """Return series names, complaints per hour (series, hours) and the incidents in them.

    Series: ``account:<id>``, ``account:<id>/provider:<group>`` and ``provider:<group>``,
    for every email-sending account and every destination provider with a feedback loop.
    """
    hours = int((provider.end - provider.start) / HOUR)
    groups = [g for g in DESTINATION_GROUPS if FBL_SHARE[g] > 0.0]
    senders = [a for a in provider.accounts if a.sends_email]
    keys = [f"provider:{g}" for g in groups]
    rows: list[npt.NDArray[np.int64]] = [np.zeros(hours, dtype=np.int64) for _ in groups]
    incidents: list[Incident] = []
    for account in senders:
        by_group = _account_complaints(provider, account, groups, hours)
        own = len(keys)
        keys.append(f"account:{account.external_id}")
        rows.append(by_group.sum(axis=0))
        for index, group in enumerate(groups):
            keys.append(f"account:{account.external_id}/provider:{group}")
            rows.append(by_group[index])
            rows[index] += by_group[index]
        onset = _onset(provider, account)
        if onset is not None:
            first = max(0, int((onset - provider.start) / HOUR))
            last = min(hours, first + INCIDENT_HOURS)
            reason = "mailbox taken over" if account.compromised_at else "new account"
            # The provider series (first rows) hold the account's complaints too.
            touched = [*range(len(groups)), *range(own, own + 1 + len(groups))]
            incidents.extend(Incident(series, first, last, reason) for series in touched)
    return keys, np.vstack(rows), incidents


def _account_complaints(
    provider: DemoProvider, account: DemoAccount, groups: Sequence[str], hours: int
) -> npt.NDArray[np.int64]:
    """Return the account's complaints per destination group and hour."""
    rng = random.Random(f"{provider.seed}:spike-series:{account.external_id}")
    shares = [GROUP_SHARES[g] * rng.uniform(0.8, 1.2) for g in DESTINATION_GROUPS]
    total_share = sum(shares)
    counts = np.zeros((len(groups), hours), dtype=np.int64)
    for volume in hourly_volumes(provider, account):
        column = int((volume.hour - provider.start) / HOUR)
        rate = COMPROMISED_COMPLAINT_RATE if volume.compromised else account.profile.complaint_rate
        for group, share in zip(DESTINATION_GROUPS, shares, strict=True):
            if group not in groups:
                continue
            sent = binomial(rng, volume.sent, share / total_share)
            fbl_sent = binomial(rng, sent, FBL_SHARE[group])
            counts[groups.index(group), column] += binomial(rng, fbl_sent, rate)
    return counts


def _onset(provider: DemoProvider, account: DemoAccount) -> datetime | None:
    if account.compromised_at is not None:
        return account.compromised_at
    if account.created_at > provider.start - timedelta(days=7):
        return max(account.created_at, provider.start)
    return None


def _inject(
    rng: random.Random,
    keys: Sequence[str],
    counts: npt.NDArray[np.int64],
    how_many: int,
    *,
    low: int,
    high: int,
) -> list[InjectedSpike]:
    """Add *how_many* spikes starting in columns [low, high); return what was added."""
    series_count, _ = counts.shape
    taken: set[tuple[int, int]] = set()
    injected: list[InjectedSpike] = []
    while len(injected) < how_many:
        series = rng.randrange(series_count)
        length = rng.choices(SPIKE_HOURS, weights=SPIKE_HOUR_WEIGHTS)[0]
        first = rng.randrange(low, high - length + 1)
        columns = range(first - 1, first + length + 1)
        if any((series, c) in taken for c in columns):
            continue
        added = []
        for column in range(first, first + length):
            usual = _usual(counts[series], column)
            extra = max(rng.randint(*SPIKE_FLOOR), round(rng.uniform(*SPIKE_FACTOR) * usual))
            counts[series, column] += extra
            added.append(extra)
        taken.update((series, c) for c in columns)
        injected.append(InjectedSpike(series, keys[series], first, tuple(added)))
    return injected


def _usual(row: npt.NDArray[np.int64], column: int) -> float:
    """Return the series' mean count at this hour of day over the 4 weeks before *column*."""
    same_hour = np.arange(column - 24, column - 29 * 24, -24)
    same_hour = same_hour[same_hour >= 0]
    return float(row[same_hour].mean()) if same_hour.size else 0.0


def judge(scenario: SpikeScenario, rule: SpikeRule | None = None) -> list[Spike]:
    """Run ``detect`` over the judged days as the monitor would: one day at a time."""
    found: list[Spike] = []
    for day_end in range(scenario.judged_from + 24, scenario.counts.shape[1] + 1, 24):
        found.extend(
            detect(
                scenario.counts[:, :day_end],
                scenario.start,
                evaluate_hours=24,
                rule=rule,
                keys=scenario.keys,
            )
        )
    return found


def score(scenario: SpikeScenario, flagged: Sequence[Spike]) -> SpikeScore:
    """Score flagged hours against the injected spikes and the simulator's incidents."""
    injected_at = {(s.series, c): s for s in scenario.injected for c in s.columns}
    incident_at = {(i.series, c) for i in scenario.incidents for c in range(i.first, i.last)}
    true_flags, incident_flags = 0, 0
    false: list[Spike] = []
    found: set[InjectedSpike] = set()
    for spike in flagged:
        column = int((spike.hour - scenario.start) / HOUR)
        hit = injected_at.get((spike.index, column))
        if hit is not None:
            true_flags += 1
            found.add(hit)
        elif (spike.index, column) in incident_at:
            incident_flags += 1
        else:
            false.append(spike)
    judged = scenario.judged_spikes
    return SpikeScore(
        flagged=len(flagged),
        true_flags=true_flags,
        false_flags=len(false),
        incident_flags=incident_flags,
        spikes=len(judged),
        found=sum(1 for s in judged if s in found),
        missed=tuple(s for s in judged if s not in found),
        false=tuple(false),
    )


# --- collapses -------------------------------------------------------------------------


@dataclass(frozen=True)
class CollapseScore:
    """How the collapse check did on series that stopped (outages) and series that did not."""

    series: int
    outages: int
    found: int
    false_alarms: int


def judge_collapses(
    scenario: SpikeScenario,
    *,
    outages: int = 6,
    rule: CollapseRule | None = None,
) -> CollapseScore:
    """Run the collapse check every judged hour: on the busy series as they are, then
    on destination providers' feeds made to fall to 0-15% for 6 to 24 hours.

    Busy series are those bringing at least 5 an hour over the judged days (a feed too
    small to collapse is not judged); any collapse flagged on them as they are is a false
    alarm, counted once per run of consecutive flagged hours. Then, *outages* times, one
    provider series (the stand-in for a feedback loop's feed) falls at a random hour;
    the outage is found when a collapse is flagged while it lasts or within the check's
    window after.
    """
    rule = rule or CollapseRule()
    judged = scenario.counts[:, scenario.judged_from :]
    busy = np.nonzero(judged.mean(axis=1) >= 5.0)[0]
    counts = scenario.counts[busy]
    hours = counts.shape[1]
    false_alarms = 0
    flagged_before: set[int] = set()
    for end in range(scenario.judged_from + rule.window_hours, hours + 1):
        flagged = {c.index for c in detect_collapses(counts[:, :end], scenario.start, rule=rule)}
        false_alarms += len(flagged - flagged_before)
        flagged_before = flagged
    feeds = [row for row, key in enumerate(scenario.keys) if key.startswith("provider:")]
    rng = random.Random(f"{scenario.seed}:collapses")
    found = 0
    for outage in range(outages):
        row = scenario.counts[feeds[outage % len(feeds)]].copy()
        length = rng.randint(6, 24)
        first = rng.randrange(scenario.judged_from, hours - length)
        # A parser failing on most of a feed's reports leaves a trickle, not nothing.
        kept = rng.uniform(0.0, 0.15)
        row[first : first + length] = np.rint(row[first : first + length] * kept)
        ends = range(first + 1, min(hours, first + length + rule.window_hours) + 1)
        if any(detect_collapses(row[None, :end], scenario.start, rule=rule) for end in ends):
            found += 1
    return CollapseScore(len(busy), outages, found, false_alarms)
