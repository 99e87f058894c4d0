"""Text pieces the report shapes are assembled from: dates, MIME framing, headers, bodies."""

import base64
import html
import quopri
import random
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from abusedesk.demo import content
from abusedesk.demo.model import PROVIDER_DOMAIN, REGION, DemoAccount, SentMessage


def dkim_signature(rng: random.Random, domain: str, selector: str | None, at: datetime) -> str:
    """Return a DKIM-Signature header with the shape of a real one (it verifies nothing)."""
    return (
        "DKIM-Signature: v=1; a=rsa-sha256; q=dns/txt; c=relaxed/simple;\n"
        f"\ts={selector}; d={domain}; t={int(at.timestamp())};\n"
        "\th=From:To:Subject:Date:Message-ID:MIME-Version:Content-Type:Feedback-ID;\n"
        f"\tbh={base64.b64encode(rng.randbytes(32)).decode()};\n"
        f"\tb={base64.b64encode(rng.randbytes(96)).decode()}"
    )


def message_body(account: DemoAccount, m: SentMessage) -> str:
    """Return the text of a message; the same message always reads the same."""
    rng = random.Random(m.provider_message_id)
    first = m.recipient.split("@")[0].split(".")[0].rstrip("0123456789").title() or "there"
    brand = account.profile.brand
    urls = m.urls
    if m.campaign == "spam":
        lines = [
            rng.choice(content.SPAM_LINES),
            "",
            f"CLICK HERE: {urls[0]}",
            "",
            f"To stop receiving these offers visit {urls[1]}",
        ]
    elif m.campaign == "phishing":
        lines = [
            "Dear customer,",
            "",
            f"We detected unusual sign-in activity on your {brand} account. To avoid",
            "suspension, verify your identity within 24 hours:",
            "",
            urls[0],
            "",
            f"{brand} Security Team",
        ]
    elif m.campaign == "mailbox_spam":
        lines = [
            "Hello,",
            "",
            "Please review the document below and confirm the payment today.",
            "",
            urls[0],
            "",
            "Regards,",
            m.sender.display_name,
        ]
    elif m.campaign == "mailbox":
        lines = [
            "Hi,",
            "",
            "Following up on our conversation, let me know what you think.",
            "",
            "Best,",
            m.sender.display_name,
        ]
    else:
        lines = [f"Hi {first},", "", f"Thanks for being a {brand} customer.", ""]
        lines += [f"Details: {urls[0]}", ""] if urls else []
        lines.append(f"You receive this email because you have an account with {brand}.")
        if len(urls) > 1:
            lines.append(f"Unsubscribe: {urls[1]}")
    return "\n".join(lines) + "\n"


def dmarc_record(
    ip: str,
    count: int,
    domain: str,
    *,
    dkim_domain: str | None,
    selector: str | None,
    envelope: str,
    modern: bool,
) -> str:
    """Return one DMARC aggregate <record> for mail the provider sent for *domain*."""
    dkim_pass = dkim_domain == domain
    spf_aligned = envelope == domain or envelope.endswith(f".{domain}")
    dkim_result = (
        "        <dkim>\n"
        f"          <domain>{dkim_domain}</domain>\n"
        f"          <selector>{selector}</selector>\n"
        "          <result>pass</result>\n"
        "        </dkim>\n"
        if dkim_domain
        else ""
    )
    return _dmarc_record(
        ip,
        count,
        domain,
        disposition="pass" if modern and dkim_pass else "none",
        dkim="pass" if dkim_pass else "fail",
        spf="pass" if spf_aligned else "fail",
        envelope=envelope,
        dkim_result=dkim_result,
        spf_result="pass",
        modern=modern,
    )


def dmarc_spoof_record(ip: str, count: int, domain: str, policy: str, *, modern: bool) -> str:
    """Return a DMARC <record> for mail someone else sent in *domain*'s name."""
    return _dmarc_record(
        ip,
        count,
        domain,
        disposition=policy,
        dkim="fail",
        spf="fail",
        envelope=domain,
        dkim_result="",
        spf_result="fail",
        modern=modern,
    )


