"""The monitoring sweep: run each monitor on its interval and turn its signals into casework.

Each monitor (rates, blocklists, spikes, linking, activity) is an object with a ``name``
and ``run(sessions, now) -> drafts``; it reads the database in short transactions of its
own and holds none during network calls. The sweep claims a monitor's run in
``sweep_marks`` once its interval has passed (so two processes never run it twice),
runs it, and applies its drafts (`storage.monitoring.apply_drafts`) in transactions of
``batch_size`` drafts: each draft's signal, case and action commit together.
A monitor that raises is logged and recorded as a ``monitor.failed`` signal; the other
monitors still run, and its next run that works ends that signal. Drafts with bad data
are refused one by one and recorded as a ``monitor.refused_drafts`` signal.
Each sweep also ends the signals whose kind lasts only a while
(``expire_after_hours``: spikes and bursts count while recent).
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.cases.policy import CaseGroups
from abusedesk.config import MonitoringSettings, Settings
from abusedesk.monitoring.rules import SignalRules
from abusedesk.monitoring.signals import SignalDraft
from abusedesk.storage import monitoring
from abusedesk.storage.cases import DEFAULT_REOPEN_GRACE
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.monitoring import AppliedSignal, Casework

log = structlog.get_logger(__name__)


class Monitor(Protocol):
    """What the sweep runs: a named monitor that returns signal drafts for a time."""

    name: str

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Return the drafts the monitor raises at *now*; idempotent for the same *now*."""
        ...


@dataclass(frozen=True)
class MonitorRun:
    """One monitor's turn in a sweep: whether it ran, what its drafts became, or its error."""

    name: str
    ran: bool
    applied: tuple[AppliedSignal, ...] = ()
    error: str | None = None

    @property
    def raised(self) -> int:
        """Return how many new signals the run raised."""
        return sum(1 for a in self.applied if a.raised)

    @property
    def refused(self) -> tuple[AppliedSignal, ...]:
        """Return the drafts refused for bad data."""
        return tuple(a for a in self.applied if a.problem is not None)


class MonitoringSweep:
    """Run monitors on their intervals and apply their drafts."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        monitors: Sequence[Monitor],
        settings: MonitoringSettings,
        *,
        reopen_grace: timedelta = DEFAULT_REOPEN_GRACE,
        groups: CaseGroups | None = None,
    ) -> None:
        names = [m.name for m in monitors]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two monitors share the name {', '.join(twice)}")
        self.sessions = sessions
        self.monitors = list(monitors)
        self.settings = settings
        # Raises InvalidSignalRules at start, naming every wrong override.
        self.casework = Casework(
            SignalRules.from_overrides(settings.rules, groups=groups),
            grace=reopen_grace,
            advanced_queue=settings.advanced_queue,
        )

    def run(self, now: datetime, *, force: bool = False) -> list[MonitorRun]:
        """Run every monitor whose interval has passed (every one with *force*)."""
        if not self.settings.enabled:
            return []
        runs = [self.run_monitor(monitor, now, force=force) for monitor in self.monitors]
        self.end_expired(now)
        return runs

    def end_expired(self, now: datetime) -> int:
        """End the open signals older than their kind's ``expire_after_hours``; return how many."""
        ended = 0
        for kind, hours in sorted(self.settings.expire_after_hours.items()):
            with unit_of_work(self.sessions) as session:
                ended += monitoring.end_expired_signals(session, kind, hours=hours, now=now)
        if ended:
            log.info("signals_expired", ended=ended)
        return ended

    def run_monitor(self, monitor: Monitor, now: datetime, *, force: bool = False) -> MonitorRun:
        """Run one monitor if its turn has come; a failure is logged and recorded, not raised."""
        interval = timedelta(seconds=self.settings.interval_of(monitor.name))
        with unit_of_work(self.sessions) as session:
            claimed = monitoring.claim_run(
                session, monitor.name, now=now, interval=interval, force=force
            )
        if not claimed:
            return MonitorRun(monitor.name, ran=False)
        applied: list[AppliedSignal] = []
        try:
            drafts = list(monitor.run(self.sessions, now))
            size = self.settings.batch_size
            for start in range(0, len(drafts), size):
                with unit_of_work(self.sessions) as session:
                    applied.extend(
                        monitoring.apply_drafts(
                            session,
                            drafts[start : start + size],
                            casework_rules=self.casework,
                            now=now,
                        )
                    )
            with unit_of_work(self.sessions) as session:
                refused = [a for a in applied if a.problem is not None]
                if refused:
                    monitoring.record_refused_drafts(session, monitor.name, refused, now=now)
                monitoring.clear_failure(session, monitor.name, now=now)
        except Exception as error:  # a monitor's failure is recorded; the others still run
            log.exception("monitor_failed", monitor=monitor.name)
            text = f"{type(error).__name__}: {error}"[:500]
            with unit_of_work(self.sessions) as session:
                monitoring.record_failure(session, monitor.name, text, now=now)
            return MonitorRun(monitor.name, ran=True, applied=tuple(applied), error=text)
        run = MonitorRun(monitor.name, ran=True, applied=tuple(applied))
        log.info(
            "monitor_ran",
            monitor=monitor.name,
            drafts=len(drafts),
            raised=run.raised,
            refused=len(run.refused),
        )
        return run


def monitoring_tender(
    sessions: sessionmaker[Session], settings: Settings, monitors: Sequence[Monitor]
) -> Callable[[datetime], list[MonitorRun]]:
    """Return the sweep step for `EmbeddedEngine(tenders=...)`: each due monitor at a time."""
    sweep = MonitoringSweep(
        sessions,
        monitors,
        settings.monitoring,
        reopen_grace=timedelta(days=settings.cases.reopen_grace_days),
        groups=settings.cases.groups(),
    )

    def tend_monitoring(now: datetime) -> list[MonitorRun]:
        return sweep.run(now)

    return tend_monitoring
