"""Write the raw reports outsiders send about the provider's accounts, truth kept apart.

Each shape imitates something a real abuse desk receives: feedback-loop reports in the
styles of several mailbox providers, bounces, the provider's own SES-style JSON
notifications (raw and inside an SNS envelope), DMARC aggregate reports, angry emails
from people, carrier reports about text messages and app stores' reports about push
notifications. Reports quote real send-log entries so that attribution can work, and a
realistic share carries too little to attribute (no Message-ID, a shared IP, just a URL).

Some reports are drawn as traps (``HardCase``): complaints about look-alikes of a
customer's domain that none of our accounts sent, complaints forwarded through another
mail system that re-wrapped them, reports about the IP that moved between accounts, and
reports whose only clue is a shared pool's IP and the recipient. Each report's evidence
label is worked out from what the written report really carries (``_Carried``).

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

from abusedesk.attribution.keys import ResourceKind
from abusedesk.demo import compose, content, lookalike
from abusedesk.demo.model import (
    DESTINATION_DOMAINS,
    DESTINATION_GROUPS,
    PROVIDER_DOMAIN,
    REGION,
    AccountKind,
    DemoAccount,
    DemoAllocation,
    DemoProvider,
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
    PUSH = "push"
    # A loop that keeps only the source IP, the time and the recipient (or not even that).
    ARF_SOURCE_IP = "arf_source_ip"
    # Complaints about a look-alike of a customer's domain, sent by none of our accounts.
    ARF_LOOKALIKE = "arf_lookalike"
    FREEFORM_LOOKALIKE = "freeform_lookalike"
    # A complaint forwarded through another mail system that re-wrapped the evidence.
    FREEFORM_FORWARDED = "freeform_forwarded"

    EMAIL = (
        ARF,
        ARF_JMRP,
        ARF_HEADERS,
        ARF_REDACTED,
        ARF_SOURCE_IP,
        ARF_LOOKALIKE,
        DSN,
        FREEFORM,
        FREEFORM_URL,
        FREEFORM_LOOKALIKE,
        FREEFORM_FORWARDED,
    )
    JSON = (SES_BOUNCE, SES_COMPLAINT, SNS_BOUNCE, SNS_COMPLAINT, SMS_XARF, PUSH)
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
    PUSH_APPLICATION = "push_application"
    URL = "url"
    FROM_ADDRESS = "from_address"
    SHARED_IP = "shared_ip"
    NONE = "none"
    # Sent by none of the provider's accounts (a look-alike of a customer's domain).
    NOT_OURS = "not_ours"

    # What attribution cannot turn into one account without help.
    HARD = (URL, SHARED_IP, NONE)


class HardCase:
    """The traps a report may be drawn for, named in its ground truth."""

    LOOKALIKE = "lookalike"
    FORWARDED = "forwarded"
    MOVED_IP = "moved_ip"
    SHARED_POOL = "shared_pool"

    ALL = (LOOKALIKE, FORWARDED, MOVED_IP, SHARED_POOL)


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
    # None: sent by none of the provider's accounts.
    account: str | None
    account_kind: str | None
    report_kind: str
    provider_message_id: str | None
    evidence: str
    hard_case: str | None = None

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
class _Carried:
    """What a written report still carries of the message it is about.

    ``source_ip`` counts only when our hop is where the recipient's side received the
    message (the first Received hop, or a Source-IP field): under a forwarder's own hops
    our address is no longer the one a reader takes for the sender.
    """

    message_id: bool = False
    dkim: bool = False
    from_address: bool = False
    feedback_id: bool = False
    source_ip: bool = False
    recipient: bool = False
    urls: bool = False


@dataclass(frozen=True)
class _ForeignMessage:
    """A message someone outside the provider sent from a look-alike domain."""

    original: str
    domain: str
    brand: str
    source_ip: str
    mail_from: str
    recipient: str
    subject: str
    sent_at: datetime

    @property
    def isp(self) -> str:
        """Return the recipient's mail domain."""
        return self.recipient.rpartition("@")[2]


@dataclass(frozen=True)
class _Built:
    raw: str
    message: SentMessage | None
    evidence: str


