"""The weekly reports' tender: keep the events roll-up current, generate last week's report.

On every sweep the tender counts new events into the daily roll-ups (at most every
``rollup_interval_seconds``, a few batches at a time, each batch one transaction), and
once last week has been over for ``generate_after_hours`` and has no report yet (and
reports had arrived by its end: an install that has received nothing reports nothing), it
catches the roll-up up and generates that report as ``system:reports``. Generating
again (on demand, from the page or the CLI) keeps the lead's summary.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import Settings
from abusedesk.insights.weeks import WEEK, week_start
from abusedesk.storage import trends as store
from abusedesk.storage.db import read_only, unit_of_work

log = structlog.get_logger(__name__)

ACTOR = "system:reports"
# Roll-up batches one sweep counts at most; the next sweep goes on.
BATCHES_PER_SWEEP = 10
# Batches counted before generating at most (the report waits for the roll-up to catch up).
CATCH_UP_BATCHES = 10_000


def trend_options(settings: Settings) -> store.TrendOptions:
    """Return how the weekly figures are counted, from the settings."""
    groups = {
        domain: group
        for group, domains in settings.spikes.provider_groups.items()
        for domain in domains
    }
    reports = settings.reports
    return store.TrendOptions(
        provider_groups=groups,
        contact_spike_factor=reports.contact_spike_factor,
        contact_spike_minimum=reports.contact_spike_minimum,
        trend_weeks=reports.trend_weeks,
    )


class WeeklyReports:
    """Roll events up and generate each week's report once the week is over."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings.reports
        self.options = trend_options(settings)
        self._rolled_at: datetime | None = None

    def roll_up(
        self, now: datetime, *, batches: int = BATCHES_PER_SWEEP, settle: bool = True
    ) -> int:
        """Count up to *batches* batches of settled events; return the event ids counted.

        Without *settle* it catches up before a report: every event created a settling
        time ago counts, whether or not an earlier roll-up has seen it (never fewer: an
        id skipped while its transaction was still open would stay uncounted).
        """
        counted = 0
        wait = timedelta(seconds=self.settings.rollup_settle_seconds)
        for _ in range(batches):
            with unit_of_work(self.sessions) as session:
                step = store.roll_up(
                    session,
                    now=now,
                    settle=wait,
                    batch=self.settings.rollup_batch,
                    catch_up=not settle,
                )
            counted += step.counted_to - step.counted_from
            if not step.counted:
                break
        self._rolled_at = now
        return counted

    def generate(self, week: datetime, *, actor: str, now: datetime) -> store.WeeklyReportRecord:
        """Catch the roll-up up and generate (or generate again) the report of *week*."""
        self.roll_up(now, batches=CATCH_UP_BATCHES, settle=False)
        with unit_of_work(self.sessions) as session:
            return store.generate(session, week, actor=actor, now=now, options=self.options)

    def due_week(self, now: datetime) -> datetime | None:
        """Return last week's start if its report is due and not yet generated, else None."""
        last_week = week_start(now) - WEEK
        if now < last_week + WEEK + timedelta(hours=self.settings.generate_after_hours):
            return None
        with read_only(self.sessions) as session:
            first = store.first_arrival(session)
            # A week before the first report ever received has nothing to tell.
            if first is None or first >= last_week + WEEK:
                return None
            return None if store.has_report(session, last_week) else last_week

    def tend(self, now: datetime) -> datetime | None:
        """Run the roll-up when its interval has passed; generate last week's report when due."""
        if not self.settings.enabled:
            return None
        interval = timedelta(seconds=self.settings.rollup_interval_seconds)
        if self._rolled_at is None or now - self._rolled_at >= interval:
            self.roll_up(now)
        week = self.due_week(now)
        if week is None:
            return None
        self.generate(week, actor=ACTOR, now=now)
        log.info("weekly_report_generated", week_start=week.date().isoformat())
        return week


def weekly_reports_tender(
    sessions: sessionmaker[Session], settings: Settings
) -> Callable[[datetime], datetime | None]:
    """Return the sweep step for `EmbeddedEngine(tenders=...)`: roll-ups and weekly reports."""
    reports = WeeklyReports(sessions, settings)

    def tend_weekly_reports(now: datetime) -> datetime | None:
        return reports.tend(now)

    return tend_weekly_reports
