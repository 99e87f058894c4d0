"""The QA sampling sweep: draw closed cases and executed actions into the QA queue.

Each run (every ``qa.interval_seconds``) samples the work done since the last run's
mark: closed cases and executed actions at their tier's rate (higher for new analysts)
and every action whose appeal was overturned (docs/qa.md). Whether a piece of work is
drawn depends only on it and the settings' seed, never on chance at run time: a test,
an audit or a repeated window draws the same work again. The mark and the samples
commit in one transaction, so two processes never sample the same window twice and a
crash repeats the window rather than skipping it.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import QaSettings
from abusedesk.insights.qa import SamplingPolicy
from abusedesk.storage import qa
from abusedesk.storage.db import unit_of_work

log = structlog.get_logger(__name__)


def sampling_rules(settings: QaSettings, *, seed: int | None = None) -> qa.SamplingRules:
    """Return the sampling rules *settings* describe (with *seed* instead of theirs)."""
    return qa.SamplingRules(
        policy=SamplingPolicy(
            tier_rates=dict(settings.tier_rates),
            default_rate=settings.default_rate,
            new_analyst_rate=settings.new_analyst_rate,
        ),
        new_analyst_days=settings.new_analyst_days,
        overturn_states=tuple(settings.overturn_states),
        seed=settings.seed if seed is None else seed,
    )


def sample_now(
    sessions: sessionmaker[Session],
    settings: QaSettings,
    now: datetime,
    *,
    seed: int | None = None,
    force: bool = False,
) -> qa.SamplingRound | None:
    """Run one sampling sweep at *now* if due (always with *force*); None when not due.

    *seed* replaces the settings' seed for this run.
    """
    with unit_of_work(sessions) as session:
        result = qa.run_sampling(
            session,
            sampling_rules(settings, seed=seed),
            now=now,
            interval=timedelta(seconds=settings.interval_seconds),
            first_lookback=timedelta(days=settings.first_lookback_days),
            force=force,
        )
    if result is not None:
        log.info(
            "qa_sampled",
            considered=result.considered,
            sampled=result.total,
            without_analyst=result.without_analyst,
        )
    return result


def qa_sampling_tender(
    sessions: sessionmaker[Session], settings: QaSettings
) -> Callable[[datetime], qa.SamplingRound | None]:
    """Return the sweep step for `EmbeddedEngine(tenders=...)`: sample when due."""
    # Asking the database at most once a minute keeps idle sweeps from taking write locks.
    pause = timedelta(seconds=min(60, settings.interval_seconds))
    next_check: list[datetime] = []

    def tend_qa_sampling(now: datetime) -> qa.SamplingRound | None:
        if not settings.enabled or (next_check and now < next_check[0]):
            return None
        next_check[:] = [now + pause]
        return sample_now(sessions, settings, now)

    return tend_qa_sampling
