"""The spike monitor: complaint spikes, new accounts' sending bursts, collapsing reporters.

A run reads, in one short read-only transaction, the hourly series of the last
``history_days`` days up to the last complete hour (see ``storage/spike_series.py``),
judges them with ``abusedesk.spikes`` with no transaction open, and returns drafts:

- ``spike.jump`` per series and hour far above its seasonal baseline (an account's
  series names the account, and the category most of that hour's complaints had);
- ``spike.new_account_burst`` per new account and hour of sending far above its own
  so far;
- ``spike.reporter_collapse`` per reporter whose recent hours brought far less than
  usual: a parser or feed problem, about no account.

A spike lasting several hours is raised once, at its first hour: an hour whose previous
hour was a spike too continues it. Dedupe keys name the series and that hour, so running
again at the same *now* (or an hour later) raises nothing new. A series the maths
refuses (bad data) is logged with the reason and skipped; the others go on.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import SpikeSettings
from abusedesk.core.hashing import sha256_hex
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind
from abusedesk.spikes.detect import detect, detect_bursts, detect_collapses
from abusedesk.spikes.model import Burst, BurstRule, Collapse, CollapseRule, Spike, SpikeRule
from abusedesk.storage import spike_series as store
from abusedesk.storage.db import read_only
from abusedesk.storage.inventory import external_ids

log = structlog.get_logger(__name__)

HOUR = timedelta(hours=1)
# The longest dedupe key a signal takes.
MAX_KEY = 200
# Words for each series dimension in a reason an analyst reads.
_SUBJECT_WORDS = {
    store.ACCOUNT: "account",
    store.REPORTER: "reporter",
    store.PROVIDER: "destination provider",
    store.CATEGORY: "category",
    store.CONTENT: "content",
}
# The subject type a series' signal is about.
_SUBJECT_TYPES = {
    store.ACCOUNT: "account",
    store.REPORTER: "reporter",
    store.PROVIDER: "destination_group",
    store.CATEGORY: "category",
    store.CONTENT: "content",
}


def spike_rule(settings: SpikeSettings) -> SpikeRule:
    """Return the spike rule the settings describe."""
    return SpikeRule(
        history_days=settings.history_days,
        alpha=settings.alpha,
        min_count=settings.min_count,
        min_ratio=settings.min_ratio,
    )


class SpikeMonitor:
    """Judge the hourly series for spikes, bursts and collapses; return signal drafts."""

    name = "spikes"

    def __init__(self, settings: SpikeSettings | None = None) -> None:
        self.settings = settings or SpikeSettings()
        self.rule = spike_rule(self.settings)
        self.collapse_rule = CollapseRule(
            window_hours=self.settings.collapse_hours,
            min_expected=self.settings.collapse_min_expected,
            max_ratio=self.settings.collapse_max_ratio,
            alpha=self.settings.collapse_alpha,
        )
        self.burst_rule = BurstRule(
            new_account_days=self.settings.burst_account_days,
            min_messages=self.settings.burst_min_messages,
            factor=self.settings.burst_factor,
        )
        self.provider_groups = {
            domain: group
            for group, domains in self.settings.provider_groups.items()
            for domain in domains
        }

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Judge the hours up to the last complete one before *now*; return the drafts."""
        if not self.settings.enabled:
            return []
        end = now.replace(minute=0, second=0, microsecond=0)
        # One hour more than judged: it tells whether the first judged hour continues a spike.
        judged = self.settings.evaluate_hours + 1
        start = end - (self.settings.history_days * 24 + judged) * HOUR
        with read_only(sessions) as session:
            series = [
                store.complaint_series(
                    session,
                    dimension,
                    start=start,
                    end=end,
                    excluded_categories=self.settings.excluded_categories,
                    content_keys=self.settings.content_keys,
                    provider_groups=self.provider_groups,
                    candidates_since=end - judged * HOUR,
                    candidate_min=self.settings.min_count,
                )
                for dimension in self.settings.dimensions
            ]
            volume = store.reporter_volume(
                session,
                start=end
                - (self.settings.history_days * 24 + self.settings.collapse_hours + 1) * HOUR,
                end=end,
            )
            sending = store.new_account_sending(
                session,
                created_since=end - self.settings.burst_account_days * 24 * HOUR,
                start=end - (self.settings.burst_account_days * 24 + judged) * HOUR,
                end=end,
            )
        spikes = {s.dimension: self._spikes(s, judged) for s in series}
        collapses = self._collapses(volume)
        bursts = self._bursts(sending, judged)
        with read_only(sessions) as session:
            account_spikes = spikes.get(store.ACCOUNT, [])
            names = external_ids(session, (int(s.series) for s in account_spikes))
            categories = store.main_categories(
                session,
                ((int(s.series), s.hour) for s in account_spikes),
                excluded=self.settings.excluded_categories,
            )
        drafts: list[SignalDraft] = []
        for dimension, found in spikes.items():
            drafts.extend(self._spike_draft(dimension, s, names, categories) for s in found)
        drafts.extend(_collapse_draft(c) for c in collapses)
        drafts.extend(_burst_draft(b, sending) for b in bursts)
        log.info(
            "spikes_ran",
            series=sum(len(s.keys) for s in series),
            spikes=sum(len(found) for found in spikes.values()),
            collapses=len(collapses),
            bursts=len(bursts),
        )
        return drafts

    # --- judging ----------------------------------------------------------------------

    def _spikes(self, series: store.HourlySeries, judged: int) -> list[Spike]:
        """Return the spikes that start in the judged hours (after the first, see above)."""
        if not series.keys:
            return []
        try:
            found = detect(
                series.counts,
                series.start,
                evaluate_hours=judged,
                rule=self.rule,
                keys=series.keys,
            )
        except ValueError as exc:
            log.warning("spike_series_skipped", dimension=series.dimension, reason=str(exc))
            return []
        flagged = {(s.index, s.hour) for s in found}
        first_judged = series.start + (series.hours - judged + 1) * HOUR
        return [
            s for s in found if s.hour >= first_judged and (s.index, s.hour - HOUR) not in flagged
        ]

    def _collapses(self, volume: store.HourlySeries) -> list[Collapse]:
        """Return the reporters collapsed now that were not already an hour ago."""
        if not volume.keys:
            return []
        try:
            now = detect_collapses(
                volume.counts,
                volume.start,
                rule=self.collapse_rule,
                baseline_rule=self.rule,
                keys=volume.keys,
            )
            before = detect_collapses(
                volume.counts[:, :-1],
                volume.start,
                rule=self.collapse_rule,
                baseline_rule=self.rule,
                keys=volume.keys,
            )
        except ValueError as exc:
            log.warning("spike_series_skipped", dimension="reporter_volume", reason=str(exc))
            return []
        already = {c.index for c in before}
        return [c for c in now if c.index not in already]

    def _bursts(self, sending: store.NewAccounts, judged: int) -> list[Burst]:
        """Return the bursts that start in the judged hours."""
        if not sending.account_ids:
            return []
        try:
            found = detect_bursts(
                sending.sent,
                sending.start,
                sending.created_at,
                evaluate_hours=judged,
                rule=self.burst_rule,
                keys=sending.external_ids,
            )
        except ValueError as exc:
            log.warning("spike_series_skipped", dimension="new_account_sending", reason=str(exc))
            return []
        flagged = {(b.index, b.hour) for b in found}
        first_judged = sending.start + (sending.sent.shape[1] - judged + 1) * HOUR
        return [
            b for b in found if b.hour >= first_judged and (b.index, b.hour - HOUR) not in flagged
        ]

    # --- drafts -----------------------------------------------------------------------

    def _spike_draft(
        self,
        dimension: str,
        spike: Spike,
        names: dict[int, str],
        categories: dict[tuple[int, datetime], str],
    ) -> SignalDraft:
        account_id = int(spike.series) if dimension == store.ACCOUNT else None
        shown = names.get(account_id, spike.series) if account_id is not None else spike.series
        figures: dict[str, object] = {
            "series": f"{dimension}:{spike.series}",
            "dimension": dimension,
            "hour": spike.hour.isoformat(),
            "observed": spike.observed,
            "expected": round(spike.expected, 3),
            "probability": spike.probability,
            "score": round(spike.score, 2),
            "counted": "distinct recipients",
        }
        category = (
            spike.series
            if dimension == store.CATEGORY
            else categories.get((account_id, spike.hour))
            if account_id is not None
            else None
        )
        if category is not None:
            figures["category"] = category
        reason = (
            f"{spike.observed} distinct recipients complained about"
            f" {_SUBJECT_WORDS[dimension]} {shown} in the hour from"
            f" {spike.hour:%Y-%m-%d %H:00} UTC, against about {spike.expected:.1f} usual at"
            f" that hour and weekday (chance {_chance(spike.probability)})"
        )
        return SignalDraft(
            kind=SignalKind.SPIKE,
            subject_type=_SUBJECT_TYPES[dimension],
            subject_id=spike.series[:200],
            reason=reason,
            figures=figures,
            at=spike.hour + HOUR,
            dedupe_key=hourly_key(f"spike:{dimension}", spike.series, spike.hour),
            account_id=account_id,
            severity=Severity.MEDIUM if account_id is not None else Severity.LOW,
        )


