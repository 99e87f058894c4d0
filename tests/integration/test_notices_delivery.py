"""Delivering notices: to a real SMTP server on 127.0.0.1, to an outbox, retried, given up on."""

import socket
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.bootstrap import Container
from abusedesk.config import Settings
from abusedesk.messaging.delivery import OutboxMailer, SmtpMailer, build_mailer
from abusedesk.messaging.keys import NoticeContext, notice_context
from abusedesk.pipeline.embedded import EmbeddedEngine
from abusedesk.pipeline.notices import (
    deliver_messages,
    notices_tender,
    retry_policy,
    tend_notices,
)
from abusedesk.storage import case_history, notices
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.notices import Channel, MessageRecord, MessageState, NoticeRefused
from tests.support.casework import MONDAY
from tests.support.notices import (
    CONTACT,
    complaint_on_case,
    notice_settings,
    queue_notice,
    smtp_sink,
)

COMPLAINANT = "jane.doe@mailbox.example"


def _queued(container: Container, configured: Settings) -> tuple[NoticeContext, int, MessageRecord]:
    """Queue a pause notice under the *configured* notice settings; return its context too."""
    ctx = notice_context(configured)
    with unit_of_work(container.sessions) as session:
        account_id, case_id, event_id = complaint_on_case(
            session,
            indicators={"recipient_hash": ["a" * 64]},
            details={"subject": f"complaint from {COMPLAINANT}"},
        )
        sent = queue_notice(session, ctx, account_id, case_id, event_ids=[event_id])
    assert sent is not None
    return ctx, case_id, sent


