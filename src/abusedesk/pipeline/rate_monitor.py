"""The rate monitor: every subject's complaint and bounce rates and spam-trap hits, as signals.

A run brings its in-memory book of daily figures up to date in one read-only
transaction (all of it the first time and every ``reload_hours``, otherwise yesterday
and today only), reads the policy, the standings that are not healthy and the stored
statuses in a short one, judges every subject with no transaction open, and writes the
statuses that changed (and fresh figures of those not healthy) in a third. It returns
a draft per change: ``rate.under_review`` (step review), ``rate.pending_pause`` (step
propose_pause), ``rate.spam_trap`` and ``rate.healed`` (which resolves the signal it
ends). Only account subjects ask for ladder steps; an identity, configuration set,
Feedback-ID or destination group names its account, a shared IP pool none.

Running twice at the same *now* returns the same drafts (same dedupe keys); running later
with nothing changed returns none.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import RateSettings
from abusedesk.monitoring.signals import SignalDraft
from abusedesk.reputation.batch import day_number
from abusedesk.reputation.rates import RateWindow
from abusedesk.storage import rate_monitor as store
from abusedesk.storage.db import read_only, unit_of_work

log = structlog.get_logger(__name__)


def rate_rules(settings: RateSettings) -> store.RateRules:
    """Return the rules the settings describe."""
    return store.RateRules(
        window=RateWindow(settings.base_days, settings.max_days, settings.min_messages),
        min_to_act=settings.min_messages_to_act,
        trap_days=settings.trap_days,
        trap_review_hits=settings.trap_review_hits,
        trap_pause_hits=settings.trap_pause_hits,
        subjects=tuple(settings.subjects),
    )


class RateMonitor:
    """Read every subject's rates and spam-trap hits; raise a signal when a status changes."""

    name = "rates"

    def __init__(self, settings: RateSettings | None = None) -> None:
        self.settings = settings or RateSettings()
        self.rules = rate_rules(self.settings)
        self.book = store.RateBook(columns=self.rules.columns)

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Judge every subject at *now*, unless disabled; return the drafts of the changes."""
        if not self.settings.enabled:
            return []
        whole = self._due_for_whole_read(now)
        with read_only(sessions) as session:
            read = store.read_book(session, self.book, now=now, whole=whole)
        # Its own short transaction: a database without a policy gets the default one.
        with unit_of_work(sessions) as session:
            context = store.read_context(session, now=now)
        evaluation = store.evaluate(self.book, context, self.rules, now=now)
        for problem in evaluation.problems:
            log.warning("rates_metric_skipped", problem=problem)
        with unit_of_work(sessions) as session:
            written = store.write_statuses(
                session, evaluation.rows, now=now, refreshed=evaluation.refreshed
            )
            drafts = store.labelled(session, evaluation.drafts)
        log.info(
            "rates_ran",
            subjects=evaluation.subjects,
            rows_read=read,
            whole_read=whole,
            statuses_written=written,
            drafts=len(drafts),
        )
        return drafts

    def forget(self) -> None:
        """Drop the in-memory figures: the next run reads them whole again."""
        self.book = store.RateBook(columns=self.rules.columns)

    def _due_for_whole_read(self, now: datetime) -> bool:
        """Tell whether the book must be read whole: never read, stale, or asked about the past."""
        loaded = self.book.loaded_at
        if loaded is None or now < loaded or day_number(now) < self.book.today:
            return True
        return now - loaded >= timedelta(hours=self.settings.reload_hours)
