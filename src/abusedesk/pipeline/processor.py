"""Run a report through parse, enrich and attribute; fold an account's events into cases.

These two task functions are what every job engine runs (embedded threads or
procrastinate workers). Each writes its effects in one transaction and is idempotent:
running it again after a crash, or twice at once, changes nothing that was already right.
Parsing, whose cost hostile input sets, runs outside any transaction, so that it never
holds a lock other writers (intake above all) wait for.
"""

import os
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.attribution.service import attribute
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import TransientError
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.model import EventDraft
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.enrich import enrich
from abusedesk.pipeline.parser_health import ParserHealthWatch
from abusedesk.storage.cases import fold_account_events
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.events import EventRecord, upsert_events
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.reports import SETTLED_STATUSES, ReportStatus, SqlReportRepository

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ReportOutcome:
    """What processing one report did: its final status and the accounts to aggregate."""

    report_id: int
    status: str
    accounts: tuple[int, ...] = ()
    reason: str | None = None


class ReportProcessor:
    """Process reports and aggregate accounts, recording outcomes on the report."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        reports: SqlReportRepository,
        parsers: ParserRegistry,
        *,
        max_attempts: int = 5,
        backoff_base_seconds: float = 2.0,
        parser_health: ParserHealthWatch | None = None,
    ) -> None:
        self.sessions = sessions
        self.reports = reports
        self.parsers = parsers
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.parser_health = parser_health

    def process_report(self, report_id: int) -> ReportOutcome:
        """Parse, enrich, attribute and store one report; quarantine or reschedule it on failure.

        Afterwards, when its interval has passed, the parser health check runs too.
        """
        outcome = self._process_report(report_id)
        if self.parser_health is not None:
            self._check_parser_health(self.parser_health)
        return outcome

    def _check_parser_health(self, watch: ParserHealthWatch) -> None:
        try:
            watch.check_if_due()
        except Exception:
            # A boundary: a failed check is logged and tried again next interval; the
            # report it followed is settled already and must not be failed by it.
            log.exception("parser_health_check_failed")

    def _process_report(self, report_id: int) -> ReportOutcome:
        with read_only(self.sessions) as session:
            summary = self.reports.get(session, report_id)
            if summary.status in SETTLED_STATUSES:
                return ReportOutcome(report_id, summary.status)
            raw = self.reports.raw(session, report_id)
        stage = "parse"
        report_format: str | None = None
        try:
            try:
                parsed = self.parsers.parse(raw)
            except UnknownReportFormat as error:
                return self._settle_unknown(report_id, error)
            report_format = parsed.report_format
            stage = "enrich"
            drafts = [enrich(draft) for draft in parsed.events]
            stage = "attribute"
            with read_only(self.sessions) as session:
                records = self._attribute(session, drafts, fallback_time=summary.received_at)
            stage = "store"
            with unit_of_work(self.sessions) as session:
                now = utcnow()
                upsert_events(session, report_id, parsed.report_format, records, now=now)
                self.reports.mark_done(
                    session,
                    report_id,
                    report_format=parsed.report_format,
                    report_kind=parsed.kind,
                    warnings=parsed.warnings,
                    now=now,
                )
        except Exception as exc:
            # The stage runner's boundary: every failure is settled on the report, never lost.
            if report_format is None:
                # The registry labels a failure with the parser that raised it.
                report_format = getattr(exc, "parser_name", None)
            return self._settle_failure(report_id, stage, exc, report_format=report_format)
        accounts = tuple(sorted({r.attribution.account_id for r in records if r.attribution}))
        log.debug(
            "report_processed", report_id=report_id, events=len(records), accounts=len(accounts)
        )
        return ReportOutcome(report_id, ReportStatus.DONE, accounts)

    def _attribute(
        self, session: Session, drafts: list[EventDraft], *, fallback_time: datetime
    ) -> list[EventRecord]:
        lookup = SqlInventoryLookup(session)
        records = []
        for seq, draft in enumerate(drafts):
            occurred_at = draft.occurred_at or fallback_time
            records.append(
                EventRecord(
                    seq, draft, occurred_at, attribute(draft.indicators, occurred_at, lookup)
                )
            )
        return records

    def _settle_unknown(self, report_id: int, error: UnknownReportFormat) -> ReportOutcome:
        """Put a report no parser recognises in the unknown-format inbox; never retried."""
        # A parser that claimed the report and then found it unknown names its format.
        report_format = getattr(error, "parser_name", None)
        with unit_of_work(self.sessions) as session:
            self.reports.mark_unknown(
                session,
                report_id,
                error=error,
                report_format=report_format if isinstance(report_format, str) else None,
            )
        log.info("report_format_unknown", report_id=report_id)
        return ReportOutcome(report_id, ReportStatus.UNKNOWN, reason=error.reason)

    def _settle_failure(
        self, report_id: int, stage: str, error: BaseException, *, report_format: str | None
    ) -> ReportOutcome:
        with unit_of_work(self.sessions) as session:
            attempts = self.reports.get(session, report_id).attempts + 1
            if is_transient(error) and attempts < self.max_attempts:
                delay = self.backoff_base_seconds * 2 ** (attempts - 1)
                self.reports.mark_retry(
                    session,
                    report_id,
                    stage=stage,
                    error=error,
                    at=utcnow() + timedelta(seconds=delay),
                )
                log.warning("report_retry", report_id=report_id, stage=stage, attempts=attempts)
                return ReportOutcome(report_id, ReportStatus.PENDING, reason="transient")
            reason = failure_reason(error, exhausted=is_transient(error))
            self.reports.mark_quarantined(
                session,
                report_id,
                stage=stage,
                error=error,
                reason=reason,
                report_format=report_format if isinstance(report_format, str) else None,
            )
        log.warning("report_quarantined", report_id=report_id, stage=stage, reason=reason)
        return ReportOutcome(report_id, ReportStatus.QUARANTINED, reason=reason)

    def aggregate_account(self, account_id: int) -> list[int]:
        """Fold one account's new events into its cases (the aggregate and policy stages)."""
        with unit_of_work(self.sessions) as session:
            return fold_account_events(session, account_id, now=utcnow())


def is_transient(error: BaseException) -> bool:
    """Tell whether retrying the same work later may succeed."""
    if isinstance(error, TransientError | OperationalError):
        return True
    return isinstance(error, DBAPIError) and error.connection_invalidated


def failure_reason(error: BaseException, *, exhausted: bool) -> str:
    """Return the machine-readable reason a report is quarantined."""
    if exhausted:
        return "retries_exhausted"
    if isinstance(error, ParseError):
        return error.reason
    return f"internal_error at {_where(error)}"


def _where(error: BaseException) -> str:
    """Return ``module.py:line`` of the innermost frame in our own code, for whoever fixes it."""
    place = "unknown"
    for frame in traceback.extract_tb(error.__traceback__):
        if f"{os.sep}abusedesk{os.sep}" in frame.filename:
            place = f"{Path(frame.filename).name}:{frame.lineno}"
    return place
