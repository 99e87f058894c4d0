"""The report pipeline on a real database: process, attribute, fold, retry, quarantine."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from abusedesk.bootstrap import Container, build
from abusedesk.config import CaseSettings, Settings
from abusedesk.core.clock import utcnow
from abusedesk.intake.service import Incoming
from abusedesk.parsing.registry import ParserRegistry
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.reports import MAX_PARSE_WARNINGS, MAX_WARNING_CHARS, bounded_warnings
from abusedesk.storage.tables import AuditEntry, Case, Event, Report
from tests.factories.arf import arf_report
from tests.factories.inventory import SentMail, make_account, make_sent_mail
from tests.support.parsers import BrokenParser, FlakyParser
from tests.support.scripted import scripted, scripted_registry

DOMAIN = "news.example.com"


def _sent(container: Container, count: int) -> list[SentMail]:
    with unit_of_work(container.sessions) as session:
        account_id, resource_id = make_account(session, domain=DOMAIN)
        return [
            make_sent_mail(session, account_id, resource_id, n, domain=DOMAIN) for n in range(count)
        ]


def _ingest(container: Container, raws: list[bytes]) -> list[int]:
    stored = container.intake.accept_many([Incoming(raw, "test", {}) for raw in raws])
    while container.embedded.run_once():
        pass
    return [s.report_id for s in stored]


def _case_counts(container: Container) -> list[tuple[str, int, int]]:
    with unit_of_work(container.sessions) as session:
        rows = session.execute(select(Case.category_group, Case.event_count, Case.reporter_count))
        return sorted((group, count, reporters) for group, count, reporters in rows)


def test_arf_report_is_attributed_by_message_id_and_folded_into_a_case(
    container: Container,
) -> None:
    """An ARF report quoting a sent Message-ID lands on that account's spam case."""
    (mail,) = _sent(container, 1)
    (report_id,) = _ingest(container, [arf_report(message_id=mail.message_id, from_domain=DOMAIN)])
    with unit_of_work(container.sessions) as session:
        event = session.scalars(select(Event).where(Event.report_id == report_id)).one()
        assert (event.account_id, event.attribution_method, event.attribution_confidence) == (
            mail.account_id,
            "message_id",
            "high",
        )
        assert mail.message_id in (event.attribution_reason or "")
    assert _case_counts(container) == [("spam", 1, 1)]


def test_reprocessing_a_report_changes_nothing(container: Container) -> None:
    """Processing the same report again gives the same events and case counts."""
    mails = _sent(container, 3)
    ids = _ingest(
        container,
        [
            arf_report(message_id=m.message_id, from_domain=DOMAIN, serial=n)
            for n, m in enumerate(mails)
        ],
    )
    before = _case_counts(container)
    with unit_of_work(container.sessions) as session:
        session.execute(update(Report).where(Report.id.in_(ids)).values(status="pending"))
    while container.embedded.run_once():
        pass
    for account_id in {m.account_id for m in mails}:
        container.processor.aggregate_account(account_id)
    with unit_of_work(container.sessions) as session:
        assert session.scalar(select(func.count(Event.id))) == 3
    assert _case_counts(container) == before == [("spam", 3, 1)]


def test_same_bytes_twice_are_one_report(container: Container) -> None:
    """Storing identical bytes again returns the first report, not a new one."""
    raw = arf_report(message_id="x@example.com", from_domain=DOMAIN)
    first, second = container.intake.accept_many(
        [Incoming(raw, "test", {}), Incoming(raw, "test", {})]
    )
    assert (first.report_id, first.created, second.created) == (second.report_id, True, False)


def test_garbage_goes_to_the_unknown_format_inbox_with_stage_and_reason(
    container: Container,
) -> None:
    """Bytes no parser recognises wait in the unknown-format inbox, not in quarantine."""
    (report_id,) = _ingest(container, [b"\x00\x01\x02 not a report at all \xff"])
    with unit_of_work(container.sessions) as session:
        summary = container.reports.get(session, report_id)
        inbox = [r.report_id for r in container.reports.unknown_format(session)]
        quarantined = container.reports.quarantined(session)
    assert (summary.status, summary.stage, summary.error_class, inbox, quarantined) == (
        "unknown_format",
        "parse",
        "abusedesk.parsing.errors.UnknownReportFormat",
        [report_id],
        [],
    )
    assert (summary.last_error or "").startswith("unknown_format:")


