"""Complaints whose every reporter-controlled field carries an injection payload."""

from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from abusedesk.core.clock import utcnow


def hostile_complaint(serial: int, payload: str, *, from_domain: str) -> bytes:
    """Return an ARF report quoting a message of *from_domain*, with *payload* placed in
    the reporter name, the subject, the From display name, the text and HTML bodies, a URL
    and an attachment's file name."""
    link = f"http://offers.{from_domain}/{quote(payload, safe='')}"
    quoted = EmailMessage()
    quoted.set_content(f"{payload}\n\nClaim it at {link}\n")
    quoted.add_alternative(
        f'<html><body><p>{payload}</p><a href="{link}">{payload}</a></body></html>',
        subtype="html",
    )
    quoted.add_attachment(
        b"not really a document",
        maintype="application",
        subtype="octet-stream",
        filename=f"{payload}.pdf",
    )
    # Raw header lines: the reporter's text need not parse as the email package would write it.
    head = (
        f'From: "{payload}" <news@{from_domain}>\r\n'
        "To: someone@mail.example.net\r\n"
        f"Subject: {payload}\r\n"
        f"Date: {format_datetime(utcnow())}\r\n"
        f"Message-ID: <hostile-{serial}@{from_domain}>\r\n"
        f"X-Mailer: {payload}\r\n"
        f"DKIM-Signature: v=1; a=rsa-sha256; d={from_domain}; s=s1; h=from:to; bh=x; b=y\r\n"
    ).encode()
    quoted_bytes = head + quoted.as_bytes()

    boundary = f"hostile-{serial}"
    return (
        (
            "From: feedback@fbl.example.net\r\n"
            "To: fbl@abuse.example.org\r\n"
            f"Subject: FW: {payload}\r\n"
            f"Date: {format_datetime(utcnow())}\r\n"
            f"Message-ID: <report-hostile-{serial}@fbl.example.net>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: multipart/report; report-type=feedback-report;"
            f' boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
            f"An abuse report about {payload}\r\n"
            f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\n"
            f"User-Agent: {payload}\r\n"
            "Version: 1\r\n"
            f"Reporting-MTA: dns; {payload}\r\n"
            "Source-IP: 192.0.2.10\r\n\r\n"
            f"--{boundary}\r\nContent-Type: message/rfc822\r\n\r\n"
        ).encode()
        + quoted_bytes
        + f"\r\n--{boundary}--\r\n".encode()
    )
