"""Both periodic sweeps purge evidence past its retention."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from abusedesk.bootstrap import Container
from abusedesk.core.clock import utcnow
from abusedesk.pipeline.embedded import EmbeddedEngine
from abusedesk.privacy.model import RetentionPolicy
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.tables import Report
from tests.support.jobs import worker_sweep

OLD_REPORT = b"Subject: an old report of no known format\r\n\r\nbody\r\n"


def _old_settled_report(container: Container, days: int) -> int:
    with unit_of_work(container.sessions) as session:
        report_id = container.reports.store(
            session, OLD_REPORT, channel="test", envelope={}, received_at=utcnow()
        ).report_id
        session.execute(
            update(Report).values(status="done", received_at=utcnow() - timedelta(days=days))
        )
    return report_id


def _purge_reason(container: Container, report_id: int) -> str | None:
    with unit_of_work(container.sessions) as session:
        return session.scalar(select(Report.raw_purge_reason).where(Report.id == report_id))


def test_embedded_sweep_purges_with_a_policy_and_not_without(container: Container) -> None:
    """The embedded engine's sweep purges only when given a retention policy."""
    report_id = _old_settled_report(container, 200)
    without = EmbeddedEngine(container.sessions, container.reports, container.processor)
    without.sweep()
    kept = _purge_reason(container, report_id)
    with_policy = EmbeddedEngine(
        container.sessions, container.reports, container.processor, retention=RetentionPolicy()
    )
    with_policy.sweep()
    assert (kept, _purge_reason(container, report_id)) == (None, "retention")


@pytest.mark.postgres
def test_procrastinate_sweep_purges_by_the_settings(engine_container: Container) -> None:
    """The worker's periodic sweep purges by ``retention`` settings: 200 days is past 180."""
    old = _old_settled_report(engine_container, 200)
    worker_sweep(engine_container)
    assert _purge_reason(engine_container, old) == "retention"
