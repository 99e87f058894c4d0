"""The activity monitor: hosted mailboxes sending unlike themselves, and SMS pumping.

A run compares the last whole hours' window (``window_hours``) of every mailbox and SMS
sender active in it with its own baseline (``baseline_days`` before), reading in one
short read-only transaction and judging with none open (``abusedesk.anomalies``). Each
flagged account opens an *episode*, or extends its open one, in a second short
transaction; an episode ends after ``quiet_hours`` without a flag. While an episode is
open its baseline stays where it was when it opened, so a takeover or a pumping run
never becomes the account's usual. Every run returns one draft per open, flagged
episode with a dedupe key naming the episode's start: running again at the same time,
or later during the same episode, raises nothing new. The run that ends an episode
returns an ``activity.ended`` draft that ends the episode's signal, so its case no
longer counts it.

Rows with impossible figures (written by some other loader) are left out of the
judgement and logged; they never stop the run.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.anomalies.mailbox import (
    MailboxPolicy,
    MailboxVerdict,
    account_reason,
    assess_mailboxes,
    by_account,
)
from abusedesk.anomalies.model import MailboxHour, SmsHour, mailbox_totals, sms_totals
from abusedesk.anomalies.sms import PumpingVerdict, SmsPolicy, assess_accounts
from abusedesk.config import ActivitySettings
from abusedesk.core.clock import as_utc
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.storage import activity as store
from abusedesk.storage.db import read_only, unit_of_work

log = structlog.get_logger(__name__)

_Row = TypeVar("_Row", MailboxHour, SmsHour)
# Mailboxes a compromise signal names in its evidence, at most.
MAX_MAILBOXES = 20


def mailbox_policy(settings: ActivitySettings) -> MailboxPolicy:
    """Return the compromise check's policy from the settings."""
    return MailboxPolicy(
        window_hours=settings.window_hours,
        baseline_days=settings.baseline_days,
        volume_factor=settings.mailbox_volume_factor,
        min_sent=settings.mailbox_min_sent,
        min_fingerprint_hits=settings.mailbox_min_fingerprint_hits,
        min_reasons=settings.mailbox_min_reasons,
    )


def sms_policy(settings: ActivitySettings) -> SmsPolicy:
    """Return the pumping check's policy from the settings."""
    return SmsPolicy(
        window_hours=settings.window_hours,
        baseline_days=settings.baseline_days,
        min_sent=settings.sms_min_sent,
        rate_factor=settings.sms_rate_factor,
        max_conversion=settings.sms_max_conversion,
        max_delivery=settings.sms_max_delivery,
        high_risk_ranges=tuple(settings.sms_high_risk_ranges),
    )


class ActivityMonitor:
    """Flag compromised hosted mailboxes and SMS pumping, one signal per episode."""

    name = "activity"

    def __init__(self, settings: ActivitySettings | None = None) -> None:
        self.settings = settings or ActivitySettings()
        self.mailbox_policy = mailbox_policy(self.settings)
        self.sms_policy = sms_policy(self.settings)

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Judge the window ending at the last whole hour; return the episodes' drafts."""
        if not self.settings.enabled:
            return []
        end = as_utc(now).replace(minute=0, second=0, microsecond=0)
        window = timedelta(hours=self.settings.window_hours)
        baseline = timedelta(days=self.settings.baseline_days)
        quiet_since = end - timedelta(hours=self.settings.quiet_hours)
        window_start = end - window
        with read_only(sessions) as session:
            mailbox_open = store.open_episodes(
                session, SignalKind.MAILBOX_COMPROMISE, seen_since=quiet_since
            )
            sms_open = store.open_episodes(session, SignalKind.SMS_PUMPING, seen_since=quiet_since)
            mail_rows = _sound(store.mailbox_hours(session, window_start, end))
            sms_rows = _sound(store.sms_hours(session, window_start, end))
            mail_accounts = {row.account for row in mail_rows}
            sms_accounts = {row.account for row in sms_rows}
            ids = store.account_ids(session, mail_accounts | sms_accounts)
            mail_baselines = store.mailbox_baselines(
                session, _periods(mail_accounts, ids, mailbox_open, window_start, baseline)
            )
            sms_baselines = store.sms_baselines(
                session, _periods(sms_accounts, ids, sms_open, window_start, baseline)
            )
        mail_windows = mailbox_totals(mail_rows, window_start, end, since_first=False)
        sms_windows = sms_totals(sms_rows, window_start, end, since_first=False)
        compromised = by_account(
            assess_mailboxes(mail_baselines, mail_windows, self.mailbox_policy)
        )
        pumping = assess_accounts(sms_baselines, sms_windows, self.sms_policy)
        drafts: list[SignalDraft] = []
        with unit_of_work(sessions) as session:
            for account, verdicts in compromised.items():
                episode = store.record_sighting(
                    session,
                    account_id=ids[account],
                    kind=SignalKind.MAILBOX_COMPROMISE,
                    at=end,
                    baseline_end=window_start,
                    subjects=[v.mailbox for v in verdicts],
                    figures=_mailbox_figures(verdicts),
                    seen_since=quiet_since,
                )
                drafts.append(compromise_draft(episode, verdicts, at=end))
            for verdict in pumping:
                episode = store.record_sighting(
                    session,
                    account_id=ids[verdict.account],
                    kind=SignalKind.SMS_PUMPING,
                    at=end,
                    baseline_end=window_start,
                    subjects=list(verdict.originations),
                    figures=dict(verdict.figures),
                    seen_since=quiet_since,
                )
                drafts.append(pumping_draft(episode, verdict, at=end))
            ended = [
                episode
                for kind in (SignalKind.MAILBOX_COMPROMISE, SignalKind.SMS_PUMPING)
                for episode in store.end_quiet_episodes(session, kind, seen_before=quiet_since)
            ]
        drafts.extend(
            ended_draft(episode, quiet_hours=self.settings.quiet_hours, at=end) for episode in ended
        )
        log.info(
            "activity_ran",
            mailboxes=len(mail_windows),
            sms_accounts=len(sms_windows),
            compromised_accounts=len(compromised),
            pumping_accounts=len(pumping),
            episodes_ended=len(ended),
        )
        return drafts