def _collapse_draft(collapse: Collapse) -> SignalDraft:
    hours = int((collapse.until - collapse.since) / HOUR)
    reason = (
        f"reporter {collapse.series} brought {collapse.observed} reports' events in the"
        f" {hours} hours to {collapse.until:%Y-%m-%d %H:00} UTC, against about"
        f" {collapse.expected:.0f} usual (chance {_chance(collapse.probability)}):"
        " check its feed and parser"
    )
    return SignalDraft(
        kind=SignalKind.REPORTER_COLLAPSE,
        subject_type="reporter",
        subject_id=collapse.series[:200],
        reason=reason,
        figures={
            "series": f"reporter:{collapse.series}",
            "since": collapse.since.isoformat(),
            "hour": collapse.until.isoformat(),
            "hours": hours,
            "observed": collapse.observed,
            "expected": round(collapse.expected, 1),
            "probability": collapse.probability,
            "score": round(collapse.score, 2),
            "counted": "distinct messages",
        },
        at=collapse.until,
        dedupe_key=hourly_key("collapse", collapse.series, collapse.until),
        severity=Severity.MEDIUM,
    )


def _burst_draft(burst: Burst, sending: store.NewAccounts) -> SignalDraft:
    account_id = sending.account_ids[burst.index]
    days = burst.age_hours / 24
    usual = (
        f"its busiest hours so far held about {burst.usual:,.0f}"
        if burst.usual
        else "it had sent nothing before"
    )
    reason = (
        f"new account {burst.series} ({days:.1f} days old) sent {burst.sent:,} messages in the"
        f" hour from {burst.hour:%Y-%m-%d %H:00} UTC; {usual}"
    )
    return SignalDraft(
        kind=SignalKind.SENDING_BURST,
        subject_type="account",
        subject_id=str(account_id),
        reason=reason,
        figures={
            "series": f"sending:{burst.series}",
            "hour": burst.hour.isoformat(),
            "observed": burst.sent,
            "expected": round(burst.usual, 1),
            "score": round(burst.sent / max(burst.usual, 1.0), 1),
            "account_age_days": round(days, 2),
            "counted": "messages sent",
        },
        at=burst.hour + HOUR,
        dedupe_key=f"burst:{account_id}:{burst.hour:%Y-%m-%dT%H}",
        account_id=account_id,
        severity=Severity.MEDIUM,
    )


def hourly_key(prefix: str, series: str, hour: datetime) -> str:
    """Return the dedupe key of a series' signal at *hour*, at most MAX_KEY characters.

    A series name too long to fit (a long link host) is replaced by its digest, so the
    hour is never cut off and two hours of one series never share a key.
    """
    key = f"{prefix}:{series}:{hour:%Y-%m-%dT%H}"
    if len(key) <= MAX_KEY:
        return key
    return f"{prefix}:sha256:{sha256_hex(series.encode())}:{hour:%Y-%m-%dT%H}"


def _chance(probability: float) -> str:
    """Return a probability in words an analyst reads: "about 1 in 3,000,000"."""
    if probability <= 0.0:
        return "practically none"
    odds = 1.0 / probability
    if odds >= 1e12:
        return f"below 1 in 10^{int(min(odds, 1e300).__format__('e').split('e')[1])}"
    return f"about 1 in {odds:,.0f}"
