"""The QA sampling sweep: draw closed cases and executed actions into the QA queue.

Each run (every ``qa.interval_seconds``) samples the work done since the last run's
mark: closed cases and executed actions at their tier's rate (higher for new analysts)
and every action whose appeal was overturned (docs/qa.md). The mark and the samples
commit in one transaction, so two processes never sample the same window twice and a
crash repeats the window rather than skipping it.
"""

import random
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import QaSettings
from abusedesk.insights.qa import SamplingPolicy
from abusedesk.storage import qa
from abusedesk.storage.db import unit_of_work

log = structlog.get_logger(__name__)


def sampling_rules(settings: QaSettings) -> qa.SamplingRules:
    """Return the sampling rules *settings* describe."""
    return qa.SamplingRules(
        policy=SamplingPolicy(
            tier_rates=dict(settings.tier_rates),
            default_rate=settings.default_rate,
            new_analyst_rate=settings.new_analyst_rate,
        ),
        new_analyst_days=settings.new_analyst_days,
        overturn_states=tuple(settings.overturn_states),
    )


def sample_now(
    sessions: sessionmaker[Session],
    settings: QaSettings,
    now: datetime,
    *,
    rng: random.Random | None = None,
    force: bool = False,
) -> qa.SamplingRound | None:
    """Run one sampling sweep at *now* if due (always with *force*); None when not due."""
    draw = rng or random.Random(settings.seed)  # noqa: S311  # sampling, not secrets
    with unit_of_work(sessions) as session:
        result = qa.run_sampling(
            session,
            sampling_rules(settings),
            draw,
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
    # One generator for the process: seeded from settings (repeatable) or from the system.
    rng = random.Random(settings.seed)  # noqa: S311  # sampling, not secrets
    # Asking the database at most once a minute keeps idle sweeps from taking write locks.
    pause = timedelta(seconds=min(60, settings.interval_seconds))
    next_check: list[datetime] = []

    def tend_qa_sampling(now: datetime) -> qa.SamplingRound | None:
        if not settings.enabled or (next_check and now < next_check[0]):
            return None
        next_check[:] = [now + pause]
        return sample_now(sessions, settings, now, rng=rng)

    return tend_qa_sampling
