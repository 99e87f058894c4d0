"""Run reports through parse, enrich and attribute; fold accounts' events into cases.

These task functions are what every job engine runs (embedded threads or procrastinate
workers). Each writes its effects in one transaction and is idempotent: running it again
after a crash, or twice at once, changes nothing that was already right. Parsing, whose
cost hostile input sets, runs outside any transaction, so that it never holds a lock
other writers (intake above all) wait for.

A batch of reports (the embedded engine's claim) is read in one query, attributed in one
read-only transaction and stored in one write transaction: a statement or two for the
whole batch instead of several per report. A batch whose store fails is done again one
report at a time, so one bad report costs its batch speed, never its neighbours' results.
"""

import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.attribution.model import EventFacts
from abusedesk.attribution.ports import InventoryLookup
from abusedesk.attribution.resolver import attribute_events
from abusedesk.cases.policy import CaseGroups
from abusedesk.core.clock import utcnow
from abusedesk.core.errors import NotFound, TransientError
from abusedesk.parsing.errors import ParseError, UnknownReportFormat
from abusedesk.parsing.model import EventDraft
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.enrich import enrich
from abusedesk.pipeline.parser_health import ParserHealthWatch
from abusedesk.pipeline.replies import REPLY_FORMAT, CustomerReplies
from abusedesk.storage.cases import DEFAULT_GROUPS, DEFAULT_REOPEN_GRACE, fold_account_events
from abusedesk.storage.db import read_only, unit_of_work
from abusedesk.storage.events import EventRecord, event_rows, upsert_event_rows
from abusedesk.storage.inventory import SqlInventoryLookup
from abusedesk.storage.inventory_cache import InventoryCache
from abusedesk.storage.reports import (
    SETTLED_STATUSES,
    ParsedOutcome,
    ReportStatus,
    ReportSummary,
    SqlReportRepository,
)
from abusedesk.storage.unattributed import reattribute_batch

log = structlog.get_logger(__name__)

# Waiting events the resolver looks at again per transaction.
REATTRIBUTE_BATCH = 500


@dataclass(frozen=True)
class ReportOutcome:
    """What processing one report did: its final status and the accounts to aggregate."""

    report_id: int
    status: str
    accounts: tuple[int, ...] = ()
    reason: str | None = None