# How often each hard case is drawn instead of a report of the usual shapes.
_CASE_WEIGHTS: tuple[tuple[str | None, float], ...] = (
    (None, 0.855),
    (HardCase.LOOKALIKE, 0.03),
    (HardCase.FORWARDED, 0.05),
    (HardCase.MOVED_IP, 0.025),
    (HardCase.SHARED_POOL, 0.04),
)
_CASES = [case for case, _ in _CASE_WEIGHTS]

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
        self.kind_of = {a.external_id: a.kind for a in provider.accounts}
        # The send log's messages from each phase of a moved IP's history (dedicated to
        # one account, back in a shared pool, dedicated to another), keyed by the holder
        # then (None for the pool), and every other message sent from a shared pool.
        holders = _IpHolders(provider)
        moved = set(provider.moved_ips())
        self.moved_ip: dict[str | None, list[SentMessage]] = {}
        self.shared_pool: list[SentMessage] = []
        for message in traffic.messages:
            holder = holders.at(message.source_ip, message.sent_at)
            if message.source_ip in moved:
                self.moved_ip.setdefault(holder, []).append(message)
            elif holder is None:
                self.shared_pool.append(message)
        self.identities = _identity_domains(provider)
        self.known_names = known_names(provider)

    def generate(self, count: int, *, start: int = 0) -> Iterator[GeneratedReport]:
        """Yield reports number *start* to *start* + *count* - 1."""
        for number in range(start, start + count):
            yield self.report(number)

    def report(self, number: int) -> GeneratedReport:
        """Return report number *number*."""
        rng = random.Random(f"{self.provider.seed}:report:{number}")
        case = rng.choices(_CASES, weights=[w for _, w in _CASE_WEIGHTS])[0]
        drawn = self._hard_case(rng, case) if case is not None else None
        account: str | None
        if drawn is None:
            # No hard case drawn, or the provider offers none of it (no moved IP ...).
            case = None
            kind, built, account = self._usual(rng)
        else:
            kind, built, account = drawn
        file_name = f"report-{number:06d}{extension(kind)}"
        truth = GroundTruth(
            file=file_name,
            account=account,
            account_kind=self.kind_of[account] if account is not None else None,
            report_kind=kind,
            provider_message_id=built.message.provider_message_id if built.message else None,
            evidence=built.evidence,
            hard_case=case,
        )
        return GeneratedReport(file_name, built.raw.encode("utf-8"), truth)

    def _usual(self, rng: random.Random) -> tuple[str, _Built, str]:
        """Return a report of the usual shapes about an account drawn by its report weight."""
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
        return kind, built, account.external_id

    def _hard_case(self, rng: random.Random, case: str) -> tuple[str, _Built, str | None] | None:
        """Return a report of one hard case, or None when the provider offers none of it."""
        if case == HardCase.LOOKALIKE:
            kind = ReportKind.ARF_LOOKALIKE if rng.random() < 0.5 else ReportKind.FREEFORM_LOOKALIKE
            lookalike_built = self._lookalike(rng, kind)
            return None if lookalike_built is None else (kind, lookalike_built, None)
        if case == HardCase.FORWARDED:
            account = rng.choices(self.targets, weights=self.weights)[0]
            m = self._pick(rng, account, None, allow_mailbox=True)
            if m is None:
                return None
            return ReportKind.FREEFORM_FORWARDED, self._forwarded(rng, account, m), m.account
        if case == HardCase.MOVED_IP:
            phases = [self.moved_ip[h] for h in sorted(self.moved_ip, key=str) if self.moved_ip[h]]
            if not phases:
                return None
            m = rng.choice(rng.choice(phases))
        else:
            if not self.shared_pool:
                return None
            m = rng.choice(self.shared_pool)
        account = self.provider.account(m.account)
        if case == HardCase.SHARED_POOL or rng.random() < 0.6:
            # Only the source IP, the time and (unless redacted) the recipient survive.
            redacted = case == HardCase.SHARED_POOL and rng.random() < 0.25
            built = self._arf_source_ip(rng, m, redacted=redacted)
            return ReportKind.ARF_SOURCE_IP, built, m.account
        return ReportKind.ARF, self._arf(rng, account, m), m.account

    def _kind_weights(self, account: DemoAccount) -> dict[str, float]:
        """Return how likely each shape is for reports about *account*."""
        has_sms = account.external_id in self.sms
        pushes = bool(account.resources_of(ResourceKind.PUSH_APPLICATION))
        if account.external_id not in self.messages:
            return {ReportKind.SMS_XARF: 1.0, ReportKind.PUSH: 0.3 if pushes else 0.0}
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
        if pushes:
            weights[ReportKind.PUSH] = 1.5
        return {k: w for k, w in weights.items() if w > 0}

    def _build(self, rng: random.Random, account: DemoAccount, kind: str) -> _Built | None:
        if kind == ReportKind.SMS_XARF:
            return self._sms_xarf(rng, account)
        if kind == ReportKind.PUSH:
            return self._push(rng, account)
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
            self._evidence(m, _quoted(m, variant, body=True, recipient=True, source_ip=True)),
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
        carried = _quoted(m, variant, body=True, recipient=True)
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

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
        carried = _quoted(m, variant, body=False, recipient=True)
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

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
        carried = _quoted(m, variant, body=True, recipient=False, source_ip=True)
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

    def _arf_source_ip(self, rng: random.Random, m: SentMessage, *, redacted: bool) -> _Built:
        """Imitate a privacy-minded loop that keeps only where and when a message came from.

        The report states the source IP, the arrival time and the recipient (hashed away
        when *redacted*), and quotes nothing of the message but the Received hop that
        accepted it: on a shared pool only the send log can tell whose mail it was.
        """
        isp = m.recipient_domain
        arrival = self._arrival(rng, m.sent_at)
        boundary = f"=_fbl_{rng.getrandbits(80):020x}"
        received_at = m.sent_at + timedelta(seconds=rng.randrange(1, 20))
        recipient = (
            f"{hashlib.sha256(f'{isp}:{m.recipient}'.encode()).hexdigest()[:20]}@{isp}"
            if redacted
            else m.recipient
        )
        host = compose.smtp_host(m.source_ip)
        address = f"IPv6:{m.source_ip}" if ":" in m.source_ip else m.source_ip
        headers = [
            f"From: {isp.split('.')[0].title()} Complaints <complaints@feedback.{isp}>",
            f"To: {FBL_ADDRESS}",
            f"Subject: Complaint about mail from {m.source_ip}",
            f"Date: {compose.date(arrival)}",
            f"Message-ID: <{compose.random_uuid(rng)}@feedback.{isp}>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"',
        ]
        fields = [
            "Feedback-Type: abuse",
            f"User-Agent: {isp.split('.')[0].title()}-Complaints/2.{rng.randrange(10)}",
            "Version: 1",
            f"Original-Rcpt-To: <{recipient}>",
            f"Arrival-Date: {compose.date(received_at)}",
            f"Source-IP: {m.source_ip}",
            "Incidents: 1",
        ]
        received = (
            f"Received: from {host} ({host} [{address}])\n"
            f"\tby mx{rng.randrange(1, 9)}.{isp} with ESMTPS id {content.token(rng, 12)}\n"
            f"\tfor <{recipient}>; {compose.date(received_at)}\n"
        )
        body = compose.multipart(
            boundary,
            [
                (
                    "Content-Type: text/plain; charset=us-ascii",
                    f"A subscriber reported a message received from {m.source_ip} as spam.\n"
                    "To protect the subscriber, only the connection details are shared.\n",
                ),
                ("Content-Type: message/feedback-report", "\n".join(fields) + "\n"),
                ("Content-Type: text/rfc822-headers", received),
            ],
        )
        carried = _Carried(source_ip=True, recipient=not redacted)
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

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
        carried = _quoted(m, variant, body=False, recipient=True)
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

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
            original = self._original(rng, account, m, variant)
            raw = compose.letter_with_attachment(rng, headers, text, original)
            carried = _quoted(m, variant, body=True, recipient=False)
            return _Built(raw, m, self._evidence(m, carried))
        # Forwarded inline: the spam's headers and body are quoted text, not a message.
        headers.append("Content-Type: text/plain; charset=UTF-8")
        quoted = (
            "\n---------- Forwarded message ---------\n"
            f"From: {m.sender.display_name} <{m.sender.from_address}>\n"
            f"Date: {compose.date(m.sent_at)}\n"
            f"Subject: {m.subject}\n"
            f"To: <{m.recipient}>\n\n" + compose.message_body(account, m)
        )
        carried = _Carried(from_address=True, urls=bool(m.urls))
        return _Built(compose.join(headers, text + quoted), m, self._evidence(m, carried))

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

    def _forwarded(self, rng: random.Random, account: DemoAccount, m: SentMessage) -> _Built:
        """Imitate a complaint that reached us through another mail system which re-wrapped it.

        The complainant writes to a group (a company's abuse alias, a mailing list) that
        passes it on: the group rewrites From as "Name via Group", adds its own hops, and
        the spam it quotes comes with headers folded anew, some of them lost, its
        Message-ID without brackets or broken over two lines, its text quoted-printable
        or in HTML. The label says what survived all that.
        """
        group_name, group_address = rng.choice(_GROUPS)
        display = compose.display_name(m.recipient)
        arrival = self._arrival(rng, m.sent_at)
        # The spam itself may have passed a list that rewrote its From and put its own
        # hops above ours.
        through_list = rng.random() < 0.6
        rewritten_from = through_list and rng.random() < 0.7
        keep_dkim = rng.random() < (0.4 if through_list else 0.7)
        keep_feedback_id = rng.random() < 0.4
        id_form = rng.choices(_ID_FORMS, weights=(0.25, 0.2, 0.25, 0.1, 0.2))[0]
        style = rng.choices(("attached", "inline_text", "inline_html"), weights=(4, 3, 3))[0]
        relay_ip = f"192.0.2.{rng.randrange(1, 250)}"
        relay = group_address.rpartition("@")[2]
        sender = m.sender
        from_line = (
            f'From: "{sender.display_name} via {group_name}" <{group_address}>'
            if rewritten_from
            else f'From: "{sender.display_name}" <{sender.from_address}>'
        )
        quoted = [
            from_line,
            f"Date: {compose.date(m.sent_at)}",
            f"Subject: {m.subject}",
            f"To: {m.recipient}",
        ]
        id_line = _message_id_line(m.message_id_header, id_form, inline=style != "attached")
        if id_line:
            quoted.append(id_line)
        text = (
            "Hello,\n\n"
            + " ".join(rng.sample(content.COMPLAINT_LINES, rng.randint(1, 2)))
            + f"\n\n{display.split()[0]}\n"
        )
        message_body = compose.message_body(account, m)
        headers = [
            f"Received: from {relay} (mail.{relay} [{relay_ip}])\n\tby mx1.{PROVIDER_DOMAIN} "
            f"with ESMTPS id {content.token(rng, 12)}; {compose.date(arrival)}",
            f'From: "{display} via {group_name}" <{group_address}>',
            f"Reply-To: {m.recipient}",
            f"To: {ABUSE_ADDRESS}",
            f"Subject: Fwd: [{group_name}] {m.subject}",
            f"Date: {compose.date(arrival, rng.choice((-5, 0, 1)))}",
            f"Message-ID: <{compose.random_uuid(rng)}@{relay}>",
            f"List-Id: {group_name} <{group_address.replace('@', '.')}>",
            "MIME-Version: 1.0",
        ]
        marker = "---------- Forwarded message ---------"
        if style == "attached":
            original = self._rewrapped(
                rng, m, quoted, through_list=through_list, keep_dkim=keep_dkim,
                keep_feedback_id=keep_feedback_id, relay=relay, relay_ip=relay_ip,
            )  # fmt: skip
            boundary = f"----=_NextPart_{rng.getrandbits(64):016X}"
            headers.append(f'Content-Type: multipart/mixed; boundary="{boundary}"')
            body = compose.multipart(
                boundary,
                [
                    (
                        "Content-Type: text/plain; charset=UTF-8\n"
                        "Content-Transfer-Encoding: quoted-printable",
                        compose.quoted_printable(text),
                    ),
                    ("Content-Type: message/rfc822", original),
                ],
            )
        else:
            plain = f"{text}\n{marker}\n" + "\n".join(quoted) + "\n\n" + message_body
            plain_part = (
                "Content-Type: text/plain; charset=UTF-8\n"
                "Content-Transfer-Encoding: quoted-printable",
                compose.quoted_printable(plain),
            )
            if style == "inline_text":
                headers += [
                    "Content-Type: text/plain; charset=UTF-8",
                    "Content-Transfer-Encoding: quoted-printable",
                ]
                body = compose.quoted_printable(plain)
            else:
                boundary = f"000000000000{rng.getrandbits(48):012x}"
                headers.append(f'Content-Type: multipart/alternative; boundary="{boundary}"')
                html_body = (
                    "<html><body>"
                    + compose.html_text(text.splitlines())
                    + f"<br><div>{marker}<br>\n"
                    + compose.html_text(quoted)
                    + "</div><br>\n"
                    + compose.html_text(message_body.splitlines())
                    + "</body></html>\n"
                )
                html_part = (
                    "Content-Type: text/html; charset=UTF-8\n"
                    "Content-Transfer-Encoding: quoted-printable",
                    compose.quoted_printable(html_body),
                )
                body = compose.multipart(boundary, [plain_part, html_part])
        attached = style == "attached"
        carried = _Carried(
            message_id=id_form in _ID_SURVIVES,
            dkim=attached and keep_dkim,
            from_address=not rewritten_from,
            feedback_id=attached and keep_feedback_id,
            source_ip=attached and not through_list,
            urls=True,
        )
        return _Built(compose.join(headers, body), m, self._evidence(m, carried))

    def _rewrapped(
        self,
        rng: random.Random,
        m: SentMessage,
        quoted: list[str],
        *,
        through_list: bool,
        keep_dkim: bool,
        keep_feedback_id: bool,
        relay: str,
        relay_ip: str,
    ) -> str:
        """Return the spam as a re-wrapping system passes it on, headers folded anew."""
        received_at = m.sent_at + timedelta(seconds=rng.randrange(1, 20))
        host = compose.smtp_host(m.source_ip)
        address = f"IPv6:{m.source_ip}" if ":" in m.source_ip else m.source_ip
        lines: list[str] = []
        if through_list:
            relayed_at = received_at + timedelta(seconds=rng.randrange(1, 90))
            lines += [
                f"Received: from {relay} (lists.{relay} [{relay_ip}]) by mx{rng.randrange(1, 9)}."
                f"{m.recipient_domain} with ESMTPS id {content.token(rng, 12)} for "
                f"<{m.recipient}>; {compose.date(relayed_at)}",
                f"Received: by lists.{relay} with SMTP id {content.token(rng, 10)}; "
                f"{compose.date(relayed_at)}",
                compose.dkim_signature(rng, relay, "list2024", relayed_at),
            ]
        receiver = relay if through_list else m.recipient_domain
        lines.append(
            f"Received: from {host} ({host} [{address}]) by mx.{receiver}"
            f" with ESMTPS id {content.token(rng, 12)}; {compose.date(received_at)}"
        )
        if keep_dkim and m.sender.dkim_domain:
            lines.append(
                compose.dkim_signature(rng, m.sender.dkim_domain, m.sender.dkim_selector, m.sent_at)
            )
        lines += quoted
        if keep_feedback_id and m.feedback_id:
            lines.append(f"Feedback-ID: {m.feedback_id}")
        lines += [
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=UTF-8",
            "Content-Transfer-Encoding: quoted-printable",
        ]
        width = rng.choice((60, 68, 72))
        folded = [
            line if line.startswith("Message-ID") else compose.refold(line, width) for line in lines
        ]
        body = compose.message_body(self.provider.account(m.account), m)
        return "\n".join(folded) + "\n\n" + compose.quoted_printable(body)

    def _lookalike(self, rng: random.Random, kind: str) -> _Built | None:
        """Imitate a complaint about mail from a look-alike of a customer's domain.

        Someone who is not our customer sends, from their own servers, mail that borrows
        a customer's name and a domain that only looks like the customer's; the
        complainant (or the loop) holds the provider responsible all the same.
        """
        if not self.identities:
            return None
        for _ in range(8):
            imitated, domain = rng.choice(self.identities)
            fake = lookalike.pick_lookalike(rng, domain, self.known_names)
            if fake is not None:
                break
        else:
            return None
        brand = self.provider.account(imitated).name
        window = (self.provider.end - self.provider.start).total_seconds()
        sent_at = self.provider.start + timedelta(seconds=int(rng.uniform(0.05, 0.95) * window))
        ip = (
            f"2001:db8:f00d::{rng.randrange(1, 4096):x}"
            if rng.random() < 0.15
            else f"192.0.2.{rng.randrange(1, 250)}"
        )
        group = rng.choice(DESTINATION_GROUPS)
        _, local = content.person(rng)
        recipient = f"{local}@{rng.choice(DESTINATION_DOMAINS[group])}"
        isp = recipient.rpartition("@")[2]
        phishing = rng.random() < 0.6
        from_address = f"{rng.choice(('security', 'no-reply', 'account'))}@{fake}"
        if not phishing:
            from_address = f"{rng.choice(('news', 'offers', 'hello'))}@{fake}"
        subjects = content.PHISHING_SUBJECTS if phishing else content.NEWSLETTER_SUBJECTS
        subject = rng.choice(subjects).format(brand=brand, number=rng.randrange(10_000, 99_999))
        token = content.token(rng, 16)
        url = (
            f"https://{fake}/signin/verify?session={token}"
            if phishing
            else f"http://{fake}/deal/{token}"
        )
        lines = (
            ["Dear customer,", "", f"Your {brand} account needs to be verified today.", url]
            if phishing
            else [f"Only today at {brand}: everything 70% off.", "", f"Shop now: {url}"]
        )
        if rng.random() < 0.25:
            # The real customer's own site in the footer, to look the part.
            lines += ["", f"Privacy policy: https://{domain}/privacy"]
        message_id = f"{rng.getrandbits(80):x}.{rng.randrange(10_000)}@{fake}"
        mail_from = f"bounce-{content.token(rng, 10)}@{fake}"
        received_at = sent_at + timedelta(seconds=rng.randrange(1, 20))
        mta = f"mta{rng.randrange(1, 30)}.{fake}"
        original = (
            "\n".join(
                [
                    f"Return-Path: <{mail_from}>",
                    f"Received: from {mta} ({mta} [{'IPv6:' + ip if ':' in ip else ip}])\n"
                    f"\tby mx{rng.randrange(1, 9)}.{isp} with ESMTPS id {content.token(rng, 12)}\n"
                    f"\tfor <{recipient}>; {compose.date(received_at)}",
                    compose.dkim_signature(rng, fake, f"s{rng.randrange(1, 9)}", sent_at),
                    f'From: "{brand}" <{from_address}>',
                    f"To: {recipient}",
                    f"Subject: {subject}",
                    f"Date: {compose.date(sent_at)}",
                    f"Message-ID: <{message_id}>",
                    "MIME-Version: 1.0",
                    "Content-Type: text/plain; charset=UTF-8",
                ]
            )
            + "\n\n"
            + "\n".join(lines)
            + "\n"
        )
        arrival = self._arrival(rng, sent_at)
        foreign = _ForeignMessage(
            original=original,
            domain=fake,
            brand=brand,
            source_ip=ip,
            mail_from=mail_from,
            recipient=recipient,
            subject=subject,
            sent_at=sent_at,
        )
        if kind == ReportKind.ARF_LOOKALIKE:
            raw = self._lookalike_arf(rng, foreign, arrival)
        else:
            raw = self._lookalike_letter(rng, foreign, arrival)
        return _Built(raw, None, Evidence.NOT_OURS)

    def _lookalike_arf(
        self, rng: random.Random, foreign: _ForeignMessage, arrival: datetime
    ) -> str:
        """Return a loop's RFC 5965 report about a look-alike's message."""
        loop = foreign.isp.split(".")[0].title()
        arrived = foreign.sent_at + timedelta(seconds=rng.randrange(2, 30))
        boundary = f"----=_Part_{rng.getrandbits(64):016x}"
        headers = [
            f"From: {loop} Feedback Loop <fbl-reports@fbl.{foreign.isp}>",
            f"To: {FBL_ADDRESS}",
            f"Subject: Email Feedback Report for IP {foreign.source_ip}",
            f"Date: {compose.date(arrival)}",
            f"Message-ID: <{compose.random_uuid(rng)}@fbl.{foreign.isp}>",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=feedback-report;\n\tboundary="{boundary}"',
        ]
        fields = [
            "Feedback-Type: abuse",
            f"User-Agent: {loop}FBL/1.{rng.randrange(10)}",
            "Version: 1",
            f"Original-Mail-From: <{foreign.mail_from}>",
            f"Original-Rcpt-To: <{foreign.recipient}>",
            f"Arrival-Date: {compose.date(arrived)}",
            f"Source-IP: {foreign.source_ip}",
            "Incidents: 1",
            f"Reported-Domain: {foreign.domain}",
            f"Authentication-Results: mx.{foreign.isp}; dkim=pass header.d={foreign.domain}; "
            f"spf=pass smtp.mailfrom={foreign.domain}",
        ]
        body = compose.multipart(
            boundary,
            [
                (
                    'Content-Type: text/plain; charset="US-ASCII"',
                    f"This is an email abuse report for an email message received from IP "
                    f"{foreign.source_ip} on {compose.date(foreign.sent_at)}.\n",
                ),
                ("Content-Type: message/feedback-report", "\n".join(fields) + "\n"),
                ("Content-Type: message/rfc822\nContent-Disposition: inline", foreign.original),
            ],
        )
        return compose.join(headers, body)

    def _lookalike_letter(
        self, rng: random.Random, foreign: _ForeignMessage, arrival: datetime
    ) -> str:
        """Return a person's complaint blaming the provider's customer for a look-alike's mail."""
        display = compose.display_name(foreign.recipient)
        text = (
            f"Hello,\n\nYour customer {foreign.brand} keeps sending me this. "
            + " ".join(rng.sample(content.COMPLAINT_LINES, rng.randint(1, 2)))
            + f"\n\n{display.split()[0]}\n"
        )
        headers = [
            f'From: "{display}" <{foreign.recipient}>',
            f"To: {ABUSE_ADDRESS}",
            f"Subject: {rng.choice(content.COMPLAINT_SUBJECTS).format(subject=foreign.subject)}",
            f"Date: {compose.date(arrival, rng.choice((-5, 0, 1, 2)))}",
            f"Message-ID: <{compose.random_uuid(rng)}@{foreign.recipient.rpartition('@')[2]}>",
            "MIME-Version: 1.0",
        ]
        if rng.random() < 0.7:
            return compose.letter_with_attachment(rng, headers, text, foreign.original)
        header_block, _, message_text = foreign.original.partition("\n\n")
        shown = [
            line
            for line in header_block.split("\n")
            if line.startswith(("From:", "Date:", "Subject:", "To:"))
        ]
        headers.append("Content-Type: text/plain; charset=UTF-8")
        quoted = "\n---------- Forwarded message ---------\n" + "\n".join(shown) + "\n\n"
        return compose.join(headers, text + quoted + message_text)

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

    def _push(self, rng: random.Random, account: DemoAccount) -> _Built | None:
        """Imitate an app store's report of push notifications, in our documented JSON format.

        One record, or a batch naming its reporter once; each names the application's
        ARN and the device endpoint the notification reached.
        """
        apps = account.resources_of(ResourceKind.PUSH_APPLICATION)
        if not apps:
            return None
        app = rng.choice(apps)
        reporter_name, reporter = rng.choice(_PUSH_REPORTERS)
        start = max(self.provider.start, app.created_at)
        window = (self.provider.end - start).total_seconds()
        bad = account.kind in AccountKind.BAD
        records = []
        for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 3)):
            received = start + timedelta(seconds=int(rng.uniform(0.0, 0.97) * window))
            if bad:
                url = f"https://{account.profile.url_domains[0]}/{content.token(rng, 6)}"
                title = rng.choice(content.PUSH_SPAM_TITLES)
                text = rng.choice(content.SMS_SPAM_TEXTS).format(url=url)
            else:
                title = account.profile.brand
                text = rng.choice(content.PUSH_LEGIT_TEXTS)
            records.append(
                {
                    "report_id": f"PR-{rng.randrange(10**8):08d}",
                    "application": app.value,
                    "platform_endpoint": app.value.replace(":app/", ":endpoint/")
                    + f"/{compose.random_uuid(rng)}",
                    "title": title,
                    "message_text": text,
                    "received_at": compose.iso(received),
                    "reported_at": compose.iso(self._arrival(rng, received)),
                    "category": "phishing" if bad and "bank" in text else "spam",
                }
            )
        report: dict[str, Any] = (
            {"abusedesk_report": "push", "reporter": reporter, **records[0]}
            if len(records) == 1
            else {
                "abusedesk_report": "push",
                "reporter": reporter,
                "reporter_org": reporter_name,
                "reports": records,
            }
        )
        return _Built(json.dumps(report, indent=2) + "\n", None, Evidence.PUSH_APPLICATION)

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

    def _evidence(self, m: SentMessage, carried: _Carried) -> str:
        """Return the strongest evidence a report carrying *carried* of *m* holds.

        Identities count as the inventory knows them now (a deleted domain names nobody);
        an IP counts as it was allocated when the message was sent, and a shared IP only
        together with the recipient (the send log narrows the pool down by it).
        """
        if carried.message_id:
            return Evidence.MESSAGE_ID
        now = self.provider.end
        dkim_domain = m.sender.dkim_domain if carried.dkim else None
        if dkim_domain and len(self.provider.identity_holders(dkim_domain, now)) == 1:
            return Evidence.DKIM_DOMAIN
        if carried.from_address:
            address = m.sender.from_address.lower()
            if len(self.provider.identity_holders(compose.domain_of(address), now)) == 1:
                return Evidence.FROM_DOMAIN
            if (
                len(self.provider.resource_holders(ResourceKind.IDENTITY_ADDRESS, address, now))
                == 1
            ):
                return Evidence.FROM_ADDRESS
        if carried.feedback_id and m.feedback_id:
            return Evidence.FEEDBACK_ID
        if carried.source_ip:
            if self.provider.ip_holder(m.source_ip, m.sent_at) is not None:
                return Evidence.DEDICATED_IP
            if carried.recipient:
                return Evidence.SHARED_IP
        return Evidence.URL if carried.urls and m.urls else Evidence.NONE

    def _arrival(self, rng: random.Random, sent_at: datetime) -> datetime:
        """Return when a report about something sent at *sent_at* arrives (before the end)."""
        arrival = sent_at + timedelta(seconds=rng.randrange(60, 6 * 3600))
        if arrival >= self.provider.end:
            room = (self.provider.end - sent_at).total_seconds()
            arrival = sent_at + timedelta(seconds=room * rng.uniform(0.1, 0.9))
        return arrival.replace(microsecond=0)