def test_unknown_format_is_never_retried_on_its_own(container: Container) -> None:
    """A report in the unknown-format inbox is neither claimed nor processed again."""
    (report_id,) = _ingest(container, [b"garbage that no parser reads"])
    outcome = container.processor.process_report(report_id)
    with unit_of_work(container.sessions) as session:
        claimed = container.reports.claim(
            session, now=utcnow() + timedelta(days=30), lease=timedelta(seconds=60), limit=10
        )
        attempts = container.reports.get(session, report_id).attempts
    assert (outcome.status, claimed, attempts) == ("unknown_format", [], 1)


def test_requeued_report_is_processed_again(container: Container) -> None:
    """A report of unknown format sent back through the pipeline is processed once more."""
    (report_id,) = _ingest(container, [b"garbage that no parser reads"])
    with unit_of_work(container.sessions) as session:
        # Requeueing from quarantine does not take it: it is not in quarantine.
        assert container.reports.requeue(session, [report_id], now=utcnow()) == 0
        assert (
            container.reports.requeue(
                session, [report_id], now=utcnow(), from_status="unknown_format"
            )
            == 1
        )
        assert container.reports.get(session, report_id).status == "pending"


def test_reprocessed_unknown_report_is_read_once_a_parser_for_it_lands(
    container: Container,
) -> None:
    """An unknown report reprocessed after its parser is registered is done, with events."""
    (report_id,) = _ingest(container, [scripted(1, "events")])
    with unit_of_work(container.sessions) as session:
        container.reports.requeue(session, [report_id], now=utcnow(), from_status="unknown_format")
    outcome = _processor(container).process_report(report_id)
    assert (outcome.status, _event_count(container, report_id)) == ("done", 2)


def test_kind_and_warnings_are_recorded_on_the_report(container: Container) -> None:
    """What the parser says the report is, and what it could not read, stay on the report."""
    stored = container.intake.accept_many(
        [Incoming(scripted(1, "kind"), "test", {}), Incoming(scripted(2, "partial"), "test", {})]
    )
    processor = _processor(container)
    for item in stored:
        processor.process_report(item.report_id)
    with unit_of_work(container.sessions) as session:
        kind, partial = (container.reports.get(session, s.report_id) for s in stored)
    assert (
        (kind.status, kind.report_format, kind.report_kind, kind.parse_warnings),
        (partial.status, partial.report_kind, partial.parse_warnings),
    ) == (
        ("done", "scripted", "Delivery", ()),
        ("done", None, ("row 2: no IP address",)),
    )


def test_parse_failure_records_the_format_of_the_parser_that_failed(
    container: Container,
) -> None:
    """A report a parser claimed and could not read is quarantined under that parser's format."""
    (stored,) = container.intake.accept_many([Incoming(scripted(1, "malformed"), "test", {})])
    outcome = _processor(container).process_report(stored.report_id)
    with unit_of_work(container.sessions) as session:
        summary = container.reports.get(session, stored.report_id)
    assert (outcome.status, outcome.reason, summary.stage, summary.report_format) == (
        "quarantined",
        "malformed",
        "parse",
        "scripted",
    )


def test_a_parser_that_finds_its_report_unknown_names_its_format(container: Container) -> None:
    """A report claimed by a parser that does not know its kind waits in the unknown inbox."""
    (stored,) = container.intake.accept_many([Incoming(scripted(1, "unknown"), "test", {})])
    outcome = _processor(container).process_report(stored.report_id)
    with unit_of_work(container.sessions) as session:
        summary = container.reports.get(session, stored.report_id)
    assert (outcome.status, summary.report_format) == ("unknown_format", "scripted")


def test_warnings_are_bounded_in_number_and_length() -> None:
    """A report with thousands of long warnings keeps a bounded list, saying how many more."""
    kept = bounded_warnings(["w" * 10_000] * 5_000)
    assert (len(kept or []), {len(w) for w in (kept or [])[:-1]}, (kept or [""])[-1]) == (
        MAX_PARSE_WARNINGS + 1,
        {MAX_WARNING_CHARS},
        f"... and {5_000 - MAX_PARSE_WARNINGS} more",
    )