def _state(sessions: sessionmaker[Session], message_id: int) -> MessageRecord:
    with unit_of_work(sessions) as session:
        return notices.message(session, message_id)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_notice_reaches_the_smtp_server_threaded_and_redacted(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """The relay gets the notice from the case's reply address, with threading headers."""
    with smtp_sink() as sink:
        configured = notice_settings(
            settings, tmp_path, delivery="smtp", smtp_host="127.0.0.1", smtp_port=sink.port
        )
        ctx, case_id, first = _queued(container, configured)
        mailer = build_mailer(configured.notices)
        assert isinstance(mailer, SmtpMailer)
        done = deliver_messages(container.sessions, mailer, configured.notices, MONDAY)
        with unit_of_work(container.sessions) as session:
            reply = notices.record_reply(
                session, case_id=case_id, body="fixed", channel=Channel.PORTAL, now=MONDAY
            )
            second = notices.queue_message(
                session,
                kind="appeal_received",
                case_id=case_id,
                account_id=first.account_id,
                context={"appeal": {"id": 1, "submitted_on": "2 Nov", "due_on": "4 Nov"}},
                notices=ctx,
                now=MONDAY,
                action_id=first.action_id,
            )
        assert second is not None
        again = deliver_messages(container.sessions, mailer, configured.notices, MONDAY)
        received = list(sink.received)
    assert (done.sent, done.failed, again.sent) == (1, 0, 1)
    assert _state(container.sessions, first.id).state == MessageState.SENT
    assert _state(container.sessions, first.id).attempts == 1
    one, two = received
    assert one.mail_from == "abuse-desk@desk.example"
    assert one.rcpt_tos == [CONTACT]
    mail = one.message
    assert mail["Message-ID"] == first.message_id
    assert f"case+{case_id}.k1." in str(mail["From"])
    assert mail["Reply-To"] == mail["From"]
    assert mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert "complaint rate" in body
    assert "/portal/p1.k1." in body
    assert COMPLAINANT not in body
    assert "[recipient " in body
    threaded = two.message
    assert threaded["In-Reply-To"] == reply.message_id
    assert threaded["References"] == f"{first.message_id} {reply.message_id}"


def test_a_refusing_relay_is_retried_with_backoff_then_given_up(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """550 from the relay: failed, retried later; after the last attempt, dead and said."""
    with smtp_sink() as sink:
        sink.refuse_with = "550 5.1.1 mailbox unavailable"
        configured = notice_settings(
            settings,
            tmp_path,
            delivery="smtp",
            smtp_port=sink.port,
            max_attempts=2,
            backoff_base_seconds=60,
            backoff_cap_seconds=60,
        )
        _, case_id, sent = _queued(container, configured)
        mailer = build_mailer(configured.notices)
        first = deliver_messages(container.sessions, mailer, configured.notices, MONDAY)
        after_first = _state(container.sessions, sent.id)
        too_early = deliver_messages(
            container.sessions, mailer, configured.notices, MONDAY + timedelta(seconds=10)
        )
        later = MONDAY + timedelta(minutes=5)
        second = deliver_messages(container.sessions, mailer, configured.notices, later)
        after_second = _state(container.sessions, sent.id)
    assert (first.failed, too_early.sent + too_early.failed, second.dead) == (1, 0, 1)
    assert after_first.state == MessageState.FAILED
    assert after_first.attempts == 1
    assert after_first.failure is not None
    assert "550" in after_first.failure
    assert after_first.next_attempt_at is not None
    assert MONDAY + timedelta(seconds=30) <= after_first.next_attempt_at
    assert after_first.next_attempt_at <= MONDAY + timedelta(seconds=60)
    assert (after_second.state, after_second.attempts, after_second.next_attempt_at) == (
        MessageState.DEAD,
        2,
        None,
    )
    with unit_of_work(container.sessions) as session:
        steps = case_history.history(session, case_id)
        resent = notices.resend(session, sent.id, actor="carol", now=later)
        with pytest.raises(NoticeRefused, match="pending"):
            notices.resend(session, sent.id, actor="carol", now=later)
    assert steps[-1].to_value == "pause: undelivered"
    assert "gave up after 2 attempts" in (steps[-1].reason or "")
    assert (resent.state, resent.attempts) == (MessageState.PENDING, 0)


def test_a_relay_that_is_down_leaves_the_message_waiting(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """Nothing listens: the failure names the relay, the message is kept for a retry."""
    configured = notice_settings(
        settings, tmp_path, delivery="smtp", smtp_port=_free_port(), smtp_timeout_seconds=5
    )
    *_, sent = _queued(container, configured)
    done = deliver_messages(
        container.sessions, build_mailer(configured.notices), configured.notices, MONDAY
    )
    after = _state(container.sessions, sent.id)
    assert done.failed == 1
    assert after.state == MessageState.FAILED
    assert "could not reach the relay at 127.0.0.1" in (after.failure or "")


def test_the_outbox_keeps_each_message_as_a_file(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """Embedded mode: one .eml per message, readable as mail; a claimed message is not resent."""
    configured = notice_settings(settings, tmp_path)
    ctx, _, sent = _queued(container, configured)
    mailer = build_mailer(configured.notices)
    assert isinstance(mailer, OutboxMailer)
    done = tend_notices(container.sessions, mailer, ctx, MONDAY)
    again = deliver_messages(container.sessions, mailer, configured.notices, MONDAY)
    (written,) = sorted((tmp_path / "outbox").glob("*.eml"))
    mail = message_from_bytes(written.read_bytes(), policy=default_policy)
    assert (done.sent, again.sent) == (1, 0)
    assert mail["Message-ID"] == sent.message_id
    assert mail["To"] == CONTACT
    assert not list((tmp_path / "outbox").glob(".*.part"))


def test_an_outbox_that_cannot_be_written_is_a_failure_not_a_crash(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """A file where the folder should be: the attempt fails and is recorded."""
    blocked = tmp_path / "blocked"
    blocked.write_text("not a folder")
    configured = notice_settings(settings, tmp_path, outbox_dir=blocked)
    *_, sent = _queued(container, configured)
    done = deliver_messages(
        container.sessions, build_mailer(configured.notices), configured.notices, MONDAY
    )
    assert done.failed == 1
    assert "could not write to the outbox" in (_state(container.sessions, sent.id).failure or "")


def test_the_retry_schedule_follows_the_settings(settings: Settings, tmp_path: Path) -> None:
    """Backoff base, cap and attempts come from the notice settings."""
    configured = notice_settings(
        settings, tmp_path, backoff_base_seconds=10, backoff_cap_seconds=5, max_attempts=3
    )
    policy = retry_policy(configured.notices)
    assert (policy.base, policy.cap, policy.max_attempts) == (
        timedelta(seconds=10),
        timedelta(seconds=10),
        3,
    )


def test_the_embedded_sweep_delivers_notices(
    container: Container, settings: Settings, tmp_path: Path
) -> None:
    """Bound as a sweep tender, the notices work runs with every sweep of the engine."""
    configured = notice_settings(settings, tmp_path)
    ctx, _, sent = _queued(container, configured)
    engine = EmbeddedEngine(
        container.sessions,
        container.reports,
        container.processor,
        tenders=[notices_tender(container.sessions, build_mailer(configured.notices), ctx)],
    )
    engine.sweep()
    assert _state(container.sessions, sent.id).state == MessageState.SENT
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
