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
    return _crlf(f"""From: feedback@{reporter}
To: fbl@abuse.example.org
Subject: Complaint {serial}
Date: {_date(serial)}
Message-ID: <arf-{serial}@{reporter}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="arf-{serial}"

--arf-{serial}
Content-Type: text/plain

An abuse report ({serial}).

--arf-{serial}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Reporting-MTA: dns; {reporter}
Arrival-Date: {_date(serial)}

--arf-{serial}
Content-Type: message/rfc822

{_quoted_message(serial, message_id=message_id, from_domain=from_domain)}
--arf-{serial}--
""")


def forwarded_complaint(
    serial: int,
    *,
    message_id: str,
    from_domain: str,
    subject: str = "Spam from your customer",
    complainant_domain: str = "people.example.org",
) -> bytes:
    """Return a person's free-form complaint with the message attached (one event)."""
    return _crlf(f"""From: A Person <someone@{complainant_domain}>
To: abuse@abuse.example.org
Subject: {subject} ({serial})
Date: {_date(serial)}
Message-ID: <complaint-{serial}@{complainant_domain}>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="fwd-{serial}"

--fwd-{serial}
Content-Type: text/plain

Please stop this ({serial}).

--fwd-{serial}
Content-Type: message/rfc822

{_quoted_message(serial, message_id=message_id, from_domain=from_domain)}
--fwd-{serial}--
""")
