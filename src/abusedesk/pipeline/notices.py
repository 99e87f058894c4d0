"""The notices sweep: acknowledge reporters, then deliver the messages waiting to go out.

Delivery claims a batch of due messages (moving their next attempt a lease ahead, so a
second sweeper leaves them alone), hands each to the mailer outside any transaction,
then records the outcome: ``sent``, or the failure with the next attempt after backoff,
or ``dead`` after ``notices.max_attempts``. A crash between handing over and recording
sends the message again after the lease: at least once, never lost.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

import structlog
from sqlalchemy.orm import Session, sessionmaker

from abusedesk.config import NoticeSettings
from abusedesk.enforcement.signing import retry_policy
from abusedesk.messaging.delivery import Mailer, OutgoingMail
from abusedesk.messaging.keys import NoticeContext
from abusedesk.storage.attempts import failure_text
from abusedesk.storage.db import unit_of_work
from abusedesk.storage.notices import (
    MessageRecord,
    MessageState,
    acknowledge_reporter,
    claim_due_messages,
    mark_failed,
    mark_sent,
    reports_to_acknowledge,
)

log = structlog.get_logger(__name__)

LEASE: Final = timedelta(minutes=10)
BATCH: Final = 100


@dataclass(frozen=True)
class DeliveryRound:
    """What one delivery sweep did."""

    sent: int = 0
    failed: int = 0
    dead: int = 0


def deliver_messages(
    sessions: sessionmaker[Session],
    mailer: Mailer,
    settings: NoticeSettings,
    now: datetime,
    *,
    limit: int = BATCH,
) -> DeliveryRound:
    """Send the messages due at *now*; record each outcome in its own transaction."""
    retry = retry_policy(settings)
    with unit_of_work(sessions) as session:
        due = claim_due_messages(session, now=now, lease_until=now + LEASE, limit=limit)
    sent = failed = dead = 0
    for record in due:
        try:
            mailer.send(_outgoing(record))
        except Exception as error:  # any mailer error is recorded and retried, not raised
            with unit_of_work(sessions) as session:
                after = mark_failed(session, record.id, failure_text(error), retry=retry, now=now)
            if after.state == MessageState.DEAD:
                dead += 1
                log.warning("notice_dead", message_id=record.id, attempts=after.attempts)
            else:
                failed += 1
                log.info("notice_failed", message_id=record.id, attempts=after.attempts)
            continue
        with unit_of_work(sessions) as session:
            mark_sent(session, record.id, now=now)
        sent += 1
    return DeliveryRound(sent=sent, failed=failed, dead=dead)


def acknowledge_reporters(
    sessions: sessionmaker[Session], notices: NoticeContext, now: datetime
) -> int:
    """Queue acknowledgements for recent reports, when settings ask for them; return how many."""
    if not notices.settings.acknowledge_reporters:
        return 0
    with unit_of_work(sessions) as session:
        report_ids = reports_to_acknowledge(session, now=now)
    queued = 0
    for report_id in report_ids:
        try:
            with unit_of_work(sessions) as session:
                queued += (
                    acknowledge_reporter(session, report_id, notices=notices, now=now) is not None
                )
        except Exception:
            # A loop boundary: one report that cannot be acknowledged keeps no other waiting.
            log.exception("reporter_ack_failed", report_id=report_id)
    return queued


def tend_notices(
    sessions: sessionmaker[Session], mailer: Mailer, notices: NoticeContext, now: datetime
) -> DeliveryRound:
    """Run the periodic notices work: reporters' acknowledgements, then delivery."""
    acknowledge_reporters(sessions, notices, now)
    return deliver_messages(sessions, mailer, notices.settings, now)


def notices_tender(
    sessions: sessionmaker[Session], mailer: Mailer, notices: NoticeContext
) -> Callable[[datetime], DeliveryRound]:
    """Return `tend_notices` bound to its parts, for the embedded engine's sweep (``tenders``)."""

    def tend_customer_notices(now: datetime) -> DeliveryRound:
        return tend_notices(sessions, mailer, notices, now)

    return tend_customer_notices


def _outgoing(record: MessageRecord) -> OutgoingMail:
    return OutgoingMail(
        id=record.id,
        from_address=record.from_address,
        to_address=record.to_address,
        subject=record.subject,
        body=record.body,
        message_id=record.message_id,
        in_reply_to=record.in_reply_to,
        references=record.references,
        created_at=record.created_at,
    )