@dataclass(frozen=True)
class Reattributed:
    """What running the resolver again over the unattributed inbox did."""

    examined: int
    settled: int


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
        inventory: InventoryCache | None = None,
        case_groups: CaseGroups = DEFAULT_GROUPS,
        reopen_grace: timedelta = DEFAULT_REOPEN_GRACE,
        replies: CustomerReplies | None = None,
    ) -> None:
        self.sessions = sessions
        # Customers' replies to notices are taken before parsing (pipeline/replies.py).
        self.replies = replies
        self.reports = reports
        self.parsers = parsers
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.parser_health = parser_health
        self.inventory = inventory
        self.case_groups = case_groups
        self.reopen_grace = reopen_grace

    def process_report(self, report_id: int) -> ReportOutcome:
        """Parse, enrich, attribute and store one report; quarantine or reschedule it on failure.

        Afterwards, when its interval has passed, the parser health check runs too.
        """
        outcome = self._process_report(report_id)
        self._check_parser_health()
        return outcome

    def process_reports(self, report_ids: Sequence[int]) -> list[ReportOutcome]:
        """Process a batch of reports together; return the outcome of each one processed.

        A report that cannot be processed at all (a bug outside the stage runner) is
        logged and left out: it keeps its lease and is handed out again when it expires.
        """
        try:
            outcomes = list(self._process_batch(report_ids).values())
        except Exception:
            # The batch's boundary: a failure the batch path did not settle (a store that
            # failed for one report fails the whole transaction) is found one by one.
            log.warning("batch_failed_retried_one_by_one", reports=len(report_ids), exc_info=True)
            outcomes = []
            for report_id in report_ids:
                try:
                    outcomes.append(self._process_report(report_id))
                except Exception:
                    # A loop boundary: the rest of the batch goes on.
                    log.exception("report_processing_failed", report_id=report_id)
        self._check_parser_health()
        return outcomes

    def _lookup(self, session: Session) -> InventoryLookup:
        """Return the inventory lookup for one read-only attribution transaction."""
        if self.inventory is None:
            return SqlInventoryLookup(session)
        return self.inventory.lookup(session)

    def _check_parser_health(self) -> None:
        if self.parser_health is None:
            return
        try:
            self.parser_health.check_if_due()
        except Exception:
            # A boundary: a failed check is logged and tried again next interval; the
            # report it followed is settled already and must not be failed by it.
            log.exception("parser_health_check_failed")

    def _process_batch(self, report_ids: Sequence[int]) -> dict[int, ReportOutcome]:
        """Process *report_ids* with one read, one attribution pass and one write.

        Parse and enrich failures are settled per report here; an attribute or store
        failure raises, and the caller then processes the batch one report at a time.
        """
        with read_only(self.sessions) as session:
            loaded = self.reports.load(session, report_ids)
        outcomes: dict[int, ReportOutcome] = {}
        parsed: list[tuple[ReportSummary, ParsedOutcome, list[EventDraft]]] = []
        for report_id in report_ids:
            if report_id not in loaded:
                raise NotFound(f"no report {report_id}")
            summary, read_raw = loaded[report_id]
            if summary.status in SETTLED_STATUSES:
                outcomes[report_id] = ReportOutcome(report_id, summary.status)
                continue
            raw = read_raw()
            reply = self._take_reply(summary, raw)
            if reply is not None:
                outcomes[report_id] = reply
                continue
            result = self._parse(report_id, raw)
            if isinstance(result, ReportOutcome):
                outcomes[report_id] = result
            else:
                parsed.append((summary, *result))
        if not parsed:
            return outcomes
        with read_only(self.sessions) as session:
            attributed = _attribute(
                self._lookup(session),
                [(drafts, summary.received_at) for summary, _, drafts in parsed],
            )
        stored = [(outcome, rs) for (_, outcome, _), rs in zip(parsed, attributed, strict=True)]
        with unit_of_work(self.sessions) as session:
            self._store(session, stored)
        for outcome, records in stored:
            outcomes[outcome.report_id] = ReportOutcome(
                outcome.report_id, ReportStatus.DONE, _accounts(records)
            )
        return outcomes

    def _process_report(self, report_id: int) -> ReportOutcome:
        """Process one report, settling a failure at whichever stage it happens."""
        with read_only(self.sessions) as session:
            summary = self.reports.get(session, report_id)
            if summary.status in SETTLED_STATUSES:
                return ReportOutcome(report_id, summary.status)
            raw = self.reports.raw(session, report_id)
        reply = self._take_reply(summary, raw)
        if reply is not None:
            return reply
        result = self._parse(report_id, raw)
        if isinstance(result, ReportOutcome):
            return result
        outcome, drafts = result
        stage = "attribute"
        try:
            with read_only(self.sessions) as session:
                (records,) = _attribute(self._lookup(session), [(drafts, summary.received_at)])
            stage = "store"
            with unit_of_work(self.sessions) as session:
                self._store(session, [(outcome, records)])
        except Exception as exc:
            # The stage runner's boundary: every failure is settled on the report, never lost.
            return self._settle_failure(report_id, stage, exc, report_format=outcome.report_format)
        return ReportOutcome(report_id, ReportStatus.DONE, _accounts(records))

    def _take_reply(self, summary: ReportSummary, raw: bytes) -> ReportOutcome | None:
        """Store a customer's reply on its case instead of parsing it; None if it is no reply."""
        if self.replies is None:
            return None
        try:
            taken = self.replies.take(summary, raw)
        except Exception as exc:
            # The stage runner's boundary: a refused reply address is quarantined with its
            # reason; a database failure is retried like any other.
            return self._settle_failure(summary.report_id, "reply", exc, report_format=REPLY_FORMAT)
        return None if taken is None else ReportOutcome(summary.report_id, ReportStatus.DONE)

    def _parse(
        self, report_id: int, raw: bytes
    ) -> tuple[ParsedOutcome, list[EventDraft]] | ReportOutcome:
        """Parse and enrich one report; settle it (unknown, retry, quarantine) when that fails."""
        stage = "parse"
        report_format: str | None = None
        try:
            try:
                parsed = self.parsers.parse(raw)
            except UnknownReportFormat as error:
                return self._settle_unknown(report_id, error)
            stage = "enrich"
            report_format = parsed.report_format
            drafts = [enrich(draft) for draft in parsed.events]
        except Exception as exc:
            # The stage runner's boundary: every failure is settled on the report, never lost.
            # The registry labels a parse failure with the parser that raised it.
            report_format = report_format or getattr(exc, "parser_name", None)
            return self._settle_failure(report_id, stage, exc, report_format=report_format)
        return ParsedOutcome(report_id, parsed.report_format, parsed.kind, parsed.warnings), drafts

    def _store(
        self, session: Session, stored: Sequence[tuple[ParsedOutcome, list[EventRecord]]]
    ) -> None:
        """Write the events of every report in *stored* and mark the reports done."""
        now = utcnow()
        upsert_event_rows(
            session,
            [
                row
                for outcome, records in stored
                for row in event_rows(outcome.report_id, outcome.report_format, records, now=now)
            ],
        )
        self.reports.mark_all_done(session, [outcome for outcome, _ in stored], now=now)

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

    def reattribute_waiting(self, *, actor: str, limit: int | None = None) -> Reattributed:
        """Run the resolver again over the unattributed inbox, after the inventory changed.

        One transaction per batch, so a long run never holds the write lock for long;
        the events that settle are folded into their accounts' cases.
        """
        examined = settled = after_id = 0
        while limit is None or examined < limit:
            size = REATTRIBUTE_BATCH if limit is None else min(REATTRIBUTE_BATCH, limit - examined)
            with unit_of_work(self.sessions) as session:
                batch = reattribute_batch(
                    session, after_id=after_id, limit=size, actor=actor, now=utcnow()
                )
            if not batch.examined:
                break
            self.aggregate_accounts(batch.accounts)
            examined += batch.examined
            settled += batch.settled
            after_id = batch.last_id
        return Reattributed(examined, settled)

    def aggregate_account(self, account_id: int) -> list[int]:
        """Fold one account's new events into its cases (the aggregate and policy stages)."""
        with unit_of_work(self.sessions) as session:
            return fold_account_events(
                session,
                account_id,
                now=utcnow(),
                grace=self.reopen_grace,
                groups=self.case_groups,
            )

    def aggregate_accounts(self, account_ids: Sequence[int]) -> None:
        """Fold several accounts' new events in one transaction, in account order.

        When the transaction fails, each account is folded on its own, so one account's
        failure leaves only its own events waiting for the sweeper.
        """
        try:
            with unit_of_work(self.sessions) as session:
                now = utcnow()
                for account_id in sorted(account_ids):
                    fold_account_events(
                        session,
                        account_id,
                        now=now,
                        grace=self.reopen_grace,
                        groups=self.case_groups,
                    )
        except Exception:
            # The batch's boundary: found again one account at a time.
            log.warning("aggregation_batch_failed", accounts=len(account_ids), exc_info=True)
            for account_id in sorted(account_ids):
                try:
                    self.aggregate_account(account_id)
                except Exception:
                    # The sweeper folds this account's events later.
                    log.exception("aggregation_failed", account_id=account_id)


def _attribute(
    lookup: InventoryLookup, reports: Sequence[tuple[list[EventDraft], datetime]]
) -> list[list[EventRecord]]:
    """Attribute the events of several reports in one pass; return each report's records.

    An event that says nothing of its time happened when its report arrived.
    """
    timed = [
        (seq, draft, draft.occurred_at or received_at)
        for drafts, received_at in reports
        for seq, draft in enumerate(drafts)
    ]
    attributions = iter(
        attribute_events(
            [EventFacts(draft.indicators, at, draft.category) for _, draft, at in timed], lookup
        )
    )
    records = iter(
        EventRecord(seq, draft, at, attribution)
        for (seq, draft, at), attribution in zip(timed, attributions, strict=True)
    )
    return [[next(records) for _ in drafts] for drafts, _ in reports]


def _accounts(records: Sequence[EventRecord]) -> tuple[int, ...]:
    """Return the accounts a report's events settled on, in order."""
    return tuple(
        sorted(
            {
                r.attribution.account_id
                for r in records
                if r.attribution.settled and r.attribution.account_id is not None
            }
        )
    )


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
