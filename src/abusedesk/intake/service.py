"""Store incoming reports durably, then tell the job engine: raw first, then acknowledge."""

from collections.abc import Callable, Sequence

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.core.clock import utcnow
from abusedesk.core.errors import AbuseDeskError
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.reports import NewReport, SqlReportRepository, StoredReport

log = structlog.get_logger(__name__)


class ReportRejected(AbuseDeskError):
    """Raise when a report is refused at the door (too large, empty)."""

    reason = "rejected"


class ReportTooLarge(ReportRejected):
    """Raise when a report exceeds the configured size limit."""

    reason = "too_large"


class EmptyInput(ReportRejected):
    """Raise when a report has no content at all."""

    reason = "empty"


# One report as a channel hands it over: its bytes, channel and the channel's envelope.
Incoming = NewReport


class ReportIntake:
    """Accept reports from any channel; commit them, then notify the job engine."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        reports: SqlReportRepository,
        *,
        max_bytes: int,
        notify: Callable[[Sequence[int]], None],
    ) -> None:
        self.sessions = sessions
        self.reports = reports
        self.max_bytes = max_bytes
        self.notify = notify

    def check(self, raw: bytes) -> None:
        """Raise ReportRejected when *raw* may not be stored."""
        if len(raw) > self.max_bytes:
            raise ReportTooLarge(
                f"report is {len(raw):,} bytes; the limit is {self.max_bytes:,} bytes"
            )
        if not raw.strip():
            raise EmptyInput("report is empty")

    def accept(self, incoming: Incoming) -> StoredReport:
        """Store one report and commit before returning (the caller may then acknowledge)."""
        return self.accept_many([incoming])[0]

    def accept_many(self, batch: Sequence[Incoming]) -> list[StoredReport]:
        """Store several checked reports in one transaction (a group commit)."""
        for incoming in batch:
            self.check(incoming.raw)
        now = utcnow()
        with unit_of_work(self.sessions) as session:
            stored = self.reports.store_many(session, batch, received_at=now)
        created = [s.report_id for s in stored if s.created]
        log.info("reports_stored", stored=len(created), duplicates=len(stored) - len(created))
        if created:
            self.notify(created)
        return stored
