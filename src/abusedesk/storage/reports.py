"""Reports as stored: intake writes them, the pipeline claims and settles them."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import JSON, bindparam, func, null, select, update
from sqlalchemy.orm import Session

from abusedesk.core.errors import NotFound
from abusedesk.core.hashing import sha256_hex
from abusedesk.parsing.errors import UnknownReportFormat
from abusedesk.storage.dialect import insert_for
from abusedesk.storage.evidence import EvidenceStore
from abusedesk.storage.tables import Report, table_of

# Updates go through the Core table: the ORM-enabled path costs several times more per statement.
REPORTS = table_of(Report)


class ReportStatus:
    """Where a report is in the pipeline."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    QUARANTINED = "quarantined"
    # No parser recognised the report: it waits in the unknown-format inbox with its raw
    # sample until a parser for it lands, and is never retried on its own.
    UNKNOWN = "unknown_format"


# Every status, in pipeline order: what health and metrics list, with zeros.
REPORT_STATUSES = (
    ReportStatus.PENDING,
    ReportStatus.PROCESSING,
    ReportStatus.DONE,
    ReportStatus.QUARANTINED,
    ReportStatus.UNKNOWN,
)
# Statuses the pipeline never leaves on its own; only an operator sends such a report back.
SETTLED_STATUSES = (ReportStatus.DONE, ReportStatus.QUARANTINED, ReportStatus.UNKNOWN)
# Warnings kept per report, and characters per warning: a crafted report may hold many.
MAX_PARSE_WARNINGS = 50
MAX_WARNING_CHARS = 300


@dataclass(frozen=True)
class StoredReport:
    """The outcome of storing one report: its id, and whether the bytes were new."""

    report_id: int
    created: bool


@dataclass(frozen=True)
class ReportSummary:
    """A report's identity and pipeline state, without its bytes."""

    report_id: int
    sha256: str
    channel: str
    size: int
    envelope: dict[str, Any]
    received_at: datetime
    status: str
    stage: str | None
    report_format: str | None
    attempts: int
    error_class: str | None
    last_error: str | None
    report_kind: str | None = None
    parse_warnings: tuple[str, ...] = ()


# In ReportSummary's field order; the raw bytes are never loaded for a summary.
_SUMMARY_COLUMNS = (
    Report.id,
    Report.sha256,
    Report.channel,
    Report.size,
    Report.envelope,
    Report.received_at,
    Report.status,
    Report.stage,
    Report.report_format,
    Report.attempts,
    Report.error_class,
    Report.last_error,
    Report.report_kind,
    Report.parse_warnings,
)


@dataclass(frozen=True)
class NewReport:
    """A report to store: its bytes, the channel it came by and that channel's envelope."""

    raw: bytes
    channel: str
    envelope: dict[str, Any]


@dataclass(frozen=True)
class ParsedOutcome:
    """What the parse stage said of one report, recorded when it is marked done."""

    report_id: int
    report_format: str
    report_kind: str | None = None
    warnings: Sequence[str] = ()


# One statement marks every report of a batch done: executed with one row of values each.
_MARK_DONE = (
    update(REPORTS)
    .where(REPORTS.c.id == bindparam("b_id"))
    .values(
        status=ReportStatus.DONE,
        stage="done",
        report_format=bindparam("b_format"),
        report_kind=bindparam("b_kind"),
        # Without warnings the column is SQL NULL, not the JSON value null.
        parse_warnings=bindparam("b_warnings", type_=JSON(none_as_null=True)),
        processed_at=bindparam("b_now"),
        lease_until=None,
        error_class=None,
        last_error=None,
    )
)


