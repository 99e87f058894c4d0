"""Write the raw reports outsiders send about the provider's accounts, truth kept apart.

Each shape imitates something a real abuse desk receives: feedback-loop reports in the
styles of several mailbox providers, bounces, the provider's own SES-style JSON
notifications (raw and inside an SNS envelope), DMARC aggregate reports, angry emails
from people, and carrier reports about text messages. Reports quote real send-log
entries so that attribution can work, and a realistic share carries too little to
attribute (no Message-ID, a shared IP, just a URL).

Report *n* depends only on the provider and *n*: any count from any start gives the
same report for the same number, and no two numbers give the same bytes.
"""

import base64
import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from abusedesk.demo import compose, content
from abusedesk.demo.model import (
    DESTINATION_DOMAINS,
    PROVIDER_DOMAIN,
    REGION,
    AccountKind,
    DemoAccount,
    DemoProvider,
    ResourceKind,
    SentMessage,
    SmsMessage,
    Traffic,
)

ABUSE_ADDRESS = f"abuse@{PROVIDER_DOMAIN}"
FBL_ADDRESS = f"fbl@{PROVIDER_DOMAIN}"


class ReportKind:
    """The shapes of report the generator writes."""

    ARF = "arf"
    ARF_JMRP = "arf_jmrp"
    ARF_HEADERS = "arf_headers"
    ARF_REDACTED = "arf_redacted"
    DSN = "dsn"
    SES_BOUNCE = "ses_bounce"
    SES_COMPLAINT = "ses_complaint"
    SNS_BOUNCE = "sns_bounce"
    SNS_COMPLAINT = "sns_complaint"
    DMARC_AGGREGATE = "dmarc_aggregate"
    FREEFORM = "freeform"
    FREEFORM_URL = "freeform_url"
    SMS_XARF = "sms_xarf"

    EMAIL = (ARF, ARF_JMRP, ARF_HEADERS, ARF_REDACTED, DSN, FREEFORM, FREEFORM_URL)
    JSON = (SES_BOUNCE, SES_COMPLAINT, SNS_BOUNCE, SNS_COMPLAINT, SMS_XARF)
    XML = (DMARC_AGGREGATE,)
    ALL = EMAIL + JSON + XML


class Evidence:
    """The strongest thing a report carries that names the account behind it."""

    PROVIDER_MESSAGE_ID = "provider_message_id"
    MESSAGE_ID = "message_id"
    DKIM_DOMAIN = "dkim_domain"
    FROM_DOMAIN = "from_domain"
    FEEDBACK_ID = "feedback_id"
    DEDICATED_IP = "dedicated_ip"
    ORIGINATION_NUMBER = "origination_number"
    SENDER_ID = "sender_id"
    URL = "url"
    SHARED_IP = "shared_ip"
    NONE = "none"

    # What attribution cannot turn into one account without help.
    HARD = (URL, SHARED_IP, NONE)


def extension(kind: str) -> str:
    """Return the file extension for a report of *kind*."""
    if kind in ReportKind.JSON:
        return ".json"
    if kind in ReportKind.XML:
        return ".xml"
    return ".eml"


@dataclass(frozen=True)
class GroundTruth:
    """Who a report is really about; written to its own file, never to the product's tables."""

    file: str
    account: str
    account_kind: str
    report_kind: str
    provider_message_id: str | None
    evidence: str

    def to_json(self) -> str:
        """Return the record as one JSON line."""
        return json.dumps(asdict(self))


@dataclass(frozen=True)
class GeneratedReport:
    """One report's file name and bytes, and its ground truth."""

    file_name: str
    raw: bytes
    truth: GroundTruth


@dataclass(frozen=True)
class _Built:
    raw: str
    message: SentMessage | None
    evidence: str


# How much of the quoted message a reporter kept: everything; everything but the ids
# (some reporters strip Message-ID and Return-Path); or only what a person sees.
_FULL, _STRIPPED, _MINIMAL = "full", "stripped", "minimal"
_VARIANTS = ((_FULL, 0.75), (_STRIPPED, 0.15), (_MINIMAL, 0.10))

