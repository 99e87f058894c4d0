"""The simulator's cases opened at a chosen time, and the scripted analyst day played on them."""

from datetime import UTC, datetime, timedelta

from abusedesk.bootstrap import Container
from abusedesk.demo.analysts import DAY, AnalystDay
from abusedesk.demo.provider import generate_provider
from abusedesk.demo.reports import ReportGenerator
from abusedesk.demo.traffic import generate_traffic
from abusedesk.intake.service import Incoming
from abusedesk.storage import analyst_day
from abusedesk.storage.cases import fold_account_events
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.enforcement import LocalConnector
from abusedesk.storage.seed import seed_provider
from tests.support.casework import make_user

# Monday 2 November 2026, 08:00 UTC: the scripted day starts.
DAY_START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
ROLES = {"basic": "analyst_basic", "advanced": "analyst_advanced", "lead": "lead"}


def simulated_cases(container: Container, *, opened_at: datetime, reports: int = 80) -> list[int]:
    """Seed a small simulated provider, ingest and process reports about it, and fold
    their events into cases at *opened_at*; return the case ids, oldest first."""
    provider = generate_provider(seed=5, accounts=14, days=2, end=opened_at - timedelta(hours=1))
    traffic = generate_traffic(provider)
    with unit_of_work(container.sessions) as session:
        seed_provider(session, provider, traffic, chunk_size=500)
    generated = ReportGenerator(provider, traffic).generate(reports)
    stored = container.intake.accept_many(
        [Incoming(r.raw, "file", {"source": r.file_name}) for r in generated]
    )
    container.processor.process_reports([s.report_id for s in stored])
    with unit_of_work(container.sessions) as session:
        cases: list[int] = []
        for account_id in analyst_day.unfolded_accounts(session):
            cases.extend(
                fold_account_events(
                    session,
                    account_id,
                    now=opened_at,
                    groups=container.processor.case_groups,
                    grace=container.processor.reopen_grace,
                )
            )
    return sorted(set(cases))


def play_scripted_day(
    container: Container, day: AnalystDay = DAY, *, make_users: bool = True
) -> list[int]:
    """Create the day's analysts (unless they exist), open the simulator's cases two hours
    before the day, and play the day on them; return the cases the day worked (its case
    0, 1, ...)."""
    if make_users:
        with unit_of_work(container.sessions) as session:
            for username, _ in day.analysts:
                make_user(session, username, ROLES[username])
    simulated_cases(container, opened_at=DAY_START - day.cases_open_before)
    metrics = container.settings.metrics
    with unit_of_work(container.sessions) as session:
        worked = analyst_day.day_cases(session, day)
        analyst_day.play(
            session,
            day,
            start=DAY_START,
            cases=worked,
            connector=LocalConnector(),
            heartbeat=timedelta(seconds=metrics.heartbeat_seconds),
            gap=timedelta(seconds=metrics.gap()),
        )
    return worked
