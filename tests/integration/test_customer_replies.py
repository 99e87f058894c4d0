"""Customers' replies to notices arrive at the intake, are recognised, and land on their case."""

import smtplib
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.intake.service import Incoming
from abusedesk.intake.smtp import RecipientPolicy, SmtpIntakeServer
from abusedesk.messaging.keys import NoticeContext
from abusedesk.notices.links import reply_address
from abusedesk.pipeline.processor import ReportProcessor
from abusedesk.pipeline.replies import CustomerReplies
from abusedesk.storage import notices
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.notices import MessageRecord
from abusedesk.storage.tables import Event, Report
from tests.factories.arf import arf_report
from tests.support.casework import kinds, make_case, new_account
from tests.support.notices import CONTACT, context_for, queue_notice, set_contact


@pytest.fixture
def ctx(settings: Settings, tmp_path: Path) -> NoticeContext:
    """Return a notice context with explicit keys."""
    return context_for(settings, tmp_path)


@pytest.fixture
def processor(container: Container, ctx: NoticeContext) -> ReportProcessor:
    """Return a report processor that takes customers' replies before parsing."""
    return ReportProcessor(
        container.sessions,
        container.reports,
        container.parsers,
        replies=CustomerReplies(container.sessions, container.reports, ctx),
    )


def _notice(container: Container, ctx: NoticeContext) -> tuple[int, MessageRecord]:
    with unit_of_work(container.sessions) as session:
        account_id = new_account(session)
        set_contact(session, account_id)
        case_id = make_case(session, account_id)
        sent = queue_notice(session, ctx, account_id, case_id)
    assert sent is not None
    return case_id, sent


def _reply_mail(to: str, *, in_reply_to: str = "", subject: str = "Re: your notice") -> bytes:
    threading = (
        f"In-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n" if in_reply_to else ""
    )
    return (
        f"From: Ops <{CONTACT}>\r\n"
        f"To: {to}\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <reply-1@customer1.example.com>\r\n"
        f"{threading}"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "We removed the purchased list and added double opt-in.\r\n"
    ).encode()


def _store(container: Container, raw: bytes, rcpt: str) -> int:
    stored = container.intake.accept(
        Incoming(raw, "smtp", {"mail_from": CONTACT, "rcpt_tos": [rcpt]})
    )
    return stored.report_id


def _report(container: Container, report_id: int) -> Report:
    with unit_of_work(container.sessions) as session:
        report = session.get(Report, report_id)
        assert report is not None
        session.expunge(report)
        return report