def _periods(
    accounts: Iterable[str],
    ids: Mapping[str, int],
    episodes: Mapping[int, store.Episode],
    window_start: datetime,
    baseline: timedelta,
) -> dict[str, store.Period]:
    """Return each account's baseline: before the window, or before its open episode's."""
    periods = {}
    for account in accounts:
        stop = window_start
        episode = episodes.get(ids.get(account, -1))
        if episode is not None:
            stop = min(stop, episode.baseline_end)
        periods[account] = (stop - baseline, stop)
    return periods


def _sound(rows: list[_Row]) -> list[_Row]:
    """Return the rows with possible figures; log the others and leave them out."""
    sound = []
    for row in rows:
        problems = row.problems()
        if problems:
            log.warning(
                "activity_row_skipped",
                account=row.account,
                hour=row.hour.isoformat(),
                problems=problems,
            )
            continue
        sound.append(row)
    return sound


def _mailbox_figures(verdicts: Sequence[MailboxVerdict]) -> dict[str, Any]:
    return {
        "mailboxes": len(verdicts),
        "sent": sum(int(v.figures["sent"]) for v in verdicts),
        "bounces": sum(int(v.figures["bounces"]) for v in verdicts),
        "complaints": sum(int(v.figures["complaints"]) for v in verdicts),
        "fingerprint_hits": sum(int(v.figures["fingerprint_hits"]) for v in verdicts),
        "window_hours": max(int(v.figures["window_hours"]) for v in verdicts),
        "reasons": sorted({code for v in verdicts for code in v.codes}),
    }


def compromise_draft(
    episode: store.Episode, verdicts: list[MailboxVerdict], *, at: datetime
) -> SignalDraft:
    """Return the compromise signal of one account's episode, naming its mailboxes.

    The organisation is the victim: the signal opens a case (severity high) for an
    analyst to contact it and lock the mailboxes, and asks for no ladder step.
    """
    evidence = {
        "mailboxes": [
            {
                "mailbox": v.mailbox,
                "reasons": [r.text for r in v.reasons],
                "codes": list(v.codes),
                "figures": dict(v.figures),
            }
            for v in verdicts[:MAX_MAILBOXES]
        ],
        "episode_subjects": list(episode.subjects),
    }
    return SignalDraft(
        kind=SignalKind.MAILBOX_COMPROMISE,
        subject_type="account",
        subject_id=str(episode.account_id),
        reason=account_reason(verdicts),
        figures={
            **_mailbox_figures(verdicts),
            "episode_started_at": episode.started_at.isoformat(),
        },
        at=at,
        dedupe_key=_dedupe_key(SignalKind.MAILBOX_COMPROMISE, episode),
        account_id=episode.account_id,
        severity=Severity.HIGH,
        step=Step.NONE,
        evidence=evidence,
    )


def pumping_draft(episode: store.Episode, verdict: PumpingVerdict, *, at: datetime) -> SignalDraft:
    """Return the pumping signal of one account's episode; it asks for a review."""
    return SignalDraft(
        kind=SignalKind.SMS_PUMPING,
        subject_type="account",
        subject_id=str(episode.account_id),
        reason=verdict.sentence(),
        figures={
            **verdict.figures,
            "reasons": list(verdict.codes),
            "episode_started_at": episode.started_at.isoformat(),
        },
        at=at,
        dedupe_key=_dedupe_key(SignalKind.SMS_PUMPING, episode),
        account_id=episode.account_id,
        severity=Severity.HIGH,
        step=Step.REVIEW,
        evidence={
            "countries": list(verdict.countries),
            "number_ranges": list(verdict.ranges),
            "originations": list(verdict.originations),
            "reasons": [r.text for r in verdict.reasons],
        },
    )


def ended_draft(episode: store.Episode, *, quiet_hours: int, at: datetime) -> SignalDraft:
    """Return the draft that ends an episode's signal: it was quiet for *quiet_hours*."""
    what = "mailbox compromise" if episode.kind == SignalKind.MAILBOX_COMPROMISE else "SMS pumping"
    last = as_utc(episode.last_seen_at)
    return SignalDraft(
        kind=SignalKind.ACTIVITY_ENDED,
        subject_type="account",
        subject_id=str(episode.account_id),
        reason=(
            f"the {what} episode that began {episode.started_at:%Y-%m-%d %H:00} UTC ended:"
            f" nothing was flagged for {quiet_hours} hours after {last:%Y-%m-%d %H:00} UTC"
        ),
        figures={
            "episode_kind": episode.kind,
            "episode_started_at": episode.started_at.isoformat(),
            "last_seen_at": last.isoformat(),
            "quiet_hours": quiet_hours,
        },
        at=at,
        dedupe_key=f"{SignalKind.ACTIVITY_ENDED}:{_dedupe_key(episode.kind, episode)}",
        account_id=episode.account_id,
        resolves=_dedupe_key(episode.kind, episode),
    )


def _dedupe_key(kind: str, episode: store.Episode) -> str:
    return f"{kind}:{episode.account_id}:{episode.started_at:%Y-%m-%dT%H}"
