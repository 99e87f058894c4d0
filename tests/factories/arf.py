"""Write ARF feedback reports for tests, quoting a message the provider sent."""

from email.utils import format_datetime

from abusedesk.core.clock import utcnow


def arf_report(
    *,
    message_id: str,
    from_domain: str,
    source_ip: str = "192.0.2.10",
    feedback_type: str = "abuse",
    reporter: str = "fbl.example.net",
    serial: int = 0,
) -> bytes:
    """Return an RFC 5965 report about the message with *message_id*; *serial* makes it unique."""
    date = format_datetime(utcnow())
    return f"""From: feedback@{reporter}
To: fbl@abuse.example.org
Subject: FW: complaint {serial}
Date: {date}
Message-ID: <report-{serial}-{message_id}>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b{serial}"

--b{serial}
Content-Type: text/plain

This is an email abuse report for an email message received from IP {source_ip}.

--b{serial}
Content-Type: message/feedback-report

Feedback-Type: {feedback_type}
User-Agent: ExampleFBL/1.0
Version: 1
Source-IP: {source_ip}
Reporting-MTA: dns; {reporter}
Arrival-Date: {date}

--b{serial}
Content-Type: message/rfc822

From: News <news@{from_domain}>
To: redacted@mail.example.net
Subject: Great offer
Date: {date}
Message-ID: <{message_id}>
DKIM-Signature: v=1; a=rsa-sha256; d={from_domain}; s=s1; h=from:to; bh=x; b=y

Buy now at http://offers.{from_domain}/deal
--b{serial}--
""".replace("\n", "\r\n").encode()


def arf_naming(complainant: str, *, message_id: str, from_domain: str, serial: int = 0) -> bytes:
    """Return an `arf_report` that names *complainant*: in Original-Rcpt-To and in the copy."""
    raw = arf_report(message_id=message_id, from_domain=from_domain, serial=serial)
    raw = raw.replace(b"redacted@mail.example.net", complainant.encode())
    return raw.replace(
        b"Version: 1\r\n", f"Version: 1\r\nOriginal-Rcpt-To: {complainant}\r\n".encode()
    )