def _processor(container: Container) -> ReportProcessor:
    return ReportProcessor(container.sessions, container.reports, scripted_registry())


def _event_count(container: Container, report_id: int) -> int:
    with unit_of_work(container.sessions) as session:
        return int(
            session.scalar(select(func.count(Event.id)).where(Event.report_id == report_id)) or 0
        )


def test_large_report_is_kept_as_an_evidence_blob(container: Container) -> None:
    """A report above the inline limit is stored outside the row and read back intact."""
    raw = arf_report(message_id="big@example.com", from_domain=DOMAIN) + b"x" * 100_000
    (stored,) = container.intake.accept_many([Incoming(raw, "test", {})])
    with unit_of_work(container.sessions) as session:
        row = session.get(Report, stored.report_id)
        assert row is not None
        assert (row.raw, row.blob_path, container.reports.raw(session, stored.report_id)) == (
            None,
            row.sha256,
            raw,
        )


def test_transient_failures_retry_with_backoff_then_quarantine(container: Container) -> None:
    """A transient failure is retried later, and quarantined once the attempts run out."""
    processor = ReportProcessor(
        container.sessions,
        container.reports,
        ParserRegistry([FlakyParser()]),
        max_attempts=2,
        backoff_base_seconds=60,
    )
    (stored,) = container.intake.accept_many([Incoming(b"Subject: hi\r\n\r\nbody", "test", {})])
    first = processor.process_report(stored.report_id)
    with unit_of_work(container.sessions) as session:
        row = session.get(Report, stored.report_id)
        assert row is not None
        assert (first.status, row.attempts) == ("pending", 1)
        assert row.next_attempt_at > utcnow() + timedelta(seconds=50)
        row.status = "processing"
    second = processor.process_report(stored.report_id)
    assert (second.status, second.reason) == ("quarantined", "retries_exhausted")


def test_case_closed_within_the_grace_period_reopens(container: Container) -> None:
    """A complaint soon after a case closed reopens it (to triaged) instead of a duplicate."""
    mails = _sent(container, 2)
    _ingest(container, [arf_report(message_id=mails[0].message_id, from_domain=DOMAIN, serial=1)])
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Case).values(status="closed", closed_at=utcnow(), close_reason="no_action")
        )
    _ingest(container, [arf_report(message_id=mails[1].message_id, from_domain=DOMAIN, serial=2)])
    with unit_of_work(container.sessions) as session:
        cases = session.execute(select(Case.status, Case.reopen_count, Case.event_count)).all()
    assert [tuple(c) for c in cases] == [("triaged", 1, 2)]


def test_case_closed_long_ago_is_not_reused(container: Container) -> None:
    """Past the grace period, a new complaint opens a new case for the account."""
    mails = _sent(container, 2)
    _ingest(container, [arf_report(message_id=mails[0].message_id, from_domain=DOMAIN, serial=1)])
    with unit_of_work(container.sessions) as session:
        session.execute(
            update(Case).values(
                status="closed", closed_at=utcnow() - timedelta(days=30), close_reason="no_action"
            )
        )
    _ingest(container, [arf_report(message_id=mails[1].message_id, from_domain=DOMAIN, serial=2)])
    with unit_of_work(container.sessions) as session:
        statuses = sorted(session.scalars(select(Case.status)))
    assert statuses == ["closed", "new"]


def test_not_spam_feedback_makes_no_case(container: Container) -> None:
    """A not-spam report is recorded as an event but never counts as a complaint case."""
    (mail,) = _sent(container, 1)
    _ingest(
        container,
        [arf_report(message_id=mail.message_id, from_domain=DOMAIN, feedback_type="not-spam")],
    )
    with unit_of_work(container.sessions) as session:
        event = session.scalars(select(Event)).one()
        assert (event.category, event.case_id, event.aggregated_at is not None) == (
            "not_spam",
            None,
            True,
        )
    assert _case_counts(container) == []