def test_a_reply_to_the_reply_address_lands_on_its_case(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Recognised before parsing: an inbound message on the case, threading kept, no events."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">")
    report_id = _store(container, _reply_mail(address, in_reply_to=sent.message_id), address)
    outcome = processor.process_report(report_id)
    report = _report(container, report_id)
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
        events = session.scalar(select(func.count()).where(Event.report_id == report_id))
        history = kinds(session, case_id)
    assert outcome.status == "done"
    assert (report.status, report.report_format, report.report_kind) == (
        "done",
        "customer_reply",
        "reply",
    )
    assert events == 0
    reply = thread[-1]
    assert (reply.direction, reply.channel, reply.report_id) == ("in", "email", report_id)
    assert reply.in_reply_to == sent.message_id
    assert reply.references == sent.message_id
    assert reply.from_address == CONTACT
    assert reply.subject == "Re: your notice"
    assert reply.body.startswith("We removed the purchased list")
    assert history[-1] == "customer_reply"


def test_a_reply_found_by_its_to_header_in_a_batch(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Sent to abuse@ with the reply address in To: still a reply; the batch path too."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">")
    report_id = _store(container, _reply_mail(address), "abuse@desk.example")
    (outcome,) = processor.process_reports([report_id])
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert outcome.status == "done"
    assert [m.direction for m in thread] == ["out", "in"]


def test_a_forged_reply_address_is_quarantined_with_its_reason(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """A reply address whose signature fails: quarantined, never parsed, never on a case."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">")
    local, domain = address.split("@")
    forged = f"{local[:-3]}{'aaa' if not local.endswith('aaa') else 'bbb'}@{domain}"
    report_id = _store(container, _reply_mail(forged), forged)
    outcome = processor.process_report(report_id)
    report = _report(container, report_id)
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert outcome.status == "quarantined"
    assert report.status == "quarantined"
    assert report.last_error is not None
    assert report.last_error.startswith("reply_address_refused: ")
    assert "signature does not match" in report.last_error
    assert [m.direction for m in thread] == ["out"]


def test_a_signed_reply_address_of_a_missing_case_is_quarantined(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Correctly signed, but no such case: quarantined, the message kept with the report."""
    address = reply_address(ctx.keyring, "424242", "desk.example")
    report_id = _store(container, _reply_mail(address), address)
    outcome = processor.process_report(report_id)
    report = _report(container, report_id)
    assert outcome.status == "quarantined"
    assert report.last_error is not None
    assert "no case 424242" in report.last_error
    assert report.raw is not None


def test_an_ordinary_report_is_still_parsed(
    container: Container, processor: ReportProcessor
) -> None:
    """A complaint to abuse@ is no reply: it is parsed into events as before."""
    raw = arf_report(message_id="m-1@news.example.com", from_domain="news.example.com", serial=1)
    report_id = _store(container, raw, "abuse@desk.example")
    outcome = processor.process_report(report_id)
    report = _report(container, report_id)
    assert outcome.status == "done"
    assert report.report_format == "arf"


def test_a_complaint_copying_reply_addresses_is_still_parsed(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Sent to abuse@, a complaint that Cc's a forged or dangling reply address is parsed."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">")
    local, domain = address.split("@")
    forged = f"{local[:-3]}{'aaa' if not local.endswith('aaa') else 'bbb'}@{domain}"
    dangling = reply_address(ctx.keyring, "424242", "desk.example")
    for serial, copied in enumerate((forged, dangling), start=1):
        raw = arf_report(
            message_id=f"m-{serial}@news.example.com", from_domain="news.example.com", serial=serial
        )
        report_id = _store(container, f"Cc: {copied}\r\n".encode() + raw, "abuse@desk.example")
        outcome = processor.process_report(report_id)
        report = _report(container, report_id)
        assert (outcome.status, report.report_format) == ("done", "arf"), report.last_error
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert [m.direction for m in thread] == ["out"]


def test_reply_addresses_at_another_domain_are_not_ours(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Correctly signed but at a domain other than the reply domain: no reply, parsed."""
    case_id, _sent = _notice(container, ctx)
    elsewhere = reply_address(ctx.keyring, str(case_id), "other.example")
    raw = arf_report(message_id="m-9@news.example.com", from_domain="news.example.com", serial=9)
    for rcpt in (elsewhere, "abuse@desk.example"):
        report_id = _store(container, f"To: {elsewhere}\r\n".encode() + raw, rcpt)
        outcome = processor.process_report(report_id)
        report = _report(container, report_id)
        assert (outcome.status, report.report_format) == ("done", "arf"), report.last_error
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert [m.direction for m in thread] == ["out"]


def test_reply_addresses_match_the_reply_domain_in_any_letter_case(
    container: Container, ctx: NoticeContext, processor: ReportProcessor
) -> None:
    """Mail systems may change an address's case: CASE+...@DESK.EXAMPLE is still a reply."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">").upper()
    report_id = _store(container, _reply_mail(address), address)
    outcome = processor.process_report(report_id)
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert outcome.status == "done"
    assert [m.direction for m in thread] == ["out", "in"]


def test_the_recipient_policy_takes_reply_addresses_at_any_domain() -> None:
    """With a reply mailbox, case+<token>@ anywhere is taken; without one, it is not."""
    policy = RecipientPolicy(["abuse@"], reply_mailbox="case")
    assert policy.accepts("case+12.k1.abc@desk.example")
    assert policy.accepts("CASE+12.k1.abc@other.example")
    assert not policy.accepts("case+@desk.example")
    assert not policy.accepts("case@desk.example")
    assert not policy.accepts("sales@desk.example")
    assert policy.accepts("abuse@desk.example")
    assert not RecipientPolicy(["abuse@"]).accepts("case+12.k1.abc@desk.example")


@pytest.fixture
def smtp_server(container: Container) -> Iterator[SmtpIntakeServer]:
    """Run the SMTP intake on 127.0.0.1, taking replies to the ``case`` mailbox."""
    server = SmtpIntakeServer(
        container.intake,
        host="127.0.0.1",
        port=0,
        recipients=["abuse@"],
        max_bytes=1_000_000,
        rate_per_second=1000.0,
        rate_burst=1000,
        hostname="intake.test",
        reply_mailbox="case",
    )
    server.start()
    yield server
    server.stop()


def test_a_reply_sent_by_smtp_reaches_its_case(
    container: Container,
    ctx: NoticeContext,
    processor: ReportProcessor,
    smtp_server: SmtpIntakeServer,
) -> None:
    """End to end: a real SMTP client answers the notice; the reply lands on the case."""
    case_id, sent = _notice(container, ctx)
    address = sent.from_address.split("<")[1].rstrip(">")
    with smtplib.SMTP("127.0.0.1", smtp_server.port, timeout=10) as client:
        refused = client.sendmail(
            CONTACT, [address], _reply_mail(address, in_reply_to=sent.message_id)
        )
    assert refused == {}
    with unit_of_work(container.sessions) as session:
        report_id = session.scalar(select(func.max(Report.id)))
    assert report_id is not None
    processor.process_report(report_id)
    with unit_of_work(container.sessions) as session:
        thread = notices.case_messages(session, case_id)
    assert [m.direction for m in thread] == ["out", "in"]
    assert thread[-1].in_reply_to == sent.message_id