# --- small helpers -------------------------------------------------------------------------------

# Who reports push notifications: app stores and device makers.
_PUSH_REPORTERS = (
    ("App Store Example", "trust@appstore.example"),
    ("Play Example", "abuse@play.example"),
    ("Handset Maker Example", "security@handset-maker.example"),
)
# Groups a complaint is passed on through: (name, address).
_GROUPS = (
    ("Abuse Desk", "abuse-desk@lists.example"),
    ("Spam Reports", "spam-reports@groups.example"),
    ("IT Helpdesk", "helpdesk@corp-mail.example"),
    ("Residents Association", "residents@community-lists.test"),
)
# What became of the spam's Message-ID on the way: kept, stripped of its angle brackets,
# broken over two lines (all of it still there), cut short at a line limit, or lost.
_ID_FORMS = ("kept", "bare", "broken", "truncated", "lost")
_ID_SURVIVES = ("kept", "bare", "broken")


def _message_id_line(message_id: str, form: str, *, inline: bool) -> str | None:
    """Return the Message-ID line as a re-wrapping system left it, or None if it lost it.

    Broken over two lines (folded inside the id, or hard-wrapped in a quote) the whole id
    is still there for a careful reader; cut short, its tail is gone for good.
    """
    cut = max(1, len(message_id) // 2)
    cut = message_id.rfind("-", 0, cut) + 1 or cut
    if form == "lost":
        return None
    if form == "bare":
        return f"Message-ID: {message_id}"
    if form == "broken":
        continuation = "\n" if inline else "\n\t"
        return f"Message-ID: <{message_id[:cut]}{continuation}{message_id[cut:]}>"
    if form == "truncated":
        return f"Message-ID: <{message_id[:cut]}"
    return f"Message-ID: <{message_id}>"


class _IpHolders:
    """Answer which account an IP was dedicated to at a time, from allocations by IP."""

    def __init__(self, provider: DemoProvider) -> None:
        self.by_ip: dict[str, list[DemoAllocation]] = {}
        for allocation in provider.allocations:
            self.by_ip.setdefault(allocation.ip, []).append(allocation)

    def at(self, ip: str, at: datetime) -> str | None:
        """Return the account *ip* was dedicated to at *at*, or None (a pool, or unknown)."""
        for allocation in self.by_ip.get(ip, ()):
            if allocation.holds_at(at):
                return allocation.account
        return None


def _identity_domains(provider: DemoProvider) -> list[tuple[str, str]]:
    """Return (account, domain) for every domain identity live at the window's end."""
    return [
        (account.external_id, resource.value)
        for account in provider.accounts
        for resource in account.resources_of(ResourceKind.IDENTITY_DOMAIN)
        if resource.live_at(provider.end)
    ]


def known_names(provider: DemoProvider) -> frozenset[str]:
    """Return every domain that is the provider's or any customer's, at any time.

    Identity domains, the domains of verified addresses and mailboxes, custom MAIL FROM
    and organisation domains, and the provider's own: a look-alike must be none of them,
    nor above or below one.
    """
    names = {PROVIDER_DOMAIN}
    for account in provider.accounts:
        for resource in account.resources:
            if resource.kind == ResourceKind.IDENTITY_DOMAIN:
                names.add(resource.value)
            elif resource.kind in (ResourceKind.IDENTITY_ADDRESS, ResourceKind.MAILBOX):
                names.add(compose.domain_of(resource.value))
            for key in ("mail_from_domain", "domain"):
                value = resource.attributes.get(key)
                if isinstance(value, str):
                    names.add(value.lower())
    return frozenset(names)


def _quoted(
    m: SentMessage, variant: str, *, body: bool, recipient: bool, source_ip: bool = False
) -> _Carried:
    """Return what a report holding *m* quoted in *variant* carries.

    *body* says whether the message's text is quoted (not only its headers), *recipient*
    whether the report names the complainant's real address, *source_ip* whether it
    states our sending IP in a field of its own (a Received hop of ours states it too).
    """
    return _Carried(
        message_id=variant == _FULL,
        dkim=variant != _MINIMAL,
        from_address=True,
        feedback_id=variant != _MINIMAL,
        source_ip=source_ip or variant != _MINIMAL,
        recipient=recipient,
        urls=body,
    )


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
