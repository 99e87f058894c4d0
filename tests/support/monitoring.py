"""Signal drafts and monitors for tests: what a rate, blocklist or linking monitor returns.

The monitors here return the drafts they are given (or raise), so a test decides what a
monitor saw; everything after `run` is the real sweep, storage and casework.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.bootstrap import Container
from abusedesk.config import MonitoringSettings
from abusedesk.core.clock import utcnow
from abusedesk.inventory.model import NumberedRecord, Table
from abusedesk.inventory.rows import parse_row
from abusedesk.monitoring.rules import SignalRules
from abusedesk.monitoring.signals import Severity, SignalDraft, SignalKind, Step
from abusedesk.pipeline.monitoring import MonitoringSweep
from abusedesk.pipeline.rate_monitor import RateMonitor
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.inventory_store import upsert_records
from abusedesk.storage.monitoring import AppliedSignal, Casework, apply_drafts
from abusedesk.storage.tables import Account, Case
from abusedesk.web.app import create_app
from abusedesk.web.ui import monitoring as monitoring_pages
from tests.support.casework import MONDAY
from tests.support.web import serving

COMPLAINT_FIGURES: dict[str, Any] = {
    "metric": "complaint_rate",
    "rate": 0.0031,
    "eligible_messages": 48_200,
    "window": {"days": 7, "start": "2026-10-26"},
    "sentence": "complaint rate 0.31% over 48,200 messages in 7 days",
}


def rate_draft(
    account_id: int,
    *,
    kind: str = SignalKind.RATE_REVIEW,
    step: str = Step.REVIEW,
    severity: str = Severity.MEDIUM,
    at: datetime = MONDAY,
    day: str = "2026-11-02",
    figures: dict[str, Any] | None = None,
    resolves: str | None = None,
) -> SignalDraft:
    """Return a complaint-rate draft about *account_id* as the rates monitor raises it."""
    return SignalDraft(
        kind=kind,
        subject_type="account",
        subject_id=str(account_id),
        reason="complaint rate 0.31% over 48,200 messages is above the 0.1% review threshold",
        figures=figures if figures is not None else COMPLAINT_FIGURES,
        at=at,
        dedupe_key=f"{kind}:account:{account_id}:complaint_rate:{day}",
        account_id=account_id,
        severity=severity,
        step=step,
        resolves=resolves,
    )


def listing_draft(
    ip: str, *, account_id: int | None, delisted: bool = False, at: datetime = MONDAY
) -> SignalDraft:
    """Return a listing (or delisting) of *ip* on a test list."""
    listing_key = f"{SignalKind.BLOCKLIST_LISTED}:zen.test:{ip}:2026-11-02"
    return SignalDraft(
        kind=SignalKind.BLOCKLIST_DELISTED if delisted else SignalKind.BLOCKLIST_LISTED,
        subject_type="ip",
        subject_id=ip,
        reason=f"{ip} is {'no longer ' if delisted else ''}listed on zen.test (127.0.0.2)",
        figures={"list": "zen.test", "answer": "127.0.0.2"},
        at=at,
        dedupe_key=f"{SignalKind.BLOCKLIST_DELISTED}:zen.test:{ip}:{at:%Y-%m-%d}"
        if delisted
        else listing_key,
        account_id=account_id,
        severity=Severity.HIGH if account_id is None else Severity.MEDIUM,
        resolves=listing_key if delisted else None,
    )


def linked_draft(account_id: int, *, at: datetime = MONDAY) -> SignalDraft:
    """Return a high-severity "linked to a terminated account" draft."""
    return SignalDraft(
        kind=SignalKind.LINKED_TO_TERMINATED,
        subject_type="account",
        subject_id=str(account_id),
        reason="shares a DKIM key and a payment fingerprint with terminated account 17",
        figures={"linked_to": "17", "shared": ["dkim_key", "payment_fingerprint"], "score": 0.92},
        at=at,
        dedupe_key=f"{SignalKind.LINKED_TO_TERMINATED}:{account_id}:17",
        account_id=account_id,
        severity=Severity.HIGH,
    )


def apply(
    container: Container,
    drafts: Sequence[SignalDraft],
    *,
    now: datetime = MONDAY,
    rules: SignalRules | None = None,
    advanced_queue: str = "",
) -> list[AppliedSignal]:
    """Apply *drafts* in one transaction with the default (or given) rules."""
    with unit_of_work(container.sessions) as session:
        return apply_drafts(
            session,
            drafts,
            casework_rules=Casework(rules or SignalRules(), advanced_queue=advanced_queue),
            now=now,
        )


def account_id_of(session: Session, external_id: str) -> int:
    """Return the id of the account *external_id*."""
    found = session.scalar(select(Account.id).where(Account.external_id == external_id))
    assert found is not None, f"no account {external_id}"
    return found


@dataclass
class ScriptedMonitor:
    """A monitor that returns the drafts it holds, or raises *error*; counts its runs."""

    name: str
    drafts: list[SignalDraft] = field(default_factory=list)
    error: Exception | None = None
    runs: list[datetime] = field(default_factory=list)

    def run(self, sessions: sessionmaker[Session], now: datetime) -> Sequence[SignalDraft]:
        """Return the drafts (or raise), remembering when it ran."""
        del sessions
        self.runs.append(now)
        if self.error is not None:
            raise self.error
        return list(self.drafts)


HOUR = timedelta(hours=1)


def monitoring_app(container: Container) -> FastAPI:
    """Return the app with the monitoring pages (added here if the app does not route them)."""
    app = create_app(container)
    paths = {getattr(route, "path", None) for route in app.routes}
    if "/monitoring" not in paths:
        app.include_router(monitoring_pages.router)
    return app


@contextmanager
def monitoring_site(container: Container) -> Iterator[str]:
    """Serve the app with its monitoring pages on 127.0.0.1; yield the base URL."""
    with serving(monitoring_app(container)) as base_url:
        yield base_url


ACCOUNTS = [
    {"external_id": "4411", "name": "Northwind", "created_at": "2025-01-01T00:00:00Z"},
    {"external_id": "5522", "name": "Contoso", "created_at": "2025-01-01T00:00:00Z"},
]


def _upsert(container: Container, table: str, rows: list[dict[str, Any]]) -> None:
    records = [NumberedRecord(n, parse_row(table, n, row)) for n, row in enumerate(rows, 1)]
    with unit_of_work(container.sessions) as session:
        upsert_records(session, table, records)


def sending(
    account: str, *, now: datetime, days: int, fbl: int, complaints: int
) -> list[dict[str, Any]]:
    """Return one hour of sending statistics at 00:00 on each of the last *days* days."""
    return [
        {
            "account": account,
            "hour": (
                now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=d)
            ).isoformat(),
            "sent": fbl + 1000,
            "fbl_sent": fbl,
            "complaints": complaints,
        }
        for d in range(days)
    ]


def seeded_monitoring(container: Container) -> dict[str, int]:
    """Run the real rate monitor through the sweep over a week of sending, and apply listings.

    Northwind (4411) complains at 0.40% and Contoso (5522) at 0.15% of 14,000 messages to
    feedback-loop domains: both go under review, which opens a reputation case and proposes
    a review each. 4411's dedicated IP and a shared-pool IP are listed. Return the ids.
    """
    now = utcnow()
    _upsert(container, Table.ACCOUNTS, ACCOUNTS)
    _upsert(
        container,
        Table.SENDING_STATS,
        sending("4411", now=now, days=7, fbl=2000, complaints=8)
        + sending("5522", now=now, days=7, fbl=2000, complaints=3),
    )
    with read_only(container.sessions) as session:
        account_id = account_id_of(session, "4411")
        other_id = account_id_of(session, "5522")
    sweep = MonitoringSweep(container.sessions, [RateMonitor()], MonitoringSettings())
    [run] = sweep.run(now)
    assert run.error is None, run.error
    apply(
        container,
        [
            listing_draft("192.0.2.10", account_id=account_id, at=now),
            listing_draft("198.51.100.7", account_id=None, at=now),
        ],
        now=now,
    )
    with read_only(container.sessions) as session:
        case_id = session.scalar(
            select(Case.id).where(
                Case.account_id == account_id, Case.category_group == "reputation"
            )
        )
    assert case_id is not None, "the review opened no case"
    return {"account_id": account_id, "other_id": other_id, "case_id": case_id}
