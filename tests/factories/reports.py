"""Build distinct complaint reports as raw bytes: ARF feedback reports and forwarded emails.

Each builder takes a *serial* that makes its bytes unique (intake folds identical bytes
into one report), the quoted message's Message-ID and its sender domain, which is also
the DKIM ``d=`` domain; attribution finds the account by either.
"""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

_EPOCH = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _date(serial: int) -> str:
    return format_datetime(_EPOCH + timedelta(seconds=serial))


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def _quoted_message(serial: int, *, message_id: str, from_domain: str) -> str:
    return f"""From: Offers <offers@{from_domain}>
To: someone@mail.example.net
Subject: Offer number {serial}
Date: {_date(serial)}
Message-ID: <{message_id}>
DKIM-Signature: v=1; a=rsa-sha256; d={from_domain}; s=s1; h=from:to; bh=x; b=y

Offer {serial}: http://offers.{from_domain}/deal/{serial}
"""


def arf_complaint(
    serial: int,
    *,
    message_id: str,
    from_domain: str,
    feedback_type: str = "abuse",
    reporter: str = "fbl.example.net",
) -> bytes:
    """Return an RFC 5965 feedback report quoting one message (one event)."""
    feedback = f"""Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Reporting-MTA: dns; {reporter}
Arrival-Date: {_date(serial)}
"""
    return _multipart(
        serial,
        sender=f"feedback@{reporter}",
        to="fbl@abuse.example.org",
        subject=f"Complaint {serial}",
        message_id=f"arf-{serial}@{reporter}",
        content_type="multipart/report; report-type=feedback-report",
        boundary=f"arf-{serial}",
        parts=[
            ("text/plain", f"An abuse report ({serial}).\n"),
            ("message/feedback-report", feedback),
            (
                "message/rfc822",
                _quoted_message(serial, message_id=message_id, from_domain=from_domain),
            ),
        ],
    )


def forwarded_complaint(
    serial: int,
    *,
    message_id: str,
    from_domain: str,
    subject: str = "Spam from your customer",
    complainant_domain: str = "people.example.org",
) -> bytes:
    """Return a person's free-form complaint with the message attached (one event)."""
    return _multipart(
        serial,
        sender=f"A Person <someone@{complainant_domain}>",
        to="abuse@abuse.example.org",
        subject=f"{subject} ({serial})",
        message_id=f"complaint-{serial}@{complainant_domain}",
        content_type="multipart/mixed",
        boundary=f"fwd-{serial}",
        parts=[
            ("text/plain", f"Please stop this ({serial}).\n"),
            (
                "message/rfc822",
                _quoted_message(serial, message_id=message_id, from_domain=from_domain),
            ),
        ],
    )


def _multipart(
    serial: int,
    *,
    sender: str,
    to: str,
    subject: str,
    message_id: str,
    content_type: str,
    boundary: str,
    parts: list[tuple[str, str]],
) -> bytes:
    """Return a multipart email with CRLF line ends: each part is a content type and a body."""
    head = f"""From: {sender}
To: {to}
Subject: {subject}
Date: {_date(serial)}
Message-ID: <{message_id}>
MIME-Version: 1.0
Content-Type: {content_type}; boundary="{boundary}"

"""
    body = "".join(f"--{boundary}\nContent-Type: {kind}\n\n{text}\n" for kind, text in parts)
    return _crlf(f"{head}{body}--{boundary}--\n")