def _dmarc_record(
    ip: str,
    count: int,
    domain: str,
    *,
    disposition: str,
    dkim: str,
    spf: str,
    envelope: str,
    dkim_result: str,
    spf_result: str,
    modern: bool,
) -> str:
    """Return a DMARC <record>; a modern reporter leaves out <envelope_from>."""
    envelope_from = "" if modern else f"      <envelope_from>{envelope}</envelope_from>\n"
    return (
        "  <record>\n"
        "    <row>\n"
        f"      <source_ip>{ip}</source_ip>\n"
        f"      <count>{count}</count>\n"
        "      <policy_evaluated>\n"
        f"        <disposition>{disposition}</disposition>\n"
        f"        <dkim>{dkim}</dkim>\n"
        f"        <spf>{spf}</spf>\n"
        "      </policy_evaluated>\n"
        "    </row>\n"
        "    <identifiers>\n"
        f"{envelope_from}"
        f"      <header_from>{domain}</header_from>\n"
        "    </identifiers>\n"
        "    <auth_results>\n"
        f"{dkim_result}"
        "        <spf>\n"
        f"          <domain>{envelope}</domain>\n"
        "          <scope>mfrom</scope>\n"
        f"          <result>{spf_result}</result>\n"
        "        </spf>\n"
        "    </auth_results>\n"
        "  </record>"
    )


def multipart(boundary: str, parts: Sequence[tuple[str, str]]) -> str:
    """Return a multipart body: each part's headers and content between boundaries."""
    chunks = [f"--{boundary}\n{headers}\n\n{body}" for headers, body in parts]
    return "\n".join(chunks) + f"\n--{boundary}--\n"


def letter_with_attachment(
    rng: random.Random, headers: Sequence[str], text: str, attached: str
) -> str:
    """Return a person's letter: *text*, then the message they complain about attached."""
    boundary = f"------------{rng.getrandbits(72):018X}"
    body = multipart(
        boundary,
        [
            ("Content-Type: text/plain; charset=UTF-8", text),
            (
                'Content-Type: message/rfc822\nContent-Disposition: attachment; filename="spam.eml"',
                attached,
            ),
        ],
    )
    return join([*headers, f'Content-Type: multipart/mixed; boundary="{boundary}"'], body)


def join(headers: Sequence[str], body: str) -> str:
    """Return a message from its header lines and its body."""
    return "\n".join(headers) + "\n\n" + body


def smtp_host(ip: str) -> str:
    """Return the provider's outbound host name for a sending IP."""
    tail = ip.replace(":", "-").replace(".", "-").rsplit("-", 2)
    return f"a{tail[-2] or '0'}-{tail[-1]}.smtp-out.{REGION}.{PROVIDER_DOMAIN}"


def display_name(address: str) -> str:
    """Return the name a person with *address* signs with ("jo.smith" gives "Jo Smith")."""
    local = address.partition("@")[0].rstrip("0123456789")
    return " ".join(word.title() for word in local.split(".") if word) or "A customer"


def domain_of(address: str) -> str:
    """Return the lowercased domain of an address."""
    return address.rpartition("@")[2].lower()


def date(value: datetime, offset_hours: int = 0) -> str:
    """Return an RFC 5322 date, in a reporter's time zone *offset_hours* from UTC."""
    return format_datetime(value.astimezone(timezone(timedelta(hours=offset_hours))))


def iso(value: datetime) -> str:
    """Return an ISO 8601 UTC time to the second, as X-ARF writes it."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(value: datetime) -> str:
    """Return an ISO 8601 UTC time to the millisecond, as SES writes it."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def random_uuid(rng: random.Random) -> str:
    """Return a version-4 UUID drawn from *rng*."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def refold(line: str, width: int) -> str:
    """Return a header line unfolded, then folded again at spaces to *width* columns.

    Mail systems that re-wrap a message fold its long headers their own way.
    """
    words = " ".join(line.split()).split(" ")
    lines = [words[0]]
    for word in words[1:]:
        if len(lines[-1]) + 1 + len(word) > width:
            lines.append(f" {word}")
        else:
            lines[-1] = f"{lines[-1]} {word}"
    return "\n".join(lines)


def quoted_printable(text: str) -> str:
    """Return *text* encoded as quoted-printable (soft line breaks at 76 columns)."""
    return quopri.encodestring(text.encode("utf-8")).decode("ascii")


def html_text(lines: Sequence[str]) -> str:
    """Return plain lines as the HTML a mail client writes, links made clickable."""
    out = []
    for line in lines:
        escaped = html.escape(line, quote=False)
        escaped = _LINK.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        out.append(f"<div>{escaped or '<br>'}</div>")
    return "\n".join(out)


_LINK = re.compile(r"https?://[^\s<>\"]+")
