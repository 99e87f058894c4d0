"""Write delivery status notifications (bounces) for tests, quoting a message the provider sent."""

from email.utils import format_datetime

from abusedesk.core.clock import utcnow
from tests.factories.inventory import SentMail


def hard_bounce(mail: SentMail, recipient: str, serial: int, *, status: str = "5.1.1") -> bytes:
    """Return a DSN saying delivery of *mail* to *recipient* failed (5.1.1: unknown user)."""
    date = format_datetime(utcnow())
    diagnostic = (
        "smtp; 550 5.1.1 user unknown"
        if status.startswith("5")
        else "smtp; 451 4.2.0 mailbox busy, try later"
    )
    action = "failed" if status.startswith("5") else "delayed"
    return f"""From: MAILER-DAEMON@mx.mail.example.net
To: bounces@{mail.domain}
Return-Path: <>
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-ID: <dsn-{serial}@mx.mail.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="d{serial}"

--d{serial}
Content-Type: text/plain

Delivery to {recipient} failed.

--d{serial}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.mail.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: {diagnostic}

--d{serial}
Content-Type: message/rfc822

From: News <news@{mail.domain}>
To: {recipient}
Subject: Great offer
Date: {date}
Message-ID: <{mail.message_id}>

Buy now
--d{serial}--
""".replace("\n", "\r\n").encode()