def test_case_opening_is_audited(container: Container) -> None:
    """Opening a case writes an audit row saying why."""
    (mail,) = _sent(container, 1)
    _ingest(container, [arf_report(message_id=mail.message_id, from_domain=DOMAIN)])
    with unit_of_work(container.sessions) as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.tag == "case:case:open")).one()
    assert (entry.tag, entry.actor, entry.subject_type) == (
        "case:case:open",
        "system:aggregate",
        "case",
    )


def test_audit_log_refuses_updates(container: Container) -> None:
    """The database itself refuses to change an audit row."""
    (mail,) = _sent(container, 1)
    _ingest(container, [arf_report(message_id=mail.message_id, from_domain=DOMAIN)])
    with (
        pytest.raises(DBAPIError, match="append-only"),
        unit_of_work(container.sessions) as session,
    ):
        session.execute(text("UPDATE audit_log SET reason = 'rewritten'"))


def test_expired_lease_returns_report_to_the_queue(container: Container) -> None:
    """A report claimed by a worker that died is handed out again once its lease runs out."""
    (stored,) = container.intake.accept_many([Incoming(b"Subject: x\r\n\r\ny", "test", {})])
    with unit_of_work(container.sessions) as session:
        claimed = container.reports.claim(
            session, now=utcnow(), lease=timedelta(seconds=1), limit=10
        )
    with unit_of_work(container.sessions) as session:
        released = container.reports.release_expired_leases(
            session, now=utcnow() + timedelta(seconds=5)
        )
        status = container.reports.get(session, stored.report_id).status
    assert (claimed, released, status) == ([stored.report_id], 1, "pending")


def test_nul_in_headers_is_dropped_the_same_on_every_database(container: Container) -> None:
    """A NUL hidden in reporter and indicators is removed, and the report is processed."""
    raw = b"From: angry@exa\x00mple.net\r\nSubject: spam\r\n\r\nsee http://bad.exa\x00mple/x\r\n"
    (report_id,) = _ingest(container, [raw])
    with unit_of_work(container.sessions) as session:
        status = container.reports.get(session, report_id).status
        event = session.scalars(select(Event).where(Event.report_id == report_id)).one()
    assert (status, event.reporter, event.indicators["url"]) == (
        "done",
        "example.net",
        ["http://bad.example/x"],
    )


def test_a_bug_quarantines_the_report_with_where_it_happened(container: Container) -> None:
    """An unexpected error quarantines the report as internal_error naming our code's line."""
    processor = ReportProcessor(
        container.sessions, container.reports, ParserRegistry([BrokenParser()])
    )
    (stored,) = container.intake.accept_many([Incoming(b"Subject: hi\r\n\r\nbody", "test", {})])
    outcome = processor.process_report(stored.report_id)
    with unit_of_work(container.sessions) as session:
        summary = container.reports.get(session, stored.report_id)
    assert (outcome.status, summary.stage, summary.error_class) == (
        "quarantined",
        "parse",
        "builtins.KeyError",
    )
    assert (outcome.reason or "").startswith("internal_error at registry.py:")


def test_configured_case_groups_and_grace_period_decide_the_fold(settings: Settings) -> None:
    """Fraud gets cases of its own, and with no grace a closed case is never reopened."""
    configured = settings.model_copy(
        update={"cases": CaseSettings(category_groups={"fraud": "fraud"}, reopen_grace_days=0)}
    )
    container = build(configured)
    try:
        mails = _sent(container, 3)
        fraud = arf_report(
            message_id=mails[0].message_id, from_domain=DOMAIN, serial=1, feedback_type="fraud"
        )
        _ingest(container, [fraud])
        with unit_of_work(container.sessions) as session:
            session.execute(
                update(Case).values(status="closed", closed_at=utcnow(), close_reason="no_action")
            )
        again = arf_report(
            message_id=mails[1].message_id, from_domain=DOMAIN, serial=2, feedback_type="fraud"
        )
        _ingest(container, [again])
        with unit_of_work(container.sessions) as session:
            cases = sorted(session.execute(select(Case.category_group, Case.status)).all())
    finally:
        container.close()
    assert [tuple(c) for c in cases] == [("fraud", "closed"), ("fraud", "new")]