_BASE_WEIGHTS = {
    ReportKind.ARF: 18.0,
    ReportKind.ARF_JMRP: 8.0,
    ReportKind.ARF_HEADERS: 8.0,
    ReportKind.ARF_REDACTED: 6.0,
    ReportKind.DSN: 12.0,
    ReportKind.SES_BOUNCE: 4.0,
    ReportKind.SES_COMPLAINT: 4.0,
    ReportKind.SNS_BOUNCE: 4.0,
    ReportKind.SNS_COMPLAINT: 4.0,
    ReportKind.DMARC_AGGREGATE: 3.0,
    ReportKind.FREEFORM: 8.0,
    ReportKind.FREEFORM_URL: 3.0,
}
# Which recipients' providers send each feedback-loop style.
_GROUPS_BY_KIND: Mapping[str, tuple[str, ...]] = {
    ReportKind.ARF: ("other",),
    ReportKind.ARF_JMRP: ("microsoft",),
    ReportKind.ARF_HEADERS: ("yahoo",),
    ReportKind.ARF_REDACTED: ("other", "yahoo"),
    ReportKind.SES_COMPLAINT: ("microsoft", "yahoo", "other"),
    ReportKind.SNS_COMPLAINT: ("microsoft", "yahoo", "other"),
}
_SES_KINDS = (
    ReportKind.SES_BOUNCE,
    ReportKind.SES_COMPLAINT,
    ReportKind.SNS_BOUNCE,
    ReportKind.SNS_COMPLAINT,
)
_CARRIERS = (
    ("Carrier One Mobile", "carrier-one.example"),
    ("Northstar Wireless", "northstar-wireless.example"),
    ("Bluewave Telecom", "bluewave-telecom.example"),
)
_CLEARINGHOUSE = ("Spam Reporting Service Example", "srs.example")
_PREMIUM_COUNTRIES = frozenset(country for _, country in content.PREMIUM_DESTINATIONS)
_DMARC_REPORTERS = {
    "gmail": "Gmail Example",
    "microsoft": "Outlook Example",
    "yahoo": "Yahoo Example",
    "other": "Cablenet Example",
}
# Status, diagnostic, DSN action, and how often: mostly unknown users, then blocks.
_BOUNCES = (
    ("5.1.1", "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown", "failed", 0.62),
    (
        "5.7.1",
        "554 5.7.1 Service unavailable; Client host [{ip}] blocked using bl.dnsbl.example",
        "failed",
        0.15,
    ),
    ("5.2.2", "552 5.2.2 <{rcpt}>: Mailbox full, quota exceeded", "failed", 0.08),
    ("5.2.1", "550 5.2.1 <{rcpt}>: Mailbox disabled, not accepting messages", "failed", 0.05),
    ("4.4.7", "421 4.4.7 Delivery time expired, giving up", "failed", 0.05),
    ("4.2.2", "452 4.2.2 <{rcpt}>: Mailbox full, message deferred", "delayed", 0.05),
)