class SqlReportRepository:
    """Store, claim and settle reports in SQL, with large bodies in an evidence store."""

    def __init__(self, evidence: EvidenceStore, inline_max_bytes: int) -> None:
        self.evidence = evidence
        self.inline_max_bytes = inline_max_bytes

    def store(
        self,
        session: Session,
        raw: bytes,
        *,
        channel: str,
        envelope: dict[str, Any],
        received_at: datetime,
    ) -> StoredReport:
        """Insert the report unless the same bytes were stored before."""
        return self.store_many(
            session, [NewReport(raw, channel, envelope)], received_at=received_at
        )[0]

    def store_many(
        self, session: Session, reports: Sequence["NewReport"], *, received_at: datetime
    ) -> list[StoredReport]:
        """Insert each report unless the same bytes were stored before; one result each.

        One query finds the digests already stored and one statement inserts the rest, so
        a batch costs two statements, not two per report. The same bytes twice in one
        batch are one report.
        """
        digests = [sha256_hex(report.raw) for report in reports]
        known = self._ids_by_digest(session, digests)
        rows: dict[str, dict[str, Any]] = {}
        for report, digest in zip(reports, digests, strict=True):
            if digest in known or digest in rows:
                continue
            inline = len(report.raw) <= self.inline_max_bytes
            rows[digest] = {
                "sha256": digest,
                "channel": report.channel,
                "size": len(report.raw),
                "raw": report.raw if inline else None,
                "blob_path": None if inline else self.evidence.put(report.raw),
                "envelope": report.envelope,
                "received_at": received_at,
                "status": ReportStatus.PENDING,
                "attempts": 0,
                "next_attempt_at": received_at,
            }
        created: set[str] = set()
        if rows:
            statement = (
                insert_for(session, Report)
                .on_conflict_do_nothing(index_elements=["sha256"])
                .returning(Report.id, Report.sha256)
            )
            for report_id, digest in session.execute(statement, list(rows.values())):
                known[digest] = report_id
                created.add(digest)
            missing = [digest for digest in rows if digest not in known]
            if missing:
                # Another writer stored the same bytes between our check and insert.
                known.update(self._ids_by_digest(session, missing))
        results = []
        for digest in digests:
            results.append(StoredReport(known[digest], created=digest in created))
            created.discard(digest)  # a repeat within the batch is a duplicate
        return results

    def _ids_by_digest(self, session: Session, digests: Sequence[str]) -> dict[str, int]:
        """Return the ids of the stored reports among *digests*."""
        rows = session.execute(
            select(Report.sha256, Report.id).where(Report.sha256.in_(set(digests)))
        )
        return {str(digest): int(report_id) for digest, report_id in rows}

    def raw(self, session: Session, report_id: int) -> bytes:
        """Return the raw bytes of a report, wherever they are kept."""
        row = session.execute(
            select(Report.raw, Report.blob_path).where(Report.id == report_id)
        ).one_or_none()
        if row is None:
            raise NotFound(f"no report {report_id}")
        if row.raw is not None:
            return bytes(row.raw)
        return self.evidence.get(row.blob_path)

    def load(
        self, session: Session, report_ids: Sequence[int]
    ) -> dict[int, tuple[ReportSummary, Callable[[], bytes]]]:
        """Return the summary of each report of *report_ids* that exists, and a reader of
        its raw bytes.

        Bytes kept in the row come with the query; those in the evidence store are read
        only when asked for, so a batch of large reports is never all in memory at once.
        """
        rows = session.execute(
            select(*_SUMMARY_COLUMNS, Report.raw, Report.blob_path).where(Report.id.in_(report_ids))
        )
        loaded: dict[int, tuple[ReportSummary, Callable[[], bytes]]] = {}
        for row in rows:
            summary = _summary(row[: len(_SUMMARY_COLUMNS)])
            raw, blob_path = row[len(_SUMMARY_COLUMNS) :]
            if raw is not None:
                loaded[summary.report_id] = (summary, partial(bytes, raw))
            else:
                loaded[summary.report_id] = (summary, partial(self.evidence.get, blob_path))
        return loaded

    def get(self, session: Session, report_id: int) -> ReportSummary:
        """Return one report's summary."""
        row = session.execute(select(*_SUMMARY_COLUMNS).where(Report.id == report_id)).one_or_none()
        if row is None:
            raise NotFound(f"no report {report_id}")
        return _summary(row)

    def claim(self, session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[int]:
        """Mark up to *limit* due pending reports as processing under a lease; return their ids."""
        due = (
            select(Report.id)
            .where(Report.status == ReportStatus.PENDING, Report.next_attempt_at <= now)
            .order_by(Report.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if ids:
            session.execute(
                update(REPORTS)
                .where(Report.id.in_(ids))
                .values(status=ReportStatus.PROCESSING, lease_until=now + lease)
            )
        return ids

    def release_expired_leases(self, session: Session, *, now: datetime) -> int:
        """Return reports whose worker died (lease expired) to pending; count them."""
        result = session.execute(
            update(REPORTS)
            .where(Report.status == ReportStatus.PROCESSING, Report.lease_until < now)
            .values(status=ReportStatus.PENDING, lease_until=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult has rowcount

    def release_all_processing(self, session: Session) -> int:
        """Return every processing report to pending (embedded start: no other worker exists)."""
        result = session.execute(
            update(REPORTS)
            .where(Report.status == ReportStatus.PROCESSING)
            .values(status=ReportStatus.PENDING, lease_until=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult has rowcount

    def stale_pending(self, session: Session, *, before: datetime, limit: int) -> list[int]:
        """Return ids of reports pending since before *before* (their job may be lost)."""
        return list(
            session.scalars(
                select(Report.id)
                .where(Report.status == ReportStatus.PENDING, Report.next_attempt_at <= before)
                .order_by(Report.id)
                .limit(limit)
            )
        )

    def mark_done(
        self,
        session: Session,
        report_id: int,
        *,
        report_format: str,
        now: datetime,
        report_kind: str | None = None,
        warnings: Sequence[str] = (),
    ) -> None:
        """Record that every stage succeeded, with what the parser said the report is."""
        self.mark_all_done(
            session, [ParsedOutcome(report_id, report_format, report_kind, warnings)], now=now
        )

    def mark_all_done(
        self, session: Session, outcomes: Sequence[ParsedOutcome], *, now: datetime
    ) -> None:
        """Mark every report of *outcomes* done in one statement."""
        if not outcomes:
            return
        session.execute(
            _MARK_DONE,
            [
                {
                    "b_id": outcome.report_id,
                    "b_format": outcome.report_format,
                    "b_kind": _bounded(outcome.report_kind, 60),
                    "b_warnings": bounded_warnings(outcome.warnings),
                    "b_now": now,
                }
                for outcome in outcomes
            ],
        )

    def mark_retry(
        self, session: Session, report_id: int, *, stage: str, error: BaseException, at: datetime
    ) -> None:
        """Record a transient failure and when to try again."""
        session.execute(
            update(REPORTS)
            .where(Report.id == report_id)
            .values(
                status=ReportStatus.PENDING,
                stage=stage,
                attempts=REPORTS.c.attempts + 1,
                next_attempt_at=at,
                lease_until=None,
                error_class=_error_class(error),
                last_error=_error_text(str(error)),
            )
        )

    def mark_quarantined(
        self,
        session: Session,
        report_id: int,
        *,
        stage: str,
        error: BaseException,
        reason: str,
        report_format: str | None = None,
    ) -> None:
        """Move a report to quarantine with the failing stage, error class and reason.

        *report_format* is the format of the parser that failed, or that read the report
        before a later stage failed; None when no parser got that far.
        """
        session.execute(
            update(REPORTS)
            .where(Report.id == report_id)
            .values(
                status=ReportStatus.QUARANTINED,
                stage=stage,
                report_format=_bounded(report_format, 40),
                attempts=REPORTS.c.attempts + 1,
                lease_until=None,
                error_class=_error_class(error),
                last_error=_error_text(f"{reason}: {error}"),
            )
        )

    def mark_unknown(
        self,
        session: Session,
        report_id: int,
        *,
        error: BaseException,
        report_format: str | None = None,
    ) -> None:
        """Move a report no parser recognises to the unknown-format inbox.

        *report_format* names the parser that claimed the report and then found it to be
        of a kind it does not know (a new SES event type, say); None when none claimed it.
        """
        session.execute(
            update(REPORTS)
            .where(Report.id == report_id)
            .values(
                status=ReportStatus.UNKNOWN,
                stage="parse",
                report_format=_bounded(report_format, 40),
                report_kind=None,
                # SQL NULL, not JSON null: parser health asks IS NULL.
                parse_warnings=null(),
                attempts=REPORTS.c.attempts + 1,
                lease_until=None,
                error_class=_error_class(error),
                last_error=_error_text(f"{UnknownReportFormat.reason}: {error}"),
            )
        )

    def with_status(
        self, session: Session, status: str, *, limit: int = 100, after_id: int = 0
    ) -> list[ReportSummary]:
        """Return reports in *status* with ids above *after_id*, oldest first."""
        rows = session.execute(
            select(*_SUMMARY_COLUMNS)
            .where(Report.status == status, Report.id > after_id)
            .order_by(Report.id)
            .limit(limit)
        )
        return [_summary(row) for row in rows]

    def quarantined(self, session: Session, *, limit: int = 100) -> list[ReportSummary]:
        """Return quarantined reports, oldest first."""
        return self.with_status(session, ReportStatus.QUARANTINED, limit=limit)

    def unknown_format(self, session: Session, *, limit: int = 100) -> list[ReportSummary]:
        """Return the reports in the unknown-format inbox, oldest first."""
        return self.with_status(session, ReportStatus.UNKNOWN, limit=limit)

    def requeue(
        self,
        session: Session,
        report_ids: Sequence[int],
        *,
        now: datetime,
        from_status: str = ReportStatus.QUARANTINED,
    ) -> int:
        """Send reports in *from_status* back to pending with a fresh attempt count."""
        result = session.execute(
            update(REPORTS)
            .where(Report.id.in_(report_ids), Report.status == from_status)
            .values(status=ReportStatus.PENDING, attempts=0, next_attempt_at=now, stage=None)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult has rowcount

    def count_by_status(self, session: Session) -> dict[str, int]:
        """Return how many reports are in each status."""
        rows = session.execute(
            select(Report.status, func.count().label("reports")).group_by(Report.status)
        )
        return {str(row.status): int(row.reports) for row in rows}


def bounded_warnings(warnings: Sequence[str]) -> list[str] | None:
    """Return at most a set number of warnings, each cut to a set length; None for none."""
    if not warnings:
        return None
    kept = [_error_text(str(w))[:MAX_WARNING_CHARS] for w in warnings[:MAX_PARSE_WARNINGS]]
    if len(warnings) > MAX_PARSE_WARNINGS:
        kept.append(f"... and {len(warnings) - MAX_PARSE_WARNINGS} more")
    return kept


def _summary(row: Any) -> ReportSummary:
    """Return a summary from a row of ``_SUMMARY_COLUMNS``."""
    summary = ReportSummary(*row)
    # The column holds a JSON list (or NULL); the summary holds a tuple of strings.
    warnings: Any = summary.parse_warnings
    return replace(summary, parse_warnings=tuple(str(w) for w in warnings or ()))


def _bounded(value: str | None, length: int) -> str | None:
    """Return *value* cut to a column's *length*, with NUL made visible."""
    return None if value is None else _error_text(value)[:length]


def _error_class(error: BaseException) -> str:
    kind = type(error)
    return f"{kind.__module__}.{kind.__qualname__}"


def _error_text(text: str) -> str:
    # Error messages may quote hostile input; PostgreSQL refuses NUL in text columns.
    return text.replace("\x00", "\\x00")[:2000]