class ReportGenerator:
    """Make report *n* for a provider and its traffic, with its ground truth."""

    def __init__(self, provider: DemoProvider, traffic: Traffic) -> None:
        self.provider = provider
        self.messages: dict[str, list[SentMessage]] = {}
        self.by_group: dict[tuple[str, str], list[SentMessage]] = {}
        self.sms: dict[str, list[SmsMessage]] = {}
        for message in traffic.messages:
            self.messages.setdefault(message.account, []).append(message)
            self.by_group.setdefault((message.account, message.destination_group), []).append(
                message
            )
        for text in traffic.sms:
            self.sms.setdefault(text.account, []).append(text)
        self.targets = [
            a
            for a in provider.accounts
            if a.external_id in self.messages or a.external_id in self.sms
        ]
        if not self.targets:
            raise ValueError("the provider sent nothing in its window; there is nothing to report")
        self.weights = [a.profile.report_weight for a in self.targets]

    def generate(self, count: int, *, start: int = 0) -> Iterator[GeneratedReport]:
        """Yield reports number *start* to *start* + *count* - 1."""
        for number in range(start, start + count):
            yield self.report(number)

    def report(self, number: int) -> GeneratedReport:
        """Return report number *number*."""
        rng = random.Random(f"{self.provider.seed}:report:{number}")
        account = rng.choices(self.targets, weights=self.weights)[0]
        kinds = self._kind_weights(account)
        kind = rng.choices(list(kinds), weights=list(kinds.values()))[0]
        built = self._build(rng, account, kind)
        if built is None:
            # The account sent nothing this shape needs (no mail to that provider, no
            # domain for DMARC): a plain bounce about any of its messages instead.
            kind = ReportKind.DSN if account.external_id in self.messages else ReportKind.SMS_XARF
            built = self._build(rng, account, kind)
            if built is None:
                # Unreachable: targets are only accounts that sent mail or texts.
                raise RuntimeError(f"no report can be made about {account.external_id}")
        file_name = f"report-{number:06d}{extension(kind)}"
        truth = GroundTruth(
            file=file_name,
            account=account.external_id,
            account_kind=account.kind,
            report_kind=kind,
            provider_message_id=built.message.provider_message_id if built.message else None,
            evidence=built.evidence,
        )
        return GeneratedReport(file_name, built.raw.encode("utf-8"), truth)

    def _kind_weights(self, account: DemoAccount) -> dict[str, float]:
        """Return how likely each shape is for reports about *account*."""
        has_sms = account.external_id in self.sms
        if account.external_id not in self.messages:
            return {ReportKind.SMS_XARF: 1.0}
        weights = dict(_BASE_WEIGHTS)
        if account.kind in AccountKind.LEGITIMATE:
            weights[ReportKind.DSN] *= 2
            weights[ReportKind.DMARC_AGGREGATE] *= 3
            weights[ReportKind.FREEFORM] /= 2
        if account.kind == AccountKind.PHISHING:
            weights[ReportKind.FREEFORM] *= 2
            weights[ReportKind.FREEFORM_URL] *= 2
        if account.kind == AccountKind.COMPROMISED_MAILBOX:
            # Hosted mailboxes send no SES notifications.
            for kind in _SES_KINDS:
                weights[kind] = 0.0
        if not account.resources_of(ResourceKind.IDENTITY_DOMAIN):
            weights[ReportKind.DMARC_AGGREGATE] = 0.0
        if has_sms:
            weights[ReportKind.SMS_XARF] = 2.0
        return {k: w for k, w in weights.items() if w > 0}

    def _build(self, rng: random.Random, account: DemoAccount, kind: str) -> _Built | None:
        if kind == ReportKind.SMS_XARF:
            return self._sms_xarf(rng, account)
        if kind == ReportKind.DMARC_AGGREGATE:
            return self._dmarc(rng, account)
        message = self._pick(
            rng,
            account,
            _GROUPS_BY_KIND.get(kind),
            allow_mailbox=kind not in _SES_KINDS,
        )
        if message is None:
            return None
        builders = {
            ReportKind.ARF: self._arf,
            ReportKind.ARF_JMRP: self._jmrp,
            ReportKind.ARF_HEADERS: self._arf_headers,
            ReportKind.ARF_REDACTED: self._arf_redacted,
            ReportKind.DSN: self._dsn,
            ReportKind.SES_BOUNCE: self._ses_bounce,
            ReportKind.SES_COMPLAINT: self._ses_complaint,
            ReportKind.SNS_BOUNCE: self._sns_bounce,
            ReportKind.SNS_COMPLAINT: self._sns_complaint,
            ReportKind.FREEFORM: self._freeform,
            ReportKind.FREEFORM_URL: self._freeform_url,
        }
        return builders[kind](rng, account, message)

    def _pick(
        self,
        rng: random.Random,
        account: DemoAccount,
        groups: Sequence[str] | None,
        *,
        allow_mailbox: bool,
    ) -> SentMessage | None:
        """Return one of the account's messages to a recipient at one of *groups*."""
        if groups is None:
            candidates = self.messages.get(account.external_id, [])
        else:
            candidates = [
                m for g in groups for m in self.by_group.get((account.external_id, g), [])
            ]
        if not allow_mailbox:
            candidates = [m for m in candidates if m.sender.resource.kind != ResourceKind.MAILBOX]
        # Complaints about a taken-over organisation are about the flood, not its usual mail.
        flood = [m for m in candidates if m.campaign == "mailbox_spam"]
        if flood and rng.random() < 0.9:
            candidates = flood
        return rng.choice(candidates) if candidates else None

    # --- feedback loops ---------------------------------------------------------------------

    def _arf(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate a plain RFC 5965 report from a cable ISP, with the whole message attached."""
        variant = _variant(rng)
        arrival = self._arrival(rng, m.sent_at)
        isp = m.recipient_domain
        boundary = f"----=_Part_{rng.getrandbits(64):016x}"
        feedback_type = _feedback_type(rng, m)
        headers = [
            f"From: {isp.split('.')[0].title()} Feedback Loop <fbl-reports@fbl.{isp}>",
            f"To: {FBL_ADDRESS}",
            f"Subject: Email Feedback Report for IP {m.source_ip}",
            f"Date: {compose.date(arrival)}",
            f"Message-ID: <{compose.random_uuid(rng)}@fbl.{isp}>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=feedback-report;\n\tboundary="{boundary}"',
        ]
        fields = [
            f"Feedback-Type: {feedback_type}",
            f"User-Agent: {isp.split('.')[0].title()}FBL/1.{rng.randrange(10)}",
            "Version: 1",
            f"Original-Mail-From: <{m.mail_from}>",
            f"Original-Rcpt-To: <{m.recipient}>",
            f"Arrival-Date: {compose.date(m.sent_at + timedelta(seconds=rng.randrange(2, 30)))}",
            f"Reporting-MTA: dns; mx{rng.randrange(1, 9)}.{isp}",
            f"Source-IP: {m.source_ip}",
            "Incidents: 1",
            f"Reported-Domain: {compose.domain_of(m.sender.from_address)}",
            f"Authentication-Results: mx.{isp}; {_auth_results(m)}",
        ]
        body = compose.multipart(
            boundary,
            [
                (
                    'Content-Type: text/plain; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit',
                    f"This is an email abuse report for an email message received from IP "
                    f"{m.source_ip} on {compose.date(m.sent_at)}.\nFor more information about this "
                    "format please see https://www.rfc-editor.org/rfc/rfc5965 .\n",
                ),
                ("Content-Type: message/feedback-report", "\n".join(fields) + "\n"),
                (
                    "Content-Type: message/rfc822\nContent-Disposition: inline",
                    self._original(rng, account, m, variant),
                ),
            ],
        )
        return _Built(
            compose.join(headers, body),
            m,
            self._evidence(m, variant, source_ip=True),
        )

    def _jmrp(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate Microsoft's JMRP: multipart/mixed, the complainant in X-HmXmr headers."""
        variant = _variant(rng)
        arrival = self._arrival(rng, m.sent_at)
        boundary = str(uuid.UUID(int=rng.getrandbits(128), version=4)).upper()
        host = f"BAY{rng.randrange(9)}-OMC{rng.randrange(1, 5)}-S{rng.randrange(10, 40)}"
        headers = [
            f"Date: {compose.date(arrival, -8)}",
            "From: staff@hotmail.example",
            f"Subject: complaint about message from {m.source_ip}",
            f"To: {FBL_ADDRESS}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{boundary}"',
            "Return-Path: staff@hotmail.example",
            f"Message-ID: <{host}{content.token(rng, 14).upper()}@{host.lower()}.hotmail.example>",
            f"X-OriginalArrivalTime: {arrival:%d %b %Y %H:%M:%S}.0{rng.randrange(100, 999)} (UTC)",
        ]
        extra = "\n".join(
            (
                f"X-HmXmrOriginalRecipient: <{m.recipient}>",
                f"X-Reporter-IP: 192.0.2.{rng.randrange(1, 250)}",
                f"X-Message-Guid: {compose.random_uuid(rng)}",
                f'X-SID-PRA: "{m.sender.display_name}" <{m.sender.from_address}>',
                f"X-AUTH-Result: {'PASS' if m.sender.dkim_domain else 'NONE'}",
                "X-Message-Status: n",
            )
        )
        original = extra + "\n" + self._original(rng, account, m, variant)
        body = compose.multipart(
            boundary, [("Content-Type: message/rfc822\nContent-Disposition: inline", original)]
        )
        return _Built(compose.join(headers, body), m, self._evidence(m, variant, source_ip=False))

    def _arf_headers(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate Yahoo's and AOL's loop: no Date, only the headers as text/rfc822-headers."""
        variant = _variant(rng)
        boundary = f"_----------={rng.getrandbits(56)}"
        received = compose.date(m.sent_at + timedelta(seconds=rng.randrange(2, 30)), -8)
        headers = [
            f"X-Yahoo-Newman-Id: cfl-{rng.getrandbits(40):x}",
            "MIME-Version: 1.0",
            "Content-Transfer-Encoding: 7bit",
            f'Content-Type: multipart/report; boundary="{boundary}"; report-type="feedback-report"',
            "From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.example>",
            f"To: {FBL_ADDRESS}",
            f"Subject: {m.subject}",
            "X-Yahoo-Newman-Property: cfl",
        ]
        domain = compose.domain_of(m.sender.from_address)
        fields = [
            "Feedback-Type: abuse",
            "User-Agent: Yahoo!-Mail-Feedback/2.0",
            "Version: 0.1",
            f"Original-Mail-From: <{m.mail_from}>",
            f"Original-Rcpt-To: {m.recipient}",
            f"Received-Date: {received}",
            f"Reported-Domain: {domain}",
            f"Authentication-Results: mta{rng.randrange(1000, 9999)}.mail.{m.recipient_domain} "
            f" from={domain}; domainkeys=neutral (no sig);  from={domain}; "
            f"dkim={'pass (ok)' if m.sender.dkim_domain else 'neutral (no sig)'}",
        ]
        original_headers = self._original(rng, account, m, variant).split("\n\n", 1)[0] + "\n"
        body = "This is a multi-part message in MIME format.\n\n" + compose.multipart(
            boundary,
            [
                (
                    'Content-Type: text/plain; charset="US-ASCII"\nContent-Transfer-Encoding: 7bit',
                    f"This is an email abuse report for an email message received from "
                    f"{domain} on {received}\n",
                ),
                ("Content-Type: message/feedback-report", "\n".join(fields) + "\n"),
                ("Content-Type: text/rfc822-headers", original_headers),
            ],
        )
        return _Built(compose.join(headers, body), m, self._evidence(m, variant, source_ip=False))

    def _arf_redacted(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an RFC 6590 redacting loop: the complainant's local part is hashed away."""
        variant = _variant(rng)
        arrival = self._arrival(rng, m.sent_at)
        isp = m.recipient_domain
        boundary = f"=_{rng.getrandbits(96):024x}"
        secret = hashlib.sha256(f"{isp}:{m.recipient}".encode()).hexdigest()[:16]
        redacted = f"{secret}@{isp}"
        headers = [
            f"From: <feedback@fbl-relay.{isp}>",
            f"To: {FBL_ADDRESS}",
            f"Subject: FW: {m.subject}",
            f"Date: {compose.date(arrival)}",
            f"Message-ID: <{rng.getrandbits(80):x}.fbl@fbl-relay.{isp}>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"',
        ]
        fields = [
            "Feedback-Type: abuse",
            "User-Agent: FBL-Relay/3.2",
            "Version: 1",
            f"Original-Mail-From: <{m.mail_from}>",
            f"Original-Rcpt-To: <{redacted}>",
            f"Arrival-Date: {compose.date(m.sent_at + timedelta(seconds=rng.randrange(2, 30)))}",
            f"Source-IP: {m.source_ip}",
            f"Reported-Domain: {compose.domain_of(m.sender.from_address)}",
        ]
        original = self._original(rng, account, m, variant).replace(m.recipient, redacted)
        body = compose.multipart(
            boundary,
            [
                (
                    "Content-Type: text/plain",
                    "A subscriber marked the attached message as spam. The recipient's "
                    "address has been redacted.\n",
                ),
                ("Content-Type: message/feedback-report", "\n".join(fields) + "\n"),
                ("Content-Type: message/rfc822", original),
            ],
        )
        return _Built(compose.join(headers, body), m, self._evidence(m, variant, source_ip=True))

    # --- bounces ------------------------------------------------------------------------------

    def _dsn(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an RFC 3464 bounce from the recipient's MX, with the original's headers."""
        variant = _FULL if rng.random() < 0.85 else _MINIMAL
        arrival = self._arrival(rng, m.sent_at)
        mx = f"mx{rng.randrange(1, 5)}.{m.recipient_domain}"
        status, diagnostic, action = _bounce(rng, m)
        boundary = f"{rng.getrandbits(40):X}.{int(arrival.timestamp())}/{mx}"
        queue_id = content.token(rng, 11).upper()
        headers = [
            "Return-Path: <>",
            f"Date: {compose.date(arrival)}",
            f"From: MAILER-DAEMON@{mx} (Mail Delivery System)",
            "Subject: Undelivered Mail Returned to Sender",
            f"To: <{m.mail_from}>",
            f"Message-ID: <{queue_id}.{int(arrival.timestamp())}@{mx}>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{boundary}"',
        ]
        human = (
            f"This is the mail system at host {mx}.\n\n"
            + (
                "Your message could not be delivered yet; the mail system will keep trying.\n\n"
                if action == "delayed"
                else "I'm sorry to have to inform you that your message could not\n"
                "be delivered to one or more recipients.\n\n"
            )
            + f"<{m.recipient}>: host {mx} said: {diagnostic}\n"
        )
        per_message = [
            f"Reporting-MTA: dns; {mx}",
            f"X-Postfix-Queue-ID: {queue_id}",
            f"X-Postfix-Sender: rfc822; {m.mail_from}",
            f"Arrival-Date: {compose.date(m.sent_at + timedelta(seconds=rng.randrange(1, 20)))}",
        ]
        per_recipient = [
            f"Final-Recipient: rfc822; {m.recipient}",
            f"Original-Recipient: rfc822;{m.recipient}",
            f"Action: {action}",
            f"Status: {status}",
            f"Remote-MTA: dns; {mx}",
            f"Diagnostic-Code: smtp; {diagnostic}",
        ]
        if action == "delayed":
            per_recipient.append(f"Will-Retry-Until: {compose.date(arrival + timedelta(days=3))}")
        original_headers = self._original(rng, account, m, variant).split("\n\n", 1)[0] + "\n"
        body = compose.multipart(
            boundary,
            [
                (
                    "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii",
                    human,
                ),
                (
                    "Content-Description: Delivery report\nContent-Type: message/delivery-status",
                    "\n".join(per_message) + "\n\n" + "\n".join(per_recipient) + "\n",
                ),
                (
                    "Content-Description: Undelivered Message Headers\n"
                    "Content-Type: text/rfc822-headers",
                    original_headers,
                ),
            ],
        )
        return _Built(compose.join(headers, body), m, self._evidence(m, variant, source_ip=False))

    # --- the provider's own notifications -------------------------------------------------

    def _ses_bounce(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an SES bounce notification as delivered without SNS (raw message delivery)."""
        return _Built(
            json.dumps(self._ses_notification(rng, account, m, bounce=True), indent=2) + "\n",
            m,
            Evidence.PROVIDER_MESSAGE_ID,
        )

    def _ses_complaint(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an SES complaint notification as delivered without SNS."""
        return _Built(
            json.dumps(self._ses_notification(rng, account, m, bounce=False), indent=2) + "\n",
            m,
            Evidence.PROVIDER_MESSAGE_ID,
        )

    def _sns_bounce(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an SES bounce notification inside its SNS Notification envelope."""
        inner = self._ses_notification(rng, account, m, bounce=True)
        return _Built(self._sns(rng, inner), m, Evidence.PROVIDER_MESSAGE_ID)

    def _sns_complaint(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate an SES complaint notification inside its SNS Notification envelope."""
        inner = self._ses_notification(rng, account, m, bounce=False)
        return _Built(self._sns(rng, inner), m, Evidence.PROVIDER_MESSAGE_ID)

    def _ses_notification(
        self, rng: random.Random, account: DemoAccount, m: SentMessage, *, bounce: bool
    ) -> dict[str, Any]:
        arrival = self._arrival(rng, m.sent_at)
        feedback_id = (
            f"0100{int(arrival.timestamp() * 1000):012x}-{compose.random_uuid(rng)}-000000"
        )
        from_header = f'"{m.sender.display_name}" <{m.sender.from_address}>'
        caller = f"{content.slug(account.name)[:20].rstrip('-')}-mailer"
        client_ip = f"192.0.2.{rng.randrange(1, 250)}"
        mail: dict[str, Any] = {
            "timestamp": compose.iso_ms(m.sent_at),
            "source": m.sender.from_address,
            "sourceArn": f"arn:aws:ses:{REGION}:{account.external_id}:identity/"
            f"{m.sender.resource.value}",
            "sourceIp": client_ip,
            "callerIdentity": caller,
            "sendingAccountId": account.external_id,
            "messageId": m.provider_message_id,
            "destination": [m.recipient],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": from_header},
                {"name": "To", "value": m.recipient},
                {"name": "Subject", "value": m.subject},
                {"name": "MIME-Version", "value": "1.0"},
                {"name": "Content-Type", "value": "text/plain; charset=UTF-8"},
            ],
            "commonHeaders": {
                "from": [from_header],
                "to": [m.recipient],
                "date": compose.date(m.sent_at),
                "messageId": m.provider_message_id,
                "subject": m.subject,
            },
        }
        if m.configuration_set:
            mail["tags"] = {
                "ses:configuration-set": [m.configuration_set],
                "ses:source-ip": [client_ip],
                "ses:from-domain": [compose.domain_of(m.sender.from_address)],
                "ses:caller-identity": [caller],
                "ses:outgoing-ip": [m.source_ip],
            }
        if bounce:
            # SES notifies only bounces it gave up on; delays are other events.
            status, diagnostic, _ = _bounce(rng, m, final=True)
            permanent = status.startswith("5") and status != "5.2.2"
            return {
                "notificationType": "Bounce",
                "bounce": {
                    "feedbackId": feedback_id,
                    "bounceType": "Permanent" if permanent else "Transient",
                    "bounceSubType": (
                        "General"
                        if permanent
                        else "MailboxFull"
                        if status == "5.2.2"
                        else "General"
                    ),
                    "bouncedRecipients": [
                        {
                            "emailAddress": m.recipient,
                            "action": "failed",
                            "status": status,
                            "diagnosticCode": f"smtp; {diagnostic}",
                        }
                    ],
                    "timestamp": compose.iso_ms(arrival),
                    "remoteMtaIp": f"192.0.2.{rng.randrange(1, 250)}",
                    "reportingMTA": f"dsn; {compose.smtp_host(m.source_ip)}",
                },
                "mail": mail,
            }
        return {
            "notificationType": "Complaint",
            "complaint": {
                "feedbackId": feedback_id,
                "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": m.recipient}],
                "timestamp": compose.iso_ms(arrival),
                "userAgent": f"{m.recipient_domain.split('.')[0].title()}FBL/1.0",
                "complaintFeedbackType": _feedback_type(rng, m),
                "arrivalDate": compose.iso_ms(m.sent_at + timedelta(seconds=rng.randrange(2, 30))),
            },
            "mail": mail,
        }

    def _sns(self, rng: random.Random, inner: dict[str, Any]) -> str:
        """Wrap an SES notification the way SNS delivers it (the signature is not valid)."""
        topic = f"arn:aws:sns:{REGION}:000000000000:cloudmail-abuse-feedback"
        envelope = {
            "Type": "Notification",
            "MessageId": compose.random_uuid(rng),
            "TopicArn": topic,
            "Message": json.dumps(inner, separators=(",", ":")),
            "Timestamp": inner.get("bounce", inner.get("complaint", {})).get("timestamp"),
            "SignatureVersion": "1",
            "Signature": base64.b64encode(rng.randbytes(256)).decode(),
            "SigningCertURL": f"https://sns.{REGION}.{PROVIDER_DOMAIN}/"
            "SimpleNotificationService-demo.pem",
            "UnsubscribeURL": f"https://sns.{REGION}.{PROVIDER_DOMAIN}/?Action=Unsubscribe"
            f"&SubscriptionArn={topic}:{compose.random_uuid(rng)}",
        }
        return json.dumps(envelope) + "\n"

    # --- DMARC --------------------------------------------------------------------------------

    def _dmarc(self, rng: random.Random, account: DemoAccount) -> _Built | None:
        """Imitate a mailbox provider's daily DMARC aggregate report about a customer's domain.

        Most reports use the RFC 7489 schema; some the RFC 9990 one with its namespace.
        Rows are what that provider received from the domain that day, by source IP,
        and sometimes a spoofer's row from an address that is not ours.
        """
        domains = {r.value for r in account.resources_of(ResourceKind.IDENTITY_DOMAIN)}
        candidates = [
            m
            for m in self.messages.get(account.external_id, [])
            if compose.domain_of(m.sender.from_address) in domains
        ]
        if not candidates:
            return None
        anchor = rng.choice(candidates)
        domain = compose.domain_of(anchor.sender.from_address)
        group = anchor.destination_group
        day = anchor.sent_at.replace(hour=0, minute=0, second=0, microsecond=0)
        scale = max(1, account.profile.daily_volume // max(1, account.profile.sample_per_day))
        rows: dict[tuple[str, str | None, str | None, str], int] = {}
        for m in candidates:
            if (
                m.destination_group == group
                and compose.domain_of(m.sender.from_address) == domain
                and day <= m.sent_at < day + timedelta(days=1)
            ):
                key = (
                    m.source_ip,
                    m.sender.dkim_domain,
                    m.sender.dkim_selector,
                    m.mail_from.rpartition("@")[2],
                )
                rows[key] = rows.get(key, 0) + scale
        modern = rng.random() < 0.3
        org = _DMARC_REPORTERS[group]
        reporter = DESTINATION_DOMAINS[group][0]
        policy = rng.choice(("none", "quarantine", "reject"))
        report_id = (
            f"{rng.getrandbits(64)}" if not modern else f"{compose.random_uuid(rng)}@{reporter}"
        )
        records = [
            compose.dmarc_record(
                ip,
                count,
                domain,
                dkim_domain=dkim_domain,
                selector=selector,
                envelope=envelope,
                modern=modern,
            )
            for (ip, dkim_domain, selector, envelope), count in sorted(rows.items())
        ]
        if rng.random() < 0.4:
            spoofer = f"192.0.2.{rng.randrange(1, 250)}"
            records.append(
                compose.dmarc_spoof_record(
                    spoofer, rng.randrange(1, 40), domain, policy, modern=modern
                )
            )
        begin = int(day.timestamp())
        policy_published = [
            f"    <domain>{domain}</domain>",
            "    <adkim>r</adkim>",
            "    <aspf>r</aspf>",
            f"    <p>{policy}</p>",
            f"    <sp>{policy}</sp>",
        ]
        policy_published += (
            ["    <np>reject</np>", "    <testing>n</testing>"]
            if modern
            else ["    <pct>100</pct>"]
        )
        root = '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">' if modern else "<feedback>"
        lines = [
            '<?xml version="1.0" encoding="UTF-8" ?>',
            root,
            "  <version>1.0</version>",
            "  <report_metadata>",
            f"    <org_name>{org}</org_name>",
            f"    <email>noreply-dmarc-support@{reporter}</email>",
            f"    <extra_contact_info>https://support.{reporter}/dmarc</extra_contact_info>",
            f"    <report_id>{report_id}</report_id>",
            "    <date_range>",
            f"      <begin>{begin}</begin>",
            f"      <end>{begin + 86399}</end>",
            "    </date_range>",
            "  </report_metadata>",
            "  <policy_published>",
            *policy_published,
            "  </policy_published>",
            *records,
            "</feedback>",
        ]
        if len(self.provider.identity_holders(domain, self.provider.end)) == 1:
            evidence = Evidence.FROM_DOMAIN
        elif any(self.provider.ip_holder(ip, anchor.sent_at) for ip, *_ in rows):
            evidence = Evidence.DEDICATED_IP
        else:
            evidence = Evidence.SHARED_IP
        return _Built("\n".join(lines) + "\n", None, evidence)

    # --- people -----------------------------------------------------------------------------

    def _freeform(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate a person's angry email, forwarding the spam as an attachment or inline."""
        phishing = m.campaign == "phishing"
        display = compose.display_name(m.recipient)
        arrival = self._arrival(rng, m.sent_at)
        subjects = content.PHISHING_COMPLAINT_SUBJECTS if phishing else content.COMPLAINT_SUBJECTS
        subject = rng.choice(subjects).format(subject=m.subject)
        lines = rng.sample(
            content.PHISHING_COMPLAINT_LINES if phishing else content.COMPLAINT_LINES,
            rng.randint(1, 3),
        )
        text = "Hello,\n\n" + " ".join(lines) + f"\n\n{display.split()[0]}\n"
        headers = [
            f'From: "{display}" <{m.recipient}>',
            f"To: {ABUSE_ADDRESS}",
            f"Subject: {subject}",
            f"Date: {compose.date(arrival, rng.choice((-5, 0, 1, 2)))}",
            f"Message-ID: <{compose.random_uuid(rng)}@{m.recipient_domain}>",
            "MIME-Version: 1.0",
        ]
        if rng.random() < 0.75:
            variant = _variant(rng)
            boundary = f"------------{rng.getrandbits(72):018X}"
            headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            body = compose.multipart(
                boundary,
                [
                    ("Content-Type: text/plain; charset=UTF-8", text),
                    (
                        "Content-Type: message/rfc822\nContent-Disposition: attachment; "
                        'filename="spam.eml"',
                        self._original(rng, account, m, variant),
                    ),
                ],
            )
            return _Built(
                compose.join(headers, body), m, self._evidence(m, variant, source_ip=False)
            )
        # Forwarded inline: the spam's headers and body are quoted text, not a message.
        headers.append("Content-Type: text/plain; charset=UTF-8")
        quoted = (
            "\n---------- Forwarded message ---------\n"
            f"From: {m.sender.display_name} <{m.sender.from_address}>\n"
            f"Date: {compose.date(m.sent_at)}\n"
            f"Subject: {m.subject}\n"
            f"To: <{m.recipient}>\n\n" + compose.message_body(account, m)
        )
        evidence = Evidence.URL if m.urls else Evidence.NONE
        return _Built(compose.join(headers, text + quoted), m, evidence)

    def _freeform_url(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate someone who only pastes the link they were sent."""
        if not m.urls:
            return self._freeform(rng, account, m)
        display = compose.display_name(m.recipient)
        url = m.urls[0]
        phishing = m.campaign == "phishing"
        text = (
            f"Hi,\n\nI got an email with this link: {url}\n"
            + (
                "It opens a fake login page asking for my password.\n"
                if phishing
                else "I never asked for it. Please make it stop.\n"
            )
            + f"\n{display}\n"
        )
        headers = [
            f'From: "{display}" <{m.recipient}>',
            f"To: {ABUSE_ADDRESS}",
            f"Subject: {'phishing link' if phishing else 'spam link'} in email from your service",
            f"Date: {compose.date(self._arrival(rng, m.sent_at))}",
            f"Message-ID: <{compose.random_uuid(rng)}@{m.recipient_domain}>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
        ]
        return _Built(compose.join(headers, text), m, Evidence.URL)

    # --- SMS -----------------------------------------------------------------------------------

    def _sms_xarf(self, rng: random.Random, account: DemoAccount) -> _Built | None:
        """Imitate a carrier's X-ARF v4 report of a text message (messaging/spam over sms)."""
        texts = self.sms.get(account.external_id)
        if not texts:
            return None
        sms = rng.choice(texts)
        reporter_org, reporter_domain = rng.choice(_CARRIERS)
        via_clearinghouse = rng.random() < 0.4
        sender_org, sender_domain = _CLEARINGHOUSE if via_clearinghouse else (
            reporter_org, reporter_domain,
        )  # fmt: skip
        reported = self._arrival(rng, sms.sent_at)
        premium = sms.destination_country in _PREMIUM_COUNTRIES
        description = (
            "Artificially inflated traffic: unsolicited one-time passcodes to high-cost "
            f"destinations, sample to {sms.destination} ({sms.destination_country})"
            if premium
            else f"Subscriber forwarded this text to 7726; received {compose.iso(sms.sent_at)} "
            f"on {sms.destination}"
        )
        payload = sms.text.encode("utf-8")
        report = {
            "xarf_version": "4.2.0",
            "report_id": compose.random_uuid(rng),
            "timestamp": compose.iso(reported),
            "reporter": {
                "org": reporter_org,
                "contact": f"abuse@{reporter_domain}",
                "domain": reporter_domain,
            },
            "sender": {
                "org": sender_org,
                "contact": f"reports@{sender_domain}",
                "domain": sender_domain,
            },
            "source_identifier": sms.origination.value,
            "category": "messaging",
            "type": "spam",
            "evidence_source": "automated_filter" if premium else "user_complaint",
            "protocol": "sms",
            "description": description,
            "evidence": [
                {
                    "content_type": "text/plain",
                    "description": "Text of the message as the subscriber received it",
                    "payload": base64.b64encode(payload).decode(),
                    "hash": f"sha256:{hashlib.sha256(payload).hexdigest()}",
                    "size": len(payload),
                }
            ],
            "tags": ["sms:aitf" if premium else "sms:7726"],
        }
        evidence = (
            Evidence.ORIGINATION_NUMBER
            if sms.origination.kind == ResourceKind.ORIGINATION_NUMBER
            else Evidence.SENDER_ID
        )
        return _Built(json.dumps(report, indent=2) + "\n", None, evidence)

    # --- shared parts ---------------------------------------------------------------------------

    def _original(
        self, rng: random.Random, account: DemoAccount, m: SentMessage, variant: str
    ) -> str:
        """Return the reported message as the recipient's provider received it.

        *variant* says how much the reporter kept: every header, all but the ids
        (Message-ID, Return-Path), or only what a person sees (From, To, Subject, Date).
        """
        sender = m.sender
        is_mailbox = sender.resource.kind == ResourceKind.MAILBOX
        received_at = m.sent_at + timedelta(seconds=rng.randrange(1, 20))
        lines: list[str] = []
        if variant == _FULL:
            lines.append(f"Return-Path: <{m.mail_from}>")
        if variant != _MINIMAL:
            host = compose.smtp_host(m.source_ip)
            address = f"IPv6:{m.source_ip}" if ":" in m.source_ip else m.source_ip
            lines.append(
                f"Received: from {host} ({host} [{address}])\n"
                f"\tby mx{rng.randrange(1, 9)}.{m.recipient_domain} with ESMTPS id "
                f"{content.token(rng, 12)}\n\tfor <{m.recipient}>; {compose.date(received_at)}"
            )
            if sender.dkim_domain:
                lines.append(
                    compose.dkim_signature(rng, sender.dkim_domain, sender.dkim_selector, m.sent_at)
                )
            if not is_mailbox:
                lines.append(compose.dkim_signature(rng, PROVIDER_DOMAIN, "cm2024a", m.sent_at))
        lines += [
            f'From: "{sender.display_name}" <{sender.from_address}>',
            f"To: {m.recipient}",
            f"Subject: {m.subject}",
            f"Date: {compose.date(m.sent_at)}",
        ]
        if variant == _FULL:
            lines.append(f"Message-ID: <{m.message_id_header}>")
        lines += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: 7bit",
        ]
        if variant != _MINIMAL:
            if m.feedback_id:
                lines.append(f"Feedback-ID: {m.feedback_id}")
            if m.campaign == "newsletter" and len(m.urls) > 1:
                lines.append(f"List-Unsubscribe: <{m.urls[1]}>")
            if is_mailbox:
                lines.append("X-Mailer: CloudMail Webmail")
            else:
                lines.append(f"X-CloudMail-Outgoing: {m.sent_at:%Y.%m.%d}-{m.source_ip}")
        return "\n".join(lines) + "\n\n" + compose.message_body(account, m)

    def _evidence(self, m: SentMessage, variant: str, *, source_ip: bool) -> str:
        """Return the strongest evidence a report quoting *m* in *variant* carries.

        Identities count as the inventory knows them now (a deleted domain names nobody);
        an IP counts as it was allocated when the message was sent.
        """
        if variant == _FULL:
            return Evidence.MESSAGE_ID
        now = self.provider.end
        dkim_domain = m.sender.dkim_domain if variant == _STRIPPED else None
        if dkim_domain and len(self.provider.identity_holders(dkim_domain, now)) == 1:
            return Evidence.DKIM_DOMAIN
        if len(self.provider.identity_holders(compose.domain_of(m.sender.from_address), now)) == 1:
            return Evidence.FROM_DOMAIN
        if variant == _STRIPPED and m.feedback_id:
            return Evidence.FEEDBACK_ID
        if source_ip:
            if self.provider.ip_holder(m.source_ip, m.sent_at) is not None:
                return Evidence.DEDICATED_IP
            return Evidence.SHARED_IP
        return Evidence.URL if m.urls else Evidence.NONE

    def _arrival(self, rng: random.Random, sent_at: datetime) -> datetime:
        """Return when a report about something sent at *sent_at* arrives (before the end)."""
        arrival = sent_at + timedelta(seconds=rng.randrange(60, 6 * 3600))
        if arrival >= self.provider.end:
            room = (self.provider.end - sent_at).total_seconds()
            arrival = sent_at + timedelta(seconds=room * rng.uniform(0.1, 0.9))
        return arrival.replace(microsecond=0)


# --- small helpers -------------------------------------------------------------------------------


def _variant(rng: random.Random) -> str:
    return rng.choices([v for v, _ in _VARIANTS], weights=[w for _, w in _VARIANTS])[0]


def _feedback_type(rng: random.Random, m: SentMessage) -> str:
    return "fraud" if m.campaign == "phishing" and rng.random() < 0.7 else "abuse"


def _bounce(rng: random.Random, m: SentMessage, *, final: bool = False) -> tuple[str, str, str]:
    """Return (status, diagnostic, action) of a bounce; *final* leaves out delay warnings."""
    choices = [b for b in _BOUNCES if b[2] == "failed"] if final else list(_BOUNCES)
    status, template, action, _ = rng.choices(choices, weights=[b[3] for b in choices])[0]
    return status, template.format(rcpt=m.recipient, ip=m.source_ip), action


def _auth_results(m: SentMessage) -> str:
    envelope = m.mail_from.rpartition("@")[2]
    dkim = f"dkim=pass header.d={m.sender.dkim_domain}" if m.sender.dkim_domain else "dkim=none"
    return f"{dkim}; spf=pass smtp.mailfrom={envelope}"
